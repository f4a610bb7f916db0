//! An example login and consent front-end for Gatehouse.
//!
//! Gatehouse has no login pages of its own: its authorization endpoint sends the browser here
//! (`frontend.login_url`), and this app drives the provider's authorization-session API until
//! the provider gives the final redirect. The login flow is stateless: what it must remember
//! between two pages lives in the session's `data` object at the provider and in the session
//! id, which each form carries in a hidden field. The one table of its own is the throttle of
//! password attempts ([`throttle`]), which must outlive sessions.
//!
//! ```text
//!   GET  /login?<authentication request>  → start a session, render its prompt
//!   POST /login    (sid, username, password) → PUT subject, or count the failure (throttle)
//!   POST /consent  (sid, scope…, claim…, remember, decision) → PUT consent, or DELETE (deny)
//!   GET  /logout?logout_request=<id>     → ask the user to confirm an RP-initiated logout
//!   POST /logout   (logout_request, decision) → confirm (SSO cookie cleared) or cancel; the
//!                                          front-channel logout iframes, then the redirect
//! ```
//!
//! Prompts render as: `auth` → login form (or a link to the external identity provider a
//! login hook chose), `consent` → consent form, `response` → set the single sign-on cookie and
//! redirect to the client (or post a form for `form_post`), `error` → an error page that never
//! redirects.

mod address;
pub mod api;
pub mod consent;
pub mod gate;
mod look;
mod pages;
pub mod throttle;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use maud::Markup;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

pub use ipnet::IpNet;

use crate::api::{Api, ApiError, Data, Prompt, ResponseMode};
use crate::gate::Gate;
use crate::look::Look;
use crate::pages::LoginNotes;
use crate::throttle::{Clock, SystemClock, Throttle};
pub use crate::users::Users;

/// The `data` member binding the session to the browser that started it (see [`app`]).
pub const BROWSER: &str = "browser";

/// The authentication context class this front-end reports for a password login.
pub const PASSWORD_ACR: &str = "urn:gatehouse:acr:password";

/// How the front-end reaches the provider and whom it knows.
pub struct Config {
    api: Api,
    users: Users,
    /// The cookie holding the provider's subject session id (single sign-on).
    pub cookie_name: String,
    /// Mark cookies `Secure` (set this when the front-end is served over https).
    pub secure_cookies: bool,
    /// How password attempts are throttled, per account and per client address.
    pub throttle: throttle::Policy,
    /// Reverse proxies whose `X-Forwarded-For` names the client (none: the peer address is
    /// the client's).
    pub trusted_proxies: Vec<IpNet>,
    /// How many Argon2 verifications may run at once.
    pub argon2_concurrency: usize,
    /// How long a login waits for a verification slot before it is asked to try again.
    pub argon2_wait: Duration,
    /// The throttle's clock.
    pub clock: Arc<dyn Clock>,
}

impl Config {
    /// `gatehouse` is the provider's base URL, `api_token` the authorization-session API
    /// token (it is sent to the provider only, and never logged).
    pub fn new(gatehouse: &Url, api_token: String, users: Users) -> anyhow::Result<Config> {
        Ok(Config {
            api: Api::new(gatehouse, api_token)?,
            users,
            cookie_name: "gatehouse_sso".into(),
            secure_cookies: false,
            throttle: throttle::Policy::default(),
            trusted_proxies: Vec::new(),
            argon2_concurrency: gate::cores(),
            argon2_wait: gate::DEFAULT_WAIT,
            clock: Arc::new(SystemClock),
        })
    }
}

struct App {
    api: Api,
    users: Arc<Users>,
    sso_cookie: String,
    /// A random per-browser value, also kept in each session's `data`: a form submitted from
    /// another browser (login CSRF) does not carry it.
    browser_cookie: String,
    secure_cookies: bool,
    throttle: Throttle,
    trusted_proxies: Vec<IpNet>,
    argon2: Gate,
}

