//! JWS that clients sign (client assertions; request objects when they land): the algorithms
//! Gatehouse accepts from clients, the signing keys of a client's JWK set read one by one, and
//! verification with aws-lc-rs.
//!
//! Which key may verify which algorithm is decided here and nowhere else: an RSA key of 2048
//! bits or more only RS* and PS*, an EC key only the ES* of its curve, an Ed25519 key only
//! EdDSA, and HMAC only with the client's secret — never with a member of a JWK set, so a
//! public key can never be used as an HMAC key. `alg: none` is not an algorithm here.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::{hmac, signature};
use jose_jwk::jose_jwa::Signing;
use jose_jwk::{EcCurves, Jwk, Key, OkpCurves};
use jose_jws::Flattened;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::VerifyError;
use crate::signer::Alg;

/// The JWS algorithms (RFC 7518 §3.1, RFC 8037 §3.1) accepted in JWTs that clients sign.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
}

impl JwsAlg {
    pub const ALL: [JwsAlg; 13] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::ES512,
        Self::EdDSA,
        Self::HS256,
        Self::HS384,
        Self::HS512,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named `s`; `none` and everything else unknown are `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    fn from_jwa(s: Signing) -> Option<Self> {
        Self::parse(&s.to_string())
    }

    /// Whether this is an HMAC, keyed with a shared secret.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// The shortest secret an HMAC may be keyed with, in bytes. RFC 7518 §3.2: "A key of the
    /// same size as the hash output (for instance, 256 bits for "HS256") or larger MUST be used
    /// with this algorithm."
    pub fn min_secret_len(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }

    /// Whether `key` (a public key from a JWK set) can verify this algorithm.
    pub fn fits(self, key: &Jwk) -> bool {
        let key_alg_matches = match &key.prm.alg {
            None => true,
            Some(jose_jwk::jose_jwa::Algorithm::Signing(s)) => Self::from_jwa(*s) == Some(self),
            Some(_) => false,
        };
        key_alg_matches
            && match (&key.key, self) {
                (Key::Rsa(rsa), Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512) => {
                    modulus_bits(&rsa.n) >= 2048
                }
                (Key::Ec(ec), Self::ES256) => ec.crv == EcCurves::P256,
                (Key::Ec(ec), Self::ES384) => ec.crv == EcCurves::P384,
                (Key::Ec(ec), Self::ES512) => ec.crv == EcCurves::P521,
                (Key::Okp(okp), Self::EdDSA) => okp.crv == OkpCurves::Ed25519,
                _ => false,
            }
    }
}

fn modulus_bits(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    n.first().map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize)
}

impl From<Alg> for JwsAlg {
    fn from(alg: Alg) -> Self {
        match alg {
            Alg::ES256 => Self::ES256,
            Alg::ES384 => Self::ES384,
            Alg::RS256 => Self::RS256,
            Alg::PS256 => Self::PS256,
        }
    }
}

impl fmt::Display for JwsAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a JWS signature over `input` with a public JWK, which must fit `alg`.
pub fn verify_public(key: &Jwk, alg: JwsAlg, input: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
    use signature::{RsaPublicKeyComponents, UnparsedPublicKey};
    if !alg.fits(key) {
        return Err(VerifyError::KeyMismatch);
    }
    let bad = |_| VerifyError::Signature;
    match &key.key {
        Key::Rsa(rsa) => {
            let params: &'static signature::RsaParameters = match alg {
                JwsAlg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                JwsAlg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                JwsAlg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                JwsAlg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                JwsAlg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                _ => &signature::RSA_PSS_2048_8192_SHA512,
            };
            RsaPublicKeyComponents { n: &rsa.n[..], e: &rsa.e[..] }.verify(params, input, sig).map_err(bad)
        }
        Key::Ec(ec) => {
            let algorithm: &'static signature::EcdsaVerificationAlgorithm = match alg {
                JwsAlg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
                JwsAlg::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
                _ => &signature::ECDSA_P521_SHA512_FIXED,
            };
            let mut point = Vec::with_capacity(1 + ec.x.len() + ec.y.len());
            point.push(4);
            point.extend_from_slice(&ec.x);
            point.extend_from_slice(&ec.y);
            UnparsedPublicKey::new(algorithm, point).verify(input, sig).map_err(bad)
        }
        Key::Okp(okp) => UnparsedPublicKey::new(&signature::ED25519, &okp.x[..]).verify(input, sig).map_err(bad),
        _ => Err(VerifyError::KeyMismatch),
    }
}

/// Checks an HMAC JWS signature over `input` keyed with `secret` (OpenID Connect Core §9
/// `client_secret_jwt`: the octets of the client secret), in constant time.
pub fn verify_hmac(secret: &[u8], alg: JwsAlg, input: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
    let algorithm = match alg {
        JwsAlg::HS256 => hmac::HMAC_SHA256,
        JwsAlg::HS384 => hmac::HMAC_SHA384,
        JwsAlg::HS512 => hmac::HMAC_SHA512,
        _ => return Err(VerifyError::KeyMismatch),
    };
    if secret.len() < alg.min_secret_len() {
        return Err(VerifyError::ShortSecret);
    }
    hmac::verify(&hmac::Key::new(algorithm, secret), input, sig).map_err(|_| VerifyError::Signature)
}

/// One key of a client's JWK set that can verify signatures.
#[derive(Clone, Debug, PartialEq)]
pub struct SigningKey {
    pub kid: Option<String>,
    pub jwk: Jwk,
}

/// The members of a JWK set (`{"keys": [...]}`) that can verify signatures: `use` absent or
/// `sig`, `key_ops` absent or holding `verify`, `alg` absent or an algorithm accepted here,
/// and a public key some accepted algorithm fits (RSA of 2048 bits or more, EC on P-256,
/// P-384 or P-521, Ed25519). Other members (encryption keys, symmetric keys, key
/// types or algorithms Gatehouse does not know, malformed ones) are skipped one by one rather
/// than failing the set. RFC 7517 §5: "Implementations SHOULD ignore JWKs within a JWK Set that
/// use "kty" (key type) values that are not understood by them, that are missing required
/// members, or for which values are out of the supported ranges."
///
/// The set is read as JSON because jose-jwk's `JwkSet` refuses a whole set when one member
/// is, for example, an `"alg": "RSA-OAEP"` key.
pub fn signing_keys(jwks: &Value) -> Vec<SigningKey> {
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else { return Vec::new() };
    keys.iter()
        .filter_map(|member| {
            let member = member.as_object()?;
            if member.get("use").is_some_and(|u| u != "sig") {
                return None;
            }
            if let Some(ops) = member.get("key_ops") {
                ops.as_array()?.iter().find(|op| *op == "verify")?;
            }
            if let Some(alg) = member.get("alg") {
                JwsAlg::parse(alg.as_str()?)?;
            }
            let jwk: Jwk = serde_json::from_value(Value::Object(member.clone())).ok()?;
            JwsAlg::ALL.iter().any(|alg| alg.fits(&jwk)).then(|| SigningKey { kid: jwk.prm.kid.clone(), jwk })
        })
        .collect()
}

/// How many keys of a set an assertion without `kid` is tried against: enough for a client
/// in the middle of a roll-over, not so many that one forged request costs a hundred
/// signature checks.
pub const MAX_KEYS_WITHOUT_KID: usize = 8;

/// A compact JWS a client sent: parsed, not yet verified.
#[derive(Debug)]
pub struct ClientJws<'a> {
    pub alg: JwsAlg,
    pub kid: Option<String>,
    pub typ: Option<String>,
    signing_input: &'a str,
    signature: Vec<u8>,
    payload: Vec<u8>,
}

impl<'a> ClientJws<'a> {
    /// Parses a compact JWS (RFC 7515 §7.1). Refused here: `alg` missing, `none` or not
    /// accepted from clients, an unencoded payload (RFC 7797), and any `crit` header (RFC 7515
    /// §4.1.11: none is understood). Keys named in the header (`jwk`, `jku`, `x5u`, `x5c`) are
    /// never used: a client's keys are its registered ones.
    pub fn parse(token: &'a str) -> Result<Self, VerifyError> {
        let jws = Flattened::from_str(token).map_err(|_| VerifyError::Malformed)?;
        let header = jws.signature.protected.as_ref().ok_or(VerifyError::Malformed)?;
        if header.crit.is_some() || !header.b64 {
            return Err(VerifyError::Critical);
        }
        let alg = match header.oth.alg {
            Some(Signing::Null) => return Err(VerifyError::Unsecured),
            Some(s) => JwsAlg::from_jwa(s).ok_or(VerifyError::Algorithm)?,
            None => return Err(VerifyError::Algorithm),
        };
        let input_len = token.rfind('.').ok_or(VerifyError::Malformed)?;
        Ok(Self {
            alg,
            kid: header.oth.kid.clone(),
            typ: header.oth.typ.clone(),
            signing_input: &token[..input_len],
            signature: jws.signature.signature.to_vec(),
            payload: jws.payload.map(|p| p.to_vec()).ok_or(VerifyError::Malformed)?,
        })
    }

    /// The payload, **not verified**: for finding whose keys verify it (RFC 7523 §3: the
    /// `sub` of a client assertion names the client). Nothing read here is trusted until one
    /// of the `verify_*` methods succeeded.
    pub fn unverified_payload<T: DeserializeOwned>(&self) -> Result<T, VerifyError> {
        serde_json::from_slice(&self.payload).map_err(|e| VerifyError::Payload(e.to_string()))
    }

    /// Verifies the HMAC signature with a shared secret.
    pub fn verify_with_secret(&self, secret: &[u8]) -> Result<(), VerifyError> {
        if !self.alg.is_hmac() {
            return Err(VerifyError::KeyMismatch);
        }
        verify_hmac(secret, self.alg, self.signing_input.as_bytes(), &self.signature)
    }

    /// Verifies the signature with the key of `keys` the header's `kid` names, or, without a
    /// `kid`, with any of the first [`MAX_KEYS_WITHOUT_KID`] keys that fit the algorithm.
    /// `UnknownKey` means no key of the set could have made it (so a fresher copy of the set may
    /// help); `KeyMismatch` that the key named does not fit the algorithm.
    pub fn verify_with_keys(&self, keys: &[SigningKey]) -> Result<(), VerifyError> {
        if self.alg.is_hmac() {
            return Err(VerifyError::KeyMismatch);
        }
        let input = self.signing_input.as_bytes();
        let candidates: Vec<&SigningKey> = match &self.kid {
            Some(kid) => {
                let named: Vec<&SigningKey> = keys.iter().filter(|k| k.kid.as_ref() == Some(kid)).collect();
                if named.is_empty() {
                    return Err(VerifyError::UnknownKey);
                }
                named.into_iter().filter(|k| self.alg.fits(&k.jwk)).collect()
            }
            None => keys.iter().filter(|k| self.alg.fits(&k.jwk)).take(MAX_KEYS_WITHOUT_KID).collect(),
        };
        if candidates.is_empty() {
            return Err(if self.kid.is_some() { VerifyError::KeyMismatch } else { VerifyError::UnknownKey });
        }
        if candidates.iter().any(|k| verify_public(&k.jwk, self.alg, input, &self.signature).is_ok()) {
            Ok(())
        } else {
            Err(VerifyError::Signature)
        }
    }
}

#[cfg(test)]
mod tests;
