//! Pushed authorization requests (RFC 9126): pushed with each kind of client authentication,
//! used once, expiring, bound to the client that pushed them, with and without a request
//! object; errors as JSON at the endpoint; PAR required per client and server-wide.

use gatehouse_protocol::world::Clock;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::support::client_jwt::{ClientKey, JWT_BEARER, assertion_claims, jwks};
use crate::support::request_objects::{complete, object_claims, query_of, start};
use crate::support::rp::Rp;
use crate::support::{TestServer, redirect_params};

/// Pushes `params` with `auth` (Basic credentials, or form members); the status and body.
async fn push(server: &TestServer, basic: Option<(&str, &str)>, params: &[(String, String)]) -> (u16, Value) {
    let mut req = server.http.post(server.url("/par")).form(params);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await.expect("PAR request");
    let status = resp.status().as_u16();
    let cache = resp.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = resp.json().await.expect("a JSON answer");
    if status == 201 {
        assert_eq!(cache.as_deref(), Some("no-store"));
    }
    (status, body)
}

/// The authorization URL that uses a pushed `request_uri` (RFC 9126 §4).
fn use_url(server: &TestServer, client_id: &str, request_uri: &str) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.append_pair("client_id", client_id).append_pair("request_uri", request_uri);
    format!("{}/authorize?{}", server.base, ser.finish())
}

/// The error a refused request gets, shown or redirected.
fn error_of(prompt: &Value) -> String {
    match prompt["uri"].as_str() {
        Some(uri) => redirect_params(uri)["error"].clone(),
        None => prompt["error"].as_str().unwrap_or_default().to_owned(),
    }
}

#[tokio::test]
async fn a_pushed_request_logs_in_once_and_only_for_its_client() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let (id, secret) = (info["client_id"].as_str().unwrap(), info["client_secret"].as_str().unwrap());
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["openid", "email"], &[]);
    let (status, pushed) = push(&server, Some((id, secret)), &query_of(&pending.url)).await;
    assert_eq!(status, 201, "{pushed}");
    assert_eq!(pushed["expires_in"], 60);
    let request_uri = pushed["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"), "{request_uri}");

    // Another client cannot use it (and so it is gone).
    let other = server.web_client(json!({})).await;
    let prompt = start(&server, &use_url(&server, other["client_id"].as_str().unwrap(), request_uri)).await;
    assert_eq!(error_of(&prompt), "invalid_request_uri", "{prompt}");

    let pending = rp.authorize(&["openid", "email"], &[]);
    let (_, pushed) = push(&server, Some((id, secret)), &query_of(&pending.url)).await;
    let url = use_url(&server, id, pushed["request_uri"].as_str().unwrap());
    let prompt = start(&server, &url).await;
    let id_claims = complete(&server, &rp, pending, &prompt).await.id_claims;
    assert_eq!(id_claims["aud"], id);
    // Single use.
    let prompt = start(&server, &url).await;
    assert_eq!(error_of(&prompt), "invalid_request_uri", "{prompt}");
    assert!(prompt["uri"].as_str().is_some_and(|u| u.starts_with("https://app.example.com/callback")));
}

#[tokio::test]
async fn a_pushed_request_expires() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let (id, secret) = (info["client_id"].as_str().unwrap(), info["client_secret"].as_str().unwrap());
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["openid"], &[]);
    let (_, pushed) = push(&server, Some((id, secret)), &query_of(&pending.url)).await;
    server.clock.advance(61);
    let prompt = start(&server, &use_url(&server, id, pushed["request_uri"].as_str().unwrap())).await;
    assert_eq!(error_of(&prompt), "invalid_request_uri", "{prompt}");
}

