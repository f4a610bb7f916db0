//! One loaded plugin version: a pre-instantiated component and its grants, called with an
//! instance from its pool (a fresh one per call unless the manifest opts in to reuse).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gatehouse_protocol::logged::Logged;
use wasmtime::Trap;

use crate::bindings::{Exports, claims, consent, exports::gatehouse::policy::hooks, gatehouse::policy::types};
use crate::error::{Incident, LoadError};
use crate::manifest::{Kind, Manifest};
use crate::metrics::{Metrics, Outcome};
use crate::pool::{Lease, Pool};
use crate::runtime::{MemoryLimitExceeded, Runtime};
use crate::slots::NoFreeInstance;

/// The most of an incident's description that is logged, in characters.
const MAX_INCIDENT_CHARS: usize = 8192;

/// A call on a leased instance; the future owns the lease and gives it back with the result.
type CallFuture<'q, R> = Pin<Box<dyn Future<Output = (Lease, wasmtime::Result<R>)> + Send + 'q>>;

/// A plugin's answer: its value, or the expected failure it returned.
pub(crate) type Answer<T> = Result<T, types::PluginError>;

pub(crate) struct Plugin {
    pub manifest: Manifest,
    /// SHA-256 of the component, hex.
    pub hash: String,
    pub installed_at: SystemTime,
    /// For claims sources: the claims it supplies, asked once at load.
    pub supplied_claims: Vec<String>,
    /// The interfaces the component imports (all of them granted).
    pub imports: Vec<String>,
    pool: Arc<Pool>,
    exports: Exports,
    metrics: Arc<Metrics>,
}

impl Plugin {
    /// Keeps instances ready while the version serves; parks its pool otherwise.
    pub(crate) fn set_serving(&self, serving: bool) {
        self.pool.set_serving(serving);
    }

    /// Instances ready for calls now.
    pub(crate) fn prepared_instances(&self) -> usize {
        self.pool.prepared()
    }

    /// Logins keeping an instance now (`instance_per_login`).
    pub(crate) fn login_instances(&self) -> usize {
        self.pool.logins()
    }

    /// Compiles (off the async threads), links and checks a plugin version. Nothing is
    /// activated here.
    pub(crate) async fn load(
        runtime: Arc<Runtime>,
        manifest: Manifest,
        component: Vec<u8>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, LoadError> {
        let prepared = {
            let (runtime, manifest) = (runtime.clone(), manifest.clone());
            tokio::task::spawn_blocking(move || runtime.load(&manifest, &component))
                .await
                .map_err(|e| LoadError::Compile(format!("the compile task failed: {e}")))??
        };
        let mut plugin = Plugin {
            pool: Pool::start(&manifest, prepared.pre, runtime).map_err(LoadError::Check)?,
            manifest,
            hash: prepared.hash,
            installed_at: SystemTime::now(),
            supplied_claims: Vec::new(),
            imports: prepared.imports,
            exports: prepared.exports,
            metrics,
        };
        let check = |incident: Incident| LoadError::Check(format!("a trial call failed: {incident}"));
        let supplied = match &plugin.exports {
            Exports::Claims(indices) => {
                plugin
                    .call_unrecorded(None, |mut lease| {
                        Box::pin(async move {
                            let instance = lease.instance();
                            let result = async {
                                indices.load(lease.store(), &instance)?.call_supplied_claims(lease.store()).await
                            }
                            .await;
                            (lease, result)
                        })
                    })
                    .await
            }
            _ => plugin.call_unrecorded(None, |lease| Box::pin(async { (lease, Ok(Vec::new())) })).await,
        };
        plugin.supplied_claims = supplied.map_err(check)?;
        if let Some(bad) = plugin.supplied_claims.iter().find(|c| c.is_empty()) {
            return Err(LoadError::Check(format!("supplied-claims returned an invalid claim name {bad:?}")));
        }
        Ok(plugin)
    }

    pub(crate) fn name(&self) -> &str {
        &self.manifest.name
    }

    pub(crate) fn kind(&self) -> Kind {
        self.manifest.kind
    }

    pub(crate) async fn claims(&self, query: &claims::ClaimsQuery) -> Result<Answer<Vec<claims::Claim>>, Incident> {
        let Exports::Claims(indices) = &self.exports else {
            return Err(Incident::Host("not a claims source".into()));
        };
        self.call(None, |mut lease| {
            Box::pin(async move {
                let instance = lease.instance();
                let result =
                    async { indices.load(lease.store(), &instance)?.call_claims(lease.store(), query).await }.await;
                (lease, result)
            })
        })
        .await
    }

    pub(crate) async fn decide(&self, query: &consent::ConsentQuery) -> Result<Answer<consent::Verdict>, Incident> {
        let Exports::Consent(indices) = &self.exports else {
            return Err(Incident::Host("not a consent policy".into()));
        };
        self.call(None, |mut lease| {
            Box::pin(async move {
                let instance = lease.instance();
                let result =
                    async { indices.load(lease.store(), &instance)?.call_decide(lease.store(), query).await }.await;
                (lease, result)
            })
        })
        .await
    }

    pub(crate) async fn run(&self, query: &hooks::HookQuery) -> Result<Answer<hooks::Outcome>, Incident> {
        let Exports::Hooks(indices) = &self.exports else {
            return Err(Incident::Host("not login hooks".into()));
        };
        // A login's stages share its instance when the manifest asks for it; its last stage
        // lets it go.
        let last = matches!(query.stage, hooks::Stage::BeforeResponse);
        self.call(Some((&query.session_id, !last)), |mut lease| {
            Box::pin(async move {
                let instance = lease.instance();
                let result =
                    async { indices.load(lease.store(), &instance)?.call_run(lease.store(), query).await }.await;
                (lease, result)
            })
        })
        .await
    }

    /// Records an answer that broke the contract, found after the call returned.
    pub(crate) fn malformed(&self, why: String) -> Incident {
        let incident = Incident::Malformed(why);
        self.metrics.malformed_answer();
        self.log(&incident);
        incident
    }

    async fn call<'q, T>(
        &'q self,
        login: Option<(&str, bool)>,
        f: impl FnOnce(Lease) -> CallFuture<'q, Answer<T>>,
    ) -> Result<Answer<T>, Incident> {
        let start = Instant::now();
        let result = self.call_unrecorded(login, f).await;
        let outcome = match &result {
            Ok(Ok(_)) => Outcome::Answered,
            Ok(Err(_)) => Outcome::PluginError,
            Err(incident) => {
                self.log(incident);
                Outcome::Incident(incident)
            }
        };
        self.metrics.record(start.elapsed(), outcome);
        result
    }

