//! Logout: RP-initiated logout through the logout-request API (OpenID Connect RP-Initiated
//! Logout 1.0), back-channel logout tokens received and verified by https receivers
//! (Back-Channel Logout 1.0), front-channel logout URIs (Front-Channel Logout 1.0), and a
//! subject session ended through the admin API.

use std::time::Duration;

use axum::http::StatusCode;
use gatehouse_protocol::world::Clock;
use jsonwebtoken::{DecodingKey, Validation};
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::backchannel::Receiver;
use crate::support::rp::{Rp, login};
use crate::support::tls::TestCa;
use crate::support::{LOGOUT_URL, TestServer, alice, redirect_params};

const POST_LOGOUT: &str = "https://app.example.com/logged-out";

/// A server whose outbound client trusts `ca` (the receivers), retrying quickly.
async fn server(ca: &TestCa) -> TestServer {
    TestServer::start_with(&format!(
        "[outbound]\nallow_private_addresses = true\nca_file = \"{}\"\n[logout]\nbackchannel_retry_delays = [\"50ms\", \"50ms\"]\n",
        ca.file.display()
    ))
    .await
}

/// A login of Alice at the client; the ID token and the SSO credential.
async fn logged_in(server: &TestServer, info: &Value, sso: Option<&str>) -> (String, String) {
    let rp = Rp::new(server, info).await;
    match sso {
        None => {
            let (consent, done) = login(server, &rp, &["openid"], alice(), json!({"scope": "*"})).await;
            let id_token = done.tokens.extra_fields().id_token().unwrap().to_string();
            (id_token, consent["sso"]["token"].as_str().unwrap().to_owned())
        }
        Some(sso) => {
            let pending = rp.authorize(&["openid"], &[]);
            let query = server.browse_authorize(&pending.url).await;
            let prompt = server.start_session(&query, Some(sso), None).await;
            let prompt = match prompt["type"].as_str() {
                Some("consent") => server.submit_consent(prompt["sid"].as_str().unwrap(), json!({"scope": "*"})).await,
                _ => prompt,
            };
            assert_eq!(prompt["type"], "response", "single sign-on: {prompt}");
            let done = rp.finish(server, pending, prompt["uri"].as_str().unwrap()).await;
            (done.tokens.extra_fields().id_token().unwrap().to_string(), sso.to_owned())
        }
    }
}

