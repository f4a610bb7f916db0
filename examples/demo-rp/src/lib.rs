//! A demo relying party for Gatehouse, built on the `openidconnect` crate.
//!
//! At start it registers itself with the provider's client API as `demo-rp` (a confidential
//! client, `client_secret_basic`), then discovers the provider. If `demo-rp` is already
//! registered (the RP was started before against the same provider), it rotates the client's
//! secret and replaces its metadata, because a secret is only shown when it is created.
//!
//! ```text
//!   GET /          a "Sign in with Gatehouse" link
//!   GET /login     → authorization request (code flow, PKCE S256, nonce, state; an optional
//!                    `login_hint` query parameter is passed on)
//!   GET /callback  ← checks state and RFC 9207 `iss`, redeems the code, verifies the ID token,
//!                    calls UserInfo and shows what came back
//!   GET /logout    → the provider's end_session_endpoint (RP-Initiated Logout, with client_id,
//!                    post_logout_redirect_uri and state)
//!   GET /frontchannel-logout ← loaded by the provider's front-end in an iframe when a session
//!                    ends (Front-Channel Logout, with iss and sid); remembered for /logged-out
//!   GET /logged-out ← where the provider sends the browser after the logout
//! ```
//!
//! The pending logins (state → PKCE verifier and nonce) are kept in memory for ten minutes, at
//! most `max_pending` of them (expired ones are purged when the map is full; beyond that, a
//! new login gets an error page); a cookie binds each one to the browser that started it.

mod pages;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, LoginHint, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, TokenResponse,
};
use serde_json::{Value, json};
use url::Url;

/// The client id the demo registers under.
pub const CLIENT_ID: &str = "demo-rp";

/// The scopes the demo asks for.
pub const SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// How long a started login may take.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// How many logins may be pending at once, by default.
pub const DEFAULT_MAX_PENDING: usize = 10_000;

/// The cookie that binds a pending login to the browser that started it.
const STATE_COOKIE: &str = "demo_rp_state";

/// The cookie holding the state of a sign-out in progress.
const LOGOUT_COOKIE: &str = "demo_rp_logout";

/// How many ended sessions the front-channel endpoint remembers.
const MAX_ENDED: usize = 100;

/// Where the provider is and how the demo registers itself.
pub struct Config {
    /// The provider's issuer identifier; it must match discovery exactly.
    pub issuer: Url,
    /// The client API's master token (the provider's `<data_dir>/admin-api.token`).
    pub admin_token: String,
    /// This app's own base URL; the redirect URI is `<base_url>/callback`.
    pub base_url: Url,
    /// How many logins may be pending (started, not yet back) at once.
    pub max_pending: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer.as_str())
            .field("admin_token", &"<redacted>")
            .field("base_url", &self.base_url.as_str())
            .field("max_pending", &self.max_pending)
            .finish()
    }
}

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// A login between `/login` and `/callback`.
struct Pending {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
    started: Instant,
}

struct Rp {
    client: Client,
    http: reqwest::Client,
    issuer: String,
    /// The provider's `end_session_endpoint`, if it has one.
    end_session: Option<String>,
    base_url: String,
    /// The `sid`s front-channel logout reported, newest last.
    ended: Mutex<Vec<String>>,
    pending: Mutex<HashMap<String, Pending>>,
    max_pending: usize,
}

/// Registers the demo client, discovers the provider and returns the demo's routes.
pub async fn app(config: Config) -> anyhow::Result<Router> {
    // Following redirects would let a provider's answer steer requests elsewhere (SSRF); the
    // openidconnect crate asks for a client that does not. A provider that stops answering
    // must not hold a browser's request for ever.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()?;
    let issuer = config.issuer.as_str().trim_end_matches('/').to_owned();
    let redirect_uri = format!("{}/callback", config.base_url.as_str().trim_end_matches('/'));
    let secret = register(&http, &issuer, &config.admin_token, &config.base_url, &redirect_uri).await?;
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone())?, &http)
        .await
        .with_context(|| format!("OpenID Connect discovery at {issuer} failed"))?;
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(CLIENT_ID.into()), Some(ClientSecret::new(secret)))
            .set_redirect_uri(RedirectUrl::new(redirect_uri)?);
    let discovery: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .context("discovery")?
        .json()
        .await
        .context("discovery")?;
    let end_session = discovery.get("end_session_endpoint").and_then(Value::as_str).map(str::to_owned);
    let rp = Rp {
        client,
        http,
        issuer,
        end_session,
        base_url: config.base_url.as_str().trim_end_matches('/').to_owned(),
        ended: Mutex::new(Vec::new()),
        pending: Mutex::new(HashMap::new()),
        max_pending: config.max_pending.max(1),
    };
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", get(logout))
        .route("/frontchannel-logout", get(frontchannel_logout))
        .route("/logged-out", get(logged_out))
        .with_state(Arc::new(rp)))
}

