//! Request parameters must not be included more than once (RFC 6749 §3.1).

use super::Draft;
use crate::error::OAuthError;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    match draft.params.repeated().first() {
        Some(name) => Err(OAuthError::invalid_request(format!("the {name} parameter is repeated"))),
        None => Ok(()),
    }
}