/// `GET /logout?…`: the id of the logout request the browser is sent to confirm, or the
/// refusal page's status and text.
async fn end_session(server: &TestServer, params: &[(&str, &str)]) -> Result<String, (u16, String)> {
    let mut url = url::Url::parse(&server.url("/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    let resp = server.http.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    if status == 303 {
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let (page, query) = location.split_once('?').unwrap();
        assert_eq!(page, LOGOUT_URL);
        return Ok(redirect_params(&format!("x:?{query}"))["logout_request"].clone());
    }
    assert!(resp.headers().get("location").is_none(), "a refused logout is never redirected");
    Err((status, resp.text().await.unwrap()))
}

async fn confirm(server: &TestServer, id: &str, sso: Option<&str>) -> Value {
    let (status, body) =
        server.api(Method::POST, &format!("/logout-requests/v1/{id}/confirm"), Some(json!({ "sso_token": sso }))).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Whether the SSO credential still logs the user in silently.
async fn still_logged_in(server: &TestServer, info: &Value, sso: &str) -> bool {
    let rp = Rp::new(server, info).await;
    let pending = rp.authorize(&["openid"], &[("prompt", "none")]);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, Some(sso), None).await;
    let params = redirect_params(prompt["uri"].as_str().unwrap());
    params.get("error").is_none_or(|e| e != "login_required")
}

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_session_and_returns_with_state() {
    let server = TestServer::start().await;
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["end_session_endpoint"], server.url("/logout"));
    for member in
        ["frontchannel_logout_supported", "backchannel_logout_supported", "backchannel_logout_session_supported"]
    {
        assert_eq!(discovery[member], true, "{member}");
    }
    let info = server.web_client(json!({ "post_logout_redirect_uris": [POST_LOGOUT], "client_name": "Shop" })).await;
    let (id_token, sso) = logged_in(&server, &info, None).await;
    assert!(still_logged_in(&server, &info, &sso).await);

    let id = end_session(
        &server,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "s t"),
            ("ui_locales", "de en"),
        ],
    )
    .await
    .unwrap();
    let (status, prompt) = server.api(Method::GET, &format!("/logout-requests/v1/{id}"), None).await;
    assert_eq!(status, 200, "{prompt}");
    assert_eq!(prompt["client"]["client_name"], "Shop");
    assert_eq!(prompt["redirects"], true);
    assert_eq!(prompt["ui_locales"], json!(["de", "en"]));

    let done = confirm(&server, &id, Some(&sso)).await;
    assert_eq!(done["ended"], true);
    assert_eq!(done["redirect"], format!("{POST_LOGOUT}?state=s+t"));
    assert!(!still_logged_in(&server, &info, &sso).await, "the SSO credential no longer logs in");
    // A logout request is answered once.
    let (status, body) = server.api(Method::POST, &format!("/logout-requests/v1/{id}/confirm"), Some(json!({}))).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn a_logout_without_a_redirect_or_a_browser_session_still_answers() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({ "post_logout_redirect_uris": [POST_LOGOUT] })).await;
    let (id_token, sso) = logged_in(&server, &info, None).await;
    // An expired hint is still a hint (§2: it names a past session).
    server.clock.advance(7200);
    let id = end_session(&server, &[("id_token_hint", &id_token)]).await.unwrap();
    let done = confirm(&server, &id, None).await;
    assert_eq!(done, json!({ "ended": false, "frontchannel_logout_uris": [] }), "no browser session, no redirect");
    // Declined: nothing ends.
    let id = end_session(&server, &[("client_id", info["client_id"].as_str().unwrap())]).await.unwrap();
    let (status, done) = server.api(Method::DELETE, &format!("/logout-requests/v1/{id}"), None).await;
    assert_eq!((status, done["ended"].clone()), (200, json!(false)));
    server.clock.advance(-7200);
    assert!(still_logged_in(&server, &info, &sso).await);
}

#[tokio::test]
async fn refused_logout_requests_are_shown_and_never_redirected() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({ "post_logout_redirect_uris": [POST_LOGOUT] })).await;
    let other = server.web_client(json!({ "post_logout_redirect_uris": ["https://other.example.com/bye"] })).await;
    let client_id = info["client_id"].as_str().unwrap();
    let (id_token, _) = logged_in(&server, &info, None).await;
    let mut forged = id_token.clone();
    forged.pop();
    forged.push(if id_token.ends_with('A') { 'B' } else { 'A' });
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("post_logout_redirect_uri", POST_LOGOUT)], "needs client_id or id_token_hint"),
        (vec![("client_id", client_id), ("post_logout_redirect_uri", "https://evil.example/")], "not one of"),
        (
            vec![("id_token_hint", &id_token), ("post_logout_redirect_uri", "https://other.example.com/bye")],
            "not one of",
        ),
        (vec![("id_token_hint", &id_token), ("client_id", other["client_id"].as_str().unwrap())], "not the client"),
        (vec![("id_token_hint", &forged)], "not a valid ID token"),
        (vec![("id_token_hint", "not.a.jwt")], "not a valid ID token"),
        (vec![("client_id", "nobody")], "names no client"),
        (vec![("state", "a"), ("state", "b")], "state is repeated"),
    ];
    for (params, reason) in cases {
        let (status, page) = end_session(&server, &params).await.expect_err(reason);
        assert_eq!(status, 400, "{params:?}");
        assert!(page.contains("invalid_request") && page.contains(reason), "{params:?}: {page}");
    }
    let huge = "x".repeat(10_000);
    let (status, _) = end_session(&server, &[("logout_hint", &huge)]).await.unwrap_err();
    assert_eq!(status, 400);
}

/// Back-Channel Logout §2.6: what a receiver checks of a logout token.
async fn verify_logout_token(server: &TestServer, token: &str, client_id: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let set: jsonwebtoken::jwk::JwkSet =
        server.http.get(server.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("a published key");
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&server.issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
    let claims = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("the logout token verifies")
        .claims;
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(), "{claims}");
    assert!(claims["jti"].is_string() && claims.get("nonce").is_none(), "{claims}");
    let now = server.clock.now().0;
    assert!(claims["exp"].as_i64().unwrap() <= now + 120, "short-lived: {claims}");
    claims
}

