//! A small pool of blocking connections run on tokio's blocking threads, with the gauges the
//! monitoring endpoint publishes (active, idle, waiting, mean and max wait).
//!
//! The blocking task itself puts the connection back and then releases its permit, so a
//! request abandoned mid-query (a client hanging up) cannot leak a connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gatehouse_protocol::store::{PoolStats, StoreError};
use tokio::sync::Semaphore;

pub(crate) struct Pool<C> {
    inner: Arc<Inner<C>>,
    permits: Arc<Semaphore>,
}

struct Inner<C> {
    idle: Mutex<Vec<C>>,
    size: usize,
    waiting: AtomicU64,
    waits: AtomicU64,
    wait_micros_total: AtomicU64,
    wait_micros_max: AtomicU64,
}

impl<C> Inner<C> {
    fn checkout(&self) -> Result<C, StoreError> {
        let mut idle = self.idle.lock().map_err(|_| StoreError::Unavailable("connection pool lock poisoned".into()))?;
        idle.pop().ok_or_else(|| StoreError::Unavailable("no idle connection despite a permit".into()))
    }

    fn checkin(&self, conn: C) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

impl<C: Send + 'static> Pool<C> {
    pub fn new(conns: Vec<C>) -> Self {
        let size = conns.len();
        Self {
            permits: Arc::new(Semaphore::new(size)),
            inner: Arc::new(Inner {
                idle: Mutex::new(conns),
                size,
                waiting: AtomicU64::new(0),
                waits: AtomicU64::new(0),
                wait_micros_total: AtomicU64::new(0),
                wait_micros_max: AtomicU64::new(0),
            }),
        }
    }

    /// Runs `f` with a connection on a blocking thread.
    pub async fn run<R: Send + 'static>(&self, f: impl FnOnce(&mut C) -> R + Send + 'static) -> Result<R, StoreError> {
        let started = Instant::now();
        let inner = &self.inner;
        inner.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.permits.clone().acquire_owned().await;
        inner.waiting.fetch_sub(1, Ordering::Relaxed);
        let permit = permit.map_err(|_| StoreError::Unavailable("the connection pool is closed".into()))?;
        let waited = started.elapsed().as_micros() as u64;
        inner.waits.fetch_add(1, Ordering::Relaxed);
        inner.wait_micros_total.fetch_add(waited, Ordering::Relaxed);
        inner.wait_micros_max.fetch_max(waited, Ordering::Relaxed);

        let mut conn = inner.checkout()?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let result = f(&mut conn);
            inner.checkin(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))
    }

    /// Runs `f` on the calling thread if a connection is idle at once; `None` (and `f` not
    /// run) otherwise. For work shorter than the hand-off to a blocking thread.
    pub fn try_here<R>(&self, f: impl FnOnce(&mut C) -> R) -> Option<R> {
        let permit = self.permits.try_acquire().ok()?;
        let mut conn = self.inner.checkout().ok()?;
        self.inner.waits.fetch_add(1, Ordering::Relaxed);
        let result = f(&mut conn);
        self.inner.checkin(conn);
        drop(permit);
        Some(result)
    }

    pub fn stats(&self) -> PoolStats {
        let inner = &self.inner;
        let size = inner.size as u64;
        let idle = (inner.idle.lock().map(|i| i.len()).unwrap_or(0) as u64).min(size);
        let waits = inner.waits.load(Ordering::Relaxed);
        let total = inner.wait_micros_total.load(Ordering::Relaxed);
        PoolStats {
            max_connections: size,
            active_connections: size - idle,
            idle_connections: idle,
            waiting_for_connection: inner.waiting.load(Ordering::Relaxed),
            mean_wait_ms: if waits == 0 { 0.0 } else { total as f64 / waits as f64 / 1000.0 },
            max_wait_ms: inner.wait_micros_max.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_abandoned_call_returns_its_connection() {
        let pool = Arc::new(Pool::new(vec![()]));
        let p = pool.clone();
        let call = tokio::spawn(async move { p.run(|_| std::thread::sleep(Duration::from_millis(100))).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        call.abort();
        // The only connection comes back once the abandoned query finishes.
        let again = tokio::time::timeout(Duration::from_secs(2), pool.run(|_| 42)).await;
        assert_eq!(again.expect("the connection came back").unwrap(), 42);
        assert_eq!(pool.stats().idle_connections, 1);
    }
}
