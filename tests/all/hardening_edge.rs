//! Every input a stranger can send has a bound, and hitting it gets a clear answer in the
//! endpoint's own format: oversized or malformed client ids, slow or idle connections, too many
//! connections or requests, large headers and bodies, deeply nested JSON. Client
//! authentication failures all look the same, and what a request carries reaches the log
//! escaped and cut short.

use std::time::Duration;

use openidconnect::reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::support::log::Log;
use crate::support::{ADMIN_TOKEN, AUTHZ_TOKEN, TestServer};

/// Long enough for any wait below to end on its own; reaching it means a bound is missing.
const GUARD: Duration = Duration::from_secs(20);

/// A raw HTTP/1.1 connection, for what an HTTP library will not send.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A response as it came: status, head, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    async fn connect(server: &TestServer) -> Raw {
        Raw { stream: TcpStream::connect(("127.0.0.1", server.port)).await.unwrap(), buf: Vec::new() }
    }

    async fn send(&mut self, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
        self.stream.write_all(bytes.as_ref()).await
    }

    /// The next response, or `None` if the server closed the connection first.
    async fn answer(&mut self) -> Option<Answer> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap_or(0);
        while self.buf.len() < end + length {
            assert!(self.fill().await, "the body was cut short");
        }
        let body = String::from_utf8_lossy(&self.buf[end..end + length]).into_owned();
        self.buf.drain(..end + length);
        Some(Answer { status, head, body })
    }

    /// Whether the server has closed the connection (reading until it does).
    async fn closed(&mut self) -> bool {
        while self.fill().await {}
        true
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// A request and its answer on this connection.
    async fn get(&mut self, path: &str, bearer: Option<&str>) -> Answer {
        let auth = bearer.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        self.send(format!("GET {path} HTTP/1.1\r\nHost: gatehouse\r\n{auth}\r\n")).await.unwrap();
        self.answer().await.expect("an answer")
    }
}

fn spawn_answer(mut raw: Raw) -> JoinHandle<Option<Answer>> {
    tokio::spawn(async move { raw.answer().await })
}

async fn token_request(server: &TestServer, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, String) {
    let (status, body, _) = server.token_request(basic, form).await;
    (status, body)
}

#[tokio::test]
async fn client_ids_no_client_can_have_are_refused_before_any_lookup_and_logged_short() {
    let (log, _guard) = Log::capture();
    let server = TestServer::start().await;
    let long = "a".repeat(60_000);
    let failed = json!({"error": "invalid_client", "error_description": "client authentication failed"});
    for _ in 0..50 {
        let (status, body) = token_request(
            &server,
            None,
            &[("grant_type", "client_credentials"), ("client_id", &long), ("client_secret", "x")],
        )
        .await;
        assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (401, failed.clone()));
    }
    let (status, body) =
        token_request(&server, Some((&long[..20_000], "x")), &[("grant_type", "client_credentials")]).await;
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (401, failed.clone()), "in Basic credentials");
    // A client_id of 1.5 MB does not even fit the endpoints' body limits.
    let huge = "c".repeat(1_500_000);
    for _ in 0..10 {
        let (status, body) =
            token_request(&server, None, &[("grant_type", "client_credentials"), ("client_id", &huge)]).await;
        assert_eq!(status, 413);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "invalid_request");
        let query = format!("response_type=code&client_id={huge}");
        let (status, _) = server.api(Method::POST, "/authz-sessions/v1", Some(json!({ "query": query }))).await;
        assert_eq!(status, 413);
    }
    let forged = "app\nERROR gatehouse: forged line";
    let (status, _) =
        token_request(&server, None, &[("grant_type", "client_credentials"), ("client_id", forged)]).await;
    assert_eq!(status, 401, "characters outside the registration rule");

    // At the authorization endpoint (the session start), the same rule: an error prompt that
    // does not repeat the value. A request beyond the whole request's bound is not even parsed.
    let prompt =
        server.start_session(&format!("response_type=code&client_id={}", "b".repeat(200_000)), None, None).await;
    assert_eq!((prompt["type"].as_str(), prompt["error"].as_str()), (Some("error"), Some("invalid_request")));
    assert!(!prompt.to_string().contains("bbbb"), "{prompt}");
    let prompt = server.start_session(&format!("response_type=code&client_id={}", "b".repeat(200)), None, None).await;
    assert_eq!(prompt["type"], "error");
    assert_eq!(prompt["error"], "invalid_client");
    assert_eq!(prompt["error_description"], "the client_id is not a valid client identifier");

    let text = log.text();
    assert!(text.contains("client authentication failed"), "the detail is logged: {text}");
    assert!(text.contains(&format!("{}… (59872 more bytes)", "a".repeat(128))), "cut short, and says so");
    for c in ["a", "b", "c"] {
        assert!(!text.contains(&c.repeat(129)), "no huge value in the log");
    }
    assert!(text.lines().all(|l| !l.starts_with("ERROR gatehouse: forged")), "no forged line: {text}");
    assert!(text.len() < 100_000, "{} bytes of log for 73 requests", text.len());
}

