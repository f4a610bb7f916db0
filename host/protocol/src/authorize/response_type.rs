//! `response_type` must be `code`, and the client registered for it (RFC 6749 §4.1.1, §5.2
//! `unauthorized_client`). This check also starts the validated request.

use super::Draft;
use crate::error::{ErrorCode, OAuthError};
use crate::model::AuthorizationRequest;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let Some(response_type) = draft.params.get("response_type") else {
        return Err(OAuthError::invalid_request("the response_type parameter is missing"));
    };
    if response_type != "code" {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            format!("response_type {response_type:?} is not supported; use \"code\""),
        ));
    }
    let metadata = &draft.client().metadata;
    if !metadata.response_types.iter().any(|r| r == "code") || !metadata.has_grant_type("authorization_code") {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client is not registered for the authorization code flow",
        ));
    }
    let p = draft.params;
    draft.request = Some(AuthorizationRequest {
        client_id: draft.client().client_id.clone(),
        redirect_uri: draft.redirect_uri.clone().expect("verified before"),
        redirect_uri_given: p.get("redirect_uri").is_some(),
        response_type: response_type.to_owned(),
        response_mode: draft.response_mode,
        scope: Vec::new(),
        state: p.get("state").map(str::to_owned),
        nonce: p.get("nonce").map(str::to_owned),
        code_challenge: None,
        prompt: Vec::new(),
        max_age: None,
        login_hint: p.get("login_hint").map(str::to_owned),
        acr_values: words(p.get("acr_values")),
        acr_essential: false,
        ui_locales: words(p.get("ui_locales")),
        claims_locales: words(p.get("claims_locales")),
        display: p.get("display").map(str::to_owned),
        id_token_hint_sub: None,
        claims: None,
    });
    Ok(())
}

fn words(value: Option<&str>) -> Vec<String> {
    value.map(|v| v.split_ascii_whitespace().map(str::to_owned).collect()).unwrap_or_default()
}
