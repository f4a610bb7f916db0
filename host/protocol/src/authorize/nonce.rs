//! `nonce` is required whenever the authorization endpoint returns an ID token (OpenID
//! Connect Core §3.2.2.1, §3.3.2.11 and the errata's nonce notes), and optional for `code`
//! and `code token`.

use super::Draft;
use crate::error::OAuthError;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let request = draft.request();
    if request.nonce.is_none() && request.response_type().id_token {
        return Err(OAuthError::invalid_request(format!(
            "the nonce parameter is required for response_type {:?}",
            request.response_type
        )));
    }
    Ok(())
}