#[tokio::test]
async fn every_client_authentication_failure_answers_the_same() {
    let server = TestServer::start().await;
    let basic = server.register(json!({"redirect_uris": ["https://app.example.com/cb"]})).await;
    let (id, secret) = (basic["client_id"].as_str().unwrap(), basic["client_secret"].as_str().unwrap());
    let public = server
        .register(json!({"redirect_uris": ["https://app.example.com/cb"], "token_endpoint_auth_method": "none"}))
        .await;
    let public_id = public["client_id"].as_str().unwrap();
    let grant = ("grant_type", "client_credentials");

    let unknown = token_request(&server, Some(("no-such-client", "whatever")), &[grant]).await;
    let unknown_post =
        token_request(&server, None, &[grant, ("client_id", "no-such-client"), ("client_secret", "x")]).await;
    let wrong_method = token_request(&server, None, &[grant, ("client_id", id), ("client_secret", secret)]).await;
    let no_secret = token_request(&server, None, &[grant, ("client_id", id)]).await;
    let wrong_secret = token_request(&server, Some((id, "not-the-secret")), &[grant]).await;
    let public_with_secret = token_request(&server, Some((public_id, "a-secret")), &[grant]).await;
    let expected = r#"{"error":"invalid_client","error_description":"client authentication failed"}"#;
    for (what, answer) in [
        ("an unknown client", unknown),
        ("an unknown client, in the body", unknown_post),
        ("the wrong method", wrong_method),
        ("no secret", no_secret),
        ("a wrong secret", wrong_secret),
        ("a secret for a public client", public_with_secret),
    ] {
        assert_eq!(answer, (401, expected.to_owned()), "{what}");
    }
    let (status, body) = token_request(&server, Some((id, secret)), &[grant, ("client_secret", secret)]).await;
    assert_eq!(status, 401);
    assert!(body.contains("more than one client authentication method"), "a request-shape error keeps its message");
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_disconnected() {
    let server = TestServer::start_with_http("header_read_timeout = \"1s\"\nidle_timeout = \"1s\"").await;
    let mut raw = Raw::connect(&server).await;
    raw.send("GET /jwks.json HTTP/1.1\r\nHost: gatehouse\r\n").await.unwrap();
    let mut sent = 0;
    // Twenty lines, one every 300 ms: six seconds of headers against a one-second timeout.
    while sent < 20 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if raw.send(format!("X-Slow-{sent}: 1\r\n")).await.is_err() {
            break;
        }
        sent += 1;
    }
    let _ = raw.send("\r\n").await;
    let answer = tokio::time::timeout(GUARD, raw.answer()).await.unwrap();
    assert!(answer.is_none(), "the trickled request was answered: {answer:?}");
}

#[tokio::test]
async fn a_stalled_body_is_refused_with_408_in_the_endpoints_format() {
    let server = TestServer::start_with_http("body_read_timeout = \"1s\"").await;

    let mut raw = Raw::connect(&server).await;
    raw.send("POST /token HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=")
        .await
        .unwrap();
    let answer = tokio::time::timeout(GUARD, raw.answer()).await.unwrap().expect("an answer");
    assert_eq!(answer.status, 408, "{answer:?}");
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_description"], "the request body did not arrive within 1s");
    assert!(tokio::time::timeout(GUARD, raw.closed()).await.unwrap(), "and the connection is closed");

    let mut raw = Raw::connect(&server).await;
    raw.send(format!(
        "POST /authz-sessions/v1 HTTP/1.1\r\nHost: gatehouse\r\nAuthorization: Bearer {AUTHZ_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\": "
    ))
    .await
    .unwrap();
    let answer = tokio::time::timeout(GUARD, raw.answer()).await.unwrap().expect("an answer");
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(answer.head.to_ascii_lowercase().contains("content-type: application/problem+json"), "{}", answer.head);
    let problem: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(problem["detail"], "the request body did not arrive within 1s");
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let server = TestServer::start_with_http("header_read_timeout = \"60s\"\nidle_timeout = \"1s\"").await;
    let mut silent = Raw::connect(&server).await;
    let mut kept_alive = Raw::connect(&server).await;
    assert_eq!(kept_alive.get("/monitor/v1/health", None).await.status, 200);
    let (silent, kept_alive) =
        tokio::time::timeout(GUARD, async { (silent.closed().await, kept_alive.closed().await) })
            .await
            .expect("idle connections are closed long before the header timeout");
    assert!(silent && kept_alive);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_and_served_ones_are_untouched() {
    let server =
        TestServer::start_with_http("max_connections = 2\nheader_read_timeout = \"60s\"\nidle_timeout = \"60s\"").await;
    let mut first = Raw::connect(&server).await;
    let mut second = Raw::connect(&server).await;
    assert_eq!(first.get("/monitor/v1/health", None).await.status, 200);
    assert_eq!(second.get("/monitor/v1/health", None).await.status, 200);

    let mut third = Raw::connect(&server).await;
    third.send("GET /monitor/v1/health HTTP/1.1\r\nHost: gatehouse\r\n\r\n").await.unwrap();
    let third = spawn_answer(third);

    let metrics = first.get("/monitor/v1/metrics", Some(ADMIN_TOKEN)).await;
    let metrics: Value = serde_json::from_str(&metrics.body).unwrap();
    assert_eq!(metrics["gauges"]["http.connections_open"]["value"], 2.0, "{metrics}");
    assert_eq!(second.get("/monitor/v1/health", None).await.status, 200, "served connections keep working");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "the third connection waits while two are open");

    drop(first);
    let answer = tokio::time::timeout(GUARD, third).await.unwrap().unwrap().expect("an answer");
    assert_eq!(answer.status, 200, "and is served once one closes");
}

