//! Gatehouse's end-to-end tests: one binary, real HTTP on loopback, real SQLite files, an
//! independent relying-party library. Each test starts its own server; none depends on
//! another's leftovers.

mod support;

mod api_errors;
mod browser;
mod client_auth_jwt;
mod clients_api;
mod cluster;
mod code_flow;
mod conformance;
mod encrypted_request_objects;
mod encryption;
mod example_limits;
mod frontend;
mod frontend_throttle;
mod hardening;
mod hardening_edge;
mod hsm;
mod introspection;
mod logout;
mod mcp;
mod negative;
mod outbound;
mod pairwise;
mod par;
mod plugins;
mod polyglot;
mod registration;
mod request_objects;
mod resource_indicators;
mod response_types;
mod restart;
mod revocation;
mod rp_openid_client;
mod session_data;
mod shared_database;
mod sso;
mod strict_inputs;
mod tls;
