//! The client API: RFC 7591 shapes, secrets returned once and sealed at rest, configuration
//! clients read-only.

use openidconnect::reqwest::Method;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn clients_are_created_read_listed_updated_and_deleted() {
    let server = TestServer::start().await;
    let info = server.register(json!({"client_name": "Shop", "redirect_uris": ["https://shop.example/cb"]})).await;
    let id = info["client_id"].as_str().unwrap();
    let secret = info["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "generated secrets carry 256 bits");
    assert_eq!(info["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(info["grant_types"], json!(["authorization_code"]));

    let (status, read) = server.admin(Method::GET, &format!("/clients/v1/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(read["client_name"], "Shop");
    assert!(read.get("client_secret").is_none(), "the secret is shown once only");

    let (_, list) = server.admin(Method::GET, "/clients/v1", None).await;
    assert!(list.as_array().unwrap().iter().any(|c| c["client_id"] == id));

    let (status, updated) = server
        .admin(
            Method::PUT,
            &format!("/clients/v1/{id}"),
            Some(json!({"client_name": "Shop 2", "redirect_uris": ["https://shop.example/cb2"]})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["redirect_uris"], json!(["https://shop.example/cb2"]));

    let (status, rotated) = server.admin(Method::POST, &format!("/clients/v1/{id}/secret"), None).await;
    assert_eq!(status, 200);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);

    let (status, _) = server.admin(Method::DELETE, &format!("/clients/v1/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, problem) = server.admin(Method::GET, &format!("/clients/v1/{id}"), None).await;
    assert_eq!(status, 404);
    assert!(problem["detail"].as_str().unwrap().contains("no client"));
}

#[tokio::test]
async fn invalid_metadata_is_refused_with_the_rfc_7591_code() {
    let server = TestServer::start().await;
    let cases = [
        (json!({"redirect_uris": ["not a uri"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["https://x.example/cb#frag"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["https://x.example/cb"], "grant_types": ["implicit"]}), "invalid_client_metadata"),
        (
            json!({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": ["https://x.example/cb"], "client_secret": "short"}), "invalid_client_metadata"),
        (json!({"redirect_uris": ["https://x.example/cb"], "access_token_claims": ["sub"]}), "invalid_client_metadata"),
        (json!({"redirect_uris": ["https://x.example/cb"], "access_token_claims": [""]}), "invalid_client_metadata"),
        (
            json!({"redirect_uris": ["https://x.example/cb"], "access_token_claims": (0..33).map(|i| format!("c{i}")).collect::<Vec<_>>()}),
            "invalid_client_metadata",
        ),
    ];
    for (metadata, code) in cases {
        let (status, problem) = server.admin(Method::POST, "/clients/v1", Some(metadata.clone())).await;
        assert_eq!(status, 400, "{metadata}");
        assert_eq!(problem["error"], code, "{metadata}: {problem}");
    }
    let info = server.register(json!({"client_id": "fixed", "redirect_uris": ["https://x.example/cb"]})).await;
    assert_eq!(info["client_id"], "fixed");
    let (status, _) = server
        .admin(
            Method::POST,
            "/clients/v1",
            Some(json!({"client_id": "fixed", "redirect_uris": ["https://x.example/cb"]})),
        )
        .await;
    assert_eq!(status, 409, "client ids are unique");
}

#[tokio::test]
async fn clients_from_the_configuration_file_work_and_are_read_only() {
    let server = TestServer::start_with(
        r#"
[[clients]]
client_id = "configured"
client_secret = "configured-secret-0123456789abcdef0123"
grant_types = ["client_credentials"]
response_types = []
scope = "api:read"
"#,
    )
    .await;
    let resp = server
        .http
        .post(server.url("/token"))
        .basic_auth("configured", Some("configured-secret-0123456789abcdef0123"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, read) = server.admin(Method::GET, "/clients/v1/configured", None).await;
    assert_eq!(read["source"], "config");
    let (status, problem) = server.admin(Method::DELETE, "/clients/v1/configured", None).await;
    assert_eq!(status, 409);
    assert!(problem["detail"].as_str().unwrap().contains("configuration file"));
}

#[tokio::test]
async fn client_secrets_are_not_stored_in_the_clear() {
    let server = TestServer::start().await;
    let info = server.register(json!({"redirect_uris": ["https://x.example/cb"]})).await;
    let secret = info["client_secret"].as_str().unwrap();
    let db = std::fs::read(server.data_dir.join("gatehouse.db")).unwrap();
    let wal = std::fs::read(server.data_dir.join("gatehouse.db-wal")).unwrap_or_default();
    let hay = [db, wal].concat();
    assert!(
        !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the plaintext secret is not in the database files"
    );
    assert!(
        hay.windows(info["client_id"].as_str().unwrap().len())
            .any(|w| w == info["client_id"].as_str().unwrap().as_bytes()),
        "the client itself is"
    );
}
