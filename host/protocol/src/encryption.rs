//! Encrypting what the provider sends a client (OpenID Connect Core §10.2, §16.14): ID tokens
//! and UserInfo responses, as the client registered with `*_encrypted_response_alg` and
//! `*_encrypted_response_enc` (Dynamic Registration §2). A signed token is nested: signed,
//! then encrypted with `cty: "JWT"`.
//!
//! The key is the client's: for RSA-OAEP and ECDH-ES a public key of its JWK set (`jwks` or
//! `jwks_uri`, [`Provider::client_encryption_key`]), for AES key wrap and `dir` the key
//! derived from its client secret ([`jwe::secret_key`]). A client without a usable key gets
//! `invalid_client` with a description that names what is missing, never a signed token in
//! the clear; registration refuses such metadata where it can (`clients/encryption.rs`).

use crate::error::OAuthError;
use crate::jwe::{self, Enc, KeyAlg, Params};
use crate::model::{Client, ClientMetadata};
use crate::provider::Provider;

/// What is encrypted: it names the metadata in errors and picks the registered algorithms.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Target {
    IdToken,
    Userinfo,
}

impl Target {
    /// The metadata member that registered the key-management algorithm.
    pub fn alg_member(self) -> &'static str {
        match self {
            Target::IdToken => "id_token_encrypted_response_alg",
            Target::Userinfo => "userinfo_encrypted_response_alg",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Target::IdToken => "the ID token",
            Target::Userinfo => "the UserInfo response",
        }
    }
}

/// The `enc` used when a client registered only the `alg` (Dynamic Registration §2: "If
/// id_token_encrypted_response_alg is specified, the default id_token_encrypted_response_enc
/// value is A128CBC-HS256").
pub const DEFAULT_ENC: Enc = Enc::A128CbcHs256;

/// The algorithms the client registered for `target`, if it asked for encryption.
pub fn registered(m: &ClientMetadata, target: Target) -> Option<(KeyAlg, Enc)> {
    let (alg, enc) = match target {
        Target::IdToken => (m.id_token_encrypted_response_alg, m.id_token_encrypted_response_enc),
        Target::Userinfo => (m.userinfo_encrypted_response_alg, m.userinfo_encrypted_response_enc),
    };
    alg.map(|alg| (alg, enc.unwrap_or(DEFAULT_ENC)))
}

impl Provider {
    /// `plaintext` encrypted to `client` as it registered for `target`, or `None` when it
    /// registered no encryption. `nested` marks a signed JWT inside (`cty: "JWT"`).
    pub(crate) async fn encrypt_for_client(
        &self,
        client: &Client,
        target: Target,
        plaintext: &[u8],
        nested: bool,
    ) -> Result<Option<String>, OAuthError> {
        let Some((alg, enc)) = registered(&client.metadata, target) else {
            return Ok(None);
        };
        let no_key = |reason: String| {
            tracing::warn!(client_id = %client.client_id, %reason, "cannot encrypt {} for the client", target.what());
            OAuthError::invalid_client(format!("{} cannot be encrypted: {reason}", target.what()))
        };
        let key = if alg.is_symmetric() {
            let Some(sealed) = &client.secret else {
                return Err(no_key(format!("{alg} needs a client secret and the client has none")));
            };
            let secret = self
                .sealer()
                .open(&client.client_id, sealed)
                .map_err(|e| OAuthError::server_error(format_args!("client {}: {e}", client.client_id)))?;
            jwe::secret_key(secret.expose(), alg, enc).map_err(OAuthError::server_error)?
        } else {
            match self.client_encryption_key(client, alg).await {
                Ok(Some(key)) => key,
                Ok(None) => return Err(no_key(format!("the client's JWK set has no key for {alg}"))),
                Err(e) => return Err(no_key(e.to_string())),
            }
        };
        let params = Params { cty: nested.then_some("JWT"), ..Params::new(alg, enc) };
        let token = jwe::encrypt(&key, &params, plaintext, self.random()).map_err(|e| match e {
            jwe::JweError::KeyMismatch(_) | jwe::JweError::InvalidKey(_) => no_key(e.to_string()),
            other => OAuthError::server_error(format_args!("encrypting for {}: {other}", client.client_id)),
        })?;
        Ok(Some(token))
    }

    /// The ID token as the client gets it: `signed`, or nested in a JWE when it registered
    /// `id_token_encrypted_response_alg`.
    pub(crate) async fn id_token_for_client(&self, client: &Client, signed: String) -> Result<String, OAuthError> {
        Ok(self.encrypt_for_client(client, Target::IdToken, signed.as_bytes(), true).await?.unwrap_or(signed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_is_what_the_client_registered_with_the_default_enc() {
        let mut m = ClientMetadata::default();
        assert_eq!(registered(&m, Target::IdToken), None);
        m.id_token_encrypted_response_alg = Some(KeyAlg::RsaOaep);
        assert_eq!(registered(&m, Target::IdToken), Some((KeyAlg::RsaOaep, Enc::A128CbcHs256)));
        assert_eq!(registered(&m, Target::Userinfo), None, "each target has its own members");
        m.userinfo_encrypted_response_alg = Some(KeyAlg::Dir);
        m.userinfo_encrypted_response_enc = Some(Enc::A256Gcm);
        assert_eq!(registered(&m, Target::Userinfo), Some((KeyAlg::Dir, Enc::A256Gcm)));
    }
}
