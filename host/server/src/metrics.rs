//! Metrics for `/monitor/v1/metrics`: counters, gauges and timers, rendered as JSON (the
//! seed's monitoring API) and as Prometheus text.
//!
//! Written here rather than taken from a crate: the `metrics` facade installs a process-global
//! recorder (we keep no globals, and tests run several servers in one process), and
//! `prometheus-client` has no JSON rendering. The whole thing is a map of atomics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

/// Labels of one series, in a fixed order.
pub type Labels = Vec<(&'static str, String)>;

/// One series' value in a snapshot.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Sample {
    Counter(u64),
    Gauge(f64),
    Timer(TimerSnapshot),
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct TimerSnapshot {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Collected series: name → labels → value.
#[derive(Debug, Default)]
pub struct Snapshot {
    series: BTreeMap<String, Vec<(Labels, Sample)>>,
}

impl Snapshot {
    pub fn push(&mut self, name: impl Into<String>, labels: Labels, sample: Sample) {
        self.series.entry(name.into()).or_default().push((labels, sample));
    }

    pub fn gauge(&mut self, name: impl Into<String>, value: f64) {
        self.push(name, Vec::new(), Sample::Gauge(value));
    }

    pub fn counter(&mut self, name: impl Into<String>, value: u64) {
        self.push(name, Vec::new(), Sample::Counter(value));
    }

    /// JSON grouped by kind; a labelled series is named `name{k=v,...}`.
    pub fn to_json(&self) -> Value {
        let mut groups: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
        for (name, series) in &self.series {
            for (labels, sample) in series {
                let key = if labels.is_empty() {
                    name.clone()
                } else {
                    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("{name}{{{}}}", l.join(","))
                };
                let (group, value) = match sample {
                    Sample::Counter(c) => ("counters", json!({ "count": c })),
                    Sample::Gauge(g) => ("gauges", json!({ "value": g })),
                    Sample::Timer(t) => ("timers", serde_json::to_value(t).unwrap_or(Value::Null)),
                };
                groups.entry(group).or_default().insert(key, value);
            }
        }
        json!({
            "counters": groups.remove("counters").unwrap_or_default(),
            "gauges": groups.remove("gauges").unwrap_or_default(),
            "timers": groups.remove("timers").unwrap_or_default(),
        })
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, series) in &self.series {
            let base = format!("gatehouse_{}", name.replace(['.', '-'], "_"));
            let Some((_, first)) = series.first() else { continue };
            let kind = match first {
                Sample::Counter(_) => "counter",
                Sample::Gauge(_) => "gauge",
                Sample::Timer(_) => "summary",
            };
            let metric = match first {
                Sample::Counter(_) => format!("{base}_total"),
                Sample::Timer(_) => format!("{base}_seconds"),
                Sample::Gauge(_) => base.clone(),
            };
            let _ = writeln!(out, "# TYPE {metric} {kind}");
            for (labels, sample) in series {
                let render = |extra: Option<(&str, &str)>| {
                    let mut parts: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                        .collect();
                    if let Some((k, v)) = extra {
                        parts.push(format!("{k}=\"{v}\""));
                    }
                    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
                };
                match sample {
                    Sample::Counter(c) => {
                        let _ = writeln!(out, "{metric}{} {c}", render(None));
                    }
                    Sample::Gauge(g) => {
                        let _ = writeln!(out, "{metric}{} {g}", render(None));
                    }
                    Sample::Timer(t) => {
                        let _ = writeln!(out, "{metric}{} {}", render(Some(("quantile", "0.5"))), t.p50_ms / 1000.0);
                        let _ = writeln!(out, "{metric}{} {}", render(Some(("quantile", "0.99"))), t.p99_ms / 1000.0);
                        let _ = writeln!(out, "{metric}_sum{} {}", render(None), t.mean_ms * t.count as f64 / 1000.0);
                        let _ = writeln!(out, "{metric}_count{} {}", render(None), t.count);
                    }
                }
            }
        }
        out
    }
}

/// Something that contributes series to the snapshot (the store's pool, the signer, plugins).
pub trait MetricSource: Send + Sync {
    fn collect(&self, out: &mut Snapshot);
}

/// A latency recorder: count, sum, max and a log₂ histogram of microseconds for quantiles.
pub struct Timer {
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
    buckets: [AtomicU64; 40],
}

impl Default for Timer {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Timer {
    pub fn record(&self, elapsed: Duration) {
        let us = elapsed.as_micros().min(u64::MAX as u128) as u64;
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        let bucket = (64 - us.leading_zeros()) as usize;
        self.buckets[bucket.min(39)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> TimerSnapshot {
        let count = self.count.load(Ordering::Relaxed);
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        // The upper bound of the bucket holding the quantile: within a factor of two.
        let quantile = |q: f64| {
            let target = (count as f64 * q).ceil() as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= target && *c > 0 {
                    return (1u64 << i) as f64 / 1000.0;
                }
            }
            0.0
        };
        TimerSnapshot {
            count,
            mean_ms: if count == 0 { 0.0 } else { self.sum_us.load(Ordering::Relaxed) as f64 / count as f64 / 1000.0 },
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
            max_ms: self.max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

/// HTTP request metrics by route and status class.
#[derive(Default)]
pub struct HttpMetrics {
    routes: Mutex<BTreeMap<(String, u16), std::sync::Arc<Timer>>>,
}

impl HttpMetrics {
    pub fn record(&self, route: &str, status: u16, elapsed: Duration) {
        let class = status / 100 * 100;
        let timer = {
            let Ok(mut routes) = self.routes.lock() else { return };
            routes.entry((route.to_owned(), class)).or_default().clone()
        };
        timer.record(elapsed);
    }
}

impl MetricSource for HttpMetrics {
    fn collect(&self, out: &mut Snapshot) {
        let Ok(routes) = self.routes.lock() else { return };
        for ((route, class), timer) in routes.iter() {
            let labels = vec![("route", route.clone()), ("status", format!("{}xx", class / 100))];
            out.push("http.requests", labels, Sample::Timer(timer.snapshot()));
        }
    }
}

/// The storage backend's connection-pool gauges (seed v6.2), and its statement and
/// write-transaction counters.
pub struct StorePool(pub std::sync::Arc<dyn gatehouse_protocol::store::Store>);

impl MetricSource for StorePool {
    fn collect(&self, out: &mut Snapshot) {
        if let Some(s) = self.0.pool_stats() {
            pool_gauges(out, "storage.pool", "connection", &s);
        }
        if let Some(w) = self.0.work() {
            for (collection, reads, writes) in w.statements {
                for (kind, n) in [("read", reads), ("write", writes)] {
                    let labels = vec![("collection", collection.to_owned()), ("kind", kind.to_owned())];
                    out.push("storage.statements", labels, Sample::Counter(n));
                }
            }
            out.counter("storage.write_transactions", w.write_transactions);
        }
    }
}

/// The listener's caps: `http.connections_open`, `http.requests_in_flight`.
pub struct Listener(pub std::sync::Arc<crate::serve::Gates>);

impl MetricSource for Listener {
    fn collect(&self, out: &mut Snapshot) {
        out.gauge("http.connections_open", self.0.open_connections() as f64);
        out.gauge("http.requests_in_flight", self.0.requests_in_flight() as f64);
    }
}

/// A pool's gauges (seed v6.2): `<prefix>.max_<unit>s`, `.active_<unit>s`, `.idle_<unit>s`,
/// `.waiting_for_<unit>`, `.mean_wait_ms`, `.max_wait_ms`.
fn pool_gauges(out: &mut Snapshot, prefix: &str, unit: &str, s: &gatehouse_protocol::store::PoolStats) {
    out.gauge(format!("{prefix}.max_{unit}s"), s.max_connections as f64);
    out.gauge(format!("{prefix}.active_{unit}s"), s.active_connections as f64);
    out.gauge(format!("{prefix}.idle_{unit}s"), s.idle_connections as f64);
    out.gauge(format!("{prefix}.waiting_for_{unit}"), s.waiting_for_connection as f64);
    out.gauge(format!("{prefix}.mean_wait_ms"), s.mean_wait_ms);
    out.gauge(format!("{prefix}.max_wait_ms"), s.max_wait_ms);
}

/// Signing counters by key and algorithm, and the HSM session-pool gauges beside the
/// storage pool's.
pub struct SignerMetricsSource(pub std::sync::Arc<dyn gatehouse_protocol::signer::Signer>);

impl MetricSource for SignerMetricsSource {
    fn collect(&self, out: &mut Snapshot) {
        let Some(m) = self.0.metrics() else { return };
        for s in &m.signing {
            let labels = || vec![("kid", s.kid.clone()), ("alg", s.alg.to_string())];
            out.push("signing.operations", labels(), Sample::Counter(s.operations));
            out.push("signing.errors", labels(), Sample::Counter(s.errors));
            out.push("signing.latency.mean_ms", labels(), Sample::Gauge(s.mean_ms));
            out.push("signing.latency.max_ms", labels(), Sample::Gauge(s.max_ms));
        }
        if let Some(p) = m.sessions {
            pool_gauges(out, "signing.pool", "session", &p);
        }
    }
}

/// Per-plugin call metrics: calls, expected errors, incidents by kind, latency; and the engine's
/// instance slots.
pub struct PluginCalls(pub gatehouse_plugin_host::PluginHost);

impl MetricSource for PluginCalls {
    fn collect(&self, out: &mut Snapshot) {
        for m in self.0.metrics() {
            let labels = || vec![("plugin", m.name.clone()), ("kind", m.kind.to_string())];
            for (name, value) in [
                ("plugins.calls", m.calls),
                ("plugins.errors", m.errors),
                ("plugins.traps", m.traps),
                ("plugins.timeouts", m.timeouts),
                ("plugins.memory_limits", m.memory_limits),
                ("plugins.malformed", m.malformed),
                ("plugins.host_failures", m.host_failures),
                ("plugins.no_free_instance", m.no_free_instance),
            ] {
                out.push(name, labels(), Sample::Counter(value));
            }
            let ms = |us: u64| us as f64 / 1000.0;
            let timer = TimerSnapshot {
                count: m.calls,
                mean_ms: ms(m.latency_us.mean),
                p50_ms: ms(m.latency_us.p50),
                p99_ms: ms(m.latency_us.p99),
                max_ms: ms(m.latency_us.max),
            };
            out.push("plugins.latency", labels(), Sample::Timer(timer));
        }
        let slots = self.0.instance_slots();
        for (state, value) in [("total", slots.total), ("reserved", slots.reserved), ("in_use", slots.in_use)] {
            out.push("plugins.instance_slots", vec![("state", state.to_owned())], Sample::Gauge(f64::from(value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_quantiles_are_within_a_factor_of_two() {
        let t = Timer::default();
        for _ in 0..99 {
            t.record(Duration::from_micros(100));
        }
        t.record(Duration::from_millis(50));
        let s = t.snapshot();
        assert_eq!(s.count, 100);
        assert!(s.p50_ms >= 0.1 && s.p50_ms <= 0.2, "{s:?}");
        assert!(s.max_ms >= 50.0, "{s:?}");
    }

    #[test]
    fn renders_json_and_prometheus() {
        let mut snap = Snapshot::default();
        snap.gauge("storage.pool.idle_connections", 3.0);
        snap.push("signing.operations", vec![("alg", "ES256".into())], Sample::Counter(7));
        let json = snap.to_json();
        assert_eq!(json["gauges"]["storage.pool.idle_connections"]["value"], 3.0);
        assert_eq!(json["counters"]["signing.operations{alg=ES256}"]["count"], 7);
        let text = snap.to_prometheus();
        assert!(text.contains("gatehouse_signing_operations_total{alg=\"ES256\"} 7"), "{text}");
        assert!(text.contains("# TYPE gatehouse_storage_pool_idle_connections gauge"), "{text}");
    }
}
