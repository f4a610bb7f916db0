//! `response_type`: one of the six OpenID Connect defines (Core §3, Multiple Response Type
//! Encoding Practices §3), registered by the client (RFC 6749 §5.2 `unauthorized_client`).
//! This check also starts the validated request.

use super::Draft;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{AuthorizationRequest, ResponseType};
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let Some(response_type) = draft.params.get("response_type") else {
        return Err(OAuthError::invalid_request("the response_type parameter is missing"));
    };
    let Some(parsed) = ResponseType::parse(response_type) else {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            format!(
                "response_type {response_type:?} is not supported; use one of {}",
                ResponseType::SUPPORTED.join(", ")
            ),
        ));
    };
    let metadata = &draft.client().metadata;
    let registered = metadata.response_types.iter().any(|r| ResponseType::parse(r) == Some(parsed));
    if !registered || !parsed.grant_types().all(|g| metadata.has_grant_type(g)) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("the client is not registered for response_type {:?}", parsed.as_str()),
        ));
    }
    let p = draft.params;
    draft.request = Some(AuthorizationRequest {
        client_id: draft.client().client_id.clone(),
        redirect_uri: draft.redirect_uri.clone().expect("verified before"),
        redirect_uri_given: p.get("redirect_uri").is_some(),
        response_type: parsed.as_str().to_owned(),
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
        resources: Vec::new(),
    });
    Ok(())
}

fn words(value: Option<&str>) -> Vec<String> {
    value.map(|v| v.split_ascii_whitespace().map(str::to_owned).collect()).unwrap_or_default()
}
