//! Hot-loading from a watched folder: a manifest or component that lands or changes there is
//! loaded, checked and, if it passes, swapped in.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::PluginHost;
use crate::host::{component_path, manifests_in};
use crate::manifest::Manifest;

/// How long the folder must be quiet before changed files are loaded, so that a file being
/// written is read once it is complete.
const SETTLE: Duration = Duration::from_millis(50);

/// Watches a plugin folder until dropped.
pub struct Watcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PluginHost {
    /// Watches `dir` for manifests (`*.toml`) and components (`*.wasm`) that land or change,
    /// and installs and activates what they describe. A refused version is logged and listed
    /// with its reason; the version serving before keeps serving. Call [`PluginHost::load_dir`]
    /// first to load what is already there.
    pub fn watch(&self, dir: &Path) -> Result<Watcher, String> {
        // Changes are known by file name: the folder is watched alone (not recursively), and
        // the watcher reports absolute paths even for a relative `dir`.
        let (tx, mut rx) = mpsc::unbounded_channel::<OsString>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && (event.kind.is_create() || event.kind.is_modify())
            {
                for name in event.paths.iter().filter_map(|p| p.file_name()) {
                    let _ = tx.send(name.to_owned());
                }
            }
        })
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
        watcher.watch(dir, RecursiveMode::NonRecursive).map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
        let (host, dir) = (self.clone(), dir.to_owned());
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut changed = BTreeSet::from([first]);
                while let Ok(Some(name)) = tokio::time::timeout(SETTLE, rx.recv()).await {
                    changed.insert(name);
                }
                for manifest in affected_manifests(&dir, &changed) {
                    match host.load_file(&manifest).await {
                        Ok(v) => {
                            tracing::info!(file = %manifest.display(), plugin = %v.name, version = %v.version, "plugin loaded from the watched folder")
                        }
                        Err(e) => {
                            tracing::warn!(file = %manifest.display(), error = %e, "plugin in the watched folder refused")
                        }
                    }
                }
            }
        });
        Ok(Watcher { _watcher: watcher, task })
    }
}

/// The manifests to (re)load for a set of changed file names: changed manifests, and
/// manifests whose component changed.
fn affected_manifests(dir: &Path, changed: &BTreeSet<OsString>) -> Vec<PathBuf> {
    let is_changed = |path: &Path| path.file_name().is_some_and(|name| changed.contains(name));
    manifests_in(dir)
        .into_iter()
        .filter(|manifest| {
            if is_changed(manifest) {
                return true;
            }
            let Ok(text) = std::fs::read_to_string(manifest) else { return false };
            let Ok(parsed) = Manifest::from_toml(&text) else { return false };
            is_changed(&component_path(manifest, &parsed))
        })
        .collect()
}
