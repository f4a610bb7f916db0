//! Every algorithm accepted from clients verifies its own signatures and nothing else; keys of
//! the wrong type never verify, whatever the header says.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::*;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A private key of one of the asymmetric families, with its public JWK.
enum Private {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

struct TestKey {
    private: Private,
    public: Value,
}

fn rsa_key(kid: &str) -> TestKey {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = pair.public_key();
    let n = b64(public.modulus().big_endian_without_leading_zero());
    let e = b64(public.exponent().big_endian_without_leading_zero());
    TestKey { public: json!({"kty": "RSA", "kid": kid, "n": n, "e": e}), private: Private::Rsa(pair) }
}

fn ec_key(kid: &str, alg: &'static signature::EcdsaSigningAlgorithm, crv: &str) -> TestKey {
    let pair = EcdsaKeyPair::generate(alg).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let n = (point.len() - 1) / 2;
    let public = json!({"kty": "EC", "kid": kid, "crv": crv, "x": b64(&point[1..1 + n]), "y": b64(&point[1 + n..])});
    TestKey { public, private: Private::Ec(pair) }
}

fn ed_key(kid: &str) -> TestKey {
    let pair = Ed25519KeyPair::generate().unwrap();
    let public = json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
    TestKey { public, private: Private::Ed(pair) }
}

/// A compact JWS of `payload` under `header`, signed by `sign`.
fn jws(header: Value, payload: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.to_string().as_bytes()));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn sign_with(key: &TestKey, alg: JwsAlg, input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match &key.private {
        Private::Rsa(pair) => {
            let encoding: &'static dyn signature::RsaEncoding = match alg {
                JwsAlg::RS256 => &signature::RSA_PKCS1_SHA256,
                JwsAlg::RS384 => &signature::RSA_PKCS1_SHA384,
                JwsAlg::RS512 => &signature::RSA_PKCS1_SHA512,
                JwsAlg::PS256 => &signature::RSA_PSS_SHA256,
                JwsAlg::PS384 => &signature::RSA_PSS_SHA384,
                _ => &signature::RSA_PSS_SHA512,
            };
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(encoding, &rng, input, &mut sig).unwrap();
            sig
        }
        Private::Ec(pair) => pair.sign(&rng, input).unwrap().as_ref().to_vec(),
        Private::Ed(pair) => pair.sign(input).as_ref().to_vec(),
    }
}

