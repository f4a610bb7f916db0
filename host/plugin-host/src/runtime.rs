//! The wasmtime side: one engine and one linker for every plugin, the compile cache, and the
//! load checks a component must pass before it may serve.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable, types::ComponentItem};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, StoreLimits,
    UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{self, Exports};
use crate::error::LoadError;
use crate::manifest::{Kind, Limits, Manifest, Origin};
use crate::outbound::Outbound;
use crate::slots::Slots;

/// How often the epoch advances; per-call time limits are counted in these ticks.
const TICK: Duration = Duration::from_millis(10);

/// Settings of the plugin runtime, shared by every plugin.
#[derive(Clone, Debug)]
pub struct RuntimeSettings {
    /// Where compiled components are cached; nothing is cached when absent.
    pub cache_dir: Option<PathBuf>,
    /// How many plugin instances may be alive at once (the pooling allocator's slots).
    pub max_instances: u32,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self { cache_dir: None, max_instances: 128 }
    }
}

/// The engine, the linker and the epoch ticker.
pub(crate) struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    cache_dir: Option<PathBuf>,
    /// The engine's part of the cache key: artifacts only load into an identical engine.
    engine_key: String,
    stop_ticker: Arc<AtomicBool>,
    /// The pooling allocator's instance slots, shared out between plugins.
    pub(crate) slots: Arc<Slots>,
}

