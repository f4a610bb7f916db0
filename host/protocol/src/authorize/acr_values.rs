//! `default_acr_values` (OpenID Connect Dynamic Registration §2): the client's registered
//! Authentication Context Class References apply when the request names none, neither in
//! `acr_values` nor in the `claims` parameter's `acr`. Like `acr_values`, they are voluntary:
//! the front-end is asked for them, and a login that reaches none still succeeds.

use super::Draft;
use crate::error::OAuthError;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let defaults = draft.client().metadata.default_acr_values.clone();
    let request = draft.request();
    if request.acr_values.is_empty() {
        request.acr_values = defaults;
    }
    Ok(())
}
