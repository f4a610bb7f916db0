//! The test harness: a real Gatehouse server on loopback with a temporary data directory and a
//! clock tests can move, plus helpers that play the login front-end through the
//! authorization-session API and the relying party through the `openidconnect` crate.

pub mod backchannel;
pub mod browser;
pub mod client_jwt;
pub mod cluster;
pub mod jose_node;
pub mod log;
pub mod plugins;
pub mod postgres;
pub mod request_objects;
pub mod rp;
pub mod stack;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse_protocol::secret::sha256_hex;
use gatehouse_protocol::world::ShiftedClock;
use gatehouse_server::{Config, Gatehouse, Overrides};
use openidconnect::reqwest;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const AUTHZ_TOKEN: &str = "test-authz-session-api-token";
pub const ADMIN_TOKEN: &str = "test-admin-api-token";
/// Where the server sends browsers; tests read the query off the redirect instead.
pub const LOGIN_URL: &str = "http://frontend.test/login";
/// Where the test server sends browsers to confirm a logout (`frontend.logout_url`).
pub const LOGOUT_URL: &str = "http://frontend.test/logout";

/// The front-end's logout page beside its login page (`…/login` → `…/logout`), as the example
/// front-end serves them.
fn logout_url_for(login_url: &str) -> String {
    match login_url.strip_suffix("/login") {
        Some(base) => format!("{base}/logout"),
        None => LOGOUT_URL.to_owned(),
    }
}

pub struct TestServer {
    /// Where this server is reached.
    pub base: String,
    /// The issuer it is configured with (the same as `base` unless it shares another's).
    pub issuer: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub clock: ShiftedClock,
    pub http: reqwest::Client,
    /// Where the server sends browsers (`frontend.login_url`).
    pub login_url: String,
    /// Lines of `[http]` beside `listen`.
    http_extra: String,
    extra: String,
    _tmp: Arc<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// An HTTP client that does not follow redirects, as an RP's must not.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client")
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// Starts a server with extra TOML appended to the test configuration.
    pub async fn start_with(extra: &str) -> Self {
        Self::start_as(None, LOGIN_URL, extra).await
    }

    /// Starts a server that serves https with a certificate from `ca` (its issuer is an
    /// `https://127.0.0.1:…` URL), and an HTTP client that trusts `ca`.
    pub async fn start_https(ca: &tls::TestCa, http: &str, extra: &str) -> Self {
        let tmp = Arc::new(tempfile::tempdir().expect("temp dir"));
        let (cert, key) = ca.server_files(tmp.path(), "server");
        let http = format!("tls_certificate = \"{}\"\ntls_private_key = \"{}\"\n{http}", cert.display(), key.display());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .add_root_certificate(ca.certificate())
            .build()
            .expect("http client");
        Self::start_full(tmp, "https", client, None, LOGIN_URL, &http, extra).await
    }

    /// Starts a server with extra keys in its `[http]` section (timeouts, caps).
    pub async fn start_with_http(http: &str) -> Self {
        Self::start_configured(None, LOGIN_URL, http, "").await
    }

    /// Starts a server that sends browsers to a real login front-end at `login_url`.
    pub async fn start_with_login_url(login_url: &str, extra: &str) -> Self {
        Self::start_as(None, login_url, extra).await
    }

    /// Starts a second host of the same provider as `other` (same issuer), e.g. on a shared
    /// database.
    pub async fn start_beside(other: &TestServer, extra: &str) -> Self {
        Self::start_as(Some(other.issuer.clone()), &other.login_url, extra).await
    }

    async fn start_as(issuer: Option<String>, login_url: &str, extra: &str) -> Self {
        Self::start_configured(issuer, login_url, "", extra).await
    }

    async fn start_configured(issuer: Option<String>, login_url: &str, http: &str, extra: &str) -> Self {
        let tmp = Arc::new(tempfile::tempdir().expect("temp dir"));
        Self::start_full(tmp, "http", http_client(), issuer, login_url, http, extra).await
    }

    async fn start_full(
        tmp: Arc<tempfile::TempDir>,
        scheme: &str,
        client: reqwest::Client,
        issuer: Option<String>,
        login_url: &str,
        http: &str,
        extra: &str,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let base = format!("{scheme}://127.0.0.1:{port}");
        let mut server = TestServer {
            issuer: issuer.unwrap_or_else(|| base.clone()),
            base,
            port,
            data_dir: tmp.path().to_path_buf(),
            clock: ShiftedClock::new(),
            http: client,
            login_url: login_url.to_owned(),
            http_extra: http.to_owned(),
            extra: extra.to_owned(),
            _tmp: tmp,
            shutdown: None,
            task: None,
        };
        server.launch(listener).await;
        server
    }

