//! The UserInfo endpoint (OpenID Connect Core §5.3) and bearer-token validation (RFC 6750).

use serde_json::Value;

use crate::claims;
use crate::encryption::Target;
use crate::error::{ErrorCode, OAuthError};
use crate::jose;
use crate::model::{Client, Grant, JsonObject};
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

/// A UserInfo response (OpenID Connect Core §5.3.2): the claims as JSON, or — when the
/// client registered `userinfo_signed_response_alg` or `userinfo_encrypted_response_alg` — a
/// JWT (`application/jwt`): signed, encrypted, or signed then encrypted.
#[derive(Clone, Debug, PartialEq)]
pub enum Userinfo {
    Json(JsonObject),
    Jwt(String),
}

impl Provider {
    /// Verifies a live JWT access token this provider issued to a user and returns its grant,
    /// the client it serves and its scope.
    pub(crate) async fn bearer_grant(&self, token: &str) -> Result<(Grant, Client, Vec<String>), OAuthError> {
        let live = self.live_access_token(token).await?;
        let scope = live.claims.scopes();
        match live.grant {
            Some(grant) => Ok((grant, live.client, scope)),
            None => Err(OAuthError::invalid_token("the access token was not issued for a user")),
        }
    }

    /// The claims about the user that the access token's grant releases.
    pub async fn userinfo(&self, token: Option<&str>) -> Result<Userinfo, BearerError> {
        let token = token.ok_or(BearerError::Missing)?;
        let (grant, client, scope) = self.bearer_grant(token).await?;
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
        out.insert("sub".into(), Value::String(self.subject_for(&client, &grant.sub).await.map_err(OAuthError::from)?));
        Ok(self.userinfo_for_client(&client, out).await?)
    }

    /// The claims as the client registered to receive them. Core §5.3.2: "If signed, the
    /// UserInfo Response SHOULD contain the Claims iss (issuer) and aud (audience) as
    /// members"; signed and encrypted is a nested JWT.
    async fn userinfo_for_client(&self, client: &Client, mut claims: JsonObject) -> Result<Userinfo, OAuthError> {
        let m = &client.metadata;
        if m.userinfo_signed_response_alg.is_none() && m.userinfo_encrypted_response_alg.is_none() {
            return Ok(Userinfo::Json(claims));
        }
        claims.insert("iss".into(), Value::String(self.settings().issuer.clone()));
        claims.insert("aud".into(), Value::String(client.client_id.clone()));
        let (payload, nested) = match m.userinfo_signed_response_alg {
            Some(alg) => (jose::sign(self.signer(), alg, None, &claims, self.now()).await?.into_bytes(), true),
            None => (serde_json::to_vec(&claims).map_err(OAuthError::server_error)?, false),
        };
        match self.encrypt_for_client(client, Target::Userinfo, &payload, nested).await? {
            Some(jwe) => Ok(Userinfo::Jwt(jwe)),
            None => Ok(Userinfo::Jwt(String::from_utf8(payload).map_err(OAuthError::server_error)?)),
        }
    }
}
