//! A small client of Gatehouse's authorization-session API (`/authz-sessions/v1`).
//!
//! The types here are the front-end's own view of the API's JSON: this crate talks to the
//! provider over HTTP only, as a front-end written in any other language would.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

/// The front-end's own JSON object that rides along with the session.
pub type Data = Map<String, Value>;

/// What the provider asks the front-end to do next.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Prompt {
    Auth {
        sid: String,
        client: Client,
        auth_request: AuthRequest,
        /// Set by a login hook that wants a stronger authentication.
        #[serde(default)]
        required_acr: Option<String>,
        /// Why a login hook asks for (re-)authentication.
        #[serde(default)]
        reason: Option<String>,
        /// An external identity provider a login hook chose.
        #[serde(default)]
        redirect: Option<String>,
        #[serde(default)]
        data: Data,
    },
    Consent {
        sid: String,
        client: Client,
        auth_request: AuthRequest,
        subject: Subject,
        scope: Split,
        claims: Split,
        /// A new single sign-on credential, after the login that made it.
        #[serde(default)]
        sso: Option<Sso>,
        #[serde(default)]
        data: Data,
    },
    Response {
        mode: ResponseMode,
        redirect_uri: String,
        #[serde(default)]
        uri: Option<String>,
        #[serde(default)]
        parameters: Map<String, Value>,
        /// A new single sign-on credential, after the login that made it.
        #[serde(default)]
        sso: Option<Sso>,
    },
    Error {
        error: String,
        error_description: String,
    },
}

impl Prompt {
    /// The front-end's `data`, for prompts of a session that is still open.
    pub fn data(&self) -> Option<&Data> {
        match self {
            Prompt::Auth { data, .. } | Prompt::Consent { data, .. } => Some(data),
            Prompt::Response { .. } | Prompt::Error { .. } => None,
        }
    }
}

/// The provider's single sign-on credential for the browser's cookie: secret, shown once.
#[derive(Deserialize)]
pub struct Sso {
    pub token: String,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sso(<redacted>)")
    }
}

#[derive(Debug, Deserialize)]
pub struct Client {
    pub client_id: String,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub policy_uri: Option<String>,
    #[serde(default)]
    pub tos_uri: Option<String>,
}

impl Client {
    /// The name to show: the registered name, else the client id.
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(&self.client_id)
    }
}

/// The parts of the parsed authentication request this front-end uses.
#[derive(Debug, Deserialize)]
pub struct AuthRequest {
    #[serde(default)]
    pub login_hint: Option<String>,
    /// The user's preferred languages, most preferred first.
    #[serde(default)]
    pub ui_locales: Vec<String>,
    /// How the RP displays the pages: `page`, `popup`, `touch` or `wap`.
    #[serde(default)]
    pub display: Option<String>,
    /// The services (RFC 8707 resources, such as MCP servers) the access will be used at.
    #[serde(default)]
    pub resources: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Subject {
    pub sub: String,
}

/// Requested scopes or claims, split into those never consented to and those consented before.
#[derive(Debug, Default, Deserialize)]
pub struct Split {
    #[serde(default)]
    pub new: Vec<String>,
    #[serde(default)]
    pub consented: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

/// `GET /logout-requests/v1/{id}`: what to confirm with the user.
#[derive(Debug, Deserialize)]
pub struct LogoutPrompt {
    pub id: String,
    #[serde(default)]
    pub client: Option<Client>,
    /// Whether the browser goes back to the client afterwards.
    #[serde(default)]
    pub redirects: bool,
}

/// What to render once a logout request is answered.
#[derive(Debug, Deserialize)]
pub struct LoggedOut {
    pub ended: bool,
    #[serde(default)]
    pub frontchannel_logout_uris: Vec<String>,
    #[serde(default)]
    pub redirect: Option<String>,
}

/// Why an API call failed.
#[derive(Debug)]
pub enum ApiError {
    /// The session does not exist, has expired or has completed (404).
    SessionGone,
    /// The provider refused the call (4xx); `detail` is its problem document's explanation.
    Refused { status: u16, detail: String },
    /// The provider failed (5xx) or could not be reached.
    Unavailable(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::SessionGone => f.write_str("the authorization session has expired or has completed"),
            ApiError::Refused { status, detail } => write!(f, "the provider refused the request ({status}): {detail}"),
            ApiError::Unavailable(why) => write!(f, "the provider is unavailable: {why}"),
        }
    }
}

/// A handle on the API: base URL, bearer token and an HTTP client.
#[derive(Clone)]
pub struct Api {
    /// `<gatehouse>/authz-sessions/v1`, without a trailing slash.
    base: String,
    /// `<gatehouse>/logout-requests/v1`.
    logout_base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).field("token", &"<redacted>").finish()
    }
}

