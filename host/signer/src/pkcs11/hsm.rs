//! The backend's hold on the token: the loaded module, the current login with its sessions
//! and key handles, the key ring, and recovery.
//!
//! A [`Link`] is one login, from connecting to the next recovery. Sessions and private-key
//! handles are only good under the login they were made with (after a logout the old handles
//! stay invalid, and after the library is re-initialised their numbers may name other
//! objects), so they live in the link and recovery replaces them all at once:
//!
//! ```text
//!            fault (logged out, invalid handle, session gone)
//!   Link n ───────────────────────────────────────────────► close link n ─► log in, find keys ─► Link n+1
//!      │     fault (device error, library not initialised)        │ failed
//!      └──────────────────────────────────────────────────► C_Finalize ─► C_Initialize ─► log in, find keys ─► Link n+1
//! ```
//!
//! While there is no link, signing fails at once with [`SignError::Device`]; the supervisor
//! retries with backoff. Publication (the key ring) stays as it was during an outage.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use cryptoki::context::Pkcs11;
use cryptoki::error::Error as CkError;
use cryptoki::mechanism::MechanismType;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use gatehouse_protocol::secret::Secret;
use gatehouse_protocol::signer::{Alg, SignError};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::Notify;

use super::Error;
use super::config::Pkcs11Config;
use super::discovery::{self, Scan, Skipped};
use super::metrics::Metrics;
use super::token::{self, Recovery, describe, recovery_for};
use crate::ring::KeyRing;

pub(crate) struct Hsm {
    pub config: Pkcs11Config,
    pin: Secret<String>,
    pkcs11: Pkcs11,
    link: RwLock<Option<Link>>,
    ring: RwLock<Arc<KeyRing>>,
    /// Serialises scans and recoveries, and remembers what the last scan reported.
    maintenance: Mutex<Maintenance>,
    /// The worst fault signing met under the current link, for the supervisor.
    fault: Mutex<Option<Fault>>,
    /// Wakes the supervisor.
    pub wake: Arc<Notify>,
    pub metrics: Metrics,
}

/// One login to the token.
struct Link {
    generation: u64,
    slot: Slot,
    mechanisms: Vec<MechanismType>,
    /// The session that logged in. It stays open, so the login lasts while signing sessions
    /// come and go, and it runs the scans.
    anchor: Mutex<Session>,
    /// One signing session per worker thread, opened on first use.
    sessions: Vec<Mutex<Option<Session>>>,
    /// The session requests sign in on their own thread, opened on first use; one at a time.
    inline: Mutex<Option<Session>>,
    /// Private-key handles by `kid`.
    handles: HashMap<String, ObjectHandle>,
}

impl Link {
    /// Closes every session of the link. Only for a library that was not re-initialised
    /// since: otherwise the handles may name someone else's sessions.
    fn close(self) {
        let sessions = self.sessions.into_iter().chain([self.inline]);
        for session in sessions.filter_map(Mutex::into_inner) {
            let _ = session.close();
        }
        let _ = self.anchor.into_inner().close();
    }
}

#[derive(Default)]
struct Maintenance {
    generation: u64,
    kids: HashSet<String>,
    skipped: HashSet<Skipped>,
}

#[derive(Copy, Clone, Debug)]
struct Fault {
    generation: u64,
    recovery: Recovery,
}

/// What maintenance did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Maintained {
    Rescanned,
    Recovered,
}

/// The outcome of a scan, for operators.
#[derive(Clone, Debug, Serialize)]
pub struct ScanReport {
    /// The `kid`s of the usable keys.
    pub keys: Vec<String>,
    pub skipped: Vec<Skipped>,
}

