//! Client registration and management (RFC 7591 / RFC 7592 shapes), behind the host's client
//! API. Secrets are generated here, returned once, and stored sealed.

mod encryption;
mod redirect_uris;

use serde::{Deserialize, Serialize};

use crate::encryption::Target;
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::jose::{JwsAlg, signing_keys};
use crate::model::{AuthMethod, CLIENTS, Client, ClientMetadata, ClientSource};
use crate::provider::Provider;
use crate::secret::Secret;

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

impl ClientRegistration {
    /// Reads a registration request. RFC 7591 §3.2.2: a metadata value of the wrong type or
    /// not supported (an algorithm Gatehouse does not know, `none` for a signed response) is
    /// `invalid_client_metadata`, with serde's account of which member.
    pub fn from_json(body: serde_json::Value) -> Result<Self, ApiError> {
        serde_json::from_value(body).map_err(|e| bad_metadata(format!("the client metadata is not valid: {e}")))
    }
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

/// Members that only ever appear in responses; ignored when a request echoes them back.
const RESPONSE_ONLY: &[&str] = &[
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
    "source",
];

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

fn bad_metadata(description: impl Into<String>) -> ApiError {
    ApiError::OAuth(OAuthError::new(ErrorCode::InvalidClientMetadata, description.into()))
}

/// What the JWT authentication methods need (OpenID Connect Core §9, Dynamic Registration §2):
/// `private_key_jwt` clients register their keys, `jwks` or `jwks_uri` (https), and a
/// registered `token_endpoint_auth_signing_alg` must be one Gatehouse verifies for the method
/// (for the other methods it is kept but unused).
fn check_jwt_auth(m: &ClientMetadata) -> Result<(), ApiError> {
    let method = m.token_endpoint_auth_method;
    if method == AuthMethod::PrivateKeyJwt {
        match (&m.jwks, &m.jwks_uri) {
            (Some(_), Some(_)) => return Err(bad_metadata("jwks and jwks_uri cannot both be given")),
            (None, None) => return Err(bad_metadata("private_key_jwt needs the client's keys: jwks or jwks_uri")),
            (Some(jwks), None) if signing_keys(jwks).is_empty() => {
                return Err(bad_metadata("jwks holds no key that can verify signatures"));
            }
            (None, Some(uri)) if url::Url::parse(uri).map_or(true, |u| u.scheme() != "https") => {
                return Err(bad_metadata("jwks_uri must be an https URL"));
            }
            _ => {}
        }
    }
    let (Some(alg), AuthMethod::ClientSecretJwt | AuthMethod::PrivateKeyJwt) =
        (m.token_endpoint_auth_signing_alg.as_deref(), method)
    else {
        return Ok(());
    };
    match JwsAlg::parse(alg) {
        Some(a) if a.is_hmac() == (method == AuthMethod::ClientSecretJwt) => Ok(()),
        _ => Err(bad_metadata(format!(
            "token_endpoint_auth_signing_alg {alg:?} is not available for {}",
            method.as_str()
        ))),
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
    /// Checks client metadata against what this provider supports.
    fn validate_metadata(&self, m: &mut ClientMetadata) -> Result<(), ApiError> {
        for k in RESPONSE_ONLY {
            m.extra.remove(*k);
        }
        for g in &m.grant_types {
            if !["authorization_code", "client_credentials", "refresh_token"].contains(&g.as_str()) {
                return Err(bad_metadata(format!("grant type {g:?} is not supported")));
            }
        }
        for r in &m.response_types {
            if r != "code" {
                return Err(bad_metadata(format!("response type {r:?} is not supported; use \"code\"")));
            }
        }
        if !m.response_types.is_empty() && !m.has_grant_type("authorization_code") {
            return Err(bad_metadata("response type \"code\" needs the authorization_code grant type"));
        }
        if m.has_grant_type("authorization_code") && m.redirect_uris.is_empty() {
            return Err(ApiError::OAuth(OAuthError::new(
                ErrorCode::InvalidRedirectUri,
                "redirect_uris is required for the authorization_code grant",
            )));
        }
        // RFC 7591 §3.2.2: a refused redirect URI is `invalid_redirect_uri`; other metadata
        // (the post-logout URIs among them) is `invalid_client_metadata`.
        for uri in &m.redirect_uris {
            redirect_uris::check(uri, m.application_type).map_err(|reason| {
                ApiError::OAuth(OAuthError::new(
                    ErrorCode::InvalidRedirectUri,
                    format!("redirect URI {uri:?}: {reason}"),
                ))
            })?;
        }
        for uri in &m.post_logout_redirect_uris {
            redirect_uris::check(uri, m.application_type)
                .map_err(|reason| bad_metadata(format!("post-logout redirect URI {uri:?}: {reason}")))?;
        }
        if m.token_endpoint_auth_method == AuthMethod::None && m.has_grant_type("client_credentials") {
            return Err(bad_metadata("public clients (token_endpoint_auth_method none) cannot use client_credentials"));
        }
        if let Some(alg) = m.id_token_signed_response_alg.filter(|a| !self.signer().supported_algorithms().contains(a))
        {
            return Err(bad_metadata(format!("id_token_signed_response_alg {alg} is not available")));
        }
        if let Some(alg) = m.userinfo_signed_response_alg.filter(|a| !self.signer().supported_algorithms().contains(a))
        {
            return Err(bad_metadata(format!("userinfo_signed_response_alg {alg} is not available")));
        }
        for target in [Target::IdToken, Target::Userinfo] {
            encryption::check(m, target).map_err(bad_metadata)?;
        }
        check_jwt_auth(m)?;
        Ok(())
    }

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
        self.register(reg, ClientSource::Api, None).await
    }

    /// Stores a new client; `incarnation` is kept when a configured client is written again.
    async fn register(
        &self,
        mut reg: ClientRegistration,
        source: ClientSource,
        incarnation: Option<String>,
    ) -> Result<ClientInfo, ApiError> {
        self.validate_metadata(&mut reg.metadata)?;
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
        };
        if !CLIENTS.insert(self.store(), &client_id, &client, None, now).await? {
            return Err(ApiError::Conflict(format!("a client with id {client_id:?} already exists")));
        }
        Ok(info(&client, secret))
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
    pub async fn update_client(&self, client_id: &str, mut reg: ClientRegistration) -> Result<ClientInfo, ApiError> {
        let mut client = self.find_client(client_id).await?;
        Self::writable(&client)?;
        if reg.client_id.as_deref().is_some_and(|id| id != client_id) {
            return Err(bad_metadata("client_id cannot be changed"));
        }
        if reg.client_secret.is_some() {
            return Err(bad_metadata("client_secret cannot be set on update; rotate it through the secret resource"));
        }
        self.validate_metadata(&mut reg.metadata)?;
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
        CLIENTS.put(self.store(), client_id, &client, None).await?;
        Ok(info(&client, new_secret))
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
            let mut incarnation = None;
            if let Some(existing) = CLIENTS.get(self.store(), &id, now).await? {
                if existing.source == ClientSource::Api {
                    return Err(ApiError::Conflict(format!(
                        "client {id:?} from the configuration file clashes with a client registered through the API"
                    )));
                }
                // The same configured client, written again: its grants and consents stay.
                incarnation = Some(existing.incarnation);
                CLIENTS.delete(self.store(), &id, now).await?;
            }
            if reg.metadata.token_endpoint_auth_method.uses_secret() && reg.client_secret.is_none() {
                return Err(bad_metadata(format!("configured client {id:?} needs a client_secret")));
            }
            self.register(reg, ClientSource::Config, incarnation).await?;
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
            ClientSource::Api => Ok(()),
            ClientSource::Config => Err(ApiError::Conflict(format!(
                "client {:?} is defined in the configuration file; change it there",
                client.client_id
            ))),
        }
    }
}
