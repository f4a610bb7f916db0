//! The authorization code flow with PKCE, driven by the `openidconnect` crate, for every
//! signing algorithm; refresh-token rotation; client credentials.

use gatehouse_protocol::jose::half_hash;
use openidconnect::OAuth2TokenResponse;
use openidconnect::core::CoreTokenType;
use serde_json::{Value, json};

use crate::support::rp::{Rp, login};
use crate::support::{TestServer, alice};

/// Decodes a JWT's header and payload without verifying (for asserting their contents).
fn parts(jwt: &str) -> (Value, Value) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut it = jwt.split('.');
    let header = serde_json::from_slice(&b64.decode(it.next().unwrap()).unwrap()).unwrap();
    let payload = serde_json::from_slice(&b64.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, payload)
}

/// Verifies a JWT with the `jsonwebtoken` crate (RustCrypto) against the published JWK set.
pub async fn verify_independently(server: &TestServer, jwt: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet =
        server.http.get(server.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(jwt).expect("JWS header");
    let kid = header.kid.clone().expect("kid");
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[&server.base]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("the JWT verifies independently").claims
}

#[tokio::test]
async fn code_flow_with_pkce_issues_verified_tokens_and_userinfo() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let (prompt, login) = login(&server, &rp, &["profile", "email"], alice(), json!({"scope": "*"})).await;

    assert_eq!(login.tokens.token_type(), &CoreTokenType::Bearer);
    let id = &login.id_claims;
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["iss"], server.base);
    assert!(id["aud"] == info["client_id"] || id["aud"] == json!([info["client_id"]]), "aud: {}", id["aud"]);
    assert_eq!(id["acr"], "urn:gatehouse:pwd");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert!(id["auth_time"].as_i64().unwrap() > 0);
    assert_eq!(id["sid"], prompt["subject"]["sid"], "sid names the subject session");
    let sso = prompt["sso"]["token"].as_str().expect("the login's consent prompt carries the SSO credential");
    assert!(!login.raw_tokens().contains(sso), "the SSO credential is in no token");

    let userinfo = login.userinfo.clone();
    assert_eq!(userinfo["sub"], "alice");
    assert_eq!(userinfo["name"], "Alice Liddell");
    assert_eq!(userinfo["email"], "alice@example.com");
    assert_eq!(userinfo["email_verified"], true);

    // The access token is an RFC 9068 JWT, ES256 by default, verifiable by anyone with the JWK set.
    let at = login.tokens.access_token().secret();
    let (header, _) = parts(at);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let claims = verify_independently(&server, at, &server.base).await;
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], info["client_id"]);
    assert_eq!(claims["scope"], "openid profile email");
    assert!(claims["jti"].is_string());
    let id_token = login.tokens.extra_fields().id_token().unwrap().to_string();
    let (id_header, id_payload) = parts(&id_token);
    assert_eq!(id_header["alg"], "ES256", "ES256 is the default ID token algorithm");
    assert_eq!(id_payload["at_hash"], half_hash(gatehouse_protocol::signer::Alg::ES256, at));
}

#[tokio::test]
async fn id_tokens_are_signed_with_the_clients_registered_algorithm() {
    let server = TestServer::start().await;
    for alg in ["RS256", "PS256", "ES384", "ES256"] {
        let info = server.web_client(json!({ "id_token_signed_response_alg": alg })).await;
        let rp = Rp::new(&server, &info).await;
        let (_, login) = login(&server, &rp, &["email"], alice(), json!({"scope": "*"})).await;
        let id_token = login.tokens.extra_fields().id_token().unwrap().to_string();
        let (header, _) = parts(&id_token);
        assert_eq!(header["alg"], alg, "the RP verified an {alg} ID token");
        let claims = verify_independently(&server, &id_token, info["client_id"].as_str().unwrap()).await;
        assert_eq!(claims["sub"], "alice");
    }
    let (status, body) = server
        .admin(
            openidconnect::reqwest::Method::POST,
            "/clients/v1",
            Some(json!({"redirect_uris": ["https://x.example/cb"], "id_token_signed_response_alg": "HS256"})),
        )
        .await;
    assert_eq!(status, 400, "an algorithm the provider cannot sign with is refused: {body}");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let consent = json!({"scope": "*", "refresh_token": {"issue": true}});
    let (_, login) = login(&server, &rp, &["email", "offline_access"], alice(), consent).await;
    let first = login.tokens.refresh_token().expect("a refresh token").clone();

    let refreshed = rp.client.exchange_refresh_token(&first).unwrap().request_async(&rp.http).await.expect("refresh");
    let second = refreshed.refresh_token().expect("a rotated refresh token").clone();
    assert_ne!(first.secret(), second.secret(), "refresh tokens rotate");
    rp.userinfo(refreshed.access_token().secret()).await.expect("the refreshed access token works");

    let reuse = rp.client.exchange_refresh_token(&first).unwrap().request_async(&rp.http).await;
    assert!(format!("{reuse:?}").contains("invalid_grant"), "{reuse:?}");
    let after = rp.client.exchange_refresh_token(&second).unwrap().request_async(&rp.http).await;
    assert!(format!("{after:?}").contains("invalid_grant"), "the whole grant is revoked: {after:?}");
    let denied = rp.userinfo(refreshed.access_token().secret()).await;
    assert!(denied.is_err(), "access tokens of the revoked grant stop working");
}

