//! The configuration: a TOML file with environment overrides (`GATEHOUSE_<SECTION>__<KEY>`).
//! Every section rejects unknown keys, and every value is checked before the server starts,
//! with a message that says how to fix it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use gatehouse_protocol::clients::ClientRegistration;
use gatehouse_protocol::secret::Secret;
use gatehouse_protocol::signer::Alg;
use gatehouse_signer::Pkcs11Config;
use serde::Deserialize;

/// Top-level keys, so unrelated `GATEHOUSE_*` variables in the environment are not mistaken
/// for configuration.
const SECTIONS: &[&str] = &[
    "issuer",
    "data_dir",
    "http",
    "storage",
    "signing",
    "api",
    "frontend",
    "lifetimes",
    "limits",
    "scopes",
    "clients",
    "log",
    "plugins",
    "outbound",
    "registration",
    "introspection",
    "par",
    "logout",
    "resources",
    "client_id_metadata_documents",
    "cluster",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The issuer identifier; endpoints are served under it.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Where the database, the master key and generated API tokens live by default.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub signing: SigningConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub frontend: FrontendConfig,
    #[serde(default)]
    pub lifetimes: LifetimesConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Scopes advertised in discovery beside the standard ones.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Clients defined here are kept in sync with the store at start-up and are read-only
    /// through the client API.
    #[serde(default)]
    pub clients: Vec<ClientRegistration>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub plugins: PluginsConfig,
    #[serde(default)]
    pub outbound: OutboundConfig,
    #[serde(default)]
    pub registration: RegistrationConfig,
    #[serde(default)]
    pub introspection: IntrospectionConfig,
    #[serde(default)]
    pub par: ParConfig,
    #[serde(default)]
    pub logout: LogoutConfig,
    /// The protected resources clients may ask tokens for with `resource` (RFC 8707).
    #[serde(default)]
    pub resources: Vec<ResourceConfig>,
    #[serde(default)]
    pub client_id_metadata_documents: MetadataDocumentsConfig,
    #[serde(default)]
    pub cluster: ClusterConfig,
}

/// Several hosts on one PostgreSQL database (`[cluster]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This host's name in per-host reports (`GET /admin/v1/plugins`); the machine's host name
    /// and the listening port when absent.
    #[serde(default)]
    pub host_name: Option<String>,
    /// How often this host reads the change feed (what other hosts changed in clients and
    /// plugins). At least 50ms.
    #[serde(with = "humantime_serde", default = "d1s")]
    pub feed_interval: Duration,
    /// Announce changes with PostgreSQL's `NOTIFY` and listen for them, so that every host acts
    /// on a change at once; the feed is still read every `feed_interval`. Only for engines with
    /// `LISTEN`/`NOTIFY`: PostgreSQL, YugabyteDB when enabled there, not CockroachDB.
    #[serde(default)]
    pub notify: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self { host_name: None, feed_interval: d1s(), notify: false }
    }
}

fn d1s() -> Duration {
    Duration::from_secs(1)
}

/// A protected resource (`[[resources]]`): an access token asked for it has its `uri` as
/// `aud` and, of the granted scopes, those it lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// Its absolute URI, as clients send it in `resource` (an MCP server's URL, say).
    pub uri: String,
    /// The scopes it accepts; advertised in discovery. Empty: every granted scope.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The clients that may ask for it; every client when absent.
    #[serde(default)]
    pub clients: Option<Vec<String>>,
}

/// Which clients identified by a client ID metadata document URL are accepted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataDocumentsConfig {
    /// `off` (the default), `open` (any https URL on a public address) or `hosts` (only URLs on
    /// the `hosts` listed).
    #[serde(default)]
    pub policy: MetadataDocumentsMode,
    #[serde(default)]
    pub hosts: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataDocumentsMode {
    #[default]
    Off,
    Open,
    Hosts,
}

