//! Client registration and management (RFC 7591 / RFC 7592 shapes), behind the host's client
//! API. Secrets are generated here, returned once, and stored sealed.

mod dynamic;
mod encryption;
mod metadata;
mod metadata_document;
mod parse;
mod redirect_uris;
mod sector;

use serde::{Deserialize, Serialize};

pub use dynamic::{Registered, RegistrationError};
use metadata::bad_metadata;
pub(crate) use metadata_document::ClientLookupError;
pub use metadata_document::{MetadataDocumentPolicy, is_client_id_url};
pub use redirect_uris::is_loopback_host;
pub use sector::sector_of;

use crate::error::ApiError;
use crate::jose::JwsAlg;
use crate::model::{AuthMethod, CLIENTS, Client, ClientMetadata, ClientSource};
use crate::provider::Provider;
use crate::secret::{Secret, TokenHash};

/// A registration or update request: client metadata, optionally with the client id and
/// secret the operator wants.
#[derive(Debug, Deserialize)]
pub struct ClientRegistration {
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<Secret<String>>,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// A client as the API returns it (RFC 7591 §3.2.1). The secret only appears when it was just
/// created.
#[derive(Debug, Serialize)]
pub struct ClientInfo {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    pub source: ClientSource,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

/// The least length of a client secret (HS256 keys need 256 bits: RFC 7518 §3.2).
pub const MIN_SECRET_LEN: usize = 32;

fn info(client: &Client, secret: Option<String>) -> ClientInfo {
    ClientInfo {
        client_id: client.client_id.clone(),
        client_secret_expires_at: client.secret.as_ref().map(|_| 0),
        client_secret: secret,
        client_id_issued_at: client.issued_at.0,
        source: client.source,
        metadata: client.metadata.clone(),
    }
}

/// The least length of a client secret for this metadata: [`MIN_SECRET_LEN`], more when
/// `client_secret_jwt` registered an HMAC that needs a longer key.
fn secret_len_for(m: &ClientMetadata) -> usize {
    let alg = m.token_endpoint_auth_signing_alg.as_deref().and_then(JwsAlg::parse);
    match (m.token_endpoint_auth_method, alg) {
        (AuthMethod::ClientSecretJwt, Some(a)) if a.is_hmac() => a.min_secret_len().max(MIN_SECRET_LEN),
        _ => MIN_SECRET_LEN,
    }
}

impl Provider {
    fn check_client_id(id: &str) -> Result<(), ApiError> {
        if crate::model::is_valid_client_id(id) {
            Ok(())
        } else {
            Err(bad_metadata("client_id must be 1-128 characters of letters, digits and -._~:"))
        }
    }

    /// The secret to store: the one given (long enough), or a new one for the methods that use
    /// a secret.
    fn new_secret(&self, metadata: &ClientMetadata, given: Option<Secret<String>>) -> Result<Option<String>, ApiError> {
        let method = metadata.token_endpoint_auth_method;
        let least = secret_len_for(metadata);
        match (method, given) {
            (AuthMethod::None, Some(_)) => {
                Err(bad_metadata("a public client (token_endpoint_auth_method none) has no secret"))
            }
            (m, Some(_)) if !m.uses_secret() => {
                Err(bad_metadata(format!("a client that authenticates with {} has no secret", m.as_str())))
            }
            (m, None) if !m.uses_secret() => Ok(None),
            (_, Some(s)) if s.expose().len() < least => {
                Err(bad_metadata(format!("client_secret must be at least {least} characters")))
            }
            (_, Some(s)) => Ok(Some(s.expose().clone())),
            (m, None) => Ok(Some(self.generate_secret(m))),
        }
    }

    /// A new client secret. `client_secret_jwt` secrets are HMAC keys, long enough for HS512
    /// (RFC 7518 §3.2); the others have 256 bits.
    fn generate_secret(&self, method: AuthMethod) -> String {
        match method {
            AuthMethod::ClientSecretJwt => self.random().token(64),
            _ => self.new_token(),
        }
    }

