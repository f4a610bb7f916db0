//! Why a plugin version was refused, and what went wrong in a call.

use std::fmt;

/// Why a plugin version could not be loaded. The message is meant for the operator: it says
/// what is wrong and, where it can, how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("the manifest is invalid: {0}")]
    Manifest(String),
    #[error("the component could not be read: {0}")]
    Io(String),
    #[error("the component does not compile: {0}")]
    Compile(String),
    #[error("{0}")]
    WrongWorld(String),
    #[error("{0}")]
    ForbiddenImport(String),
    #[error("the component cannot be instantiated: {0}")]
    Instantiate(String),
    #[error("the load check failed: {0}")]
    Check(String),
    #[error("{0}")]
    Conflict(String),
    #[error("no plugin {0:?} is installed")]
    UnknownPlugin(String),
    #[error("plugin {name:?} has no version {version:?}")]
    UnknownVersion { name: String, version: String },
    #[error("plugin {0:?} has no earlier version to roll back to")]
    NothingToRollBack(String),
}

/// An incident in a plugin call: the request gets `server_error` or the plugin's fallback, and
/// this is only logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incident {
    /// The guest trapped (a panic, an unreachable, a failed host call).
    Trap(String),
    /// The call ran out of time.
    Timeout,
    /// The guest asked for more memory than its limit.
    MemoryLimit,
    /// The guest's answer broke the contract.
    Malformed(String),
    /// No instance slot came free for the call: load, not the plugin's failure.
    Capacity,
    /// The host could not run the call (instantiation failed).
    Host(String),
}

impl Incident {
    /// Whether the plugin itself failed, rather than the host lacking capacity for it.
    pub fn is_the_plugins(&self) -> bool {
        !matches!(self, Incident::Capacity)
    }
}

impl fmt::Display for Incident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incident::Trap(t) => write!(f, "trap: {t}"),
            Incident::Timeout => f.write_str("time limit exceeded"),
            Incident::MemoryLimit => f.write_str("memory limit exceeded"),
            Incident::Malformed(m) => write!(f, "malformed answer: {m}"),
            Incident::Capacity => f.write_str("no free instance (capacity)"),
            Incident::Host(m) => write!(f, "host failure: {m}"),
        }
    }
}
