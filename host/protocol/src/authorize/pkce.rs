//! PKCE (RFC 7636): `S256` only, required for public clients (RFC 9700 §2.1.1). `plain` is
//! refused because it protects nothing a network observer cannot see.

use super::Draft;
use crate::error::OAuthError;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let challenge = draft.params.get("code_challenge");
    let method = draft.params.get("code_challenge_method");
    match (challenge, method) {
        (None, Some(_)) => Err(OAuthError::invalid_request("code_challenge_method given without code_challenge")),
        (None, None) if draft.client().is_public() => {
            Err(OAuthError::invalid_request("PKCE is required for public clients: send code_challenge with S256"))
        }
        (None, None) => Ok(()),
        (Some(_), None | Some("plain")) => {
            Err(OAuthError::invalid_request("code_challenge_method must be S256; plain is not allowed"))
        }
        (Some(_), Some(m)) if m != "S256" => {
            Err(OAuthError::invalid_request(format!("code_challenge_method {m:?} is not supported; use S256")))
        }
        (Some(c), Some(_)) => {
            // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
            let well_formed = c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(OAuthError::invalid_request("code_challenge is not a base64url SHA-256 value"));
            }
            draft.request().code_challenge = Some(c.to_owned());
            Ok(())
        }
    }
}
