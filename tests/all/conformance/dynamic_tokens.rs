//! Modules of the Dynamic OP plan (`oidcc-dynamic-certification-test-plan`) about the
//! algorithms a client registers for its tokens: `oidcc-userinfo-rs256`,
//! `oidcc-idtoken-rs256` and `oidcc-idtoken-unsigned` (OIDCCUserInfoRS256.java,
//! OIDCCIdTokenRS256.java, OIDCCIdTokenUnsigned.java and the conditions they call).
//!
//! The client is registered at the registration endpoint as
//! `OIDCCCreateDynamicClientRegistrationRequest` builds it for the plan's `private_key_jwt`
//! variant (its RS256 key in `jwks`, `response_types: ["code"]`, one redirect URI) plus the
//! member the module adds, and authenticates at the token endpoint with an assertion.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use openidconnect::UserInfoResponseType;
use openidconnect::core::{CoreIdToken, CoreJwsSigningAlgorithm};
use serde_json::{Value, json};

use crate::client_auth_jwt::{redeem, suite_authorize, suite_key, verified_id_token};
use crate::support::client_jwt::{ClientKey, assertion_claims, jwks};
use crate::support::rp::Rp;
use crate::support::{TestServer, merge};

/// The registration request of the suite's dynamic client, with `extra`, sent to the
/// discovered `registration_endpoint` (open on a loopback issuer); what it answered.
async fn register(server: &TestServer, key: &ClientKey, extra: Value) -> (u16, Value) {
    let mut metadata = json!({
        "client_name": "oidcc-dynamic-client",
        "redirect_uris": ["https://localhost.emobix.co.uk:8443/test/a/gatehouse/callback"],
        "response_types": ["code"],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": jwks(&[key]),
    });
    merge(&mut metadata, extra);
    let endpoint =
        discovery(server).await["registration_endpoint"].as_str().expect("a registration endpoint").to_owned();
    let resp = server.http.post(endpoint).json(&metadata).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn discovery(server: &TestServer) -> Value {
    server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap()
}

fn algs(doc: &Value, member: &str) -> Vec<String> {
    doc[member].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
}

/// The code flow up to the verified ID token, as `AbstractOIDCCServerTest` runs it: the token
/// response and the ID token's claims.
async fn code_flow(server: &TestServer, info: &Value, key: &ClientKey) -> (Value, Value) {
    let (code, nonce, redirect_uri) = suite_authorize(server, info, "openid email", &[], json!({"scope": "*"})).await;
    let now = gatehouse_protocol::world::Clock::now(&server.clock).0;
    let assertion = key.sign(&assertion_claims(info["client_id"].as_str().unwrap(), &server.url("/token"), now));
    let tokens = redeem(server, &code, &redirect_uri, &assertion).await;
    let claims = verified_id_token(server, info, &tokens, &nonce).await;
    (tokens, claims)
}

/// A JWT's header as JSON.
fn header(jwt: &str) -> Value {
    use base64::Engine;
    let b64 = jwt.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap()
}

#[tokio::test]
async fn oidcc_userinfo_rs256() {
    let server = TestServer::start().await;
    // CheckDiscEndpointUserinfoSigningAlgValuesSupportedContainsRS256.
    let doc = discovery(&server).await;
    assert!(algs(&doc, "userinfo_signing_alg_values_supported").contains(&"RS256".to_owned()));
    // AddUserinfoSignedResponseAlgRS256ToDynamicRegistrationRequest.
    let key = suite_key();
    let (status, info) = register(&server, &key, json!({"userinfo_signed_response_alg": "RS256"})).await;
    assert_eq!(status, 201, "{info}");
    assert_eq!(info["userinfo_signed_response_alg"], "RS256", "echoed");
    let (tokens, id_claims) = code_flow(&server, &info, &key).await;
    let access = tokens["access_token"].as_str().unwrap();

    let resp = server.http.get(server.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // EnsureContentTypeApplicationJwt.
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct.split(';').next().unwrap().trim(), "application/jwt", "OIDCC-5.3.2");
    let jwt = resp.text().await.unwrap();
    // ValidateUserInfoSigningAlgIsRS256, and the kid names a published key.
    let header = header(&jwt);
    assert_eq!(header["alg"], "RS256");
    let set: jsonwebtoken::jwk::JwkSet =
        server.http.get(server.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let jwk = set.find(header["kid"].as_str().unwrap()).expect("the kid names a published key");
    // ValidateUserInfoResponseSignature and ValidateSignedUserInfoResponseStandardJWTClaims
    // (iss is the issuer, aud holds the client id; exp and iat, when present, sane).
    let client_id = info["client_id"].as_str().unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&server.issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["iss", "aud"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(&jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("the signed UserInfo verifies")
        .claims;
    let now = gatehouse_protocol::world::Clock::now(&server.clock).0;
    if let Some(exp) = claims["exp"].as_i64() {
        assert!(exp > now - 300, "not expired");
    }
    if let Some(iat) = claims["iat"].as_i64() {
        assert!(iat <= now + 300 && iat > now - 86400, "iat sane");
    }
    // EnsureUserInfoDoesNotContainNonce; the same sub as the ID token.
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(claims["email"], "alice@example.com");

    // And an RP library that asks for the JWT verifies it too.
    let rp = Rp::new(&server, &info).await;
    let verified: openidconnect::core::CoreUserInfoClaims = rp
        .client
        .user_info(openidconnect::AccessToken::new(access.to_owned()), None)
        .unwrap()
        .set_response_type(UserInfoResponseType::Jwt)
        .require_signed_response(true)
        .request_async(&rp.http)
        .await
        .expect("the openidconnect crate verifies the signed UserInfo");
    assert_eq!(verified.email().map(|e| e.as_str()), Some("alice@example.com"));
}

#[tokio::test]
async fn oidcc_idtoken_rs256() {
    let server = TestServer::start().await;
    // AddIdTokenSigningAlgRS256ToDynamicRegistrationRequest.
    let key = suite_key();
    let (status, info) = register(&server, &key, json!({"id_token_signed_response_alg": "RS256"})).await;
    assert_eq!(status, 201, "{info}");
    let (tokens, claims) = code_flow(&server, &info, &key).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let header = header(id_token);
    // EnsureIdTokenContainsKid, CheckIdTokenSignatureAlgorithm (the registered one).
    assert!(header["kid"].is_string(), "OIDCC-10.1: {header}");
    assert_eq!(header["alg"], "RS256", "OIDCC-3.1.3.7");
    let parsed: CoreIdToken = id_token.parse().unwrap();
    let signed_alg = parsed.signing_alg().unwrap();
    assert_eq!(*signed_alg, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    // performIdTokenValidation: the library checked signature, iss, aud, exp, nonce, at_hash.
    assert_eq!(claims["sub"], "alice");
}

#[tokio::test]
async fn oidcc_idtoken_unsigned() {
    let server = TestServer::start().await;
    // OIDCCCheckIdTokenSigningAlgValuesSupportedAlgNone (INFO): `none` is not offered, so the
    // module skips ("servers are not required to support 'none'") before it registers.
    let doc = discovery(&server).await;
    let offered = algs(&doc, "id_token_signing_alg_values_supported");
    assert!(!offered.contains(&"none".to_owned()), "{offered:?}");
    // Were the client registered anyway, `none` is refused as metadata Gatehouse does not
    // support (RFC 7591 §3.2.2), never silently replaced by a signed token.
    let (status, body) = register(&server, &suite_key(), json!({"id_token_signed_response_alg": "none"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("none"), "{body}");
}
