//! The demo's stand-ins for an organisation's own back-end services, which the example plugins
//! talk to or send users to:
//!
//! ```text
//!   GET /users/{sub}   the user directory: the subject's record as JSON, 404 for others
//!                      (read by the user-directory claims-source plugin)
//!   GET /partner-idp   where a partner organisation's identity provider would sign users in
//!                      (the idp-router login hook sends `@partner.example` users here)
//! ```
//!
//! Nothing here is part of Gatehouse: a real directory is LDAP behind an HTTP API, SCIM or an
//! HR system, and a real partner has its own OpenID provider.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, html};
use serde_json::{Map, Value};

/// The directory's records, by subject.
#[derive(Clone, Default)]
pub struct Directory(Arc<Map<String, Value>>);

impl Directory {
    /// Reads a JSON object whose members are subjects and whose values are their records.
    pub fn load(path: &Path) -> anyhow::Result<Directory> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let records: Map<String, Value> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON object of records", path.display()))?;
        Ok(Directory(Arc::new(records)))
    }

    /// The record of `sub`, if the directory knows the subject.
    pub fn get(&self, sub: &str) -> Option<&Value> {
        self.0.get(sub)
    }
}

/// The directory's routes.
pub fn app(directory: Directory) -> Router {
    Router::new().route("/users/{sub}", get(user)).route("/partner-idp", get(partner_idp)).with_state(directory)
}

async fn user(State(directory): State<Directory>, UrlPath(sub): UrlPath<String>) -> Response {
    match directory.get(&sub) {
        Some(record) => {
            tracing::info!(%sub, "directory record served");
            axum::Json(record.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A landing page standing in for the partner's identity provider. A real one would sign the
/// user in and send the browser back to the login front-end with `state`, which names the
/// authorization session to resume.
async fn partner_idp(Query(q): Query<HashMap<String, String>>) -> Response {
    let hint = q.get("login_hint").map(String::as_str).unwrap_or("");
    let state = q.get("state").map(String::as_str).unwrap_or("");
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "partner.example sign-in (demo stand-in)" }
                style { "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;line-height:1.5} code{background:#eee;padding:0 .3rem;border-radius:4px;word-break:break-all}" }
            }
            body {
                h1 { "partner.example sign-in" }
                p {
                    "This page stands in for the identity provider of the organisation behind "
                    code { (hint) } ". Gatehouse's " strong { "idp-router" } " login hook chose it from the login hint "
                    "and parked the route in the authorization session's " code { "data" } "."
                }
                p {
                    "A real identity provider would sign the user in here and send the browser back to the login "
                    "front-end with " code { "state=" (state) } ", the authorization session to resume."
                }
            }
        }
    };
    page.into_response()
}
