//! A relying party's side of request objects (OpenID Connect Core §6, RFC 9101): an
//! authentication request turned into the claims of a request object, the request that
//! carries it (by value or by reference), and an https server that serves objects at a
//! `request_uri`, as the conformance suite does.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::rp::{Login, Pending, Rp};
use super::tls::TestCa;
use super::{TestServer, alice};

/// The parameters the conformance suite repeats in the query beside a request object
/// (`AbstractBuildRequestObjectRedirectToAuthorizationEndpoint`: Core §6.1 and RFC 6749
/// §3.1.2.3 require them there).
pub const REQUIRED_DUPLICATES: &[&str] = &["response_type", "client_id", "scope", "redirect_uri"];

/// The query parameters of an authorization URL, in order.
pub fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).expect("a URL").query_pairs().into_owned().collect()
}

/// The claims of a request object that carries every parameter of `url`
/// (`ConvertAuthorizationEndpointRequestToRequestObject`).
pub fn object_claims(url: &str) -> Value {
    let claims: Map<String, Value> = query_of(url).into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    Value::Object(claims)
}

/// The authorization URL that carries a request object (`name` = `request` or `request_uri`
/// with `value`) and, in the query, the required duplicates of `original`'s parameters.
pub fn object_request_url(server: &TestServer, original: &str, name: &str, value: &str) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in query_of(original) {
        if REQUIRED_DUPLICATES.contains(&k.as_str()) {
            ser.append_pair(&k, &v);
        }
    }
    ser.append_pair(name, value);
    format!("{}/authorize?{}", server.base, ser.finish())
}

/// Follows `url` through the authorization endpoint and starts the front-end's session.
pub async fn start(server: &TestServer, url: &str) -> Value {
    let query = server.browse_authorize(url).await;
    server.start_session(&query, None, None).await
}

/// Logs Alice in through the `auth` prompt, consents to everything asked, and lets the RP
/// finish the flow.
pub async fn complete(server: &TestServer, rp: &Rp, pending: Pending, prompt: &Value) -> Login {
    assert_eq!(prompt["type"], "auth", "{prompt}");
    let sid = prompt["sid"].as_str().unwrap();
    server.submit_subject(sid, alice()).await;
    let response = server.submit_consent(sid, serde_json::json!({"scope": "*"})).await;
    assert_eq!(response["type"], "response", "{response}");
    rp.finish(server, pending, response["uri"].as_str().unwrap()).await
}

/// An https server that serves one request object (or an error status) at
/// `/requesturi/<name>`, with the media type of RFC 9101 §5.2.
#[derive(Clone)]
pub struct ObjectServer {
    pub base: String,
    document: Arc<Mutex<Option<String>>>,
}

impl ObjectServer {
    pub async fn start(ca: &TestCa) -> Self {
        let document: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let doc = document.clone();
        let router = Router::new().route(
            "/requesturi/{name}",
            get(move || {
                let doc = doc.clone();
                async move {
                    match doc.lock().unwrap().clone() {
                        Some(body) => {
                            let mut response = Response::new(Body::from(body));
                            response.headers_mut().insert(
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("application/oauth-authz-req+jwt"),
                            );
                            response
                        }
                        None => Response::builder().status(StatusCode::NOT_FOUND).body(Body::empty()).unwrap(),
                    }
                }
            }),
        );
        Self { base: ca.serve(router).await, document }
    }

    /// The URL of a request object at this server, with a fragment as the suite's
    /// `CreateRandomRequestUriWithFragment` makes.
    pub fn uri(&self, name: &str) -> String {
        format!("{}/requesturi/{name}#{}", self.base, URL_SAFE_NO_PAD.encode(name.as_bytes()))
    }

    /// Serves `object` from now on (`None`: answers 404).
    pub fn publish(&self, object: Option<String>) {
        *self.document.lock().unwrap() = object;
    }
}
