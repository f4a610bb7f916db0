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
//! The modules of the Basic, Implicit, Hybrid and Form Post plans are functions of the plan's
//! variant in [`oidcc`]; each plan's file lists them per variant with [`plan!`], which makes a
//! test of each (variant, module) pair.
//!
//! - **Basic** (`oidcc-basic-certification-test-plan`): [`basic`], each module once per
//!   `client_auth_type` variant (`basic::client_secret_basic::…`, `basic::private_key_jwt::…`;
//!   the request-object and `claims` modules for `client_secret_basic` only, as the plan runs
//!   them); `oidcc-idtoken-signature`, which runs with a dynamic client only, in
//!   [`dynamic_registration`].
//! - **Implicit** (`oidcc-implicit-certification-test-plan`): [`implicit`], per `response_type`
//!   (`implicit::id_token::…`, `implicit::id_token_token::…`).
//! - **Hybrid** (`oidcc-hybrid-certification-test-plan`): [`hybrid`], per `response_type`
//!   (`hybrid::code_id_token::…`, `hybrid::code_token::…`, `hybrid::code_id_token_token::…`).
//! - **Form Post** (`oidcc-formpost-basic-…`, `oidcc-formpost-implicit-…` and
//!   `oidcc-formpost-hybrid-certification-test-plan`): the same lists with
//!   `response_mode=form_post`, in a `form_post` module beside each variant's tests
//!   (`basic::client_secret_basic::form_post::…`, `implicit::id_token::form_post::…`,
//!   `hybrid::code_token::form_post::…`).
//! - **Config** (`oidcc-config-certification-test-plan`): [`config`].
//! - **Dynamic** (`oidcc-dynamic-certification-test-plan`, `private_key_jwt`): the registration
//!   and redirect-URI modules in [`dynamic_registration`]; `oidcc-idtoken-rs256`,
//!   `oidcc-idtoken-unsigned` and `oidcc-userinfo-rs256` in [`dynamic_tokens`];
//!   `oidcc-server-rotate-keys` in [`server_keys`]; `oidcc-request-uri-unsigned` and
//!   `oidcc-request-uri-signed-rs256` in [`request_objects`];
//!   `oidcc-ensure-request-object-with-redirect-uri` as
//!   `basic::private_key_jwt::oidcc_ensure_request_object_with_redirect_uri`; `oidcc-registration-jwks-uri`, `oidcc-refresh-token-rp-key-rotation`
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

/// A plan's modules for one of its variants, a test each: `plan!(id_token = ID_TOKEN => [oidcc_server, …])`
/// makes `id_token::oidcc_server`, which runs `oidcc::oidcc_server(ID_TOKEN)` (`ID_TOKEN` a
/// [`oidcc::Variant`] of the calling module). With `+ form_post` after the variant, the Form
/// Post plan's run of the same list too (`changeResponseTypeToFormPost`):
/// `id_token::form_post::oidcc_server`, with `ID_TOKEN.form_post()`.
macro_rules! plan {
    ($variant:ident = $value:ident $(+ $mode:ident)? => $modules:tt) => {
        mod $variant {
            plan!(@tests super::$value, $modules);
            $(mod $mode {
                plan!(@tests super::super::$value.$mode(), $modules);
            })?
        }
    };
    (@tests $value:expr, [$($module:ident),* $(,)?]) => {
        $(#[tokio::test]
        async fn $module() {
            crate::conformance::oidcc::$module($value).await;
        })*
    };
}

mod basic;
mod config;
mod dynamic_registration;
mod dynamic_tokens;
mod hybrid;
mod implicit;
mod logout;
mod oidcc;
mod request_objects;
mod server_keys;
mod third_party_login;