/// The largest form the front-end reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The front-end's routes. They need the peer address as `ConnectInfo<SocketAddr>`: serve
/// them with `gatehouse_example_listener::serve` (as `gatehouse-login` does), or with
/// `axum::serve` and `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn app(config: Config) -> Router {
    let app = App {
        api: config.api,
        users: Arc::new(config.users),
        browser_cookie: format!("{}_browser", config.cookie_name),
        sso_cookie: config.cookie_name,
        secure_cookies: config.secure_cookies,
        throttle: Throttle::new(config.throttle, config.clock),
        trusted_proxies: config.trusted_proxies,
        argon2: Gate::new(config.argon2_concurrency, config.argon2_wait),
    };
    Router::new()
        .route("/login", get(start).post(login))
        .route("/consent", post(consent))
        .route("/logout", get(logout_page).post(logout))
        .fallback(|| async { error_page(StatusCode::NOT_FOUND, "Page not found", "There is nothing here.", None) })
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(Arc::new(app))
}

/// `GET /login?<authentication request>`: where the provider's authorization endpoint sends
/// the browser.
async fn start(State(app): State<Arc<App>>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "No sign-in request",
            "This page signs you in when an application sends you here. Open the application and sign in from there.",
            None,
        );
    };
    let known = cookie(&headers, &app.browser_cookie).filter(|b| b.len() >= 32);
    let browser = match known.clone().map_or_else(random_token, Ok) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "the system random generator failed");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in is unavailable",
                "Please try again later.",
                None,
            );
        }
    };
    let data = Data::from_iter([(BROWSER.to_owned(), Value::String(browser.clone()))]);
    let sso = cookie(&headers, &app.sso_cookie);
    let mut response = app.render(app.api.start(&query, sso.as_deref(), data).await, LoginNotes::default());
    if known.is_none() {
        app.add_cookie(&mut response, &app.browser_cookie, &browser);
    }
    response
}

/// `POST /login`: checks the password, unless the account or the client address is throttled;
/// on success the subject goes to the provider. Every failure shows the same message, whether
/// the account exists or not.
async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let sid = form.get("sid").unwrap_or_default();
    let prompt = match app.current(sid, &headers).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    if !matches!(prompt, Prompt::Auth { .. }) {
        // The session moved on (a second submit, another tab): show where it stands.
        return app.render(Ok(prompt), LoginNotes::default());
    }
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let client = address::client(peer.ip(), &headers, &app.trusted_proxies);
    let again = |status: StatusCode, error: &str, retry_after: Option<u64>, prompt: Prompt| {
        let notes = LoginNotes { error: Some(error), username: Some(&username), ..Default::default() };
        let mut response = app.render(Ok(prompt), notes);
        *response.status_mut() = status;
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    };
    if let Err(wait) = app.throttle.begin(&username, client) {
        // Not checked at all: a throttled guess costs no Argon2 verification.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::info!(%client, seconds, "password attempt throttled");
        let unit = if seconds == 1 { "second" } else { "seconds" };
        let error = format!("Too many sign-in attempts. Try again in {seconds} {unit}.");
        return again(StatusCode::TOO_MANY_REQUESTS, &error, Some(seconds), prompt);
    }
    let users = app.users.clone();
    let name = username.clone();
    match app.argon2.run(move || users.verify(&name, &password)).await {
        Ok(Some(user)) => {
            app.throttle.succeeded(&username, client);
            let subject = json!({ "sub": user.sub, "acr": PASSWORD_ACR, "amr": ["pwd"], "claims": user.claims });
            app.render(app.api.subject(sid, subject).await, LoginNotes::default())
        }
        Ok(None) => {
            tracing::info!(%client, "failed password attempt");
            again(StatusCode::OK, "Wrong username or password.", None, prompt)
        }
        Err(gate::Busy) => {
            app.throttle.refund(&username, client);
            tracing::warn!("no password verification slot came free in time");
            let error = "Sign-in is busy right now. Try again in a moment.";
            again(StatusCode::SERVICE_UNAVAILABLE, error, Some(1), prompt)
        }
    }
}

