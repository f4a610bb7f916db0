//! The front-end's `data` object on authorization sessions (seed, v6.2).

use openidconnect::reqwest::Method;
use serde_json::json;

use crate::support::rp::Rp;
use crate::support::{TestServer, alice};

#[tokio::test]
async fn data_is_set_at_start_replaced_read_and_echoed_in_every_prompt() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&["email"], &[]);
    let query = server.browse_authorize(&pending.url).await;

    let prompt = server.start_session(&query, None, Some(json!({"step": 1, "return_to": "/inbox"}))).await;
    assert_eq!(prompt["type"], "auth");
    assert_eq!(prompt["data"], json!({"step": 1, "return_to": "/inbox"}), "echoed in the auth prompt");
    let sid = prompt["sid"].as_str().unwrap().to_owned();
    let data_path = format!("/authz-sessions/v1/{sid}/data");

    let (status, data) = server.api(Method::GET, &data_path, None).await;
    assert_eq!((status, data.clone()), (200, json!({"step": 1, "return_to": "/inbox"})));

    let (status, data) = server.api(Method::PUT, &data_path, Some(json!({"step": 2, "idp": "corp"}))).await;
    assert_eq!((status, data), (200, json!({"step": 2, "idp": "corp"})), "PUT replaces");
    let (_, session) = server.api(Method::GET, &format!("/authz-sessions/v1/{sid}"), None).await;
    assert_eq!(session["data"], json!({"step": 2, "idp": "corp"}), "GET of the session shows it");

    for bad in [json!([1, 2]), json!("text"), json!(42), json!(null), json!(true)] {
        let (status, problem) = server.api(Method::PUT, &data_path, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad} is refused");
        assert!(problem["detail"].as_str().unwrap().contains("data must be a JSON object"), "{problem}");
    }
    let (_, data) = server.api(Method::GET, &data_path, None).await;
    assert_eq!(data, json!({"step": 2, "idp": "corp"}), "refused writes left the data unchanged");

    let prompt = server.submit_subject(&sid, alice()).await;
    assert_eq!(prompt["type"], "consent");
    assert_eq!(prompt["data"], json!({"step": 2, "idp": "corp"}), "echoed in the consent prompt");
    let prompt = server.submit_consent(&sid, json!({"scope": "*", "data": {"step": 3}})).await;
    assert_eq!(prompt["type"], "response");
    assert_eq!(prompt["data"], json!({"step": 3}), "echoed in the response prompt");
}

#[tokio::test]
async fn non_object_data_is_refused_at_start() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&[], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let (status, problem) = server
        .api(Method::POST, "/authz-sessions/v1", Some(json!({"query": query, "data": ["not", "an", "object"]})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["detail"], "data must be a JSON object, not an array");
}

#[tokio::test]
async fn sessions_expire_with_a_clear_404() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&[], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, None, None).await;
    let sid = prompt["sid"].as_str().unwrap();
    server.clock.advance(15 * 60 + 1);
    for (method, path, body) in [
        (Method::GET, format!("/authz-sessions/v1/{sid}"), None),
        (Method::GET, format!("/authz-sessions/v1/{sid}/data"), None),
        (Method::PUT, format!("/authz-sessions/v1/{sid}/subject"), Some(alice())),
    ] {
        let (status, problem) = server.api(method, &path, body).await;
        assert_eq!(status, 404, "{path}");
        assert!(problem["detail"].as_str().unwrap().contains("has expired"), "{problem}");
        assert_eq!(problem["status"], 404);
    }
    let (status, _) = server.api(Method::GET, "/authz-sessions/v1/never-existed", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_denied_session_answers_the_client_and_closes() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let pending = rp.authorize(&[], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let (status, prompt) = server.api(Method::DELETE, &format!("/authz-sessions/v1/{sid}"), None).await;
    assert_eq!(status, 200);
    let params = crate::support::redirect_params(prompt["uri"].as_str().unwrap());
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], *pending.state.secret());
    let (status, _) = server.api(Method::GET, &format!("/authz-sessions/v1/{sid}"), None).await;
    assert_eq!(status, 404, "the session is closed");

    let pending = rp.authorize(&[], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let (_, prompt) = server
        .api(
            Method::DELETE,
            &format!("/authz-sessions/v1/{sid}"),
            Some(json!({"error": "temporarily_unavailable", "error_description": "maintenance"})),
        )
        .await;
    let params = crate::support::redirect_params(prompt["uri"].as_str().unwrap());
    assert_eq!(
        (params["error"].as_str(), params["error_description"].as_str()),
        ("temporarily_unavailable", "maintenance")
    );
    let sid2 = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let (status, problem) =
        server.api(Method::DELETE, &format!("/authz-sessions/v1/{sid2}"), Some(json!({"error": "bogus"}))).await;
    assert_eq!(status, 400, "{problem}");
}
