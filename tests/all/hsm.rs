//! Signing keys in a PKCS#11 HSM (SoftHSM2, a real module): code flows whose ID tokens and
//! access tokens verify against the published JWK set, roll-over by certificate validity with
//! the server's clock moved, a key added while the server runs, metrics, and bad
//! configuration stopping start-up.

use std::collections::BTreeSet;

use gatehouse_protocol::world::{Clock, SystemClock, UnixTime};
use gatehouse_server::{Config, Gatehouse, Overrides};
use gatehouse_signer::pkcs11::admin::KeyKind;
use gatehouse_signer::softhsm::{self, MODULE, TestToken};
use openidconnect::OAuth2TokenResponse;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::code_flow::verify_independently;
use crate::support::rp::{Rp, login};
use crate::support::{TestServer, alice};

const DAY: u64 = 86_400;

/// The `[signing]` section for a token, with `extra` lines in `[signing.pkcs11]`.
fn signing(token: &TestToken, extra: &str) -> String {
    format!(
        "[signing]\nbackend = \"pkcs11\"\n[signing.pkcs11]\nmodule = \"{MODULE}\"\ntoken_label = \"{}\"\npin_file = \"{}\"\nrescan_interval = \"1h\"\n{extra}\n",
        token.label,
        token.pin_file.display()
    )
}

fn now() -> UnixTime {
    SystemClock.now()
}

async fn jwks(server: &TestServer) -> Value {
    server.http.get(server.url("/jwks.json")).send().await.unwrap().json().await.unwrap()
}

/// The published signing keys: the JWK set also carries the provider's `use: enc` keys.
async fn signing_keys(server: &TestServer) -> Vec<Value> {
    jwks(server).await["keys"].as_array().unwrap().iter().filter(|k| k["use"] == "sig").cloned().collect()
}

