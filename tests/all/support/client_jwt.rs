//! A relying party's side of JWT client authentication (RFC 7523, OpenID Connect Core §9):
//! client keys generated with aws-lc-rs, their public JWKs, and client assertions signed by
//! `jsonwebtoken`, a JOSE library independent of Gatehouse's.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A client's signing key: a private key (or the client secret, for HS*) and the public JWK
/// it registers.
pub struct ClientKey {
    pub alg: Algorithm,
    /// The public JWK (`Null` for an HMAC secret).
    pub jwk: Value,
    encoding: EncodingKey,
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5), which is the form
/// `jsonwebtoken` takes RSA keys in.
fn pkcs1_of(pkcs8: &[u8]) -> Vec<u8> {
    yasna::parse_der(pkcs8, |r| {
        r.read_sequence(|r| {
            r.next().read_u8()?;
            r.next().read_der()?;
            r.next().read_bytes()
        })
    })
    .expect("a PKCS#8 RSA key")
}

impl ClientKey {
    /// A new RSA-2048 key for `alg` (RS* or PS*), with `kid` if given. The JWK names no `alg`.
    pub fn rsa(alg: Algorithm, kid: Option<&str>) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        let public = pair.public_key();
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        });
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        let der = pair.as_der().expect("PKCS#8");
        Self { alg, jwk, encoding: EncodingKey::from_rsa_der(&pkcs1_of(der.as_ref())) }
    }

    /// A new EC key for ES256 (P-256) or ES384 (P-384), its JWK naming the `alg`.
    pub fn ec(alg: Algorithm, kid: Option<&str>) -> Self {
        let (signing, crv) = match alg {
            Algorithm::ES256 => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256"),
            Algorithm::ES384 => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384"),
            other => panic!("no EC curve for {other:?}"),
        };
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &SystemRandom::new()).expect("EC key");
        let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let n = (point.len() - 1) / 2;
        let mut jwk = json!({
            "kty": "EC", "crv": crv, "alg": format!("{alg:?}"),
            "x": b64(&point[1..1 + n]), "y": b64(&point[1 + n..]),
        });
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        Self { alg, jwk, encoding: EncodingKey::from_ec_der(pkcs8.as_ref()) }
    }

    /// A new Ed25519 key for EdDSA (RFC 8037).
    pub fn ed25519(kid: Option<&str>) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).expect("Ed25519 key");
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8.as_ref()).unwrap();
        let mut jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        Self { alg: Algorithm::EdDSA, jwk, encoding: EncodingKey::from_ed_der(pkcs8.as_ref()) }
    }

    /// The key of `client_secret_jwt`: the octets of the client secret (Core §9).
    pub fn hmac(alg: Algorithm, secret: &str) -> Self {
        Self { alg, jwk: Value::Null, encoding: EncodingKey::from_secret(secret.as_bytes()) }
    }

    /// Gives the key the RFC 7638 thumbprint as `kid`, as the conformance suite does for the
    /// keys it publishes at a `jwks_uri`.
    pub fn with_thumbprint_kid(mut self) -> Self {
        let key: jose_jwk::Jwk = serde_json::from_value(self.jwk.clone()).expect("a JWK");
        self.jwk["kid"] = json!(gatehouse_protocol::jose::thumbprint(&key.key));
        self
    }

    pub fn kid(&self) -> Option<&str> {
        self.jwk["kid"].as_str()
    }

    /// Signs `claims` with the header `{alg, kid}` (the kid only if the key has one, no `typ`,
    /// as the conformance suite's assertions).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.typ = None;
        header.kid = self.kid().map(str::to_owned);
        self.sign_with(header, claims)
    }

    pub fn sign_with(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("jsonwebtoken signs")
    }
}

/// A JWK set of the keys' public parts.
pub fn jwks(keys: &[&ClientKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

/// 20 random alphanumerics, as the conformance suite's `jti`.
pub fn random_jti() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 20];
    SystemRandom::new().fill(&mut bytes).unwrap();
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// The claims of a client assertion as the conformance suite builds them
/// (`CreateClientAuthenticationAssertionClaims`): `iss` = `sub` = the client, `aud` the token
/// endpoint (or what is given), a new `jti`, `iat` = `nbf` = now, `exp` now + 60 s.
pub fn assertion_claims(client_id: &str, aud: &str, now: i64) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "jti": random_jti(),
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    })
}

/// An unsecured JWS (`alg: none`) of `claims`, which no library here will make.
pub fn unsecured(claims: &Value) -> String {
    format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(claims.to_string().as_bytes()))
}
