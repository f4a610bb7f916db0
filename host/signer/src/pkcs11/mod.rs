//! Signing with keys in a PKCS#11 HSM; private keys never leave it.
//!
//! - **Keys**: every private key on the token (found by label) that has an X.509 certificate
//!   with the same `CKA_ID` (see [`discovery`] for what is skipped and why). RSA keys sign
//!   RS256 and PS256, EC P-256 keys ES256, EC P-384 keys ES384.
//! - **`kid`**: the RFC 7638 thumbprint of the public key, as for software keys. It depends on
//!   the key alone, so it is stable across restarts, relabelling and certificate renewal.
//! - **Roll-over**: by certificate validity, as [`crate::ring`] describes: the valid key with
//!   the latest not-before signs; keys are published `publish_ahead` before and
//!   `retire_grace` after their validity. The token is scanned again every
//!   `rescan_interval` and on demand ([`Pkcs11Signer::rescan`]), so a key put on the token
//!   goes live without a restart. Removing a key also unpublishes it: remove keys only after
//!   their grace period.
//! - **Faults**: see [`hsm`]. A request that meets a fault fails with
//!   [`SignError::Device`](gatehouse_protocol::signer::SignError) (the protocol answers
//!   `temporarily_unavailable`); the supervisor logs in again or re-initialises the library,
//!   with backoff, and later requests succeed. Nothing is signed with a handle from an older
//!   login.
//! - **Threads**: a signature is made by a session thread ([`pool`]), so that a slow or hung
//!   device never holds the server's own threads; a request hands its job over and is woken
//!   with the answer. While the device signs an algorithm faster than `inline_below` (its
//!   measured time per signature; SoftHSM signs ES256 in ~60 µs), the hand-off costs as much
//!   CPU as the signature, so a request then signs on its own thread instead, in one more
//!   session, the inline session, if that is free; at most one request at a time does, and a
//!   device that hangs there holds one of the server's threads at most.
//! - **Sharing the module**: the module is initialised once per process; another user in the
//!   same process (the [`admin`] functions) shares it. Nobody finalises it except recovery.

pub mod admin;
mod config;
pub mod discovery;
pub mod hsm;
mod metrics;
mod pool;
mod token;

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_protocol::signer::{Alg, SignError, Signer, SignerMetrics};
use gatehouse_protocol::world::UnixTime;
use jose_jwk::{Jwk, JwkSet};
use tokio::sync::{Notify, oneshot};

pub use config::{PinSource, Pkcs11Config};
pub use discovery::Skipped;
pub use hsm::ScanReport;

use crate::ring::{KeyRing, Plan, rfc3339};
use hsm::{Hsm, Maintained};
use pool::{Job, Pool};

/// Why the HSM backend or an HSM tool could not do its work. Messages say what to fix and
/// never contain the PIN.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("[signing.pkcs11]: {0}")]
    Config(String),
    #[error("[signing.pkcs11]: {0}")]
    Pin(String),
    #[error("cannot load the PKCS#11 module {}: {reason}. Check `module` in [signing.pkcs11]", path.display())]
    Module { path: PathBuf, reason: String },
    #[error("no token labelled {label:?} (tokens present: {present}). Check `token_label` in [signing.pkcs11]")]
    TokenNotFound { label: String, present: String },
    #[error("the token {label:?} refused the login: {reason}. Check the PIN given by pin_file or pin_env")]
    Login { label: String, reason: String },
    #[error("no key on the token {label:?} has a certificate valid now ({}). {keys}", rfc3339(*now))]
    NoValidKey { label: String, now: UnixTime, keys: String },
    #[error("the HSM is unavailable; reconnecting")]
    Unavailable,
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("PKCS#11: {}", token::describe(.0))]
    Pkcs11(cryptoki::error::Error),
}

/// Backoff between recovery attempts.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The PKCS#11 signing backend.
pub struct Pkcs11Signer {
    hsm: Arc<Hsm>,
    pool: Pool,
    supervisor: tokio::task::JoinHandle<()>,
}

impl Pkcs11Signer {
    /// Connects to the token, finds the keys and starts the session threads and the
    /// supervisor (periodic rescans, recovery). Fails when no key is valid at `now`.
    pub async fn open(config: Pkcs11Config, now: UnixTime) -> Result<Self, Error> {
        let hsm = tokio::task::spawn_blocking(move || Hsm::connect(config))
            .await
            .map_err(|e| Error::Config(format!("the HSM connection task failed: {e}")))??;
        let hsm = Arc::new(hsm);
        let ring = hsm.ring();
        if Alg::ALL.into_iter().all(|alg| ring.active(alg, now).is_none()) {
            return Err(Error::NoValidKey {
                label: hsm.config.token_label.clone(),
                now,
                keys: inventory(&ring, &hsm.report()),
            });
        }
        let pool = Pool::start(&hsm)?;
        let supervisor = tokio::spawn(supervise(Arc::downgrade(&hsm), hsm.wake.clone(), hsm.config.rescan_interval));
        Ok(Self { hsm, pool, supervisor })
    }

