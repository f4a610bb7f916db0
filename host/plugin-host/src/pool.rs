//! Instances prepared ahead of calls.
//!
//! Instantiating a component and tearing the instance down cost little for a Rust guest but
//! a lot for an interpreted one (a Python or JavaScript guest carries its interpreter's heap).
//! So each plugin version keeps a few instances instantiated ahead of need. A call takes one,
//! uses it for that call only and hands it to the keeper, a background task that drops it
//! (resetting its memory slot) and instantiates a replacement. A call thus pays for neither,
//! and still never sees memory another call touched.
//!
//! ```text
//!   keeper ──instantiate──▶ ready ──lease──▶ one call ──spent──▶ keeper drops it
//!                                    ▲            │ reuse_instances, call succeeded
//!                                    └────────────┘
//! ```
//!
//! With `reuse_instances` (an explicit opt-in in the manifest), an instance whose call
//! succeeded goes back to the ready queue instead, until it has served
//! [`Manifest::MAX_CALLS_PER_INSTANCE`] calls; one whose call failed is always discarded.
//! When the queue is empty (a burst, or `prepared_instances = 0`), the call instantiates
//! for itself; when the keeper lags behind in dropping spent instances, calls drop their own,
//! so spent instances never hold more than a few of the engine's slots.
//!
//! With `instance_per_login` (login hooks), an instance whose call succeeded is kept for the
//! login (the authorization session) it served, and serves that login's next stage; never
//! another login's. It is dropped after the login's last stage (`before-response`), after
//! [`LOGIN_IDLE`] without a call, when the version stops serving, or, the oldest first, when
//! [`MAX_LOGINS`] logins hold one or a call finds no free slot.
//!
//! Only a version that serves keeps instances ready. A version is prepared while it loads, so
//! it serves its first calls from the pool; once it is installed but not active (replaced,
//! rolled back from, deactivated) its pool is parked: the ready instances are dropped and
//! their slots and memory return to the engine until the version is activated again.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

use crate::manifest::Manifest;
use crate::runtime::{self, Grants, Runtime, State};
use crate::slots::{NoFreeInstance, Reservation, Slot};

/// An instance with its own store, ready for a call.
pub(crate) struct Ready {
    store: Store<State>,
    instance: Instance,
    /// Calls it has served (more than one only with `reuse_instances`).
    calls: u32,
    /// The engine slot it occupies; declared last, so it is given back after the store is
    /// dropped.
    _slot: Slot,
}

/// The prepared instances of one plugin version.
pub(crate) struct Pool {
    ready: Mutex<VecDeque<Ready>>,
    /// How many instances the keeper keeps ready.
    target: usize,
    reuse: bool,
    pre: InstancePre<State>,
    runtime: Arc<Runtime>,
    grants: Grants,
    /// Spent instances go to the keeper, which drops them off the request path.
    spent: mpsc::UnboundedSender<Ready>,
    /// Spent instances sent to the keeper and not dropped yet.
    backlog: AtomicUsize,
    /// Whether the version serves, and so keeps instances ready.
    serving: AtomicBool,
    /// Wakes the keeper when `serving` changes.
    wake: Arc<Notify>,
    /// With `instance_per_login`: the instance each login in progress keeps, and when it last
    /// served.
    logins: Mutex<HashMap<String, (Ready, Instant)>>,
    per_login: bool,
    /// The version's reserved slots, kept while it is loaded.
    _reservation: Reservation,
}

/// The most logins that keep an instance at once, per plugin version.
pub(crate) const MAX_LOGINS: usize = 64;
/// How long a login's instance is kept without a call.
pub(crate) const LOGIN_IDLE: Duration = Duration::from_secs(600);

/// The most spent instances waiting for the keeper; past that, calls drop their own.
const MAX_BACKLOG: usize = 4;

