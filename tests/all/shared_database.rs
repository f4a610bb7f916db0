//! Several hosts sharing one PostgreSQL database act as one provider: a login started on one
//! host finishes on another, keys and clients are shared, single-use codes stay single-use.

use openidconnect::OAuth2TokenResponse;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::rp::Rp;
use crate::support::{TestServer, alice, redirect_params};

/// A fresh database on the PostgreSQL server the test command starts.
pub async fn fresh_database(name: &str) -> String {
    let base = std::env::var("GATEHOUSE_TEST_POSTGRES_URL")
        .expect("GATEHOUSE_TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh, which starts PostgreSQL");
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    base.replace("dbname=postgres", &format!("dbname={name}"))
}

/// The configuration of hosts sharing a fresh database `name` and one master key (in the
/// folder returned, which must outlive them).
pub async fn shared_config(name: &str) -> (String, tempfile::TempDir) {
    let url = fresh_database(name).await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("master.key");
    std::fs::write(&key_file, "7".repeat(64)).unwrap();
    let extra = format!(
        "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 4\n[signing]\nmaster_key_file = \"{}\"\n",
        key_file.display()
    );
    (extra, keys)
}

#[tokio::test]
async fn two_hosts_on_one_postgres_database_act_as_one_provider() {
    let (extra, _keys) = shared_config("gatehouse_e2e_shared").await;
    let a = TestServer::start_with(&extra).await;
    let b = TestServer::start_beside(&a, &extra).await;

    let jwks = |s: &TestServer| {
        let req = s.http.get(s.url("/jwks.json"));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(jwks(&a).await, jwks(&b).await, "one set of signing keys");

    let info = a.web_client(json!({})).await;
    let (status, _) = b.admin(Method::GET, &format!("/clients/v1/{}", info["client_id"].as_str().unwrap()), None).await;
    assert_eq!(status, 200, "a client registered on one host is known to the other");

    let rp = Rp::new(&a, &info).await;
    let pending = rp.authorize(&["email"], &[]);
    let query = a.browse_authorize(&pending.url).await;
    let sid = a.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let prompt = b.submit_subject(&sid, alice()).await;
    assert_eq!(prompt["type"], "consent", "the session started on A continues on B");
    let prompt = b.submit_consent(&sid, json!({"scope": "*"})).await;
    let code = redirect_params(prompt["uri"].as_str().unwrap())["code"].clone();
    let verifier = pending.verifier.secret().clone();

    let tokens =
        rp.redeem(&code, openidconnect::PkceCodeVerifier::new(verifier.clone())).await.expect("A redeems B's code");
    let userinfo: Value = b
        .http
        .get(b.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], "alice@example.com", "B serves UserInfo for A's token");

    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        url::form_urlencoded::byte_serialize(b"https://app.example.com/callback").collect::<String>()
    );
    let replay = b
        .http
        .post(b.url("/token"))
        .basic_auth(info["client_id"].as_str().unwrap(), info["client_secret"].as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 400, "the code is single-use across hosts");
    let resp = a.http.get(a.url("/userinfo")).bearer_auth(tokens.access_token().secret()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401, "and its replay revoked the tokens on every host");
}

#[tokio::test]
async fn hosts_starting_at_once_with_the_same_configured_clients_all_start_and_serve_them() {
    for round in 0..3 {
        let (extra, _keys) = shared_config(&format!("gatehouse_e2e_config_race_{round}")).await;
        let extra = format!(
            "{extra}[[clients]]\nclient_id = \"configured\"\nclient_secret = \"configured-secret-0123456789abcdef\"\ngrant_types = [\"client_credentials\"]\nresponse_types = []\n"
        );
        let (a, b, c) = tokio::join!(
            TestServer::start_with(&extra),
            TestServer::start_with(&extra),
            TestServer::start_with(&extra)
        );
        for s in [&a, &b, &c] {
            let (status, body, _) = s
                .token_request(
                    Some(("configured", "configured-secret-0123456789abcdef")),
                    &[("grant_type", "client_credentials")],
                )
                .await;
            assert_eq!(status, 200, "round {round}: {body}");
        }
    }
}
