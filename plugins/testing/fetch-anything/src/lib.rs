//! Test fixture: a claims source that imports `wasi:http` and fetches whatever URL its
//! configuration names. Installed without allowed hosts it must be refused at load; installed
//! with allowed hosts, requests elsewhere must be denied.

use gatehouse_sdk::claims::{ClaimsSource, Query};
use gatehouse_sdk::{Object, PluginError, Value, http};

struct Fetcher;

#[derive(serde::Deserialize)]
struct Config {
    url: String,
}

impl ClaimsSource for Fetcher {
    fn supplied_claims() -> Vec<String> {
        vec!["fetched".into()]
    }

    fn claims(_query: Query) -> Result<Object, PluginError> {
        let config: Config = gatehouse_sdk::config()?;
        match http::get(&config.url, &[]) {
            Ok(response) => {
                let mut out = Object::new();
                out.insert("fetched".into(), Value::from(response.status));
                Ok(out)
            }
            Err(http::HttpError::Denied) => Err(PluginError::new("access_denied", "outbound request denied")),
            Err(e) => Err(PluginError::unavailable(e.to_string())),
        }
    }
}

gatehouse_sdk::export_claims_source!(Fetcher);
