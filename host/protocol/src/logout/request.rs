//! The end-session request (RP-Initiated Logout 1.0 §2 and §3): `id_token_hint`,
//! `client_id`, `post_logout_redirect_uri`, `state`, `ui_locales`, `logout_hint`.
//!
//! The hint must be an ID token this provider signed, expired or not (it names a past
//! session). A `post_logout_redirect_uri` needs the client to be known — from `client_id` or
//! the hint's audience, which must agree — and must equal one the client registered; otherwise
//! the request is refused and nobody is redirected. Refusals are shown, never sent to a URI.

use serde_json::Value;

use super::LogoutStarted;
use crate::authorize::Params;
use crate::error::OAuthError;
use crate::jose;
use crate::model::{CLIENTS, Client, LOGOUT_REQUESTS, LogoutRequest};
use crate::provider::Provider;

/// The longest `logout_hint` kept.
pub const MAX_LOGOUT_HINT: usize = 512;

/// The parameters RP-Initiated Logout defines, none of which may be repeated; others are
/// ignored, as OAuth 2.0 ignores parameters it does not know (RFC 6749 §3.1).
const PARAMETERS: [&str; 6] =
    ["id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales", "logout_hint"];

#[derive(serde::Deserialize)]
struct HintClaims {
    iss: String,
    /// One string or an array (RFC 7519 §4.1.3).
    aud: Value,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    sid: Option<String>,
}

impl HintClaims {
    /// The client the ID token was issued to: `azp`, or the single audience.
    fn client_id(&self) -> Option<&str> {
        match (&self.azp, &self.aud) {
            (Some(azp), _) => Some(azp),
            (None, Value::String(aud)) => Some(aud),
            (None, Value::Array(auds)) if auds.len() == 1 => auds[0].as_str(),
            _ => None,
        }
    }
}

impl Provider {
    /// Checks an end-session request and keeps it for the front-end to confirm.
    pub async fn start_logout(&self, params: &Params) -> Result<LogoutStarted, OAuthError> {
        let limits = &self.settings().limits;
        let size: usize = params.0.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        if size > limits.authorization_request_bytes {
            return Err(OAuthError::invalid_request(format!(
                "the logout request is longer than {} bytes",
                limits.authorization_request_bytes
            )));
        }
        if let Some(name) = params.repeated().into_iter().find(|n| PARAMETERS.contains(n)) {
            return Err(OAuthError::invalid_request(format!("{name} is repeated")));
        }
        let now = self.now();
        let hint = match params.get("id_token_hint") {
            Some(hint) => Some(self.verify_logout_hint(hint)?),
            None => None,
        };
        let named = params.get("client_id");
        let hinted = hint.as_ref().map(|h| {
            h.client_id()
                .ok_or_else(|| OAuthError::invalid_request("id_token_hint names no single client (aud or azp)"))
        });
        let client_id = match (named, hinted.transpose()?) {
            (Some(named), Some(hinted)) if named != hinted => {
                return Err(OAuthError::invalid_request("client_id is not the client the id_token_hint was issued to"));
            }
            (Some(id), _) | (None, Some(id)) => Some(id.to_owned()),
            (None, None) => None,
        };
        let client = match &client_id {
            Some(id) => Some(
                CLIENTS
                    .get(self.store(), id, now)
                    .await?
                    .ok_or_else(|| OAuthError::invalid_request("client_id names no client of this provider"))?,
            ),
            None => None,
        };
        let redirect = match params.get("post_logout_redirect_uri") {
            None => None,
            Some(uri) => Some(redirect(client.as_ref(), uri, params.get("state"))?),
        };
        let logout_hint = params.get("logout_hint").map(str::to_owned);
        if logout_hint.as_ref().is_some_and(|h| h.len() > MAX_LOGOUT_HINT) {
            return Err(OAuthError::invalid_request(format!("logout_hint is longer than {MAX_LOGOUT_HINT} bytes")));
        }
        let ui_locales =
            params.get("ui_locales").map(|l| l.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect());
        let request = LogoutRequest {
            id: self.new_id(),
            client_id,
            redirect,
            hint_sid: hint.and_then(|h| h.sid),
            ui_locales: ui_locales.unwrap_or_default(),
            logout_hint,
            expires_at: now.plus(self.settings().lifetimes.authz_session),
        };
        LOGOUT_REQUESTS.put(self.store(), &request.id, &request, Some(request.expires_at)).await?;
        Ok(LogoutStarted { id: request.id })
    }

    /// An ID token this provider signed for someone, expired or not (§2: the OP "SHOULD
    /// accept ID Tokens when the RP identified by the ID Token's aud claim and/or sid claim
    /// has a current session or had a recent session").
    fn verify_logout_hint(&self, hint: &str) -> Result<HintClaims, OAuthError> {
        let now = self.now();
        let verified =
            jose::verify::<HintClaims>(hint, |kid, _| kid.and_then(|k| self.signer().verification_key(k, now)))
                .map_err(|e| {
                    OAuthError::invalid_request(format!(
                        "id_token_hint is not a valid ID token from this provider: {e}"
                    ))
                })?;
        let typ = verified.typ.as_deref().map(str::to_ascii_lowercase);
        if typ.is_some_and(|t| t != "jwt" && t != "application/jwt") {
            return Err(OAuthError::invalid_request("id_token_hint is not an ID token"));
        }
        if verified.claims.iss != self.settings().issuer {
            return Err(OAuthError::invalid_request("id_token_hint was issued by another provider"));
        }
        Ok(verified.claims)
    }
}

/// The post-logout redirect: one of the client's registered URIs exactly, `state` added.
fn redirect(client: Option<&Client>, uri: &str, state: Option<&str>) -> Result<String, OAuthError> {
    let Some(client) = client else {
        return Err(OAuthError::invalid_request(
            "post_logout_redirect_uri needs client_id or id_token_hint to say whose it is",
        ));
    };
    if !client.metadata.post_logout_redirect_uris.iter().any(|r| r == uri) {
        return Err(OAuthError::invalid_request(
            "post_logout_redirect_uri is not one of the client's registered post_logout_redirect_uris",
        ));
    }
    let mut url =
        url::Url::parse(uri).map_err(|_| OAuthError::invalid_request("post_logout_redirect_uri is not a URL"))?;
    if let Some(state) = state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Ok(url.into())
}
