//! The provider's outbound fetches (`jwks_uri`, `sector_identifier_uri`, `request_uri`):
//! https with the configured CA, the egress policy, no redirects, a size cap.

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use gatehouse_protocol::fetch::{FetchError, Fetcher};
use gatehouse_server::config::OutboundConfig;
use gatehouse_server::outbound::Outbound;

use crate::support::tls::TestCa;

fn outbound(ca: &TestCa, allow_private: bool) -> Outbound {
    let config = OutboundConfig {
        timeout: Duration::from_secs(2),
        allow_private_addresses: allow_private,
        allowed_networks: Vec::new(),
        ca_file: Some(ca.file.clone()),
    };
    Outbound::new(&config).expect("outbound client")
}

async fn documents(ca: &TestCa) -> String {
    let router = Router::new()
        .route("/jwks", get(|| async { ([(header::CACHE_CONTROL, "public, max-age=300")], r#"{"keys":[]}"#) }))
        .route("/big", get(|| async { "x".repeat(100_000) }))
        .route("/moved", get(|| async { axum::response::Redirect::temporary("/jwks").into_response() }))
        .route("/missing", get(|| async { axum::http::StatusCode::NOT_FOUND }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        );
    ca.serve(router).await
}

#[tokio::test]
async fn documents_are_fetched_over_https_within_their_bounds() {
    let ca = TestCa::new();
    let base = documents(&ca).await;
    let fetcher = outbound(&ca, true);
    let doc = fetcher.get(&format!("{base}/jwks"), 10_000).await.expect("fetched");
    assert_eq!(doc.body, br#"{"keys":[]}"#);
    assert_eq!(doc.max_age, Some(300));
    assert_eq!(fetcher.get(&format!("{base}/big"), 10_000).await, Err(FetchError::TooLarge(10_000)));
    assert_eq!(fetcher.get(&format!("{base}/moved"), 10_000).await, Err(FetchError::Status(307)), "no redirects");
    assert_eq!(fetcher.get(&format!("{base}/missing"), 10_000).await, Err(FetchError::Status(404)));
    assert!(matches!(fetcher.get(&format!("{base}/slow"), 10_000).await, Err(FetchError::Unreachable(_))));
    let http = base.replace("https://", "http://");
    assert!(matches!(fetcher.get(&format!("{http}/jwks"), 10_000).await, Err(FetchError::Refused(_))));
    let creds = base.replace("https://", "https://user:pw@");
    assert!(matches!(fetcher.get(&format!("{creds}/jwks"), 10_000).await, Err(FetchError::Refused(_))));
    // A server whose certificate the provider does not trust.
    let stranger = TestCa::new();
    let untrusted = documents(&stranger).await;
    assert!(matches!(fetcher.get(&format!("{untrusted}/jwks"), 10_000).await, Err(FetchError::Unreachable(_))));
}

/// By default the provider fetches nothing from loopback, private or metadata addresses,
/// whether the URL names them as literals or by a name that resolves to them.
#[tokio::test]
async fn private_addresses_are_refused_by_default_however_they_are_named() {
    let ca = TestCa::new();
    let base = documents(&ca).await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let fetcher = outbound(&ca, false);
    for url in [
        format!("{base}/jwks"),
        format!("https://localhost:{port}/jwks"),
        format!("https://[::ffff:127.0.0.1]:{port}/jwks"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://10.0.0.1/jwks".to_owned(),
    ] {
        match fetcher.get(&url, 10_000).await {
            Err(FetchError::Refused(why)) => assert!(why.contains("refused"), "{url}: {why}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}