#[tokio::test]
async fn every_client_of_the_session_gets_a_verified_logout_token_and_its_frontchannel_uri() {
    let ca = TestCa::new();
    let server = server(&ca).await;
    let (first_rx, first_uri) = Receiver::start(&ca, StatusCode::OK).await;
    let (second_rx, second_uri) = Receiver::start(&ca, StatusCode::NO_CONTENT).await;
    let first = server
        .web_client(json!({
            "backchannel_logout_uri": first_uri,
            "backchannel_logout_session_required": true,
            "frontchannel_logout_uri": "https://app.example.com/frontchannel?x=1",
            "frontchannel_logout_session_required": true,
        }))
        .await;
    let second = server.web_client(json!({ "backchannel_logout_uri": second_uri, "subject_type": "pairwise" })).await;
    let bystander = server.web_client(json!({})).await;
    let (first_id_token, sso) = logged_in(&server, &first, None).await;
    let (second_id_token, _) = logged_in(&server, &second, Some(&sso)).await;
    let sid = claims(&first_id_token)["sid"].as_str().unwrap().to_owned();
    assert_eq!(claims(&second_id_token)["sid"], sid, "one subject session");

    let id = end_session(&server, &[("client_id", bystander["client_id"].as_str().unwrap())]).await.unwrap();
    let done = confirm(&server, &id, Some(&sso)).await;
    let iss = url::form_urlencoded::byte_serialize(server.issuer.as_bytes()).collect::<String>();
    assert_eq!(
        done["frontchannel_logout_uris"],
        json!([format!("https://app.example.com/frontchannel?x=1&iss={iss}&sid={sid}")])
    );

    let token = &first_rx.wait_for(1).await[0];
    let c = verify_logout_token(&server, token, first["client_id"].as_str().unwrap()).await;
    assert_eq!((c["sub"].as_str(), c["sid"].as_str()), (Some("alice"), Some(sid.as_str())));
    let token = &second_rx.wait_for(1).await[0];
    let c = verify_logout_token(&server, token, second["client_id"].as_str().unwrap()).await;
    assert_eq!(c["sub"], claims(&second_id_token)["sub"], "the pairwise subject the client knows");
    assert_ne!(c["sub"], "alice");
    assert_eq!(counter_reaches(&server, "logout.backchannel.delivered", 2).await, 2);
}