#[tokio::test]
async fn a_signed_request_object_can_be_pushed_by_a_private_key_jwt_client() {
    let server = TestServer::start().await;
    let key = ClientKey::rsa(Algorithm::PS256, Some("k1"));
    let info = server
        .web_client(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&key]), "request_object_signing_alg": "PS256"}))
        .await;
    let id = info["client_id"].as_str().unwrap();
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["openid"], &[]);
    let mut object = object_claims(&pending.url);
    object["iss"] = json!(id);
    object["aud"] = json!(server.issuer);
    let now = server.clock.now().0;
    // RFC 7523 §3: the PAR endpoint's URL is an audience of the assertion.
    let assertion = key.sign(&assertion_claims(id, &server.url("/par"), now));
    let form: Vec<(String, String)> = [
        ("client_id", id.to_owned()),
        ("request", key.sign(&object)),
        ("client_assertion_type", JWT_BEARER.to_owned()),
        ("client_assertion", assertion),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let (status, pushed) = push(&server, None, &form).await;
    assert_eq!(status, 201, "{pushed}");
    let prompt = start(&server, &use_url(&server, id, pushed["request_uri"].as_str().unwrap())).await;
    assert_eq!(prompt["auth_request"]["state"], object["state"], "{prompt}");
    // The token request would need another assertion; the session carrying the object's
    // parameters is what PAR is checked for here.
    assert_eq!(prompt["auth_request"]["nonce"], object["nonce"]);
}

#[tokio::test]
async fn the_endpoint_answers_errors_in_json_and_never_redirects() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let (id, secret) = (info["client_id"].as_str().unwrap(), info["client_secret"].as_str().unwrap());
    let rp = Rp::new(&server, &info).await;
    let params = query_of(&rp.authorize(&["openid"], &[]).url);

    let (status, body) = push(&server, None, &params).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let (status, body) = push(&server, Some((id, "wrong")), &params).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");

    let mut with_uri = params.clone();
    with_uri.push(("request_uri".into(), "https://rp.example/r".into()));
    let (status, body) = push(&server, Some((id, secret)), &with_uri).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");

    let evil: Vec<(String, String)> =
        params
            .iter()
            .map(|(k, v)| {
                if k == "redirect_uri" { (k.clone(), "https://evil.example/cb".into()) } else { (k.clone(), v.clone()) }
            })
            .collect();
    let (status, body) = push(&server, Some((id, secret)), &evil).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");

    let bad_type: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| if k == "response_type" { (k.clone(), "token".into()) } else { (k.clone(), v.clone()) })
        .collect();
    let (status, body) = push(&server, Some((id, secret)), &bad_type).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_response_type")), "{body}");

    // The client_id in the body must be the authenticated client's.
    let other = server.web_client(json!({})).await;
    let (status, body) =
        push(&server, Some((other["client_id"].as_str().unwrap(), other["client_secret"].as_str().unwrap())), &params)
            .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
}

#[tokio::test]
async fn pushed_requests_can_be_required_per_client_and_for_every_client() {
    let server = TestServer::start().await;
    let meta: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["pushed_authorization_request_endpoint"], server.url("/par"));
    assert_eq!(meta["require_pushed_authorization_requests"], false);
    let info = server.web_client(json!({"require_pushed_authorization_requests": true})).await;
    let (id, secret) = (info["client_id"].as_str().unwrap(), info["client_secret"].as_str().unwrap());
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["openid"], &[]);
    let prompt = start(&server, &pending.url).await;
    assert_eq!(error_of(&prompt), "invalid_request", "{prompt}");
    let (status, pushed) = push(&server, Some((id, secret)), &query_of(&pending.url)).await;
    assert_eq!(status, 201, "{pushed}");
    let prompt = start(&server, &use_url(&server, id, pushed["request_uri"].as_str().unwrap())).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");

    let strict = TestServer::start_with("[par]\nrequired = true\n").await;
    let meta: Value =
        strict.http.get(strict.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    let info = strict.web_client(json!({})).await;
    let rp = Rp::new(&strict, &info).await;
    let prompt = start(&strict, &rp.authorize(&["openid"], &[]).url).await;
    assert_eq!(error_of(&prompt), "invalid_request", "{prompt}");
}
