//! `max_age` (OpenID Connect Core §3.1.2.1): a non-negative number of seconds; the client's
//! registered `default_max_age` applies when absent.

use super::Draft;
use crate::error::OAuthError;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let max_age = match draft.params.get("max_age") {
        Some(v) => {
            Some(v.parse::<u64>().map_err(|_| OAuthError::invalid_request("max_age must be a non-negative integer"))?)
        }
        None => draft.client().metadata.default_max_age,
    };
    draft.request().max_age = max_age;
    Ok(())
}
