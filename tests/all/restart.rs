//! What survives a restart: clients, long-lived consents, subject sessions and signing keys.

use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::rp::Rp;
use crate::support::{TestServer, alice};

#[tokio::test]
async fn clients_consents_sessions_and_keys_survive_a_restart() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["email"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let prompt = server.submit_subject(&sid, alice()).await;
    let sso = prompt["sso"]["token"].as_str().unwrap().to_owned();
    let prompt = server.submit_consent(&sid, json!({"scope": "*", "long_lived": true})).await;
    let before = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    let jwks_before: Value = server.http.get(server.url("/jwks.json")).send().await.unwrap().json().await.unwrap();

    let server = server.restart().await;

    let jwks_after: Value = server.http.get(server.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks_before, jwks_after, "the same signing keys");
    let uses: Vec<&str> = jwks_after["keys"].as_array().unwrap().iter().map(|k| k["use"].as_str().unwrap()).collect();
    assert_eq!(uses.iter().filter(|u| **u == "sig").count(), 3, "{jwks_after}");
    assert_eq!(uses.iter().filter(|u| **u == "enc").count(), 2, "and the encryption keys: {jwks_after}");
    let (status, _) =
        server.admin(Method::GET, &format!("/clients/v1/{}", info["client_id"].as_str().unwrap()), None).await;
    assert_eq!(status, 200, "the client is still registered");
    rp.userinfo(openidconnect::OAuth2TokenResponse::access_token(&before.tokens).secret())
        .await
        .expect("tokens issued before the restart still verify");

    // The SSO session and the long-lived consent answer a new request without any prompt,
    // and the client authenticates with the secret it got before the restart.
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["email"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, Some(&sso), None).await;
    assert_eq!(prompt["type"], "response", "remembered session and consent: {prompt}");
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    assert_eq!(login.id_claims["sub"], "alice");
}
