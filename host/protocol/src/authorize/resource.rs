//! `resource` (RFC 8707 §2): the protected resources the tokens are for, each registered and
//! one the client may ask for; repeated to name several, except where the access token comes
//! from the authorization endpoint, which has no way to say which one it is for.

use super::Draft;
use crate::error::{ErrorCode, OAuthError};
use crate::provider::Provider;

pub(super) fn check(provider: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let resources = provider.authorized_resources(draft.client(), draft.params)?;
    if resources.len() > 1 && draft.request().response_type().token {
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "an access token from the authorization endpoint is for one resource; name one resource parameter",
        ));
    }
    draft.request().resources = resources;
    Ok(())
}
