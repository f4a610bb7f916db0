//! Inputs read exactly as their specifications define them: Basic client credentials
//! (RFC 6749 §2.3.1), redirect URIs at registration (RFC 7591 §3.2.2, RFC 8252), and
//! `id_token_hint` (OpenID Connect Core §3.1.2.1).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_server::{Config, Gatehouse, Overrides};
use openidconnect::OAuth2TokenResponse;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::rp::{Rp, login};
use crate::support::{TestServer, alice, redirect_params};

/// A client-credentials token request with a hand-made `Authorization` header value.
async fn token_with_header(server: &TestServer, authorization: &str) -> (u16, Value, Option<String>) {
    let resp = server
        .http
        .post(server.url("/token"))
        .header("authorization", authorization)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (status, resp.json().await.unwrap(), challenge)
}

fn basic(user_pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(user_pass))
}

/// RFC 6749 Appendix B: each part form-encoded before they are joined.
fn form(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn basic_credentials_with_trailing_parameters_do_not_authenticate() {
    let server = TestServer::start().await;
    let secret = "plain-secret-0123456789abcdef0123456";
    let odd_secret = "p%+: &=odd-secret-0123456789abcdef";
    for (id, secret) in [("conf", secret), ("urn:odd:client", odd_secret)] {
        server
            .register(json!({
                "client_id": id,
                "client_secret": secret,
                "grant_types": ["client_credentials"],
                "response_types": [],
            }))
            .await;
    }

    for header in [
        basic(&format!("conf&x=y:{secret}")),
        basic(&format!("conf:{secret}&x=y")),
        basic(&format!("conf=:{secret}")),
        basic(&format!("conf%zz:{secret}")),
        format!("{} trailing", basic(&format!("conf:{secret}"))),
        format!("Basic Basic {}", STANDARD.encode(format!("conf:{secret}"))),
        basic(&format!("conf:{secret}")).trim_end_matches('=').to_owned(),
    ] {
        let (status, body, challenge) = token_with_header(&server, &header).await;
        assert_eq!(status, 401, "{header}: {body}");
        assert_eq!(body["error"], "invalid_client", "{header}");
        assert!(challenge.is_some_and(|c| c.starts_with("Basic")), "{header}: the Basic challenge");
    }

    // Correct encodings authenticate, including '%', '+', ':', ' ', '&' and '=' escaped.
    for header in [
        basic(&format!("conf:{secret}")),
        format!("basic {}", STANDARD.encode(format!("conf:{secret}"))),
        basic(&format!("{}:{}", form("urn:odd:client"), form(odd_secret))),
        // ':' needs no escape in the secret: only the first one splits.
        basic(&format!("urn%3Aodd%3Aclient:{}", form(odd_secret).replace("%3A", ":"))),
    ] {
        let (status, body, _) = token_with_header(&server, &header).await;
        assert_eq!(status, 200, "{header}: {body}");
        assert!(body["access_token"].is_string());
    }
}

#[tokio::test]
async fn redirect_uris_are_limited_to_safe_schemes_and_hosts() {
    let server = TestServer::start().await;
    let web = |uri: &str| json!({"redirect_uris": [uri]});
    let native =
        |uri: &str| json!({"redirect_uris": [uri], "application_type": "native", "token_endpoint_auth_method": "none"});
    let refused = [
        web("javascript:alert(document.cookie)"),
        native("javascript:alert(1)"),
        web("data:text/html,<script>alert(1)</script>"),
        web("file:///etc/passwd"),
        web("vbscript:msgbox(1)"),
        web("blob:https://app.example.com/5e1c"),
        web("about:blank"),
        web("https://*.example.com/cb"),
        web("https://user:pw@app.example.com/cb"),
        web("http://app.example.com/cb"),
        native("http://192.0.2.7/cb"),
        web("http://localhost.evil.example/cb"),
        web("com.example.app:/cb"),
        native("myapp://cb"),
        web("ftp://app.example.com/cb"),
        web("https://app.example.com/cb#frag"),
    ];
    for metadata in refused {
        let uri = metadata["redirect_uris"][0].as_str().unwrap().to_owned();
        let (status, problem) = server.admin(Method::POST, "/clients/v1", Some(metadata.clone())).await;
        assert_eq!(status, 400, "{metadata}: {problem}");
        assert_eq!(problem["error"], "invalid_redirect_uri", "{metadata}: {problem}");
        let described = problem["error_description"].as_str().or(problem["detail"].as_str()).unwrap_or_default();
        assert!(described.contains(&uri), "the error names {uri}: {problem}");
    }

    for metadata in [
        web("https://app.example.com/cb"),
        web("http://127.0.0.1:8082/callback"),
        web("http://localhost:3000/cb"),
        native("http://[::1]:9/cb"),
        native("com.example.app:/oauth2redirect"),
    ] {
        server.register(metadata).await;
    }

    // The same rule for post-logout URIs, reported as other metadata is.
    let (status, problem) = server
        .admin(
            Method::POST,
            "/clients/v1",
            Some(json!({"redirect_uris": ["https://app.example.com/cb"], "post_logout_redirect_uris": ["javascript:alert(1)"]})),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["error"], "invalid_client_metadata", "{problem}");
    server
        .register(json!({"redirect_uris": ["https://app.example.com/cb"], "post_logout_redirect_uris": ["https://app.example.com/bye"]}))
        .await;

    // An update goes through the same check.
    let info = server.register(web("https://app.example.com/cb")).await;
    let (status, problem) = server
        .admin(
            Method::PUT,
            &format!("/clients/v1/{}", info["client_id"].as_str().unwrap()),
            Some(web("javascript:alert(1)")),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["error"], "invalid_redirect_uri");
}

#[tokio::test]
async fn a_configured_client_with_an_unsafe_redirect_uri_stops_startup() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = server.config_toml().replace(&server.data_dir.display().to_string(), &dir.path().display().to_string())
        + r#"
[[clients]]
client_id = "configured"
client_secret = "configured-secret-0123456789abcdef0123"
redirect_uris = ["javascript:alert(1)"]
"#;
    let config = Config::from_toml(&toml).expect("config parses");
    let error = Gatehouse::build(&config, Overrides::default()).await.err().expect("startup fails");
    assert!(error.0.contains("invalid_redirect_uri") && error.0.contains("javascript:alert(1)"), "{}", error.0);
}