impl MetadataDocumentsConfig {
    /// The protocol's policy.
    pub fn policy(&self) -> gatehouse_protocol::clients::MetadataDocumentPolicy {
        use gatehouse_protocol::clients::MetadataDocumentPolicy as P;
        match self.policy {
            MetadataDocumentsMode::Off => P::Off,
            MetadataDocumentsMode::Open => P::Open,
            MetadataDocumentsMode::Hosts => P::Hosts(self.hosts.clone()),
        }
    }
}

/// Logout (RP-Initiated, Back-Channel and Front-Channel Logout 1.0).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogoutConfig {
    /// How long to wait before each new try of a back-channel logout the client did not
    /// answer with 200 or 204; one try more than there are delays.
    #[serde(deserialize_with = "durations", default = "default_retry_delays")]
    pub backchannel_retry_delays: Vec<Duration>,
}

/// A list of durations written as humantime strings (`["2s", "1m"]`).
fn durations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let list: Vec<humantime_serde::Serde<Duration>> = Deserialize::deserialize(d)?;
    Ok(list.into_iter().map(humantime_serde::Serde::into_inner).collect())
}

fn default_retry_delays() -> Vec<Duration> {
    vec![Duration::from_secs(2), Duration::from_secs(10), Duration::from_secs(60)]
}

impl Default for LogoutConfig {
    fn default() -> Self {
        Self { backchannel_retry_delays: default_retry_delays() }
    }
}

/// Pushed authorization requests (RFC 9126).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParConfig {
    /// Whether every client must push its authentication requests
    /// (`require_pushed_authorization_requests` in discovery); a client can also require it
    /// for itself in its metadata.
    #[serde(default)]
    pub required: bool,
}

/// Token introspection (RFC 7662). Every confidential client may introspect the tokens issued
/// to it and those whose `aud` names it; the clients listed here may introspect every token.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// Client ids of resource servers that see every token (for example an API gateway).
    #[serde(default)]
    pub all_tokens_clients: Vec<String>,
}

/// Dynamic client registration (RFC 7591) at `<issuer>/register`, with each client's
/// configuration endpoint (RFC 7592) under it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// Who may register; when absent, `open` under a loopback http issuer (development) and
    /// `initial_token` otherwise.
    #[serde(default)]
    pub mode: Option<RegistrationMode>,
    /// SHA-256 (hex) of the initial access tokens `initial_token` mode accepts. When empty, a
    /// token is generated into `<data_dir>/registration.token`.
    #[serde(default)]
    pub initial_token_hashes: Vec<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    /// Anyone may register a client.
    Open,
    /// Registration needs an initial access token as a Bearer token (RFC 7591 §3).
    InitialToken,
    /// No registration endpoint; clients come from the client API and the configuration.
    Off,
}

impl Config {
    /// The registration mode in effect, the default applied.
    pub fn registration_mode(&self) -> RegistrationMode {
        self.registration.mode.unwrap_or_else(|| {
            if gatehouse_protocol::Settings::new(self.issuer.clone()).issuer_is_loopback() {
                RegistrationMode::Open
            } else {
                RegistrationMode::InitialToken
            }
        })
    }
}

/// The provider's own fetches of documents clients name (`jwks_uri`, `sector_identifier_uri`,
/// `request_uri`): https only, public addresses only unless allowed here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// The most one fetch may take, connection included.
    #[serde(with = "humantime_serde", default = "d5s")]
    pub timeout: Duration,
    /// Allow loopback and private addresses (documents on the deployment's own network, tests).
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// Networks allowed even when private addresses are not, e.g. `["10.20.0.0/16"]`.
    #[serde(default)]
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// PEM certificates trusted beside the operating system's CA store and the Mozilla roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self { timeout: d5s(), allow_private_addresses: false, allowed_networks: Vec::new(), ca_file: None }
    }
}

