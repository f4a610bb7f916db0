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
#[derive(Default)]
pub(crate) struct Metrics {
    by_key: Mutex<BTreeMap<String, BTreeMap<Alg, Counters>>>,
    /// Sessions busy signing.
    busy: AtomicU64,
    /// Requests waiting for a session.
    waiting: AtomicU64,
    waits: AtomicU64,
    wait_micros_total: AtomicU64,
    wait_micros_max: AtomicU64,
}

impl Metrics {
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
