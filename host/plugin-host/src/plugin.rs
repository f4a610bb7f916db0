//! One loaded plugin version: a pre-instantiated component and its grants, called with a
//! fresh instance each time.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::{Instance, InstancePre};
use wasmtime::{Store, Trap};

use crate::bindings::{Exports, claims, consent, exports::gatehouse::policy::hooks, gatehouse::policy::types};
use crate::error::{Incident, LoadError};
use crate::manifest::{Kind, Manifest};
use crate::metrics::{Metrics, Outcome};
use crate::runtime::{Grants, MemoryLimitExceeded, Runtime, State};

/// A call on a fresh instance; the future owns the call's store.
type CallFuture<'q, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'q>>;

/// A plugin's answer: its value, or the expected failure it returned.
pub(crate) type Answer<T> = Result<T, types::PluginError>;

pub(crate) struct Plugin {
    pub manifest: Manifest,
    /// SHA-256 of the component, hex.
    pub hash: String,
    pub installed_at: SystemTime,
    /// For claims sources: the claims it supplies, asked once at load.
    pub supplied_claims: Vec<String>,
    grants: Grants,
    pre: InstancePre<State>,
    exports: Exports,
    runtime: Arc<Runtime>,
    metrics: Arc<Metrics>,
}

impl Plugin {
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
            grants: Grants::of(&manifest),
            manifest,
            hash: prepared.hash,
            installed_at: SystemTime::now(),
            supplied_claims: Vec::new(),
            pre: prepared.pre,
            exports: prepared.exports,
            runtime,
            metrics,
        };
        let check = |incident: Incident| LoadError::Check(format!("a trial call failed: {incident}"));
        let supplied = match &plugin.exports {
            Exports::Claims(indices) => {
                plugin
                    .call_unrecorded(|mut store, instance| {
                        Box::pin(
                            async move { indices.load(&mut store, &instance)?.call_supplied_claims(&mut store).await },
                        )
                    })
                    .await
            }
            _ => plugin.call_unrecorded(|_, _| Box::pin(async { Ok(Vec::new()) })).await,
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
        self.call(|mut store, instance| {
            Box::pin(async move { indices.load(&mut store, &instance)?.call_claims(&mut store, query).await })
        })
        .await
    }

    pub(crate) async fn decide(&self, query: &consent::ConsentQuery) -> Result<Answer<consent::Verdict>, Incident> {
        let Exports::Consent(indices) = &self.exports else {
            return Err(Incident::Host("not a consent policy".into()));
        };
        self.call(|mut store, instance| {
            Box::pin(async move { indices.load(&mut store, &instance)?.call_decide(&mut store, query).await })
        })
        .await
    }

    pub(crate) async fn run(&self, query: &hooks::HookQuery) -> Result<Answer<hooks::Outcome>, Incident> {
        let Exports::Hooks(indices) = &self.exports else {
            return Err(Incident::Host("not login hooks".into()));
        };
        self.call(|mut store, instance| {
            Box::pin(async move { indices.load(&mut store, &instance)?.call_run(&mut store, query).await })
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
        f: impl FnOnce(Store<State>, Instance) -> CallFuture<'q, Answer<T>>,
    ) -> Result<Answer<T>, Incident> {
        let start = Instant::now();
        let result = self.call_unrecorded(f).await;
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

    /// Instantiates afresh and calls `f`, within the plugin's time and memory limits.
    async fn call_unrecorded<'q, R>(
        &'q self,
        f: impl FnOnce(Store<State>, Instance) -> CallFuture<'q, R>,
    ) -> Result<R, Incident> {
        let mut store = self.runtime.store(&self.grants);
        let limit = Duration::from_millis(self.grants.limits.time_ms);
        // The epoch deadline stops guest code; this timeout stops waits in host calls (HTTP).
        let result = tokio::time::timeout(limit, async {
            let instance = self.pre.instantiate_async(&mut store).await.map_err(|e| classify(e, false))?;
            f(store, instance).await.map_err(|e| classify(e, true))
        })
        .await;
        result.unwrap_or(Err(Incident::Timeout))
    }

    fn log(&self, incident: &Incident) {
        tracing::error!(
            plugin = self.name(),
            version = %self.manifest.version,
            %incident,
            "a plugin call failed; the request gets the plugin's failure outcome"
        );
    }
}

/// Sorts a failed call into the incident kinds.
fn classify(error: wasmtime::Error, in_call: bool) -> Incident {
    if error.root_cause().downcast_ref::<MemoryLimitExceeded>().is_some() {
        return Incident::MemoryLimit;
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Incident::Timeout,
        Some(_) => Incident::Trap(format!("{error:#}")),
        None if in_call => Incident::Trap(format!("{error:#}")),
        None => Incident::Host(format!("{error:#}")),
    }
}
