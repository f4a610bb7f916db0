//! The provider serving https itself (`http.tls_certificate`): a code flow over TLS, HTTP/2 by
//! ALPN, a certificate replaced while serving, a broken replacement refused, a client that
//! never finishes its handshake cut off.

use std::time::{Duration, Instant};

use openidconnect::reqwest;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::rp::{Rp, login};
use crate::support::tls::TestCa;
use crate::support::{TestServer, alice};

fn client_trusting(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder().add_root_certificate(ca.certificate()).build().unwrap()
}

#[tokio::test]
async fn the_provider_serves_a_code_flow_over_https_with_http2() {
    let ca = TestCa::new();
    let server = TestServer::start_https(&ca, "", "").await;
    assert!(server.issuer.starts_with("https://"), "{}", server.issuer);
    let discovery: serde_json::Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(discovery["issuer"], server.issuer);
    assert!(discovery["token_endpoint"].as_str().unwrap().starts_with("https://"));

    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let (_, login) = login(&server, &rp, &["email"], alice(), json!({"scope": "*"})).await;
    assert_eq!(login.id_claims["iss"], server.issuer);

    let h2 = reqwest::Client::builder()
        .add_root_certificate(ca.certificate())
        .http2_prior_knowledge()
        .build()
        .unwrap()
        .get(server.url("/jwks.json"))
        .send()
        .await
        .expect("an HTTP/2 request over TLS");
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(h2.status(), 200);
    let h1 = reqwest::Client::builder().add_root_certificate(ca.certificate()).http1_only().build().unwrap();
    assert_eq!(h1.get(server.url("/jwks.json")).send().await.unwrap().version(), reqwest::Version::HTTP_11);

    // Plain HTTP on the TLS port gets nowhere.
    let plain = server.url("/jwks.json").replace("https://", "http://");
    assert!(!reqwest::Client::new().get(plain).send().await.is_ok_and(|r| r.status().is_success()));
}

/// A renewed certificate copied over the files serves new connections without a restart; a
/// broken one is refused and the serving one stays.
#[tokio::test]
async fn a_replaced_certificate_serves_without_a_restart() {
    let first = TestCa::new();
    let server = TestServer::start_https(&first, "tls_reload_interval = \"1s\"\n", "").await;
    let (cert, key) = (server.data_dir.join("server.crt"), server.data_dir.join("server.key"));
    assert!(cert.exists() && key.exists());
    let jwks = server.url("/jwks.json");
    assert!(client_trusting(&first).get(&jwks).send().await.is_ok());

    // Half a renewal: a certificate file that is not PEM. The old pair keeps serving.
    std::fs::write(&cert, "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(client_trusting(&first).get(&jwks).send().await.is_ok(), "a broken pair never replaces a working one");

    let second = TestCa::new();
    let tmp = tempfile::tempdir().unwrap();
    let (new_cert, new_key) = second.server_files(tmp.path(), "renewed");
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_cert, &cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A new client for each try: a fresh connection and handshake.
        if client_trusting(&second).get(&jwks).send().await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the renewed certificate never served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(client_trusting(&first).get(&jwks).send().await.is_err(), "the old certificate no longer serves");
}

/// A client that connects and never sends its ClientHello is cut off at the header timeout.
#[tokio::test]
async fn a_stalled_handshake_is_cut_off() {
    let ca = TestCa::new();
    let server = TestServer::start_https(&ca, "header_read_timeout = \"1s\"\nidle_timeout = \"1s\"\n", "").await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), tokio::io::AsyncReadExt::read(&mut tcp, &mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the server closed the connection: {read:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let _ = tcp.shutdown().await;
}
