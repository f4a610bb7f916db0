//! The request-object modules of the Dynamic OP plan (`oidcc-dynamic-certification-test-plan`)
//! that run with a static client: `oidcc-request-uri-unsigned` and
//! `oidcc-request-uri-signed-rs256` (those of the Basic plan and of the others, and
//! `oidcc-claims-essential`, are with the plans' other modules in `conformance::oidcc`). Each
//! sends what the suite's module sends — the authorization request as a request object
//! (`ConvertAuthorizationEndpointRequestToRequestObject`), unsigned
//! (`SerializeRequestObjectWithNullAlgorithm`) or RS256-signed with `iss` and `aud`
//! (`SignRequestObject`), at a `request_uri` the client registered with a fragment
//! (`CreateRandomRequestUriWithFragment`), the query repeating `response_type`, `client_id`,
//! `scope` and `redirect_uri` only — and checks what it checks: the discovery conditions it
//! calls (skipped modules count as failures here: the suite skips them when `none` is not
//! advertised), the callback's `state` and `iss`, the code exchanged, the ID token verified.

use jsonwebtoken::Algorithm;
use openidconnect::Nonce;
use serde_json::{Value, json};

use crate::support::client_jwt::{ClientKey, jwks, random_jti, unsecured};
use crate::support::request_objects::{ObjectServer, object_claims, object_request_url, start};
use crate::support::rp::Rp;
use crate::support::tls::{TestCa, server_trusting};
use crate::support::{TestServer, alice, merge, redirect_params};

const SUITE_CALLBACK: &str = "https://localhost.emobix.co.uk:8443/test/a/gatehouse/callback";

/// The provider's discovery document.
async fn discovery(server: &TestServer) -> Value {
    server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap()
}

/// `skipTestIfNoneUnsupported`: the module runs only if `none` is advertised.
fn none_supported(meta: &Value) -> bool {
    meta["request_object_signing_alg_values_supported"].as_array().is_none_or(|a| a.contains(&json!("none")))
}

/// The suite's client (`client_secret_basic` in the Basic plan; `extra` adds the Dynamic
/// plan's registration members).
async fn suite_client(server: &TestServer, extra: Value) -> (Value, Rp) {
    let mut metadata = json!({
        "client_name": "OIDF Conformance Test oidcc",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "redirect_uris": [SUITE_CALLBACK],
        "contacts": ["certification@oidf.org"],
    });
    merge(&mut metadata, extra);
    let info = server.register(metadata).await;
    let rp = Rp::new(server, &info).await;
    (info, rp)
}

/// The suite's authorization request (`CreateAuthorizationEndpointRequestFromClientInformation`
/// and the state and nonce it adds; no PKCE): its URL, state and nonce.
fn suite_request(server: &TestServer, info: &Value, extra: &[(&str, &str)]) -> (String, String, String) {
    let (state, nonce) = (random_jti(), random_jti());
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs([
        ("client_id", info["client_id"].as_str().unwrap()),
        ("nonce", &nonce),
        ("redirect_uri", SUITE_CALLBACK),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", &state),
    ]);
    query.extend_pairs(extra);
    (format!("{}/authorize?{}", server.base, query.finish()), state, nonce)
}

/// Follows `url` as the browser, logs Alice in and consents, then checks the callback as
/// `AbstractOIDCCServerTest` does (state, RFC 9207 iss, a code, no error), exchanges the code
/// and verifies the ID token (signature, iss, aud, nonce, at_hash) and calls UserInfo.
async fn authorize_and_redeem(server: &TestServer, rp: &Rp, url: &str, state: &str, nonce: &str) {
    let prompt = start(server, url).await;
    assert_eq!(prompt["type"], "auth", "the request object is processed: {prompt}");
    let sid = prompt["sid"].as_str().unwrap();
    server.submit_subject(sid, alice()).await;
    let response = server.submit_consent(sid, json!({"scope": "*"})).await;
    let uri = response["uri"].as_str().unwrap_or_else(|| panic!("a redirect: {response}"));
    assert!(uri.starts_with(SUITE_CALLBACK), "the redirect URI of the request object: {uri}");
    let params = redirect_params(uri);
    assert!(!params.contains_key("error"), "{params:?}");
    assert_eq!(params.get("state").map(String::as_str), Some(state), "CheckMatchingStateParameter");
    assert_eq!(params.get("iss").map(String::as_str), Some(server.issuer.as_str()), "RFC 9207 iss");
    rp.redeem_and_verify(server, &params["code"], None, &Nonce::new(nonce.to_owned())).await;
}

/// A module that sends an object at a `request_uri` (`AbstractOIDCCRequestUriServerTest`).
async fn by_reference(signing: Option<Algorithm>) {
    let ca = TestCa::new();
    let objects = ObjectServer::start(&ca).await;
    let server = server_trusting(&ca).await;
    let meta = discovery(&server).await;
    // CheckDiscEndpointRequestUriParameterSupported (FAILURE; absent means true).
    assert_ne!(meta["request_uri_parameter_supported"], false);
    let request_uri = objects.uri(&random_jti());
    let mut registration = json!({"request_uris": [request_uri]});
    let key = signing.map(|alg| ClientKey::rsa(alg, Some(&random_jti())));
    if let Some(key) = &key {
        // CheckDiscEndpointRequestObjectSigningAlgValuesSupportedContainsRS256 (FAILURE).
        let algs = meta["request_object_signing_alg_values_supported"].as_array().unwrap();
        assert!(algs.contains(&json!("RS256")), "{algs:?}");
        merge(&mut registration, json!({"request_object_signing_alg": "RS256", "jwks": jwks(&[key])}));
    } else {
        assert!(none_supported(&meta), "skipTestIfNoneUnsupported would skip the module");
    }
    let (info, rp) = suite_client(&server, registration).await;
    let (url, state, nonce) = suite_request(&server, &info, &[]);
    let mut claims = object_claims(&url);
    let object = match &key {
        Some(key) => {
            // AddAudToRequestObject, AddIssToRequestObject, SignRequestObject.
            merge(&mut claims, json!({"aud": meta["issuer"], "iss": info["client_id"]}));
            key.sign(&claims)
        }
        None => unsecured(&claims),
    };
    objects.publish(Some(object));
    let request = object_request_url(&server, &url, "request_uri", &request_uri);
    authorize_and_redeem(&server, &rp, &request, &state, &nonce).await;
}

#[tokio::test]
async fn oidcc_request_uri_unsigned() {
    by_reference(None).await;
}

#[tokio::test]
async fn oidcc_request_uri_signed_rs256() {
    by_reference(Some(Algorithm::RS256)).await;
}
