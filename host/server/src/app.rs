//! Wiring: from a [`Config`] to a running server. Everything the protocol needs is built here
//! and handed to it; nothing is global.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use gatehouse_plugin_host::{Cluster, PluginHost, RuntimeSettings, Watcher};
use gatehouse_protocol::plugins::Policies;
use gatehouse_protocol::secret::{Sealer, Secret, sha256_hex};
use gatehouse_protocol::signer::Signer;
use gatehouse_protocol::store::Store;
use gatehouse_protocol::world::{Clock, Random, SystemClock, SystemRandom};
use gatehouse_protocol::{Endpoints, Lifetimes, MaxLifetimes, Ports, Provider, Settings};
use gatehouse_signer::{Pkcs11Signer, SoftwareSigner};
use gatehouse_store::{CachedStore, Follower, PostgresOptions, PostgresStore, SqliteStore};
use tokio::net::TcpListener;

use crate::cluster::Membership;
use crate::config::{Config, RegistrationMode, SigningBackend, StorageBackend};
use crate::http::{BodyLimit, TokenHashes};
use crate::logout_delivery::BackchannelDelivery;
use crate::metrics::{HttpMetrics, Listener, MetricSource, PluginCalls, SignerMetricsSource, Snapshot, StorePool};
use crate::routes;
use crate::serve::{self, Gates, Limits};

/// A server that could not start, with what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub String);

/// What tests and embedders may replace.
#[derive(Default)]
pub struct Overrides {
    pub clock: Option<Arc<dyn Clock>>,
    pub policies: Option<Policies>,
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub provider: Provider,
    pub authz_api: TokenHashes,
    pub admin_api: TokenHashes,
    /// The initial access tokens registration needs; `None` when registration is open.
    pub registration_tokens: Option<TokenHashes>,
    pub login_url: Option<String>,
    /// Where the end-session endpoint sends browsers (`frontend.logout_url`).
    pub logout_url: Option<String>,
    pub http_metrics: Arc<HttpMetrics>,
    pub metric_sources: Vec<Arc<dyn MetricSource>>,
    /// The HSM backend, when signing uses one: rescanned by the admin API and SIGHUP.
    pub hsm: Option<Arc<Pkcs11Signer>>,
    pub plugins: PluginHost,
    /// The plugins installed through the admin API, shared with every host on the database.
    pub cluster: Cluster,
    /// Keeps the plugin folder watched while the server lives.
    pub plugin_watcher: Option<Watcher>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for source in &self.metric_sources {
            source.collect(&mut snapshot);
        }
        snapshot
    }
}

/// A built server, ready to serve.
pub struct Gatehouse {
    pub state: AppState,
    pub listen: SocketAddr,
    /// The listener's timeouts and sizes, from `[http]`.
    pub limits: Limits,
    /// The listener's caps on connections and requests.
    pub gates: Arc<Gates>,
    /// The TLS certificate, when the listener serves https.
    pub tls: Option<Arc<crate::tls::Certificates>>,
    tls_reload_interval: Duration,
    /// How often expired records are purged (and expired subject sessions logged out).
    purge_interval: Duration,
    /// Whether the registration endpoint is served (`registration.mode` is not `off`).
    registration: bool,
    /// Following the other hosts (taken when serving starts).
    membership: Option<Membership>,
}

