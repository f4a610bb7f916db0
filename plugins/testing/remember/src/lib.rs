//! Test fixture: a login hook that remembers, in its instance's memory, every session it has
//! served. It answers them in the session `data`, so a test sees which calls shared an
//! instance: with a fresh instance per call it only ever remembers the call itself.

use std::sync::Mutex;

use gatehouse_sdk::hooks::{Action, LoginHooks, Outcome, Query};
use gatehouse_sdk::{Object, PluginError, Value};

/// The sessions this instance has served, one entry per call.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Remember;

impl LoginHooks for Remember {
    fn run(query: Query) -> Result<Outcome, PluginError> {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        seen.push(query.session_id);
        let mut data = Object::new();
        data.insert("seen".into(), Value::from(seen.clone()));
        Ok(Outcome { data: Some(data), action: Action::Continue })
    }
}

gatehouse_sdk::export_login_hooks!(Remember);
