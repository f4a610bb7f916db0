//! The plugin host: every installed version, the active set, and the admin operations that
//! change it.
//!
//! ```text
//!   install ──load (compile, link, check)──▶ installed ──activate──▶ active ──rollback──▶ previous active
//!                 │ fails                                     ▲                │
//!                 ▼                                           └──activate──────┘
//!            refused; the reason is kept in `last_error`, the active set is untouched
//! ```
//!
//! Calls read the active set through an `ArcSwap`: a change swaps in a whole new set at once,
//! and calls already running keep the set (and the plugin versions) they started with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::error::LoadError;
use crate::manifest::{Kind, Manifest, OnFailure};
use crate::metrics::{Metrics, PluginMetrics};
use crate::plugin::Plugin;
use crate::runtime::{Runtime, RuntimeSettings};

/// Runs policy plugins. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct PluginHost {
    shared: Arc<Shared>,
}

struct Shared {
    runtime: Arc<Runtime>,
    active: ArcSwap<Active>,
    /// Serialises changes; calls never take it.
    catalog: tokio::sync::Mutex<Catalog>,
    /// Per plugin name, across its versions.
    metrics: Mutex<BTreeMap<String, (Kind, Arc<Metrics>)>>,
}

/// The plugins serving now, in calling order.
#[derive(Default)]
pub(crate) struct Active {
    pub claims: Vec<Arc<Plugin>>,
    pub consent: Option<Arc<Plugin>>,
    pub hooks: Vec<Arc<Plugin>>,
}

#[derive(Default)]
struct Catalog {
    entries: BTreeMap<String, Entry>,
}

#[derive(Default)]
struct Entry {
    /// Installed versions, oldest first.
    versions: Vec<Arc<Plugin>>,
    active: Option<String>,
    /// Versions that were active before, the most recent last.
    history: Vec<String>,
    last_error: Option<String>,
}

/// One plugin on this host: see [`PluginHost::local_state`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalState {
    pub versions: Vec<(String, String)>,
    pub active: Option<String>,
    pub history: Vec<String>,
}

impl LocalState {
    pub fn has(&self, version: &str) -> bool {
        self.versions.iter().any(|(v, _)| v == version)
    }
}

/// A plugin as the admin API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct PluginStatus {
    pub name: String,
    pub kind: Option<Kind>,
    pub active_version: Option<String>,
    pub versions: Vec<VersionStatus>,
    /// Why the last install or activation of this plugin was refused.
    pub last_error: Option<String>,
}