impl Api {
    /// `gatehouse` is the provider's base URL (its issuer); `token` the API bearer token.
    pub fn new(gatehouse: &Url, token: String) -> reqwest::Result<Api> {
        let root = gatehouse.as_str().trim_end_matches('/');
        let base = format!("{root}/authz-sessions/v1");
        let logout_base = format!("{root}/logout-requests/v1");
        // The API never redirects; a redirect would only ever carry the token somewhere else.
        // A provider that stops answering must not hold a browser's request (and the
        // listener's request slot) for ever.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()?;
        Ok(Api { base, logout_base, token, http })
    }

    /// `POST /authz-sessions/v1`: starts a session from the authentication request's query,
    /// with the SSO credential from the browser's cookie.
    pub async fn start(&self, query: &str, sso_token: Option<&str>, data: Data) -> Result<Prompt, ApiError> {
        let body = json!({ "query": query, "sso_token": sso_token, "data": data });
        self.call(reqwest::Method::POST, String::new(), Some(body)).await
    }

    /// `GET /authz-sessions/v1/{sid}`: the session's current prompt.
    pub async fn get(&self, sid: &str) -> Result<Prompt, ApiError> {
        self.call(reqwest::Method::GET, session_path(sid, "")?, None).await
    }

    /// `PUT /authz-sessions/v1/{sid}/subject`.
    pub async fn subject(&self, sid: &str, subject: Value) -> Result<Prompt, ApiError> {
        self.call(reqwest::Method::PUT, session_path(sid, "/subject")?, Some(subject)).await
    }

    /// `PUT /authz-sessions/v1/{sid}/consent`.
    pub async fn consent(&self, sid: &str, consent: Value) -> Result<Prompt, ApiError> {
        self.call(reqwest::Method::PUT, session_path(sid, "/consent")?, Some(consent)).await
    }

    /// `DELETE /authz-sessions/v1/{sid}`: ends the session with an error for the client.
    pub async fn deny(&self, sid: &str, error: &str, description: &str) -> Result<Prompt, ApiError> {
        let body = json!({ "error": error, "error_description": description });
        self.call(reqwest::Method::DELETE, session_path(sid, "")?, Some(body)).await
    }

    /// `PUT /authz-sessions/v1/{sid}/data`: replaces the front-end's `data`.
    pub async fn put_data(&self, sid: &str, data: &Data) -> Result<Data, ApiError> {
        self.call(reqwest::Method::PUT, session_path(sid, "/data")?, Some(Value::Object(data.clone()))).await
    }

    /// `GET /logout-requests/v1/{id}`.
    pub async fn logout(&self, id: &str) -> Result<LogoutPrompt, ApiError> {
        let url = format!("{}/{}", self.logout_base, session_path(id, "")?);
        self.call_url(reqwest::Method::GET, url, None).await
    }

    /// `POST /logout-requests/v1/{id}/confirm` with the SSO credential from the browser's cookie.
    pub async fn confirm_logout(&self, id: &str, sso_token: Option<&str>) -> Result<LoggedOut, ApiError> {
        let url = format!("{}/{}", self.logout_base, session_path(id, "/confirm")?);
        self.call_url(reqwest::Method::POST, url, Some(json!({ "sso_token": sso_token }))).await
    }

    /// `DELETE /logout-requests/v1/{id}`: the user stays signed in.
    pub async fn cancel_logout(&self, id: &str) -> Result<LoggedOut, ApiError> {
        let url = format!("{}/{}", self.logout_base, session_path(id, "")?);
        self.call_url(reqwest::Method::DELETE, url, None).await
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: String,
        body: Option<Value>,
    ) -> Result<T, ApiError> {
        let url = if path.is_empty() { self.base.clone() } else { format!("{}/{path}", self.base) };
        self.call_url(method, url, body).await
    }

    async fn call_url<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> Result<T, ApiError> {
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| ApiError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|e| ApiError::Unavailable(format!("unexpected answer: {e}")));
        }
        let detail = response
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        Err(match status.as_u16() {
            404 => ApiError::SessionGone,
            s @ 400..=499 => ApiError::Refused { status: s, detail },
            _ => ApiError::Unavailable(format!("{status}: {detail}")),
        })
    }
}

/// The path of a session (sub-)resource. The sid comes from the browser, so it must be one
/// plain path segment: Gatehouse's ids are base64url, and nothing else names a session.
fn session_path(sid: &str, sub: &str) -> Result<String, ApiError> {
    let plain =
        !sid.is_empty() && sid.len() <= 128 && sid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if plain { Ok(format!("{sid}{sub}")) } else { Err(ApiError::SessionGone) }
}
