//! A bound on Argon2 verifications running at once. Each one takes 19 MiB and a core for tens
//! of milliseconds; without a bound, a burst of logins takes the memory and every core.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// How long a caller waits for a slot by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// The number of cores, the default bound.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// No verification slot came free in time.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

/// At most `concurrency` jobs at once, on the blocking thread pool; a caller waits at most
/// `wait` for its turn.
pub struct Gate {
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl Gate {
    pub fn new(concurrency: usize, wait: Duration) -> Gate {
        Gate { permits: Arc::new(Semaphore::new(concurrency.clamp(1, Semaphore::MAX_PERMITS))), wait }
    }

    /// Runs `job` once a slot is free, or gives up after the wait. The slot is held until the
    /// job ends, even when the caller stops waiting for it (a browser that went away).
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
        let permit = match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => return Err(Busy),
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "a password verification failed to run");
            Busy
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn no_more_than_the_bound_run_at_once() {
        let gate = Arc::new(Gate::new(2, Duration::from_secs(60)));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs: Vec<_> = (0..12)
            .map(|_| {
                let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    gate.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for job in jobs {
            assert_eq!(job.await.unwrap(), Ok(()));
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "at most two at once, saw {}", most.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_caller_that_waits_too_long_is_told_busy() {
        let gate = Arc::new(Gate::new(1, Duration::from_millis(50)));
        let (started, started_rx) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(move || {
                    started.send(()).unwrap();
                    released.recv().unwrap();
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap()).await.unwrap();
        assert_eq!(gate.run(|| ()).await, Err(Busy), "the one slot is taken");
        release.send(()).unwrap();
        assert_eq!(holder.await.unwrap(), Ok(()));
        assert_eq!(gate.run(|| 7).await, Ok(7), "free again");
    }
}
