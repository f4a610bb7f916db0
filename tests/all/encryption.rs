//! Encrypted ID tokens and signed, encrypted UserInfo (OpenID Connect Core §10.2, §16.14,
//! §5.3.2) over real HTTP. The tokens are opened by panva's `jose` (support/jose_node.rs), an
//! implementation independent of Gatehouse's, and the signed JWTs inside are verified by the
//! `openidconnect` crate as an RP does.

use std::str::FromStr;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::Algorithm;
use openidconnect::core::{CoreIdToken, CoreProviderMetadata, CoreUserInfoJsonWebToken};
use openidconnect::{AccessTokenHash, IssuerUrl, Nonce, UserInfoVerifier};
use serde_json::{Value, json};

use crate::support::client_jwt::{ClientKey, JWT_BEARER, assertion_claims, jwks};
use crate::support::jose_node::{self, EncryptionKey};
use crate::support::rp::{Rp, consent_to_code, open_session};
use crate::support::tls::TestCa;
use crate::support::{TestServer, merge};

/// How a test client authenticates at the token endpoint.
pub enum Auth<'a> {
    Secret,
    Assertion(&'a ClientKey),
}

/// A code flow for `info` through the front-end API, the token request made by hand (the RP
/// library cannot read an encrypted ID token); returns the nonce and the token response.
pub async fn code_flow(server: &TestServer, info: &Value, auth: Auth<'_>) -> (Nonce, Value) {
    let mut rp_info = info.clone();
    rp_info.as_object_mut().unwrap().remove("client_secret");
    let rp = Rp::new(server, &rp_info).await;
    let (pending, sid) = open_session(server, &rp, &["email"], &[]).await;
    let (_, code) = consent_to_code(server, &sid, json!({"scope": "*"})).await;
    let client_id = info["client_id"].as_str().unwrap();
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", rp.redirect_uri.clone()),
        ("code_verifier", pending.verifier.secret().clone()),
    ];
    let basic = match auth {
        Auth::Secret => Some((client_id, info["client_secret"].as_str().unwrap())),
        Auth::Assertion(key) => {
            let now = gatehouse_protocol::world::Clock::now(&server.clock).0;
            let assertion = key.sign(&assertion_claims(client_id, &server.url("/token"), now));
            form.push(("client_assertion_type", JWT_BEARER.to_owned()));
            form.push(("client_assertion", assertion));
            None
        }
    };
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body, _) = server.token_request(basic, &form).await;
    assert_eq!(status, 200, "token request: {body}");
    (pending.nonce, serde_json::from_str(&body).unwrap())
}

/// The provider's metadata, as the RP library discovers it.
async fn metadata(server: &TestServer) -> CoreProviderMetadata {
    CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &server.http)
        .await
        .expect("discovery")
}

/// Verifies a decrypted ID token (a JWS) with the `openidconnect` crate: signature with the
/// provider's JWK set, `iss`, `aud`, `exp`, `nonce`, and `at_hash` against the access token.
pub async fn verify_inner_id_token(server: &TestServer, info: &Value, jws: &str, access: &str, nonce: &Nonce) -> Value {
    let rp = Rp::new(server, info).await;
    let id_token = CoreIdToken::from_str(jws).expect("the decrypted ID token is a JWS");
    let verifier = rp.client.id_token_verifier();
    let claims = id_token.claims(&verifier, nonce).expect("the inner ID token verifies");
    let computed = AccessTokenHash::from_token(
        &openidconnect::AccessToken::new(access.to_owned()),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&computed), "at_hash");
    serde_json::to_value(claims).unwrap()
}

fn parts(token: &str) -> usize {
    token.split('.').count()
}

/// An https server publishing `set` at `/jwks`; returns its URL.
async fn publish_jwks(ca: &TestCa, set: Value) -> String {
    let router = Router::new().route(
        "/jwks",
        get(move || {
            let set = set.clone();
            async move { axum::Json(set) }
        }),
    );
    format!("{}/jwks", ca.serve(router).await)
}

