//! Token introspection (RFC 7662) and its JWT response (RFC 9701) over real HTTP: who may
//! introspect which token, every reason a token is inactive, refresh tokens, client
//! authentication by assertion, and the signed answer verified with `jsonwebtoken`.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::OAuth2TokenResponse;
use serde_json::{Value, json};

use crate::support::client_jwt::{ClientKey, JWT_BEARER, assertion_claims, jwks};
use crate::support::rp::{Rp, login};
use crate::support::{TestServer, alice};

/// A form POST to `path` with Basic credentials (when given) and extra headers; the status,
/// the content type and the body.
pub async fn post_form(
    server: &TestServer,
    path: &str,
    basic: Option<(&str, &str)>,
    headers: &[(&str, &str)],
    form: &[(&str, &str)],
) -> (u16, String, String) {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in form {
        ser.append_pair(k, v);
    }
    let mut req = server
        .http
        .post(server.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(ser.finish());
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// The credentials of a registered client, for Basic.
pub fn creds(info: &Value) -> (&str, &str) {
    (info["client_id"].as_str().unwrap(), info["client_secret"].as_str().unwrap())
}

/// Introspects `token` as `caller` (Basic); the JSON answer.
pub async fn introspect(server: &TestServer, caller: &Value, token: &str, hint: Option<&str>) -> Value {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let (status, ct, body) = post_form(server, "/introspect", Some(creds(caller)), &[], &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("application/json"), "{ct}");
    serde_json::from_str(&body).unwrap()
}

/// A resource server: a confidential client that only introspects.
async fn resource_server(server: &TestServer, client_id: Option<&str>) -> Value {
    let mut metadata = json!({"grant_types": ["client_credentials"], "response_types": []});
    if let Some(id) = client_id {
        metadata["client_id"] = json!(id);
    }
    server.register(metadata).await
}

#[tokio::test]
async fn introspection_answers_active_tokens_to_their_client_and_audience_and_inactive_otherwise() {
    let server = TestServer::start_with("[introspection]\nall_tokens_clients = [\"gateway\"]\n").await;
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["introspection_endpoint"], server.url("/introspect"));
    assert!(
        discovery["introspection_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    assert!(!discovery["introspection_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!("none")));

    let info = server.web_client(json!({})).await;
    let rs = resource_server(&server, Some("rs-orders")).await;
    let stranger = resource_server(&server, None).await;
    let gateway = resource_server(&server, Some("gateway")).await;
    let rp = Rp::new(&server, &info).await;
    let consent = json!({"scope": "*", "audience": ["rs-orders"], "refresh_token": {"issue": true}});
    let (_, login) = login(&server, &rp, &["email", "offline_access"], alice(), consent).await;
    let access = login.tokens.access_token().secret().clone();
    let refresh = login.tokens.refresh_token().unwrap().secret().clone();

    // The client itself, the resource server its `aud` names, the configured all-seeing one.
    for caller in [&info, &rs, &gateway] {
        let answer = introspect(&server, caller, &access, None).await;
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(answer["client_id"], info["client_id"]);
        assert_eq!(answer["sub"], "alice");
        assert_eq!(answer["aud"], "rs-orders");
        assert_eq!(answer["iss"], server.issuer);
        assert_eq!(answer["token_type"], "Bearer");
        for member in ["exp", "iat", "jti", "auth_time", "sid"] {
            assert!(answer.get(member).is_some(), "{member} in {answer}");
        }
        assert!(answer["scope"].as_str().unwrap().split(' ').any(|s| s == "email"), "{answer}");
    }
    // Another audience: a client the token does not name learns nothing.
    assert_eq!(introspect(&server, &stranger, &access, None).await, json!({"active": false}));

    // Refresh tokens, with and without the hint (a hint is not trusted: the wrong one works).
    for hint in [Some("refresh_token"), Some("access_token"), None] {
        let answer = introspect(&server, &info, &refresh, hint).await;
        assert_eq!(answer["active"], true, "{hint:?}: {answer}");
        assert_eq!(answer["client_id"], info["client_id"]);
        assert_eq!(answer["sub"], "alice");
        assert!(answer.get("token_type").is_none(), "a refresh token is no bearer token: {answer}");
    }
    assert_eq!(introspect(&server, &rs, &refresh, None).await["active"], false, "refresh tokens are the client's");
    assert_eq!(introspect(&server, &gateway, &refresh, None).await["active"], true);

    // Unknown, malformed, an ID token, and a token of another provider's shape.
    let id_token = openidconnect::TokenResponse::id_token(&login.tokens).unwrap().to_string();
    for token in ["unknown-token", "a.b.c", &id_token, &format!("{access}x")] {
        assert_eq!(introspect(&server, &info, token, None).await, json!({"active": false}), "{token}");
    }

    // Expired, by the movable clock.
    server.clock.advance(3601);
    assert_eq!(introspect(&server, &info, &access, None).await, json!({"active": false}), "expired");
    assert_eq!(introspect(&server, &info, &refresh, None).await["active"], true, "the refresh token lives longer");
}

#[tokio::test]
async fn introspection_refuses_bad_requests_and_unauthenticated_callers() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let (status, _, body) = post_form(&server, "/introspect", None, &[], &[("token", "x")]).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) =
        post_form(&server, "/introspect", Some((info["client_id"].as_str().unwrap(), "wrong")), &[], &[("token", "x")])
            .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_client"));
    let (status, _, body) = post_form(&server, "/introspect", Some(creds(&info)), &[], &[]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_request"));
    let public = server.web_client(json!({"token_endpoint_auth_method": "none"})).await;
    let (status, _, body) = post_form(
        &server,
        "/introspect",
        None,
        &[],
        &[("client_id", public["client_id"].as_str().unwrap()), ("token", "x")],
    )
    .await;
    assert_eq!(status, 401, "public clients cannot introspect: {body}");
}

