//! Plugins as cluster state: the versions installed through the admin API, which one serves
//! and the rollback history live in the store, so they survive restarts and reach every host
//! sharing the database.
//!
//! ```text
//!   admin call on any host ──▶ checked on that host (compiled, set published) ──▶ catalog record
//!                                                                                 (compare-and-swap)
//!   change feed / start-up / every report ──▶ converge: load missing versions, serve what the record says
//! ```
//!
//! The store holds one `plugin_catalog` record per plugin (versions with their manifests,
//! the serving version, the history), each component once under its SHA-256 in
//! `plugin_components`, and what each host serves in `plugin_hosts` (`NAME/HOST`, refreshed by
//! [`Cluster::report`], expiring when a host stops reporting). A host that cannot load a
//! version keeps serving what it served and says why in its report; it never serves a version
//! it could not load. Plugins from the watched folder are this host's own and are not stored;
//! once the admin API installs a version of one, its catalog record decides what serves.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use gatehouse_protocol::store::{Collection, Store, StoreError};
use gatehouse_protocol::world::Clock;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::LoadError;
use crate::host::{LocalState, PluginHost, PluginStatus, VersionStatus};
use crate::manifest::Manifest;

/// A plugin's record in the cluster catalog.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogRecord {
    pub versions: Vec<StoredVersion>,
    pub active: Option<String>,
    /// Versions that served before, the most recent last.
    pub history: Vec<String>,
}

/// One installed version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredVersion {
    pub version: String,
    /// The manifest, in TOML.
    pub manifest: String,
    pub sha256: String,
}

#[derive(Serialize, Deserialize)]
struct StoredComponent {
    base64: String,
}

/// What one host serves of one plugin, as `GET /admin/v1/plugins` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    pub host: String,
    pub serving: Option<String>,
    /// Why a version the catalog holds did not load on this host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Seconds since the Unix epoch.
    pub reported_at: i64,
}

/// A plugin as the admin API lists it in a cluster: this host's view and every host's report.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    #[serde(flatten)]
    pub local: PluginStatus,
    /// Whether the cluster catalog governs it (installed through the admin API).
    pub clustered: bool,
    pub hosts: Vec<HostReport>,
}

const CATALOG: Collection<CatalogRecord> = Collection::new("plugin_catalog");
const COMPONENTS: Collection<StoredComponent> = Collection::new("plugin_components");
const REPORTS: Collection<HostReport> = Collection::new("plugin_hosts");

/// How long a host's report lasts unless refreshed; hosts report every third of it.
pub const REPORT_TTL_SECS: i64 = 90;

/// How often an admin call tries again when another host changed the same record at once.
const CAS_ATTEMPTS: usize = 8;

/// A failed cluster operation: the plugin's own reason, or the store.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The plugin host of one member of a cluster.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    host: PluginHost,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    name: String,
    /// Per plugin, why a catalog version did not load here.
    errors: Mutex<BTreeMap<String, String>>,
    /// Serialises converging and admin calls on this host.
    busy: Mutex<()>,
    loaded: AtomicBool,
}