    /// Registers a client. The response carries the secret; it is not shown again.
    pub async fn create_client(&self, reg: ClientRegistration) -> Result<ClientInfo, ApiError> {
        Ok(self.register(reg, ClientSource::Api, None, None).await?.0)
    }

    /// Stores a new client; `incarnation` is kept when a configured client is written again.
    /// Returns the client as the API shows it, and as stored.
    async fn register(
        &self,
        reg: ClientRegistration,
        source: ClientSource,
        incarnation: Option<String>,
        registration_token: Option<TokenHash>,
    ) -> Result<(ClientInfo, Client), ApiError> {
        let (info, client) = self.new_client(reg, source, incarnation, registration_token).await?;
        if !CLIENTS.insert(self.store(), &client.client_id, &client, None, self.now()).await? {
            return Err(ApiError::Conflict(format!("a client with id {:?} already exists", client.client_id)));
        }
        Ok((info, client))
    }

    /// A client record from a registration, checked, not yet stored.
    async fn new_client(
        &self,
        mut reg: ClientRegistration,
        source: ClientSource,
        incarnation: Option<String>,
        registration_token: Option<TokenHash>,
    ) -> Result<(ClientInfo, Client), ApiError> {
        self.validate_metadata(&mut reg.metadata).await?;
        let client_id = match reg.client_id.take() {
            Some(id) => {
                Self::check_client_id(&id)?;
                id
            }
            None => self.new_id(),
        };
        let secret = self.new_secret(&reg.metadata, reg.client_secret.take())?;
        let now = self.now();
        let client = Client {
            secret: secret.as_ref().map(|s| self.sealer().seal(self.random(), &client_id, s.as_bytes())),
            client_id: client_id.clone(),
            metadata: reg.metadata,
            issued_at: now,
            source,
            incarnation: incarnation.unwrap_or_else(|| self.new_id()),
            registration_token,
            refresh_after: None,
        };
        Ok((info(&client, secret), client))
    }

