//! The provider value: settings plus every port the protocol talks through. Handlers hold one
//! and make one call on it per request.

use std::sync::Arc;

use crate::client_keys::ClientKeyCache;
use crate::fetch::Fetcher;
use crate::logout::LogoutDelivery;
use crate::plugins::Policies;
use crate::secret::{Sealer, Secret};
use crate::signer::{Alg, Signer};
use crate::store::Store;
use crate::world::{Clock, Random, UnixTime};

/// Lifetimes, in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    pub authz_session: u64,
    pub subject_session: u64,
    pub code: u64,
    pub access_token: u64,
    pub id_token: u64,
    pub refresh_token: u64,
    /// A pushed authorization request's `request_uri` (RFC 9126 §2.2).
    pub pushed_request: u64,
    /// How long one set of the provider's encryption keys is the published one; it still
    /// decrypts for one period more (`encryption_keys.rs`).
    pub encryption_key: u64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            authz_session: 15 * 60,
            subject_session: 12 * 3600,
            code: 60,
            access_token: 3600,
            id_token: 3600,
            refresh_token: 30 * 24 * 3600,
            pushed_request: 60,
            encryption_key: 30 * 24 * 3600,
        }
    }
}

/// The most a consent may ask for, in seconds: a front-end or consent policy cannot issue
/// tokens that outlive these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxLifetimes {
    pub access_token: u64,
    pub id_token: u64,
    pub refresh_token: u64,
}

impl Default for MaxLifetimes {
    fn default() -> Self {
        Self { access_token: 24 * 3600, id_token: 24 * 3600, refresh_token: 365 * 24 * 3600 }
    }
}

/// Bounds on what strangers and front-ends can make the provider keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest authentication request (its query string or form body), in bytes.
    pub authorization_request_bytes: usize,
    /// The largest session `data` object (and subject-session claims), serialised, in bytes.
    pub session_data_bytes: usize,
    /// Live authorization sessions per client, and in all.
    pub sessions_per_client: u64,
    pub sessions_total: u64,
    pub max_lifetimes: MaxLifetimes,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            authorization_request_bytes: 16 * 1024,
            session_data_bytes: 16 * 1024,
            sessions_per_client: 10_000,
            sessions_total: 100_000,
            max_lifetimes: MaxLifetimes::default(),
        }
    }
}

/// The absolute URLs of the provider's endpoints, as advertised in discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub userinfo: String,
    pub jwks: String,
    /// The RFC 7591 registration endpoint; `None` when dynamic registration is off. Each
    /// client's configuration endpoint (RFC 7592) is under it, `<registration>/<client_id>`.
    pub registration: Option<String>,
    pub introspection: String,
    pub revocation: String,
    pub pushed_authorization_request: String,
    /// RP-Initiated Logout's `end_session_endpoint`; `None` when no front-end confirms logouts.
    pub end_session: Option<String>,
}