    /// Leases an instance and calls `f` on it, within the plugin's time and memory limits.
    /// `login` names the login the call is for, and whether its instance is kept for the
    /// login's next call (with `instance_per_login`).
    async fn call_unrecorded<'q, R>(
        &'q self,
        login: Option<(&str, bool)>,
        f: impl FnOnce(Lease) -> CallFuture<'q, R>,
    ) -> Result<R, Incident> {
        let limit = Duration::from_millis(self.manifest.limits.time_ms);
        // The epoch deadline stops guest code; this timeout stops waits in host calls (HTTP).
        // A call cut short drops its lease, and so its instance.
        // A call that finds no free slot waits for one for half its time at most, and then
        // fails as capacity, apart from the plugin's own failures.
        let result = tokio::time::timeout(limit, async {
            let lease = match login {
                Some((login, keep)) => self.pool.lease_for_login(login, keep, limit / 2).await,
                None => self.pool.lease(limit / 2).await,
            };
            let mut lease = lease.map_err(|e| classify(e, false))?;
            lease.arm(limit);
            let (lease, result) = f(lease).await;
            let value = result.map_err(|e| classify(e, true))?;
            lease.finish();
            Ok(value)
        })
        .await;
        result.unwrap_or(Err(Incident::Timeout))
    }

    fn log(&self, incident: &Incident) {
        tracing::error!(
            plugin = self.name(),
            version = %self.manifest.version,
            // What the guest said (a panic message, a malformed answer) is escaped and cut.
            incident = %Logged::at_most(&incident.to_string(), MAX_INCIDENT_CHARS),
            "a plugin call failed; the request gets the plugin's failure outcome"
        );
    }
}

/// Sorts a failed call into the incident kinds.
fn classify(error: wasmtime::Error, in_call: bool) -> Incident {
    if error.root_cause().downcast_ref::<MemoryLimitExceeded>().is_some() {
        return Incident::MemoryLimit;
    }
    if error.root_cause().downcast_ref::<NoFreeInstance>().is_some() {
        return Incident::Capacity;
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Incident::Timeout,
        Some(_) => Incident::Trap(format!("{error:#}")),
        None if in_call => Incident::Trap(format!("{error:#}")),
        None => Incident::Host(format!("{error:#}")),
    }
}
