//! Gatehouse as the authorization server of an MCP server, end to end on loopback with the
//! official MCP TypeScript SDK on both sides (pinned by their lockfiles, installed into
//! `target/mcp-node` by `scripts/mcp-deps.sh`): the example MCP server (`examples/mcp-server`)
//! is the resource server, and the SDK's client (`tests/mcp-client/client.mjs`) connects to it,
//! is refused, discovers Gatehouse through RFC 9728 and RFC 8414, registers itself (Dynamic
//! Registration, or a client ID metadata document this test serves over https), runs the code
//! flow with PKCE and `resource` while this test plays the browser through the example login
//! front-end, calls a tool, and refreshes. The negative cases: a token for another resource,
//! a resource the provider does not know, and metadata documents that do not hold.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use url::Url;

use crate::support::browser::Browser;
use crate::support::stack::{Stack, listener, stack_configured};
use crate::support::tls::TestCa;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The folder holding both scripts' packages (`scripts/mcp-deps.sh` installs them if missing).
fn mcp_deps() -> PathBuf {
    let output = std::process::Command::new(Path::new(ROOT).join("scripts/mcp-deps.sh")).output().expect("mcp-deps.sh");
    assert!(output.status.success(), "the MCP test cannot run:\n{}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
}

/// A Node.js script and the two ends of its JSON-lines conversation.
struct Node {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    what: &'static str,
}

impl Node {
    async fn spawn(what: &'static str, script: &str, args: &[String], ca: Option<&TestCa>) -> Self {
        let deps = tokio::task::spawn_blocking(mcp_deps).await.unwrap();
        let mut command = tokio::process::Command::new("node");
        command.arg(Path::new(ROOT).join(script)).args(args).env("MCP_NODE_DEPS", &deps);
        if let Some(ca) = ca {
            command.env("NODE_EXTRA_CA_CERTS", &ca.file);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (scripts/setup.sh --test installs Node.js)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Node { child, stdin, stdout, what }
    }

    async fn read(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("the {} answers within 60 s", self.what))
            .expect("its stdout");
        match line {
            Some(line) => {
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{} prints JSON ({e}): {line}", self.what))
            }
            None => self.failed().await,
        }
    }

    async fn failed(&mut self) -> ! {
        let status = self.child.wait().await.expect("its status");
        let mut stderr = String::new();
        let _ = self.child.stderr.take().unwrap().read_to_string(&mut stderr).await;
        panic!("the {} ended ({status}) without an answer:\n{stderr}", self.what);
    }

    async fn send(&mut self, message: Value) {
        self.stdin.write_all(format!("{message}\n").as_bytes()).await.expect("write");
        self.stdin.flush().await.unwrap();
    }
}

/// The provider with the example front-end, the example MCP server as its one resource, and
/// client ID metadata documents accepted over https from the test CA's servers.
struct Setup {
    stack: Stack,
    _mcp: Node,
    /// The MCP server's resource URL (its MCP endpoint).
    resource: String,
    ca: TestCa,
}

async fn setup() -> Setup {
    // The resource must be configured before the provider starts, and the MCP server needs the
    // issuer: so its port is chosen first.
    let port = {
        let (l, _) = listener().await;
        l.local_addr().unwrap().port()
    };
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let ca = TestCa::new();
    let stack = stack_configured(&format!(
        "[[resources]]\nuri = \"{resource}\"\nscopes = [\"mcp:tools\"]\n\n\
         [client_id_metadata_documents]\npolicy = \"open\"\n\n\
         [outbound]\nallow_private_addresses = true\nca_file = \"{}\"\n",
        ca.file.display()
    ))
    .await;
    let args = ["--listen".to_owned(), format!("127.0.0.1:{port}"), "--issuer".to_owned(), stack.server.issuer.clone()];
    let mut mcp = Node::spawn("example MCP server", "examples/mcp-server/server.mjs", &args, None).await;
    let ready = mcp.read().await;
    assert_eq!(ready["resource"], resource.as_str(), "{ready}");
    Setup { stack, _mcp: mcp, resource, ca }
}

/// A redirect URI on loopback that answers 200, so the browser can land there.
async fn callback_uri() -> String {
    let (l, base) = listener().await;
    tokio::spawn(async move { axum::serve(l, Router::new().route("/callback", get(|| async { "ok" }))).await });
    base.join("/callback").unwrap().to_string()
}

/// The browser at the authorization URL: the example front-end's login form as Alice, its
/// consent form (which names the MCP server), and back at the redirect URI.
async fn sign_in(setup: &Setup, authorization_url: &str) -> Url {
    let browser = Browser::new();
    let login = browser.get(&Url::parse(authorization_url).unwrap()).await;
    assert_eq!(login.url.origin(), setup.stack.frontend.origin(), "the front-end's login page: {}", login.body);
    let consent = browser.submit(login.form("login").set("username", "alice").set("password", "wonderland")).await;
    assert!(consent.body.contains(&setup.resource), "the consent page names the MCP server:\n{}", consent.body);
    let done = browser.submit(consent.form("consent").set("decision", "allow")).await;
    assert_eq!(done.url.path(), "/callback", "{}", done.body);
    done.url
}

/// One run of the SDK client; its result.
async fn run_client(setup: &Setup, metadata_url: Option<&str>, redirect_uri: &str) -> Value {
    let mut config = json!({"server": setup.resource, "redirect_uri": redirect_uri});
    if let Some(url) = metadata_url {
        config["client_metadata_url"] = json!(url);
    }
    let mut client =
        Node::spawn("MCP SDK client", "tests/mcp-client/client.mjs", &[config.to_string()], Some(&setup.ca)).await;
    let url = client.read().await["authorization_url"].as_str().expect("an authorization URL").to_owned();
    let query: std::collections::HashMap<String, String> =
        Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    assert_eq!(query.get("resource"), Some(&setup.resource), "the SDK asks for the MCP server: {url}");
    assert_eq!(query.get("code_challenge_method").map(String::as_str), Some("S256"));
    let callback = sign_in(setup, &url).await;
    client.send(json!({"callback": callback.as_str()})).await;
    let message = client.read().await;
    let status = tokio::time::timeout(Duration::from_secs(10), client.child.wait()).await.expect("exit").unwrap();
    assert!(status.success(), "the client exits cleanly: {status}");
    message.get("result").cloned().unwrap_or_else(|| panic!("a result: {message}"))
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// What every successful run shows: the tools, Alice at the tool, tokens for the MCP server
/// before and after the refresh.
fn check_run(setup: &Setup, result: &Value) {
    let tools = result["tools"].as_array().unwrap();
    assert!(tools.contains(&json!("whoami")), "{result}");
    assert_eq!(result["whoami"]["sub"], "alice", "{result}");
    assert_eq!(result["refreshed_whoami"]["sub"], "alice", "{result}");
    for token in ["access_token", "refreshed_access_token"] {
        let claims = claims(result[token].as_str().unwrap());
        assert_eq!(claims["aud"], setup.resource.as_str(), "{token} is for the MCP server: {claims}");
        assert_eq!(claims["scope"], "mcp:tools", "{claims}");
        assert_eq!(claims["client_id"], result["client_id"], "{claims}");
    }
    assert_ne!(result["access_token"], result["refreshed_access_token"], "the refresh made a new token");
}

/// Calls a tool with `token`; the HTTP status and `WWW-Authenticate`.
async fn call_tool(setup: &Setup, token: &str) -> (u16, String) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
    let resp = setup
        .stack
        .server
        .http
        .post(&setup.resource)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (resp.status().as_u16(), challenge)
}

#[tokio::test]
async fn an_mcp_sdk_client_registers_itself_signs_in_through_the_front_end_and_calls_a_tool() {
    let setup = setup().await;
    let result = run_client(&setup, None, &callback_uri().await).await;
    assert_eq!(result["registered"], "dynamic", "{result}");
    check_run(&setup, &result);

    // The MCP server refuses a token for another resource: a client_credentials token for the
    // provider itself, from a confidential client.
    let info = setup.stack.server.web_client(json!({"grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [], "scope": "mcp:tools"})).await;
    let (id, secret) = (info["client_id"].as_str().unwrap(), info["client_secret"].as_str().unwrap());
    let form = [("grant_type", "client_credentials"), ("scope", "mcp:tools")];
    let (status, body, _) = setup.stack.server.token_request(Some((id, secret)), &form).await;
    assert_eq!(status, 200, "{body}");
    let other: Value = serde_json::from_str(&body).unwrap();
    let other = other["access_token"].as_str().unwrap();
    assert_eq!(claims(other)["aud"], setup.stack.server.issuer.as_str());
    let (status, challenge) = call_tool(&setup, other).await;
    assert_eq!(status, 401, "a token for another audience: {challenge}");
    assert!(challenge.contains("invalid_token") && challenge.contains("resource_metadata="), "{challenge}");

    // The same client asking for the MCP server gets in.
    let form = [("grant_type", "client_credentials"), ("scope", "mcp:tools"), ("resource", setup.resource.as_str())];
    let (status, body, _) = setup.stack.server.token_request(Some((id, secret)), &form).await;
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(call_tool(&setup, token["access_token"].as_str().unwrap()).await.0, 200);

    // A resource the provider does not know is invalid_target.
    let form = [("grant_type", "client_credentials"), ("resource", "http://127.0.0.1:1/elsewhere")];
    let (status, body, _) = setup.stack.server.token_request(Some((id, secret)), &form).await;
    assert_eq!(status, 400);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "invalid_target", "{body}");
}

/// A client ID metadata document at `path` on an https server the provider trusts.
async fn serve_document(
    ca: &TestCa,
    path: &'static str,
    document: impl Fn(&str) -> Value + Send + Sync + 'static,
) -> String {
    let document = std::sync::Arc::new(document);
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let seen = base.clone();
    let router = Router::new().route(
        path,
        get(move || {
            let (document, seen) = (document.clone(), seen.clone());
            async move { axum::Json(document(seen.get().expect("the URL is known"))) }
        }),
    );
    let origin = ca.serve(router).await;
    let url = format!("{}{path}", origin.trim_end_matches('/'));
    base.set(url.clone()).unwrap();
    url
}

#[tokio::test]
async fn an_mcp_sdk_client_identified_by_its_metadata_document_signs_in_without_registering() {
    let setup = setup().await;
    let redirect_uri = callback_uri().await;
    let redirect = redirect_uri.clone();
    let url = serve_document(&setup.ca, "/mcp-client.json", move |url| {
        json!({
            "client_id": url,
            "client_name": "MCP test client",
            "redirect_uris": [redirect],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })
    })
    .await;
    let result = run_client(&setup, Some(&url), &redirect_uri).await;
    assert_eq!(result["registered"], "metadata_document", "{result}");
    assert_eq!(result["client_id"], url.as_str());
    check_run(&setup, &result);
}

/// The front-end's first prompt for an authorization request from `client_id`.
async fn authorize_as(setup: &Setup, client_id: &str, redirect_uri: &str) -> (u16, String) {
    let mut url = Url::parse(&setup.stack.server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "mcp:tools")
        .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", &setup.resource);
    let query = setup.stack.server.browse_authorize(url.as_str()).await;
    let (status, prompt) = setup
        .stack
        .server
        .api(openidconnect::reqwest::Method::POST, "/authz-sessions/v1", Some(json!({"query": query})))
        .await;
    (status, prompt.to_string())
}

#[tokio::test]
async fn metadata_documents_that_do_not_hold_are_refused_and_never_redirected_to() {
    let setup = setup().await;
    let redirect = "http://127.0.0.1:9/callback";

    // Its client_id is not its URL.
    let wrong_id = serve_document(&setup.ca, "/wrong-id.json", move |_| {
        json!({"client_id": "https://elsewhere.example.com/client.json", "redirect_uris": [redirect], "token_endpoint_auth_method": "none"})
    })
    .await;
    let (status, prompt) = authorize_as(&setup, &wrong_id, redirect).await;
    assert_eq!(status, 200);
    assert!(
        prompt.contains("\"error\"")
            && prompt.contains("invalid_client")
            && prompt.contains("client_id is not the URL"),
        "{prompt}"
    );

    // A redirect URI the document does not list: shown, never redirected to.
    let listed = serve_document(&setup.ca, "/listed.json", move |url| {
        json!({"client_id": url, "redirect_uris": ["http://127.0.0.1:9/only-this"], "token_endpoint_auth_method": "none"})
    })
    .await;
    let (_, prompt) = authorize_as(&setup, &listed, redirect).await;
    let prompt: Value = serde_json::from_str(&prompt).unwrap();
    assert_eq!(prompt["type"], "error", "shown, not redirected: {prompt}");
    assert!(prompt.to_string().contains("redirect_uri"), "{prompt}");

    // A document that asks for a shared secret.
    let secret = serve_document(&setup.ca, "/secret.json", move |url| {
        json!({"client_id": url, "redirect_uris": [redirect], "token_endpoint_auth_method": "client_secret_basic"})
    })
    .await;
    let (_, prompt) = authorize_as(&setup, &secret, redirect).await;
    assert!(prompt.contains("invalid_client") && prompt.contains("shared secret"), "{prompt}");

    // Plain http, or a URL with no document behind it.
    for url in ["http://127.0.0.1:9/client.json".to_owned(), format!("{}-missing", listed)] {
        let (_, prompt) = authorize_as(&setup, &url, redirect).await;
        assert!(prompt.contains("invalid_client"), "{url}: {prompt}");
    }
}
