//! The HTTP surface. Each handler has three beats: extract, one protocol call, render.

pub mod authz_sessions;
pub mod clients;
pub mod keys;
pub mod logout;
pub mod monitor;
pub mod oauth;
pub mod plugins;
pub mod registration;
pub mod tokens;
