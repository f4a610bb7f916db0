//! A second, independent relying party: panva's `openid-client` for Node.js (OpenID certified),
//! pinned by `tests/rp-node/package-lock.json` and installed into `target/rp-node` by
//! `scripts/rp-node-deps.sh`. The script `tests/rp-node/rp.mjs` discovers the provider (served
//! over https with a test CA that Node trusts through `NODE_EXTRA_CA_CERTS`), builds the
//! authentication request, and after the test has played the browser and the login front-end,
//! redeems the code, validates the ID token, calls UserInfo and refreshes, all with the
//! library's own checks. A failure of the script fails the test with its stderr.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::support::backchannel::Receiver;
use crate::support::tls::TestCa;
use crate::support::{TestServer, alice};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const REDIRECT_URI: &str = "https://app.example.com/callback";

/// The folder holding openid-client (`scripts/rp-node-deps.sh` installs it if missing).
fn rp_node_deps() -> PathBuf {
    let script = Path::new(ROOT).join("scripts/rp-node-deps.sh");
    let output = std::process::Command::new(script).output().expect("rp-node-deps.sh runs");
    assert!(output.status.success(), "the openid-client test cannot run:\n{}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
}

/// The script's process and the two ends of its JSON-lines conversation.
struct NodeRp {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl NodeRp {
    async fn spawn(ca: &TestCa, config: &Value) -> Self {
        let deps = tokio::task::spawn_blocking(rp_node_deps).await.unwrap();
        let mut child = tokio::process::Command::new("node")
            .arg(Path::new(ROOT).join("tests/rp-node/rp.mjs"))
            .env("RP_NODE_DEPS", &deps)
            .arg(config.to_string())
            .env("NODE_EXTRA_CA_CERTS", &ca.file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (scripts/setup.sh --test installs Node.js)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        NodeRp { child, stdin, stdout }
    }

    /// The script's next message; if it ended instead, fails with its status and stderr.
    async fn read(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.stdout.next_line())
            .await
            .expect("the openid-client RP answers within 60 s")
            .expect("its stdout");
        match line {
            Some(line) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("the RP prints JSON ({e}): {line}")),
            None => self.failed().await,
        }
    }

    async fn failed(&mut self) -> ! {
        let status = self.child.wait().await.expect("the RP's status");
        let mut stderr = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut stderr).await;
        panic!("the openid-client RP ended ({status}) without an answer:\n{stderr}");
    }

    async fn send(&mut self, message: Value) {
        let line = format!("{message}\n");
        self.stdin.write_all(line.as_bytes()).await.expect("write to the RP");
        self.stdin.flush().await.unwrap();
    }

    /// The script's last message, `{"result": ...}`, and its exit status 0.
    async fn result(mut self) -> Value {
        let message = self.read().await;
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.expect("exit").unwrap();
        assert!(status.success(), "the RP exits cleanly: {status}");
        message.get("result").cloned().unwrap_or_else(|| panic!("a result: {message}"))
    }
}

/// One run of the script: with a client the test registers with `metadata` (and the script's
/// keys), or one the script registers itself when `config` says `register`. The test plays
/// the browser and the front-end, Alice consents to everything, and a refresh token is issued.
async fn run(server: &TestServer, ca: &TestCa, config: Value, metadata: Value) -> (Value, Value) {
    run_with(server, ca, config, metadata, None).await
}

/// [`run`], and when `config` says `logout`, the session then ended through the admin API
/// with the back-channel logout token that `receiver` got handed to the script to verify.
async fn run_with(
    server: &TestServer,
    ca: &TestCa,
    config: Value,
    metadata: Value,
    receiver: Option<&Receiver>,
) -> (Value, Value) {
    let mut config = config;
    config["issuer"] = json!(server.issuer);
    config["redirect_uri"] = json!(REDIRECT_URI);
    if config.get("scope").is_none() {
        config["scope"] = json!("openid email profile offline_access");
    }
    let mut rp = NodeRp::spawn(ca, &config).await;
    let mut info = json!({});
    if config.get("register").is_none() {
        let keys = rp.read().await["jwks"].clone();
        let mut metadata = metadata;
        metadata["token_endpoint_auth_method"] = config["auth"].clone();
        // openid-client expects RS256 ID tokens unless the client registered another algorithm
        // (Dynamic Registration §2); Gatehouse's default is its `signing.id_token_alg`.
        if metadata.get("id_token_signed_response_alg").is_none() {
            metadata["id_token_signed_response_alg"] = json!("RS256");
        }
        if !keys["keys"].as_array().unwrap().is_empty() {
            metadata["jwks"] = keys;
        }
        info = server.web_client(metadata.clone()).await;
        let mut answer = json!({"client_id": info["client_id"], "metadata": metadata});
        answer["metadata"].as_object_mut().unwrap().remove("jwks");
        if let Some(secret) = info.get("client_secret") {
            answer["client_secret"] = secret.clone();
        }
        rp.send(answer).await;
    }
    let url = rp.read().await["authorization_url"].as_str().expect("an authorization URL").to_owned();
    let callback = login(server, &url).await;
    rp.send(json!({"callback": callback.clone()})).await;
    if let Some(receiver) = receiver {
        let sid = rp.read().await["logout_ready"]["sid"].as_str().expect("the session's sid").to_owned();
        let (status, body) = server
            .admin(openidconnect::reqwest::Method::DELETE, &format!("/admin/v1/subject-sessions/{sid}"), None)
            .await;
        assert_eq!(status, 204, "{body}");
        let token = receiver.wait_for(1).await.remove(0);
        rp.send(json!({"logout_token": token})).await;
    }
    let mut result = rp.result().await;
    result["callback"] = json!(callback);
    if let Some(registered) = result.get("registered") {
        info = registered.clone();
    }
    (info, result)
}