    /// Scans the token now (or recovers, if the HSM is in trouble), so keys put on it go live.
    pub async fn rescan(&self) -> Result<ScanReport, Error> {
        let hsm = self.hsm.clone();
        tokio::task::spawn_blocking(move || hsm.maintain().map(|_| hsm.report()))
            .await
            .map_err(|e| Error::Config(format!("the rescan task failed: {e}")))?
    }

    /// Runs `f` while no signature is being made; signing requests wait meanwhile (on the
    /// session threads: inline signing is skipped while maintenance holds the link).
    ///
    /// PKCS#11 leaves undefined what happens when one thread closes a session, or logs out,
    /// while another thread works in it (SoftHSM 2.6 then frees a key under a running
    /// `C_Sign`). Whatever acts on the module from the side (fault-injection tests, operator
    /// maintenance in the same process) runs through this.
    pub async fn with_signing_paused<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let hsm = self.hsm.clone();
        match tokio::task::spawn_blocking(move || hsm.paused(f)).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// What is published and which key signs each algorithm at `now`.
    pub fn plan(&self, now: UnixTime) -> Plan {
        self.hsm.ring().plan(now)
    }

    /// The last scan's findings.
    pub fn report(&self) -> ScanReport {
        self.hsm.report()
    }

    /// How many signatures requests made on their own thread (see `inline_below`).
    pub fn inline_signatures(&self) -> u64 {
        self.hsm.metrics.inline()
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.hsm.ring()
    }
}

impl Drop for Pkcs11Signer {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

#[async_trait]
impl Signer for Pkcs11Signer {
    fn supported_algorithms(&self) -> Vec<Alg> {
        self.ring().algorithms()
    }

    fn active_key(&self, alg: Alg, now: UnixTime) -> Result<String, SignError> {
        match self.ring().active(alg, now) {
            Some(key) => Ok(key.kid().to_owned()),
            None => {
                tracing::error!(%alg, %now, "no HSM key with a valid certificate signs this algorithm");
                Err(SignError::NoKey(alg))
            }
        }
    }

    async fn sign(&self, kid: &str, alg: Alg, input: &[u8]) -> Result<Vec<u8>, SignError> {
        if !self.ring().get(kid).is_some_and(|k| k.algs().contains(&alg)) {
            return Err(SignError::UnknownKey(kid.to_owned()));
        }
        let data = token::to_be_signed(alg, input);
        if let Some(result) = self.hsm.try_sign_inline(kid, alg, &data) {
            if let Err(e) = &result {
                tracing::debug!(%kid, %alg, error = %e, "HSM signing failed");
            }
            return result;
        }
        let (reply, answer) = oneshot::channel();
        let job = Job { kid: kid.to_owned(), alg, data, queued: Instant::now(), reply };
        self.hsm.metrics.queued();
        if self.pool.send(job).is_err() {
            self.hsm.metrics.unqueued();
            return Err(SignError::Device("the HSM session threads have stopped".to_owned()));
        }
        answer.await.map_err(|_| SignError::Device("an HSM session thread stopped".to_owned()))?
    }

    fn jwks(&self, now: UnixTime) -> JwkSet {
        self.ring().jwks(now)
    }

    fn verification_key(&self, kid: &str, now: UnixTime) -> Option<Jwk> {
        self.ring().verification_key(kid, now)
    }

    fn metrics(&self) -> Option<SignerMetrics> {
        let inline = usize::from(!self.hsm.config.inline_below.is_zero());
        Some(self.hsm.metrics.snapshot(self.hsm.config.sessions + inline))
    }
}

/// Rescans every `interval`, and recovers (with backoff) when signing reports a fault.
async fn supervise(hsm: Weak<Hsm>, wake: Arc<Notify>, interval: Duration) {
    let mut backoff = MIN_BACKOFF;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = wake.notified() => {}
        }
        let Some(strong) = hsm.upgrade() else { return };
        if strong.needs_recovery() {
            drop(strong);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        let Some(strong) = hsm.upgrade() else { return };
        match tokio::task::spawn_blocking(move || strong.maintain()).await {
            Ok(Ok(Maintained::Rescanned)) => backoff = MIN_BACKOFF,
            Ok(Ok(Maintained::Recovered)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, retry_in = ?backoff, "HSM maintenance failed");
                wake.notify_one();
            }
            Err(e) => tracing::error!(error = %e, "HSM maintenance task failed"),
        }
    }
}

/// A sentence listing the keys and skipped objects, for start-up errors.
fn inventory(ring: &KeyRing, report: &ScanReport) -> String {
    let mut parts: Vec<String> = ring
        .keys()
        .iter()
        .map(|k| {
            let (from, to) = (rfc3339(k.key.not_before), rfc3339(k.key.not_after));
            format!("key {:?} (id {}) is valid from {from} to {to}", k.label, k.id)
        })
        .collect();
    parts.extend(report.skipped.iter().map(|s| format!("{:?} (id {}) was skipped: {}", s.label, s.id, s.reason)));
    if parts.is_empty() {
        "The token holds no private key with a certificate; add one with `gatehouse keys generate`.".to_owned()
    } else {
        format!("Found: {}.", parts.join("; "))
    }
}
