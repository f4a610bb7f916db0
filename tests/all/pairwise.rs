//! Pairwise subject identifiers (OpenID Connect Core §8.1): one value per sector, the same in
//! the ID token, UserInfo and the access token, stable across logins and hosts, and an
//! `id_token_hint` carrying it resolved back to the user; sectors from the one redirect host or
//! a `sector_identifier_uri` served over https (listed, missing a redirect URI, unreachable).

use axum::Router;
use axum::routing::get;
use base64::Engine;
use openidconnect::OAuth2TokenResponse;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::registration::{call, register};
use crate::support::rp::{Login, Rp, login};
use crate::support::tls::TestCa;
use crate::support::{TestServer, alice, redirect_params};

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Logs Alice in through `info`'s client; returns the `sub` every endpoint gave, checked equal.
async fn subject_seen_by(server: &TestServer, info: &Value) -> (String, Login) {
    let rp = Rp::new(server, info).await;
    let (_, done) = login(server, &rp, &["openid", "email"], alice(), json!({ "scope": "*" })).await;
    let sub = done.id_claims["sub"].as_str().unwrap().to_owned();
    assert_eq!(done.userinfo["sub"], sub, "UserInfo carries the ID token's sub");
    assert_eq!(payload(done.tokens.access_token().secret())["sub"], sub, "so does the access token");
    (sub, done)
}

fn pairwise(redirect: &str) -> Value {
    json!({ "subject_type": "pairwise", "redirect_uris": [redirect] })
}

#[tokio::test]
async fn pairwise_subjects_are_stable_in_a_sector_and_differ_across_sectors() {
    let server = TestServer::start().await;
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["subject_types_supported"], json!(["public", "pairwise"]));

    let a = register(&server, pairwise("https://a.example/cb")).await;
    let a_again = register(&server, pairwise("https://a.example/elsewhere")).await;
    let b = register(&server, pairwise("https://b.example/cb")).await;
    let public = register(&server, json!({ "redirect_uris": ["https://a.example/cb"] })).await;

    let (in_a, _) = subject_seen_by(&server, &a).await;
    assert_ne!(in_a, "alice", "the local subject is not shown");
    assert_eq!(subject_seen_by(&server, &a).await.0, in_a, "stable across logins");
    assert_eq!(subject_seen_by(&server, &a_again).await.0, in_a, "the same in one sector");
    assert_ne!(subject_seen_by(&server, &b).await.0, in_a, "different across sectors");
    assert_eq!(subject_seen_by(&server, &public).await.0, "alice", "public stays the default");

    // The salt is in the database: a restarted host, and so any host of the provider, agrees.
    let server = server.restart().await;
    assert_eq!(subject_seen_by(&server, &a).await.0, in_a, "the salt survives restarts");
}

#[tokio::test]
async fn an_id_token_hint_with_a_pairwise_sub_names_its_user() {
    let server = TestServer::start().await;
    let info = register(&server, pairwise("https://a.example/cb")).await;
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["openid"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let consent = server.submit_subject(&sid, alice()).await;
    let sso = consent["sso"]["token"].as_str().unwrap().to_owned();
    let prompt = server.submit_consent(&sid, json!({ "scope": "*", "long_lived": true })).await;
    let done = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    let hint = openidconnect::TokenResponse::id_token(&done.tokens).unwrap().to_string();
    assert_ne!(payload(&hint)["sub"], "alice");

    let again = |extra: Vec<(&'static str, String)>, sso: String| {
        let (server, rp) = (&server, &rp);
        async move {
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let pending = rp.authorize(&["openid"], &extra);
            let query = server.browse_authorize(&pending.url).await;
            server.start_session(&query, Some(&sso), None).await
        }
    };
    let prompt = again(vec![("id_token_hint", hint.clone()), ("prompt", "none".into())], sso.clone()).await;
    assert_eq!(prompt["type"], "response", "the hint's pairwise sub is Alice's: {prompt}");
    assert!(redirect_params(prompt["uri"].as_str().unwrap()).contains_key("code"));

    // Bob's session does not answer a request hinted for Alice.
    let pending = rp.authorize(&["openid"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let bob = server.submit_subject(&sid, json!({ "sub": "bob" })).await;
    let bob_sso = bob["sso"]["token"].as_str().unwrap().to_owned();
    let prompt = again(vec![("id_token_hint", hint), ("prompt", "none".into())], bob_sso).await;
    assert_eq!(redirect_params(prompt["uri"].as_str().unwrap())["error"], "login_required", "{prompt}");
}

/// A server that fetches sector documents from loopback https servers signed by `ca`.
async fn server_trusting(ca: &TestCa) -> TestServer {
    TestServer::start_with(&format!(
        "[outbound]\nallow_private_addresses = true\nca_file = \"{}\"\n",
        ca.file.display()
    ))
    .await
}

#[tokio::test]
async fn a_sector_identifier_uri_lists_every_redirect_uri_and_joins_its_hosts() {
    let ca = TestCa::new();
    let sector = ca
        .serve(
            Router::new()
                .route("/both.json", get(|| async { r#"["https://a.example/cb", "https://b.example/cb"]"# }))
                .route("/a-only.json", get(|| async { r#"["https://a.example/cb"]"# }))
                .route("/not-a-list.json", get(|| async { r#"{"redirect_uris": []}"# })),
        )
        .await;
    let server = server_trusting(&ca).await;
    let both = json!({
        "subject_type": "pairwise",
        "redirect_uris": ["https://a.example/cb", "https://b.example/cb"],
        "sector_identifier_uri": format!("{sector}/both.json"),
    });
    let joined = register(&server, both.clone()).await;
    let mut only_b = both.clone();
    only_b["redirect_uris"] = json!(["https://b.example/cb"]);
    let b_in_sector = register(&server, only_b).await;
    let (sub, _) = subject_seen_by(&server, &joined).await;
    assert_eq!(subject_seen_by(&server, &b_in_sector).await.0, sub, "one sector, whatever the redirect host");
    let alone = register(&server, pairwise("https://b.example/cb")).await;
    assert_ne!(subject_seen_by(&server, &alone).await.0, sub, "the sector is the document's host");

    for (document, why) in [
        (format!("{sector}/a-only.json"), "does not list"),
        (format!("{sector}/not-a-list.json"), "JSON array"),
        (format!("{sector}/missing.json"), "could not be fetched"),
        ("https://127.0.0.1:1/unreachable.json".to_owned(), "could not be fetched"),
    ] {
        let mut metadata = both.clone();
        metadata["sector_identifier_uri"] = json!(document);
        let answer = call(&server, Method::POST, &server.url("/register"), None, Some(metadata)).await;
        assert_eq!(answer.status, 400, "{document}: {}", answer.body);
        assert_eq!(answer.body["error"], "invalid_client_metadata");
        let description = answer.body["error_description"].as_str().unwrap();
        assert!(description.contains("sector_identifier_uri") && description.contains(why), "{description}");
    }
}