/// `POST /consent`: the user's decision goes to the provider.
async fn consent(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Fields::parse(&body);
    let sid = form.get("sid").unwrap_or_default();
    let prompt = match app.current(sid, &headers).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let Prompt::Consent { scope, claims, .. } = &prompt else {
        return app.render(Ok(prompt), LoginNotes::default());
    };
    let answer = match form.get("decision") {
        Some("allow") => {
            let remember = form.get("remember").is_some();
            let body = consent::grant(scope, claims, &form.all("scope"), &form.all("claim"), remember);
            app.api.consent(sid, body).await
        }
        Some("deny") => app.api.deny(sid, "access_denied", "the user denied the request").await,
        _ => Ok(prompt),
    };
    app.render(answer, LoginNotes::default())
}

/// `GET /logout?logout_request=<id>`: where the provider's end-session endpoint sends the
/// browser.
async fn logout_page(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let id = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "logout_request").map(|(_, v)| v);
    let Some(id) = id else {
        return error_page(StatusCode::BAD_REQUEST, "No sign-out request", "Sign out from the application.", None);
    };
    match app.api.logout(&id).await {
        Ok(prompt) => html(StatusCode::OK, pages::logout(&prompt.id, prompt.client.as_ref())),
        Err(e) => logout_error(e),
    }
}