/// The counter `name` in the metrics once it reaches `expected` (deliveries finish after the
/// receiver has the token), or its last value.
async fn counter_reaches(server: &TestServer, name: &str, expected: u64) -> u64 {
    let mut value = 0;
    for _ in 0..100 {
        let (_, metrics) = server.admin(Method::GET, "/monitor/v1/metrics", None).await;
        value = metrics["counters"][name]["count"].as_u64().unwrap_or_else(|| panic!("{name}: {metrics}"));
        if value == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    value
}

#[tokio::test]
async fn a_receiver_that_is_down_is_retried_then_counted_as_failed_and_the_admin_api_ends_sessions() {
    let ca = TestCa::new();
    let server = server(&ca).await;
    let (refusing, refusing_uri) = Receiver::start(&ca, StatusCode::SERVICE_UNAVAILABLE).await;
    let client = server.web_client(json!({ "backchannel_logout_uri": refusing_uri })).await;
    let (id_token, sso) = logged_in(&server, &client, None).await;
    let sid = claims(&id_token)["sid"].as_str().unwrap().to_owned();

    let (status, _) = server.admin(Method::DELETE, &format!("/admin/v1/subject-sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    assert!(!still_logged_in(&server, &client, &sso).await);
    // Three tries: the first and one after each of the two delays.
    assert_eq!(refusing.wait_for(3).await.len(), 3);
    assert_eq!(counter_reaches(&server, "logout.backchannel.failed", 1).await, 1);
    assert_eq!(counter_reaches(&server, "logout.backchannel.retried", 2).await, 2);
    let (status, body) = server.admin(Method::DELETE, &format!("/admin/v1/subject-sessions/{sid}"), None).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn an_expired_subject_session_is_logged_out_on_the_back_channel() {
    let ca = TestCa::new();
    let server = TestServer::start_with(&format!(
        "[outbound]\nallow_private_addresses = true\nca_file = \"{}\"\n[storage]\npurge_interval = \"100ms\"\n",
        ca.file.display()
    ))
    .await;
    let (receiver, uri) = Receiver::start(&ca, StatusCode::OK).await;
    let client = server.web_client(json!({ "backchannel_logout_uri": uri })).await;
    let (id_token, sso) = logged_in(&server, &client, None).await;
    let sid = claims(&id_token)["sid"].as_str().unwrap().to_owned();
    // Purges run meanwhile: a live session is left alone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.tokens().is_empty(), "no logout while the session lives");
    assert!(still_logged_in(&server, &client, &sso).await);

    // `lifetimes.subject_session` (12 hours) passes: the next purge logs the session out.
    server.clock.advance(12 * 3600 + 1);
    let tokens = receiver.wait_for(1).await;
    let c = verify_logout_token(&server, &tokens[0], client["client_id"].as_str().unwrap()).await;
    assert_eq!((c["sub"].as_str(), c["sid"].as_str()), (Some("alice"), Some(sid.as_str())));
    assert_eq!(counter_reaches(&server, "logout.backchannel.delivered", 1).await, 1);
    // Once only: later purges find nothing more to tell.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.tokens().len(), 1);
    let (status, _) = server.admin(Method::DELETE, &format!("/admin/v1/subject-sessions/{sid}"), None).await;
    assert_eq!(status, 404, "the session is gone");
}

#[tokio::test]
async fn concurrent_single_sign_ons_at_many_clients_are_all_told_of_the_logout() {
    let ca = TestCa::new();
    let server = server(&ca).await;
    let (receiver, uri) = Receiver::start(&ca, StatusCode::OK).await;
    let first = server.web_client(json!({ "backchannel_logout_uri": uri })).await;
    let (id_token, sso) = logged_in(&server, &first, None).await;
    let sid = claims(&id_token)["sid"].as_str().unwrap().to_owned();
    let mut others = Vec::new();
    for _ in 0..6 {
        others.push(server.web_client(json!({ "backchannel_logout_uri": uri })).await);
    }
    // Six logins by SSO at once, each adding its client to the one subject session.
    let at = |i: usize| logged_in(&server, &others[i], Some(&sso));
    let logins = tokio::join!(at(0), at(1), at(2), at(3), at(4), at(5));
    for (token, _) in [logins.0, logins.1, logins.2, logins.3, logins.4, logins.5] {
        assert_eq!(claims(&token)["sid"], sid);
    }
    let (status, _) = server.admin(Method::DELETE, &format!("/admin/v1/subject-sessions/{sid}"), None).await;
    assert_eq!(status, 204);
    let tokens = receiver.wait_for(7).await;
    let mut audiences: Vec<String> = tokens.iter().map(|t| claims(t)["aud"].as_str().unwrap().to_owned()).collect();
    audiences.sort();
    let mut expected: Vec<String> =
        std::iter::once(&first).chain(&others).map(|c| c["client_id"].as_str().unwrap().to_owned()).collect();
    expected.sort();
    assert_eq!(audiences, expected, "no client lost to a concurrent write");
}

#[tokio::test]
async fn logout_uris_are_checked_at_registration() {
    let server = TestServer::start().await;
    for (metadata, member) in [
        (json!({ "backchannel_logout_uri": "http://app.example.com/bc" }), "backchannel_logout_uri"),
        (json!({ "backchannel_logout_uri": "https://app.example.com/bc#f" }), "backchannel_logout_uri"),
        (json!({ "frontchannel_logout_uri": "https://elsewhere.example.com/fc" }), "frontchannel_logout_uri"),
    ] {
        let mut body = json!({ "redirect_uris": ["https://app.example.com/cb"] });
        crate::support::merge(&mut body, metadata);
        let (status, answer) = server.admin(Method::POST, "/clients/v1", Some(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"], "invalid_client_metadata");
        assert!(answer["error_description"].as_str().unwrap().contains(member), "{answer}");
    }
}
