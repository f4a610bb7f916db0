//! Single sign-on: subject sessions reused across authorizations, `prompt`, `max_age`,
//! remembered consent.

use serde_json::{Value, json};

use crate::support::rp::{Rp, open_session};
use crate::support::{TestServer, alice, redirect_params};

/// A first login with a long-lived consent; returns the SSO credential for the cookie.
async fn first_login(server: &TestServer, rp: &Rp) -> String {
    let pending = rp.authorize(&["email"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, None, None).await;
    let sid = prompt["sid"].as_str().unwrap().to_owned();
    let prompt = server.submit_subject(&sid, alice()).await;
    let sso = prompt["sso"]["token"].as_str().expect("a new login hands out an SSO credential").to_owned();
    let prompt = server.submit_consent(&sid, json!({"scope": "*", "long_lived": true})).await;
    assert!(prompt.get("sso").is_none(), "the credential is handed out once: {prompt}");
    rp.finish(server, pending, prompt["uri"].as_str().unwrap()).await;
    sso
}

async fn again(
    server: &TestServer,
    rp: &Rp,
    sso: &str,
    extra: &[(&str, &str)],
    scopes: &[&str],
) -> (Value, crate::support::rp::Pending) {
    let pending = rp.authorize(scopes, extra);
    let query = server.browse_authorize(&pending.url).await;
    (server.start_session(&query, Some(sso), None).await, pending)
}

#[tokio::test]
async fn a_second_authorization_skips_login_and_remembered_consent() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let sso = first_login(&server, &rp).await;

    let (prompt, pending) = again(&server, &rp, &sso, &[], &["email"]).await;
    assert_eq!(prompt["type"], "response", "no auth, no consent: {prompt}");
    assert!(prompt.get("sso").is_none(), "the same subject session, so no new credential: {prompt}");
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    let public_sid = login.id_claims["sid"].as_str().expect("sid claim");
    assert_eq!(sso.split_once('.').unwrap().0, public_sid, "the credential resumed the session the token names");

    // Something new to consent to: the consent prompt shows what is new and what is not.
    let (prompt, _) = again(&server, &rp, &sso, &[], &["email", "profile"]).await;
    assert_eq!(prompt["type"], "consent", "{prompt}");
    assert_eq!(prompt["scope"]["new"], json!(["profile"]));
    assert_eq!(prompt["scope"]["consented"], json!(["openid", "email"]));
    assert!(prompt["claims"]["new"].as_array().unwrap().contains(&json!("name")));
    assert_eq!(prompt["subject"]["sub"], "alice");

    // prompt=consent asks even when nothing is new.
    let (prompt, _) = again(&server, &rp, &sso, &[("prompt", "consent")], &["email"]).await;
    assert_eq!(prompt["type"], "consent");
}

#[tokio::test]
async fn prompt_login_forces_authentication() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let sso = first_login(&server, &rp).await;
    let (prompt, _) = again(&server, &rp, &sso, &[("prompt", "login")], &["email"]).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");
    assert_eq!(prompt["auth_request"]["prompt"], json!(["login"]));
}

#[tokio::test]
async fn prompt_none_without_a_session_returns_login_required_to_the_rp() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["email"], &[("prompt", "none")]);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, None, None).await;
    assert_eq!(prompt["type"], "response", "{prompt}");
    let params = redirect_params(prompt["uri"].as_str().unwrap());
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], *pending.state.secret());
    assert_eq!(params["iss"], server.base);

    // An unknown or expired cookie is the same as none.
    let prompt = server.start_session(&query, Some("no-such-session"), None).await;
    assert_eq!(redirect_params(prompt["uri"].as_str().unwrap())["error"], "login_required");
}

#[tokio::test]
async fn prompt_none_with_a_session_answers_silently_or_consent_required() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let sso = first_login(&server, &rp).await;
    let (prompt, pending) = again(&server, &rp, &sso, &[("prompt", "none")], &["email"]).await;
    assert_eq!(prompt["type"], "response");
    rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;

    let (prompt, _) = again(&server, &rp, &sso, &[("prompt", "none")], &["email", "phone"]).await;
    assert_eq!(redirect_params(prompt["uri"].as_str().unwrap())["error"], "consent_required");
}

#[tokio::test]
async fn max_age_and_session_expiry_require_a_fresh_login() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let sso = first_login(&server, &rp).await;
    server.clock.advance(120);
    let (prompt, _) = again(&server, &rp, &sso, &[("max_age", "60")], &["email"]).await;
    assert_eq!(prompt["type"], "auth", "the login is older than max_age: {prompt}");
    let (prompt, _) = again(&server, &rp, &sso, &[("max_age", "3600")], &["email"]).await;
    assert_eq!(prompt["type"], "response", "within max_age");
    server.clock.advance(13 * 3600);
    let (prompt, _) = again(&server, &rp, &sso, &[], &["email"]).await;
    assert_eq!(prompt["type"], "auth", "the subject session expired");
}

