//! A small pool of blocking connections run on tokio's blocking threads, with the gauges the
//! monitoring endpoint publishes (active, idle, waiting, mean and max wait).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use gatehouse_protocol::store::{PoolStats, StoreError};
use tokio::sync::Semaphore;

pub(crate) struct Pool<C> {
    idle: Mutex<Vec<C>>,
    permits: Semaphore,
    size: usize,
    waiting: AtomicU64,
    waits: AtomicU64,
    wait_micros_total: AtomicU64,
    wait_micros_max: AtomicU64,
}

impl<C: Send + 'static> Pool<C> {
    pub fn new(conns: Vec<C>) -> Self {
        let size = conns.len();
        Self {
            idle: Mutex::new(conns),
            permits: Semaphore::new(size),
            size,
            waiting: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            wait_micros_total: AtomicU64::new(0),
            wait_micros_max: AtomicU64::new(0),
        }
    }

    /// Runs `f` with a connection on a blocking thread.
    pub async fn run<R: Send + 'static>(&self, f: impl FnOnce(&mut C) -> R + Send + 'static) -> Result<R, StoreError> {
        let started = Instant::now();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let _permit = permit.map_err(|_| StoreError::Unavailable("the connection pool is closed".into()))?;
        let waited = started.elapsed().as_micros() as u64;
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.wait_micros_total.fetch_add(waited, Ordering::Relaxed);
        self.wait_micros_max.fetch_max(waited, Ordering::Relaxed);

        let mut conn = self.checkout()?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let r = f(&mut conn);
            (conn, r)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("storage task failed: {e}")))?;
        self.checkin(conn);
        Ok(result)
    }

    fn checkout(&self) -> Result<C, StoreError> {
        let mut idle = self.idle.lock().map_err(|_| StoreError::Unavailable("connection pool lock poisoned".into()))?;
        idle.pop().ok_or_else(|| StoreError::Unavailable("no idle connection despite a permit".into()))
    }

    fn checkin(&self, conn: C) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    pub fn stats(&self) -> PoolStats {
        let idle = self.idle.lock().map(|i| i.len()).unwrap_or(0) as u64;
        let waits = self.waits.load(Ordering::Relaxed);
        let total = self.wait_micros_total.load(Ordering::Relaxed);
        PoolStats {
            max_connections: self.size as u64,
            active_connections: self.size as u64 - idle.min(self.size as u64),
            idle_connections: idle,
            waiting_for_connection: self.waiting.load(Ordering::Relaxed),
            mean_wait_ms: if waits == 0 { 0.0 } else { total as f64 / waits as f64 / 1000.0 },
            max_wait_ms: self.wait_micros_max.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}
