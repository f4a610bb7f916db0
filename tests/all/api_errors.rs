//! The host's JSON APIs answer bad input with problem documents (RFC 9457).

use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, AUTHZ_TOKEN, TestServer};

async fn raw(
    server: &TestServer,
    token: Option<&str>,
    method: Method,
    path: &str,
    ct: &str,
    body: &str,
) -> (u16, String, Value) {
    let mut req = server.http.request(method, server.url(path)).header("content-type", ct).body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ct, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_json_gets_400_with_a_clear_problem() {
    let server = TestServer::start().await;
    let (status, ct, problem) =
        raw(&server, Some(AUTHZ_TOKEN), Method::POST, "/authz-sessions/v1", "application/json", "{\"query\": ").await;
    assert_eq!(status, 400);
    assert_eq!(ct, "application/problem+json");
    assert_eq!(problem["status"], 400);
    assert!(problem["detail"].as_str().unwrap().starts_with("the request body is not valid"), "{problem}");

    let (status, _, problem) =
        raw(&server, Some(AUTHZ_TOKEN), Method::POST, "/authz-sessions/v1", "application/json", r#"{"quer": "x"}"#)
            .await;
    assert_eq!(status, 400);
    assert!(problem["detail"].as_str().unwrap().contains("quer"), "unknown fields are named: {problem}");

    let (status, _, problem) =
        raw(&server, Some(AUTHZ_TOKEN), Method::POST, "/authz-sessions/v1", "text/plain", "hello").await;
    assert_eq!(status, 415, "{problem}");
    let (status, _, _) = raw(&server, Some(ADMIN_TOKEN), Method::POST, "/clients/v1", "application/json", "[").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_wrong_or_missing_bearer_token_gets_401_with_a_clear_problem() {
    let server = TestServer::start().await;
    let body = json!({"query": "client_id=x"}).to_string();
    let (status, ct, problem) =
        raw(&server, Some("wrong"), Method::POST, "/authz-sessions/v1", "application/json", &body).await;
    assert_eq!((status, ct.as_str()), (401, "application/problem+json"));
    assert_eq!(problem["detail"], "the bearer token is not valid for the authorization-session API");
    let (status, _, problem) = raw(&server, None, Method::POST, "/authz-sessions/v1", "application/json", &body).await;
    assert_eq!(status, 401);
    assert!(problem["detail"].as_str().unwrap().contains("needs an Authorization: Bearer token"));
    let (status, _, _) = raw(&server, Some(AUTHZ_TOKEN), Method::GET, "/clients/v1", "application/json", "").await;
    assert_eq!(status, 401, "the front-end's token does not open the client API");
    let (status, _, _) =
        raw(&server, Some(ADMIN_TOKEN), Method::POST, "/authz-sessions/v1", "application/json", &body).await;
    assert_eq!(status, 401, "nor the admin token the session API");
    let (status, _, _) = raw(&server, Some("wrong"), Method::GET, "/monitor/v1/metrics", "application/json", "").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn unknown_endpoints_get_a_problem_document() {
    let server = TestServer::start().await;
    let (status, ct, problem) = raw(&server, None, Method::GET, "/no/such/thing", "application/json", "").await;
    assert_eq!((status, ct.as_str()), (404, "application/problem+json"));
    assert_eq!(problem["detail"], "no such endpoint: /no/such/thing");
}

#[tokio::test]
async fn token_endpoint_refuses_non_form_bodies() {
    let server = TestServer::start().await;
    let (status, _, body) = raw(&server, None, Method::POST, "/token", "application/json", "{}").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn metrics_show_requests_and_storage_pool_gauges() {
    let server = TestServer::start().await;
    server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap();
    let (status, metrics) = server.admin(Method::GET, "/monitor/v1/metrics", None).await;
    assert_eq!(status, 200);
    assert!(metrics["gauges"]["storage.pool.idle_connections"]["value"].as_f64().unwrap() >= 1.0, "{metrics}");
    assert!(metrics["gauges"].get("storage.pool.max_wait_ms").is_some());
    assert_eq!(metrics["timers"]["http.requests{route=/.well-known/openid-configuration,status=2xx}"]["count"], 1);
    let text = server
        .http
        .get(server.url("/monitor/v1/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("# TYPE gatehouse_storage_pool_active_connections gauge"), "{text}");
    let health: Value = server.http.get(server.url("/monitor/v1/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let server = TestServer::start().await;
    let doc = server.http.get(server.url("/openapi.yaml")).send().await.unwrap().text().await.unwrap();
    for path in [
        "/authz-sessions/v1:",
        "/authz-sessions/v1/{sid}:",
        "/authz-sessions/v1/{sid}/subject:",
        "/authz-sessions/v1/{sid}/consent:",
        "/authz-sessions/v1/{sid}/data:",
        "/clients/v1:",
        "/clients/v1/{client_id}:",
        "/clients/v1/{client_id}/secret:",
        "/monitor/v1/metrics:",
        "/admin/v1/plugins:",
        "/admin/v1/plugins/{name}/activate:",
        "/admin/v1/plugins/{name}/rollback:",
        "/admin/v1/plugins/{name}/deactivate:",
    ] {
        assert!(doc.contains(path), "the OpenAPI document lacks {path}");
    }
}
