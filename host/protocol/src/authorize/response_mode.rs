//! `response_mode`: `query`, `fragment` or `form_post` (OAuth 2.0 Multiple Response Type
//! Encoding Practices §2.1, Form Post Response Mode §2). The default is `query` for `code`
//! and `fragment` for every response type that returns a token; those never go in the query
//! (§5: tokens in a query end up in logs and `Referer` headers). Runs first, so that even the
//! earliest redirected error goes back in the mode the client will read.

use super::Draft;
use crate::error::OAuthError;
use crate::model::{ResponseMode, ResponseType};
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let returns_tokens =
        draft.params.get("response_type").and_then(ResponseType::parse).is_some_and(|t| t.returns_tokens());
    draft.response_mode = if returns_tokens { ResponseMode::Fragment } else { ResponseMode::Query };
    draft.response_mode = match draft.params.get("response_mode") {
        None => draft.response_mode,
        Some("query") if returns_tokens => {
            return Err(OAuthError::invalid_request(
                "response_mode query is not allowed for a response type that returns tokens",
            ));
        }
        Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        Some(other) => {
            return Err(OAuthError::invalid_request(format!("response_mode {other:?} is not supported")));
        }
    };
    Ok(())
}
