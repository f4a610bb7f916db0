//! The Hybrid OP plan (`oidcc-hybrid-certification-test-plan`, `OIDCCHybridTestPlan`): its
//! modules for `response_type=code id_token`, `code token` and `code id_token token`, with
//! `client_secret_basic` but for `oidcc-server-client-secret-post`. The lists are the plan's:
//! `oidcc-response-type-missing`, `oidcc-alternate-happy-flow` and the PKCE module run for
//! `code id_token` only; `code token`, which returns no ID token from the authorization
//! endpoint, has `oidcc-ensure-request-without-nonce-succeeds-for-code-flow` where the others
//! have `oidcc-ensure-request-without-nonce-fails`. Not here: `oidcc-idtoken-signature`,
//! `@VariantNotApplicable` for the static client the plan runs with. The Form Post Hybrid plan
//! (`oidcc-formpost-hybrid-certification-test-plan`) runs the same lists with
//! `response_mode=form_post`: `hybrid::code_id_token::form_post::…`. The modules are in
//! `conformance::oidcc`.

use super::oidcc::{Auth, ResponseType, Variant};

const CODE_ID_TOKEN: Variant = Variant::new(Auth::Basic, ResponseType::CodeIdToken);
const CODE_TOKEN: Variant = Variant::new(Auth::Basic, ResponseType::CodeToken);
const CODE_ID_TOKEN_TOKEN: Variant = Variant::new(Auth::Basic, ResponseType::CodeIdTokenToken);

plan!(code_id_token = CODE_ID_TOKEN + form_post => [
    oidcc_server,
    oidcc_response_type_missing,
    oidcc_userinfo_get,
    oidcc_userinfo_post_header,
    oidcc_userinfo_post_body,
    oidcc_ensure_request_without_nonce_fails,
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
    oidcc_server_client_secret_post,
    oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported,
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
    oidcc_claims_essential,
    oidcc_ensure_request_object_with_redirect_uri,
    oidcc_refresh_token,
    oidcc_ensure_request_with_valid_pkce_succeeds,
]);

plan!(code_token = CODE_TOKEN + form_post => [
    oidcc_server,
    oidcc_userinfo_get,
    oidcc_userinfo_post_header,
    oidcc_userinfo_post_body,
    oidcc_ensure_request_without_nonce_succeeds_for_code_flow,
    oidcc_scope_profile,
    oidcc_scope_email,
    oidcc_scope_address,
    oidcc_scope_phone,
    oidcc_scope_all,
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
    oidcc_server_client_secret_post,
    oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported,
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
    oidcc_claims_essential,
    oidcc_ensure_request_object_with_redirect_uri,
    oidcc_refresh_token,
]);

plan!(code_id_token_token = CODE_ID_TOKEN_TOKEN + form_post => [
    oidcc_server,
    oidcc_userinfo_get,
    oidcc_userinfo_post_header,
    oidcc_userinfo_post_body,
    oidcc_ensure_request_without_nonce_fails,
    oidcc_scope_profile,
    oidcc_scope_email,
    oidcc_scope_address,
    oidcc_scope_phone,
    oidcc_scope_all,
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
    oidcc_server_client_secret_post,
    oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported,
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
    oidcc_claims_essential,
    oidcc_ensure_request_object_with_redirect_uri,
    oidcc_refresh_token,
]);
