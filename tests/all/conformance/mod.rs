//! Re-implementations of the OpenID Foundation conformance suite's OP test modules, named
//! after their module ids (`oidcc-discovery-endpoint-verification` →
//! `oidcc_discovery_endpoint_verification`). The suite itself needs Maven and Docker and
//! cannot run here; these tests send what its modules send and check what they check, FAIL
//! and WARN conditions alike (a plan must pass "with no warning that Gatehouse causes").
//! Notes on every module are in the suite's plan and module classes
//! (`openid-certification/conformance-suite`, `src/main/java/net/openid/conformance/openid/`).

mod basic;
mod config;
mod dynamic_registration;
mod dynamic_tokens;
mod request_objects;