impl Hsm {
    /// Loads the module, logs in and finds the keys.
    pub fn connect(config: Pkcs11Config) -> Result<Self, Error> {
        config.check()?;
        let pin = config.pin()?;
        let pkcs11 = token::load(&config.module)?;
        let publication = config.publication();
        let hsm = Hsm {
            config,
            pin,
            pkcs11,
            link: RwLock::new(None),
            ring: RwLock::new(Arc::new(KeyRing::new(Vec::new(), publication))),
            maintenance: Mutex::new(Maintenance::default()),
            fault: Mutex::new(None),
            wake: Arc::new(Notify::new()),
            metrics: Metrics::default(),
        };
        hsm.open_link(&mut hsm.maintenance.lock())?;
        Ok(hsm)
    }

    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().clone()
    }

    /// The last scan's report.
    pub fn report(&self) -> ScanReport {
        let m = self.maintenance.lock();
        let mut keys: Vec<String> = m.kids.iter().cloned().collect();
        keys.sort();
        let mut skipped: Vec<Skipped> = m.skipped.iter().cloned().collect();
        skipped.sort_by(|a, b| (&a.id, &a.label).cmp(&(&b.id, &b.label)));
        ScanReport { keys, skipped }
    }

    /// Signs on worker `worker`'s session. Called on the worker's own thread.
    pub fn sign(&self, worker: usize, kid: &str, alg: Alg, data: &[u8]) -> Result<Vec<u8>, SignError> {
        let guard = self.link.read();
        let link =
            guard.as_ref().ok_or_else(|| SignError::Device("the HSM is unavailable; reconnecting".to_owned()))?;
        let handle = *link.handles.get(kid).ok_or_else(|| SignError::UnknownKey(kid.to_owned()))?;
        let slot =
            link.sessions.get(worker).ok_or_else(|| SignError::Device(format!("no session for worker {worker}")))?;
        self.sign_in(link, &mut slot.lock(), handle, alg, data)
    }

    /// Signs on the calling thread, in the link's inline session, when the device has lately
    /// signed `alg` faster than `inline_below`, the inline session is free and no maintenance
    /// holds the link; `None` when any of that is not so (the request then goes to the
    /// session threads). It never waits for a lock.
    pub fn try_sign_inline(&self, kid: &str, alg: Alg, data: &[u8]) -> Option<Result<Vec<u8>, SignError>> {
        if !self.metrics.faster_than(alg, self.config.inline_below) {
            return None;
        }
        let guard = self.link.try_read()?;
        let link = guard.as_ref()?;
        let mut slot = link.inline.try_lock()?;
        let Some(&handle) = link.handles.get(kid) else { return Some(Err(SignError::UnknownKey(kid.to_owned()))) };
        let started = Instant::now();
        self.metrics.inline_started();
        let result = self.sign_in(link, &mut slot, handle, alg, data);
        self.metrics.finished(kid, alg, result.is_ok(), started.elapsed());
        Some(result)
    }

    /// Signs in the session of `slot`, opening it first when needed.
    fn sign_in(
        &self,
        link: &Link,
        slot: &mut Option<Session>,
        key: ObjectHandle,
        alg: Alg,
        data: &[u8],
    ) -> Result<Vec<u8>, SignError> {
        let session = match slot {
            Some(session) => session,
            None => match self.pkcs11.open_ro_session_no_drop(link.slot) {
                Ok(session) => slot.insert(session),
                Err(e) => return Err(self.failed(link.generation, e)),
            },
        };
        let started = Instant::now();
        let signature = token::sign(session, key, alg, data).map_err(|e| self.failed(link.generation, e))?;
        self.metrics.device_time(alg, started.elapsed());
        Ok(signature)
    }

    /// Turns a failed call into the request's error, and reports faults to the supervisor.
    fn failed(&self, generation: u64, error: CkError) -> SignError {
        let message = describe(&error);
        if let Some(recovery) = recovery_for(&error) {
            let mut fault = self.fault.lock();
            let known = fault.is_some_and(|f| f.generation == generation && f.recovery >= recovery);
            if !known {
                tracing::error!(error = %message, ?recovery, "HSM fault; recovering");
                *fault = Some(Fault { generation, recovery });
                self.wake.notify_one();
            }
        }
        SignError::Device(message)
    }

    /// Runs `f` while no signing call is inside the module.
    pub fn paused<R>(&self, f: impl FnOnce() -> R) -> R {
        let _no_signing = self.link.write();
        f()
    }

    /// Whether the next maintenance is a recovery.
    pub fn needs_recovery(&self) -> bool {
        self.link.read().is_none() || self.fault.lock().is_some()
    }

    /// Rescans the token, or recovers when signing met a fault or the link is down.
    pub fn maintain(&self) -> Result<Maintained, Error> {
        let mut m = self.maintenance.lock();
        let generation = self.link.read().as_ref().map(|l| l.generation);
        let fault = self.fault.lock().take().filter(|f| Some(f.generation) == generation);
        let recovery = match (generation, fault) {
            (None, _) => Some(Recovery::Reinitialize),
            (Some(_), fault) => fault.map(|f| f.recovery),
        };
        if let Some(recovery) = recovery {
            return self.recover(&mut m, recovery).map(|()| Maintained::Recovered);
        }
        let scanned = {
            let guard = self.link.read();
            match guard.as_ref() {
                Some(link) => discovery::scan(&link.anchor.lock(), &self.config, &link.mechanisms),
                None => return Err(Error::Unavailable),
            }
        };
        match scanned {
            Ok(scan) => {
                let handles = self.install(&mut m, scan);
                if let Some(link) = self.link.write().as_mut() {
                    link.handles = handles;
                }
                Ok(Maintained::Rescanned)
            }
            Err(e) => match recovery_for(&e) {
                Some(recovery) => {
                    tracing::error!(error = %describe(&e), ?recovery, "HSM fault during a scan; recovering");
                    self.recover(&mut m, recovery).map(|()| Maintained::Recovered)
                }
                None => Err(Error::Pkcs11(e)),
            },
        }
    }

    fn recover(&self, m: &mut Maintenance, recovery: Recovery) -> Result<(), Error> {
        // The old login goes first, with every session and handle made under it, so no new
        // session can be confused with an old one.
        let old = self.link.write().take();
        *self.fault.lock() = None;
        if recovery == Recovery::Relogin {
            if let Some(old) = old {
                old.close();
            }
            match self.open_link(m) {
                Ok(()) => {
                    tracing::info!("HSM recovered: logged in again");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "logging in again failed; re-initialising the PKCS#11 library")
                }
            }
        } else {
            drop(old);
        }
        // C_Finalize closes every session; it may fail when the library is already down.
        let _ = self.pkcs11.clone().finalize();
        token::initialize(&self.pkcs11).map_err(Error::Pkcs11)?;
        self.open_link(m)?;
        tracing::info!("HSM recovered: PKCS#11 library re-initialised");
        Ok(())
    }

    /// Finds the token, logs in, scans it and makes the result the current link.
    fn open_link(&self, m: &mut Maintenance) -> Result<(), Error> {
        let label = &self.config.token_label;
        let slot = token::find_token(&self.pkcs11, label)?;
        let anchor = token::open_session(&self.pkcs11, slot, &self.pin, label, false)?;
        let mechanisms = token::offered_mechanisms(&self.pkcs11, slot);
        let scan = match discovery::scan(&anchor, &self.config, &mechanisms) {
            Ok(scan) => scan,
            Err(e) => {
                let _ = anchor.close();
                return Err(Error::Pkcs11(e));
            }
        };
        m.generation += 1;
        let handles = self.install(m, scan);
        let link = Link {
            generation: m.generation,
            slot,
            mechanisms,
            anchor: Mutex::new(anchor),
            sessions: (0..self.config.sessions).map(|_| Mutex::new(None)).collect(),
            inline: Mutex::new(None),
            handles,
        };
        *self.link.write() = Some(link);
        Ok(())
    }

    /// Makes a scan's keys the ring, logs what changed, and returns the private-key handles.
    fn install(&self, m: &mut Maintenance, scan: Scan) -> HashMap<String, ObjectHandle> {
        let kids: HashSet<String> = scan.found.iter().map(|f| f.key.kid().to_owned()).collect();
        for found in scan.found.iter().filter(|f| !m.kids.contains(f.key.kid())) {
            let key = &found.key;
            tracing::info!(kid = key.kid(), label = %key.label, id = %key.id, not_before = %key.key.not_before, not_after = %key.key.not_after, "HSM signing key found");
        }
        for kid in m.kids.difference(&kids) {
            tracing::warn!(%kid, "HSM signing key no longer on the token");
        }
        let skipped: HashSet<Skipped> = scan.skipped.into_iter().collect();
        for s in skipped.difference(&m.skipped) {
            tracing::warn!(id = %s.id, label = %s.label, reason = %s.reason, "HSM object skipped");
        }
        m.skipped = skipped;
        let handles = scan.found.iter().map(|f| (f.key.kid().to_owned(), f.handle)).collect();
        if kids.is_empty() && !m.kids.is_empty() {
            // A token that suddenly shows no key at all is more likely in trouble than
            // emptied on purpose: keep publishing what was there.
            tracing::error!("the HSM token shows no usable signing key; keeping the previous key set");
            return handles;
        }
        m.kids = kids;
        let ring = KeyRing::new(scan.found.into_iter().map(|f| f.key).collect(), self.config.publication());
        *self.ring.write() = Arc::new(ring);
        handles
    }
}

impl Drop for Hsm {
    fn drop(&mut self) {
        if let Some(link) = self.link.get_mut().take() {
            link.close();
        }
    }
}