/// Policy plugins (WebAssembly components). Each plugin is a manifest (`NAME.toml`: kind,
/// version, limits, allowed outbound hosts, its own config) beside its component.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// The plugin folder. Every manifest in it is loaded at start-up (one that is refused stops
    /// the start, with the reason); with `watch`, versions landing there later are swapped in.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    #[serde(default = "default_true")]
    pub watch: bool,
    /// Compiled components, so restarts do not recompile; `<data_dir>/plugin-cache` when
    /// absent.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// How many plugin instances may run at once across all plugins.
    #[serde(default = "default_plugin_instances")]
    pub max_instances: u32,
}

fn default_true() -> bool {
    true
}

fn default_plugin_instances() -> u32 {
    128
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self { dir: None, watch: true, cache_dir: None, max_instances: default_plugin_instances() }
    }
}

fn default_issuer() -> String {
    "http://127.0.0.1:8080".into()
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

/// The listener. Every wait a client can impose is bounded here (see `serve.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The address to listen on; derived from the issuer's host and port when absent.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// How long a client has to send a request's whole header block, counted from when the
    /// connection is ready for it: accepted, or done with the previous response.
    #[serde(with = "humantime_serde", default = "d10s")]
    pub header_read_timeout: Duration,
    /// How long a client has to send a request's whole body once its headers are in.
    #[serde(with = "humantime_serde", default = "d30s")]
    pub body_read_timeout: Duration,
    /// How long a connection may stay open with no request being handled and no byte sent
    /// either way (before its first request, between keep-alive requests, or a client that
    /// stopped reading).
    #[serde(with = "humantime_serde", default = "d5s")]
    pub idle_timeout: Duration,
    /// Open connections; further ones wait in the operating system's accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Requests being handled at once; further ones wait for a slot.
    #[serde(default = "default_max_requests")]
    pub max_requests: usize,
    /// The largest request header block (request line and headers); a larger one is answered
    /// 431.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Serve https: the PEM certificate chain (leaf first) and its private key. Both or
    /// neither; without them the listener speaks plain HTTP/1.1 (behind a TLS proxy).
    #[serde(default)]
    pub tls_certificate: Option<PathBuf>,
    #[serde(default)]
    pub tls_private_key: Option<PathBuf>,
    /// How often the two files are checked for a change (a renewed certificate); `SIGHUP`
    /// reloads them at once.
    #[serde(with = "humantime_serde", default = "d1m")]
    pub tls_reload_interval: Duration,
}

fn d10s() -> Duration {
    Duration::from_secs(10)
}

fn d30s() -> Duration {
    Duration::from_secs(30)
}

fn default_max_connections() -> usize {
    512
}

fn default_max_requests() -> usize {
    256
}