    pub fn config_toml(&self) -> String {
        format!(
            r#"
issuer = "{issuer}"
data_dir = "{dir}"
[http]
listen = "127.0.0.1:{port}"
{http}
[frontend]
login_url = "{login_url}"
logout_url = "{logout_url}"
[api]
authz_session_token_hashes = ["{authz}"]
admin_token_hashes = ["{admin}"]
{extra}
"#,
            issuer = self.issuer,
            dir = self.data_dir.display(),
            port = self.port,
            authz = sha256_hex(AUTHZ_TOKEN.as_bytes()),
            admin = sha256_hex(ADMIN_TOKEN.as_bytes()),
            login_url = self.login_url,
            logout_url = logout_url_for(&self.login_url),
            http = self.http_extra,
            extra = self.extra,
        )
    }

    async fn launch(&mut self, listener: TcpListener) {
        let config = Config::from_toml(&self.config_toml()).expect("test config");
        let overrides = Overrides { clock: Some(Arc::new(self.clock.clone())), ..Default::default() };
        let server = Gatehouse::build(&config, overrides).await.expect("server builds");
        let (tx, rx) = oneshot::channel::<()>();
        self.shutdown = Some(tx);
        self.task = Some(tokio::spawn(async move {
            server
                .serve(listener, async {
                    let _ = rx.await;
                })
                .await
                .expect("server runs");
        }));
    }

    /// Stops the server and starts a new one on the same port and data directory.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.expect("rebind the same port");
        self.launch(listener).await;
        self
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task ends cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn call(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A call to the authorization-session API.
    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(AUTHZ_TOKEN, method, path, body).await
    }

    /// A call to the client / admin API.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(ADMIN_TOKEN, method, path, body).await
    }

    /// Registers a client and returns what the API answered (with its secret).
    pub async fn register(&self, metadata: Value) -> Value {
        let (status, info) = self.admin(reqwest::Method::POST, "/clients/v1", Some(metadata)).await;
        assert_eq!(status, 201, "client registration: {info}");
        info
    }

    /// A confidential web client for the code flow.
    pub async fn web_client(&self, extra: Value) -> Value {
        let mut metadata = json!({
            "client_name": "Test App",
            "redirect_uris": ["https://app.example.com/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
        });
        merge(&mut metadata, extra);
        self.register(metadata).await
    }

    /// What the browser does at the authorization endpoint: it is redirected to the login
    /// front-end; this returns the query the front-end receives.
    pub async fn browse_authorize(&self, authorize_url: &str) -> String {
        let resp = self.http.get(authorize_url).send().await.expect("authorize");
        assert_eq!(resp.status().as_u16(), 303, "the authorization endpoint redirects to the front-end");
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let (front, query) = location.split_once('?').expect("query on the redirect");
        assert_eq!(front, self.login_url);
        query.to_owned()
    }

    /// A token request with the form and, if given, Basic credentials: the status, the body as
    /// it came and the `WWW-Authenticate` challenge.
    pub async fn token_request(
        &self,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (u16, String, Option<String>) {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            ser.append_pair(k, v);
        }
        let mut req = self
            .http
            .post(self.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(ser.finish());
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let resp = req.send().await.expect("token request");
        let status = resp.status().as_u16();
        let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        (status, resp.text().await.unwrap_or_default(), challenge)
    }

    /// Starts an authorization session the way a front-end does, with the SSO credential
    /// from the browser's cookie, if any.
    pub async fn start_session(&self, query: &str, sso_token: Option<&str>, data: Option<Value>) -> Value {
        let mut body = json!({ "query": query });
        if let Some(s) = sso_token {
            body["sso_token"] = json!(s);
        }
        if let Some(d) = data {
            body["data"] = d;
        }
        let (status, prompt) = self.api(reqwest::Method::POST, "/authz-sessions/v1", Some(body)).await;
        assert_eq!(status, 200, "start session: {prompt}");
        prompt
    }

    pub async fn submit_subject(&self, sid: &str, subject: Value) -> Value {
        let (status, prompt) =
            self.api(reqwest::Method::PUT, &format!("/authz-sessions/v1/{sid}/subject"), Some(subject)).await;
        assert_eq!(status, 200, "submit subject: {prompt}");
        prompt
    }

    pub async fn submit_consent(&self, sid: &str, consent: Value) -> Value {
        let (status, prompt) =
            self.api(reqwest::Method::PUT, &format!("/authz-sessions/v1/{sid}/consent"), Some(consent)).await;
        assert_eq!(status, 200, "submit consent: {prompt}");
        prompt
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Shallow-merges the members of `extra` into `base`.
pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
}

/// The query parameters of a redirect URI (or of its fragment).
pub fn redirect_params(uri: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(uri).expect("redirect URI");
    match url.fragment() {
        Some(f) => url::form_urlencoded::parse(f.as_bytes()).into_owned().collect(),
        None => url.query_pairs().into_owned().collect(),
    }
}

/// Shannon entropy of `s` in bits, as `EnsureMinimumAuthorizationCodeEntropy` computes it.
pub fn shannon_bits(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    let per_char: f64 = counts.values().map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum();
    per_char * n
}

/// A standard subject for tests.
pub fn alice() -> Value {
    json!({
        "sub": "alice",
        "acr": "urn:gatehouse:pwd",
        "amr": ["pwd"],
        "claims": {
            "name": "Alice Liddell",
            "given_name": "Alice",
            "email": "alice@example.com",
            "email_verified": true
        }
    })
}
