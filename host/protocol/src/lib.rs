//! Gatehouse's OAuth 2.0 / OpenID Connect logic.
//!
//! This crate knows nothing of HTTP, SQL, PKCS#11 or WebAssembly. It talks to the world through
//! ports: [`store::Store`], [`signer::Signer`], [`world::Clock`], [`world::Random`] and the
//! policy traits of [`plugins`]. The server makes one call on [`Provider`] per request.

mod access_token;
pub mod authorize;
pub mod claims;
pub mod client_keys;
pub mod clients;
pub mod encryption;
mod encryption_keys;
pub mod error;
pub mod fetch;
pub mod introspection;
pub mod jose;
pub mod jwe;
pub mod logged;
pub mod logout;
pub mod model;
pub mod pairwise;
pub mod par;
pub mod plugins;
pub mod resources;
pub mod revocation;
pub mod secret;
pub mod session;
pub mod signer;
pub mod store;
pub mod token;
pub mod userinfo;
pub mod world;

mod discovery;
mod provider;

pub use error::{ApiError, ErrorCode, OAuthError};
pub use provider::{Endpoints, Lifetimes, Limits, MaxLifetimes, Ports, Provider, Settings};
