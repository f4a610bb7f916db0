//! Back-channel logout delivery (the protocol's `LogoutDelivery` port): each logout token is
//! POSTed (`application/x-www-form-urlencoded`, `logout_token=…`, Back-Channel Logout 1.0
//! §2.5) to the client's `backchannel_logout_uri` by a task of its own, through the outbound
//! client (https, the egress policy, its timeout), and tried again after each configured delay
//! until the client answers 200 or 204. Ending a session never waits for a client, a client
//! that is down costs only its own task, and at most [`MAX_IN_FLIGHT`] deliveries run at once
//! (more are dropped, counted and logged). Outcomes are counted for the metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use gatehouse_protocol::logout::{LogoutDelivery, LogoutNotice};

use crate::metrics::{MetricSource, Snapshot};
use crate::outbound::Outbound;

/// The most deliveries (with their retries) in progress at once.
pub const MAX_IN_FLIGHT: usize = 1024;

#[derive(Default)]
struct Counts {
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    in_flight: AtomicUsize,
}

/// Delivers logout tokens; cheap to clone.
#[derive(Clone)]
pub struct BackchannelDelivery {
    outbound: Arc<Outbound>,
    retry_delays: Arc<[Duration]>,
    counts: Arc<Counts>,
}

impl BackchannelDelivery {
    pub fn new(outbound: Arc<Outbound>, retry_delays: Vec<Duration>) -> Self {
        Self { outbound, retry_delays: retry_delays.into(), counts: Arc::default() }
    }

    /// The metrics of these deliveries.
    pub fn metrics(&self) -> Arc<dyn MetricSource> {
        Arc::new(DeliveryMetrics(self.counts.clone()))
    }

    async fn run(self, notice: LogoutNotice) {
        let form = [("logout_token", notice.logout_token.as_str())];
        let mut delays = self.retry_delays.iter();
        loop {
            let outcome = self.outbound.post_form(&notice.uri, &form).await;
            match &outcome {
                Ok(200 | 204) => {
                    self.counts.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(client_id = %notice.client_id, "back-channel logout delivered");
                    return;
                }
                Ok(status) => tracing::info!(client_id = %notice.client_id, status, "back-channel logout refused"),
                Err(e) => {
                    tracing::info!(client_id = %notice.client_id, error = %e, "back-channel logout not delivered")
                }
            }
            let Some(delay) = delays.next() else {
                self.counts.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(client_id = %notice.client_id, "back-channel logout failed after every retry");
                return;
            };
            self.counts.retried.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(*delay).await;
        }
    }
}

impl LogoutDelivery for BackchannelDelivery {
    fn deliver(&self, notices: Vec<LogoutNotice>) {
        for notice in notices {
            let counts = &self.counts;
            if counts.in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
                counts.in_flight.fetch_sub(1, Ordering::AcqRel);
                counts.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(client_id = %notice.client_id, "too many back-channel logouts in progress; one was dropped");
                continue;
            }
            let this = self.clone();
            tokio::spawn(async move {
                let counts = this.counts.clone();
                this.run(notice).await;
                counts.in_flight.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }
}

struct DeliveryMetrics(Arc<Counts>);

impl MetricSource for DeliveryMetrics {
    fn collect(&self, out: &mut Snapshot) {
        let c = &self.0;
        out.counter("logout.backchannel.delivered", c.delivered.load(Ordering::Relaxed));
        out.counter("logout.backchannel.retried", c.retried.load(Ordering::Relaxed));
        out.counter("logout.backchannel.failed", c.failed.load(Ordering::Relaxed));
        out.counter("logout.backchannel.dropped", c.dropped.load(Ordering::Relaxed));
        out.gauge("logout.backchannel.in_flight", c.in_flight.load(Ordering::Relaxed) as f64);
    }
}