impl Pool {
    /// A pool for a plugin version, and its keeper (on the current Tokio runtime), which fills
    /// it and stops when the pool is dropped. Refused when the version's reservation of slots
    /// does not fit.
    pub(crate) fn start(
        manifest: &Manifest,
        pre: InstancePre<State>,
        runtime: Arc<Runtime>,
    ) -> Result<Arc<Pool>, String> {
        let grants = Grants::of(manifest);
        let reservation = runtime.slots.reserve(&grants.plugin, manifest.limits.reserved_instances)?;
        let (spent, returned) = mpsc::unbounded_channel();
        let wake = Arc::new(Notify::new());
        let pool = Arc::new(Pool {
            ready: Mutex::new(VecDeque::new()),
            target: manifest.limits.prepared_instances as usize,
            reuse: manifest.reuse_instances,
            pre,
            runtime,
            grants,
            spent,
            backlog: AtomicUsize::new(0),
            serving: AtomicBool::new(true),
            wake: wake.clone(),
            logins: Mutex::new(HashMap::new()),
            per_login: manifest.instance_per_login,
            _reservation: reservation,
        });
        tokio::spawn(keep(Arc::downgrade(&pool), returned, wake));
        Ok(pool)
    }

    /// Starts or stops keeping instances ready. Parking drops the ready ones at once.
    pub(crate) fn set_serving(&self, serving: bool) {
        if self.serving.swap(serving, Relaxed) == serving {
            return;
        }
        if !serving {
            let parked = std::mem::take(&mut *self.ready.lock().expect("pool lock"));
            drop(parked);
            let logins = std::mem::take(&mut *self.logins.lock().expect("logins lock"));
            drop(logins);
        }
        self.wake.notify_one();
    }

    /// Instances ready for calls now.
    pub(crate) fn prepared(&self) -> usize {
        self.len()
    }

    /// An instance for one call: a prepared one, or a new one when none is ready, waiting up
    /// to `wait` for a free slot.
    pub(crate) async fn lease(self: &Arc<Self>, wait: Duration) -> wasmtime::Result<Lease> {
        let ready = self.ready.lock().expect("pool lock").pop_front();
        let ready = match ready {
            Some(ready) => ready,
            None => self.instantiate(wait).await?,
        };
        Ok(Lease { ready: Some(ready), pool: self.clone(), login: None })
    }

    /// An instance for one call of a login: the one the login kept, or one as [`Pool::lease`]
    /// gives (freeing the oldest kept one first when no slot is free). With `keep`, a call that
    /// succeeds leaves the instance kept for the login's next call.
    pub(crate) async fn lease_for_login(
        self: &Arc<Self>,
        login: &str,
        keep: bool,
        wait: Duration,
    ) -> wasmtime::Result<Lease> {
        if !self.per_login {
            return self.lease(wait).await;
        }
        let kept = self.logins.lock().expect("logins lock").remove(login);
        let mut lease = match kept {
            Some((ready, _)) => Lease { ready: Some(ready), pool: self.clone(), login: None },
            None => match self.lease(Duration::ZERO).await {
                Err(e) if e.root_cause().downcast_ref::<NoFreeInstance>().is_some() => {
                    self.evict_oldest();
                    self.lease(wait).await?
                }
                other => other?,
            },
        };
        lease.login = keep.then(|| login.to_owned());
        Ok(lease)
    }

    /// Keeps `ready` for `login`, dropping idle logins' instances, and the oldest when too
    /// many logins keep one.
    fn keep_for_login(&self, login: String, ready: Ready) {
        let mut spent = Vec::new();
        {
            let mut logins = self.logins.lock().expect("logins lock");
            let now = Instant::now();
            let idle: Vec<String> =
                logins.iter().filter(|(_, (_, at))| now - *at > LOGIN_IDLE).map(|(k, _)| k.clone()).collect();
            spent.extend(idle.iter().filter_map(|k| logins.remove(k)));
            if logins.len() >= MAX_LOGINS {
                spent.extend(oldest(&logins).and_then(|k| logins.remove(&k)));
            }
            logins.insert(login, (ready, now));
        }
        for (ready, _) in spent {
            self.discard(ready);
        }
    }

    fn evict_oldest(&self) {
        let evicted = {
            let mut logins = self.logins.lock().expect("logins lock");
            oldest(&logins).and_then(|k| logins.remove(&k))
        };
        if let Some((ready, _)) = evicted {
            self.discard(ready);
        }
    }

    /// Logins keeping an instance now.
    pub(crate) fn logins(&self) -> usize {
        self.logins.lock().expect("logins lock").len()
    }

