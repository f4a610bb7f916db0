//! Request objects encrypted to the provider (OpenID Connect Core §6.1 and §10.2, RFC 9101
//! §6.1): the provider's encryption keys published with `use: enc` and rolled over by time,
//! signed objects nested in a JWE to those keys or keyed with the client secret, and each
//! refusal answered with `invalid_request_object`.

use gatehouse_protocol::jwe::{self, Enc, KeyAlg, Params};
use gatehouse_protocol::world::SystemRandom;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::support::client_jwt::{ClientKey, jwks};
use crate::support::request_objects::{complete, object_claims, object_request_url, start};
use crate::support::rp::{Pending, Rp};
use crate::support::{TestServer, merge, redirect_params};

/// The default `lifetimes.encryption_key`: one period of the key ring.
const PERIOD: i64 = 30 * 24 * 3600;

async fn get_json(server: &TestServer, path: &str) -> Value {
    server.http.get(server.url(path)).send().await.unwrap().json().await.unwrap()
}

/// The provider's published encryption keys.
async fn encryption_keys(server: &TestServer) -> Vec<Value> {
    let set = get_json(server, "/jwks.json").await;
    set["keys"].as_array().unwrap().iter().filter(|k| k["use"] == "enc").cloned().collect()
}

/// `jwt` encrypted as a client would: to the provider's published key for `alg`, or with the
/// key Core §10.2 derives from `secret` for the symmetric algorithms.
async fn encrypt(server: &TestServer, jwt: &str, alg: KeyAlg, enc: Enc, secret: Option<&str>) -> String {
    let key = match secret {
        Some(secret) => jwe::secret_key(secret.as_bytes(), alg, enc).unwrap(),
        None => jwe::recipient_key(&get_json(server, "/jwks.json").await, alg).expect("a published key for the alg"),
    };
    let params = Params { cty: Some("JWT"), ..Params::new(alg, enc) };
    jwe::encrypt(&key, &params, jwt.as_bytes(), &SystemRandom).unwrap()
}

/// A client that signs request objects with RS256, with `extra` metadata.
async fn client(server: &TestServer, key: &ClientKey, extra: Value) -> (Value, Rp) {
    let mut metadata = json!({"jwks": jwks(&[key]), "request_object_signing_alg": "RS256"});
    merge(&mut metadata, extra);
    let info = server.web_client(metadata).await;
    let rp = Rp::new(server, &info).await;
    (info, rp)
}

/// An authentication request of `rp` as a signed request object, and the request carrying it
/// encrypted with `alg` and `enc`.
async fn encrypted_request(
    server: &TestServer,
    rp: &Rp,
    info: &Value,
    key: &ClientKey,
    (alg, enc): (KeyAlg, Enc),
) -> (Pending, String) {
    let pending = rp.authorize(&["openid", "email"], &[]);
    let mut claims = object_claims(&pending.url);
    merge(&mut claims, json!({"iss": info["client_id"], "aud": server.issuer}));
    let secret = alg.is_symmetric().then(|| info["client_secret"].as_str().unwrap());
    let object = encrypt(server, &key.sign(&claims), alg, enc, secret).await;
    assert_eq!(object.split('.').count(), 5, "a compact JWE");
    let url = object_request_url(server, &pending.url, "request", &object);
    (pending, url)
}

/// The error of a refusal redirected to the client, with the redirect's parameters.
fn redirected_error(prompt: &Value) -> (String, std::collections::HashMap<String, String>) {
    assert_eq!(prompt["type"], "response", "refused at the registered redirect URI: {prompt}");
    let params = redirect_params(prompt["uri"].as_str().unwrap());
    (params["error"].clone(), params)
}

#[tokio::test]
async fn the_jwk_set_publishes_encryption_keys_and_discovery_their_algorithms() {
    let server = TestServer::start().await;
    let keys = encryption_keys(&server).await;
    let types: Vec<(&str, Option<&str>)> =
        keys.iter().map(|k| (k["kty"].as_str().unwrap(), k["crv"].as_str())).collect();
    assert_eq!(types, [("RSA", None), ("EC", Some("P-256"))], "{keys:?}");
    for key in &keys {
        assert!(key["kid"].is_string(), "{key}");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "no private member {private} is published: {key}");
        }
    }
    let set = get_json(&server, "/jwks.json").await;
    let signing = set["keys"].as_array().unwrap().iter().filter(|k| k["use"] == "sig").count();
    assert!(signing >= 3, "the signing keys are still published: {set}");
    // The set is the same on every fetch within the period.
    assert_eq!(encryption_keys(&server).await, keys);

    let meta = get_json(&server, "/.well-known/openid-configuration").await;
    let list = |member: &str| -> Vec<String> {
        meta[member]
            .as_array()
            .unwrap_or_else(|| panic!("{member}"))
            .iter()
            .map(|v| v.as_str().unwrap().into())
            .collect()
    };
    let algs = list("request_object_encryption_alg_values_supported");
    for alg in ["RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW", "A128KW", "dir"] {
        assert!(algs.iter().any(|a| a == alg), "{alg} in {algs:?}");
    }
    let encs = list("request_object_encryption_enc_values_supported");
    for enc in ["A128CBC-HS256", "A256CBC-HS512", "A128GCM", "A256GCM"] {
        assert!(encs.iter().any(|e| e == enc), "{enc} in {encs:?}");
    }
}