fn default_max_header_bytes() -> usize {
    32 << 10
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: None,
            header_read_timeout: d10s(),
            body_read_timeout: d30s(),
            idle_timeout: d5s(),
            max_connections: default_max_connections(),
            max_requests: default_max_requests(),
            max_header_bytes: default_max_header_bytes(),
            tls_certificate: None,
            tls_private_key: None,
            tls_reload_interval: d1m(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub backend: StorageBackend,
    /// The SQLite database file; `<data_dir>/gatehouse.db` when absent.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// SQLite reader connections beside the one writer.
    #[serde(default = "default_readers")]
    pub readers: usize,
    /// The PostgreSQL connection string (`postgres://user:password@host/db` or libpq
    /// `host=… user=… dbname=…`). It may hold a password, so it is never logged.
    #[serde(default)]
    pub url: Option<Secret<String>>,
    /// PostgreSQL connections in the pool.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// The CA certificates (PEM) that `sslmode=verify-ca` and `verify-full` check the
    /// PostgreSQL server's certificate against, unless the URL names `sslrootcert`; the
    /// system's roots when neither is set.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// How long client records are cached in memory. Changes made through this host apply
    /// at once; changes made by another host sharing the database within this time. "0s"
    /// turns the cache off.
    #[serde(with = "humantime_serde", default = "d5s")]
    pub client_cache_ttl: Duration,
    /// How often expired records are deleted. Subject sessions that expired are logged out
    /// (back-channel) at that moment, so this bounds how late their clients hear of it.
    #[serde(with = "humantime_serde", default = "d60s")]
    pub purge_interval: Duration,
}

fn d60s() -> Duration {
    Duration::from_secs(60)
}

fn d5s() -> Duration {
    Duration::from_secs(5)
}

fn default_pool_size() -> usize {
    16
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    #[default]
    Sqlite,
    Postgres,
}

fn default_readers() -> usize {
    4
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Sqlite,
            path: None,
            readers: default_readers(),
            url: None,
            pool_size: default_pool_size(),
            tls_ca_file: None,
            client_cache_ttl: d5s(),
            purge_interval: d60s(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    #[serde(default)]
    pub backend: SigningBackend,
    /// ID-token algorithm for clients that registered none.
    #[serde(default = "default_alg")]
    pub id_token_alg: Alg,
    /// Algorithm of JWT access tokens.
    #[serde(default = "default_alg")]
    pub access_token_alg: Alg,
    /// The master key that seals client secrets and software keys at rest (32 bytes, hex);
    /// read from this file, created with a random key when absent.
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
    /// The HSM, for `backend = "pkcs11"`.
    #[serde(default)]
    pub pkcs11: Option<Pkcs11Config>,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            backend: SigningBackend::default(),
            id_token_alg: default_alg(),
            access_token_alg: default_alg(),
            master_key_file: None,
            pkcs11: None,
        }
    }
}

fn default_alg() -> Alg {
    Alg::ES256
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SigningBackend {
    /// Keys generated on first start and kept, sealed, in the store.
    #[default]
    Software,
    /// Keys in a PKCS#11 HSM, configured in `[signing.pkcs11]`.
    Pkcs11,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// SHA-256 (hex) of the bearer tokens the login front-end uses on the
    /// authorization-session API. When empty, a token is generated into
    /// `<data_dir>/authz-api.token`.
    #[serde(default)]
    pub authz_session_token_hashes: Vec<String>,
    /// SHA-256 (hex) of the master tokens for the client, admin and monitoring APIs. When
    /// empty, a token is generated into `<data_dir>/admin-api.token`.
    #[serde(default)]
    pub admin_token_hashes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontendConfig {
    /// The login front-end's page the authorization endpoint sends browsers to, with the
    /// authentication request's query string.
    #[serde(default)]
    pub login_url: Option<String>,
    /// The front-end's page the end-session endpoint sends browsers to, with
    /// `?logout_request=<id>`, to confirm a logout with the user. Without it there is no
    /// `end_session_endpoint`.
    #[serde(default)]
    pub logout_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifetimesConfig {
    #[serde(with = "humantime_serde", default = "d15m")]
    pub authz_session: Duration,
    #[serde(with = "humantime_serde", default = "d12h")]
    pub subject_session: Duration,
    #[serde(with = "humantime_serde", default = "d1m")]
    pub code: Duration,
    #[serde(with = "humantime_serde", default = "d1h")]
    pub access_token: Duration,
    #[serde(with = "humantime_serde", default = "d1h")]
    pub id_token: Duration,
    #[serde(with = "humantime_serde", default = "d30d")]
    pub refresh_token: Duration,
    /// How long a pushed authorization request's `request_uri` can be used (RFC 9126 §2.2).
    #[serde(with = "humantime_serde", default = "d1m")]
    pub pushed_request: Duration,
    /// How long one set of the provider's request-object encryption keys is published; it
    /// still decrypts for as long again.
    #[serde(with = "humantime_serde", default = "d30d")]
    pub encryption_key: Duration,
    /// The longest token lifetimes a consent (from the front-end or a consent policy) may ask
    /// for; longer ones are refused.
    #[serde(with = "humantime_serde", default = "d1d")]
    pub max_access_token: Duration,
    #[serde(with = "humantime_serde", default = "d1d")]
    pub max_id_token: Duration,
    #[serde(with = "humantime_serde", default = "d365d")]
    pub max_refresh_token: Duration,
}

/// Bounds on what clients, browsers and front-ends can make the provider keep.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// The longest authentication request (query string or form body), in bytes.
    #[serde(default = "d16k")]
    pub authorization_request_bytes: usize,
    /// The largest session `data` object, subject claims or preset claims, serialised.
    #[serde(default = "d16k")]
    pub session_data_bytes: usize,
    /// Live authorization sessions one client may have at once; more are refused with
    /// `temporarily_unavailable`.
    #[serde(default = "d10k")]
    pub sessions_per_client: u64,
    /// Live authorization sessions in all.
    #[serde(default = "d100k")]
    pub sessions_total: u64,
}

fn d16k() -> usize {
    16 * 1024
}
fn d10k() -> u64 {
    10_000
}
fn d100k() -> u64 {
    100_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            authorization_request_bytes: d16k(),
            session_data_bytes: d16k(),
            sessions_per_client: d10k(),
            sessions_total: d100k(),
        }
    }
}