/// Registers `demo-rp` through the client API and returns its client secret.
async fn register(
    http: &reqwest::Client,
    issuer: &str,
    admin_token: &str,
    base_url: &Url,
    redirect_uri: &str,
) -> anyhow::Result<String> {
    let base = base_url.as_str().trim_end_matches('/');
    let metadata = json!({
        "client_name": "Gatehouse demo RP",
        "client_uri": base_url.as_str(),
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [format!("{base}/logged-out")],
        "frontchannel_logout_uri": format!("{base}/frontchannel-logout"),
        "frontchannel_logout_session_required": true,
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": SCOPES.join(" "),
    });
    let clients = format!("{issuer}/clients/v1");
    let mut create = metadata.clone();
    create["client_id"] = json!(CLIENT_ID);
    let created = http.post(&clients).bearer_auth(admin_token).json(&create).send().await?;
    let answer = match created.status().as_u16() {
        201 => created,
        409 => {
            // Already registered: bring the metadata up to date, then get a fresh secret.
            let url = format!("{clients}/{CLIENT_ID}");
            checked(http.put(&url).bearer_auth(admin_token).json(&metadata).send().await?, "update").await?;
            checked(http.post(format!("{url}/secret")).bearer_auth(admin_token).send().await?, "secret rotation")
                .await?
        }
        _ => checked(created, "registration").await?,
    };
    let info: Value = answer.json().await?;
    match info.get("client_secret").and_then(Value::as_str) {
        Some(secret) => Ok(secret.to_owned()),
        None => bail!("the client API returned no client_secret for {CLIENT_ID}"),
    }
}

/// The response if it succeeded, else an error with the provider's explanation.
async fn checked(response: reqwest::Response, what: &str) -> anyhow::Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let detail = body.get("detail").and_then(Value::as_str).unwrap_or("no explanation");
    let hint = if status == StatusCode::UNAUTHORIZED { " (is the admin token right?)" } else { "" };
    Err(anyhow!("client {what} for {CLIENT_ID} failed: {status}: {detail}{hint}"))
}

async fn home() -> Response {
    page(StatusCode::OK, pages::home())
}