#[tokio::test]
async fn encrypted_request_objects_complete_the_code_flow() {
    let server = TestServer::start().await;
    let key = ClientKey::rsa(Algorithm::RS256, Some("rsa-1"));
    // RSA-OAEP with A256GCM is what the conformance suite encrypts request objects with
    // (FAPIBrazilEncryptRequestObject); the others cover each key-management family.
    for (alg, enc, registered) in [
        (KeyAlg::RsaOaep, Enc::A256Gcm, true),
        (KeyAlg::RsaOaep256, Enc::A128CbcHs256, false),
        (KeyAlg::EcdhEs, Enc::A128Gcm, true),
        (KeyAlg::EcdhEsA256Kw, Enc::A256CbcHs512, false),
        (KeyAlg::A128Kw, Enc::A128Gcm, true),
        (KeyAlg::Dir, Enc::A128CbcHs256, false),
    ] {
        let label = format!("{alg}/{enc}");
        let extra = match registered {
            true => json!({"request_object_encryption_alg": alg.name(), "request_object_encryption_enc": enc.name()}),
            false => json!({}),
        };
        let (info, rp) = client(&server, &key, extra).await;
        let (pending, url) = encrypted_request(&server, &rp, &info, &key, (alg, enc)).await;
        assert!(!url.contains("state="), "only the object carries the state: {url}");
        let prompt = start(&server, &url).await;
        assert_eq!(prompt["type"], "auth", "{label}: {prompt}");
        assert_eq!(prompt["auth_request"]["state"], pending.state.secret().as_str(), "{label}");
        let login = complete(&server, &rp, pending, &prompt).await;
        assert_eq!(login.userinfo["email"], "alice@example.com", "{label}");
    }
}