impl Cluster {
    /// The cluster side of `host`, reporting as `host_name`.
    pub fn new(host: PluginHost, store: Arc<dyn Store>, clock: Arc<dyn Clock>, host_name: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                host,
                store,
                clock,
                name: host_name,
                errors: Mutex::new(BTreeMap::new()),
                busy: Mutex::new(()),
                loaded: AtomicBool::new(false),
            }),
        }
    }

    /// Whether the catalog was loaded once since start-up (readiness).
    pub fn is_loaded(&self) -> bool {
        self.inner.loaded.load(Ordering::Acquire)
    }

    fn now(&self) -> i64 {
        self.inner.clock.now().0
    }

    /// Loads every plugin the catalog holds and serves what it says; a version that does not
    /// load is reported, not fatal. Deactivations go first, so that a consent policy replaced
    /// by another never meets it.
    pub async fn converge_all(&self) -> Result<(), StoreError> {
        let _busy = self.inner.busy.lock().await;
        let store = self.inner.store.as_ref();
        let mut records: Vec<(String, CatalogRecord)> = store
            .list("plugin_catalog", "", self.inner.clock.now())
            .await?
            .into_iter()
            .filter_map(|row| Some((row.key, serde_json::from_str(&row.body).ok()?)))
            .collect();
        records.sort_by_key(|(_, r)| r.active.is_some());
        for (name, record) in &records {
            match self.converge_locked(name, record).await {
                // Reported per host; the other plugins still load.
                Ok(()) | Err(ClusterError::Load(_)) => {}
                Err(ClusterError::Store(e)) => return Err(e),
            }
        }
        self.inner.loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// Follows one plugin's catalog record (after the change feed reported it).
    pub async fn converge(&self, name: &str) -> Result<(), StoreError> {
        let record = {
            let _busy = self.inner.busy.lock().await;
            let Some(record) = CATALOG.get(self.inner.store.as_ref(), name, self.inner.clock.now()).await? else {
                return Ok(());
            };
            match self.converge_locked(name, &record).await {
                Err(ClusterError::Load(LoadError::Conflict(_))) => None,
                Err(ClusterError::Store(e)) => return Err(e),
                _ => Some(()),
            }
        };
        // A conflict (two consent policies at once) means another plugin's record changed too
        // and has not been followed yet: follow them all.
        if record.is_none() {
            self.converge_all().await?;
        }
        Ok(())
    }

    async fn converge_locked(&self, name: &str, record: &CatalogRecord) -> Result<(), ClusterError> {
        let host = &self.inner.host;
        let before = host.local_state(name).await;
        let mut error = None;
        for stored in &record.versions {
            if before.versions.iter().any(|(v, sha)| *v == stored.version && *sha == stored.sha256) {
                continue;
            }
            if let Err(e) = self.load_version(stored).await {
                tracing::warn!(plugin = name, version = %stored.version, error = %e, "a catalog plugin version did not load on this host");
                error = Some(format!("version {}: {e}", stored.version));
            }
        }
        let now = host.local_state(name).await;
        let target = match &record.active {
            Some(v) if now.has(v) => Some(v.clone()),
            // The serving version did not load here: keep what serves.
            Some(_) => before.active.clone(),
            None => None,
        };
        let applied =
            if now.versions.is_empty() { Ok(()) } else { host.apply(name, target.as_deref(), &record.history).await };
        if let Err(e) = &applied {
            error = Some(e.to_string());
        }
        {
            let mut errors = self.inner.errors.lock().await;
            match &error {
                Some(e) => errors.insert(name.to_owned(), e.clone()),
                None => errors.remove(name),
            };
        }
        self.report_one(name).await?;
        applied.map_err(ClusterError::Load)
    }

    async fn load_version(&self, stored: &StoredVersion) -> Result<VersionStatus, ClusterError> {
        let manifest = Manifest::from_toml(&stored.manifest)?;
        let component = COMPONENTS
            .get(self.inner.store.as_ref(), &stored.sha256, self.inner.clock.now())
            .await?
            .ok_or_else(|| LoadError::Io(format!("component {} is missing from the store", stored.sha256)))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(component.base64.as_bytes())
            .map_err(|e| LoadError::Io(format!("stored component {}: {e}", stored.sha256)))?;
        Ok(self.inner.host.install(manifest, bytes, false).await?)
    }

    /// Writes this host's report of one plugin.
    async fn report_one(&self, name: &str) -> Result<(), StoreError> {
        let serving = self.inner.host.local_state(name).await.active;
        let error = self.inner.errors.lock().await.get(name).cloned();
        let now = self.now();
        let report = HostReport { host: self.inner.name.clone(), serving, error, reported_at: now };
        let key = format!("{name}/{}", self.inner.name);
        let expires = gatehouse_protocol::world::UnixTime(now + REPORT_TTL_SECS);
        REPORTS.put(self.inner.store.as_ref(), &key, &report, Some(expires)).await
    }

    /// Refreshes this host's report of every catalog plugin (every `REPORT_TTL_SECS / 3`).
    pub async fn report(&self) -> Result<(), StoreError> {
        let names: Vec<String> = self
            .inner
            .store
            .list("plugin_catalog", "", self.inner.clock.now())
            .await?
            .into_iter()
            .map(|r| r.key)
            .collect();
        for name in names {
            self.report_one(&name).await?;
        }
        Ok(())
    }

    /// Installs a version through the cluster: compiled and checked here (and served here if
    /// `activate`), then recorded; every other host follows the record.
    pub async fn install(
        &self,
        manifest: Manifest,
        component: Vec<u8>,
        activate: bool,
    ) -> Result<VersionStatus, ClusterError> {
        let _busy = self.inner.busy.lock().await;
        let name = manifest.name.clone();
        let before = self.inner.host.local_state(&name).await;
        let status = self.inner.host.install(manifest.clone(), component.clone(), activate).await?;
        let stored = StoredVersion {
            version: status.version.clone(),
            manifest: manifest.to_toml(),
            sha256: status.sha256.clone(),
        };
        let encoded = StoredComponent { base64: base64::engine::general_purpose::STANDARD.encode(&component) };
        let store = self.inner.store.as_ref();
        let written = async {
            COMPONENTS.insert(store, &stored.sha256, &encoded, None, self.inner.clock.now()).await?;
            for _ in 0..CAS_ATTEMPTS {
                let now = self.inner.clock.now();
                let found = CATALOG.get_versioned(store, &name, now).await?;
                let mut record = match &found {
                    Some(f) => f.value.clone(),
                    // The first upload of a plugin the folder provides keeps its serving version.
                    None => CatalogRecord {
                        active: before.active.clone(),
                        history: before.history.clone(),
                        ..Default::default()
                    },
                };
                record.versions.retain(|v| v.version != stored.version);
                record.versions.push(stored.clone());
                if activate
                    && record.active.as_deref() != Some(stored.version.as_str())
                    && let Some(previous) = record.active.replace(stored.version.clone())
                {
                    record.history.push(previous);
                }
                let done = match found {
                    Some(f) => CATALOG.update(store, &name, &record, None, f.version, now).await?.is_some(),
                    None => CATALOG.insert(store, &name, &record, None, now).await?,
                };
                if done {
                    return Ok(record);
                }
            }
            Err(ClusterError::Store(contended(&name)))
        }
        .await;
        match written {
            Ok(record) => {
                // Served here as the record says (an upload that replaced the serving version's
                // component keeps serving it).
                let _ = self.inner.host.apply(&name, record.active.as_deref(), &record.history).await;
                let _ = self.report_one(&name).await;
                Ok(status)
            }
            Err(e) => {
                self.undo(&name, &before).await;
                Err(e)
            }
        }
    }

    /// Makes an installed version the serving one everywhere.
    pub async fn activate(&self, name: &str, version: &str) -> Result<(), ClusterError> {
        self.change(name, |record| {
            if !record.versions.iter().any(|v| v.version == version) {
                return Err(LoadError::UnknownVersion { name: name.into(), version: version.into() });
            }
            if record.active.as_deref() != Some(version)
                && let Some(before) = record.active.replace(version.to_owned())
            {
                record.history.push(before);
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Goes back everywhere to the version that served before the current one.
    pub async fn rollback(&self, name: &str) -> Result<String, ClusterError> {
        let record = self
            .change(name, |record| {
                let current = record.active.clone();
                let previous = loop {
                    match record.history.pop() {
                        Some(v) if Some(&v) != current.as_ref() && record.versions.iter().any(|s| s.version == v) => {
                            break v;
                        }
                        Some(_) => continue,
                        None => return Err(LoadError::NothingToRollBack(name.into())),
                    }
                };
                record.active = Some(previous);
                Ok(())
            })
            .await?;
        Ok(record.active.unwrap_or_default())
    }

    /// Stops a plugin serving everywhere; its versions stay installed.
    pub async fn deactivate(&self, name: &str) -> Result<(), ClusterError> {
        self.change(name, |record| {
            if let Some(v) = record.active.take() {
                record.history.push(v);
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// An admin change to which version serves: edited on the record as read, applied on this
    /// host (refused here means refused everywhere: two consent policies, overlapping claims,
    /// a version that did not load), then written at the version read, all again if another
    /// host wrote the record meanwhile. A failed write puts this host back as it was.
    async fn change(
        &self,
        name: &str,
        edit: impl Fn(&mut CatalogRecord) -> Result<(), LoadError>,
    ) -> Result<CatalogRecord, ClusterError> {
        let _busy = self.inner.busy.lock().await;
        let store = self.inner.store.as_ref();
        let host = &self.inner.host;
        let before = host.local_state(name).await;
        for _ in 0..CAS_ATTEMPTS {
            let now = self.inner.clock.now();
            let Some(found) = CATALOG.get_versioned(store, name, now).await? else {
                return self.change_local(name, &before, edit).await;
            };
            let mut record = found.value.clone();
            edit(&mut record)?;
            if let Some(v) = &record.active
                && !before.has(v)
            {
                let why = self.inner.errors.lock().await.get(name).cloned().unwrap_or_else(|| "not loaded".into());
                return Err(LoadError::Conflict(format!(
                    "version {v:?} of {name:?} did not load on this host ({why}); ask another host or install it again"
                ))
                .into());
            }
            host.apply(name, record.active.as_deref(), &record.history).await?;
            match CATALOG.update(store, name, &record, None, found.version, now).await {
                Ok(Some(_)) => {
                    let _ = self.report_one(name).await;
                    return Ok(record);
                }
                Ok(None) => continue,
                Err(e) => {
                    self.undo(name, &before).await;
                    return Err(e.into());
                }
            }
        }
        self.undo(name, &before).await;
        Err(contended(name).into())
    }

    /// A change to a plugin only this host's folder provides: this host alone.
    async fn change_local(
        &self,
        name: &str,
        before: &LocalState,
        edit: impl Fn(&mut CatalogRecord) -> Result<(), LoadError>,
    ) -> Result<CatalogRecord, ClusterError> {
        if before.versions.is_empty() {
            return Err(LoadError::UnknownPlugin(name.into()).into());
        }
        let mut record = CatalogRecord {
            versions: before
                .versions
                .iter()
                .map(|(v, sha)| StoredVersion { version: v.clone(), manifest: String::new(), sha256: sha.clone() })
                .collect(),
            active: before.active.clone(),
            history: before.history.clone(),
        };
        edit(&mut record)?;
        self.inner.host.apply(name, record.active.as_deref(), &record.history).await?;
        Ok(record)
    }

    /// Puts this host back as it was before a change whose write failed.
    async fn undo(&self, name: &str, before: &LocalState) {
        if before.versions.is_empty() {
            return;
        }
        if let Err(e) = self.inner.host.apply(name, before.active.as_deref(), &before.history).await {
            tracing::error!(plugin = name, error = %e, "could not go back to the version served before");
        }
    }

    /// How many clustered plugins this host serves otherwise than the catalog says (a version
    /// that did not load here, or a change not followed yet).
    pub async fn diverged(&self) -> u64 {
        let Ok(rows) = self.inner.store.list("plugin_catalog", "", self.inner.clock.now()).await else {
            return 0;
        };
        let mut diverged = 0;
        for row in rows {
            let Ok(record) = serde_json::from_str::<CatalogRecord>(&row.body) else { continue };
            if self.inner.host.local_state(&row.key).await.active != record.active {
                diverged += 1;
            }
        }
        diverged
    }

    /// Every plugin this host knows, with every host's report of the clustered ones.
    pub async fn list(&self) -> Result<Vec<ClusterStatus>, StoreError> {
        let now = self.inner.clock.now();
        let store = self.inner.store.as_ref();
        let clustered: Vec<String> = store.list("plugin_catalog", "", now).await?.into_iter().map(|r| r.key).collect();
        let mut out = Vec::new();
        for local in self.inner.host.list().await {
            let hosts = if clustered.contains(&local.name) {
                REPORTS.list(store, &format!("{}/", local.name), now).await?
            } else {
                Vec::new()
            };
            out.push(ClusterStatus { clustered: clustered.contains(&local.name), local, hosts });
        }
        Ok(out)
    }
}

fn contended(name: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "plugin {name:?} was changed by other hosts {CAS_ATTEMPTS} times in a row; try again"
    ))
}
