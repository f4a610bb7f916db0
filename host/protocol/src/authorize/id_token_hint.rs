//! `id_token_hint` (OpenID Connect Core §3.1.2.1): "ID Token previously issued by the
//! Authorization Server being passed as a hint about the End-User's current or past
//! authenticated session with the Client". Only this provider's ID tokens for the requesting
//! client are hints: not its access tokens (`typ` `at+jwt`, RFC 9068 §2.1) nor any other JWT it
//! signed, and not an ID token issued to another client (`aud` must contain the client, as
//! node-oidc-provider also checks). Expired ones are accepted: the hint names a past session.
//! Its subject must match the session that answers the request.

use serde_json::Value;

use super::Draft;
use crate::error::OAuthError;
use crate::jose;
use crate::provider::Provider;

#[derive(serde::Deserialize)]
struct HintClaims {
    iss: String,
    sub: String,
    /// One string or an array (RFC 7519 §4.1.3).
    aud: Value,
}

impl HintClaims {
    fn is_for(&self, client_id: &str) -> bool {
        match &self.aud {
            Value::String(aud) => aud == client_id,
            Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(client_id)),
            _ => false,
        }
    }
}

/// RFC 7515 §4.1.9 and RFC 7519 §5.1: an ID token's `typ` is absent or `JWT`, compared
/// case-insensitively, with the `application/` prefix optional.
fn is_jwt_typ(typ: Option<&str>) -> bool {
    typ.is_none_or(|t| {
        let t = t.to_ascii_lowercase();
        t == "jwt" || t == "application/jwt"
    })
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
    if !is_jwt_typ(verified.typ.as_deref()) {
        return Err(OAuthError::invalid_request("id_token_hint is not an ID token"));
    }
    if verified.claims.iss != provider.settings().issuer {
        return Err(OAuthError::invalid_request("id_token_hint was issued by another provider"));
    }
    if !verified.claims.is_for(&draft.client().client_id) {
        return Err(OAuthError::invalid_request("id_token_hint was not issued to this client"));
    }
    draft.request().id_token_hint_sub = Some(verified.claims.sub);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_jwt_types_are_id_tokens() {
        for typ in [None, Some("JWT"), Some("jwt"), Some("application/jwt"), Some("Application/JWT")] {
            assert!(is_jwt_typ(typ), "{typ:?}");
        }
        for typ in [Some("at+jwt"), Some("application/at+jwt"), Some("logout+jwt"), Some(""), Some("JWS")] {
            assert!(!is_jwt_typ(typ), "{typ:?}");
        }
    }

    #[test]
    fn the_audience_must_contain_the_client() {
        let claims = |aud: Value| HintClaims { iss: "i".into(), sub: "s".into(), aud };
        assert!(claims(Value::from("app")).is_for("app"));
        assert!(claims(serde_json::json!(["other", "app"])).is_for("app"));
        assert!(!claims(Value::from("https://issuer.example")).is_for("app"));
        assert!(!claims(serde_json::json!([])).is_for("app"));
        assert!(!claims(Value::from(1)).is_for("app"));
    }
}
