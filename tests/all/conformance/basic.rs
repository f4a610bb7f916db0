//! The Basic OP plan (`oidcc-basic-certification-test-plan`, `OIDCCBasicTestPlan`): response
//! type `code`, its modules for the `client_secret_basic` variant of `client_auth_type` (and
//! `oidcc-server-client-secret-post`, with `client_secret_post`), and again for `private_key_jwt`
//! but the request-object and `claims` modules; `oidcc-ensure-request-object-with-redirect-uri`
//! there stands for the Dynamic plan's, which runs with `private_key_jwt`. The Form Post Basic plan
//! (`oidcc-formpost-basic-certification-test-plan`) runs the `client_secret_basic` list with
//! `response_mode=form_post`: `basic::client_secret_basic::form_post::…`. The modules are in
//! `conformance::oidcc`.

use super::oidcc::{Auth, ResponseType, Variant};

const CLIENT_SECRET_BASIC: Variant = Variant::new(Auth::Basic, ResponseType::Code);
const PRIVATE_KEY_JWT: Variant = Variant::new(Auth::PrivateKeyJwt, ResponseType::Code);

plan!(client_secret_basic = CLIENT_SECRET_BASIC + form_post => [
    oidcc_server,
    oidcc_response_type_missing,
    oidcc_idtoken_unsigned,
    oidcc_userinfo_get,
    oidcc_userinfo_post_header,
    oidcc_userinfo_post_body,
    oidcc_ensure_request_without_nonce_succeeds_for_code_flow,
    oidcc_scope_profile,
    oidcc_scope_email,
    oidcc_scope_address,
    oidcc_scope_phone,
    oidcc_scope_all,
    oidcc_alternate_happy_flow,
    oidcc_display_page,
    oidcc_display_popup,
    oidcc_prompt_login,
    oidcc_prompt_none_not_logged_in,
    oidcc_prompt_none_logged_in,
    oidcc_max_age_1,
    oidcc_max_age_10000,
    oidcc_ensure_request_with_unknown_parameter_succeeds,
    oidcc_id_token_hint,
    oidcc_login_hint,
    oidcc_ui_locales,
    oidcc_claims_locales,
    oidcc_ensure_request_with_acr_values_succeeds,
    oidcc_codereuse,
    oidcc_codereuse_30seconds,
    oidcc_ensure_registered_redirect_uri,
    oidcc_ensure_post_request_succeeds,
    oidcc_server_client_secret_post,
    oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported,
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
    oidcc_claims_essential,
    oidcc_ensure_request_object_with_redirect_uri,
    oidcc_refresh_token,
    oidcc_ensure_request_with_valid_pkce_succeeds,
]);

plan!(private_key_jwt = PRIVATE_KEY_JWT => [
    oidcc_server,
    oidcc_response_type_missing,
    oidcc_idtoken_unsigned,
    oidcc_userinfo_get,
    oidcc_userinfo_post_header,
    oidcc_userinfo_post_body,
    oidcc_ensure_request_without_nonce_succeeds_for_code_flow,
    oidcc_scope_profile,
    oidcc_scope_email,
    oidcc_scope_address,
    oidcc_scope_phone,
    oidcc_scope_all,
    oidcc_alternate_happy_flow,
    oidcc_display_page,
    oidcc_display_popup,
    oidcc_prompt_login,
    oidcc_prompt_none_not_logged_in,
    oidcc_prompt_none_logged_in,
    oidcc_max_age_1,
    oidcc_max_age_10000,
    oidcc_ensure_request_with_unknown_parameter_succeeds,
    oidcc_id_token_hint,
    oidcc_login_hint,
    oidcc_ui_locales,
    oidcc_claims_locales,
    oidcc_ensure_request_with_acr_values_succeeds,
    oidcc_codereuse,
    oidcc_codereuse_30seconds,
    oidcc_ensure_registered_redirect_uri,
    oidcc_ensure_post_request_succeeds,
    oidcc_ensure_request_object_with_redirect_uri,
    oidcc_refresh_token,
    oidcc_ensure_request_with_valid_pkce_succeeds,
]);
