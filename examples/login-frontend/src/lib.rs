//! An example login and consent front-end for Gatehouse.
//!
//! Gatehouse has no login pages of its own: its authorization endpoint sends the browser here
//! (`frontend.login_url`), and this app drives the provider's authorization-session API until
//! the provider gives the final redirect. The app is stateless: what it must remember between
//! two pages lives in the session's `data` object at the provider and in the session id, which
//! each form carries in a hidden field.
//!
//! ```text
//!   GET  /login?<authentication request>  → start a session, render its prompt
//!   POST /login    (sid, username, password) → PUT subject, or count the failure in `data`
//!   POST /consent  (sid, scope…, claim…, remember, decision) → PUT consent, or DELETE (deny)
//! ```
//!
//! Prompts render as: `auth` → login form (or a link to the external identity provider a
//! login hook chose), `consent` → consent form, `response` → set the single sign-on cookie and
//! redirect to the client (or post a form for `form_post`), `error` → an error page that never
//! redirects.

pub mod api;
pub mod consent;
mod pages;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use maud::Markup;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::api::{Api, ApiError, Data, Prompt, ResponseMode};
use crate::pages::LoginNotes;
pub use crate::users::Users;

/// Failed password attempts allowed in one authorization session; the next one ends it with
/// `access_denied`.
pub const MAX_FAILED_LOGINS: u64 = 5;

/// The `data` member counting failed password attempts.
pub const FAILED_LOGINS: &str = "failed_logins";

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
}

/// The front-end's routes.
pub fn app(config: Config) -> Router {
    let app = App {
        api: config.api,
        users: Arc::new(config.users),
        browser_cookie: format!("{}_browser", config.cookie_name),
        sso_cookie: config.cookie_name,
        secure_cookies: config.secure_cookies,
    };
    Router::new()
        .route("/login", get(start).post(login))
        .route("/consent", post(consent))
        .fallback(|| async { error_page(StatusCode::NOT_FOUND, "Page not found", "There is nothing here.", None) })
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

/// `POST /login`: checks the password; on success the subject goes to the provider, on failure
/// the count in `data` goes up until the session is denied.
async fn login(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Fields::parse(&body);
    let sid = form.get("sid").unwrap_or_default();
    let prompt = match app.current(sid, &headers).await {
        Ok(p) => p,
        Err(page) => return page,
    };
    let Prompt::Auth { data, .. } = &prompt else {
        // The session moved on (a second submit, another tab): show where it stands.
        return app.render(Ok(prompt), LoginNotes::default());
    };
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let users = app.users.clone();
    let name = username.clone();
    let user = tokio::task::spawn_blocking(move || users.verify(&name, &password)).await.ok().flatten();
    if let Some(user) = user {
        let subject = json!({ "sub": user.sub, "acr": PASSWORD_ACR, "amr": ["pwd"], "claims": user.claims });
        return app.render(app.api.subject(sid, subject).await, LoginNotes::default());
    }
    let failed = data.get(FAILED_LOGINS).and_then(Value::as_u64).unwrap_or(0) + 1;
    tracing::info!(failed, "failed password attempt");
    if failed >= MAX_FAILED_LOGINS {
        let denied = app.api.deny(sid, "access_denied", "too many failed sign-in attempts").await;
        return app.render(denied, LoginNotes::default());
    }
    let mut data = data.clone();
    data.insert(FAILED_LOGINS.into(), failed.into());
    if let Err(e) = app.api.put_data(sid, &data).await {
        return api_error(e);
    }
    let left = MAX_FAILED_LOGINS - failed;
    let error = format!(
        "Wrong username or password. {left} more {} before this sign-in is refused.",
        if left == 1 { "try" } else { "tries" }
    );
    let notes = LoginNotes { error: Some(&error), username: Some(&username), ..Default::default() };
    app.render(Ok(prompt), notes)
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
                html(StatusCode::OK, pages::login(&sid, &client, notes))
            }
            Prompt::Consent { sid, client, subject, scope, claims, sso, .. } => {
                let mut response = html(StatusCode::OK, pages::consent(&sid, &client, &subject.sub, &scope, &claims));
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
