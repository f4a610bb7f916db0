//! The manifest that travels with each plugin component.
//!
//! ```toml
//! name = "user-directory"
//! kind = "claims-source"          # or "consent-policy", "login-hooks"
//! version = "1.2.0"
//! component = "user-directory.wasm"   # beside the manifest; NAME.wasm when absent
//! allowed_outbound_hosts = ["https://directory.example.com"]
//! allow_private_addresses = false # true: the hosts may resolve to private addresses
//! on_failure = "error"            # see `OnFailure`: what a failure does, per kind
//! order = 10                      # claims sources and hooks run lowest first
//! reuse_instances = false         # true: one instance serves many calls (see `Manifest`)
//! instance_per_login = false      # login hooks: one instance serves a login's stages
//!
//! [limits]
//! time_ms = 500
//! memory_mib = 32
//! prepared_instances = 2          # instances kept instantiated ahead of calls
//! reserved_instances = 1          # instances no other plugin's load can take
//!
//! [config]                        # handed to the plugin as JSON
//! url = "https://directory.example.com/users/{sub}"
//! ```

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::LoadError;

/// The three kinds of plugin, one WIT world each.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    ClaimsSource,
    ConsentPolicy,
    LoginHooks,
}

impl Kind {
    /// The WIT world a component of this kind is built for.
    pub fn world(self) -> &'static str {
        match self {
            Kind::ClaimsSource => "claims-source",
            Kind::ConsentPolicy => "consent-policy",
            Kind::LoginHooks => "login-hooks",
        }
    }

    /// The interface a component of this kind must export.
    pub fn export(self) -> &'static str {
        match self {
            Kind::ClaimsSource => "gatehouse:policy/claims@0.1.0",
            Kind::ConsentPolicy => "gatehouse:policy/consent@0.1.0",
            Kind::LoginHooks => "gatehouse:policy/hooks@0.1.0",
        }
    }

    pub const ALL: [Kind; 3] = [Kind::ClaimsSource, Kind::ConsentPolicy, Kind::LoginHooks];
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.world())
    }
}

/// What a request gets when the plugin fails (trap, timeout, memory limit, bad answer).
///
/// The contract, per kind: a failure fails the request with `server_error` unless the manifest
/// says otherwise. A claims source may be skipped (`skip`): it adds claims and denies nothing.
/// A consent policy or login hooks can deny, and skipping them on failure lets through what
/// they would deny, so for them it takes `skip-unsafe`, and the host warns when it loads one.
/// No free instance (capacity, not the plugin's failure) is never skipped for a kind that can
/// deny: the request gets `temporarily_unavailable`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnFailure {
    /// The request fails with `server_error`.
    #[default]
    #[serde(rename = "error")]
    Error,
    /// For a claims source: the request goes on without its claims.
    #[serde(rename = "skip")]
    Skip,
    /// For a consent policy or login hooks: the request goes on as if the plugin were not
    /// loaded (consent asked of the user, login continuing), even when it would have denied.
    #[serde(rename = "skip-unsafe")]
    SkipUnsafe,
}

impl OnFailure {
    /// Whether a failed call is passed over rather than failing the request.
    pub fn skips(self) -> bool {
        self != OnFailure::Error
    }
}

impl Kind {
    /// Whether a plugin of this kind can refuse a request, so that skipping it is unsafe.
    pub fn can_deny(self) -> bool {
        self != Kind::ClaimsSource
    }
}

/// Per-call limits.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock time for one call, outbound HTTP included.
    #[serde(default = "Limits::default_time_ms")]
    pub time_ms: u64,
    /// Linear memory of one instance.
    #[serde(default = "Limits::default_memory_mib")]
    pub memory_mib: u64,
    /// Instances kept instantiated ahead of calls, so a call pays for neither instantiating
    /// nor tearing down. Each costs its resident memory (~0.1 MB for a Rust guest, ~3 MB for
    /// JavaScript, ~7 MB for Python); 0 instantiates on the call.
    #[serde(default = "Limits::default_prepared_instances")]
    pub prepared_instances: u32,
    /// Instances of this plugin that can be alive at once whatever other plugins do: the
    /// engine keeps that many of its slots for it. Prepared instances count against it first.
    #[serde(default = "Limits::default_reserved_instances")]
    pub reserved_instances: u32,
}

impl Limits {
    fn default_time_ms() -> u64 {
        500
    }

    fn default_memory_mib() -> u64 {
        32
    }

    fn default_prepared_instances() -> u32 {
        2
    }

    fn default_reserved_instances() -> u32 {
        1
    }

    /// The most instances a manifest may ask to keep prepared.
    pub const MAX_PREPARED_INSTANCES: u32 = 16;

