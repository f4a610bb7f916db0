//! A consent policy for an operator's own applications.
//!
//! - Clients listed in `first_party_clients` get consent without a screen, for the scopes
//!   they requested *and* are registered for (the `scope` member of their metadata).
//! - Any other client asking for one of the `restricted_scopes` is denied (`access_denied`):
//!   those scopes are for the operator's own applications only.
//! - Everyone else is asked, as if there were no policy, except that scopes listed in
//!   `always_confirm` (say, a payment scope) are shown as new at every request, even when the
//!   user consented to them before, so the user confirms them each time.
//!
//! A scope a client is not registered for is never granted by this policy.
//!
//! ```toml
//! [config]
//! first_party_clients = ["portal", "mobile-app"]
//! restricted_scopes = ["admin"]
//! always_confirm = ["payments"]
//! long_lived = true          # remember the automatic consent (default true)
//! refresh_token = false      # issue refresh tokens to first-party clients (default false)
//! ```

use gatehouse_sdk::consent::{ConsentPolicy, Grant, Query, Verdict};
use gatehouse_sdk::{Denial, PluginError};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    first_party_clients: Vec<String>,
    #[serde(default)]
    restricted_scopes: Vec<String>,
    #[serde(default)]
    always_confirm: Vec<String>,
    #[serde(default = "yes")]
    long_lived: bool,
    #[serde(default)]
    refresh_token: bool,
}

fn yes() -> bool {
    true
}

struct FirstPartyConsent;

impl ConsentPolicy for FirstPartyConsent {
    fn decide(query: Query) -> Result<Verdict, PluginError> {
        let config: Config = gatehouse_sdk::config()?;
        let requested = query.scope.all();
        if config.first_party_clients.contains(&query.client_id) {
            let registered = query.registered_scopes();
            let scope = requested.into_iter().filter(|s| registered.as_ref().is_none_or(|r| r.contains(s))).collect();
            return Ok(Verdict::Grant(Grant {
                scope,
                long_lived: config.long_lived,
                refresh_token: config.refresh_token,
                ..Grant::default()
            }));
        }
        if let Some(scope) = requested.iter().find(|s| config.restricted_scopes.contains(s)) {
            return Ok(Verdict::Deny(Denial::access_denied(format!(
                "the scope {scope} is only available to first-party applications"
            ))));
        }
        let reconfirm: Vec<String> =
            query.scope.consented.iter().filter(|s| config.always_confirm.contains(s)).cloned().collect();
        if reconfirm.is_empty() {
            return Ok(Verdict::Ask);
        }
        Ok(Verdict::Reconfirm { scope: reconfirm, claims: Vec::new() })
    }
}

gatehouse_sdk::export_consent_policy!(FirstPartyConsent);
