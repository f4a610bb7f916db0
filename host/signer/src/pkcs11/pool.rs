//! The session pool: one thread per PKCS#11 session, fed from one queue.
//!
//! Signing is a blocking call into the module, so it never runs on the async runtime's
//! threads. A `Session` may be used by one thread at a time (it is `Send`, not `Sync`), and
//! one signing operation at a time; giving each session its own thread keeps both true
//! without locking, and a busy thread takes the next job without sleeping in between.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use gatehouse_protocol::signer::{Alg, SignError};
use tokio::sync::oneshot;

use super::Error;
use super::hsm::Hsm;

/// One signature to make.
pub(crate) struct Job {
    pub kid: String,
    pub alg: Alg,
    /// What the token signs: the input, or its digest for ECDSA.
    pub data: Vec<u8>,
    pub queued: Instant,
    pub reply: oneshot::Sender<Result<Vec<u8>, SignError>>,
}

/// The session threads and their queue.
pub(crate) struct Pool {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts one thread per session.
    pub fn start(hsm: &Arc<Hsm>) -> Result<Self, Error> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let threads = (0..hsm.config.sessions)
            .map(|worker| spawn(hsm.clone(), worker, queue.clone()))
            .collect::<Result<_, _>>()?;
        Ok(Self { jobs: Some(jobs), threads })
    }

    /// Queues a job; gives it back when the threads have stopped.
    pub fn send(&self, job: Job) -> Result<(), Job> {
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|e| e.into_inner()),
            None => Err(job),
        }
    }
}

impl Drop for Pool {
    /// Closes the queue and waits for the threads, so no thread is still inside the module
    /// when its owner (or the process) goes away.
    fn drop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn spawn(hsm: Arc<Hsm>, worker: usize, queue: Receiver<Job>) -> Result<JoinHandle<()>, Error> {
    std::thread::Builder::new()
        .name(format!("hsm-session-{worker}"))
        .spawn(move || {
            for job in queue {
                hsm.metrics.started(job.queued.elapsed());
                let result = hsm.sign(worker, &job.kid, job.alg, &job.data);
                if let Err(e) = &result {
                    tracing::debug!(kid = %job.kid, alg = %job.alg, error = %e, "HSM signing failed");
                }
                hsm.metrics.finished(&job.kid, job.alg, result.is_ok(), job.queued.elapsed());
                // The requester may have gone away; then nobody needs the answer.
                let _ = job.reply.send(result);
            }
        })
        .map_err(|e| Error::Config(format!("cannot start the HSM session threads: {e}")))
}