    pub async fn get_client(&self, client_id: &str) -> Result<ClientInfo, ApiError> {
        let client = self.find_client(client_id).await?;
        Ok(info(&client, None))
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientInfo>, ApiError> {
        let clients = CLIENTS.list(self.store(), "", self.now()).await?;
        Ok(clients.iter().map(|c| info(c, None)).collect())
    }

    /// Replaces a client's metadata (RFC 7592 §2.2). The secret is kept, created when the
    /// client becomes confidential, and dropped when it becomes public.
    pub async fn update_client(&self, client_id: &str, reg: ClientRegistration) -> Result<ClientInfo, ApiError> {
        let client = self.find_client(client_id).await?;
        Self::writable(&client)?;
        if reg.client_secret.is_some() {
            return Err(bad_metadata("client_secret cannot be set on update; rotate it through the secret resource"));
        }
        Ok(self.replace_metadata(client, reg, None).await?.0)
    }

    /// Writes new metadata over a stored client, with its secret kept, created or dropped as
    /// the new authentication method needs (the new secret, if one was made, is in the
    /// answer), and its registration access token replaced when `new_token` is given.
    async fn replace_metadata(
        &self,
        mut client: Client,
        mut reg: ClientRegistration,
        new_token: Option<TokenHash>,
    ) -> Result<(ClientInfo, Client), ApiError> {
        let client_id = client.client_id.clone();
        let client_id = client_id.as_str();
        if reg.client_id.as_deref().is_some_and(|id| id != client_id) {
            return Err(bad_metadata("client_id cannot be changed"));
        }
        self.validate_metadata(&mut reg.metadata).await?;
        let mut new_secret = None;
        match (reg.metadata.token_endpoint_auth_method, &client.secret) {
            (m, _) if !m.uses_secret() => client.secret = None,
            (m, None) => {
                let s = self.generate_secret(m);
                client.secret = Some(self.sealer().seal(self.random(), client_id, s.as_bytes()));
                new_secret = Some(s);
            }
            (_, Some(_)) => {}
        }
        client.metadata = reg.metadata;
        if new_token.is_some() {
            client.registration_token = new_token;
        }
        CLIENTS.put(self.store(), client_id, &client, None).await?;
        Ok((info(&client, new_secret), client))
    }

    /// Replaces a confidential client's secret and returns the new one.
    pub async fn rotate_client_secret(&self, client_id: &str) -> Result<ClientInfo, ApiError> {
        let mut client = self.find_client(client_id).await?;
        Self::writable(&client)?;
        let method = client.metadata.token_endpoint_auth_method;
        if method == AuthMethod::None {
            return Err(ApiError::Conflict("a public client has no secret".into()));
        }
        if !method.uses_secret() {
            return Err(ApiError::Conflict(format!(
                "a client that authenticates with {} has no secret",
                method.as_str()
            )));
        }
        let s = self.generate_secret(method);
        client.secret = Some(self.sealer().seal(self.random(), client_id, s.as_bytes()));
        CLIENTS.put(self.store(), client_id, &client, None).await?;
        Ok(info(&client, Some(s)))
    }

    /// Deletes a client. Its grants, every token issued from them, and its consents stop
    /// working at once: they name the client's incarnation, which no client registered later
    /// under the same id shares. Its remembered consents are removed when next looked up.
    pub async fn delete_client(&self, client_id: &str) -> Result<(), ApiError> {
        let client = self.find_client(client_id).await?;
        Self::writable(&client)?;
        CLIENTS.delete(self.store(), client_id, self.now()).await?;
        Ok(())
    }

    /// Makes the stored configuration clients match the configuration file: adds and updates
    /// those listed, removes those no longer listed.
    pub async fn sync_config_clients(&self, clients: Vec<ClientRegistration>) -> Result<(), ApiError> {
        let now = self.now();
        let mut listed = Vec::new();
        for reg in clients {
            let id = reg.client_id.clone().ok_or_else(|| bad_metadata("a configured client needs a client_id"))?;
            if reg.metadata.token_endpoint_auth_method.uses_secret() && reg.client_secret.is_none() {
                return Err(bad_metadata(format!("configured client {id:?} needs a client_secret")));
            }
            // Written in place, never deleted first, so other hosts serving it see no gap; hosts
            // starting at once agree on the incarnation of the one that stored it first.
            let configured = |existing: &Option<Client>| match existing {
                Some(e) if e.source == ClientSource::Api => Err(ApiError::Conflict(format!(
                    "client {id:?} from the configuration file clashes with a client registered through the API"
                ))),
                _ => Ok(()),
            };
            let existing = CLIENTS.get(self.store(), &id, now).await?;
            configured(&existing)?;
            // The same configured client, written again: its grants and consents stay.
            let incarnation = existing.as_ref().map(|e| e.incarnation.clone());
            let (_, mut client) = self.new_client(reg, ClientSource::Config, incarnation, None).await?;
            if existing.is_some() || !CLIENTS.insert(self.store(), &id, &client, None, now).await? {
                if existing.is_none() {
                    // Another host stored it a moment ago: keep its incarnation.
                    let winner = CLIENTS.get(self.store(), &id, now).await?;
                    configured(&winner)?;
                    if let Some(winner) = winner {
                        client.incarnation = winner.incarnation;
                    }
                }
                CLIENTS.put(self.store(), &id, &client, None).await?;
            }
            listed.push(id);
        }
        for client in CLIENTS.list(self.store(), "", now).await? {
            if client.source == ClientSource::Config && !listed.contains(&client.client_id) {
                CLIENTS.delete(self.store(), &client.client_id, now).await?;
            }
        }
        Ok(())
    }

    async fn find_client(&self, client_id: &str) -> Result<Client, ApiError> {
        CLIENTS
            .get(self.store(), client_id, self.now())
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no client with id {client_id:?}")))
    }

    fn writable(client: &Client) -> Result<(), ApiError> {
        match client.source {
            ClientSource::Api | ClientSource::Dynamic => Ok(()),
            ClientSource::Config => Err(ApiError::Conflict(format!(
                "client {:?} is defined in the configuration file; change it there",
                client.client_id
            ))),
            ClientSource::MetadataDocument => Err(ApiError::Conflict(format!(
                "client {:?} is described by its metadata document; change it there",
                client.client_id
            ))),
        }
    }
}