#[tokio::test]
async fn a_private_key_jwt_client_with_a_jwks_uri_gets_an_encrypted_id_token_and_signed_encrypted_userinfo() {
    let ca = TestCa::new();
    let signing = ClientKey::rsa(Algorithm::RS256, Some("sig"));
    let keys = jose_node::key_pairs(&[("RSA-OAEP-256", "", "enc-rsa"), ("ECDH-ES+A256KW", "P-256", "enc-ec")]);
    let (rsa, ec): (&EncryptionKey, &EncryptionKey) = (&keys[0], &keys[1]);
    let mut set = jwks(&[&signing]);
    set["keys"].as_array_mut().unwrap().extend([rsa.public(), ec.public()]);
    let jwks_uri = publish_jwks(&ca, set).await;
    let server = TestServer::start_with(&format!(
        "[outbound]\nallow_private_addresses = true\nca_file = \"{}\"\n",
        ca.file.display()
    ))
    .await;

    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    for member in ["id_token_encryption_alg_values_supported", "userinfo_encryption_alg_values_supported"] {
        assert!(discovery[member].as_array().unwrap().contains(&json!("RSA-OAEP-256")), "{member}");
    }
    assert!(discovery["userinfo_signing_alg_values_supported"].as_array().unwrap().contains(&json!("RS256")));

    let info = server
        .web_client(json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
            "id_token_signed_response_alg": "RS256",
            "id_token_encrypted_response_alg": "RSA-OAEP-256",
            "id_token_encrypted_response_enc": "A256GCM",
            "userinfo_signed_response_alg": "RS256",
            // No enc: A128CBC-HS256 is the default (Dynamic Registration §2).
            "userinfo_encrypted_response_alg": "ECDH-ES+A256KW",
        }))
        .await;
    let (nonce, tokens) = code_flow(&server, &info, Auth::Assertion(&signing)).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(parts(id_token), 5, "the ID token is a compact JWE");
    let opened = jose_node::open(id_token, "RSA-OAEP-256", "A256GCM", &rsa.private);
    assert_eq!(opened.header["cty"], "JWT", "nested: signed, then encrypted");
    assert_eq!(opened.header["kid"], "enc-rsa", "encrypted to the key the client published for it");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = verify_inner_id_token(&server, &info, &opened.plaintext, access, &nonce).await;
    assert_eq!(claims["sub"], "alice");
    // Core §5.4: with an access token issued, the email scope's claims come from UserInfo.
    assert_eq!(claims.get("email"), None);

    let resp = server.http.get(server.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/jwt");
    let jwe = resp.text().await.unwrap();
    assert_eq!(parts(&jwe), 5, "UserInfo is a compact JWE");
    let opened = jose_node::open(&jwe, "ECDH-ES+A256KW", "A128CBC-HS256", &ec.private);
    assert_eq!(opened.header["cty"], "JWT");
    let meta = metadata(&server).await;
    let verifier: UserInfoVerifier<'_, openidconnect::core::CoreJweContentEncryptionAlgorithm, _> =
        UserInfoVerifier::new(
            openidconnect::ClientId::new(info["client_id"].as_str().unwrap().to_owned()),
            meta.issuer().clone(),
            meta.jwks().clone(),
            Some(openidconnect::SubjectIdentifier::new("alice".into())),
        );
    let jwt: CoreUserInfoJsonWebToken = serde_json::from_value(json!(opened.plaintext)).unwrap();
    let userinfo = jwt.claims(&verifier).expect("the library verifies the signed UserInfo (iss, aud, signature)");
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some("alice@example.com"));
}