impl Gatehouse {
    /// Builds the provider and its dependencies from the configuration.
    pub async fn build(config: &Config, overrides: Overrides) -> Result<Gatehouse, StartupError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StartupError(format!("cannot create data_dir {}: {e}", config.data_dir.display())))?;
        let listen = config.listen_addr().map_err(|e| StartupError(e.to_string()))?;
        let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let random: Arc<dyn Random> = Arc::new(SystemRandom);

        let master_key_file =
            config.signing.master_key_file.clone().unwrap_or_else(|| config.data_dir.join("master.key"));
        let sealer = Arc::new(Sealer::new(&master_key(&master_key_file, random.as_ref())?));

        let backend: Arc<dyn Store> = match config.storage.backend {
            StorageBackend::Sqlite => {
                let path = config.storage.path.clone().unwrap_or_else(|| config.data_dir.join("gatehouse.db"));
                Arc::new(SqliteStore::open(&path, config.storage.readers).map_err(|e| StartupError(e.to_string()))?)
            }
            StorageBackend::Postgres => {
                let url = config.storage.url.as_ref().map(|u| u.expose().as_str()).unwrap_or_default();
                Arc::new(
                    PostgresStore::connect(
                        url,
                        &PostgresOptions {
                            pool_size: config.storage.pool_size,
                            ca_file: config.storage.tls_ca_file.clone(),
                            notify: config.cluster.notify,
                        },
                    )
                    .await
                    .map_err(|e| StartupError(format!("storage: {e}")))?,
                )
            }
        };
        let cache = Arc::new(CachedStore::new(backend, &["clients"], config.storage.client_cache_ttl));
        let store: Arc<dyn Store> = cache.clone();
        // Following starts before anything is loaded, so that no change falls in between.
        let follower = Follower::start(store.as_ref()).await.map_err(|e| StartupError(format!("storage: {e}")))?;

        let (signer, hsm): (Arc<dyn Signer>, Option<Arc<Pkcs11Signer>>) = match config.signing.backend {
            SigningBackend::Software => (
                Arc::new(
                    SoftwareSigner::load_or_generate(store.as_ref(), &sealer, random.as_ref(), clock.now())
                        .await
                        .map_err(|e| StartupError(format!("software signing keys: {e}")))?,
                ),
                None,
            ),
            SigningBackend::Pkcs11 => {
                let hsm_config = config.signing.pkcs11.clone().ok_or_else(|| {
                    StartupError("signing.backend is \"pkcs11\" but [signing.pkcs11] is missing".into())
                })?;
                let hsm = Arc::new(
                    Pkcs11Signer::open(hsm_config, clock.now())
                        .await
                        .map_err(|e| StartupError(format!("PKCS#11 signing: {e}")))?,
                );
                (hsm.clone(), Some(hsm))
            }
        };
        for (what, alg) in [
            ("signing.id_token_alg", config.signing.id_token_alg),
            ("signing.access_token_alg", config.signing.access_token_alg),
        ] {
            signer.active_key(alg, clock.now()).map_err(|e| {
                StartupError(format!("{what} is {alg}, but the signer cannot sign with it: {e}. Add a key for {alg} or choose another algorithm"))
            })?;
        }

        let (plugins, plugin_watcher) = plugin_host(config).await?;
        let host_name =
            config.cluster.host_name.clone().unwrap_or_else(|| crate::cluster::default_host_name(listen.port()));
        let cluster = Cluster::new(plugins.clone(), store.clone(), clock.clone(), host_name);
        cluster.converge_all().await.map_err(|e| StartupError(format!("plugins in the store: {e}")))?;
        let feed_metrics = Arc::new(crate::cluster::FeedMetrics::default());
        let membership = Membership {
            cache,
            store: store.clone(),
            plugins: cluster.clone(),
            feed_interval: config.cluster.feed_interval,
            follower,
            metrics: feed_metrics.clone(),
        };
        let settings = settings(config);
        let outbound = Arc::new(crate::outbound::Outbound::new(&config.outbound).map_err(StartupError)?);
        let backchannel = BackchannelDelivery::new(outbound.clone(), config.logout.backchannel_retry_delays.clone());
        let ports = Ports {
            store: store.clone(),
            signer: signer.clone(),
            sealer,
            clock,
            random: random.clone(),
            policies: overrides.policies.unwrap_or_else(|| plugins.policies()),
            fetcher: outbound.clone(),
            logout_delivery: Arc::new(backchannel.clone()),
        };
        let provider = Provider::new(settings, ports);
        provider
            .sync_config_clients(config.clients.iter().map(clone_registration).collect())
            .await
            .map_err(|e| StartupError(format!("clients in the configuration file: {e}")))?;

        let authz_hashes = api_tokens(
            &config.api.authz_session_token_hashes,
            &config.data_dir.join("authz-api.token"),
            random.as_ref(),
        )?;
        let admin_hashes =
            api_tokens(&config.api.admin_token_hashes, &config.data_dir.join("admin-api.token"), random.as_ref())?;
        let registration_mode = config.registration_mode();
        let registration_tokens = match registration_mode {
            RegistrationMode::InitialToken => Some(TokenHashes::new(
                "registration endpoint",
                &api_tokens(
                    &config.registration.initial_token_hashes,
                    &config.data_dir.join("registration.token"),
                    random.as_ref(),
                )?,
            )),
            RegistrationMode::Open | RegistrationMode::Off => None,
        };
        let http_metrics = Arc::new(HttpMetrics::default());
        let gates = Arc::new(Gates::new(&config.http));
        let metric_sources: Vec<Arc<dyn MetricSource>> = vec![
            http_metrics.clone(),
            Arc::new(Listener(gates.clone())),
            Arc::new(StorePool(store)),
            Arc::new(SignerMetricsSource(signer)),
            backchannel.metrics(),
            Arc::new(PluginCalls(plugins.clone())),
            feed_metrics,
        ];
        let state = AppState(Arc::new(Inner {
            provider,
            authz_api: TokenHashes::new("authorization-session API", &authz_hashes),
            admin_api: TokenHashes::new("admin API", &admin_hashes),
            registration_tokens,
            login_url: config.frontend.login_url.clone(),
            logout_url: config.frontend.logout_url.clone(),
            http_metrics,
            metric_sources,
            hsm,
            plugins,
            cluster,
            plugin_watcher,
        }));
        let tls = match (&config.http.tls_certificate, &config.http.tls_private_key) {
            (Some(cert), Some(key)) => Some(crate::tls::Certificates::open(cert, key).map_err(StartupError)?),
            _ => None,
        };
        let tls_reload_interval = config.http.tls_reload_interval;
        Ok(Gatehouse {
            state,
            listen,
            limits: Limits::new(&config.http),
            gates,
            tls,
            tls_reload_interval,
            purge_interval: config.storage.purge_interval,
            registration: registration_mode != RegistrationMode::Off,
            membership: Some(membership),
        })
    }

    /// All routes.
    pub fn router(&self) -> Router {
        let authz = Router::new()
            .route("/", post(routes::authz_sessions::start))
            .route("/{sid}", get(routes::authz_sessions::get).delete(routes::authz_sessions::deny))
            .route("/{sid}/subject", put(routes::authz_sessions::subject))
            .route("/{sid}/consent", put(routes::authz_sessions::consent))
            .route("/{sid}/data", get(routes::authz_sessions::get_data).put(routes::authz_sessions::put_data))
            .route_layer(middleware::from_fn_with_state(self.state.clone(), require_authz_token))
            .layer(Extension(BodyLimit::SESSIONS));
        let logout = Router::new()
            .route("/{id}", get(routes::logout::get).delete(routes::logout::cancel))
            .route("/{id}/confirm", post(routes::logout::confirm))
            .route_layer(middleware::from_fn_with_state(self.state.clone(), require_authz_token))
            .layer(Extension(BodyLimit::SESSIONS));
        let clients = Router::new()
            .route("/", post(routes::clients::create).get(routes::clients::list))
            .route("/{id}", get(routes::clients::get).put(routes::clients::update).delete(routes::clients::delete))
            .route("/{id}/secret", post(routes::clients::rotate_secret))
            .route_layer(middleware::from_fn_with_state(self.state.clone(), require_admin_token));
        let admin = Router::new()
            .route("/keys", get(routes::keys::plan))
            .route("/keys/rescan", post(routes::keys::rescan))
            .route("/subject-sessions/{sid}", delete(routes::logout::end_subject_session))
            .route(
                "/plugins",
                get(routes::plugins::list)
                    .post(routes::plugins::upload)
                    .layer(Extension(BodyLimit(routes::plugins::MAX_UPLOAD))),
            )
            .route("/plugins/{name}/activate", post(routes::plugins::activate))
            .route("/plugins/{name}/rollback", post(routes::plugins::rollback))
            .route("/plugins/{name}/deactivate", post(routes::plugins::deactivate))
            .route_layer(middleware::from_fn_with_state(self.state.clone(), require_admin_token));
        let monitor = Router::new()
            .route("/metrics", get(routes::monitor::metrics))
            .route_layer(middleware::from_fn_with_state(self.state.clone(), require_admin_token))
            .route("/health", get(routes::monitor::health))
            .route("/healthcheck", get(routes::monitor::healthcheck))
            .route("/readiness", get(routes::monitor::readiness));
        Router::new()
            .route("/.well-known/openid-configuration", get(routes::oauth::discovery))
            .route("/.well-known/oauth-authorization-server", get(routes::oauth::authorization_server_metadata))
            .route(
                "/.well-known/oauth-authorization-server/{*path}",
                get(routes::oauth::authorization_server_metadata_for_path),
            )
            .route("/jwks.json", get(routes::oauth::jwks))
            .route("/authorize", get(routes::oauth::authorize_get).post(routes::oauth::authorize_post))
            .route("/token", post(routes::oauth::token))
            .route("/par", post(routes::oauth::pushed_authorization_request))
            .route("/userinfo", get(routes::oauth::userinfo_get).post(routes::oauth::userinfo_post))
            .route("/introspect", post(routes::tokens::introspect))
            .route("/revoke", post(routes::tokens::revoke))
            .route("/logout", get(routes::logout::end_session_get).post(routes::logout::end_session_post))
            .route("/openapi.yaml", get(openapi))
            .nest("/authz-sessions/v1", authz)
            .nest("/logout-requests/v1", logout)
            .nest("/clients/v1", clients)
            .merge(self.registration_routes())
            .nest("/monitor/v1", monitor)
            .nest("/admin/v1", admin)
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(self.state.clone(), record_metrics))
            .with_state(self.state.clone())
    }

    /// The registration endpoint (behind the initial-token check) and the client
    /// configuration endpoints, when registration is on.
    fn registration_routes(&self) -> Router<AppState> {
        if !self.registration {
            return Router::new();
        }
        let register = Router::new().route("/register", post(routes::registration::register)).route_layer(
            middleware::from_fn_with_state(self.state.clone(), routes::registration::require_initial_token),
        );
        register.route(
            "/register/{id}",
            get(routes::registration::read).put(routes::registration::update).delete(routes::registration::delete),
        )
    }

    /// Serves on `listener` until `shutdown` resolves, purging expired records meanwhile. On
    /// shutdown, requests in progress finish; the bounds of `serve.rs` apply throughout.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let purge_interval = self.purge_interval;
        let purger = tokio::spawn(async move {
            let mut tick = tokio::time::interval(purge_interval);
            loop {
                tick.tick().await;
                match state.provider.purge_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(purged = n, "purged expired records"),
                    Err(e) => tracing::warn!(error = %e, "purging expired records failed"),
                }
            }
        });
        let membership = self.membership.take().map(|m| tokio::spawn(m.run()));
        let acceptor = match &self.tls {
            Some(tls) => Some(tls.acceptor().map_err(std::io::Error::other)?),
            None => None,
        };
        let watcher = self.tls.clone().map(|tls| tokio::spawn(tls.watch(self.tls_reload_interval)));
        let result = serve::run(listener, self.router(), self.limits, self.gates.clone(), acceptor, shutdown).await;
        purger.abort();
        if let Some(m) = membership {
            m.abort();
        }
        if let Some(w) = watcher {
            w.abort();
        }
        result
    }
}