    async fn instantiate(&self, wait: Duration) -> wasmtime::Result<Ready> {
        let slot = self.runtime.slots.take(&self.grants.plugin, wait).await?;
        let mut store = self.runtime.store(&self.grants);
        let instance = self.pre.instantiate_async(&mut store).await?;
        Ok(Ready { store, instance, calls: 0, _slot: slot })
    }

    fn len(&self) -> usize {
        self.ready.lock().expect("pool lock").len()
    }

    /// Hands a spent instance to the keeper, or drops it here when the keeper lags behind (or
    /// is gone, as the runtime shuts down).
    fn discard(&self, spent: Ready) {
        if self.backlog.fetch_add(1, Relaxed) >= MAX_BACKLOG || self.spent.send(spent).is_err() {
            self.backlog.fetch_sub(1, Relaxed);
        }
    }
}

/// Fills the pool while its version serves, and drops spent instances, until the pool is gone.
async fn keep(weak: Weak<Pool>, mut returned: mpsc::UnboundedReceiver<Ready>, wake: Arc<Notify>) {
    // After a preparation fails (the slots may be in use for a moment), the keeper tries again
    // only at this instant; calls instantiate for themselves meanwhile, and spent instances are
    // still dropped.
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let Some(pool) = weak.upgrade() else { return };
        while let Ok(spent) = returned.try_recv() {
            drop(spent);
            pool.backlog.fetch_sub(1, Relaxed);
        }
        if retry_at.is_none() && pool.serving.load(Relaxed) && pool.len() < pool.target {
            match pool.instantiate(Duration::ZERO).await {
                Ok(ready) if pool.serving.load(Relaxed) => pool.ready.lock().expect("pool lock").push_back(ready),
                Ok(_parked_meanwhile) => {}
                Err(e) => {
                    if e.downcast_ref::<NoFreeInstance>().is_none() {
                        tracing::warn!(plugin = &*pool.grants.plugin, error = %e, "a plugin instance could not be prepared");
                    }
                    retry_at = Some(tokio::time::Instant::now() + Duration::from_millis(100));
                }
            }
            continue;
        }
        drop(pool);
        let at = retry_at;
        let retry = async move {
            match at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            spent = returned.recv() => match spent {
                Some(spent) => {
                    drop(spent);
                    let Some(pool) = weak.upgrade() else { return };
                    pool.backlog.fetch_sub(1, Relaxed);
                }
                None => return,
            },
            () = wake.notified() => {}
            () = retry => retry_at = None,
        }
    }
}

/// The login that has kept its instance longest.
fn oldest(logins: &HashMap<String, (Ready, Instant)>) -> Option<String> {
    logins.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone())
}

/// An instance lent to one call. Dropped, it goes to the keeper to be discarded; a call that
/// succeeded gives it back with [`Lease::finish`].
pub(crate) struct Lease {
    ready: Option<Ready>,
    pool: Arc<Pool>,
    /// The login to keep the instance for when the call succeeds.
    login: Option<String>,
}

impl Lease {
    pub(crate) fn store(&mut self) -> &mut Store<State> {
        &mut self.ready.as_mut().expect("a lease holds its instance until it ends").store
    }

    pub(crate) fn instance(&self) -> Instance {
        self.ready.as_ref().expect("a lease holds its instance until it ends").instance
    }

    /// Sets the time limit of the call about to run.
    pub(crate) fn arm(&mut self, limit: Duration) {
        runtime::arm(self.store(), limit);
    }

    /// Ends a call that succeeded: the instance serves again if the plugin opted in to reuse
    /// and it has served fewer than its quota of calls; otherwise it is discarded.
    pub(crate) fn finish(mut self) {
        let Some(mut ready) = self.ready.take() else { return };
        ready.calls += 1;
        if let Some(login) = self.login.take()
            && ready.calls < Manifest::MAX_CALLS_PER_INSTANCE
            && self.pool.serving.load(Relaxed)
        {
            self.pool.keep_for_login(login, ready);
        } else if self.pool.reuse && ready.calls < Manifest::MAX_CALLS_PER_INSTANCE {
            self.pool.ready.lock().expect("pool lock").push_front(ready);
        } else {
            self.pool.discard(ready);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(ready) = self.ready.take() {
            self.pool.discard(ready);
        }
    }
}