/// Every `alg` × `enc` pair of the ID-token path: asymmetric keys made by jose (ECDH over
/// P-256, P-384, P-521 and X25519 in turn), symmetric ones derived from the client secret.
#[tokio::test]
async fn every_alg_and_enc_pair_round_trips_through_the_id_token() {
    const ALGS: [&str; 10] = [
        "RSA-OAEP",
        "RSA-OAEP-256",
        "ECDH-ES",
        "ECDH-ES+A128KW",
        "ECDH-ES+A192KW",
        "ECDH-ES+A256KW",
        "A128KW",
        "A192KW",
        "A256KW",
        "dir",
    ];
    const ENCS: [&str; 6] = ["A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512", "A128GCM", "A192GCM", "A256GCM"];
    const CURVES: [&str; 4] = ["P-256", "P-384", "P-521", "X25519"];
    let server = TestServer::start().await;
    let asymmetric: Vec<(&str, &str, String)> = ALGS[..6]
        .iter()
        .enumerate()
        .map(|(i, alg)| (*alg, if alg.starts_with("ECDH") { CURVES[i % 4] } else { "" }, format!("k-{alg}")))
        .collect();
    let specs: Vec<(&str, &str, &str)> = asymmetric.iter().map(|(a, c, k)| (*a, *c, k.as_str())).collect();
    let keys = jose_node::key_pairs(&specs);

    let mut cases = Vec::new();
    for alg in ALGS {
        for enc in ENCS {
            let key = keys.iter().find(|k| k.alg == alg);
            let mut extra = json!({"id_token_encrypted_response_alg": alg, "id_token_encrypted_response_enc": enc});
            if let Some(key) = key {
                merge(&mut extra, json!({"jwks": {"keys": [key.public()]}}));
            }
            let info = server.web_client(extra).await;
            let (nonce, tokens) = code_flow(&server, &info, Auth::Secret).await;
            let private = match key {
                Some(key) => key.private.clone(),
                None => jose_node::secret_key(info["client_secret"].as_str().unwrap(), alg, enc),
            };
            cases.push((alg, enc, info, nonce, tokens, private));
        }
    }
    let tokens: Vec<(&str, &str, &str, &Value)> =
        cases.iter().map(|(alg, enc, _, _, t, key)| (t["id_token"].as_str().unwrap(), *alg, *enc, key)).collect();
    let opened = jose_node::open_all(&tokens);
    assert_eq!(opened.len(), ALGS.len() * ENCS.len());
    for ((alg, enc, info, nonce, tokens, _), opened) in cases.iter().zip(opened) {
        assert_eq!((opened.header["alg"].as_str(), opened.header["enc"].as_str()), (Some(*alg), Some(*enc)));
        assert_eq!(opened.header["cty"], "JWT", "{alg} {enc}");
        let access = tokens["access_token"].as_str().unwrap();
        let claims = verify_inner_id_token(&server, info, &opened.plaintext, access, nonce).await;
        assert_eq!(claims["sub"], "alice", "{alg} {enc}");
    }
}

/// Metadata that could never be honoured is refused at registration, and a key that went
/// missing afterwards is a defined error at the token endpoint, not a 500.
#[tokio::test]
async fn encryption_without_a_usable_key_is_refused_at_registration_and_at_issue_time() {
    let ca = TestCa::new();
    let server = TestServer::start_with(&format!(
        "[outbound]\nallow_private_addresses = true\nca_file = \"{}\"\n",
        ca.file.display()
    ))
    .await;
    let signing = ClientKey::rsa(Algorithm::RS256, Some("sig"));
    let refused = [
        json!({"id_token_encrypted_response_alg": "RSA-OAEP"}),
        json!({"id_token_encrypted_response_enc": "A128GCM"}),
        json!({"userinfo_encrypted_response_alg": "ECDH-ES", "jwks": jwks(&[&signing])}),
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&signing]),
               "id_token_encrypted_response_alg": "A128KW"}),
        json!({"id_token_encrypted_response_alg": "RSA-OAEP-384"}),
        json!({"id_token_encrypted_response_alg": "RSA-OAEP", "id_token_encrypted_response_enc": "A512GCM"}),
        json!({"id_token_signed_response_alg": "none"}),
    ];
    for extra in refused {
        let mut metadata = json!({"redirect_uris": ["https://app.example.com/callback"]});
        merge(&mut metadata, extra.clone());
        let (status, body) = server.admin(openidconnect::reqwest::Method::POST, "/clients/v1", Some(metadata)).await;
        assert_eq!(status, 400, "{extra}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{extra}: {body}");
    }

    // A jwks_uri whose set holds no encryption key: registration cannot know, the token
    // endpoint answers invalid_client saying what is missing.
    let jwks_uri = publish_jwks(&ca, jwks(&[&signing])).await;
    let info = server
        .web_client(json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
            "id_token_encrypted_response_alg": "RSA-OAEP",
        }))
        .await;
    let mut rp_info = info.clone();
    rp_info.as_object_mut().unwrap().remove("client_secret");
    let rp = Rp::new(&server, &rp_info).await;
    let (pending, sid) = open_session(&server, &rp, &["email"], &[]).await;
    let (_, code) = consent_to_code(&server, &sid, json!({"scope": "*"})).await;
    let client_id = info["client_id"].as_str().unwrap();
    let now = gatehouse_protocol::world::Clock::now(&server.clock).0;
    let assertion = signing.sign(&assertion_claims(client_id, &server.url("/token"), now));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", &rp.redirect_uri),
        ("code_verifier", pending.verifier.secret()),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &assertion),
    ];
    let (status, body, _) = server.token_request(None, &form).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].as_str().unwrap().contains("RSA-OAEP"), "{body}");
}
