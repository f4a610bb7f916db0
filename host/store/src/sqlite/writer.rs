//! The one writer connection, on a thread of its own, with group commit.
//!
//! Callers queue a write job and await its answer. The thread takes every job waiting (up to
//! [`MAX_BATCH`]) and runs them in one transaction, each inside a savepoint, so that a job
//! whose SQL fails is rolled back alone. Answers are sent only once the transaction has
//! committed: no caller hears "done" for a write that could still be lost, and a failed
//! commit fails every job of the batch. Under load several requests' writes share one commit;
//! alone, a job costs what an autocommit statement did.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use gatehouse_protocol::store::{PoolStats, StoreError};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::tally::Tally;

/// The most jobs one transaction holds, so that a long queue still commits often.
const MAX_BATCH: usize = 64;

/// How many jobs may wait; a caller beyond that waits to queue.
const QUEUE: usize = 4096;

/// A queued write: run its SQL, then (once the transaction's fate is known) answer its caller.
trait Work: Send {
    /// Runs the job's SQL; returns whether it succeeded (else its savepoint is rolled back).
    fn run(&mut self, c: &Connection) -> bool;
    /// Answers the caller: the job's result if the transaction committed, else the failure.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<T, F> {
    f: Option<F>,
    result: Option<rusqlite::Result<T>>,
    answer: oneshot::Sender<Result<rusqlite::Result<T>, String>>,
}

impl<T: Send, F: FnOnce(&Connection) -> rusqlite::Result<T> + Send> Work for Pending<T, F> {
    fn run(&mut self, c: &Connection) -> bool {
        let result = self.f.take().map(|f| f(c));
        let ok = matches!(result, Some(Ok(_)));
        self.result = result;
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => Ok(result),
            (Ok(()), None) => Err("the job did not run".to_owned()),
            (Err(e), _) => Err(e),
        };
        let _ = self.answer.send(answer);
    }
}

type Job = (Instant, Box<dyn Work>);

pub(crate) struct Writer {
    queue: mpsc::Sender<Job>,
    gauges: Arc<Gauges>,
}

#[derive(Default)]
struct Gauges {
    busy: AtomicBool,
    jobs: AtomicU64,
    wait_micros_total: AtomicU64,
    wait_micros_max: AtomicU64,
}

impl Writer {
    /// Starts the writer thread on `conn`; it ends when the `Writer` is dropped.
    pub fn spawn(conn: Connection, tally: Arc<Tally>) -> Result<Self, StoreError> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let gauges = Arc::new(Gauges::default());
        let g = gauges.clone();
        std::thread::Builder::new()
            .name("gatehouse-sqlite-writer".into())
            .spawn(move || run(conn, jobs, &tally, &g))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(Self { queue, gauges })
    }

    /// Runs `f` on the writer connection inside the current batch's transaction and returns
    /// its result once that transaction has committed.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<rusqlite::Result<T>, StoreError> {
        let (answer, rx) = oneshot::channel();
        let job: Box<dyn Work> = Box::new(Pending { f: Some(f), result: None, answer });
        self.queue
            .send((Instant::now(), job))
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        match rx.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("sqlite: {e}"))),
            Err(_) => Err(StoreError::Unavailable("sqlite: a write job failed".into())),
        }
    }

    pub fn stats(&self) -> PoolStats {
        let g = &self.gauges;
        let busy = g.busy.load(Ordering::Relaxed) as u64;
        let jobs = g.jobs.load(Ordering::Relaxed);
        PoolStats {
            max_connections: 1,
            active_connections: busy,
            idle_connections: 1 - busy,
            waiting_for_connection: (QUEUE - self.queue.capacity()) as u64,
            mean_wait_ms: if jobs == 0 {
                0.0
            } else {
                g.wait_micros_total.load(Ordering::Relaxed) as f64 / jobs as f64 / 1000.0
            },
            max_wait_ms: g.wait_micros_max.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

fn run(conn: Connection, mut jobs: mpsc::Receiver<Job>, tally: &Tally, gauges: &Gauges) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        gauges.busy.store(true, Ordering::Relaxed);
        commit(&conn, &mut batch, tally, gauges);
        gauges.busy.store(false, Ordering::Relaxed);
    }
}

