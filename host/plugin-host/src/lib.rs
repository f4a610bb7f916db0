//! Gatehouse's policy plugins: WebAssembly components run under wasmtime.
//!
//! [`PluginHost`] loads plugins (a component plus a [`Manifest`]) from a watched folder or
//! through its admin methods, keeps every installed version, swaps the active ones atomically,
//! and implements the protocol's policy ports, so the protocol sees only
//! [`gatehouse_protocol::plugins::Policies`].
//!
//! Invariants:
//! - Each call gets a fresh instance, prepared ahead of the call by the plugin's pool; no state
//!   survives a call. The exceptions are explicit opt-ins in the manifest: `reuse_instances`,
//!   for plugins that keep no state, and `instance_per_login`, where a login hook's instance
//!   serves one login's stages and never another login.
//! - A call is bounded in time (epoch deadline plus a host-side timeout around host calls) and
//!   memory (all of an instance's memories together); a trap, timeout, memory-limit hit or
//!   malformed answer is an [`Incident`] that the client only ever sees as `server_error` (or
//!   the plugin's `on_failure = "skip"`, `"skip-unsafe"` for kinds that can deny).
//! - No free instance is never a skipped policy: a consent policy or login hook that finds no
//!   slot fails its request with `temporarily_unavailable`; one plugin's load cannot take
//!   another's reserved slots ([`slots`]).
//! - A version that fails to compile, link or pass its load check never replaces a working one.
//! - A plugin reaches only the outbound origins its manifest lists; nothing else (files,
//!   environment, sockets) is granted.
//! - This crate holds the host's only `bindgen!` (in `bindings`).
//! - Versions installed through the admin API are cluster state ([`Cluster`]): stored, and
//!   followed by every host sharing the store.

mod bindings;
mod cluster;
mod error;
mod host;
mod manifest;
mod metrics;
mod outbound;
mod plugin;
mod pool;
mod ports;
mod runtime;
mod slots;
mod trial;
mod watch;

pub use cluster::{CatalogRecord, Cluster, ClusterError, ClusterStatus, HostReport, REPORT_TTL_SECS, StoredVersion};
pub use error::{Incident, LoadError};
pub use host::{LocalState, PluginHost, PluginStatus, VersionStatus};
pub use manifest::{Kind, Limits, Manifest, OnFailure, Origin};
pub use metrics::{Latency, PluginMetrics};
pub use runtime::RuntimeSettings;
pub use slots::SlotUsage;
pub use trial::{Call, Calls, CheckReport, Trial};
pub use watch::Watcher;
