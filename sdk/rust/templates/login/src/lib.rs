//! {{name}}: login hooks. A login whose `login_hint` is at one of the `blocked_domains` is
//! denied as it starts; any other login goes on, marked in the session data.

use gatehouse_sdk::hooks::{Action, LoginHooks, Outcome, Query, Stage};
use gatehouse_sdk::{Denial, PluginError, Value, log};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    blocked_domains: Vec<String>,
}

struct Plugin;

impl LoginHooks for Plugin {
    fn run(query: Query) -> Result<Outcome, PluginError> {
        if query.stage != Stage::Started {
            return Ok(Outcome::proceed());
        }
        let config: Config = gatehouse_sdk::config()?;
        let hint = query.login_hint.unwrap_or_default();
        let domain = hint.rsplit('@').next().unwrap_or_default().to_ascii_lowercase();
        if config.blocked_domains.contains(&domain) {
            log::info(&format!("a login from {domain} was denied"));
            let denial = Denial::access_denied(format!("logins from {domain} are not allowed"));
            return Ok(Outcome { data: None, action: Action::Deny(denial) });
        }
        let mut data = query.data;
        data.insert("checked_by".into(), Value::String("{{name}}".into()));
        Ok(Outcome { data: Some(data), action: Action::Continue })
    }
}

gatehouse_sdk::export_login_hooks!(Plugin);