#[tokio::test]
async fn id_token_hint_must_match_the_session() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let sso = first_login(&server, &rp).await;
    let (prompt, pending) = again(&server, &rp, &sso, &[], &["email"]).await;
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    let hint = openidconnect::TokenResponse::id_token(&login.tokens).unwrap().to_string();
    let (prompt, _) = again(&server, &rp, &sso, &[("id_token_hint", &hint)], &["email"]).await;
    assert_eq!(prompt["type"], "response", "the hint names the session's subject");

    // Bob's session does not answer a request hinted for Alice.
    let (_, sid) = open_session(&server, &rp, &["email"], &[]).await;
    let prompt = server.submit_subject(&sid, json!({"sub": "bob"})).await;
    let bob_sso = prompt["sso"]["token"].as_str().unwrap().to_owned();
    let (prompt, _) = again(&server, &rp, &bob_sso, &[("id_token_hint", &hint), ("prompt", "none")], &["email"]).await;
    assert_eq!(redirect_params(prompt["uri"].as_str().unwrap())["error"], "login_required");
}

/// The `sid` claim is public: any relying party, resource server or log sees it. Presented as
/// the front-end's SSO cookie it must not log anyone in (on the old code it did).
#[tokio::test]
async fn the_sid_in_a_token_is_not_an_sso_credential() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let sso = first_login(&server, &rp).await;
    let (prompt, pending) = again(&server, &rp, &sso, &[], &["email"]).await;
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    let sid = login.id_claims["sid"].as_str().unwrap().to_owned();
    let at = crate::code_flow::verify_independently(
        &server,
        openidconnect::OAuth2TokenResponse::access_token(&login.tokens).secret(),
        &server.base,
    )
    .await;
    assert_eq!(at["sid"], sid, "the access token names the same subject session");
    assert!(!login.raw_tokens().contains(&sso), "the credential is in no token");

    for forged in [sid.clone(), format!("{sid}."), format!("{sid}.{}", "A".repeat(43)), format!("{sso}x")] {
        let (prompt, _) = again(&server, &rp, &forged, &[("prompt", "none")], &["email"]).await;
        assert_eq!(
            redirect_params(prompt["uri"].as_str().unwrap())["error"],
            "login_required",
            "{forged:?} is not a credential: {prompt}"
        );
    }
    // The store holds only the credential's hash.
    let db = std::fs::read(server.data_dir.join("gatehouse.db")).unwrap();
    let wal = std::fs::read(server.data_dir.join("gatehouse.db-wal")).unwrap_or_default();
    let secret = sso.split_once('.').unwrap().1.as_bytes();
    for file in [&db, &wal] {
        assert!(!file.windows(secret.len()).any(|w| w == secret), "the credential is not stored");
    }
}

/// Issue 11: a consent that is not long-lived lasts for the subject session, so `prompt=none`
/// in the same single sign-on session succeeds; a new login (a new subject session) asks again,
/// and nothing is remembered for the subject beyond its session.
#[tokio::test]
async fn consent_that_is_not_long_lived_lasts_for_the_subject_session() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["email"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let sso = server.submit_subject(&sid, alice()).await["sso"]["token"].as_str().unwrap().to_owned();
    let prompt = server.submit_consent(&sid, json!({"scope": "*"})).await;
    let first = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;

    let (prompt, pending) = again(&server, &rp, &sso, &[("prompt", "none")], &["email"]).await;
    assert_eq!(prompt["type"], "response", "the session's consent answers prompt=none: {prompt}");
    let silent = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    assert_eq!(silent.id_claims["sid"], first.id_claims["sid"]);
    assert_eq!(silent.id_claims["email"], first.id_claims["email"], "the same claims as consented");

    // More than the session's consent covers still needs the user.
    let (prompt, _) = again(&server, &rp, &sso, &[("prompt", "none")], &["email", "phone"]).await;
    assert_eq!(redirect_params(prompt["uri"].as_str().unwrap())["error"], "consent_required");

    // Another subject session (a new login) does not inherit it.
    let pending = rp.authorize(&["email"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let prompt = server.submit_subject(&sid, alice()).await;
    assert_eq!(prompt["type"], "consent", "a new subject session asks again: {prompt}");
    let other_sso = prompt["sso"]["token"].as_str().unwrap().to_owned();
    let (prompt, _) = again(&server, &rp, &other_sso, &[("prompt", "none")], &["email"]).await;
    assert_eq!(redirect_params(prompt["uri"].as_str().unwrap())["error"], "consent_required");

    // The silent answer above did not turn the session's consent into a long-lived one.
    let (prompt, _) = again(&server, &rp, &sso, &[("prompt", "none")], &["email"]).await;
    assert_eq!(prompt["type"], "response", "{prompt}");
}