#[tokio::test]
async fn introspection_with_a_client_assertion_and_the_rfc9701_jwt_response() {
    let server = TestServer::start().await;
    let key = ClientKey::ec(Algorithm::ES256, Some("rs-key"));
    let rs = server
        .register(json!({
            "grant_types": ["client_credentials"], "response_types": [],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&key]),
            "introspection_signed_response_alg": "RS256",
        }))
        .await;
    let rs_id = rs["client_id"].as_str().unwrap();
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let consent = json!({"scope": "*", "audience": [rs_id]});
    let (_, login) = login(&server, &rp, &["email"], alice(), consent).await;
    let access = login.tokens.access_token().secret().clone();

    let now = gatehouse_protocol::world::Clock::now(&server.clock).0;
    // The assertion's audience may be the introspection endpoint itself.
    let assertion = key.sign(&assertion_claims(rs_id, &server.url("/introspect"), now));
    let form = [("token", access.as_str()), ("client_assertion_type", JWT_BEARER), ("client_assertion", &assertion)];
    let accept = [("accept", "application/token-introspection+jwt")];
    let (status, ct, jwt) = post_form(&server, "/introspect", None, &accept, &form).await;
    assert_eq!(status, 200, "{jwt}");
    assert_eq!(ct, "application/token-introspection+jwt");

    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(discovery["introspection_signing_alg_values_supported"].as_array().unwrap().contains(&json!("RS256")));
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("token-introspection+jwt"));
    assert_eq!(header.alg, Algorithm::RS256, "the algorithm the resource server registered");
    let set: jsonwebtoken::jwk::JwkSet =
        server.http.get(server.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("signed with a published key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[rs_id]);
    validation.set_issuer(&[&server.issuer]);
    validation.set_required_spec_claims(&["iss", "aud"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(&jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("jsonwebtoken verifies the introspection response")
        .claims;
    assert!(claims["iat"].is_i64());
    let answer = &claims["token_introspection"];
    assert_eq!(answer["active"], true, "{claims}");
    assert_eq!(answer["aud"], rs_id);
    assert_eq!(answer["sub"], "alice");

    // An inactive token in the JWT form too; the assertion is single use, so a new one.
    let assertion = key.sign(&assertion_claims(rs_id, &server.url("/introspect"), now));
    let form = [("token", "unknown"), ("client_assertion_type", JWT_BEARER), ("client_assertion", &assertion)];
    let (status, _, jwt) = post_form(&server, "/introspect", None, &accept, &form).await;
    assert_eq!(status, 200);
    let claims = jsonwebtoken::decode::<Value>(&jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims;
    assert_eq!(claims["token_introspection"], json!({"active": false}));
}
