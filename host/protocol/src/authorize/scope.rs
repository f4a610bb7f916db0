//! `scope`: space-separated; limited to the client's registered scopes when it has a list
//! (RFC 6749 §3.3). An OpenID Connect request must name its `redirect_uri` (Core §3.1.2.1).

use super::Draft;
use crate::error::{ErrorCode, OAuthError};
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let mut scope: Vec<String> = Vec::new();
    for s in draft.params.get("scope").unwrap_or_default().split_ascii_whitespace() {
        if !scope.iter().any(|x| x == s) {
            scope.push(s.to_owned());
        }
    }
    let allowed = draft.client().metadata.allowed_scopes();
    if let Some(s) = allowed.and_then(|a| scope.iter().find(|s| *s != "openid" && !a.contains(&s.as_str()))) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("the client is not registered for the scope {s:?}"),
        ));
    }
    let openid = scope.iter().any(|s| s == "openid");
    if openid && draft.params.get("redirect_uri").is_none() {
        return Err(OAuthError::invalid_request("an OpenID Connect request must include redirect_uri"));
    }
    draft.request().scope = scope;
    Ok(())
}
