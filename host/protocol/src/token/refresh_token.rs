//! The refresh token grant (RFC 6749 §6) with rotation: each refresh token is used once, and
//! a used one presented again revokes its grant (RFC 9700 §4.14.2).

use crate::authorize::Params;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, GRANTS, REFRESH_TOKENS, RefreshRecord, UseState};
use crate::provider::Provider;
use crate::secret::TokenHash;

use super::{TokenResponse, issue, require_grant_type};

pub(super) async fn grant(provider: &Provider, client: &Client, form: &Params) -> Result<TokenResponse, OAuthError> {
    require_grant_type(client, "refresh_token")?;
    let token = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("the refresh_token parameter is missing"))?;
    let key = TokenHash::of(token);
    let now = provider.now();
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let Some(record) = REFRESH_TOKENS.get(provider.store(), key.as_str(), now).await? else {
        return Err(invalid());
    };
    if record.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
    }
    let grant = match GRANTS.get(provider.store(), &record.grant_id, now).await? {
        Some(g) if g.serves(client) => g,
        _ => return Err(invalid()),
    };
    let scope = match form.get("scope") {
        None => grant.scope.clone(),
        Some(s) => {
            let asked: Vec<String> = s.split_ascii_whitespace().map(str::to_owned).collect();
            if let Some(extra) = asked.iter().find(|a| !grant.scope.contains(a)) {
                return Err(OAuthError::new(ErrorCode::InvalidScope, format!("scope {extra:?} was not granted")));
            }
            asked
        }
    };
    // RFC 8707 §2.2: the token is for one of the grant's resources; checked before the
    // refresh token is used up, so a mistake costs the client nothing.
    let resource = provider.token_resource(client, &grant.resources, form)?;
    let used = RefreshRecord { state: UseState::Used, ..record.clone() };
    let expires = grant.created_at.plus(grant.refresh_token_lifetime.unwrap_or(0));
    match REFRESH_TOKENS.swap(provider.store(), key.as_str(), &used, Some(expires), now).await? {
        Some(previous) if previous.state == UseState::Issued => {}
        _ => {
            tracing::warn!(client_id = %client.client_id, grant = %grant.id, "refresh token reused; revoking its grant");
            provider.revoke_grant(&grant.id).await?;
            return Err(invalid());
        }
    }
    issue::for_grant(provider, client, &grant, &scope, None, true, resource).await
}
