//! JSON Web Signatures in compact form: signing through the [`Signer`] port and verifying
//! against public JWKs. JOSE data types come from `jose-jws` and `jose-jwk`; the cryptography
//! of verification from aws-lc-rs. [`client`] verifies what clients sign, with the wider set
//! of algorithms and the key rules that needs.

mod client;

pub use client::{ClientJws, JwsAlg, MAX_KEYS_WITHOUT_KID, SigningKey, signing_keys, verify_hmac, verify_public};

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jose_jwk::jose_b64::serde::{Bytes, Json};
use jose_jwk::{EcCurves, Jwk, Key};

use jose_jws::{Flattened, Protected, Signature, Unprotected};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::signer::{Alg, SignError, Signer};
use crate::world::UnixTime;

/// Signs `claims` as a compact JWS with the active key for `alg`.
pub async fn sign(
    signer: &dyn Signer,
    alg: Alg,
    typ: Option<&str>,
    claims: &impl Serialize,
    now: UnixTime,
) -> Result<String, SignError> {
    let kid = signer.active_key(alg, now)?;
    let header =
        Unprotected { alg: Some(alg.jwa()), kid: Some(kid.clone()), typ: typ.map(str::to_owned), ..Default::default() };
    // `Protected` would serialise `"b64":true` into every header; encoding the plain members
    // and keeping those bytes gives the usual `{"alg","kid","typ"}` header.
    let header_json = serde_json::to_vec(&header).map_err(|e| SignError::Device(format!("header encoding: {e}")))?;
    let header = Json::<Protected>::try_from(Bytes::from(header_json))
        .map_err(|e| SignError::Device(format!("header encoding: {e}")))?;
    let payload = serde_json::to_vec(claims).map_err(|e| SignError::Device(format!("claims encoding: {e}")))?;
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.as_ref()), URL_SAFE_NO_PAD.encode(&payload));
    let sig = signer.sign(&kid, alg, input.as_bytes()).await?;
    let jws = Flattened {
        payload: Some(payload.into()),
        signature: Signature { header: None, protected: Some(header), signature: sig.into() },
    };
    Ok(jws.to_string())
}

/// Why a JWS was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("unsupported or missing algorithm")]
    Algorithm,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("payload is not the expected JSON: {0}")]
    Payload(String),
    #[error("unsecured JWS (alg none)")]
    Unsecured,
    #[error("the key does not fit the algorithm")]
    KeyMismatch,
    #[error("the secret is shorter than the algorithm needs")]
    ShortSecret,
    #[error("critical or unencoded-payload header parameters are not understood")]
    Critical,
}

/// A verified JWS: its header and payload.
#[derive(Debug)]
pub struct Verified<T> {
    pub alg: Alg,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub claims: T,
}

/// Verifies a compact JWS with the key `find_key` returns for its `kid`, and decodes the payload.
pub fn verify<T: DeserializeOwned>(
    token: &str,
    find_key: impl FnOnce(Option<&str>, Alg) -> Option<Jwk>,
) -> Result<Verified<T>, VerifyError> {
    let jws = Flattened::from_str(token).map_err(|_| VerifyError::Malformed)?;
    let header = jws.signature.protected.as_ref().ok_or(VerifyError::Malformed)?;
    let alg = header.oth.alg.and_then(Alg::from_jwa).ok_or(VerifyError::Algorithm)?;
    let kid = header.oth.kid.clone();
    let key = find_key(kid.as_deref(), alg).ok_or(VerifyError::UnknownKey)?;
    let input_len = token.rfind('.').ok_or(VerifyError::Malformed)?;
    verify_signature(&key, alg, &token.as_bytes()[..input_len], &jws.signature.signature)?;
    let payload = jws.payload.as_ref().ok_or(VerifyError::Malformed)?;
    let claims = serde_json::from_slice(payload).map_err(|e| VerifyError::Payload(e.to_string()))?;
    Ok(Verified { alg, kid, typ: header.oth.typ.clone(), claims })
}

/// Checks a JWS signature over `input` with a public JWK.
pub fn verify_signature(key: &Jwk, alg: Alg, input: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
    verify_public(key, alg.into(), input, sig).map_err(|e| match e {
        VerifyError::KeyMismatch => VerifyError::Algorithm,
        other => other,
    })
}

/// The RFC 7638 thumbprint of a public key, base64url: Gatehouse's `kid` for keys it makes.
pub fn thumbprint(key: &Key) -> String {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    // RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
    let canonical = match key {
        Key::Ec(ec) => {
            let crv = match ec.crv {
                EcCurves::P256 => "P-256",
                EcCurves::P384 => "P-384",
                EcCurves::P521 => "P-521",
                _ => "secp256k1",
            };
            format!(r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#, b64(&ec.x), b64(&ec.y))
        }
        Key::Rsa(rsa) => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(&rsa.e), b64(&rsa.n)),
        Key::Oct(oct) => format!(r#"{{"k":"{}","kty":"oct"}}"#, b64(&oct.k)),
        _ => String::new(),
    };
    b64(&crate::secret::sha256(canonical.as_bytes()))
}

/// The left-most half of the hash of `token`, base64url: `at_hash` and `c_hash` (OpenID
/// Connect Core §3.1.3.6). The hash is the one of the ID token's signing algorithm.
pub fn half_hash(alg: Alg, token: &str) -> String {
    use sha2::Digest;
    let digest: Vec<u8> = match alg {
        Alg::ES384 => sha2::Sha384::digest(token.as_bytes()).to_vec(),
        _ => sha2::Sha256::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1.
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        assert_eq!(thumbprint(&jwk.key), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn half_hash_matches_oidc_example() {
        // OpenID Connect Core, Appendix A.4: access token and at_hash of an RS256 ID token.
        assert_eq!(half_hash(Alg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }
}
