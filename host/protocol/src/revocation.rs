//! Token revocation (RFC 7009).
//!
//! The caller authenticates as a client, with any method the token endpoint takes, and may
//! revoke only tokens issued to itself. A refresh token revokes its grant, and with it every
//! refresh and access token issued from the grant. An access token goes on the deny-list
//! (`revoked_access_tokens`) under its `jti` until it expires; UserInfo and introspection read
//! the list on every request, on every host sharing the store. An unknown, expired or
//! malformed token, and a token of another client, are answered as revoked (§2.2: "invalid
//! tokens do not cause an error response"; §2.1: a token of another client is refused and
//! nothing is revoked, and saying so would tell the caller the token exists).

use crate::authorize::Params;
use crate::error::{ErrorCode, OAuthError};
use crate::introspection::Kind;
use crate::model::{Client, REFRESH_TOKENS, REVOKED_ACCESS_TOKENS, RevokedToken};
use crate::provider::Provider;
use crate::secret::TokenHash;
use crate::token::{ClientAuth, TokenError};
use crate::world::UnixTime;

/// What a presented token turned out to be.
enum Found {
    /// Revoked, or refused without saying so (another client's token).
    Answered,
    NotFound,
}

impl Provider {
    /// Handles a revocation request; `Ok` is the empty 200 of RFC 7009 §2.2.
    pub async fn revoke(&self, form: &Params, auth: ClientAuth) -> Result<(), TokenError> {
        let used_basic = auth.used_basic();
        let endpoint = self.settings().endpoints.revocation.clone();
        let caller = self.authenticate_client_at(form, auth, &endpoint).await.map_err(|error| TokenError {
            basic_challenge: used_basic && error.code == ErrorCode::InvalidClient,
            error,
        })?;
        if form.is_repeated("token") {
            return Err(OAuthError::invalid_request("the token parameter is repeated").into());
        }
        let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("the token parameter is missing"))?;
        for kind in Kind::order(form.get("token_type_hint")) {
            let found = match kind {
                Kind::Access => self.revoke_access(token, &caller).await?,
                Kind::Refresh => self.revoke_refresh(token, &caller).await?,
            };
            if let Found::Answered = found {
                return Ok(());
            }
        }
        // RFC 7009 §2.2.1: a token this provider signed that is neither kind — an ID token —
        // cannot be revoked.
        if self.is_own_id_token(token) {
            return Err(OAuthError::new(ErrorCode::UnsupportedTokenType, "ID tokens cannot be revoked").into());
        }
        Ok(())
    }

    async fn revoke_access(&self, token: &str, caller: &Client) -> Result<Found, OAuthError> {
        let Ok(claims) = self.decode_access_token(token) else {
            return Ok(Found::NotFound);
        };
        let now = self.now();
        if claims.client_id != caller.client_id {
            tracing::info!(client_id = %caller.client_id, "revocation of another client's access token refused");
            return Ok(Found::Answered);
        }
        if claims.exp > now.0 {
            let record = RevokedToken { client_id: claims.client_id };
            REVOKED_ACCESS_TOKENS.put(self.store(), &claims.jti, &record, Some(UnixTime(claims.exp))).await?;
        }
        Ok(Found::Answered)
    }

    async fn revoke_refresh(&self, token: &str, caller: &Client) -> Result<Found, OAuthError> {
        let now = self.now();
        let key = TokenHash::of(token);
        let Some(record) = REFRESH_TOKENS.get(self.store(), key.as_str(), now).await? else {
            return Ok(Found::NotFound);
        };
        if record.client_id != caller.client_id {
            tracing::info!(client_id = %caller.client_id, "revocation of another client's refresh token refused");
            return Ok(Found::Answered);
        }
        self.revoke_grant(&record.grant_id).await?;
        REFRESH_TOKENS.delete(self.store(), key.as_str(), now).await?;
        Ok(Found::Answered)
    }

    /// Whether `token` is a JWS this provider signed that is not an access token.
    fn is_own_id_token(&self, token: &str) -> bool {
        let now = self.now();
        crate::jose::verify::<serde_json::Value>(token, |kid, _| {
            kid.and_then(|k| self.signer().verification_key(k, now))
        })
        .is_ok_and(|v| !v.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")))
    }
}
