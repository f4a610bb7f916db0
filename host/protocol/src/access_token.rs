//! Reading back the JWT access tokens this provider issued (RFC 9068): the one place that
//! decides whether an access token is live, for UserInfo, introspection and revocation.
//!
//! A token is live when its signature verifies with a key the provider publishes, its `typ`
//! is `at+jwt`, its `iss` is this issuer, it has not expired, its `jti` is not on the deny-list
//! of revoked tokens (`revoked_access_tokens`, in the store, so every host sees it), and —
//! for a token issued for a user — its grant is live and still serves the client.

use serde::Deserialize;
use serde_json::Value;

use crate::error::OAuthError;
use crate::jose;
use crate::model::{CLIENTS, Client, GRANTS, Grant, JsonObject, REVOKED_ACCESS_TOKENS};
use crate::provider::Provider;

/// The claims of an access token this provider signed.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Value,
    pub client_id: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    pub jti: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub auth_time: Option<i64>,
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub gid: Option<String>,
    /// Every other member: the identity claims the client registered (`access_token_claims`),
    /// and the standard ones read nowhere else (`acr`, `amr`).
    #[serde(flatten)]
    pub other: JsonObject,
}

impl AccessClaims {
    /// The scopes the token carries.
    pub fn scopes(&self) -> Vec<String> {
        self.scope.as_deref().unwrap_or_default().split_ascii_whitespace().map(str::to_owned).collect()
    }

    /// Whether `aud` names `who`, as a string or in an array.
    pub fn names_audience(&self, who: &str) -> bool {
        match &self.aud {
            Value::String(s) => s == who,
            Value::Array(values) => values.iter().any(|v| v.as_str() == Some(who)),
            _ => false,
        }
    }
}

/// A live access token: its claims, the client it was issued to and, for a user's token,
/// its grant.
#[derive(Clone, Debug)]
pub(crate) struct LiveAccessToken {
    pub claims: AccessClaims,
    pub client: Client,
    pub grant: Option<Grant>,
}

impl Provider {
    /// The claims of `token` if it is an access token this provider signed (signature, `typ`
    /// and `iss` checked; not whether it is still live).
    pub(crate) fn decode_access_token(&self, token: &str) -> Result<AccessClaims, OAuthError> {
        let now = self.now();
        let verified =
            jose::verify::<AccessClaims>(token, |kid, _| kid.and_then(|k| self.signer().verification_key(k, now)))
                .map_err(|e| OAuthError::invalid_token(format!("the access token is not valid: {e}")))?;
        if !verified.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
            return Err(OAuthError::invalid_token("the token is not an access token"));
        }
        if verified.claims.iss != self.settings().issuer {
            return Err(OAuthError::invalid_token("the access token was issued by another provider"));
        }
        Ok(verified.claims)
    }

    /// `token` if it is a live access token (see the module documentation); otherwise
    /// `invalid_token` saying why.
    pub(crate) async fn live_access_token(&self, token: &str) -> Result<LiveAccessToken, OAuthError> {
        let claims = self.decode_access_token(token)?;
        let now = self.now();
        if claims.exp <= now.0 {
            return Err(OAuthError::invalid_token("the access token has expired"));
        }
        if claims.nbf.is_some_and(|nbf| nbf > now.0) {
            return Err(OAuthError::invalid_token("the access token is not valid yet"));
        }
        let revoked = || OAuthError::invalid_token("the access token has been revoked");
        if REVOKED_ACCESS_TOKENS.get(self.store(), &claims.jti, now).await?.is_some() {
            return Err(revoked());
        }
        let client = CLIENTS.get(self.store(), &claims.client_id, now).await?.ok_or_else(revoked)?;
        let grant = match &claims.gid {
            None => None,
            // The grant must still serve the client it was given to: not revoked, and that
            // client not deleted since.
            Some(gid) => match GRANTS.get(self.store(), gid, now).await? {
                Some(grant) if grant.serves(&client) => Some(grant),
                _ => return Err(revoked()),
            },
        };
        Ok(LiveAccessToken { claims, client, grant })
    }
}