/// The plugin host, with the plugin folder loaded (and watched, if configured). A plugin in
/// the folder that is refused stops the start with its reason.
async fn plugin_host(config: &Config) -> Result<(PluginHost, Option<Watcher>), StartupError> {
    let c = &config.plugins;
    let settings = RuntimeSettings {
        cache_dir: Some(c.cache_dir.clone().unwrap_or_else(|| config.data_dir.join("plugin-cache"))),
        max_instances: c.max_instances,
    };
    let host = PluginHost::new(&settings).map_err(|e| StartupError(format!("plugins: {e}")))?;
    let Some(dir) = &c.dir else {
        return Ok((host, None));
    };
    if !dir.is_dir() {
        return Err(StartupError(format!(
            "plugins.dir {} is not a folder; create it or remove the setting",
            dir.display()
        )));
    }
    for (file, result) in host.load_dir(dir).await {
        if let Err(e) = result {
            return Err(StartupError(format!("plugin {}: {e}", file.display())));
        }
    }
    let watcher =
        if c.watch { Some(host.watch(dir).map_err(|e| StartupError(format!("plugins: {e}")))?) } else { None };
    Ok((host, watcher))
}

fn settings(config: &Config) -> Settings {
    let mut settings = Settings::new(config.issuer.clone());
    settings.endpoints = Endpoints::under(&settings.issuer);
    if config.registration_mode() == RegistrationMode::Off {
        settings.endpoints.registration = None;
    }
    if config.frontend.logout_url.is_none() {
        settings.endpoints.end_session = None;
    }
    let l = &config.lifetimes;
    settings.lifetimes = Lifetimes {
        authz_session: l.authz_session.as_secs(),
        subject_session: l.subject_session.as_secs(),
        code: l.code.as_secs(),
        access_token: l.access_token.as_secs(),
        id_token: l.id_token.as_secs(),
        refresh_token: l.refresh_token.as_secs(),
        pushed_request: l.pushed_request.as_secs(),
        encryption_key: l.encryption_key.as_secs(),
    };
    settings.require_pushed_authorization_requests = config.par.required;
    settings.id_token_alg = config.signing.id_token_alg;
    settings.access_token_alg = config.signing.access_token_alg;
    settings.extra_scopes = config.scopes.clone();
    settings.introspection_clients = config.introspection.all_tokens_clients.clone();
    settings.resources = config
        .resources
        .iter()
        .map(|r| gatehouse_protocol::resources::ResourceServer {
            uri: r.uri.clone(),
            scopes: r.scopes.clone(),
            clients: r.clients.clone(),
        })
        .collect();
    settings.metadata_documents = config.client_id_metadata_documents.policy();
    let m = &config.limits;
    settings.limits = gatehouse_protocol::Limits {
        authorization_request_bytes: m.authorization_request_bytes,
        session_data_bytes: m.session_data_bytes,
        sessions_per_client: m.sessions_per_client,
        sessions_total: m.sessions_total,
        max_lifetimes: MaxLifetimes {
            access_token: l.max_access_token.as_secs(),
            id_token: l.max_id_token.as_secs(),
            refresh_token: l.max_refresh_token.as_secs(),
        },
    };
    settings
}

