//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6). A code is
//! redeemed once; presenting it again revokes its grant and every token issued from it
//! (RFC 6749 §4.1.2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::authorize::Params;
use crate::error::OAuthError;
use crate::model::{CODES, Client, CodeRecord, GRANTS, UseState};
use crate::provider::Provider;
use crate::secret::{TokenHash, constant_time_eq, sha256};

use super::{TokenResponse, issue, require_grant_type};

pub(super) async fn grant(provider: &Provider, client: &Client, form: &Params) -> Result<TokenResponse, OAuthError> {
    require_grant_type(client, "authorization_code")?;
    let code = form.get("code").ok_or_else(|| OAuthError::invalid_request("the code parameter is missing"))?;
    let key = TokenHash::of(code);
    let now = provider.now();
    let Some(record) = CODES.get(provider.store(), key.as_str(), now).await? else {
        return Err(OAuthError::invalid_grant("the authorization code is invalid or has expired"));
    };
    if record.client_id != client.client_id {
        tracing::info!(client_id = %client.client_id, "authorization code presented by another client");
        return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
    }
    if record.state == UseState::Used {
        return Err(replayed(provider, &record).await);
    }
    check_redirect_uri(&record, form.get("redirect_uri"))?;
    check_verifier(&record, form.get("code_verifier"))?;

    // Redeem: exactly one concurrent caller sees the code still issued. The used marker stays
    // as long as tokens from the code may live, so a later replay still revokes them.
    let used = CodeRecord { state: UseState::Used, ..record.clone() };
    let grant = GRANTS.get(provider.store(), &record.grant_id, now).await?;
    // RFC 8707 §2.2: which resource the token is for, before the code is used up, so a
    // mistake there costs the client nothing.
    let granted = grant.as_ref().map_or(&[][..], |g| &g.resources[..]);
    let resource = provider.token_resource(client, granted, form)?;
    let keep = grant.as_ref().map_or(0, |g| g.access_token_lifetime).max(provider.settings().lifetimes.code);
    match CODES.swap(provider.store(), key.as_str(), &used, Some(now.plus(keep)), now).await? {
        Some(previous) if previous.state == UseState::Issued => {}
        Some(_) => return Err(replayed(provider, &record).await),
        None => return Err(OAuthError::invalid_grant("the authorization code is invalid or has expired")),
    }
    let grant = match grant {
        Some(g) if g.serves(client) => g,
        _ => return Err(OAuthError::invalid_grant("the authorization behind this code has been revoked")),
    };
    issue::for_grant(provider, client, &grant, &grant.scope, record.nonce.as_deref(), true, resource).await
}

/// A second redemption: revoke the grant so the tokens issued from the first one stop working.
async fn replayed(provider: &Provider, record: &CodeRecord) -> OAuthError {
    tracing::warn!(client_id = %record.client_id, grant = %record.grant_id, "authorization code replayed; revoking its grant");
    if let Err(e) = provider.revoke_grant(&record.grant_id).await {
        return e;
    }
    OAuthError::invalid_grant("the authorization code has already been used; tokens issued from it are revoked")
}

/// RFC 6749 §4.1.3: `redirect_uri` must be repeated, identically, if the authorization request
/// had it.
fn check_redirect_uri(record: &CodeRecord, given: Option<&str>) -> Result<(), OAuthError> {
    match given {
        Some(uri) if uri == record.redirect_uri => Ok(()),
        Some(_) => Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request")),
        None if record.redirect_uri_given => Err(OAuthError::invalid_request("the redirect_uri parameter is missing")),
        None => Ok(()),
    }
}

/// RFC 7636 §4.6 with S256; a verifier for a code issued without a challenge is refused too
/// (RFC 9700 §2.1.1, PKCE downgrade).
fn check_verifier(record: &CodeRecord, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (&record.code_challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err(OAuthError::invalid_grant("code_verifier was sent but the authorization request had no code_challenge"))
        }
        (Some(_), None) => Err(OAuthError::invalid_grant("the code_verifier parameter is missing")),
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed {
                return Err(OAuthError::invalid_grant("code_verifier is not 43-128 unreserved characters"));
            }
            let computed = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
            if constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"))
            }
        }
    }
}

impl Provider {
    /// Revokes a grant: every access and refresh token issued from it stops working.
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<(), OAuthError> {
        let now = self.now();
        if let Some(mut grant) = GRANTS.get(self.store(), grant_id, now).await? {
            grant.revoked = true;
            let expires = now.plus(grant.access_token_lifetime.max(grant.refresh_token_lifetime.unwrap_or(0)));
            GRANTS.put(self.store(), grant_id, &grant, Some(expires)).await?;
        }
        Ok(())
    }
}
