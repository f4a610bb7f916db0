//! {{name}}: a claims source. It supplies `department`, looked up by subject in its
//! configuration; change `supplied_claims` and `claims` to supply your own.

use std::collections::BTreeMap;

use gatehouse_sdk::claims::{ClaimsSource, Query};
use gatehouse_sdk::{Object, PluginError, Value};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    departments: BTreeMap<String, String>,
}

struct Plugin;

impl ClaimsSource for Plugin {
    fn supplied_claims() -> Vec<String> {
        vec!["department".into()]
    }

    fn claims(query: Query) -> Result<Object, PluginError> {
        let config: Config = gatehouse_sdk::config()?;
        let mut out = Object::new();
        if let Some(department) = config.departments.get(&query.sub)
            && query.claims.iter().any(|c| c == "department")
        {
            out.insert("department".into(), Value::String(department.clone()));
        }
        Ok(out)
    }
}

gatehouse_sdk::export_claims_source!(Plugin);
