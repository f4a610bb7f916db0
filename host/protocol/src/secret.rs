//! Secrets: values that redact themselves, hashes that stand in for tokens, and sealing of
//! client secrets and software keys at rest.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::world::Random;

/// A value that never shows itself in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself. Call sites are few and easy to audit.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lower-case hex SHA-256, the form API tokens are configured in.
pub fn sha256_hex(data: &[u8]) -> String {
    sha256(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The storage key of a code or token: the base64url SHA-256 of the credential. The
/// credential itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(credential: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(sha256(credential.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Bytes sealed with AES-256-GCM under the instance's master key, bound to a context string
/// (for example the client id) so a sealed value cannot be moved to another record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(..)")
    }
}

/// Seals and opens [`Sealed`] values. The master key comes from the server's configuration or
/// a key file it created; the store only ever sees sealed bytes.
pub struct Sealer {
    key: LessSafeKey,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sealed value could not be opened (wrong master key or corrupt record)")]
pub struct UnsealError;

impl Sealer {
    /// A sealer over a 32-byte master key.
    pub fn new(master_key: &Secret<[u8; 32]>) -> Self {
        let key =
            UnboundKey::new(&AES_256_GCM, master_key.expose()).expect("a 32-byte key is always a valid AES-256 key");
        Self { key: LessSafeKey::new(key) }
    }

    pub fn seal(&self, rng: &dyn Random, context: &str, plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut buf)
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Sealed(URL_SAFE_NO_PAD.encode(out))
    }

    pub fn open(&self, context: &str, sealed: &Sealed) -> Result<Secret<Vec<u8>>, UnsealError> {
        let raw = URL_SAFE_NO_PAD.decode(&sealed.0).map_err(|_| UnsealError)?;
        if raw.len() < NONCE_LEN {
            return Err(UnsealError);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| UnsealError)?;
        let mut buf = ct.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf).map_err(|_| UnsealError)?;
        Ok(Secret(plain.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::SystemRandom;

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let sealer = Sealer::new(&Secret::new([7u8; 32]));
        let sealed = sealer.seal(&SystemRandom, "client-a", b"s3cret");
        assert_eq!(sealer.open("client-a", &sealed).unwrap().expose(), b"s3cret");
        assert!(sealer.open("client-b", &sealed).is_err());
        let other = Sealer::new(&Secret::new([8u8; 32]));
        assert!(other.open("client-a", &sealed).is_err());
    }

    #[test]
    fn secrets_redact_themselves() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(<redacted>)");
    }

    #[test]
    fn constant_time_comparison_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
