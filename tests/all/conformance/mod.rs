//! Re-implementations of the OpenID Foundation conformance suite's OP test modules, named
//! after their module ids (`oidcc-discovery-endpoint-verification` →
//! `oidcc_discovery_endpoint_verification`). The suite itself needs Maven and Docker and
//! cannot run here; these tests send what its modules send and check what they check, FAIL
//! and WARN conditions alike (a plan must pass "with no warning that Gatehouse causes").
//! Notes on every module are in the suite's plan and module classes
//! (`openid-certification/conformance-suite`, `src/main/java/net/openid/conformance/openid/`).
//!
//! Where each plan's modules are:
//!
//! - **Basic** (`oidcc-basic-certification-test-plan`): [`basic`], each module once per
//!   `client_auth_type` variant (`basic::client_secret_basic::…`, `basic::private_key_jwt::…`);
//!   its request-object and `claims` modules in [`request_objects`]; `oidcc-idtoken-signature`,
//!   which runs with a dynamic client only, in [`dynamic_registration`].
//! - **Config** (`oidcc-config-certification-test-plan`): [`config`].
//! - **Dynamic** (`oidcc-dynamic-certification-test-plan`, `private_key_jwt`): the registration
//!   and redirect-URI modules in [`dynamic_registration`]; `oidcc-idtoken-rs256`,
//!   `oidcc-idtoken-unsigned` and `oidcc-userinfo-rs256` in [`dynamic_tokens`];
//!   `oidcc-server-rotate-keys` in [`server_keys`]; `oidcc-request-uri-unsigned`,
//!   `oidcc-request-uri-signed-rs256` and `oidcc-ensure-request-object-with-redirect-uri` in
//!   [`request_objects`]; `oidcc-registration-jwks-uri`, `oidcc-refresh-token-rp-key-rotation`
//!   and `oidcc-ensure-client-assertion-with-iss-aud-succeeds` beside the other client-assertion
//!   tests in `client_auth_jwt`; `oidcc-refresh-token` as `basic::private_key_jwt::oidcc_refresh_token`.
//! - **RP-Initiated Logout** (`oidcc-rp-initiated-logout-certification-test-plan`): the
//!   discovery module and the ten `oidcc-rp-initiated-logout*` modules in [`logout`].
//! - **Back-Channel Logout** (`oidcc-backchannel-rp-initiated-logout-certification-test-plan`):
//!   `oidcc-backchannel-logout-discovery-endpoint-verification` and
//!   `oidcc-backchannel-rp-initiated-logout` in [`logout`].
//! - **Front-Channel Logout** (`oidcc-frontchannel-rp-initiated-logout-certification-test-plan`):
//!   `oidcc-frontchannel-logout-discovery-endpoint-verification` and
//!   `oidcc-frontchannel-rp-initiated-logout` in [`logout`].
//! - **3rd-Party-Initiated Login** (`oidcc-3rdparty-init-login-certification-test-plan`):
//!   `oidcc-3rd_party-init-login` and `oidcc-3rd_party-init-login-nohttps` in
//!   [`third_party_login`].

mod basic;
mod config;
mod dynamic_registration;
mod dynamic_tokens;
mod logout;
mod request_objects;
mod server_keys;
mod third_party_login;