#[tokio::test]
async fn refused_encrypted_request_objects_answer_invalid_request_object() {
    let server = TestServer::start().await;
    let key = ClientKey::rsa(Algorithm::RS256, Some("rsa-1"));
    let registered = json!({"request_object_encryption_alg": "RSA-OAEP", "request_object_encryption_enc": "A256GCM"});
    let (info, rp) = client(&server, &key, registered).await;

    // Another alg, or another enc, than the registered ones (RFC 8725 §3.1).
    for pair in [(KeyAlg::RsaOaep256, Enc::A256Gcm), (KeyAlg::RsaOaep, Enc::A128CbcHs256)] {
        let (pending, url) = encrypted_request(&server, &rp, &info, &key, pair).await;
        let (error, params) = redirected_error(&start(&server, &url).await);
        assert_eq!(error, "invalid_request_object", "{pair:?}");
        assert!(params["error_description"].contains("registered"), "{params:?}");
        // The object could not be read, so the query's state is all there is: none.
        assert_eq!(params.get("state"), None, "{pair:?}");
        drop(pending);
    }

    // Encrypted to a key the provider does not hold.
    let (_, free_rp) = client(&server, &key, json!({})).await;
    let foreign = jwe::generate_rsa(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let foreign = jose_jwk::Jwk {
        prm: jose_jwk::Parameters { kid: Some("not-the-providers".into()), ..Default::default() },
        ..jwe::public_half(&foreign)
    };
    let pending = free_rp.authorize(&["openid"], &[]);
    let params = Params { cty: Some("JWT"), ..Params::new(KeyAlg::RsaOaep, Enc::A256Gcm) };
    let object = jwe::encrypt(&foreign, &params, key.sign(&object_claims(&pending.url)).as_bytes(), &SystemRandom);
    let url = object_request_url(&server, &pending.url, "request", &object.unwrap());
    let (error, params) = redirected_error(&start(&server, &url).await);
    assert_eq!(error, "invalid_request_object");
    assert!(params["error_description"].contains("does not hold"), "{params:?}");

    // A ciphertext changed on the way.
    let (info_free, rp_free) = (server.web_client(json!({"jwks": jwks(&[&key])})).await, free_rp);
    let (_, url) = encrypted_request(&server, &rp_free, &info_free, &key, (KeyAlg::EcdhEsA128Kw, Enc::A128Gcm)).await;
    let object = url.split("request=").nth(1).unwrap().to_owned();
    let mut parts: Vec<String> = object.split('.').map(str::to_owned).collect();
    parts[3] = format!("{}A", &parts[3][..parts[3].len() - 1]);
    let tampered = url.replace(&object, &parts.join("."));
    let (error, _) = redirected_error(&start(&server, &tampered).await);
    assert_eq!(error, "invalid_request_object", "a tampered ciphertext");

    // A key-wrap algorithm keyed with a secret the client does not have.
    let public = server
        .register(json!({"redirect_uris": ["https://app.example.com/callback"], "token_endpoint_auth_method": "none",
            "jwks": jwks(&[&key]), "request_object_signing_alg": "RS256"}))
        .await;
    let public_rp = Rp::new(&server, &public).await;
    let pending = public_rp.authorize(&["openid"], &[]);
    let signed = key.sign(&object_claims(&pending.url));
    let object = encrypt(&server, &signed, KeyAlg::A128Kw, Enc::A128Gcm, Some("guess")).await;
    let url = object_request_url(&server, &pending.url, "request", &object);
    let (error, params) = redirected_error(&start(&server, &url).await);
    assert_eq!(error, "invalid_request_object");
    assert!(params["error_description"].contains("client secret"), "{params:?}");

    // Registration refuses a symmetric algorithm for a client without a secret.
    let resp = server
        .http
        .post(server.url("/register"))
        .json(&json!({"redirect_uris": ["https://app.example.com/callback"], "token_endpoint_auth_method": "none",
            "request_object_encryption_alg": "A128KW"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
}

#[tokio::test]
async fn encryption_keys_roll_over_by_time_and_the_previous_keys_still_decrypt() {
    let server = TestServer::start().await;
    let key = ClientKey::rsa(Algorithm::RS256, Some("rsa-1"));
    let (info, rp) = client(&server, &key, json!({})).await;
    let first = encryption_keys(&server).await;
    let rsa_of = |keys: &[Value]| -> Value {
        keys.iter().find(|k| k["kty"] == "RSA").cloned().map(|k| json!({"keys": [k]})).unwrap()
    };
    let to_first = rsa_of(&first);
    let accepted = |prompt: &Value| prompt["type"] == "auth";
    let encrypted_to = |set: &Value, pending: &Pending| {
        let claims = {
            let mut c = object_claims(&pending.url);
            merge(&mut c, json!({"iss": info["client_id"], "aud": server.issuer}));
            c
        };
        let recipient = jwe::recipient_key(set, KeyAlg::RsaOaep).unwrap();
        let params = Params { cty: Some("JWT"), ..Params::new(KeyAlg::RsaOaep, Enc::A256Gcm) };
        let object = jwe::encrypt(&recipient, &params, key.sign(&claims).as_bytes(), &SystemRandom).unwrap();
        object_request_url(&server, &pending.url, "request", &object)
    };

    // One period later the published keys are new, and objects encrypted to the first ones,
    // from a client that cached the set, still open.
    server.clock.advance(PERIOD);
    let second = encryption_keys(&server).await;
    assert_eq!(second.len(), 2);
    for (old, new) in first.iter().zip(&second) {
        assert_ne!(old["kid"], new["kid"], "rolled over: {old} {new}");
    }
    let pending = rp.authorize(&["openid"], &[]);
    let prompt = start(&server, &encrypted_to(&to_first, &pending)).await;
    assert!(accepted(&prompt), "the previous period's key still decrypts: {prompt}");
    let pending = rp.authorize(&["openid"], &[]);
    assert!(accepted(&start(&server, &encrypted_to(&rsa_of(&second), &pending)).await));

    // Two periods later the first keys are gone.
    server.clock.advance(PERIOD);
    let pending = rp.authorize(&["openid"], &[]);
    let (error, _) = redirected_error(&start(&server, &encrypted_to(&to_first, &pending)).await);
    assert_eq!(error, "invalid_request_object");
    let pending = rp.authorize(&["openid"], &[]);
    assert!(accepted(&start(&server, &encrypted_to(&rsa_of(&second), &pending)).await));
}
