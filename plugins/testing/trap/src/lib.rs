//! Test fixture: login hooks that trap on every call (a panic aborts, which is a trap).

use gatehouse_sdk::PluginError;
use gatehouse_sdk::hooks::{LoginHooks, Outcome, Query};

struct Trap;

impl LoginHooks for Trap {
    fn run(query: Query) -> Result<Outcome, PluginError> {
        panic!("this fixture always fails (session {})", query.session_id);
    }
}

gatehouse_sdk::export_login_hooks!(Trap);