async fn published(server: &TestServer) -> BTreeSet<String> {
    signing_keys(server).await.iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn kid(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

/// A login by a client that wants ID tokens in `alg`; returns (ID token, access token).
async fn tokens(server: &TestServer, alg: &str) -> (String, String) {
    let info = server.web_client(json!({ "id_token_signed_response_alg": alg })).await;
    let rp = Rp::new(server, &info).await;
    let (_, login) = login(server, &rp, &["email"], alice(), json!({"scope": "*"})).await;
    let id_token = login.tokens.extra_fields().id_token().unwrap().to_string();
    let access_token = login.tokens.access_token().secret().clone();
    let claims = verify_independently(server, &id_token, info["client_id"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], "alice");
    verify_independently(server, &access_token, &server.base).await;
    (id_token, access_token)
}

#[tokio::test]
async fn hsm_keys_sign_code_flows_in_every_algorithm() {
    let token = softhsm::token("e2e-algorithms");
    let now = now();
    let ec = token.key("ec", KeyKind::P256, now.minus(DAY), now.plus(30 * DAY));
    let p384 = token.key("p384", KeyKind::P384, now.minus(DAY), now.plus(30 * DAY));
    let rsa = token.key("rsa", KeyKind::Rsa { bits: 2048 }, now.minus(DAY), now.plus(30 * DAY));
    let expired = token.key("expired", KeyKind::P256, now.minus(30 * DAY), now.minus(10 * DAY));
    let future = token.key("future", KeyKind::P256, now.plus(10 * DAY), now.plus(60 * DAY));
    let server = TestServer::start_with(&signing(&token, "")).await;

    let expected: BTreeSet<String> = [&ec, &p384, &rsa].iter().map(|k| k.kid.clone()).collect();
    assert_eq!(published(&server).await, expected, "neither the expired nor the future key is published");
    assert!(!published(&server).await.contains(&expired.kid) && !published(&server).await.contains(&future.kid));
    for key in &signing_keys(&server).await {
        assert!(key["x5c"][0].is_string() && key["x5t#S256"].is_string(), "{key}");
    }
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    for alg in ["ES256", "ES384", "RS256", "PS256"] {
        let supported = discovery["id_token_signing_alg_values_supported"].as_array().unwrap();
        assert!(supported.contains(&json!(alg)), "{alg} advertised: {discovery}");
    }

    for (alg, key) in [("RS256", &rsa), ("PS256", &rsa), ("ES384", &p384), ("ES256", &ec)] {
        let (id_token, access_token) = tokens(&server, alg).await;
        assert_eq!(jsonwebtoken::decode_header(&id_token).unwrap().alg, alg.parse().unwrap());
        assert_eq!(kid(&id_token), key.kid, "{alg} ID tokens are signed by the HSM key");
        assert_eq!(kid(&access_token), ec.kid, "access tokens are ES256, signed by the P-256 key");
    }

    let (status, metrics) = server.admin(Method::GET, "/monitor/v1/metrics", None).await;
    assert_eq!(status, 200);
    let signed = &metrics["counters"][format!("signing.operations{{kid={},alg=ES256}}", ec.kid)]["count"];
    assert!(signed.as_u64().unwrap() >= 4, "{metrics}");
    // The configured two session threads, and the inline session (`inline_below`).
    assert_eq!(metrics["gauges"]["signing.pool.max_sessions"]["value"], 3.0, "{metrics}");
    assert!(metrics["gauges"]["storage.pool.idle_connections"].is_object(), "beside the storage pool: {metrics}");
}

#[tokio::test]
async fn hsm_keys_roll_over_as_the_server_clock_passes_their_validity() {
    let token = softhsm::token("e2e-rollover");
    let now = now();
    let first = token.key("first", KeyKind::P256, now.minus(DAY), now.plus(2 * DAY));
    let second = token.key("second", KeyKind::P256, now.plus(DAY), now.plus(30 * DAY));
    let server = TestServer::start_with(&signing(&token, "publish_ahead = \"2d\"\nretire_grace = \"1d\"")).await;

    let (early_id, early_access) = tokens(&server, "ES256").await;
    assert_eq!(kid(&early_id), first.kid);
    assert_eq!(
        published(&server).await,
        BTreeSet::from([first.kid.clone(), second.kid.clone()]),
        "second published ahead"
    );

    // Past the second key's not-before: it signs; the first key's tokens still verify.
    server.clock.advance(DAY as i64 + 60);
    let (id, access) = tokens(&server, "ES256").await;
    assert_eq!((kid(&id), kid(&access)), (second.kid.clone(), second.kid.clone()));
    verify_independently(&server, &early_access, &server.base).await;

    // Past the first key's not-after, within the grace period: still published.
    server.clock.advance(DAY as i64);
    assert!(published(&server).await.contains(&first.kid));
    verify_independently(&server, &early_access, &server.base).await;

    // Past the grace period: gone. (The token itself expired long before, in server time.)
    server.clock.advance(DAY as i64);
    assert_eq!(published(&server).await, BTreeSet::from([second.kid.clone()]));
    let (status, plan) = server.admin(Method::GET, "/admin/v1/keys", None).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["active"], json!([{ "alg": "ES256", "kid": second.kid }]), "{plan}");
}

#[tokio::test]
async fn a_key_put_on_the_token_goes_live_after_a_rescan_without_a_restart() {
    let token = softhsm::token("e2e-added");
    let now = now();
    token.key("ec", KeyKind::P256, now.minus(DAY), now.plus(30 * DAY));
    let server = TestServer::start_with(&signing(&token, "")).await;
    let (status, _) = server
        .admin(
            Method::POST,
            "/clients/v1",
            Some(
                json!({"redirect_uris": ["https://app.example.com/callback"], "id_token_signed_response_alg": "RS256"}),
            ),
        )
        .await;
    assert_eq!(status, 400, "no RSA key yet");

    let rsa = token.key("rsa", KeyKind::Rsa { bits: 2048 }, now.minus(DAY), now.plus(30 * DAY));
    let (status, report) = server.admin(Method::POST, "/admin/v1/keys/rescan", None).await;
    assert_eq!(status, 200, "{report}");
    assert!(report["keys"].as_array().unwrap().contains(&json!(rsa.kid)), "{report}");
    assert!(published(&server).await.contains(&rsa.kid));
    let (id_token, _) = tokens(&server, "PS256").await;
    assert_eq!(kid(&id_token), rsa.kid);

    let (status, _) =
        server.http.post(server.url("/admin/v1/keys/rescan")).send().await.map(|r| (r.status(), ())).unwrap();
    assert_eq!(status.as_u16(), 401, "the admin API needs the master token");
}

#[tokio::test]
async fn the_software_backend_has_no_key_ring_to_rescan() {
    let server = TestServer::start().await;
    let (status, body) = server.admin(Method::POST, "/admin/v1/keys/rescan", None).await;
    assert_eq!(status, 409, "{body}");
}

/// Builds a server from `extra` configuration; returns the start-up error.
async fn start_up_error(extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!("issuer = \"http://127.0.0.1:1\"\ndata_dir = \"{}\"\n{extra}", dir.path().display());
    let config = match Config::from_toml(&toml) {
        Ok(config) => config,
        Err(e) => return e.to_string(),
    };
    match Gatehouse::build(&config, Overrides::default()).await {
        Ok(_) => panic!("start-up must fail with {extra}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn bad_hsm_configuration_stops_start_up_with_a_clear_message() {
    let token = softhsm::token("e2e-badconfig");
    let now = now();
    token.key("ec", KeyKind::P256, now.minus(DAY), now.plus(30 * DAY));

    let wrong_pin = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong_pin.path(), "00000000").unwrap();
    let config =
        signing(&token, "").replace(&token.pin_file.display().to_string(), &wrong_pin.path().display().to_string());
    let e = start_up_error(&config).await;
    assert!(e.contains("CKR_PIN_INCORRECT") && e.contains("pin_file or pin_env") && !e.contains("00000000"), "{e}");

    let e = start_up_error(&signing(&token, "").replace(&token.label, "no-such-token")).await;
    assert!(e.contains("no token labelled \"no-such-token\"") && e.contains("token_label"), "{e}");

    let e = start_up_error(&signing(&token, "").replace(MODULE, "/nonexistent/module.so")).await;
    assert!(e.contains("cannot load the PKCS#11 module /nonexistent/module.so") && e.contains("module"), "{e}");

    let e = start_up_error("[signing]\nbackend = \"pkcs11\"\n").await;
    assert!(e.contains("[signing.pkcs11] is missing"), "{e}");

    let e = start_up_error(&signing(&token, "retire_grace = \"10m\"")).await;
    assert!(e.contains("retire_grace") && e.contains("longest token lifetime"), "{e}");

    let e = start_up_error(&signing(&token, "pin = \"1234\"")).await;
    assert!(e.contains("pin"), "unknown keys are refused: {e}");

    let e = start_up_error(&signing(&token, "").replace("[signing]\n", "[signing]\nid_token_alg = \"RS256\"\n")).await;
    assert!(e.contains("signing.id_token_alg is RS256"), "no RSA key on the token: {e}");
}
