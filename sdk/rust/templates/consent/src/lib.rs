//! {{name}}: a consent policy. Clients listed in `trusted_clients` get what they asked for
//! without a consent screen; the user is asked about any other client.

use gatehouse_sdk::PluginError;
use gatehouse_sdk::consent::{ConsentPolicy, Grant, Query, Verdict};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    trusted_clients: Vec<String>,
}

struct Plugin;

impl ConsentPolicy for Plugin {
    fn decide(query: Query) -> Result<Verdict, PluginError> {
        let config: Config = gatehouse_sdk::config()?;
        if config.trusted_clients.contains(&query.client_id) {
            return Ok(Verdict::Grant(Grant { scope: query.scope.all(), ..Grant::default() }));
        }
        Ok(Verdict::Ask)
    }
}

gatehouse_sdk::export_consent_policy!(Plugin);