/// Starts a login: the authorization URL with PKCE (S256), a nonce and a state, and the
/// `login_hint` the home page's form may send.
async fn login(State(rp): State<Arc<Rp>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request =
        rp.client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
    for scope in SCOPES.iter().filter(|s| **s != "openid") {
        request = request.add_scope(Scope::new((*scope).into()));
    }
    if let Some(hint) = q.get("login_hint").map(|h| h.trim()).filter(|h| !h.is_empty()) {
        request = request.set_login_hint(LoginHint::new(hint.to_owned()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
    {
        let mut pending = rp.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= rp.max_pending {
            pending.retain(|_, p| p.started.elapsed() < PENDING_TTL);
        }
        if pending.len() >= rp.max_pending {
            tracing::warn!(max = rp.max_pending, "too many pending logins; a new one is refused");
            let mut response = page(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::failure(
                    "Too many sign-ins in progress",
                    "This app is waiting for the return of as many sign-ins as it keeps track of. Try again in a few minutes.",
                    None,
                ),
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return response;
        }
        pending.insert(state.secret().clone(), Pending { verifier, nonce, started: Instant::now() });
    }
    let cookie = format!("{STATE_COOKIE}={}; Path=/callback; HttpOnly; SameSite=Lax; Max-Age=600", state.secret());
    let mut response = (StatusCode::SEE_OTHER, [(header::CACHE_CONTROL, "no-store")]).into_response();
    for (name, value) in [(header::LOCATION, url.as_str()), (header::SET_COOKIE, cookie.as_str())] {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// Starts an RP-initiated logout at the provider, with a state this browser keeps.
async fn logout(State(rp): State<Arc<Rp>>) -> Response {
    let Some(end_session) = &rp.end_session else {
        return failure("Sign-out is not available", "The provider has no end_session_endpoint.", None);
    };
    let state = CsrfToken::new_random();
    let Ok(mut url) = Url::parse(end_session) else {
        return failure("Sign-out is not available", "The provider's end_session_endpoint is not a URL.", None);
    };
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("post_logout_redirect_uri", &format!("{}/logged-out", rp.base_url))
        .append_pair("state", state.secret());
    let cookie = format!("{LOGOUT_COOKIE}={}; Path=/logged-out; HttpOnly; SameSite=Lax; Max-Age=600", state.secret());
    let mut response = (StatusCode::SEE_OTHER, [(header::CACHE_CONTROL, "no-store")]).into_response();
    for (name, value) in [(header::LOCATION, url.as_str()), (header::SET_COOKIE, cookie.as_str())] {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// Front-Channel Logout §3: the provider's front-end loads this in an iframe with `iss` and
/// `sid`; a real app would end its own session for that `sid` here.
async fn frontchannel_logout(State(rp): State<Arc<Rp>>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("iss").map(String::as_str) != Some(rp.issuer.as_str()) {
        return (StatusCode::BAD_REQUEST, [(header::CACHE_CONTROL, "no-store")], "wrong or missing iss")
            .into_response();
    }
    if let Some(sid) = q.get("sid").filter(|s| s.len() <= 128) {
        let mut ended = rp.ended.lock().unwrap_or_else(|e| e.into_inner());
        if ended.len() >= MAX_ENDED {
            ended.remove(0);
        }
        ended.push(sid.clone());
        tracing::info!(sid, "front-channel logout");
    }
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], "signed out").into_response()
}

/// The provider sends the browser back here after the logout, with the state.
async fn logged_out(
    State(rp): State<Arc<Rp>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state_ok = q.contains_key("state") && cookie(&headers, LOGOUT_COOKIE) == q.get("state").cloned();
    let ended = rp.ended.lock().unwrap_or_else(|e| e.into_inner()).clone();
    page(StatusCode::OK, pages::logged_out(state_ok, &ended))
}

/// What came back from a successful login.
pub struct Outcome {
    pub id_token_claims: Value,
    pub access_token_claims: Value,
    pub userinfo: Value,
    pub refresh_token: bool,
    pub scope: Option<String>,
}

/// The redirect back from the provider.
async fn callback(State(rp): State<Arc<Rp>>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let pending = q.get("state").and_then(|s| {
        let mut pending = rp.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.remove(s).filter(|p| p.started.elapsed() < PENDING_TTL)
    });
    let Some(pending) = pending else {
        return failure(
            "Unknown or expired login",
            "The state in this answer matches no login this app started (or it is older than ten minutes).",
            None,
        );
    };
    if cookie(&headers, STATE_COOKIE) != q.get("state").cloned() {
        return failure("Login started in another browser", "The state does not match this browser's cookie.", None);
    }
    // RFC 9207 §2.4: the authorization response names its issuer; it must be ours.
    if q.get("iss").map(String::as_str) != Some(rp.issuer.as_str()) {
        return failure(
            "Wrong issuer",
            "The answer's iss parameter is missing or names another provider (RFC 9207).",
            None,
        );
    }
    if let Some(error) = q.get("error") {
        let description = q.get("error_description").map(String::as_str).unwrap_or("");
        return failure("The provider refused the login", description, Some(error));
    }
    let Some(code) = q.get("code") else {
        return failure("No authorization code", "The answer has neither a code nor an error.", None);
    };
    match rp.finish(code, pending).await {
        Ok(outcome) => page(StatusCode::OK, pages::signed_in(&outcome)),
        Err(e) => failure("The login could not be completed", &format!("{e:#}"), None),
    }
}

impl Rp {
    /// Redeems the code and checks everything that came back.
    async fn finish(&self, code: &str, pending: Pending) -> anyhow::Result<Outcome> {
        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(code.into()))?
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .context("the token request failed")?;
        let id_token = tokens.id_token().context("the provider returned no ID token")?;
        let verifier = self.client.id_token_verifier();
        // Signature (with the key from the JWK set), iss, aud, exp and nonce.
        let claims = id_token.claims(&verifier, &pending.nonce).context("the ID token is not valid")?;
        // OpenID Connect Core §3.1.3.8: at_hash binds the access token to the ID token.
        let expected = claims.access_token_hash().context("the ID token has no at_hash")?;
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg()?,
            id_token.signing_key(&verifier)?,
        )?;
        if actual != *expected {
            bail!("the access token does not match the ID token's at_hash");
        }
        let userinfo: CoreUserInfoClaims = self
            .client
            .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))?
            .request_async(&self.http)
            .await
            .context("the UserInfo request failed")?;
        Ok(Outcome {
            id_token_claims: jwt_payload(&id_token.to_string()).context("the ID token payload")?,
            access_token_claims: jwt_payload(tokens.access_token().secret()).unwrap_or_else(|_| json!("(not a JWT)")),
            userinfo: serde_json::to_value(&userinfo)?,
            refresh_token: tokens.refresh_token().is_some(),
            scope: tokens.scopes().map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
        })
    }
}

/// The claims of a compact JWS, decoded without verification (for display only: the ID token
/// was verified above, and the access token is for resource servers to verify).
fn jwt_payload(jwt: &str) -> anyhow::Result<Value> {
    let payload = jwt.split('.').nth(1).context("not a compact JWS")?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn page(status: StatusCode, markup: maud::Markup) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], markup).into_response()
}

fn failure(title: &str, message: &str, error: Option<&str>) -> Response {
    page(StatusCode::BAD_REQUEST, pages::failure(title, message, error))
}