fn clone_registration(
    r: &gatehouse_protocol::clients::ClientRegistration,
) -> gatehouse_protocol::clients::ClientRegistration {
    gatehouse_protocol::clients::ClientRegistration {
        client_id: r.client_id.clone(),
        client_secret: r.client_secret.clone(),
        metadata: r.metadata.clone(),
    }
}

/// Writes `contents` to a new file readable by its owner only.
fn write_private(path: &Path, contents: &str) -> Result<(), StartupError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| StartupError(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(contents.as_bytes()).map_err(|e| StartupError(format!("cannot write {}: {e}", path.display())))
}

/// The master key: 32 bytes as hex in `path`, created with a random key on first start.
fn master_key(path: &PathBuf, random: &dyn Random) -> Result<Secret<[u8; 32]>, StartupError> {
    if !path.exists() {
        let mut key = [0u8; 32];
        random.fill(&mut key);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        write_private(path, &format!("{hex}\n"))?;
        tracing::info!(path = %path.display(), "created a new master key");
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| StartupError(format!("cannot read the master key {}: {e}", path.display())))?;
    let text = text.trim();
    let bytes: Option<Vec<u8>> =
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect();
    match bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()) {
        Some(key) => Ok(Secret::new(key)),
        None => Err(StartupError(format!("the master key {} must hold 64 hex digits (32 bytes)", path.display()))),
    }
}