#[tokio::test]
async fn requests_beyond_the_cap_wait_for_a_slot() {
    let server = TestServer::start_with_http("max_requests = 1").await;
    // The body is read only once the request holds the one slot: hyper then sends 100 Continue.
    let mut holder = Raw::connect(&server).await;
    holder
        .send("POST /token HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(holder.answer().await.unwrap().status, 100);

    let mut waiting = Raw::connect(&server).await;
    waiting.send("GET /monitor/v1/health HTTP/1.1\r\nHost: gatehouse\r\n\r\n").await.unwrap();
    let waiting = spawn_answer(waiting);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second request waits while the first holds the slot");

    holder.send("grant_type=client_credentials").await.unwrap();
    assert_eq!(holder.answer().await.unwrap().status, 401, "the first is answered");
    let answer = tokio::time::timeout(GUARD, waiting).await.unwrap().unwrap().expect("an answer");
    assert_eq!(answer.status, 200, "then the second");
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let server = TestServer::start().await;
    let get = |size: usize| server.http.get(server.url("/jwks.json")).header("x-padding", "p".repeat(size)).send();
    assert_eq!(get(20_000).await.unwrap().status().as_u16(), 200, "20 kB of headers are fine");
    assert_eq!(get(40_000).await.unwrap().status().as_u16(), 431, "beyond http.max_header_bytes (32 KiB)");
}

#[tokio::test]
async fn oversized_bodies_get_413_in_the_endpoints_format() {
    let server = TestServer::start().await;
    let big_form = format!("grant_type=client_credentials&client_id={}", "a".repeat(100_000));
    let resp = server
        .http
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big_form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "invalid_request", "error_description": "the request body is larger than this endpoint's limit of 65536 bytes"})
    );

    // Without a Content-Length (chunked), the limit holds as the body is read.
    let mut raw = Raw::connect(&server).await;
    raw.send("POST /token HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    for chunk in big_form.as_bytes().chunks(8192) {
        raw.send(format!("{:x}\r\n", chunk.len())).await.unwrap();
        raw.send(chunk).await.unwrap();
        raw.send("\r\n").await.unwrap();
    }
    raw.send("0\r\n\r\n").await.unwrap();
    let answer = raw.answer().await.expect("an answer");
    assert_eq!(answer.status, 413, "chunked: {answer:?}");
    assert!(answer.body.contains("limit of 65536 bytes"), "{}", answer.body);

    let problem = |limit: usize| {
        json!({
            "type": "about:blank", "title": "Payload Too Large", "status": 413, "limit_bytes": limit,
            "detail": format!("the request body is larger than this endpoint's limit of {limit} bytes"),
        })
    };
    let metadata = json!({"redirect_uris": ["https://app.example.com/cb"], "client_name": "x".repeat(100_000)});
    assert_eq!(server.admin(Method::POST, "/clients/v1", Some(metadata)).await, (413, problem(65536)));
    let session = json!({"query": "client_id=x", "data": {"blob": "x".repeat(300_000)}});
    assert_eq!(server.api(Method::POST, "/authz-sessions/v1", Some(session)).await, (413, problem(262144)));
    let session = json!({"query": "client_id=x", "data": {"blob": "x".repeat(200_000)}});
    let (status, problem) = server.api(Method::POST, "/authz-sessions/v1", Some(session)).await;
    assert_eq!(status, 400, "within the body limit, the data limit answers: {problem}");
    assert!(problem["detail"].as_str().unwrap().contains("data is"), "{problem}");
}

#[tokio::test]
async fn json_nested_deeper_than_the_bound_is_refused_with_a_clear_problem() {
    let server = TestServer::start().await;
    let nested = |depth: usize| -> Value { (1..depth).fold(json!([]), |inner, _| json!([inner])) };
    let problem = json!({
        "type": "about:blank", "title": "Bad Request", "status": 400,
        "detail": "the request body nests arrays and objects deeper than 32 levels",
    });
    let session = json!({"query": "client_id=x", "data": {"deep": nested(40)}});
    assert_eq!(server.api(Method::POST, "/authz-sessions/v1", Some(session)).await, (400, problem.clone()));
    let metadata = json!({"redirect_uris": ["https://app.example.com/cb"], "software_statement_extra": nested(40)});
    assert_eq!(server.admin(Method::POST, "/clients/v1", Some(metadata)).await, (400, problem));
    let session = json!({"query": "client_id=x", "data": {"deep": nested(30)}});
    assert_eq!(server.api(Method::POST, "/authz-sessions/v1", Some(session)).await.0, 200, "32 levels are fine");
}
