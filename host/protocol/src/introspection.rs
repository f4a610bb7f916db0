//! Token introspection (RFC 7662), with the JWT response of RFC 9701.
//!
//! The caller authenticates as a confidential client, with any method the token endpoint
//! takes (a public client is refused). Which tokens it may learn about: those issued to
//! itself, those whose `aud` names it (a resource server registered as a client), and every
//! token for the clients the configuration lists (`Settings::introspection_clients`). For any other token, as for expired, revoked,
//! malformed and unknown ones, the answer is `{"active": false}` (§2.2: nothing says why).

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::authorize::Params;
use crate::error::OAuthError;
use crate::jose;
use crate::model::{CLIENTS, Client, GRANTS, JsonObject, REFRESH_TOKENS, UseState};
use crate::provider::Provider;
use crate::secret::TokenHash;
use crate::signer::Alg;
use crate::token::{ClientAuth, TokenError};

/// The `typ` of an RFC 9701 introspection response, and (with `application/`) its media type.
pub const JWT_TYP: &str = "token-introspection+jwt";

/// The client metadata member (RFC 9701 §6) naming the algorithm of its JWT responses.
const SIGNED_RESPONSE_ALG: &str = "introspection_signed_response_alg";

/// What the caller asked the answer to be.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    /// RFC 9701: `Accept: application/token-introspection+jwt`.
    Jwt,
}

/// An introspection answer, in the format asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Introspection {
    Json(Value),
    Jwt(String),
}

/// RFC 7662 §2.2 members of an active token.
#[derive(Debug, Default, Serialize)]
struct Active {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    client_id: String,
    sub: String,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    aud: Value,
    iss: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    /// An access token's identity claims (RFC 9068 §2.2.3.1), as the token carries them.
    #[serde(flatten)]
    claims: JsonObject,
}

/// Which kind of token to look for first (RFC 7662 §2.1 `token_type_hint`: a hint, never
/// trusted: the other kind is tried next).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Access,
    Refresh,
}

impl Kind {
    pub(crate) fn order(hint: Option<&str>) -> [Kind; 2] {
        match hint {
            Some("refresh_token") => [Kind::Refresh, Kind::Access],
            _ => [Kind::Access, Kind::Refresh],
        }
    }
}

