//! Signing counters by key and algorithm, and the session-pool gauges.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gatehouse_protocol::signer::{Alg, SignerMetrics, SigningStats};
use gatehouse_protocol::store::PoolStats;
use parking_lot::Mutex;

#[derive(Default)]
struct Counters {
    operations: u64,
    errors: u64,
    micros_total: u64,
    micros_max: u64,
}

/// Counters shared by the signing threads. Means and maxima cover the whole run.
pub(crate) struct Metrics {
    by_key: Mutex<BTreeMap<String, BTreeMap<Alg, Counters>>>,
    /// Sessions busy signing.
    busy: AtomicU64,
    /// Requests waiting for a session.
    waiting: AtomicU64,
    waits: AtomicU64,
    wait_micros_total: AtomicU64,
    wait_micros_max: AtomicU64,
    /// The device's own time per signature, by algorithm (in [`Alg::ALL`]'s order): a moving
    /// average in nanoseconds, `u64::MAX` until the first signature.
    device_nanos: [AtomicU64; 4],
    /// Signatures made on the requester's thread.
    inline: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            by_key: Mutex::default(),
            busy: AtomicU64::default(),
            waiting: AtomicU64::default(),
            waits: AtomicU64::default(),
            wait_micros_total: AtomicU64::default(),
            wait_micros_max: AtomicU64::default(),
            device_nanos: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            inline: AtomicU64::default(),
        }
    }
}

fn index(alg: Alg) -> usize {
    Alg::ALL.iter().position(|a| *a == alg).unwrap_or(0)
}

impl Metrics {
    /// Records the device's time for one signature: an average over about the last eight.
    /// Two threads recording at once may lose one sample, which an average can afford.
    pub fn device_time(&self, alg: Alg, took: Duration) {
        let sample = took.as_nanos().min(u64::MAX as u128 / 2) as u64;
        let cell = &self.device_nanos[index(alg)];
        let old = cell.load(Ordering::Relaxed);
        let new = if old == u64::MAX { sample } else { old - old / 8 + sample / 8 };
        cell.store(new, Ordering::Relaxed);
    }

    /// Whether the device has lately signed `alg` in less than `limit`.
    pub fn faster_than(&self, alg: Alg, limit: Duration) -> bool {
        (self.device_nanos[index(alg)].load(Ordering::Relaxed) as u128) < limit.as_nanos()
    }

    /// A request signs on its own thread.
    pub fn inline_started(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
        self.inline.fetch_add(1, Ordering::Relaxed);
    }

    /// Signatures made on the requester's thread so far.
    pub fn inline(&self) -> u64 {
        self.inline.load(Ordering::Relaxed)
    }

    pub fn queued(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was withdrawn before a session took it.
    pub fn unqueued(&self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }

    /// A request left the queue for a session after `waited`.
    pub fn started(&self, waited: Duration) {
        let micros = waited.as_micros() as u64;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        self.busy.fetch_add(1, Ordering::Relaxed);
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.wait_micros_total.fetch_add(micros, Ordering::Relaxed);
        self.wait_micros_max.fetch_max(micros, Ordering::Relaxed);
    }

    /// A request finished, successfully or not, `took` after it was queued.
    pub fn finished(&self, kid: &str, alg: Alg, ok: bool, took: Duration) {
        self.busy.fetch_sub(1, Ordering::Relaxed);
        let micros = took.as_micros() as u64;
        let mut by_key = self.by_key.lock();
        let algs = match by_key.get_mut(kid) {
            Some(algs) => algs,
            None => by_key.entry(kid.to_owned()).or_default(),
        };
        let counters = algs.entry(alg).or_default();
        if ok {
            counters.operations += 1;
        } else {
            counters.errors += 1;
        }
        counters.micros_total += micros;
        counters.micros_max = counters.micros_max.max(micros);
    }

    pub fn snapshot(&self, sessions: usize) -> SignerMetrics {
        let signing = self
            .by_key
            .lock()
            .iter()
            .flat_map(|(kid, algs)| algs.iter().map(move |(alg, c)| (kid, alg, c)))
            .map(|(kid, alg, c)| {
                let requests = c.operations + c.errors;
                SigningStats {
                    kid: kid.clone(),
                    alg: *alg,
                    operations: c.operations,
                    errors: c.errors,
                    mean_ms: if requests == 0 { 0.0 } else { c.micros_total as f64 / requests as f64 / 1000.0 },
                    max_ms: c.micros_max as f64 / 1000.0,
                }
            })
            .collect();
        let busy = self.busy.load(Ordering::Relaxed).min(sessions as u64);
        let waits = self.waits.load(Ordering::Relaxed);
        let wait_total = self.wait_micros_total.load(Ordering::Relaxed);
        let pool = PoolStats {
            max_connections: sessions as u64,
            active_connections: busy,
            idle_connections: sessions as u64 - busy,
            waiting_for_connection: self.waiting.load(Ordering::Relaxed),
            mean_wait_ms: if waits == 0 { 0.0 } else { wait_total as f64 / waits as f64 / 1000.0 },
            max_wait_ms: self.wait_micros_max.load(Ordering::Relaxed) as f64 / 1000.0,
        };
        SignerMetrics { signing, sessions: Some(pool) }
    }
}
