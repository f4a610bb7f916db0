//! Dynamic Client Registration (RFC 7591, OpenID Connect Dynamic Client Registration 1.0) and
//! its management protocol (RFC 7592). A client registers itself with its metadata and gets,
//! beside its credentials, a registration access token and the URL of its configuration
//! endpoint, where it reads, replaces and deletes its registration with that token. The
//! token is stored only as its hash and replaced at every update.

use serde::Serialize;
use serde_json::Value;

use super::{ClientInfo, ClientRegistration, info, metadata::bad_metadata};
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::model::{CLIENTS, Client, ClientMetadata, ClientSource, is_valid_client_id};
use crate::provider::Provider;
use crate::secret::{TokenHash, constant_time_eq};
use crate::signer::Alg;
use crate::userinfo::BearerError;

/// A client as the registration and configuration endpoints answer with it (RFC 7591 §3.2.1,
/// RFC 7592 §3).
#[derive(Debug, Serialize)]
pub struct Registered {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    /// 0 (the secret does not expire) whenever there is a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    /// Only when it was just made: at registration and at each update. The provider keeps
    /// its hash only, so a read cannot return it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    pub registration_client_uri: String,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// Why a registration request was refused.
#[derive(Debug)]
pub enum RegistrationError {
    /// 400 with `invalid_redirect_uri`, `invalid_client_metadata` or
    /// `invalid_software_statement` (RFC 7591 §3.2.2).
    Refused(OAuthError),
    /// 401: no registration access token, or one that is not this client's (RFC 7592 §3,
    /// RFC 6750 §3.1). An unknown client id gets the same answer, so the endpoint does not tell
    /// which clients exist.
    Unauthorized(BearerError),
    /// The store or another dependency failed (503 or 500).
    Failed(ApiError),
}

impl From<ApiError> for RegistrationError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::OAuth(e) => Self::Refused(e),
            ApiError::BadRequest(m) | ApiError::Conflict(m) => {
                Self::Refused(OAuthError::new(ErrorCode::InvalidClientMetadata, m))
            }
            ApiError::NotFound(_) => Self::Unauthorized(not_this_clients()),
            other => Self::Failed(other),
        }
    }
}

impl From<crate::store::StoreError> for RegistrationError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Failed(e.into())
    }
}

fn not_this_clients() -> BearerError {
    BearerError::Rejected(OAuthError::invalid_token("the registration access token is not valid for this client"))
}

impl Provider {
    /// RFC 7591 §3.1: registers a client from its metadata. Whether the caller may register
    /// (open registration, or an initial access token) is the server's check, made before.
    pub async fn register_dynamic(&self, body: Value) -> Result<Registered, RegistrationError> {
        let mut reg = ClientRegistration::from_json(body)?;
        self.registration_defaults(&mut reg);
        if reg.client_id.is_some() || reg.client_secret.is_some() {
            return Err(bad_metadata("client_id and client_secret are assigned by the provider, not chosen").into());
        }
        let token = self.new_token();
        let (info, _) = self.register(reg, ClientSource::Dynamic, None, Some(TokenHash::of(&token))).await?;
        Ok(self.registered(info, Some(token)))
    }

    /// Dynamic Registration §2: "The default, if omitted, is RS256" for
    /// `id_token_signed_response_alg`, so a client that registers itself and names no algorithm
    /// gets what it expects (when the signer has an RSA key; otherwise the operator's
    /// `signing.id_token_alg`). Clients made through the admin API keep the operator's default.
    fn registration_defaults(&self, reg: &mut ClientRegistration) {
        let m = &mut reg.metadata;
        if m.id_token_signed_response_alg.is_none() && self.signer().supported_algorithms().contains(&Alg::RS256) {
            m.id_token_signed_response_alg = Some(Alg::RS256);
        }
    }

    /// RFC 7592 §2.1: the client's current registration.
    pub async fn read_registration(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<Registered, RegistrationError> {
        let client = self.managed_client(client_id, token).await?;
        let secret = self.current_secret(&client)?;
        Ok(self.registered(info(&client, secret), None))
    }

    /// RFC 7592 §2.2: replaces the client's metadata. A `client_secret` in the request must be
    /// the current one (a client cannot choose its secret); a new registration access token
    /// replaces the one used.
    pub async fn update_registration(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: Value,
    ) -> Result<Registered, RegistrationError> {
        let client = self.managed_client(client_id, token).await?;
        let mut reg = ClientRegistration::from_json(body)?;
        self.registration_defaults(&mut reg);
        let current = self.current_secret(&client)?;
        if let Some(given) = reg.client_secret.take() {
            let same = current.as_ref().is_some_and(|c| constant_time_eq(c.as_bytes(), given.expose().as_bytes()));
            if !same {
                return Err(
                    bad_metadata("client_secret is not the client's current secret; it cannot be changed").into()
                );
            }
        }
        let token = self.new_token();
        let (mut info, _) = self.replace_metadata(client, reg, Some(TokenHash::of(&token))).await?;
        if info.client_secret.is_none() && info.client_secret_expires_at.is_some() {
            info.client_secret = current;
        }
        Ok(self.registered(info, Some(token)))
    }

    /// RFC 7592 §2.3: deletes the client; its grants and tokens stop working with it.
    pub async fn delete_registration(&self, client_id: &str, token: Option<&str>) -> Result<(), RegistrationError> {
        self.managed_client(client_id, token).await?;
        CLIENTS.delete(self.store(), client_id, self.now()).await?;
        Ok(())
    }

    /// The client the registration access token manages. Every refusal looks the same.
    async fn managed_client(&self, client_id: &str, token: Option<&str>) -> Result<Client, RegistrationError> {
        let token = token.ok_or(RegistrationError::Unauthorized(BearerError::Missing))?;
        if !is_valid_client_id(client_id) {
            return Err(RegistrationError::Unauthorized(not_this_clients()));
        }
        let client = CLIENTS.get(self.store(), client_id, self.now()).await?;
        let given = TokenHash::of(token);
        match client {
            Some(c)
                if c.registration_token
                    .as_ref()
                    .is_some_and(|h| constant_time_eq(h.as_str().as_bytes(), given.as_str().as_bytes())) =>
            {
                Ok(c)
            }
            _ => {
                tracing::info!(client_id, "a registration access token was refused");
                Err(RegistrationError::Unauthorized(not_this_clients()))
            }
        }
    }

    /// The client's secret, unsealed, for the configuration endpoint's answers (RFC 7592 §3
    /// returns the whole client information, secret included, to the token's holder).
    fn current_secret(&self, client: &Client) -> Result<Option<String>, RegistrationError> {
        let Some(sealed) = &client.secret else {
            return Ok(None);
        };
        let opened = self.sealer().open(&client.client_id, sealed).map_err(|_| {
            tracing::error!(client_id = %client.client_id, "a client secret does not open with this master key");
            RegistrationError::Failed(ApiError::Internal)
        })?;
        Ok(Some(String::from_utf8_lossy(opened.expose()).into_owned()))
    }

    fn registered(&self, info: ClientInfo, token: Option<String>) -> Registered {
        let endpoint = self
            .settings()
            .endpoints
            .registration
            .clone()
            .unwrap_or_else(|| format!("{}/register", self.settings().issuer));
        Registered {
            registration_client_uri: format!("{endpoint}/{}", info.client_id),
            client_id: info.client_id,
            client_secret: info.client_secret,
            client_id_issued_at: info.client_id_issued_at,
            client_secret_expires_at: info.client_secret_expires_at,
            registration_access_token: token,
            metadata: info.metadata,
        }
    }
}