/// The browser at the authorization endpoint and the front-end's three calls: Alice signs in
/// and consents to every scope, with a refresh token. Returns the redirect back to the RP.
async fn login(server: &TestServer, authorization_url: &str) -> String {
    let query = server.browse_authorize(authorization_url).await;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    // A request object carries the parameters itself.
    if param("request").is_none() {
        if param("response_type").is_some_and(|t| t.contains("code")) {
            assert_eq!(param("code_challenge_method"), Some("S256"), "openid-client sends PKCE: {query}");
        }
        assert!(param("nonce").is_some() && param("state").is_some(), "{query}");
    }
    let prompt = server.start_session(&query, None, None).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");
    let sid = prompt["sid"].as_str().unwrap();
    let prompt = server.submit_subject(sid, alice()).await;
    assert_eq!(prompt["type"], "consent", "{prompt}");
    let prompt = server.submit_consent(sid, json!({"scope": "*", "refresh_token": {"issue": true}})).await;
    assert_eq!(prompt["type"], "response", "{prompt}");
    prompt["uri"].as_str().unwrap().to_owned()
}

/// What every run must show: the ID token the library validated is Alice's, for this client
/// from this issuer; UserInfo agrees; the refresh worked and rotated the refresh token.
fn assert_alice(server: &TestServer, info: &Value, result: &Value) {
    let id = &result["id_token"];
    assert_eq!(id["sub"], "alice", "{result}");
    assert_eq!(id["iss"], server.issuer.as_str());
    let client_id = &info["client_id"];
    assert!(id["aud"] == *client_id || id["aud"].as_array().is_some_and(|a| a.contains(client_id)), "{id}");
    assert_eq!(result["server"]["issuer"], server.issuer.as_str());
    assert_eq!(result["token_type"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("bearer"));
    let userinfo = &result["userinfo"];
    assert_eq!(userinfo["sub"], "alice", "{userinfo}");
    assert_eq!(userinfo["email"], "alice@example.com");
    assert_eq!(userinfo["email_verified"], true);
    assert_eq!(userinfo["name"], "Alice Liddell");
    if let Some(refreshed) = result.get("refreshed") {
        assert_eq!(refreshed["rotated"], true, "the refresh token rotates: {refreshed}");
        assert_eq!(refreshed["userinfo"]["sub"], "alice");
        if !refreshed["id_token"].is_null() {
            assert_eq!(refreshed["id_token"]["sub"], "alice");
            assert_eq!(refreshed["id_token"]["auth_time"], id["auth_time"]);
        }
    }
}

async fn https_server(ca: &TestCa) -> TestServer {
    TestServer::start_https(ca, "", "").await
}

/// Each client authentication method the provider offers, through a whole code flow with a
/// refresh and UserInfo, as openid-client performs them.
#[tokio::test]
async fn openid_client_logs_in_with_every_client_authentication_method() {
    let ca = TestCa::new();
    let server = https_server(&ca).await;
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let methods = discovery["token_endpoint_auth_methods_supported"].as_array().unwrap().clone();
    for auth in ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"] {
        assert!(methods.contains(&json!(auth)), "{auth} is advertised: {methods:?}");
        let (info, result) = run(&server, &ca, json!({"auth": auth, "refresh": true}), json!({})).await;
        assert_eq!(info["token_endpoint_auth_method"], auth);
        assert_alice(&server, &info, &result);
    }
}

/// A public client (`none`): PKCE alone binds the code to the RP that asked for it.
#[tokio::test]
async fn openid_client_logs_in_as_a_public_client_with_pkce() {
    let ca = TestCa::new();
    let server = https_server(&ca).await;
    let (info, result) = run(&server, &ca, json!({"auth": "none", "refresh": true}), json!({})).await;
    assert!(info.get("client_secret").is_none(), "a public client has no secret: {info}");
    assert_alice(&server, &info, &result);
}

