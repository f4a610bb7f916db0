//! The Gatehouse server: configuration, wiring and the HTTP surface. This is the only crate
//! that knows HTTP.

pub mod app;
pub mod cluster;
pub mod config;
pub mod http;
pub mod logout_delivery;
pub mod metrics;
pub mod outbound;
pub mod routes;
pub mod serve;
pub mod tls;

pub use app::{Gatehouse, Overrides, StartupError};
pub use config::Config;
