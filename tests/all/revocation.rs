//! Token revocation (RFC 7009) over real HTTP: a refresh token revokes its grant, an access
//! token goes on the deny-list that UserInfo and introspection read on every host sharing the
//! database, and nothing is said about tokens that are unknown or another client's.

use openidconnect::OAuth2TokenResponse;
use serde_json::{Value, json};

use crate::introspection::{creds, introspect, post_form};
use crate::shared_database::shared_config;
use crate::support::rp::{Rp, login};
use crate::support::{TestServer, alice};

/// Revokes `token` as `caller`; the status and body.
async fn revoke(server: &TestServer, caller: &Value, token: &str, hint: Option<&str>) -> (u16, String) {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let (status, _, body) = post_form(server, "/revoke", Some(creds(caller)), &[], &form).await;
    (status, body)
}

/// The status and challenge of a UserInfo request with `token`.
async fn userinfo(server: &TestServer, token: &str) -> (u16, String) {
    let resp = server.http.get(server.url("/userinfo")).bearer_auth(token).send().await.unwrap();
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (resp.status().as_u16(), challenge)
}

async fn login_with_refresh(server: &TestServer, info: &Value) -> (Rp, String, String) {
    let rp = Rp::new(server, info).await;
    let consent = json!({"scope": "*", "refresh_token": {"issue": true}});
    let (_, login) = login(server, &rp, &["email", "offline_access"], alice(), consent).await;
    let access = login.tokens.access_token().secret().clone();
    let refresh = login.tokens.refresh_token().unwrap().secret().clone();
    (rp, access, refresh)
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_grant() {
    let server = TestServer::start().await;
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["revocation_endpoint"], server.url("/revoke"));
    let info = server.web_client(json!({})).await;
    let other = server.web_client(json!({})).await;
    let (rp, access, refresh) = login_with_refresh(&server, &info).await;

    // Another client's token: 200, and nothing revoked (RFC 7009 §2.1).
    assert_eq!(revoke(&server, &other, &refresh, None).await.0, 200);
    assert_eq!(introspect(&server, &info, &refresh, None).await["active"], true);
    // The hint is a hint: the wrong one still finds the refresh token.
    assert_eq!(revoke(&server, &info, &refresh, Some("access_token")).await.0, 200);
    let token = openidconnect::RefreshToken::new(refresh.clone());
    let refused = rp.client.exchange_refresh_token(&token).unwrap().request_async(&rp.http).await;
    assert!(format!("{refused:?}").contains("invalid_grant"), "the refresh token is gone: {refused:?}");
    assert_eq!(introspect(&server, &info, &refresh, None).await, json!({"active": false}));
    let (status, challenge) = userinfo(&server, &access).await;
    assert_eq!(status, 401, "the grant's access tokens go with it");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    // Revoking again, or an unknown token: still 200.
    assert_eq!(revoke(&server, &info, &refresh, None).await.0, 200);
    assert_eq!(revoke(&server, &info, "never-issued", Some("refresh_token")).await.0, 200);
}

#[tokio::test]
async fn revocation_refuses_bad_requests_and_id_tokens() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let (_, login) = login(&server, &rp, &["email"], alice(), json!({"scope": "*"})).await;
    let (status, body) = revoke(&server, &info, "", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_request"));
    let (status, _, body) = post_form(&server, "/revoke", None, &[], &[("token", "x")]).await;
    assert_eq!(status, 401, "{body}");
    let id_token = openidconnect::TokenResponse::id_token(&login.tokens).unwrap().to_string();
    let (status, body) = revoke(&server, &info, &id_token, None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unsupported_token_type"), "{body}");
    // A public client may revoke its own tokens (RFC 7009 §5).
    let public = server.web_client(json!({"token_endpoint_auth_method": "none"})).await;
    let id = public["client_id"].as_str().unwrap();
    let (status, _, body) = post_form(&server, "/revoke", None, &[], &[("client_id", id), ("token", "x")]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_revoked_access_token_is_refused_by_every_host_sharing_the_database() {
    let (extra, _keys) = shared_config("gatehouse_e2e_revocation").await;
    let a = TestServer::start_with(&extra).await;
    let b = TestServer::start_beside(&a, &extra).await;
    let info = a.web_client(json!({})).await;
    let other = a.web_client(json!({})).await;
    let (rp, access, refresh) = login_with_refresh(&a, &info).await;
    assert_eq!(userinfo(&b, &access).await.0, 200);

    // Another client cannot revoke it.
    assert_eq!(revoke(&a, &other, &access, Some("access_token")).await.0, 200);
    assert_eq!(userinfo(&b, &access).await.0, 200, "another client's revocation revokes nothing");

    assert_eq!(revoke(&a, &info, &access, Some("refresh_token")).await.0, 200);
    for host in [&a, &b] {
        let (status, challenge) = userinfo(host, &access).await;
        assert_eq!(status, 401, "{}", host.base);
        assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
        assert_eq!(introspect(host, &info, &access, None).await, json!({"active": false}));
    }
    // Only that token: the grant lives, and a refreshed access token works on both hosts.
    let token = openidconnect::RefreshToken::new(refresh);
    let refreshed = rp.client.exchange_refresh_token(&token).unwrap().request_async(&rp.http).await.expect("refresh");
    for host in [&a, &b] {
        assert_eq!(userinfo(host, refreshed.access_token().secret()).await.0, 200);
    }
    // Past its expiry the token stays refused (the deny-list entry expired with it).
    a.clock.advance(3601);
    b.clock.advance(3601);
    assert_eq!(userinfo(&b, &access).await.0, 401, "expired now");
}
