//! The token endpoint (RFC 6749 §3.2): client authentication, then one grant.

mod authorization_code;
mod basic;
pub(crate) mod client_assertion;
mod client_auth;
mod client_credentials;
pub(crate) mod issue;
mod refresh_token;

use serde::Serialize;

pub use basic::{BasicError, CredentialPart, basic_credentials};
pub use client_assertion::{JWT_BEARER, LEEWAY_SECONDS, MAX_JTI_LEN, MAX_LIFETIME_SECONDS};
pub use client_auth::ClientAuth;
pub(crate) use issue::scope_string;

use crate::authorize::Params;
use crate::error::{ErrorCode, OAuthError};
use crate::provider::Provider;

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Clone, Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// A refused token request. `basic_challenge` asks the server to answer 401 with a
/// `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2), as the client tried HTTP Basic.
#[derive(Debug)]
pub struct TokenError {
    pub error: OAuthError,
    pub basic_challenge: bool,
}

impl From<OAuthError> for TokenError {
    fn from(error: OAuthError) -> Self {
        Self { error, basic_challenge: false }
    }
}

impl Provider {
    /// Handles a token request: `form` is the request body, `auth` the client credentials the
    /// server extracted from it and from the `Authorization` header.
    pub async fn token(&self, form: &Params, auth: ClientAuth) -> Result<TokenResponse, TokenError> {
        let used_basic = auth.used_basic();
        let client = self.authenticate_client(form, auth).await.map_err(|error| TokenError {
            basic_challenge: used_basic && error.code == ErrorCode::InvalidClient,
            error,
        })?;
        // `resource` may repeat (RFC 8707); the grant says how many it takes.
        if let Some(name) = form.repeated().first() {
            return Err(OAuthError::invalid_request(format!("the {name} parameter is repeated")).into());
        }
        let result = match form.get("grant_type") {
            None => Err(OAuthError::invalid_request("the grant_type parameter is missing")),
            Some("authorization_code") => authorization_code::grant(self, &client, form).await,
            Some("client_credentials") => client_credentials::grant(self, &client, form).await,
            Some("refresh_token") => refresh_token::grant(self, &client, form).await,
            Some(other) => {
                Err(OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant_type {other:?} is not supported")))
            }
        };
        result.map_err(TokenError::from)
    }
}

/// The client must be registered for the grant it uses (RFC 6749 §5.2 `unauthorized_client`).
fn require_grant_type(client: &crate::model::Client, grant: &str) -> Result<(), OAuthError> {
    if client.metadata.has_grant_type(grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("the client is not registered for the {grant} grant"),
        ))
    }
}
