//! The client credentials grant (RFC 6749 §4.4): a confidential client acting for itself.
//! Its access tokens are self-contained and not recorded.

use crate::authorize::Params;
use crate::error::{ErrorCode, OAuthError};
use crate::model::Client;
use crate::provider::Provider;

use super::issue::{AccessTokenClaims, audience, scope_string, sign_access_token};
use super::{TokenResponse, require_grant_type};

pub(super) async fn grant(provider: &Provider, client: &Client, form: &Params) -> Result<TokenResponse, OAuthError> {
    require_grant_type(client, "client_credentials")?;
    if client.is_public() {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "public clients cannot use client_credentials"));
    }
    let requested: Vec<String> =
        form.get("scope").unwrap_or_default().split_ascii_whitespace().map(str::to_owned).collect();
    let allowed = client.metadata.allowed_scopes().unwrap_or_default();
    // Without a `scope` parameter the client gets every scope it is registered for (RFC 6749 §3.3).
    let scope: Vec<String> =
        if requested.is_empty() { allowed.iter().map(|s| s.to_string()).collect() } else { requested };
    if let Some(s) = scope.iter().find(|s| !allowed.contains(&s.as_str())) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("the client is not registered for the scope {s:?}"),
        ));
    }
    // RFC 8707: a token for the one resource named, with the scopes it accepts.
    let resource = provider.client_credentials_resource(client, form)?;
    let scope = resource.map_or(scope.clone(), |r| r.narrow(&scope));
    let settings = provider.settings();
    let aud = resource.map_or_else(|| settings.issuer.clone(), |r| r.uri.clone());
    let now = provider.now();
    let lifetime = settings.lifetimes.access_token;
    let access_token = sign_access_token(
        provider,
        &AccessTokenClaims {
            iss: &settings.issuer,
            sub: &client.client_id,
            aud: audience(std::slice::from_ref(&aud)),
            client_id: &client.client_id,
            iat: now.0,
            exp: now.plus(lifetime).0,
            jti: provider.new_id(),
            scope: scope_string(&scope),
            auth_time: None,
            acr: None,
            amr: None,
            sid: None,
            gid: None,
            claims: Default::default(),
        },
    )
    .await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime,
        scope: scope_string(&scope),
        id_token: None,
        refresh_token: None,
    })
}