impl Provider {
    /// Handles an introspection request: `form` is the body, `auth` the client credentials.
    pub async fn introspect(
        &self,
        form: &Params,
        auth: ClientAuth,
        format: Format,
    ) -> Result<Introspection, TokenError> {
        let used_basic = auth.used_basic();
        let endpoint = self.settings().endpoints.introspection.clone();
        let caller = self.authenticate_client_at(form, auth, &endpoint).await.map_err(|error| TokenError {
            basic_challenge: used_basic && error.code == crate::ErrorCode::InvalidClient,
            error,
        })?;
        // RFC 7662 §2.1: the caller is authorized, and a public client proves nothing.
        if caller.is_public() {
            tracing::info!(client_id = %caller.client_id, "introspection by a public client refused");
            return Err(OAuthError::invalid_client("public clients cannot use the introspection endpoint").into());
        }
        if form.is_repeated("token") {
            return Err(OAuthError::invalid_request("the token parameter is repeated").into());
        }
        let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("the token parameter is missing"))?;
        let mut answer = None;
        for kind in Kind::order(form.get("token_type_hint")) {
            answer = match kind {
                Kind::Access => self.introspect_access(token, &caller).await?,
                Kind::Refresh => self.introspect_refresh(token, &caller).await?,
            };
            if answer.is_some() {
                break;
            }
        }
        let answer = match answer {
            Some(active) => serde_json::to_value(active).map_err(OAuthError::server_error)?,
            None => json!({ "active": false }),
        };
        match format {
            Format::Json => Ok(Introspection::Json(answer)),
            Format::Jwt => Ok(Introspection::Jwt(self.introspection_jwt(&caller, answer).await?)),
        }
    }

    /// Whether `caller` may learn about a token issued to `client_id` for `names_caller`.
    fn may_introspect(&self, caller: &Client, client_id: &str, names_caller: bool) -> bool {
        caller.client_id == client_id
            || names_caller
            || self.settings().introspection_clients.contains(&caller.client_id)
    }

    async fn introspect_access(&self, token: &str, caller: &Client) -> Result<Option<Active>, OAuthError> {
        let live = match self.live_access_token(token).await {
            Ok(live) => live,
            Err(e) if e.code == crate::ErrorCode::InvalidToken => return Ok(None),
            Err(e) => return Err(e),
        };
        let c = live.claims;
        if !self.may_introspect(caller, &c.client_id, c.names_audience(&caller.client_id)) {
            return Ok(None);
        }
        Ok(Some(Active {
            active: true,
            scope: c.scope,
            client_id: c.client_id,
            sub: c.sub,
            exp: c.exp,
            iat: Some(c.iat),
            nbf: c.nbf,
            aud: c.aud,
            iss: c.iss,
            token_type: Some("Bearer"),
            jti: Some(c.jti),
            sid: c.sid,
            auth_time: c.auth_time,
            claims: c.other.into_iter().filter(|(k, _)| !crate::claims::RESERVED.contains(&k.as_str())).collect(),
        }))
    }

    async fn introspect_refresh(&self, token: &str, caller: &Client) -> Result<Option<Active>, OAuthError> {
        let now = self.now();
        let Some(record) = REFRESH_TOKENS.get(self.store(), TokenHash::of(token).as_str(), now).await? else {
            return Ok(None);
        };
        // A used refresh token was rotated: it can no longer be redeemed.
        if record.state != UseState::Issued || !self.may_introspect(caller, &record.client_id, false) {
            return Ok(None);
        }
        let Some(grant) = GRANTS.get(self.store(), &record.grant_id, now).await? else {
            return Ok(None);
        };
        let live = match CLIENTS.get(self.store(), &record.client_id, now).await? {
            Some(client) => grant.serves(&client),
            None => false,
        };
        let exp = grant.created_at.plus(grant.refresh_token_lifetime.unwrap_or(0)).0;
        if !live || exp <= now.0 {
            return Ok(None);
        }
        Ok(Some(Active {
            active: true,
            scope: crate::token::scope_string(&grant.scope),
            client_id: record.client_id.clone(),
            sub: grant.sub.clone(),
            exp,
            aud: Value::String(record.client_id),
            iss: self.settings().issuer.clone(),
            sid: grant.sid.clone(),
            auth_time: Some(grant.auth_time.0),
            ..Active::default()
        }))
    }

    /// RFC 9701 §5: the answer as a JWT signed by the provider, for the caller.
    async fn introspection_jwt(&self, caller: &Client, answer: Value) -> Result<String, OAuthError> {
        let alg = caller
            .metadata
            .extra
            .get(SIGNED_RESPONSE_ALG)
            .and_then(Value::as_str)
            .and_then(Alg::parse)
            .filter(|a| self.signer().supported_algorithms().contains(a))
            .unwrap_or(self.settings().id_token_alg);
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::String(self.settings().issuer.clone()));
        claims.insert("aud".into(), Value::String(caller.client_id.clone()));
        claims.insert("iat".into(), Value::from(self.now().0));
        claims.insert("token_introspection".into(), answer);
        Ok(jose::sign(self.signer(), alg, Some(JWT_TYP), &claims, self.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_orders_the_search_but_both_kinds_are_searched() {
        assert_eq!(Kind::order(Some("refresh_token")), [Kind::Refresh, Kind::Access]);
        for hint in [Some("access_token"), Some("something_else"), None] {
            assert_eq!(Kind::order(hint), [Kind::Access, Kind::Refresh]);
        }
    }
}