#[tokio::test]
async fn client_credentials_issue_jwt_access_tokens_for_registered_scopes() {
    let server = TestServer::start().await;
    let info = server
        .register(json!({"grant_types": ["client_credentials"], "response_types": [], "scope": "api:read api:write"}))
        .await;
    let id = info["client_id"].as_str().unwrap();
    let secret = info["client_secret"].as_str().unwrap();
    let token = |form: &'static str| {
        server
            .http
            .post(server.url("/token"))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };

    let resp = token("grant_type=client_credentials&scope=api%3Aread").await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api:read");
    let claims = verify_independently(&server, body["access_token"].as_str().unwrap(), &server.base).await;
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);

    let all: Value = token("grant_type=client_credentials").await.unwrap().json().await.unwrap();
    assert_eq!(all["scope"], "api:read api:write", "no scope parameter: every registered scope");

    let resp = token("grant_type=client_credentials&scope=admin").await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");

    let resp = server
        .http
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "client_secret_post from a client_secret_basic client");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let resp = server
        .http
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&client_secret={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "two authentication methods in one request");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].as_str().unwrap().contains("more than one"));
}

#[tokio::test]
async fn client_secret_post_clients_authenticate_in_the_body() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({"token_endpoint_auth_method": "client_secret_post"})).await;
    let rp = Rp::new(&server, &info).await;
    let (_, login) = login(&server, &rp, &["email"], alice(), json!({"scope": "*"})).await;
    assert_eq!(login.userinfo.clone()["email"], "alice@example.com");
}

#[tokio::test]
async fn public_clients_use_pkce_without_a_secret() {
    let server = TestServer::start().await;
    let info = server
        .register(json!({
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        }))
        .await;
    assert!(info.get("client_secret").is_none(), "public clients get no secret");
    let rp = Rp::new(&server, &info).await;
    let (_, login) = login(&server, &rp, &["profile"], alice(), json!({"scope": "*"})).await;
    assert_eq!(login.userinfo.clone()["name"], "Alice Liddell");
}

#[tokio::test]
async fn consent_limits_the_released_claims_and_preset_claims_are_added() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let consent = json!({
        "scope": ["openid", "email"],
        "preset_claims": {"id_token": {"tenant": "wonderland"}, "userinfo": {"department": "rabbit holes"}},
    });
    let (_, login) = login(&server, &rp, &["profile", "email"], alice(), consent).await;
    let userinfo = login.userinfo.clone();
    assert_eq!(userinfo["email"], "alice@example.com");
    assert!(userinfo.get("name").is_none(), "profile was not consented: {userinfo}");
    assert_eq!(userinfo["department"], "rabbit holes");
    assert_eq!(login.id_claims["tenant"], "wonderland");
    let at_claims = parts(login.tokens.access_token().secret()).1;
    assert_eq!(at_claims["scope"], "openid email", "the access token carries the consented scope");
}

/// `default_acr_values` (Dynamic Registration §2) reach the front-end when the request names
/// no `acr_values`, and the ID token reports the acr the login reached; a request's own
/// `acr_values` take their place.
#[tokio::test]
async fn default_acr_values_apply_when_the_request_names_none() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({ "default_acr_values": ["urn:example:mfa", "urn:example:pwd"] })).await;
    let rp = Rp::new(&server, &info).await;
    for (extra, expected) in [
        (vec![], json!(["urn:example:mfa", "urn:example:pwd"])),
        (vec![("acr_values", "urn:example:other")], json!(["urn:example:other"])),
    ] {
        let pending = rp.authorize(&["openid"], &extra);
        let query = server.browse_authorize(&pending.url).await;
        let prompt = server.start_session(&query, None, None).await;
        assert_eq!(prompt["type"], "auth", "{prompt}");
        assert_eq!(prompt["auth_request"]["acr_values"], expected, "{prompt}");
        let mut subject = alice();
        subject["acr"] = expected[0].clone();
        let sid = prompt["sid"].as_str().unwrap();
        server.submit_subject(sid, subject).await;
        let response = server.submit_consent(sid, json!({"scope": "*"})).await;
        let done = rp.finish(&server, pending, response["uri"].as_str().unwrap()).await;
        assert_eq!(done.id_claims["acr"], expected[0]);
    }
}
