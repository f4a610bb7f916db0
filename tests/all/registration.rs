//! Dynamic Client Registration (RFC 7591, OpenID Connect Dynamic Registration 1.0) and its
//! management (RFC 7592) over HTTP: open and initial-token registration, read, update with
//! the token rotated, delete; every metadata refusal with its RFC 7591 §3.2.2 code; the same
//! validation through the client API; a registered client's code flow.

use gatehouse_protocol::secret::sha256_hex;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::rp::{Rp, login};
use crate::support::tls::TestCa;
use crate::support::{TestServer, alice};

const INITIAL_TOKEN: &str = "test-initial-access-token";

/// What an endpoint answered: status, body as JSON (or text), `WWW-Authenticate`, and
/// `Cache-Control`.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub challenge: Option<String>,
    pub cache_control: Option<String>,
    pub content_type: Option<String>,
}

/// Calls the registration or a configuration endpoint.
pub async fn call(server: &TestServer, method: Method, url: &str, token: Option<&str>, body: Option<Value>) -> Answer {
    let mut req = server.http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (challenge, cache_control, content_type) =
        (header("www-authenticate"), header("cache-control"), header("content-type"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, body, challenge, cache_control, content_type }
}

/// Registers `metadata` at `/register` (open registration) and returns the answer's body.
pub async fn register(server: &TestServer, metadata: Value) -> Value {
    let answer = call(server, Method::POST, &server.url("/register"), None, Some(metadata)).await;
    assert_eq!(answer.status, 201, "registration: {}", answer.body);
    answer.body
}

fn web(extra: Value) -> Value {
    let mut metadata = json!({ "client_name": "Dynamic App", "redirect_uris": ["https://app.example.com/cb"] });
    crate::support::merge(&mut metadata, extra);
    metadata
}

#[tokio::test]
async fn open_registration_answers_credentials_and_echoes_all_metadata() {
    let server = TestServer::start().await;
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["registration_endpoint"], server.url("/register"));

    let request = web(json!({
        "logo_uri": "https://app.example.com/logo.png",
        "policy_uri": "https://app.example.com/policy",
        "tos_uri": "https://app.example.com/tos",
        "contacts": ["ops@app.example.com"],
        "default_max_age": 3600,
        "require_auth_time": true,
        "default_acr_values": ["urn:gatehouse:pwd"],
        "x_vendor_extension": { "tier": "gold", "seats": [1, 2] },
    }));
    let answer = call(&server, Method::POST, &server.url("/register"), None, Some(request.clone())).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"), "RFC 7591 §3.2.1");
    let info = answer.body;
    let id = info["client_id"].as_str().unwrap();
    assert!(info["client_secret"].as_str().unwrap().len() >= 43);
    assert!(info["client_id_issued_at"].as_i64().unwrap() > 0);
    assert_eq!(info["client_secret_expires_at"], 0);
    assert!(info["registration_access_token"].as_str().unwrap().len() >= 43);
    assert_eq!(info["registration_client_uri"], server.url(&format!("/register/{id}")));
    for (key, value) in request.as_object().unwrap() {
        assert_eq!(&info[key], value, "{key} is echoed");
    }
    assert_eq!(info["token_endpoint_auth_method"], "client_secret_basic", "defaults are filled in");
    assert!(info.get("source").is_none(), "no member of the admin API's own");

    // The stored client keeps what the client sent, and the admin API sees where it came from.
    let (status, stored) = server.admin(Method::GET, &format!("/clients/v1/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(stored["x_vendor_extension"], request["x_vendor_extension"]);
    assert_eq!(stored["source"], "dynamic");
    assert!(stored.get("registration_token").is_none(), "the token's hash is not shown");
}

#[tokio::test]
async fn an_initial_access_token_is_required_when_configured() {
    let server = TestServer::start_with(&format!(
        "[registration]\nmode = \"initial_token\"\ninitial_token_hashes = [\"{}\"]\n",
        sha256_hex(INITIAL_TOKEN.as_bytes())
    ))
    .await;
    let url = server.url("/register");
    let none = call(&server, Method::POST, &url, None, Some(web(json!({})))).await;
    assert_eq!(none.status, 401);
    assert!(none.challenge.unwrap().starts_with("Bearer"));
    let wrong = call(&server, Method::POST, &url, Some("guess"), Some(web(json!({})))).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.challenge.unwrap().contains("error=\"invalid_token\""));
    let admin = call(&server, Method::POST, &url, Some(crate::support::ADMIN_TOKEN), Some(web(json!({})))).await;
    assert_eq!(admin.status, 401, "the admin token is not an initial access token");
    let good = call(&server, Method::POST, &url, Some(INITIAL_TOKEN), Some(web(json!({})))).await;
    assert_eq!(good.status, 201, "{}", good.body);
    // The configuration endpoint wants the registration access token, not the initial one.
    let uri = good.body["registration_client_uri"].as_str().unwrap();
    assert_eq!(call(&server, Method::GET, uri, Some(INITIAL_TOKEN), None).await.status, 401);
}

/// Outside loopback issuers registration needs an initial token by default, generated into
/// the data directory when none is configured; `off` removes the endpoint.
#[tokio::test]
async fn registration_defaults_to_an_initial_token_outside_loopback_and_can_be_off() {
    let ca = TestCa::new();
    let server = TestServer::start_https(&ca, "", "").await;
    let token = std::fs::read_to_string(server.data_dir.join("registration.token")).unwrap();
    let url = server.url("/register");
    assert_eq!(call(&server, Method::POST, &url, None, Some(web(json!({})))).await.status, 401);
    let good = call(&server, Method::POST, &url, Some(token.trim()), Some(web(json!({})))).await;
    assert_eq!(good.status, 201, "{}", good.body);
    assert!(good.body["registration_client_uri"].as_str().unwrap().starts_with("https://"));

    let off = TestServer::start_with("[registration]\nmode = \"off\"\n").await;
    let discovery: Value =
        off.http.get(off.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(discovery.get("registration_endpoint").is_none(), "{discovery}");
    assert_eq!(call(&off, Method::POST, &off.url("/register"), None, Some(web(json!({})))).await.status, 404);
}

#[tokio::test]
async fn a_registration_is_read_updated_with_a_new_token_and_deleted() {
    let server = TestServer::start().await;
    let info = register(&server, web(json!({ "x_note": "first" }))).await;
    let id = info["client_id"].as_str().unwrap();
    let secret = info["client_secret"].as_str().unwrap();
    let uri = info["registration_client_uri"].as_str().unwrap();
    let token = info["registration_access_token"].as_str().unwrap();

    let read = call(&server, Method::GET, uri, Some(token), None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.cache_control.as_deref(), Some("no-store"));
    assert_eq!(read.body["client_id"], id);
    assert_eq!(read.body["client_secret"], secret, "RFC 7592 §3: the whole client information");
    assert_eq!(read.body["x_note"], "first");
    assert!(read.body.get("registration_access_token").is_none(), "only its hash is stored");
    for bad in [None, Some("not-the-token"), Some(secret)] {
        let refused = call(&server, Method::GET, uri, bad, None).await;
        assert_eq!(refused.status, 401, "{bad:?}");
        assert!(refused.challenge.unwrap().starts_with("Bearer"));
    }
    let other = register(&server, web(json!({}))).await;
    let stranger = other["registration_access_token"].as_str().unwrap();
    assert_eq!(call(&server, Method::GET, uri, Some(stranger), None).await.status, 401, "another client's token");

    // RFC 7592 §2.2: the whole metadata again, response-only members included, as read.
    let mut update = read.body.clone();
    update["client_name"] = json!("Renamed");
    update["x_note"] = json!("second");
    let updated = call(&server, Method::PUT, uri, Some(token), Some(update.clone())).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["client_name"], "Renamed");
    assert_eq!(updated.body["x_note"], "second");
    assert_eq!(updated.body["client_secret"], secret, "the secret is kept");
    let new_token = updated.body["registration_access_token"].as_str().unwrap();
    assert_ne!(new_token, token, "the token is rotated");
    assert_eq!(call(&server, Method::GET, uri, Some(token), None).await.status, 401, "the old token is dead");
    assert_eq!(call(&server, Method::GET, uri, Some(new_token), None).await.body["client_name"], "Renamed");

    // A client cannot choose its secret or its id.
    let mut chosen = update.clone();
    chosen["client_secret"] = json!("a-secret-the-client-would-like-to-have-now");
    let refused = call(&server, Method::PUT, uri, Some(new_token), Some(chosen)).await;
    assert_eq!((refused.status, refused.body["error"].as_str()), (400, Some("invalid_client_metadata")));
    let mut moved = update.clone();
    moved["client_id"] = json!("someone-else");
    let refused = call(&server, Method::PUT, uri, Some(new_token), Some(moved)).await;
    assert_eq!(refused.body["error"], "invalid_client_metadata");

    // The secret still authenticates at the token endpoint until the client is deleted.
    let (status, body, _) =
        server.token_request(Some((id, secret)), &[("grant_type", "refresh_token"), ("refresh_token", "x")]).await;
    assert_eq!(status, 400, "authenticated, the grant refused: {body}");
    let deleted = call(&server, Method::DELETE, uri, Some(new_token), None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(call(&server, Method::GET, uri, Some(new_token), None).await.status, 401, "the token died with it");
    assert_eq!(call(&server, Method::DELETE, uri, Some(new_token), None).await.status, 401);
    assert_eq!(server.admin(Method::GET, &format!("/clients/v1/{id}"), None).await.0, 404, "the client is gone");
    let (status, body, _) =
        server.token_request(Some((id, secret)), &[("grant_type", "refresh_token"), ("refresh_token", "x")]).await;
    assert_eq!(status, 401, "{body}");
}

/// Each refusal: the request's metadata, the RFC 7591 §3.2.2 code, and the member the
/// description must name.
fn refusals() -> Vec<(Value, &'static str, &'static str)> {
    let redirect = |uris: Value| json!({ "redirect_uris": uris });
    vec![
        (redirect(json!(["https://app.example.com/cb#frag"])), "invalid_redirect_uri", "fragment"),
        (redirect(json!(["http://app.example.com/cb"])), "invalid_redirect_uri", "loopback"),
        (redirect(json!(["com.example.app:/cb"])), "invalid_redirect_uri", "native"),
        (redirect(json!(["javascript:alert(1)"])), "invalid_redirect_uri", "javascript"),
        (json!({ "client_name": "no redirect" }), "invalid_redirect_uri", "redirect_uris"),
        (web(json!({ "application_type": "desktop" })), "invalid_client_metadata", "application_type"),
        (
            web(json!({ "jwks": { "keys": [] }, "jwks_uri": "https://app.example.com/jwks" })),
            "invalid_client_metadata",
            "jwks",
        ),
        (web(json!({ "jwks_uri": "http://app.example.com/jwks" })), "invalid_client_metadata", "jwks_uri"),
        (web(json!({ "jwks": "not a set" })), "invalid_client_metadata", "jwks"),
        (
            web(json!({ "token_endpoint_auth_method": "magic" })),
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (web(json!({ "token_endpoint_auth_method": "private_key_jwt" })), "invalid_client_metadata", "private_key_jwt"),
        (
            web(
                json!({ "token_endpoint_auth_method": "client_secret_jwt", "token_endpoint_auth_signing_alg": "RS256" }),
            ),
            "invalid_client_metadata",
            "token_endpoint_auth_signing_alg",
        ),
        (
            web(json!({ "id_token_signed_response_alg": "none" })),
            "invalid_client_metadata",
            "id_token_signed_response_alg",
        ),
        (
            web(json!({ "id_token_signed_response_alg": "HS256" })),
            "invalid_client_metadata",
            "id_token_signed_response_alg",
        ),
        (
            web(json!({ "userinfo_signed_response_alg": "ES512" })),
            "invalid_client_metadata",
            "userinfo_signed_response_alg",
        ),
        (
            web(json!({ "id_token_encrypted_response_alg": "RSA1_5" })),
            "invalid_client_metadata",
            "id_token_encrypted_response_alg",
        ),
        (
            web(json!({ "id_token_encrypted_response_enc": "A128GCM" })),
            "invalid_client_metadata",
            "id_token_encrypted_response_enc",
        ),
        (
            web(json!({ "userinfo_encrypted_response_alg": "RSA-OAEP" })),
            "invalid_client_metadata",
            "userinfo_encrypted_response_alg",
        ),
        (
            web(json!({ "userinfo_encrypted_response_enc": "A1GCM" })),
            "invalid_client_metadata",
            "userinfo_encrypted_response_enc",
        ),
        (
            web(json!({ "request_object_signing_alg": "XS256" })),
            "invalid_client_metadata",
            "request_object_signing_alg",
        ),
        (
            web(json!({ "request_object_encryption_alg": "foo" })),
            "invalid_client_metadata",
            "request_object_encryption_alg",
        ),
        (web(json!({ "logo_uri": "http://app.example.com/logo.png" })), "invalid_client_metadata", "logo_uri"),
        (web(json!({ "policy_uri": "not a url" })), "invalid_client_metadata", "policy_uri"),
        (web(json!({ "tos_uri": "javascript:alert(1)" })), "invalid_client_metadata", "tos_uri"),
        (web(json!({ "client_uri": "ftp://app.example.com/" })), "invalid_client_metadata", "client_uri"),
        (
            web(json!({ "initiate_login_uri": "http://app.example.com/login" })),
            "invalid_client_metadata",
            "initiate_login_uri",
        ),
        (web(json!({ "request_uris": ["http://app.example.com/req"] })), "invalid_client_metadata", "request_uris"),
        (web(json!({ "default_max_age": -1 })), "invalid_client_metadata", "default_max_age"),
        (web(json!({ "default_max_age": "an hour" })), "invalid_client_metadata", "default_max_age"),
        (web(json!({ "require_auth_time": "yes" })), "invalid_client_metadata", "require_auth_time"),
        (web(json!({ "default_acr_values": "urn:gatehouse:pwd" })), "invalid_client_metadata", "default_acr_values"),
        (web(json!({ "contacts": [42] })), "invalid_client_metadata", "contacts"),
        (web(json!({ "contacts": [" "] })), "invalid_client_metadata", "contacts"),
        (web(json!({ "response_types": ["token"] })), "invalid_client_metadata", "response_types"),
        (web(json!({ "grant_types": ["implicit"] })), "invalid_client_metadata", "grant_types"),
        (web(json!({ "grant_types": ["client_credentials"] })), "invalid_client_metadata", "response_types"),
        (web(json!({ "response_types": [] })), "invalid_client_metadata", "grant_types"),
        (web(json!({ "subject_type": "secret" })), "invalid_client_metadata", "subject_type"),
        (
            json!({ "subject_type": "pairwise", "redirect_uris": ["https://a.example/cb", "https://b.example/cb"] }),
            "invalid_client_metadata",
            "subject_type",
        ),
        (
            web(json!({ "sector_identifier_uri": "http://app.example.com/uris.json" })),
            "invalid_client_metadata",
            "sector_identifier_uri",
        ),
        (web(json!({ "software_statement": 42 })), "invalid_software_statement", "software_statement"),
        (web(json!({ "client_id": "my-own-id" })), "invalid_client_metadata", "client_id"),
        (json!(["not", "an", "object"]), "invalid_client_metadata", "object"),
    ]
}

#[tokio::test]
async fn every_metadata_refusal_has_its_code_and_names_the_member() {
    let server = TestServer::start().await;
    for (metadata, code, named) in refusals() {
        let answer = call(&server, Method::POST, &server.url("/register"), None, Some(metadata.clone())).await;
        assert_eq!(answer.status, 400, "{metadata}: {}", answer.body);
        assert_eq!(answer.body["error"], code, "{metadata}: {}", answer.body);
        let description = answer.body["error_description"].as_str().unwrap();
        assert!(description.contains(named), "{metadata}: {description:?} names {named}");
        assert!(answer.content_type.unwrap().starts_with("application/json"));
    }
    let not_json = server
        .http
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(not_json.json::<Value>().await.unwrap()["error"], "invalid_client_metadata");
    let big = json!({ "redirect_uris": ["https://app.example.com/cb"], "x_padding": "x".repeat(100 << 10) });
    assert_eq!(call(&server, Method::POST, &server.url("/register"), None, Some(big)).await.status, 413);
    // A software statement Gatehouse does not process is ignored (RFC 7591 §3.1.1), not stored.
    let info = register(&server, web(json!({ "software_statement": "eyJhbGciOiJub25lIn0.e30." }))).await;
    assert!(info.get("software_statement").is_none());
}

/// The client API validates with the same rule (its errors are problem documents carrying
/// the RFC 7591 code).
#[tokio::test]
async fn the_client_api_refuses_the_same_metadata() {
    let server = TestServer::start().await;
    for (metadata, code, named) in refusals() {
        if metadata.get("client_id").is_some() || metadata.get("software_statement").is_some() {
            continue; // The admin API may choose a client id; statements are a registration matter.
        }
        let (status, body) = server.admin(Method::POST, "/clients/v1", Some(metadata.clone())).await;
        assert_eq!(status, 400, "{metadata}: {body}");
        assert_eq!(body["error"], code, "{metadata}: {body}");
        assert!(body["error_description"].as_str().unwrap().contains(named), "{metadata}: {body}");
    }
}

/// Under an https issuer, web clients use https off loopback; loopback redirect URIs are for
/// native apps (Dynamic Registration §2).
#[tokio::test]
async fn web_clients_of_a_public_issuer_keep_off_loopback() {
    let ca = TestCa::new();
    let server = TestServer::start_https(&ca, "", "[registration]\nmode = \"open\"\n").await;
    let url = server.url("/register");
    for uri in ["http://127.0.0.1:9000/cb", "https://localhost/cb"] {
        let answer = call(&server, Method::POST, &url, None, Some(json!({ "redirect_uris": [uri] }))).await;
        assert_eq!(answer.body["error"], "invalid_redirect_uri", "{uri}: {}", answer.body);
    }
    let native =
        json!({ "application_type": "native", "redirect_uris": ["http://127.0.0.1:9000/cb", "com.example.app:/cb"] });
    assert_eq!(call(&server, Method::POST, &url, None, Some(native)).await.status, 201);
    let logo = json!({ "redirect_uris": ["https://app.example.com/cb"], "logo_uri": "http://127.0.0.1/logo.png" });
    assert_eq!(call(&server, Method::POST, &url, None, Some(logo)).await.body["error"], "invalid_client_metadata");
}

#[tokio::test]
async fn a_registered_client_completes_the_code_flow() {
    let server = TestServer::start().await;
    let info = register(&server, web(json!({ "grant_types": ["authorization_code", "refresh_token"] }))).await;
    let rp = Rp::new(&server, &info).await;
    let (_, done) = login(&server, &rp, &["openid", "email"], alice(), json!({ "scope": "*" })).await;
    assert_eq!(done.id_claims["aud"], info["client_id"]);
    assert_eq!(done.id_claims["sub"], "alice", "public subjects by default");
    assert_eq!(done.userinfo["email"], "alice@example.com");
}