/// The configured token hashes, or the hash of a token generated into `file`.
fn api_tokens(configured: &[String], file: &Path, random: &dyn Random) -> Result<Vec<String>, StartupError> {
    if !configured.is_empty() {
        return Ok(configured.to_vec());
    }
    if !file.exists() {
        write_private(file, &format!("{}\n", random.token(32)))?;
        tracing::info!(path = %file.display(), "generated an API token (no token hashes are configured)");
    }
    let token =
        std::fs::read_to_string(file).map_err(|e| StartupError(format!("cannot read {}: {e}", file.display())))?;
    Ok(vec![sha256_hex(token.trim().as_bytes())])
}

async fn require_authz_token(State(s): State<AppState>, request: Request, next: Next) -> Response {
    match s.authz_api.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(response) => *response,
    }
}

async fn require_admin_token(State(s): State<AppState>, request: Request, next: Next) -> Response {
    match s.admin_api.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(response) => *response,
    }
}

async fn record_metrics(State(s): State<AppState>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    s.http_metrics.record(&route, response.status().as_u16(), started.elapsed());
    response
}

/// Unknown paths get a problem document, like every other API error.
async fn not_found(uri: axum::http::Uri) -> Response {
    crate::http::problem(
        axum::http::StatusCode::NOT_FOUND,
        &format!("no such endpoint: {}", uri.path()),
        serde_json::Value::Null,
    )
}

/// The OpenAPI document of the authorization-session, client and monitoring APIs.
async fn openapi() -> Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "application/yaml")], include_str!("../../../docs/openapi.yaml"))
        .into_response()
}