impl Runtime {
    pub(crate) fn new(settings: &RuntimeSettings) -> Result<Self, String> {
        let slots = settings.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        // A component instance is several core instances: 3 modules for a Rust or JavaScript
        // plugin, 38 for a Python one (interpreter, libc, WASI adapter, shims). Core slots are
        // a count, not memory, so there are enough for every slot to hold a Python instance:
        // `max_instances` is the only limit an operator meets.
        pool.total_component_instances(slots)
            .total_core_instances(slots * 48)
            .total_memories(slots * 2)
            .total_tables(slots * 4)
            .total_stacks(slots)
            .max_memory_size((Limits::MAX_MEMORY_MIB << 20) as usize);
        // Where the kernel can say which pages an instance wrote (Linux 6.7+), a slot is reset
        // by copying back only those pages, and its pages stay mapped: the next instance in the
        // slot starts without page faults. Interpreted guests touch megabytes per call, so this
        // is most of their per-call cost. Elsewhere, slots are reset with `madvise`.
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.pagemap_scan(Enabled::Yes)
                .linear_memory_keep_resident((Limits::MAX_MEMORY_MIB << 20) as usize)
                .table_keep_resident(1 << 20);
        }
        let mut config = Config::new();
        config.epoch_interruption(true).allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| format!("the wasm engine cannot start: {e:#}"))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| e.to_string())?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(|e| e.to_string())?;
        bindings::add_to_linker(&mut linker).map_err(|e| e.to_string())?;

        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());

        if let Some(dir) = &settings.cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("the plugin cache folder {} cannot be created: {e}", dir.display()))?;
        }

        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticker_engine, stop) = (engine.weak(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match ticker_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| format!("the epoch ticker cannot start: {e}"))?;

        Ok(Self {
            engine,
            linker,
            cache_dir: settings.cache_dir.clone(),
            engine_key,
            stop_ticker,
            slots: Slots::new(slots),
        })
    }

    /// Compiles (or finds in the cache), checks and pre-instantiates a plugin. Blocking: run it
    /// off the request path.
    pub(crate) fn load(&self, manifest: &Manifest, bytes: &[u8]) -> Result<Prepared, LoadError> {
        let hash = hex(&Sha256::digest(bytes));
        let component = self.compile(bytes, &hash)?;
        self.check_exports(manifest, &component)?;
        let imports = self.check_imports(manifest, &component)?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| LoadError::Instantiate(format!("{e:#}")))?;
        let exports = Exports::new(manifest.kind, &pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        Ok(Prepared { hash, pre, exports, imports })
    }

    fn compile(&self, bytes: &[u8], hash: &str) -> Result<Component, LoadError> {
        let compile_error = |e: wasmtime::Error| LoadError::Compile(format!("{e:#}"));
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes).map_err(compile_error);
        };
        let path = dir.join(format!("{hash}-{}.cwasm", self.engine_key));
        if path.exists() {
            // SAFETY: the file is in the host's own cache folder, written by `precompile_component`
            // of an engine with the same compatibility hash (it is in the file name).
            match unsafe { Component::deserialize_file(&self.engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "discarding an unreadable cached plugin"),
            }
        }
        let artifact = self.engine.precompile_component(bytes).map_err(compile_error)?;
        if let Err(e) = write_atomically(&path, &artifact) {
            tracing::warn!(path = %path.display(), error = %e, "the compiled plugin could not be cached");
        }
        // SAFETY: the artifact was produced just now by this engine.
        unsafe { Component::deserialize(&self.engine, &artifact) }.map_err(compile_error)
    }

    /// A component must export its kind's interface: that is what "built for the world" means.
    fn check_exports(&self, manifest: &Manifest, component: &Component) -> Result<(), LoadError> {
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(&self.engine).map(|(name, _)| name.to_owned()).collect();
        if exports.iter().any(|e| e == manifest.kind.export()) {
            return Ok(());
        }
        let built_for = Kind::ALL.into_iter().find(|k| exports.iter().any(|e| e == k.export()));
        Err(LoadError::WrongWorld(match built_for {
            Some(other) => format!(
                "plugin {:?} is declared as a {} but its component was built for the {other} world; \
                 set kind = \"{other}\" in the manifest or rebuild it for world {}",
                manifest.name,
                manifest.kind,
                manifest.kind.world()
            ),
            None => format!(
                "plugin {:?} does not export {} (it exports: {}); build it for world {} of wit/policy@0.1.0",
                manifest.name,
                manifest.kind.export(),
                if exports.is_empty() { "nothing".into() } else { exports.join(", ") },
                manifest.kind.world()
            ),
        }))
    }

    /// Deny by default: a plugin imports only the policy interfaces, WASI basics that grant
    /// nothing, and `wasi:http` when the manifest allows outbound hosts. Returns the imports.
    fn check_imports(&self, manifest: &Manifest, component: &Component) -> Result<Vec<String>, LoadError> {
        let ty = component.component_type();
        let mut imports = Vec::new();
        for (name, item) in ty.imports(&self.engine) {
            if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
                return Err(LoadError::ForbiddenImport(format!(
                    "plugin {:?} imports {name:?}, which is not an interface Gatehouse provides",
                    manifest.name
                )));
            }
            let package = name.split('/').next().unwrap_or(name);
            let refusal = match package {
                "gatehouse:policy" => None,
                "wasi:http" if manifest.allowed_outbound_hosts.is_empty() => Some(format!(
                    "plugin {:?} imports {name} but its manifest allows no outbound hosts; \
                     add the origins it needs to allowed_outbound_hosts, e.g. [\"https://api.example.com\"]",
                    manifest.name
                )),
                "wasi:http" | "wasi:io" | "wasi:clocks" | "wasi:random" | "wasi:cli" | "wasi:filesystem" => None,
                "wasi:sockets" => Some(format!(
                    "plugin {:?} imports {name}: plugins get no sockets; use wasi:http with allowed_outbound_hosts",
                    manifest.name
                )),
                _ => Some(format!(
                    "plugin {:?} imports {name}, which Gatehouse does not provide to plugins",
                    manifest.name
                )),
            };
            if let Some(message) = refusal {
                return Err(LoadError::ForbiddenImport(message));
            }
            imports.push(name.to_owned());
        }
        Ok(imports)
    }

    /// A store for one plugin instance, with the plugin's limits and grants and nothing else.
    /// Arm it with [`arm`] before each call.
    pub(crate) fn store(&self, grants: &Grants) -> Store<State> {
        // One store holds one component instance: its core instances, memories and tables are
        // bounded here (a Python component has 38 core instances, one memory and a few
        // tables), and `Limiter` counts its memories' sizes together against the plugin's limit.
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size((grants.limits.memory_mib << 20) as usize)
            .instances(MAX_CORE_INSTANCES)
            .memories(MAX_MEMORIES)
            .tables(MAX_TABLES)
            .table_elements(MAX_TABLE_ELEMENTS)
            .trap_on_grow_failure(true)
            .build();
        let state = State {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            outbound: Outbound::new(grants.plugin.clone(), grants.origins.clone(), grants.private_addresses),
            table: ResourceTable::new(),
            limiter: Limiter { limits, budget: (grants.limits.memory_mib << 20) as usize, used: 0 },
            plugin: grants.plugin.clone(),
            config: grants.config.clone(),
            deadline: Instant::now(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Guest code yields to the executor at every tick, so a busy plugin never holds a
        // worker thread for long, and is interrupted once its time is up.
        store.epoch_deadline_callback(|store| {
            let expired = Instant::now() >= store.data().deadline;
            Ok(if expired { UpdateDeadline::Interrupt } else { UpdateDeadline::Yield(1) })
        });
        arm(&mut store, Duration::from_millis(grants.limits.time_ms));
        store
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// Gives the store's next call `limit` from now.
pub(crate) fn arm(store: &mut Store<State>, limit: Duration) {
    store.data_mut().deadline = Instant::now() + limit;
    store.set_epoch_deadline(1);
}

/// A component that passed the load checks, ready to instantiate.
pub(crate) struct Prepared {
    pub hash: String,
    pub pre: InstancePre<State>,
    pub exports: Exports,
    /// The interfaces the component imports.
    pub imports: Vec<String>,
}

/// What one plugin's calls may use.
#[derive(Clone)]
pub(crate) struct Grants {
    pub plugin: Arc<str>,
    pub config: Arc<str>,
    pub origins: Arc<[Origin]>,
    /// The manifest's `allow_private_addresses`.
    pub private_addresses: bool,
    pub limits: Limits,
}

impl Grants {
    pub(crate) fn of(manifest: &Manifest) -> Self {
        Self {
            plugin: manifest.name.as_str().into(),
            config: manifest.config_json().into(),
            origins: manifest.origins().into(),
            private_addresses: manifest.allow_private_addresses,
            limits: manifest.limits,
        }
    }
}

/// The data of one call's store.
pub(crate) struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: Outbound,
    table: ResourceTable,
    limiter: Limiter,
    pub(crate) plugin: Arc<str>,
    pub(crate) config: Arc<str>,
    /// When the call running in this store must stop.
    deadline: Instant,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// The error a call fails with when the guest grows memory past its limit. Calls are
/// classified by finding it as the root cause.
#[derive(Debug)]
pub(crate) struct MemoryLimitExceeded;

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin's memory limit was reached")
    }
}

impl std::error::Error for MemoryLimitExceeded {}

/// Core instances one plugin instance may have (a Python component has 38).
const MAX_CORE_INSTANCES: usize = 48;
/// Linear memories one plugin instance may have, together within its memory limit.
const MAX_MEMORIES: usize = 2;
/// Tables one plugin instance may have.
const MAX_TABLES: usize = 4;
/// Elements one table may grow to.
const MAX_TABLE_ELEMENTS: usize = 1 << 16;

/// `StoreLimits`, with the memory limit counted over all of the store's memories together,
/// failing memory growth with [`MemoryLimitExceeded`].
struct Limiter {
    limits: StoreLimits,
    /// The plugin's memory limit, in bytes, for all its memories together.
    budget: usize,
    /// Bytes of all the store's memories.
    used: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let used = self.used - current.min(self.used) + desired;
        match self.limits.memory_growing(current, desired, maximum) {
            Ok(true) if used <= self.budget => {
                self.used = used;
                Ok(true)
            }
            _ => Err(wasmtime::Error::new(MemoryLimitExceeded)),
        }
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_limit_counts_every_memory_together() {
        const MIB: usize = 1 << 20;
        let limits = wasmtime::StoreLimitsBuilder::new().memory_size(8 * MIB).build();
        let mut limiter = Limiter { limits, budget: 8 * MIB, used: 0 };
        assert!(limiter.memory_growing(0, 5 * MIB, None).unwrap(), "a first memory of 5 MiB");
        assert!(limiter.memory_growing(0, 2 * MIB, None).unwrap(), "a second of 2 MiB: 7 in all");
        let refused = limiter.memory_growing(2 * MIB, 4 * MIB, None).unwrap_err();
        assert!(refused.downcast_ref::<MemoryLimitExceeded>().is_some(), "the second to 4 MiB would make 9");
        assert!(limiter.memory_growing(5 * MIB, 6 * MIB, None).unwrap(), "the first to 6 MiB makes 8");
        assert_eq!(limiter.used, 8 * MIB);
    }
}