impl Endpoints {
    /// The default endpoint layout under `issuer`.
    pub fn under(issuer: &str) -> Self {
        Self {
            authorization: format!("{issuer}/authorize"),
            token: format!("{issuer}/token"),
            userinfo: format!("{issuer}/userinfo"),
            jwks: format!("{issuer}/jwks.json"),
            registration: Some(format!("{issuer}/register")),
            introspection: format!("{issuer}/introspect"),
            revocation: format!("{issuer}/revoke"),
            pushed_authorization_request: format!("{issuer}/par"),
            end_session: Some(format!("{issuer}/logout")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// The issuer identifier: an https (or loopback http) URL without a trailing slash.
    pub issuer: String,
    pub endpoints: Endpoints,
    pub lifetimes: Lifetimes,
    /// ID token algorithm for clients that registered none.
    pub id_token_alg: Alg,
    /// Algorithm of JWT access tokens.
    pub access_token_alg: Alg,
    /// Scopes advertised in discovery beside the OpenID Connect standard ones.
    pub extra_scopes: Vec<String>,
    pub limits: Limits,
    /// Clients that may introspect every token, not only their own and those naming them in
    /// `aud` (configuration only: no client can register itself into this list).
    pub introspection_clients: Vec<String>,
    /// Whether every client must push its authentication requests (RFC 9126 §5
    /// `require_pushed_authorization_requests`); a client can also require it for itself.
    pub require_pushed_authorization_requests: bool,
    /// The protected resources clients may ask tokens for (RFC 8707).
    pub resources: Vec<crate::resources::ResourceServer>,
    /// Whether and from where clients identified by a metadata document URL are accepted.
    pub metadata_documents: crate::clients::MetadataDocumentPolicy,
}

impl Settings {
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into().trim_end_matches('/').to_owned();
        Self {
            endpoints: Endpoints::under(&issuer),
            issuer,
            lifetimes: Lifetimes::default(),
            id_token_alg: Alg::ES256,
            access_token_alg: Alg::ES256,
            extra_scopes: Vec::new(),
            limits: Limits::default(),
            introspection_clients: Vec::new(),
            require_pushed_authorization_requests: false,
            resources: Vec::new(),
            metadata_documents: Default::default(),
        }
    }
}

impl Settings {
    /// Whether the issuer is a plain-http loopback URL: a development setup, where loopback
    /// URLs are acceptable client metadata (and registration is open by default).
    pub fn issuer_is_loopback(&self) -> bool {
        url::Url::parse(&self.issuer).is_ok_and(|u| u.scheme() == "http" && crate::clients::is_loopback_host(&u))
    }
}

/// Everything the protocol needs from the world.
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub signer: Arc<dyn Signer>,
    pub sealer: Arc<Sealer>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub policies: Policies,
    /// Documents from URLs clients name (`jwks_uri`, `sector_identifier_uri`, `request_uri`).
    pub fetcher: Arc<dyn Fetcher>,
    /// Back-channel logout tokens, delivered off the request path.
    pub logout_delivery: Arc<dyn LogoutDelivery>,
}

/// The OpenID provider.
pub struct Provider {
    settings: Settings,
    ports: Ports,
    /// Client key sets fetched from `jwks_uri`s.
    client_keys: ClientKeyCache,
    /// The pairwise-subject salt, once read from the store (`pairwise.rs`).
    pairwise_salt: std::sync::OnceLock<Secret<[u8; 32]>>,
    /// The provider's own encryption keys, per period, once read from the store.
    encryption_keys: crate::encryption_keys::EncryptionKeys,
}

impl Provider {
    pub fn new(settings: Settings, ports: Ports) -> Self {
        Self {
            settings,
            ports,
            client_keys: ClientKeyCache::default(),
            pairwise_salt: std::sync::OnceLock::new(),
            encryption_keys: Default::default(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn now(&self) -> UnixTime {
        self.ports.clock.now()
    }

    pub fn store(&self) -> &dyn Store {
        self.ports.store.as_ref()
    }

    pub fn signer(&self) -> &dyn Signer {
        self.ports.signer.as_ref()
    }

    pub(crate) fn sealer(&self) -> &Sealer {
        &self.ports.sealer
    }

    pub(crate) fn random(&self) -> &dyn Random {
        self.ports.random.as_ref()
    }

    pub(crate) fn logout_delivery(&self) -> &dyn LogoutDelivery {
        self.ports.logout_delivery.as_ref()
    }

    pub fn fetcher(&self) -> &dyn Fetcher {
        self.ports.fetcher.as_ref()
    }

    pub(crate) fn client_keys(&self) -> &ClientKeyCache {
        &self.client_keys
    }

    pub(crate) fn encryption_keys(&self) -> &crate::encryption_keys::EncryptionKeys {
        &self.encryption_keys
    }

    pub(crate) fn pairwise_salt_cell(&self) -> &std::sync::OnceLock<Secret<[u8; 32]>> {
        &self.pairwise_salt
    }

    pub(crate) fn policies(&self) -> &Policies {
        &self.ports.policies
    }

    /// A new unguessable identifier or credential (256 bits).
    pub(crate) fn new_token(&self) -> String {
        self.ports.random.token(32)
    }

    /// A new session or record identifier (128 bits).
    pub(crate) fn new_id(&self) -> String {
        self.ports.random.token(16)
    }
}
