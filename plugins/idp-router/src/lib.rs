//! A login hook that sends users to their organisation's identity provider.
//!
//! When an authorization session starts with a `login_hint` such as `alice@partner.example`
//! whose domain has a route, the hook parks the route in the session `data` under
//! `"idp_router"` and asks the front-end to redirect the user to the external identity
//! provider. The URL template may use `{login_hint}` and `{state}`; `{state}` is the
//! authorization session id, which the front-end uses to resume the session when the user
//! comes back. After the front-end submits the subject, the hook checks the parked route (and
//! its `acr`, when the route names one) and marks it completed.
//!
//! ```toml
//! [config.routes."partner.example"]
//! url = "https://login.partner.example/authorize?login_hint={login_hint}&state={state}"
//! acr = "urn:partner:sso"     # optional: the acr the returning login must carry
//! ```

use std::collections::BTreeMap;

use gatehouse_sdk::hooks::{Action, LoginHooks, Outcome, Query, Stage};
use gatehouse_sdk::{Denial, Object, PluginError, Value, http, log};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    routes: BTreeMap<String, Route>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    url: String,
    #[serde(default)]
    acr: Option<String>,
}

/// The key under which the hook parks its state in the session `data`.
const KEY: &str = "idp_router";

struct IdpRouter;

impl LoginHooks for IdpRouter {
    fn run(query: Query) -> Result<Outcome, PluginError> {
        let config: Config = gatehouse_sdk::config()?;
        match query.stage {
            Stage::Started => Ok(start(&config, query)),
            Stage::Authenticated => Ok(resume(&config, query)),
            Stage::BeforeResponse => Ok(Outcome::proceed()),
        }
    }
}

/// Parks the route and redirects, when the login hint's domain has one.
fn start(config: &Config, query: Query) -> Outcome {
    let Some(hint) = query.login_hint.as_deref() else {
        return Outcome::proceed();
    };
    let Some(domain) = hint.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()) else {
        return Outcome::proceed();
    };
    let Some(route) = config.routes.get(&domain) else {
        return Outcome::proceed();
    };
    let url = route
        .url
        .replace("{login_hint}", &http::percent_encode(hint))
        .replace("{state}", &http::percent_encode(&query.session_id));
    let mut data = query.data;
    let mut parked = Object::new();
    parked.insert("domain".into(), Value::String(domain.clone()));
    parked.insert("status".into(), Value::String("redirected".into()));
    data.insert(KEY.into(), Value::Object(parked));
    log::info(&format!("routing a login to the identity provider of {domain}"));
    Outcome { data: Some(data), action: Action::Redirect(url) }
}

/// Completes a parked route once the user is back and authenticated.
fn resume(config: &Config, query: Query) -> Outcome {
    let mut data = query.data;
    let Some(Value::Object(parked)) = data.get_mut(KEY) else {
        return Outcome::proceed();
    };
    let domain = parked.get("domain").and_then(Value::as_str).unwrap_or_default().to_owned();
    let Some(route) = config.routes.get(&domain) else {
        return Outcome::proceed();
    };
    if let Some(acr) = &route.acr
        && query.acr.as_ref() != Some(acr)
    {
        return Outcome {
            data: None,
            action: Action::Deny(Denial::access_denied(format!(
                "the login did not come back from the identity provider of {domain}"
            ))),
        };
    }
    parked.insert("status".into(), Value::String("completed".into()));
    if let Some(sub) = query.sub {
        parked.insert("sub".into(), Value::String(sub));
    }
    Outcome { data: Some(data), action: Action::Continue }
}

gatehouse_sdk::export_login_hooks!(IdpRouter);
