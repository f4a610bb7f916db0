//! The registration rule for encrypted ID tokens and UserInfo responses (OpenID Connect
//! Dynamic Registration §2): metadata that could never be honoured is refused now, rather
//! than failing at every token request.

use crate::encryption::Target;
use crate::jwe::recipient_key;
use crate::model::ClientMetadata;

/// Why the encryption metadata for `target` cannot be used, if it cannot.
pub(super) fn check(m: &ClientMetadata, target: Target) -> Result<(), String> {
    let (alg, enc, enc_member) = match target {
        Target::IdToken => {
            (m.id_token_encrypted_response_alg, m.id_token_encrypted_response_enc, "id_token_encrypted_response_enc")
        }
        Target::Userinfo => {
            (m.userinfo_encrypted_response_alg, m.userinfo_encrypted_response_enc, "userinfo_encrypted_response_enc")
        }
    };
    let alg_member = target.alg_member();
    // "If id_token_encrypted_response_enc is included, id_token_encrypted_response_alg MUST
    // also be provided."
    let Some(alg) = alg else {
        return match enc {
            Some(_) => Err(format!("{enc_member} needs {alg_member}")),
            None => Ok(()),
        };
    };
    if alg.is_symmetric() {
        return match m.token_endpoint_auth_method.uses_secret() {
            true => Ok(()),
            false => Err(format!("{alg_member} {alg} is keyed with the client secret, and the client has none")),
        };
    }
    match (&m.jwks, &m.jwks_uri) {
        (None, None) => Err(format!("{alg_member} {alg} needs the client's keys: jwks or jwks_uri")),
        (Some(jwks), _) if recipient_key(jwks, alg).is_none() => {
            Err(format!("{alg_member} {alg}: jwks holds no encryption key for {alg}"))
        }
        _ => Ok(()),
    }
}
