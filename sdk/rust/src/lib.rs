//! Write Gatehouse policy plugins in Rust.
//!
//! A plugin is a type that implements one of three traits, exported with one macro:
//!
//! | kind | trait | macro |
//! | --- | --- | --- |
//! | claims source | [`claims::ClaimsSource`] | [`export_claims_source!`] |
//! | consent policy | [`consent::ConsentPolicy`] | [`export_consent_policy!`] |
//! | login hooks | [`hooks::LoginHooks`] | [`export_login_hooks!`] |
//!
//! ```ignore
//! use gatehouse_sdk::consent::{ConsentPolicy, Query, Verdict};
//! use gatehouse_sdk::PluginError;
//!
//! struct AlwaysAsk;
//!
//! impl ConsentPolicy for AlwaysAsk {
//!     fn decide(_query: Query) -> Result<Verdict, PluginError> {
//!         Ok(Verdict::Ask)
//!     }
//! }
//!
//! gatehouse_sdk::export_consent_policy!(AlwaysAsk);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` file is a component
//! ready to install with a manifest beside it.
//!
//! The host makes a fresh instance for every call, so statics do not survive between calls
//! (with the manifest's `reuse_instances = true` they may: never keep per-user data in them).
//! Read the plugin's configuration with [`config`], write to the host's log with [`log`], and
//! reach the outbound hosts the operator allowed with [`http`]. Nothing else is available: no
//! files, no environment variables, no sockets.

// The generated bindings name their runtime by this path, from the SDK and from plugins alike.
extern crate self as gatehouse_sdk;

pub mod claims;
pub mod consent;
pub mod hooks;
pub mod http;
pub mod log;

pub use serde_json::{Map, Value};

/// A JSON object, the shape of session data, session claims and client metadata.
pub type Object = Map<String, Value>;

/// An expected failure, delivered to the client as the OAuth 2.0 error `code`.
///
/// Return one when the plugin cannot answer for a reason it understands, for example
/// `PluginError::new("temporarily_unavailable", "the user directory is down")`. Panics are
/// incidents instead: the client only sees `server_error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginError {
    /// An OAuth 2.0 / OpenID Connect error code such as `temporarily_unavailable`.
    pub code: String,
    /// Text safe to show to the client.
    pub description: String,
}

impl PluginError {
    pub fn new(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self { code: code.into(), description: description.into() }
    }

    /// `temporarily_unavailable`: a dependency of the plugin is failing.
    pub fn unavailable(description: impl Into<String>) -> Self {
        Self::new("temporarily_unavailable", description)
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

/// A decision to refuse a request: the client receives `code` (usually `access_denied`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub code: String,
    pub description: String,
}

impl Denial {
    /// `access_denied` with a description.
    pub fn access_denied(description: impl Into<String>) -> Self {
        Self { code: "access_denied".into(), description: description.into() }
    }
}

/// The plugin's configuration: the `config` table of its manifest, deserialised into `T`.
///
/// A configuration that does not fit `T` is reported as a `server_error` failure, and the
/// host logs the reason.
pub fn config<T: serde::de::DeserializeOwned>() -> Result<T, PluginError> {
    let text = bindings::claims_source::gatehouse::policy::config::get();
    serde_json::from_str(&text).map_err(|e| {
        log::error(&format!("the plugin's configuration is not what it expects: {e}"));
        PluginError::new("server_error", "the plugin is misconfigured")
    })
}

/// Parses a JSON text from the host into an object (an empty one when it is not an object).
pub(crate) fn object(text: &str) -> Object {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Object::new(),
    }
}

#[doc(hidden)]
pub mod bindings {
    //! The bindings generated from `wit/`, one module per world. Plugin authors use the
    //! friendly types of the kind modules instead.

    pub mod claims_source {
        wit_bindgen::generate!({
            path: "../../wit/policy@0.1.0",
            world: "claims-source",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "gatehouse_sdk::bindings::claims_source",
            runtime_path: "gatehouse_sdk::bindings::rt",
        });
    }

    pub mod consent_policy {
        wit_bindgen::generate!({
            path: "../../wit/policy@0.1.0",
            world: "consent-policy",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "gatehouse_sdk::bindings::consent_policy",
            runtime_path: "gatehouse_sdk::bindings::rt",
            with: {
                "gatehouse:policy/types@0.1.0": super::claims_source::gatehouse::policy::types,
                "gatehouse:policy/log@0.1.0": super::claims_source::gatehouse::policy::log,
                "gatehouse:policy/config@0.1.0": super::claims_source::gatehouse::policy::config,
            },
        });
    }

    pub mod login_hooks {
        wit_bindgen::generate!({
            path: "../../wit/policy@0.1.0",
            world: "login-hooks",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "gatehouse_sdk::bindings::login_hooks",
            runtime_path: "gatehouse_sdk::bindings::rt",
            with: {
                "gatehouse:policy/types@0.1.0": super::claims_source::gatehouse::policy::types,
                "gatehouse:policy/log@0.1.0": super::claims_source::gatehouse::policy::log,
                "gatehouse:policy/config@0.1.0": super::claims_source::gatehouse::policy::config,
            },
        });
    }

    pub use wit_bindgen::rt;

    use claims_source::gatehouse::policy::types;

    impl From<crate::PluginError> for types::PluginError {
        fn from(e: crate::PluginError) -> Self {
            Self { code: e.code, description: e.description }
        }
    }

    impl From<crate::Denial> for types::Denial {
        fn from(d: crate::Denial) -> Self {
            Self { code: d.code, description: d.description }
        }
    }
}