    /// The largest memory limit a manifest may ask for; the engine reserves this per slot.
    pub const MAX_MEMORY_MIB: u64 = 256;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            time_ms: Self::default_time_ms(),
            memory_mib: Self::default_memory_mib(),
            prepared_instances: Self::default_prepared_instances(),
            reserved_instances: Self::default_reserved_instances(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub kind: Kind,
    pub version: String,
    /// The component file, relative to the manifest's folder; `NAME.wasm` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Origins (`scheme://host[:port]`) the plugin may send HTTP requests to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_outbound_hosts: Vec<String>,
    /// Let the allowed host names resolve to loopback, private, link-local or other non-public
    /// addresses (a directory on the operator's own network). Off, only public addresses are
    /// connected to, except where an origin is an IP literal, which is allowed as named.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private_addresses: bool,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// Position among plugins of the same kind, lowest first. Claims sources that supply the
    /// same claim must both have one, and the lower wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
    /// Let one instance serve many calls, one after another, instead of a fresh instance per
    /// call. Faster for interpreted guests, but whatever a call leaves in the instance's memory
    /// (globals, caches, a previous user's data) is there for the next call, and a leak grows
    /// until the memory limit fails a call. Only for plugins that keep no state between calls;
    /// an instance that fails a call is discarded, and each serves at most
    /// [`Manifest::MAX_CALLS_PER_INSTANCE`] calls.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reuse_instances: bool,
    /// For login hooks: one instance serves all the stages of one login (an authorization
    /// session), and no other login; what a stage leaves in memory is there for the login's
    /// next stage. Costs one instantiation per login instead of one per call. The instance is
    /// best-effort state: it may be replaced by a fresh one (after a failed call, when it was
    /// idle for 10 minutes, when 64 logins keep one, or under load), so session `data` stays
    /// the place for what must survive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub instance_per_login: bool,
    #[serde(default)]
    pub limits: Limits,
    /// The plugin's own configuration.
    #[serde(default)]
    pub config: toml::Table,
}

impl Manifest {
    /// How many calls a reused instance serves before it is replaced by a fresh one.
    pub const MAX_CALLS_PER_INSTANCE: u32 = 1000;

    /// Parses and checks a manifest in TOML.
    pub fn from_toml(text: &str) -> Result<Self, LoadError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| LoadError::Manifest(e.to_string()))?;
        manifest.check()?;
        Ok(manifest)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a manifest always serialises")
    }

    /// Checks what the type cannot say; [`Manifest::from_toml`] and every install run it.
    pub(crate) fn check(&self) -> Result<(), LoadError> {
        let bad = |m: String| Err(LoadError::Manifest(m));
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return bad(format!("name {:?} must be non-empty and use only letters, digits, '-' and '_'", self.name));
        }
        if self.version.is_empty() {
            return bad("version must not be empty".into());
        }
        if self.limits.time_ms == 0 || self.limits.time_ms > 60_000 {
            return bad(format!("limits.time_ms = {} must be between 1 and 60000", self.limits.time_ms));
        }
        if self.limits.memory_mib == 0 || self.limits.memory_mib > Limits::MAX_MEMORY_MIB {
            return bad(format!(
                "limits.memory_mib = {} must be between 1 and {}",
                self.limits.memory_mib,
                Limits::MAX_MEMORY_MIB
            ));
        }
        if self.limits.prepared_instances > Limits::MAX_PREPARED_INSTANCES {
            return bad(format!(
                "limits.prepared_instances = {} must be at most {}",
                self.limits.prepared_instances,
                Limits::MAX_PREPARED_INSTANCES
            ));
        }
        if self.limits.reserved_instances > Limits::MAX_PREPARED_INSTANCES {
            return bad(format!(
                "limits.reserved_instances = {} must be at most {}",
                self.limits.reserved_instances,
                Limits::MAX_PREPARED_INSTANCES
            ));
        }
        if self.instance_per_login && self.kind != Kind::LoginHooks {
            return bad(format!(
                "instance_per_login is for login hooks; a {} is called outside any one login",
                self.kind
            ));
        }
        if self.instance_per_login && self.reuse_instances {
            return bad("choose one of instance_per_login and reuse_instances".into());
        }
        match (self.kind.can_deny(), self.on_failure) {
            (true, OnFailure::Skip) => {
                return bad(format!(
                    "on_failure = \"skip\" is refused for a {}: it can deny, and skipping it when it fails lets \
                     through what it would deny; write on_failure = \"skip-unsafe\" if that is what you want, \
                     or \"error\"",
                    self.kind
                ));
            }
            (false, OnFailure::SkipUnsafe) => {
                return bad(format!(
                    "on_failure = \"skip-unsafe\" is for kinds that can deny; a {} denies nothing: write \
                     on_failure = \"skip\"",
                    self.kind
                ));
            }
            _ => {}
        }
        for origin in &self.allowed_outbound_hosts {
            Origin::parse(origin)?;
        }
        Ok(())
    }

    /// The configuration as the JSON text the plugin reads.
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).expect("TOML values are JSON values")
    }

    pub fn origins(&self) -> Vec<Origin> {
        self.allowed_outbound_hosts.iter().filter_map(|o| Origin::parse(o).ok()).collect()
    }
}

/// A scheme, host and port a plugin may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]`; the port defaults to the scheme's.
    pub fn parse(text: &str) -> Result<Self, LoadError> {
        let bad = |why: &str| {
            LoadError::Manifest(format!(
                "allowed_outbound_hosts entry {text:?} {why}; write it as scheme://host[:port], e.g. \"https://api.example.com\""
            ))
        };
        let url = Url::parse(text).map_err(|_| bad("is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must use http or https"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(bad("must not have a path, query, fragment or user"));
        }
        let host = url.host_str().ok_or_else(|| bad("has no host"))?.to_ascii_lowercase();
        let port = url.port_or_known_default().ok_or_else(|| bad("has no port"))?;
        Ok(Self { scheme: url.scheme().to_owned(), host, port })
    }
}
