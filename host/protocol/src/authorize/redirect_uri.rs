//! `redirect_uri` must exactly match one of the client's registered URIs (OpenID Connect Core
//! §3.1.2.1, RFC 9700 §4.1.3). This is the only place a [`VerifiedRedirect`] is made.

use super::Draft;
use crate::error::{ErrorCode, OAuthError};
use crate::model::VerifiedRedirect;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    if draft.params.is_repeated("redirect_uri") {
        return Err(OAuthError::invalid_request("the redirect_uri parameter is repeated"));
    }
    let registered = &draft.client().metadata.redirect_uris;
    let uri = match draft.params.get("redirect_uri") {
        Some(uri) => uri,
        // RFC 6749 §3.1.2.3 allows omitting it when exactly one is registered; OpenID Connect
        // requires it, which the scope check enforces once the request is known to be OIDC.
        None if registered.len() == 1 => registered[0].as_str(),
        None => return Err(OAuthError::invalid_request("the redirect_uri parameter is missing")),
    };
    if !registered.iter().any(|r| r == uri) {
        return Err(OAuthError::new(ErrorCode::InvalidRequest, "the redirect_uri is not registered for this client"));
    }
    draft.redirect_uri = Some(VerifiedRedirect::new(uri.to_owned()));
    Ok(())
}