fn d15m() -> Duration {
    Duration::from_secs(900)
}
fn d12h() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn d1m() -> Duration {
    Duration::from_secs(60)
}
fn d1h() -> Duration {
    Duration::from_secs(3600)
}
fn d30d() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
fn d1d() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn d365d() -> Duration {
    Duration::from_secs(365 * 24 * 3600)
}

impl Default for LifetimesConfig {
    fn default() -> Self {
        Self {
            authz_session: d15m(),
            subject_session: d12h(),
            code: d1m(),
            access_token: d1h(),
            id_token: d1h(),
            refresh_token: d30d(),
            pushed_request: d1m(),
            encryption_key: d30d(),
            max_access_token: d1d(),
            max_id_token: d1d(),
            max_refresh_token: d365d(),
        }
    }
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
}

/// A configuration that cannot be used, with what to change.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the configuration: defaults, then the file (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!("the configuration file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        // `filter` sees the key after `split` has turned `__` into `.`.
        figment = figment.merge(Env::prefixed("GATEHOUSE_").split("__").filter(|k| {
            let top = k.as_str().split('.').next().unwrap_or_default();
            SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(top))
        }));
        Self::extract(figment)
    }

    /// Reads a configuration from TOML text alone (tests, `check-config`).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::extract(Figment::new().merge(Toml::string(text)))
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(|e| {
            let mut msg = String::new();
            for err in e {
                msg.push_str(&format!("\n  - {err}"));
            }
            ConfigError(format!(
                "{msg}\n  Every option is described in docs/configuration.md; environment variables use GATEHOUSE_<SECTION>__<KEY>."
            ))
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let issuer = url::Url::parse(&self.issuer).map_err(|e| {
            ConfigError(format!("issuer {:?} is not a URL ({e}); write e.g. https://id.example.com", self.issuer))
        })?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError(format!(
                "issuer {:?} must not have a query or fragment (OpenID Discovery §2)",
                self.issuer
            )));
        }
        let loopback = matches!(issuer.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match issuer.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(ConfigError(format!(
                    "issuer {:?} must use https; plain http is allowed only for loopback addresses (127.0.0.1, localhost)",
                    self.issuer
                )));
            }
        }
        for (what, hashes) in [
            ("api.authz_session_token_hashes", &self.api.authz_session_token_hashes),
            ("api.admin_token_hashes", &self.api.admin_token_hashes),
            ("registration.initial_token_hashes", &self.registration.initial_token_hashes),
        ] {
            for h in hashes.iter() {
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ConfigError(format!(
                        "{what} must hold SHA-256 hashes as 64 hex digits; compute one with `gatehouse hash-token`"
                    )));
                }
            }
        }
        if let Some(url) = &self.frontend.logout_url {
            url::Url::parse(url).map_err(|e| ConfigError(format!("frontend.logout_url {url:?} is not a URL: {e}")))?;
        }
        if let Some(url) = &self.frontend.login_url {
            url::Url::parse(url).map_err(|e| ConfigError(format!("frontend.login_url {url:?} is not a URL: {e}")))?;
        }
        let l = &self.lifetimes;
        for (name, d) in [
            ("authz_session", l.authz_session),
            ("subject_session", l.subject_session),
            ("code", l.code),
            ("access_token", l.access_token),
            ("id_token", l.id_token),
            ("refresh_token", l.refresh_token),
            ("pushed_request", l.pushed_request),
        ] {
            if d.as_secs() == 0 {
                return Err(ConfigError(format!("lifetimes.{name} must be at least one second (e.g. \"10m\")")));
            }
        }
        for (name, lifetime, max) in [
            ("access_token", l.access_token, l.max_access_token),
            ("id_token", l.id_token, l.max_id_token),
            ("refresh_token", l.refresh_token, l.max_refresh_token),
        ] {
            if lifetime > max {
                return Err(ConfigError(format!(
                    "lifetimes.{name} is longer than lifetimes.max_{name}; raise the maximum or shorten the default"
                )));
            }
        }
        let m = &self.limits;
        // Both must fit, with room to spare, in the authorization-session API's 256 KiB bodies.
        if !(1024..=65536).contains(&m.authorization_request_bytes) || !(256..=65536).contains(&m.session_data_bytes) {
            return Err(ConfigError(
                "limits.authorization_request_bytes must be 1024-65536 and limits.session_data_bytes 256-65536".into(),
            ));
        }
        if m.sessions_per_client == 0 || m.sessions_total < m.sessions_per_client {
            return Err(ConfigError(
                "limits.sessions_per_client must be at least 1 and limits.sessions_total at least as large".into(),
            ));
        }
        if l.code.as_secs() > 600 {
            return Err(ConfigError("lifetimes.code must be at most 10 minutes (RFC 6749 §4.1.2)".into()));
        }
        if l.encryption_key.as_secs() < 3600 {
            return Err(ConfigError(
                "lifetimes.encryption_key must be at least an hour: clients cache the JWK set".into(),
            ));
        }
        if l.pushed_request.as_secs() > 600 {
            return Err(ConfigError(
                "lifetimes.pushed_request must be at most 10 minutes (RFC 9126 §2.2: short-lived)".into(),
            ));
        }
        self.validate_signing()?;
        self.validate_http()?;
        self.validate_resources()?;
        if self.storage.purge_interval < Duration::from_millis(100) {
            return Err(ConfigError("storage.purge_interval must be at least 100ms".into()));
        }
        if self.cluster.feed_interval < Duration::from_millis(50) {
            return Err(ConfigError("cluster.feed_interval must be at least 50ms".into()));
        }
        if self.cluster.host_name.as_deref().is_some_and(|n| n.is_empty() || n.len() > 128 || n.contains('/')) {
            return Err(ConfigError("cluster.host_name must be 1 to 128 characters without '/'".into()));
        }
        if self.storage.readers == 0 || self.storage.pool_size == 0 {
            return Err(ConfigError("storage.readers and storage.pool_size must be at least 1".into()));
        }
        if self.storage.backend == StorageBackend::Postgres && self.storage.url.is_none() {
            return Err(ConfigError(
                "storage.backend is postgres but storage.url is missing; set it, e.g. with GATEHOUSE_STORAGE__URL"
                    .into(),
            ));
        }
        Ok(())
    }

    fn validate_resources(&self) -> Result<(), ConfigError> {
        for (i, r) in self.resources.iter().enumerate() {
            if !gatehouse_protocol::resources::is_resource_uri(&r.uri) {
                return Err(ConfigError(format!(
                    "resources[{i}].uri {:?} must be an absolute URI without a fragment, at most {} bytes (RFC 8707 §2)",
                    r.uri,
                    gatehouse_protocol::resources::MAX_RESOURCE_LEN
                )));
            }
            if self.resources[..i].iter().any(|other| other.uri == r.uri) {
                return Err(ConfigError(format!("resources: {:?} is listed twice", r.uri)));
            }
            if let Some(s) = r.scopes.iter().find(|s| s.is_empty() || s.contains(char::is_whitespace)) {
                return Err(ConfigError(format!("resources[{i}].scopes: {s:?} is not a scope (one word)")));
            }
        }
        let m = &self.client_id_metadata_documents;
        match (m.policy, m.hosts.is_empty()) {
            (MetadataDocumentsMode::Hosts, true) => Err(ConfigError(
                "client_id_metadata_documents.policy is hosts but no hosts are listed; list them in client_id_metadata_documents.hosts".into(),
            )),
            (MetadataDocumentsMode::Off | MetadataDocumentsMode::Open, false) => Err(ConfigError(
                "client_id_metadata_documents.hosts is used only with policy = \"hosts\"".into(),
            )),
            _ => Ok(()),
        }
    }

    fn validate_http(&self) -> Result<(), ConfigError> {
        let h = &self.http;
        for (name, d) in [
            ("header_read_timeout", h.header_read_timeout),
            ("body_read_timeout", h.body_read_timeout),
            ("idle_timeout", h.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError(format!("http.{name} must be more than zero (e.g. \"10s\")")));
            }
        }
        if h.idle_timeout > h.header_read_timeout {
            return Err(ConfigError(format!(
                "http.idle_timeout ({}) is longer than http.header_read_timeout ({}), which also bounds the wait for the next request on a connection; lower idle_timeout or raise header_read_timeout",
                humantime::format_duration(h.idle_timeout),
                humantime::format_duration(h.header_read_timeout)
            )));
        }
        for (name, n) in [("max_connections", h.max_connections), ("max_requests", h.max_requests)] {
            if !(1..=1_000_000).contains(&n) {
                return Err(ConfigError(format!("http.{name} must be at least 1 and at most 1000000")));
            }
        }
        if h.tls_certificate.is_some() != h.tls_private_key.is_some() {
            return Err(ConfigError(
                "http.tls_certificate and http.tls_private_key go together: set both to serve https, or neither".into(),
            ));
        }
        if h.tls_certificate.is_some() && !self.issuer.starts_with("https:") {
            return Err(ConfigError(format!(
                "the listener serves TLS (http.tls_certificate), so the issuer must be an https URL, not {:?}",
                self.issuer
            )));
        }
        if h.tls_reload_interval < Duration::from_secs(1) {
            return Err(ConfigError("http.tls_reload_interval must be at least one second".into()));
        }
        if h.max_header_bytes < 8192 {
            return Err(ConfigError(
                "http.max_header_bytes must be at least 8192; browsers and proxies send headers of several kilobytes"
                    .into(),
            ));
        }
        Ok(())
    }

    fn validate_signing(&self) -> Result<(), ConfigError> {
        match (&self.signing.backend, &self.signing.pkcs11) {
            (SigningBackend::Software, None) => Ok(()),
            (SigningBackend::Software, Some(_)) => Err(ConfigError(
                "[signing.pkcs11] is set but signing.backend is \"software\"; set backend = \"pkcs11\" to use the HSM, or remove the section".into(),
            )),
            (SigningBackend::Pkcs11, None) => Err(ConfigError(
                "signing.backend is \"pkcs11\" but [signing.pkcs11] is missing; give at least module, token_label and pin_file or pin_env".into(),
            )),
            (SigningBackend::Pkcs11, Some(hsm)) => {
                // Tokens signed just before a key expires must stay verifiable until they do.
                let l = &self.lifetimes;
                let longest = l.access_token.max(l.id_token);
                if hsm.retire_grace < longest {
                    return Err(ConfigError(format!(
                        "signing.pkcs11.retire_grace ({}) is shorter than the longest token lifetime ({}); tokens signed just before a key expires would stop verifying. Raise retire_grace",
                        humantime::format_duration(hsm.retire_grace),
                        humantime::format_duration(longest)
                    )));
                }
                Ok(())
            }
        }
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        if let Some(addr) = self.http.listen {
            return Ok(addr);
        }
        let issuer = url::Url::parse(&self.issuer).map_err(|e| ConfigError(e.to_string()))?;
        let port = issuer.port_or_known_default().unwrap_or(8080);
        let host = match issuer.host_str() {
            Some("localhost") | Some("127.0.0.1") => "127.0.0.1",
            Some("[::1]") => "[::1]",
            _ => "0.0.0.0",
        };
        format!("{host}:{port}")
            .parse()
            .map_err(|e| ConfigError(format!("cannot derive http.listen from the issuer: {e}; set http.listen")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_zero_setup_default() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.listen_addr().unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(c.lifetimes.authz_session, Duration::from_secs(900));
    }

    #[test]
    fn unknown_keys_are_refused_with_the_key_named() {
        let err = Config::from_toml("isuer = \"https://x\"").unwrap_err().to_string();
        assert!(err.contains("isuer"), "{err}");
        let err = Config::from_toml("[lifetimes]\ncodes = \"1m\"").unwrap_err().to_string();
        assert!(err.contains("codes"), "{err}");
    }

    #[test]
    fn invalid_values_say_how_to_fix_them() {
        let err = Config::from_toml("issuer = \"http://id.example.com\"").unwrap_err().to_string();
        assert!(err.contains("must use https"), "{err}");
        let err = Config::from_toml("[api]\nadmin_token_hashes = [\"abc\"]").unwrap_err().to_string();
        assert!(err.contains("gatehouse hash-token"), "{err}");
        let err = Config::from_toml("[lifetimes]\ncode = \"1h\"").unwrap_err().to_string();
        assert!(err.contains("at most 10 minutes"), "{err}");
        let err = Config::from_toml("[lifetimes]\ncode = \"soon\"").unwrap_err().to_string();
        assert!(err.contains("lifetimes.code") || err.contains("code"), "{err}");
    }

    #[test]
    fn http_limits_have_defaults_and_are_checked() {
        let h = Config::from_toml("").unwrap().http;
        assert_eq!(
            (h.header_read_timeout, h.body_read_timeout, h.idle_timeout),
            (Duration::from_secs(10), Duration::from_secs(30), Duration::from_secs(5))
        );
        assert_eq!((h.max_connections, h.max_requests, h.max_header_bytes), (512, 256, 32768));
        let err = Config::from_toml("[http]\nidle_timeout = \"1m\"").unwrap_err().to_string();
        assert!(err.contains("lower idle_timeout or raise header_read_timeout"), "{err}");
        let err = Config::from_toml("[http]\nmax_connections = 0").unwrap_err().to_string();
        assert!(err.contains("at least 1"), "{err}");
        let err = Config::from_toml("[http]\nmax_header_bytes = 100").unwrap_err().to_string();
        assert!(err.contains("at least 8192"), "{err}");
    }

    #[test]
    fn clients_parse_in_registration_shape() {
        let c = Config::from_toml(
            r#"
            [[clients]]
            client_id = "app"
            client_secret = "0123456789abcdef0123456789abcdef"
            redirect_uris = ["https://app.example.com/cb"]
            "#,
        )
        .unwrap();
        assert_eq!(c.clients[0].client_id.as_deref(), Some("app"));
        assert!(!format!("{:?}", c.clients[0]).contains("0123456789abcdef"), "secrets are redacted in Debug");
    }
}
