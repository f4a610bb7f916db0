//! The `claims` request parameter (OpenID Connect Core §5.5): a JSON object with `userinfo`
//! and `id_token` members.

use super::Draft;
use crate::error::OAuthError;
use crate::model::ClaimsParameter;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let Some(raw) = draft.params.get("claims") else {
        return Ok(());
    };
    let claims: ClaimsParameter = serde_json::from_str(raw)
        .map_err(|e| OAuthError::invalid_request(format!("the claims parameter is not valid JSON: {e}")))?;
    draft.request().claims = Some(claims);
    Ok(())
}