/// One installed version.
#[derive(Clone, Debug, Serialize)]
pub struct VersionStatus {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    /// SHA-256 of the component.
    pub sha256: String,
    /// Seconds since the Unix epoch.
    pub installed_at: u64,
    pub active: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supplied_claims: Vec<String>,
    /// Instances instantiated ahead of calls; zero for a version that does not serve.
    pub prepared_instances: usize,
    /// Logins keeping an instance of this version now (`instance_per_login`).
    #[serde(skip_serializing_if = "is_zero")]
    pub login_instances: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl PluginHost {
    /// A host with no plugins: claims come from elsewhere, consent is asked, login goes on.
    pub fn new(settings: &RuntimeSettings) -> Result<Self, String> {
        Ok(Self {
            shared: Arc::new(Shared {
                runtime: Arc::new(Runtime::new(settings)?),
                active: ArcSwap::from_pointee(Active::default()),
                catalog: tokio::sync::Mutex::new(Catalog::default()),
                metrics: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// How the engine's instance slots are used now.
    pub fn instance_slots(&self) -> crate::SlotUsage {
        self.shared.runtime.slots.usage()
    }

    /// The active set now; a call keeps it (and its plugin versions) until it ends.
    pub(crate) fn active(&self) -> Arc<Active> {
        self.shared.active.load_full()
    }

    /// Compiles and checks a plugin version off the caller's thread, adds it, and activates it
    /// when `activate` is set. A version that fails any step is refused and the active set
    /// stays as it was. Installing a version that is already installed replaces it.
    pub async fn install(
        &self,
        manifest: Manifest,
        component: Vec<u8>,
        activate: bool,
    ) -> Result<VersionStatus, LoadError> {
        let name = manifest.name.clone();
        let result = self.install_inner(manifest, component, activate).await;
        if let Err(e) = &result {
            tracing::warn!(plugin = %name, error = %e, "plugin version refused");
            let mut catalog = self.shared.catalog.lock().await;
            catalog.entries.entry(name).or_default().last_error = Some(e.to_string());
        }
        result
    }

    async fn install_inner(
        &self,
        manifest: Manifest,
        component: Vec<u8>,
        activate: bool,
    ) -> Result<VersionStatus, LoadError> {
        manifest.check()?;
        {
            let catalog = self.shared.catalog.lock().await;
            if let Some(existing) = catalog.entries.get(&manifest.name).and_then(|e| e.versions.first())
                && existing.kind() != manifest.kind
            {
                return Err(LoadError::Conflict(format!(
                    "plugin {:?} is a {}; a new version cannot be a {} (give it another name)",
                    manifest.name,
                    existing.kind(),
                    manifest.kind
                )));
            }
        }
        let metrics = self.metrics_of(&manifest.name, manifest.kind);
        let plugin = Arc::new(Plugin::load(self.shared.runtime.clone(), manifest, component, metrics).await?);
        let (name, version) = (plugin.name().to_owned(), plugin.manifest.version.clone());
        let mut catalog = self.shared.catalog.lock().await;
        let entry = catalog.entries.entry(name.clone()).or_default();
        entry.versions.retain(|p| p.manifest.version != version);
        entry.versions.push(plugin.clone());
        let replaced_active = entry.active.as_deref() == Some(version.as_str());
        if activate || replaced_active {
            self.activate_locked(&mut catalog, &name, &version, true)?;
        } else {
            plugin.set_serving(false);
        }
        let entry = catalog.entries.get_mut(&name).expect("just added");
        entry.last_error = None;
        tracing::info!(plugin = %name, %version, sha256 = %plugin.hash, "plugin version installed");
        if plugin.manifest.on_failure == OnFailure::SkipUnsafe {
            tracing::warn!(
                plugin = %name,
                %version,
                "on_failure = \"skip-unsafe\": when this {} fails, requests go on as if it were not there, \
                 even those it would deny",
                plugin.kind()
            );
        }
        Ok(status(&plugin, entry.active.as_deref()))
    }

    /// Makes an installed version the active one.
    pub async fn activate(&self, name: &str, version: &str) -> Result<(), LoadError> {
        let mut catalog = self.shared.catalog.lock().await;
        self.activate_locked(&mut catalog, name, version, true)
    }

    /// Goes back to the version that was active before the current one.
    pub async fn rollback(&self, name: &str) -> Result<String, LoadError> {
        let mut catalog = self.shared.catalog.lock().await;
        let entry = catalog.entries.get_mut(name).ok_or_else(|| LoadError::UnknownPlugin(name.into()))?;
        let current = entry.active.clone();
        let previous = loop {
            match entry.history.pop() {
                Some(v) if Some(&v) != current.as_ref() && entry.versions.iter().any(|p| p.manifest.version == v) => {
                    break v;
                }
                Some(_) => continue,
                None => return Err(LoadError::NothingToRollBack(name.into())),
            }
        };
        if let Err(e) = self.activate_locked(&mut catalog, name, &previous, false) {
            catalog.entries.get_mut(name).expect("checked above").history.push(previous);
            return Err(e);
        }
        Ok(previous)
    }

    /// Stops a plugin serving; its versions stay installed.
    pub async fn deactivate(&self, name: &str) -> Result<(), LoadError> {
        let mut catalog = self.shared.catalog.lock().await;
        let entry = catalog.entries.get_mut(name).ok_or_else(|| LoadError::UnknownPlugin(name.into()))?;
        if let Some(v) = entry.active.take() {
            entry.history.push(v);
        }
        self.publish(&catalog)
    }

    fn activate_locked(
        &self,
        catalog: &mut Catalog,
        name: &str,
        version: &str,
        remember: bool,
    ) -> Result<(), LoadError> {
        let entry = catalog.entries.get_mut(name).ok_or_else(|| LoadError::UnknownPlugin(name.into()))?;
        if !entry.versions.iter().any(|p| p.manifest.version == version) {
            return Err(LoadError::UnknownVersion { name: name.into(), version: version.into() });
        }
        let before = entry.active.replace(version.to_owned());
        if let Err(e) = self.publish(catalog) {
            let entry = catalog.entries.get_mut(name).expect("checked above");
            entry.active = before;
            entry.last_error = Some(e.to_string());
            if let Some(refused) = entry.versions.iter().find(|p| p.manifest.version == version)
                && entry.active.as_deref() != Some(version)
            {
                refused.set_serving(false);
            }
            return Err(e);
        }
        let entry = catalog.entries.get_mut(name).expect("checked above");
        if remember && let Some(before) = before.filter(|b| b != version) {
            entry.history.push(before);
        }
        tracing::info!(plugin = name, version, "plugin version active");
        Ok(())
    }

    /// Builds the active set from the catalog, checks it, and swaps it in.
    fn publish(&self, catalog: &Catalog) -> Result<(), LoadError> {
        let mut active = Active::default();
        for entry in catalog.entries.values() {
            let Some(plugin) =
                entry.active.as_ref().and_then(|v| entry.versions.iter().find(|p| &p.manifest.version == v))
            else {
                continue;
            };
            match plugin.kind() {
                Kind::ClaimsSource => active.claims.push(plugin.clone()),
                Kind::LoginHooks => active.hooks.push(plugin.clone()),
                Kind::ConsentPolicy => {
                    if let Some(other) = &active.consent {
                        return Err(LoadError::Conflict(format!(
                            "only one consent policy can be active and {:?} is; deactivate it before activating {:?}",
                            other.name(),
                            plugin.name()
                        )));
                    }
                    active.consent = Some(plugin.clone());
                }
            }
        }
        let by_order = |p: &Arc<Plugin>| (p.manifest.order.unwrap_or(0), p.name().to_owned());
        active.claims.sort_by_key(by_order);
        active.hooks.sort_by_key(by_order);
        check_claim_overlap(&active.claims)?;
        // Only serving versions keep instances ready; calls already running on a parked one
        // instantiate for themselves.
        for entry in catalog.entries.values() {
            for plugin in &entry.versions {
                plugin.set_serving(entry.active.as_deref() == Some(plugin.manifest.version.as_str()));
            }
        }
        self.shared.active.store(Arc::new(active));
        Ok(())
    }

    /// Sets which version of `name` serves (`None`: it stops serving) and the versions a
    /// rollback goes back through, as the cluster catalog says. Checked like an activation: a
    /// set that would not publish is refused and nothing changes.
    pub async fn apply(&self, name: &str, active: Option<&str>, history: &[String]) -> Result<(), LoadError> {
        let mut catalog = self.shared.catalog.lock().await;
        let entry = catalog.entries.get_mut(name).ok_or_else(|| LoadError::UnknownPlugin(name.into()))?;
        if let Some(v) = active
            && !entry.versions.iter().any(|p| p.manifest.version == v)
        {
            return Err(LoadError::UnknownVersion { name: name.into(), version: v.into() });
        }
        let before = (entry.active.clone(), std::mem::replace(&mut entry.history, history.to_vec()));
        entry.active = active.map(str::to_owned);
        if let Err(e) = self.publish(&catalog) {
            let entry = catalog.entries.get_mut(name).expect("checked above");
            // A refused set changed nothing: `publish` checks before it swaps.
            (entry.active, entry.history) = before;
            return Err(e);
        }
        Ok(())
    }

    /// What this host has of `name`: its versions (with their components' SHA-256), the
    /// serving one and the rollback history.
    pub async fn local_state(&self, name: &str) -> LocalState {
        let catalog = self.shared.catalog.lock().await;
        match catalog.entries.get(name) {
            Some(e) => LocalState {
                versions: e.versions.iter().map(|p| (p.manifest.version.clone(), p.hash.clone())).collect(),
                active: e.active.clone(),
                history: e.history.clone(),
            },
            None => LocalState::default(),
        }
    }

    /// Every plugin ever installed, with its versions and last refusal.
    pub async fn list(&self) -> Vec<PluginStatus> {
        let catalog = self.shared.catalog.lock().await;
        catalog
            .entries
            .iter()
            .map(|(name, entry)| PluginStatus {
                name: name.clone(),
                kind: entry.versions.first().map(|p| p.kind()),
                active_version: entry.active.clone(),
                versions: entry.versions.iter().map(|p| status(p, entry.active.as_deref())).collect(),
                last_error: entry.last_error.clone(),
            })
            .collect()
    }

    /// Call metrics of every plugin that was ever installed.
    pub fn metrics(&self) -> Vec<PluginMetrics> {
        let active = self.active();
        let serving: Vec<&Arc<Plugin>> = active.claims.iter().chain(&active.consent).chain(&active.hooks).collect();
        let metrics = self.shared.metrics.lock().expect("metrics lock");
        metrics
            .iter()
            .map(|(name, (kind, m))| {
                let version = serving.iter().find(|p| p.name() == name).map(|p| p.manifest.version.clone());
                m.snapshot(name, *kind, version)
            })
            .collect()
    }

    fn metrics_of(&self, name: &str, kind: Kind) -> Arc<Metrics> {
        let mut metrics = self.shared.metrics.lock().expect("metrics lock");
        metrics.entry(name.to_owned()).or_insert_with(|| (kind, Arc::default())).1.clone()
    }

    /// Installs and activates the plugin a manifest file describes; its component is the
    /// manifest's `component` (or `NAME.wasm`) in the same folder.
    pub async fn load_file(&self, manifest_path: &Path) -> Result<VersionStatus, LoadError> {
        let text = tokio::fs::read_to_string(manifest_path)
            .await
            .map_err(|e| LoadError::Io(format!("{}: {e}", manifest_path.display())))?;
        let manifest =
            Manifest::from_toml(&text).map_err(|e| LoadError::Manifest(format!("{}: {e}", manifest_path.display())))?;
        let component_path = component_path(manifest_path, &manifest);
        let component = tokio::fs::read(&component_path)
            .await
            .map_err(|e| LoadError::Io(format!("{}: {e}", component_path.display())))?;
        self.install(manifest, component, true).await
    }

    /// Loads every `*.toml` manifest in `dir`, in name order. Each result says what became of
    /// one file; a refused file leaves the others loading.
    pub async fn load_dir(&self, dir: &Path) -> Vec<(PathBuf, Result<VersionStatus, LoadError>)> {
        let mut out = Vec::new();
        for path in manifests_in(dir) {
            let result = self.load_file(&path).await;
            out.push((path, result));
        }
        out
    }
}

fn status(plugin: &Plugin, active: Option<&str>) -> VersionStatus {
    VersionStatus {
        name: plugin.name().to_owned(),
        version: plugin.manifest.version.clone(),
        kind: plugin.kind(),
        sha256: plugin.hash.clone(),
        installed_at: plugin.installed_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        active: active == Some(plugin.manifest.version.as_str()),
        supplied_claims: plugin.supplied_claims.clone(),
        prepared_instances: plugin.prepared_instances(),
        login_instances: plugin.login_instances(),
    }
}

/// Two claims sources supplying the same claim must both have an `order`, and different ones.
fn check_claim_overlap(sources: &[Arc<Plugin>]) -> Result<(), LoadError> {
    for (i, a) in sources.iter().enumerate() {
        for b in &sources[i + 1..] {
            let Some(claim) = a.supplied_claims.iter().find(|c| b.supplied_claims.contains(c)) else {
                continue;
            };
            let ordered = matches!((a.manifest.order, b.manifest.order), (Some(x), Some(y)) if x != y);
            if !ordered {
                return Err(LoadError::Conflict(format!(
                    "claims sources {:?} and {:?} both supply the claim {claim:?}; give each a different `order` \
                     in its manifest (the lower is asked first) or stop one supplying it",
                    a.name(),
                    b.name()
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn component_path(manifest_path: &Path, manifest: &Manifest) -> PathBuf {
    let file = manifest.component.clone().unwrap_or_else(|| format!("{}.wasm", manifest.name));
    manifest_path.parent().unwrap_or(Path::new(".")).join(file)
}

pub(crate) fn manifests_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
}
