//! The signing port: whatever holds the private keys (software keys, a PKCS#11 HSM) signs
//! through this trait. The protocol never sees key material and does not know which backend
//! is in use.

use std::fmt;

use async_trait::async_trait;
use jose_jwk::JwkSet;
use serde::{Deserialize, Serialize};

use crate::store::PoolStats;
use crate::world::UnixTime;

/// The JWS algorithms Gatehouse signs with.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Alg {
    ES256,
    ES384,
    RS256,
    PS256,
}

impl Alg {
    pub const ALL: [Alg; 4] = [Alg::ES256, Alg::ES384, Alg::RS256, Alg::PS256];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The JOSE algorithm identifier.
    pub fn jwa(self) -> jose_jwk::jose_jwa::Signing {
        use jose_jwk::jose_jwa::Signing;
        match self {
            Alg::ES256 => Signing::Es256,
            Alg::ES384 => Signing::Es384,
            Alg::RS256 => Signing::Rs256,
            Alg::PS256 => Signing::Ps256,
        }
    }

    pub fn from_jwa(s: jose_jwk::jose_jwa::Signing) -> Option<Alg> {
        use jose_jwk::jose_jwa::Signing;
        match s {
            Signing::Es256 => Some(Alg::ES256),
            Signing::Es384 => Some(Alg::ES384),
            Signing::Rs256 => Some(Alg::RS256),
            Signing::Ps256 => Some(Alg::PS256),
            _ => None,
        }
    }

    /// Whether a key of this family signs with an EC curve (else RSA).
    pub fn is_ec(self) -> bool {
        matches!(self, Alg::ES256 | Alg::ES384)
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a signature could not be made. Every variant makes the request fail with
/// `temporarily_unavailable`: nothing unsigned or signed with the wrong key is ever issued.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no signing key for {0} is valid now")]
    NoKey(Alg),
    #[error("signing key {0} is not available")]
    UnknownKey(String),
    #[error("signing device failure: {0}")]
    Device(String),
}

/// Signing counters of one key and algorithm since start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SigningStats {
    pub kid: String,
    pub alg: Alg,
    /// Signatures made.
    pub operations: u64,
    /// Signing requests that failed.
    pub errors: u64,
    /// Latency as the caller sees it (queueing included), over all requests.
    pub mean_ms: f64,
    pub max_ms: f64,
}

/// What a signer reports to the monitoring endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SignerMetrics {
    pub signing: Vec<SigningStats>,
    /// Gauges of the backend's session pool, when it has one (an HSM does).
    pub sessions: Option<PoolStats>,
}

/// A set of signing keys with their publication rules.
#[async_trait]
pub trait Signer: Send + Sync + 'static {
    /// Algorithms this backend can sign with when it has a valid key.
    fn supported_algorithms(&self) -> Vec<Alg>;

    /// The key id of the key that signs `alg` at `now`.
    fn active_key(&self, alg: Alg, now: UnixTime) -> Result<String, SignError>;

    /// Signs `input` with key `kid`. The signature is in JWS form (raw r‖s for ECDSA).
    async fn sign(&self, kid: &str, alg: Alg, input: &[u8]) -> Result<Vec<u8>, SignError>;

    /// The public keys published at `now`: active keys, keys about to become active, and
    /// retired keys whose tokens may still be alive.
    fn jwks(&self, now: UnixTime) -> JwkSet;

    /// The public key `kid`, if tokens signed with it may still be accepted at `now`.
    fn verification_key(&self, kid: &str, now: UnixTime) -> Option<jose_jwk::Jwk> {
        self.jwks(now).keys.into_iter().find(|k| k.prm.kid.as_deref() == Some(kid))
    }

    /// Counters and gauges for monitoring, when the backend keeps them.
    fn metrics(&self) -> Option<SignerMetrics> {
        None
    }
}
