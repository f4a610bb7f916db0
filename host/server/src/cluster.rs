//! This host as a member of a cluster of hosts sharing one database: it follows the change
//! feed (forgetting cached clients other hosts changed, following plugin catalog records),
//! refreshes its plugin reports and catches up with the catalog every
//! [`REPORT_INTERVAL`], and publishes the feed's lag and the plugins' convergence.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use gatehouse_plugin_host::{Cluster, REPORT_TTL_SECS};
use gatehouse_protocol::store::Store;
use gatehouse_store::{CachedStore, Follower, News};

use crate::metrics::{MetricSource, Snapshot};

/// How often a host refreshes its plugin reports and re-reads the whole plugin catalog (in
/// case the feed missed something).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(REPORT_TTL_SECS as u64 / 3);

/// The change feed's gauges and counters.
#[derive(Default)]
pub struct FeedMetrics {
    /// Whether this backend has a feed at all (PostgreSQL).
    enabled: AtomicBool,
    /// The backend's clock at the last successful read, in milliseconds.
    last_read_ms: AtomicI64,
    /// The largest delay, in milliseconds, between a change being recorded and this host
    /// acting on it, over the last read that brought changes.
    lag_ms: AtomicI64,
    changes: AtomicU64,
    lost: AtomicU64,
    failed_reads: AtomicU64,
    /// Clustered plugins whose serving version here is not the catalog's, at the last report.
    diverged_plugins: AtomicU64,
}

impl MetricSource for FeedMetrics {
    fn collect(&self, out: &mut Snapshot) {
        if self.enabled.load(Ordering::Relaxed) {
            out.gauge("cluster.feed.lag_ms", self.lag_ms.load(Ordering::Relaxed) as f64);
            out.gauge("cluster.feed.last_read_ms", self.last_read_ms.load(Ordering::Relaxed) as f64);
            out.counter("cluster.feed.changes", self.changes.load(Ordering::Relaxed));
            out.counter("cluster.feed.lost", self.lost.load(Ordering::Relaxed));
            out.counter("cluster.feed.failed_reads", self.failed_reads.load(Ordering::Relaxed));
        }
        out.gauge("cluster.plugins.diverged", self.diverged_plugins.load(Ordering::Relaxed) as f64);
    }
}

/// What the membership task needs.
pub struct Membership {
    pub cache: Arc<CachedStore>,
    pub store: Arc<dyn Store>,
    pub plugins: Cluster,
    pub feed_interval: Duration,
    pub follower: Option<Follower>,
    pub metrics: Arc<FeedMetrics>,
}

impl Membership {
    /// Runs until the task is aborted.
    pub async fn run(mut self) {
        self.metrics.enabled.store(self.follower.is_some(), Ordering::Relaxed);
        let mut feed = tokio::time::interval(self.feed_interval);
        feed.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut report = tokio::time::interval_at(tokio::time::Instant::now() + REPORT_INTERVAL, REPORT_INTERVAL);
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            let store = self.store.clone();
            tokio::select! {
                // A NOTIFY (when on) or the interval, whichever comes first.
                _ = async { tokio::select! { _ = feed.tick() => {}, _ = store.changed() => {} } }, if self.follower.is_some() => {
                    let follower = self.follower.as_mut().expect("checked by the guard");
                    match follower.poll(self.store.as_ref()).await {
                        Ok(news) => {
                            if failing {
                                tracing::info!("the change feed is readable again");
                                failing = false;
                            }
                            let now_ms = follower.last_read_ms();
                            self.metrics.last_read_ms.store(now_ms, Ordering::Relaxed);
                            self.act(news, now_ms);
                        }
                        Err(e) => {
                            self.metrics.failed_reads.fetch_add(1, Ordering::Relaxed);
                            if !failing {
                                tracing::warn!(error = %e, "cannot read the change feed; cached clients expire by their time-to-live meanwhile");
                                failing = true;
                            }
                        }
                    }
                }
                _ = report.tick() => {
                    if let Err(e) = self.plugins.converge_all().await {
                        tracing::warn!(error = %e, "cannot refresh the plugin catalog");
                    }
                    self.metrics.diverged_plugins.store(self.plugins.diverged().await, Ordering::Relaxed);
                }
            }
        }
    }

    fn act(&self, news: News, now_ms: i64) {
        match news {
            News::Lost => {
                self.metrics.lost.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "lost track of the change feed: forgetting every cached client and re-reading the plugin catalog"
                );
                self.cache.forget_all();
                let plugins = self.plugins.clone();
                tokio::spawn(async move {
                    if let Err(e) = plugins.converge_all().await {
                        tracing::warn!(error = %e, "cannot re-read the plugin catalog");
                    }
                });
            }
            News::Changes(changes) => {
                if changes.is_empty() {
                    return;
                }
                self.metrics.changes.fetch_add(changes.len() as u64, Ordering::Relaxed);
                let lag = changes.iter().map(|c| now_ms - c.at_ms).max().unwrap_or(0);
                self.metrics.lag_ms.store(lag.max(0), Ordering::Relaxed);
                for change in changes {
                    match change.collection.as_str() {
                        "clients" => self.cache.forget("clients", &change.key),
                        "plugin_catalog" => {
                            // Loading a version can take seconds; the feed goes on meanwhile.
                            let (plugins, metrics) = (self.plugins.clone(), self.metrics.clone());
                            tokio::spawn(async move {
                                if let Err(e) = plugins.converge(&change.key).await {
                                    tracing::warn!(plugin = %change.key, error = %e, "cannot follow a plugin catalog change");
                                }
                                metrics.diverged_plugins.store(plugins.diverged().await, Ordering::Relaxed);
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// This host's default name in the cluster: the machine's host name and the port.
pub fn default_host_name(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}:{port}")
}
