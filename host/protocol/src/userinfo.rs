//! The UserInfo endpoint (OpenID Connect Core §5.3) and bearer-token validation (RFC 6750).

use serde::Deserialize;
use serde_json::Value;

use crate::claims;
use crate::error::{ErrorCode, OAuthError};
use crate::jose;
use crate::model::{CLIENTS, GRANTS, Grant, JsonObject};
use crate::plugins::ClaimsPurpose;
use crate::provider::Provider;

/// Why a bearer request was refused. `Missing` is answered with a bare challenge (RFC 6750
/// §3.1: no error code when the request carried no token).
#[derive(Debug)]
pub enum BearerError {
    Missing,
    Rejected(OAuthError),
}

impl From<OAuthError> for BearerError {
    fn from(e: OAuthError) -> Self {
        Self::Rejected(e)
    }
}

#[derive(Deserialize)]
struct AccessClaims {
    iss: String,
    exp: i64,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    gid: Option<String>,
}

impl Provider {
    /// Verifies a JWT access token this provider issued to a user and returns its live grant
    /// and scope.
    pub(crate) async fn bearer_grant(&self, token: &str) -> Result<(Grant, Vec<String>), OAuthError> {
        let now = self.now();
        let verified =
            jose::verify::<AccessClaims>(token, |kid, _| kid.and_then(|k| self.signer().verification_key(k, now)))
                .map_err(|e| OAuthError::invalid_token(format!("the access token is not valid: {e}")))?;
        if !verified.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("at+jwt")) {
            return Err(OAuthError::invalid_token("the token is not an access token"));
        }
        let claims = verified.claims;
        if claims.iss != self.settings().issuer {
            return Err(OAuthError::invalid_token("the access token was issued by another provider"));
        }
        if claims.exp <= now.0 {
            return Err(OAuthError::invalid_token("the access token has expired"));
        }
        let Some(gid) = claims.gid else {
            return Err(OAuthError::invalid_token("the access token was not issued for a user"));
        };
        let grant = GRANTS.get(self.store(), &gid, now).await?;
        // The grant must still serve the client it was given to: not revoked, and that client
        // not deleted since.
        let client = match &grant {
            Some(g) => CLIENTS.get(self.store(), &g.client_id, now).await?,
            None => None,
        };
        match (grant, client) {
            (Some(grant), Some(client)) if grant.serves(&client) => {
                let scope = claims.scope.unwrap_or_default().split_ascii_whitespace().map(str::to_owned).collect();
                Ok((grant, scope))
            }
            _ => Err(OAuthError::invalid_token("the access token has been revoked")),
        }
    }

    /// The claims about the user that the access token's grant releases.
    pub async fn userinfo(&self, token: Option<&str>) -> Result<JsonObject, BearerError> {
        let token = token.ok_or(BearerError::Missing)?;
        let (grant, scope) = self.bearer_grant(token).await?;
        if !scope.iter().any(|s| s == "openid") {
            return Err(OAuthError::new(ErrorCode::InsufficientScope, "the access token lacks the openid scope").into());
        }
        // Claims granted for the token's scopes (a refreshed token may carry fewer) and those
        // the claims parameter asked to have here (OpenID Connect Core §5.5: its `id_token`
        // member asks for the ID token only).
        let scope_claims = claims::claims_of_scopes(&scope);
        let asked_here = |c: &String| match &grant.userinfo_claims {
            Some(asked) => asked.contains(c),
            None => !claims::claims_of_scopes(&grant.scope).contains(c),
        };
        let names: Vec<String> =
            grant.claims.iter().filter(|c| scope_claims.contains(c) || asked_here(c)).cloned().collect();
        let mut out =
            claims::release(self, &grant, ClaimsPurpose::Userinfo, &names).await.map_err(|f| f.into_oauth())?;
        out.insert("sub".into(), Value::String(grant.sub.clone()));
        Ok(out)
    }
}