/// Runs one batch in one transaction and answers its callers.
fn commit(conn: &Connection, batch: &mut Vec<Job>, tally: &Tally, gauges: &Gauges) {
    let statement = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(drop);
    if let Err(e) = statement("BEGIN IMMEDIATE") {
        for (_, job) in batch.drain(..) {
            job.finish(Err(format!("cannot begin a transaction: {e}")));
        }
        return;
    }
    // A job alone needs no savepoint: if it fails, the whole transaction is rolled back.
    let alone = batch.len() == 1;
    let mut failed_alone = false;
    let mut ran = Vec::with_capacity(batch.len());
    let mut pending: std::collections::VecDeque<Job> = batch.drain(..).collect();
    while let Some((queued, mut job)) = pending.pop_front() {
        let waited = queued.elapsed().as_micros() as u64;
        gauges.jobs.fetch_add(1, Ordering::Relaxed);
        gauges.wait_micros_total.fetch_add(waited, Ordering::Relaxed);
        gauges.wait_micros_max.fetch_max(waited, Ordering::Relaxed);
        if !alone && statement("SAVEPOINT job").is_err() {
            job.finish(Err("cannot open a savepoint".into()));
            continue;
        }
        // A panicking job counts as failed; its caller hears of it when its answer is dropped.
        let ok = match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
            Ok(ok) => {
                ran.push(job);
                ok
            }
            Err(_) => false,
        };
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (a full disk, say): nothing of the
            // batch is written, and the jobs not yet run are not run.
            for job in ran.drain(..) {
                job.finish(Err("the transaction was rolled back".into()));
            }
            for (_, job) in pending.drain(..) {
                job.finish(Err("the transaction was rolled back".into()));
            }
            return;
        }
        if alone {
            failed_alone = !ok;
        } else {
            if !ok {
                let _ = statement("ROLLBACK TO job");
            }
            let _ = statement("RELEASE job");
        }
    }
    // A job that failed alone is rolled back and still reports its own error.
    let committed = if failed_alone {
        let _ = statement("ROLLBACK");
        Ok(())
    } else {
        match statement("COMMIT") {
            Ok(()) => {
                tally.committed(1);
                Ok(())
            }
            Err(e) => {
                let _ = statement("ROLLBACK");
                Err(format!("commit failed: {e}"))
            }
        }
    };
    for job in ran {
        job.finish(committed.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn writer() -> (Writer, Arc<Tally>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("db.sqlite")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY)").unwrap();
        let tally = Arc::new(Tally::default());
        (Writer::spawn(conn, tally.clone()).unwrap(), tally, dir)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_writes_share_one_commit_and_a_failing_one_is_rolled_back_alone() {
        let (writer, tally, _dir) = writer();
        let writer = Arc::new(writer);
        // The first job holds the writer until the others are all queued behind it.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let w = writer.clone();
        let first = tokio::spawn(async move {
            w.run(move |c| {
                let _ = released.recv_timeout(Duration::from_secs(10));
                c.execute("INSERT INTO t VALUES (0)", [])
            })
            .await
        });
        for _ in 0..1000 {
            if writer.stats().active_connections == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut queued = Vec::new();
        for k in 1..=10i64 {
            let w = writer.clone();
            queued.push(tokio::spawn(async move {
                w.run(move |c| {
                    c.execute("INSERT INTO t VALUES (?1)", [k])?;
                    // Job 5 writes, then fails: its row must not survive.
                    if k == 5 { c.execute("INSERT INTO t VALUES (0)", []).map(drop) } else { Ok(()) }
                })
                .await
            }));
        }
        for _ in 0..1000 {
            if writer.stats().waiting_for_connection == 10 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(writer.stats().waiting_for_connection, 10, "the ten jobs are queued");
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap().unwrap(), 1);
        for (i, q) in queued.into_iter().enumerate() {
            let answer = q.await.unwrap().expect("the batch committed");
            assert_eq!(answer.is_err(), i + 1 == 5, "job {}: {answer:?}", i + 1);
        }
        let rows: Vec<i64> = writer
            .run(|c| c.prepare("SELECT k FROM t ORDER BY k")?.query_map([], |r| r.get(0))?.collect())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rows, vec![0, 1, 2, 3, 4, 6, 7, 8, 9, 10]);
        // The first job's transaction, the ten queued jobs' one, and the read's.
        assert_eq!(tally.work().write_transactions, 3);
    }

    #[tokio::test]
    async fn a_job_failing_alone_changes_nothing_and_reports_its_error() {
        let (writer, tally, _dir) = writer();
        let failed = writer
            .run(|c| {
                c.execute("INSERT INTO t VALUES (7)", [])?;
                c.execute("INSERT INTO t VALUES (7)", [])
            })
            .await
            .unwrap();
        assert!(failed.is_err());
        let n: i64 = writer.run(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))).await.unwrap().unwrap();
        assert_eq!(n, 0);
        assert_eq!(tally.work().write_transactions, 1, "only the read's transaction committed");
    }

    #[tokio::test]
    async fn a_panicking_job_fails_its_caller_and_the_writer_goes_on() {
        let (writer, _tally, _dir) = writer();
        let panicked = writer.run(|_| -> rusqlite::Result<()> { panic!("a bug in a job") }).await;
        assert!(panicked.is_err());
        let n: i64 = writer.run(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))).await.unwrap().unwrap();
        assert_eq!(n, 0);
    }
}