fn hmac(secret: &[u8], alg: JwsAlg, input: &[u8]) -> Vec<u8> {
    let algorithm = match alg {
        JwsAlg::HS256 => hmac::HMAC_SHA256,
        JwsAlg::HS384 => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    hmac::sign(&hmac::Key::new(algorithm, secret), input).as_ref().to_vec()
}

fn set(keys: &[&TestKey]) -> Vec<SigningKey> {
    signing_keys(&json!({"keys": keys.iter().map(|k| k.public.clone()).collect::<Vec<_>>()}))
}

/// `token` with its payload replaced, the signature kept.
fn tampered(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], b64(br#"{"sub":"mallory"}"#), parts[2])
}

#[test]
fn client_jws_every_algorithm_verifies_its_own_signature_only() {
    let rsa = rsa_key("rsa");
    let p256 = ec_key("p256", &signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256");
    let p384 = ec_key("p384", &signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384");
    let p521 = ec_key("p521", &signature::ECDSA_P521_SHA512_FIXED_SIGNING, "P-521");
    let ed = ed_key("ed");
    let keys = set(&[&rsa, &p256, &p384, &p521, &ed]);
    assert_eq!(keys.len(), 5);
    let payload = json!({"sub": "client"});
    let cases = [
        (JwsAlg::RS256, &rsa),
        (JwsAlg::RS384, &rsa),
        (JwsAlg::RS512, &rsa),
        (JwsAlg::PS256, &rsa),
        (JwsAlg::PS384, &rsa),
        (JwsAlg::PS512, &rsa),
        (JwsAlg::ES256, &p256),
        (JwsAlg::ES384, &p384),
        (JwsAlg::ES512, &p521),
        (JwsAlg::EdDSA, &ed),
    ];
    for (alg, key) in cases {
        for header in [json!({"alg": alg.as_str(), "kid": key.public["kid"]}), json!({"alg": alg.as_str()})] {
            let token = jws(header.clone(), &payload, |input| sign_with(key, alg, input));
            let parsed = ClientJws::parse(&token).unwrap();
            assert_eq!(parsed.alg, alg);
            assert_eq!(parsed.verify_with_keys(&keys), Ok(()), "{alg} with {header}");
            assert_eq!(parsed.unverified_payload::<Value>().unwrap(), payload);
            assert_eq!(parsed.verify_with_secret(&[7; 64]), Err(VerifyError::KeyMismatch), "{alg} is no HMAC");
            let forged = tampered(&token);
            assert_eq!(ClientJws::parse(&forged).unwrap().verify_with_keys(&keys), Err(VerifyError::Signature));
        }
    }
    let secret = [42u8; 64];
    for alg in [JwsAlg::HS256, JwsAlg::HS384, JwsAlg::HS512] {
        let token = jws(json!({"alg": alg.as_str()}), &payload, |input| hmac(&secret, alg, input));
        let parsed = ClientJws::parse(&token).unwrap();
        assert_eq!(parsed.verify_with_secret(&secret), Ok(()), "{alg}");
        assert_eq!(parsed.verify_with_secret(&[43u8; 64]), Err(VerifyError::Signature), "{alg}: another secret");
        assert_eq!(parsed.verify_with_secret(&secret[..alg.min_secret_len() - 1]), Err(VerifyError::ShortSecret));
        assert_eq!(parsed.verify_with_keys(&keys), Err(VerifyError::KeyMismatch), "{alg}: never with a JWK");
        let forged = tampered(&token);
        assert_eq!(ClientJws::parse(&forged).unwrap().verify_with_secret(&secret), Err(VerifyError::Signature));
    }
}

#[test]
fn client_jws_keys_of_the_wrong_type_or_alg_never_verify() {
    let rsa = rsa_key("rsa");
    let p256 = ec_key("p256", &signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256");
    let keys = set(&[&rsa, &p256]);
    let payload = json!({"sub": "client"});

    // HMAC keyed with the RSA public key (the classic confusion): the key material is public,
    // so a forger can compute it — and it is never an HMAC key here.
    let public_der = rsa.public.to_string();
    let confused =
        jws(json!({"alg": "HS256", "kid": "rsa"}), &payload, |input| hmac(public_der.as_bytes(), JwsAlg::HS256, input));
    assert_eq!(ClientJws::parse(&confused).unwrap().verify_with_keys(&keys), Err(VerifyError::KeyMismatch));

    // A header naming the RSA key for ES256, or the P-256 key for ES384.
    let es256_on_rsa = jws(json!({"alg": "ES256", "kid": "rsa"}), &payload, |i| sign_with(&p256, JwsAlg::ES256, i));
    assert_eq!(ClientJws::parse(&es256_on_rsa).unwrap().verify_with_keys(&keys), Err(VerifyError::KeyMismatch));
    let p384 = ec_key("p256", &signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384");
    let wrong_curve = jws(json!({"alg": "ES384", "kid": "p256"}), &payload, |i| sign_with(&p384, JwsAlg::ES384, i));
    assert_eq!(ClientJws::parse(&wrong_curve).unwrap().verify_with_keys(&keys), Err(VerifyError::KeyMismatch));

    // A key that is not in the set: unknown by kid, and no fitting key without one.
    let stranger = rsa_key("stranger");
    let by_kid = jws(json!({"alg": "RS256", "kid": "stranger"}), &payload, |i| sign_with(&stranger, JwsAlg::RS256, i));
    assert_eq!(ClientJws::parse(&by_kid).unwrap().verify_with_keys(&keys), Err(VerifyError::UnknownKey));
    let no_kid = jws(json!({"alg": "RS256"}), &payload, |i| sign_with(&stranger, JwsAlg::RS256, i));
    assert_eq!(ClientJws::parse(&no_kid).unwrap().verify_with_keys(&keys), Err(VerifyError::Signature));
    let ed = ed_key("ed");
    let no_ed_key = jws(json!({"alg": "EdDSA"}), &payload, |i| sign_with(&ed, JwsAlg::EdDSA, i));
    assert_eq!(ClientJws::parse(&no_ed_key).unwrap().verify_with_keys(&keys), Err(VerifyError::UnknownKey));

    // A key registered for RS256 does not verify PS256.
    let mut pinned = rsa.public.clone();
    pinned["alg"] = json!("RS256");
    let pinned_keys = signing_keys(&json!({"keys": [pinned]}));
    let ps256 = jws(json!({"alg": "PS256", "kid": "rsa"}), &payload, |i| sign_with(&rsa, JwsAlg::PS256, i));
    assert_eq!(ClientJws::parse(&ps256).unwrap().verify_with_keys(&pinned_keys), Err(VerifyError::KeyMismatch));
    let rs256 = jws(json!({"alg": "RS256", "kid": "rsa"}), &payload, |i| sign_with(&rsa, JwsAlg::RS256, i));
    assert_eq!(ClientJws::parse(&rs256).unwrap().verify_with_keys(&pinned_keys), Ok(()));
}

#[test]
fn client_jws_headers_that_are_refused() {
    let b = |v: Value| b64(v.to_string().as_bytes());
    let payload = b(json!({"sub": "client"}));
    let token = |header: Value| format!("{}.{payload}.{}", b(header), b64(b"sig"));
    assert_eq!(ClientJws::parse(&token(json!({"alg": "none"}))).err(), Some(VerifyError::Unsecured));
    assert_eq!(
        ClientJws::parse(&format!("{}.{payload}.", b(json!({"alg": "none"})))).err(),
        Some(VerifyError::Unsecured)
    );
    assert_eq!(ClientJws::parse(&token(json!({"alg": "ES256K"}))).err(), Some(VerifyError::Algorithm));
    assert_eq!(ClientJws::parse(&token(json!({"typ": "JWT"}))).err(), Some(VerifyError::Algorithm));
    assert!(ClientJws::parse(&token(json!({"alg": "RSA-OAEP"}))).is_err());
    assert_eq!(
        ClientJws::parse(&token(json!({"alg": "RS256", "crit": ["exp"], "exp": 1}))).err(),
        Some(VerifyError::Critical)
    );
    assert_eq!(ClientJws::parse(&token(json!({"alg": "RS256", "b64": false}))).err(), Some(VerifyError::Critical));
    for malformed in ["", "a.b", "a.b.c.d", "!!.!!.!!", &format!("{}..{}", b(json!({"alg": "RS256"})), b64(b"s"))] {
        assert!(ClientJws::parse(malformed).is_err(), "{malformed:?}");
    }
}

#[test]
fn client_jwk_sets_are_read_key_by_key() {
    let rsa = rsa_key("rsa");
    let p256 = ec_key("p256", &signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256");
    let ed = ed_key("ed");
    let with = |key: &TestKey, extra: Value| {
        let mut v = key.public.clone();
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let jwks = json!({"keys": [
        with(&rsa, json!({"kid": "enc", "use": "enc"})),
        with(&rsa, json!({"kid": "oaep", "alg": "RSA-OAEP"})),
        with(&rsa, json!({"kid": "ops-encrypt", "key_ops": ["encrypt"]})),
        {"kty": "oct", "kid": "oct", "k": b64(b"a shared secret in a public set")},
        {"kty": "unknown", "kid": "strange"},
        {"kty": "RSA", "kid": "broken"},
        "not an object",
        with(&ed, json!({"kid": "x25519", "crv": "X25519"})),
        with(&rsa, json!({"kid": "sig", "use": "sig", "alg": "PS256"})),
        with(&p256, json!({"key_ops": ["sign", "verify"]})),
        with(&ed, json!({})),
    ]});
    let kids: Vec<Option<String>> = signing_keys(&jwks).into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, [Some("sig".to_owned()), Some("p256".to_owned()), Some("ed".to_owned())]);
    assert!(signing_keys(&json!({"keys": "none"})).is_empty());
    assert!(signing_keys(&json!([])).is_empty());

    // An RSA key of fewer than 2048 bits fits no algorithm.
    let short = json!({"kty": "RSA", "kid": "short", "n": b64(&[0xff; 128]), "e": "AQAB"});
    assert!(signing_keys(&json!({"keys": [short]})).is_empty());
    let long_enough = json!({"kty": "RSA", "kid": "2048", "n": b64(&[0x80; 256]), "e": "AQAB"});
    assert_eq!(signing_keys(&json!({"keys": [long_enough]})).len(), 1);
}

#[test]
fn client_jws_without_kid_tries_a_bounded_number_of_keys() {
    let signer = ec_key("signer", &signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256");
    let others: Vec<TestKey> = (0..MAX_KEYS_WITHOUT_KID)
        .map(|i| ec_key(&format!("other-{i}"), &signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"))
        .collect();
    let token = jws(json!({"alg": "ES256"}), &json!({}), |i| sign_with(&signer, JwsAlg::ES256, i));
    let parsed = ClientJws::parse(&token).unwrap();
    let mut first: Vec<&TestKey> = vec![&signer];
    first.extend(others.iter());
    assert_eq!(parsed.verify_with_keys(&set(&first)), Ok(()));
    let mut last: Vec<&TestKey> = others.iter().collect();
    last.push(&signer);
    assert_eq!(parsed.verify_with_keys(&set(&last)), Err(VerifyError::Signature), "past the bound");
}
