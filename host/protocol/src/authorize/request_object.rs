//! Request objects (`request`, `request_uri`; OpenID Connect Core §6) are not supported yet:
//! refuse them with the codes of §6.3 rather than ignoring their signed parameters.

use super::Draft;
use crate::error::{ErrorCode, OAuthError};
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    if draft.params.get("request").is_some() {
        return Err(OAuthError::new(ErrorCode::RequestNotSupported, "request objects are not supported"));
    }
    if draft.params.get("request_uri").is_some() {
        return Err(OAuthError::new(ErrorCode::RequestUriNotSupported, "request_uri is not supported"));
    }
    Ok(())
}