/// Starts an authorization for `rp` with `extra` parameters; returns the first prompt.
async fn start(server: &TestServer, rp: &Rp, extra: &[(&str, &str)]) -> Value {
    let pending = rp.authorize(&["openid", "email"], extra);
    let query = server.browse_authorize(&pending.url).await;
    server.start_session(&query, None, None).await
}

fn assert_refused_hint(prompt: &Value, why: &str) {
    assert_eq!(prompt["type"], "response", "{why}: {prompt}");
    let params = redirect_params(prompt["uri"].as_str().unwrap());
    assert_eq!(params["error"], "invalid_request", "{why}: {params:?}");
    assert!(params["error_description"].contains("id_token_hint"), "{why}: {params:?}");
}

#[tokio::test]
async fn only_the_providers_id_tokens_for_the_client_are_id_token_hints() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let (_, alice_login) = login(&server, &rp, &["email"], alice(), json!({"scope": "*"})).await;
    let id_token = openidconnect::TokenResponse::id_token(&alice_login.tokens).unwrap().to_string();
    let access_token = alice_login.tokens.access_token().secret().clone();

    // A real ID token is a hint: the request goes on to authentication.
    let prompt = start(&server, &rp, &[("id_token_hint", &id_token)]).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");

    // The access token is signed by the same keys, but it is not an ID token.
    assert_refused_hint(&start(&server, &rp, &[("id_token_hint", &access_token)]).await, "an access token");

    // An ID token issued to another client is not a hint about a session with this one.
    let other = Rp::new(&server, &server.web_client(json!({})).await).await;
    assert_refused_hint(&start(&server, &other, &[("id_token_hint", &id_token)]).await, "another client's");

    // Expired ID tokens stay hints (OpenID Connect Core §3.1.2.1 does not require a live one).
    server.clock.advance(2 * 3600);
    let prompt = start(&server, &rp, &[("id_token_hint", &id_token)]).await;
    assert_eq!(prompt["type"], "auth", "an expired ID token: {prompt}");
}
