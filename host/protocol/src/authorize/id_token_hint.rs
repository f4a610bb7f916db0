//! `id_token_hint` (OpenID Connect Core §3.1.2.1): an ID token this provider issued, possibly
//! expired; its subject must match the session that answers the request.

use super::Draft;
use crate::error::OAuthError;
use crate::jose;
use crate::provider::Provider;

#[derive(serde::Deserialize)]
struct HintClaims {
    iss: String,
    sub: String,
}

pub(super) fn check(provider: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let Some(hint) = draft.params.get("id_token_hint") else {
        return Ok(());
    };
    let now = provider.now();
    let verified =
        jose::verify::<HintClaims>(hint, |kid, _| kid.and_then(|k| provider.signer().verification_key(k, now)))
            .map_err(|e| {
                OAuthError::invalid_request(format!("id_token_hint is not a valid ID token from this provider: {e}"))
            })?;
    if verified.claims.iss != provider.settings().issuer {
        return Err(OAuthError::invalid_request("id_token_hint was issued by another provider"));
    }
    draft.request().id_token_hint_sub = Some(verified.claims.sub);
    Ok(())
}
