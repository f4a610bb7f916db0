//! `response_mode`: `query` (the default for `code`), `fragment` or `form_post` (OAuth 2.0
//! Multiple Response Type Encoding Practices §2.1, Form Post Response Mode §2).

use super::Draft;
use crate::error::OAuthError;
use crate::model::ResponseMode;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    draft.response_mode = match draft.params.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Err(OAuthError::invalid_request(format!("response_mode {other:?} is not supported")));
        }
    };
    Ok(())
}