/// `POST /logout`: the user's decision. Confirming sends the SSO cookie's credential (a
/// cross-site form carries no `SameSite=Lax` cookie, so it can end nothing) and clears it.
async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Fields::parse(&body);
    let id = form.get("logout_request").unwrap_or_default();
    let answer = match form.get("decision") {
        Some("yes") => app.api.confirm_logout(id, cookie(&headers, &app.sso_cookie).as_deref()).await,
        _ => app.api.cancel_logout(id).await,
    };
    let done = match answer {
        Ok(done) => done,
        Err(e) => return logout_error(e),
    };
    let mut response =
        html(StatusCode::OK, pages::logged_out(done.ended, &done.frontchannel_logout_uris, done.redirect.as_deref()));
    if !done.frontchannel_logout_uris.is_empty() {
        // The front-channel pages load in frames; every other page forbids them.
        let csp = CSP.replace("default-src 'none'", "default-src 'none'; frame-src https: http:");
        if let Ok(v) = HeaderValue::from_str(&csp) {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    if done.ended {
        app.clear_cookie(&mut response, &app.sso_cookie);
    }
    response
}

fn logout_error(e: ApiError) -> Response {
    match e {
        ApiError::SessionGone => error_page(
            StatusCode::NOT_FOUND,
            "This sign-out has expired",
            "The sign-out took too long or was already answered. Sign out from the application again.",
            None,
        ),
        e => api_error(e),
    }
}

impl App {
    /// The session's current prompt, provided the session was started in this browser.
    async fn current(&self, sid: &str, headers: &HeaderMap) -> Result<Prompt, Response> {
        let prompt = self.api.get(sid).await.map_err(api_error)?;
        let started_here = prompt.data().and_then(|d| d.get(BROWSER)).and_then(Value::as_str);
        if started_here.is_none() || started_here != cookie(headers, &self.browser_cookie).as_deref() {
            tracing::warn!("a form came from another browser than the one that started the session");
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "Sign-in started elsewhere",
                "This sign-in was started in another browser, or this browser's cookies were cleared. Start again from the application.",
                None,
            ));
        }
        Ok(prompt)
    }

    /// Turns an API answer into the page for the browser.
    fn render(&self, answer: Result<Prompt, ApiError>, notes: LoginNotes<'_>) -> Response {
        let prompt = match answer {
            Ok(p) => p,
            Err(e) => return api_error(e),
        };
        match prompt {
            Prompt::Auth { redirect: Some(redirect), client, reason, .. } => {
                match Url::parse(&redirect).ok().filter(|u| matches!(u.scheme(), "https" | "http")) {
                    Some(_) => html(StatusCode::OK, pages::external(&client, &redirect, reason.as_deref())),
                    None => error_page(
                        StatusCode::BAD_GATEWAY,
                        "Sign-in is misconfigured",
                        "The sign-in service chose an identity provider with an address this page cannot open.",
                        None,
                    ),
                }
            }
            Prompt::Auth { sid, client, auth_request, required_acr, reason, .. } => {
                let notes = LoginNotes {
                    username: notes.username.or(auth_request.login_hint.as_deref()),
                    reason: reason.as_deref(),
                    required_acr: required_acr.as_deref(),
                    ..notes
                };
                html(StatusCode::OK, pages::login(Look::of(&auth_request), &sid, &client, notes))
            }
            Prompt::Consent { sid, client, auth_request, subject, scope, claims, sso, .. } => {
                let look = Look::of(&auth_request);
                let mut response = html(
                    StatusCode::OK,
                    pages::consent(look, &sid, &client, &subject.sub, (&scope, &claims), &auth_request.resources),
                );
                if let Some(sso) = sso {
                    self.add_cookie(&mut response, &self.sso_cookie, &sso.token);
                }
                response
            }
            Prompt::Response { mode, redirect_uri, uri, parameters, sso } => {
                let mut response = match (mode, uri) {
                    (ResponseMode::FormPost, _) => {
                        let mut r = html(StatusCode::OK, pages::form_post(&redirect_uri, &parameters));
                        let hash = STANDARD.encode(Sha256::digest(pages::FORM_POST_SCRIPT));
                        let csp = format!("{CSP}; script-src 'sha256-{hash}'");
                        if let Ok(v) = HeaderValue::from_str(&csp) {
                            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
                        }
                        r
                    }
                    (_, Some(uri)) => match HeaderValue::from_str(&uri) {
                        Ok(location) => {
                            (StatusCode::SEE_OTHER, [(header::LOCATION, location)], no_store()).into_response()
                        }
                        Err(_) => return api_error(ApiError::Unavailable("unusable redirect URI".into())),
                    },
                    (_, None) => return api_error(ApiError::Unavailable("a response without a redirect URI".into())),
                };
                if let Some(sso) = sso {
                    self.add_cookie(&mut response, &self.sso_cookie, &sso.token);
                }
                response
            }
            Prompt::Error { error, error_description } => {
                error_page(StatusCode::BAD_REQUEST, "Sign-in request refused", &error_description, Some(&error))
            }
        }
    }

    /// Expires cookie `name`.
    fn clear_cookie(&self, response: &mut Response, name: &str) {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }

    /// Adds a browser-session cookie (HttpOnly, SameSite=Lax, Path=/).
    fn add_cookie(&self, response: &mut Response, name: &str, value: &str) {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        match HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}")) {
            Ok(v) => {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            Err(_) => tracing::warn!(cookie = name, "a cookie value is not valid in a header; not set"),
        }
    }
}

/// Every page: no caching, no framing (clickjacking on the consent form), no scripts.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src http: https:; frame-ancestors 'none'";

fn no_store() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ]
}

fn html(status: StatusCode, page: Markup) -> Response {
    (status, no_store(), page).into_response()
}

fn error_page(status: StatusCode, title: &str, message: &str, code: Option<&str>) -> Response {
    html(status, pages::error(title, message, code))
}

/// The page for a failed API call. Details go to the log, not to the browser.
fn api_error(e: ApiError) -> Response {
    match e {
        ApiError::SessionGone => error_page(
            StatusCode::NOT_FOUND,
            "This sign-in has expired",
            "The sign-in took too long or was already completed. Go back to the application and sign in again.",
            None,
        ),
        e => {
            tracing::error!(error = %e, "authorization-session API call failed");
            error_page(
                StatusCode::BAD_GATEWAY,
                "Sign-in is unavailable",
                "The sign-in service could not complete this step. Please try again later.",
                None,
            )
        }
    }
}

/// The value of cookie `name` in the request.
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

/// 256 random bits, base64url.
fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A urlencoded form body, keeping repeated names (checkbox lists).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(body: &[u8]) -> Fields {
        Fields(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}
