//! Per-plugin call metrics: counters and a latency histogram, lock-free.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

use crate::error::Incident;

/// Latency buckets: bucket `i` counts calls of less than `2^i` microseconds.
const BUCKETS: usize = 28;

#[derive(Default)]
pub(crate) struct Metrics {
    calls: AtomicU64,
    errors: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    memory_limits: AtomicU64,
    malformed: AtomicU64,
    host_failures: AtomicU64,
    no_free_instance: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

/// How a call ended, for the counters.
pub(crate) enum Outcome<'a> {
    Answered,
    /// The plugin returned an expected failure (`plugin-error`).
    PluginError,
    Incident(&'a Incident),
}

impl Metrics {
    pub(crate) fn record(&self, elapsed: Duration, outcome: Outcome<'_>) {
        let us = elapsed.as_micros().min(u64::MAX as u128) as u64;
        self.calls.fetch_add(1, Relaxed);
        self.total_us.fetch_add(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
        let bucket = (u64::BITS - us.leading_zeros()) as usize;
        self.buckets[bucket.min(BUCKETS - 1)].fetch_add(1, Relaxed);
        let counter = match outcome {
            Outcome::Answered => return,
            Outcome::PluginError => &self.errors,
            Outcome::Incident(Incident::Trap(_)) => &self.traps,
            Outcome::Incident(Incident::Timeout) => &self.timeouts,
            Outcome::Incident(Incident::MemoryLimit) => &self.memory_limits,
            Outcome::Incident(Incident::Malformed(_)) => &self.malformed,
            Outcome::Incident(Incident::Host(_)) => &self.host_failures,
            Outcome::Incident(Incident::Capacity) => &self.no_free_instance,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// Counts an answer found malformed after its call was recorded.
    pub(crate) fn malformed_answer(&self) {
        self.malformed.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, name: &str, kind: crate::Kind, active_version: Option<String>) -> PluginMetrics {
        let calls = self.calls.load(Relaxed);
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let quantile = |q: f64| {
            let total: u64 = counts.iter().sum();
            if total == 0 {
                return 0;
            }
            let rank = ((total as f64) * q).ceil() as u64;
            let mut seen = 0;
            for (i, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return 1u64 << i;
                }
            }
            1u64 << (BUCKETS - 1)
        };
        PluginMetrics {
            name: name.to_owned(),
            kind,
            active_version,
            calls,
            errors: self.errors.load(Relaxed),
            traps: self.traps.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            memory_limits: self.memory_limits.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            host_failures: self.host_failures.load(Relaxed),
            no_free_instance: self.no_free_instance.load(Relaxed),
            latency_us: Latency {
                mean: self.total_us.load(Relaxed).checked_div(calls).unwrap_or(0),
                p50: quantile(0.50),
                p99: quantile(0.99),
                max: self.max_us.load(Relaxed),
            },
        }
    }
}

/// Call metrics of one plugin (all its versions), as `/monitor/v1/metrics` publishes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PluginMetrics {
    pub name: String,
    pub kind: crate::Kind,
    pub active_version: Option<String>,
    pub calls: u64,
    /// Expected failures the plugin returned (`plugin-error`).
    pub errors: u64,
    pub traps: u64,
    pub timeouts: u64,
    pub memory_limits: u64,
    pub malformed: u64,
    pub host_failures: u64,
    /// Calls that found no free instance slot in time (capacity, not the plugin's failure).
    pub no_free_instance: u64,
    pub latency_us: Latency,
}

/// Call latency in microseconds; the quantiles are upper bounds of power-of-two buckets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub mean: u64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}
