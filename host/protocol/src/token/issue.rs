//! Minting tokens: JWT access tokens (RFC 9068), ID tokens (OpenID Connect Core §2) and
//! refresh tokens.

use serde::Serialize;
use serde_json::Value;

use crate::claims;
use crate::error::OAuthError;
use crate::jose;
use crate::model::{Client, Grant, JsonObject, REFRESH_TOKENS, RefreshRecord, UseState};
use crate::plugins::ClaimsPurpose;
use crate::provider::Provider;
use crate::resources::ResourceServer;
use crate::secret::TokenHash;

use super::TokenResponse;

/// RFC 9068 §2.2 access-token claims. `gid` names the grant the token was issued from, so
/// revoking the grant revokes the token.
#[derive(Serialize)]
pub(crate) struct AccessTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: Value,
    pub client_id: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<&'a str>,
    /// The identity claims the client's `access_token_claims` names and the user granted.
    #[serde(flatten)]
    pub claims: JsonObject,
}

/// `aud` as one string, or an array when there are several.
pub(crate) fn audience(values: &[String]) -> Value {
    match values {
        [one] => Value::String(one.clone()),
        many => Value::Array(many.iter().cloned().map(Value::String).collect()),
    }
}

pub(crate) fn scope_string(scope: &[String]) -> Option<String> {
    (!scope.is_empty()).then(|| scope.join(" "))
}

/// Signs an access token.
pub(crate) async fn sign_access_token(
    provider: &Provider,
    claims: &AccessTokenClaims<'_>,
) -> Result<String, OAuthError> {
    let alg = provider.settings().access_token_alg;
    Ok(jose::sign(provider.signer(), alg, Some("at+jwt"), claims, provider.now()).await?)
}

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amr: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(flatten)]
    claims: JsonObject,
}

/// What an ID token is issued beside: the request's `nonce`, and the access token and code
/// it is bound to by `at_hash` and `c_hash` (OpenID Connect Core §3.3.2.11), and in a
/// front-channel response the `state` it is bound to by `s_hash` (FAPI 1.0 Advanced §5.2.2.1,
/// the detached-signature check RP libraries such as openid-client make).
#[derive(Clone, Copy, Default)]
pub(crate) struct IdTokenBinding<'a> {
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a str>,
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
}

/// Mints the access token of a grant for `scope`: for `resource` when there is one (its URI
/// the only `aud`, RFC 8707 §2), otherwise for the consent's audience or this provider.
pub(crate) async fn access_token(
    provider: &Provider,
    client: &Client,
    grant: &Grant,
    scope: &[String],
    resource: Option<&ResourceServer>,
) -> Result<String, OAuthError> {
    let settings = provider.settings();
    let now = provider.now();
    let default_aud = [resource.map_or_else(|| settings.issuer.clone(), |r| r.uri.clone())];
    let aud = if grant.audience.is_empty() || resource.is_some() { &default_aud[..] } else { &grant.audience[..] };
    // OpenID Connect Core §8: the subject as this client sees it, public or pairwise.
    let sub = provider.subject_for(client, &grant.sub).await?;
    // RFC 9068 §2.2.3.1: identity claims the client registered for its tokens, of those granted.
    let names: Vec<String> =
        client.metadata.access_token_claims.iter().filter(|c| grant.claims.contains(c)).cloned().collect();
    let claims = if names.is_empty() {
        JsonObject::new()
    } else {
        claims::release(provider, grant, ClaimsPurpose::AccessToken, &names).await.map_err(|f| f.into_oauth())?
    };
    sign_access_token(
        provider,
        &AccessTokenClaims {
            iss: &settings.issuer,
            sub: &sub,
            aud: audience(aud),
            client_id: &client.client_id,
            iat: now.0,
            exp: now.plus(grant.access_token_lifetime).0,
            jti: provider.new_id(),
            scope: scope_string(scope),
            auth_time: Some(grant.auth_time.0),
            acr: grant.acr.as_deref(),
            amr: (!grant.amr.is_empty()).then_some(&grant.amr[..]),
            sid: grant.sid.as_deref(),
            gid: Some(&grant.id),
            claims,
        },
    )
    .await
}

/// Mints the ID token of a grant, with the claims the grant puts in ID tokens. The token
/// endpoint and the authorization endpoint issue it alike, so both carry the same `sub`,
/// `auth_time`, `acr` and `sid`.
pub(crate) async fn id_token(
    provider: &Provider,
    client: &Client,
    grant: &Grant,
    binding: IdTokenBinding<'_>,
) -> Result<String, OAuthError> {
    let settings = provider.settings();
    let now = provider.now();
    let alg = client.metadata.id_token_signed_response_alg.unwrap_or(settings.id_token_alg);
    let released = claims::release(provider, grant, ClaimsPurpose::IdToken, &grant.id_token_claims)
        .await
        .map_err(|f| f.into_oauth())?;
    // OpenID Connect Core §8: the subject as this client sees it, public or pairwise.
    let sub = provider.subject_for(client, &grant.sub).await?;
    let claims = IdTokenClaims {
        iss: &settings.issuer,
        sub: &sub,
        aud: &client.client_id,
        exp: now.plus(grant.id_token_lifetime).0,
        iat: now.0,
        auth_time: grant.auth_time.0,
        nonce: binding.nonce,
        acr: grant.acr.as_deref(),
        amr: (!grant.amr.is_empty()).then_some(&grant.amr[..]),
        at_hash: binding.access_token.map(|t| jose::half_hash(alg, t)),
        c_hash: binding.code.map(|c| jose::half_hash(alg, c)),
        s_hash: binding.state.map(|s| jose::half_hash(alg, s)),
        sid: grant.sid.as_deref(),
        claims: released,
    };
    let signed = jose::sign(provider.signer(), alg, None, &claims, now).await?;
    // Core §10.2: signed, then encrypted when the client registered encryption.
    provider.id_token_for_client(client, signed).await
}

/// Issues the tokens a grant allows: an access token (for `resource`, with the scopes of
/// `scope` it accepts), an ID token for OpenID requests and, when `refresh` and the consent
/// allow it, a new refresh token.
pub(crate) async fn for_grant(
    provider: &Provider,
    client: &Client,
    grant: &Grant,
    scope: &[String],
    nonce: Option<&str>,
    refresh: bool,
    resource: Option<&ResourceServer>,
) -> Result<TokenResponse, OAuthError> {
    let token_scope = resource.map_or_else(|| scope.to_vec(), |r| r.narrow(scope));
    let access_token = access_token(provider, client, grant, &token_scope, resource).await?;
    let id_token = if scope.iter().any(|s| s == "openid") {
        let binding = IdTokenBinding { nonce, access_token: Some(&access_token), ..IdTokenBinding::default() };
        Some(id_token(provider, client, grant, binding).await?)
    } else {
        None
    };

    let refresh_token = match (refresh, grant.refresh_token_lifetime) {
        (true, Some(lifetime)) => {
            let token = provider.new_token();
            let record = RefreshRecord {
                grant_id: grant.id.clone(),
                client_id: client.client_id.clone(),
                state: UseState::Issued,
            };
            // Refresh tokens do not slide: all of them expire with the grant's refresh lifetime.
            let expires = grant.created_at.plus(lifetime);
            REFRESH_TOKENS.put(provider.store(), TokenHash::of(&token).as_str(), &record, Some(expires)).await?;
            Some(token)
        }
        _ => None,
    };

    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: grant.access_token_lifetime,
        scope: scope_string(&token_scope),
        id_token,
        refresh_token,
    })
}
