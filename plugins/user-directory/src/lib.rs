//! A claims source that reads users from an HTTP user-directory API.
//!
//! For each subject it fetches one JSON record, `GET {url}` with `{sub}` replaced by the
//! percent-encoded subject, and maps the record's members to claims with JSON pointers
//! (RFC 6901). A 404 means the directory does not know the subject: no claims, no error.
//!
//! ```toml
//! [config]
//! url = "https://directory.example.com/v1/users/{sub}"
//! bearer_token = "…"            # optional, sent as `Authorization: Bearer …`
//! [config.claims]
//! email = "/mail"
//! email_verified = "/mailVerified"
//! name = "/displayName"
//! "https://example.com/claims/department" = "/org/department"
//! ```
//!
//! The directory's scheme, host and port must be in the manifest's `allowed_outbound_hosts`.

use std::collections::BTreeMap;

use gatehouse_sdk::claims::{ClaimsSource, Query};
use gatehouse_sdk::{Object, PluginError, Value, http, log};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    url: String,
    #[serde(default)]
    bearer_token: Option<String>,
    /// Claim name → JSON pointer into the user record.
    claims: BTreeMap<String, String>,
}

struct UserDirectory;

impl ClaimsSource for UserDirectory {
    fn supplied_claims() -> Vec<String> {
        match gatehouse_sdk::config::<Config>() {
            Ok(config) => config.claims.into_keys().collect(),
            Err(_) => Vec::new(),
        }
    }

    fn claims(query: Query) -> Result<Object, PluginError> {
        let config: Config = gatehouse_sdk::config()?;
        let url = config.url.replace("{sub}", &http::percent_encode(&query.sub));
        let authorization = config.bearer_token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![("accept", "application/json")];
        if let Some(value) = &authorization {
            headers.push(("authorization", value));
        }
        let response = http::get(&url, &headers).map_err(|e| {
            log::warn(&format!("the user directory could not be reached: {e}"));
            PluginError::unavailable("the user directory is unavailable")
        })?;
        match response.status {
            200 => {}
            404 => return Ok(Object::new()),
            status => {
                log::warn(&format!("the user directory answered {status} for a user"));
                return Err(PluginError::unavailable("the user directory is unavailable"));
            }
        }
        let record: Value = response.json().map_err(|e| {
            log::warn(&format!("the user directory's answer is unreadable: {e}"));
            PluginError::unavailable("the user directory gave an unreadable answer")
        })?;
        let mut out = Object::new();
        for name in &query.claims {
            let value = config.claims.get(name).and_then(|pointer| record.pointer(pointer));
            if let Some(value) = value.filter(|v| !v.is_null()) {
                out.insert(name.clone(), value.clone());
            }
        }
        Ok(out)
    }
}

gatehouse_sdk::export_claims_source!(UserDirectory);
