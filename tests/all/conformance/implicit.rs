//! The Implicit OP plan (`oidcc-implicit-certification-test-plan`, `OIDCCImplicitTestPlan`):
//! its modules for `response_type=id_token` and for `id_token token`, the second with the
//! UserInfo modules and `oidcc-response-type-missing` besides (`client_secret_basic` is the
//! plan's `client_auth_type`, unused without a token request). Not here:
//! `oidcc-idtoken-signature`, `@VariantNotApplicable` for the static client the plan runs with.
//! The Form Post Implicit plan (`oidcc-formpost-implicit-certification-test-plan`) runs the
//! same lists with `response_mode=form_post`: `implicit::id_token::form_post::…`. The modules
//! are in `conformance::oidcc`.

use super::oidcc::{Auth, ResponseType, Variant};

const ID_TOKEN: Variant = Variant::new(Auth::Basic, ResponseType::IdToken);
const ID_TOKEN_TOKEN: Variant = Variant::new(Auth::Basic, ResponseType::IdTokenToken);

plan!(id_token = ID_TOKEN + form_post => [
    oidcc_server,
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
    oidcc_ensure_registered_redirect_uri,
    oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported,
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
    oidcc_ensure_request_object_with_redirect_uri,
    oidcc_claims_essential,
]);

plan!(id_token_token = ID_TOKEN_TOKEN + form_post => [
    oidcc_server,
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
    oidcc_ensure_registered_redirect_uri,
    oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported,
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
    oidcc_ensure_request_object_with_redirect_uri,
    oidcc_claims_essential,
    oidcc_userinfo_get,
    oidcc_userinfo_post_header,
    oidcc_userinfo_post_body,
    oidcc_response_type_missing,
]);