/// The same flow over plain http on loopback, which openid-client allows only when told
/// (`allowInsecureRequests`), as a developer's machine runs it.
#[tokio::test]
async fn openid_client_logs_in_over_loopback_http() {
    let ca = TestCa::new();
    let server = TestServer::start().await;
    let (info, result) = run(&server, &ca, json!({"auth": "client_secret_basic", "refresh": true}), json!({})).await;
    assert_alice(&server, &info, &result);
}

/// The ID token in a redirect's fragment, decoded (openid-client has verified it).
fn fragment_id_token(callback: &str) -> Value {
    use base64::Engine;
    let fragment = url::Url::parse(callback).unwrap().fragment().expect("a fragment response").to_owned();
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(fragment.as_bytes()).into_owned().collect();
    let payload = params["id_token"].split('.').nth(1).unwrap().to_owned();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The hybrid flow (`code id_token`, fragment) and the implicit `id_token` flow, validated by
/// openid-client: for the hybrid flow the front-channel ID token's signature, nonce, `c_hash`
/// and `s_hash` (OpenID Connect Core §3.3.2.11), then the code redeemed and the token
/// endpoint's ID token checked against it.
#[tokio::test]
async fn openid_client_completes_the_hybrid_and_implicit_flows() {
    let ca = TestCa::new();
    let server = https_server(&ca).await;
    let hybrid = json!({"response_types": ["code id_token"], "grant_types": ["authorization_code", "implicit", "refresh_token"]});
    let (info, result) =
        run(&server, &ca, json!({"auth": "client_secret_basic", "response_type": "code id_token"}), hybrid).await;
    assert_alice(&server, &info, &result);
    let front = fragment_id_token(result["callback"].as_str().unwrap());
    assert!(front["c_hash"].is_string() && front["s_hash"].is_string(), "openid-client checked both: {front}");
    for claim in ["sub", "sid", "auth_time"] {
        assert_eq!(front[claim], result["id_token"][claim], "{claim}: one authentication behind both ID tokens");
    }

    let implicit = json!({"response_types": ["id_token"], "grant_types": ["implicit"]});
    let (info, result) = run(
        &server,
        &ca,
        json!({"auth": "client_secret_basic", "response_type": "id_token", "scope": "openid email"}),
        implicit,
    )
    .await;
    assert_eq!(result["id_token"]["sub"], "alice", "{result}");
    assert_eq!(result["id_token"]["aud"], info["client_id"]);
    // With no access token, the ID token carries the email claims itself (Core §5.4).
    assert_eq!(result["id_token"]["email"], "alice@example.com", "{result}");
}

/// Request objects signed by openid-client and encrypted by jose to the provider's published
/// encryption keys, for each key family.
#[tokio::test]
async fn openid_client_sends_request_objects_encrypted_to_the_provider() {
    let ca = TestCa::new();
    let server = https_server(&ca).await;
    for (alg, enc) in [("RSA-OAEP", "A256GCM"), ("RSA-OAEP-256", "A128CBC-HS256"), ("ECDH-ES+A128KW", "A128GCM")] {
        let config = json!({"auth": "client_secret_basic", "encrypt_request": {"alg": alg, "enc": enc}});
        let metadata = json!({"request_object_signing_alg": "RS256", "request_object_encryption_alg": alg,
            "request_object_encryption_enc": enc});
        let (info, result) = run(&server, &ca, config, metadata).await;
        assert_alice(&server, &info, &result);
    }
}

/// Back-channel logout: the session ended through the admin API, the logout token received
/// by an https receiver and verified by jose with the provider's JWK set (Back-Channel Logout
/// 1.0 §2.6: signature, `iss`, `aud`, `typ`, `iat`, `jti`, the event, no `nonce`, `sid` and
/// `sub` of the session).
#[tokio::test]
async fn openid_client_sessions_get_logout_tokens_that_jose_verifies() {
    let ca = TestCa::new();
    let outbound = format!("[outbound]\nallow_private_addresses = true\nca_file = \"{}\"\n", ca.file.display());
    let server = TestServer::start_https(&ca, "", &outbound).await;
    let (receiver, uri) = Receiver::start(&ca, axum::http::StatusCode::OK).await;
    let metadata = json!({"backchannel_logout_uri": uri, "backchannel_logout_session_required": true});
    let config = json!({"auth": "client_secret_basic", "logout": true});
    let (info, result) = run_with(&server, &ca, config, metadata, Some(&receiver)).await;
    assert_alice(&server, &info, &result);
    let logout = &result["logout"];
    assert_eq!(logout["sid"], result["id_token"]["sid"], "{logout}");
    assert_eq!(logout["aud"], info["client_id"]);
}
