//! JWT client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9): `private_key_jwt`
//! with inline keys and with a `jwks_uri` served over https, `client_secret_jwt` with the client
//! secret; every forged assertion refused with the one `invalid_client` answer and a reason in
//! the log; and the conformance suite's modules that exercise it, named after their ids.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use gatehouse_protocol::world::Clock;
use jsonwebtoken::{Algorithm, Header};
use openidconnect::core::CoreIdToken;
use openidconnect::{AuthorizationCode, Nonce, OAuth2TokenResponse};
use serde_json::{Value, json};

use crate::support::client_jwt::{ClientKey, JWT_BEARER, assertion_claims, jwks, random_jti, unsecured};
use crate::support::log::Log;
use crate::support::rp::{Rp, consent_to_code, open_session};
use crate::support::tls::{TestCa, server_trusting};
use crate::support::{TestServer, alice, merge, redirect_params, shannon_bits};

fn now(server: &TestServer) -> i64 {
    server.clock.now().0
}

/// The claims the conformance suite puts in an assertion for this client and server.
fn claims(server: &TestServer, client_id: &str) -> Value {
    assertion_claims(client_id, &server.url("/token"), now(server))
}

/// A token request authenticated by `assertion` (and nothing else, like the suite: no
/// `client_id`), with the grant's own parameters; the status and the JSON body.
async fn with_assertion(server: &TestServer, assertion: &str, grant: &[(&str, &str)]) -> (u16, Value) {
    let mut form = grant.to_vec();
    form.extend([("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)]);
    let (status, body, _) = server.token_request(None, &form).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

const CLIENT_CREDENTIALS: &[(&str, &str)] = &[("grant_type", "client_credentials")];

/// A client of the code flow and the client-credentials grant with `extra` metadata.
async fn client(server: &TestServer, extra: Value) -> Value {
    let mut metadata = json!({"grant_types": ["authorization_code", "client_credentials", "refresh_token"]});
    merge(&mut metadata, extra);
    server.web_client(metadata).await
}

/// A code-flow login driven by the `openidconnect` crate whose token request authenticates with
/// the assertion `sign` makes; returns the verified ID token's claims.
async fn login_with_assertion(server: &TestServer, info: &Value, sign: impl FnOnce(&str) -> String) -> Value {
    // The RP library must not send the secret too: the assertion is the one method.
    let mut rp_info = info.clone();
    rp_info.as_object_mut().unwrap().remove("client_secret");
    let rp = Rp::new(server, &rp_info).await;
    let (pending, sid) = open_session(server, &rp, &["email"], &[]).await;
    let (_, code) = consent_to_code(server, &sid, json!({"scope": "*"})).await;
    let assertion = sign(info["client_id"].as_str().unwrap());
    let tokens = rp
        .client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(pending.verifier)
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", assertion)
        .request_async(&rp.http)
        .await
        .expect("the token request authenticated by the assertion");
    let id_claims = rp.verify_id_token(&tokens, &pending.nonce);
    let userinfo = rp.userinfo(tokens.access_token().secret()).await.expect("UserInfo");
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some("alice@example.com"));
    id_claims
}

#[tokio::test]
async fn client_assertions_authenticate_the_code_flow_for_every_algorithm() {
    let server = TestServer::start().await;
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    for method in ["client_secret_jwt", "private_key_jwt"] {
        assert!(discovery["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&json!(method)));
    }
    let algs = discovery["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap().clone();
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256"] {
        assert!(algs.contains(&json!(alg)), "{alg} advertised");
    }
    assert!(!algs.contains(&json!("none")));

    // private_key_jwt, keys inline, with and without kid, with and without a registered alg.
    let keys = [
        (ClientKey::rsa(Algorithm::RS256, None), false),
        (ClientKey::rsa(Algorithm::PS256, Some("ps")), true),
        (ClientKey::ec(Algorithm::ES256, Some("p-256")), false),
        (ClientKey::ec(Algorithm::ES384, None), true),
        (ClientKey::ed25519(Some("ed")), true),
    ];
    for (key, pin_alg) in &keys {
        let alg = format!("{:?}", key.alg);
        let mut extra = json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[key])});
        if *pin_alg {
            extra["token_endpoint_auth_signing_alg"] = json!(alg);
        }
        let info = client(&server, extra).await;
        assert!(info.get("client_secret").is_none(), "a private_key_jwt client gets no secret: {info}");
        let id = login_with_assertion(&server, &info, |client_id| key.sign(&claims(&server, client_id))).await;
        assert_eq!(id["sub"], "alice", "{alg}");
    }

    // client_secret_jwt: the secret is the HMAC key, long enough for HS512.
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let info = client(&server, json!({"token_endpoint_auth_method": "client_secret_jwt"})).await;
        let secret = info["client_secret"].as_str().expect("a client_secret_jwt client has a secret");
        assert!(secret.len() >= 64, "long enough for HS512: {} characters", secret.len());
        let key = ClientKey::hmac(alg, secret);
        let id = login_with_assertion(&server, &info, |client_id| key.sign(&claims(&server, client_id))).await;
        assert_eq!(id["sub"], "alice", "{alg:?}");
    }
}

#[tokio::test]
async fn client_assertion_audience_client_id_and_registration_rules() {
    let server = TestServer::start().await;
    let key = ClientKey::rsa(Algorithm::RS256, Some("k"));
    let info = client(&server, json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&key])})).await;
    let id = info["client_id"].as_str().unwrap();
    // `aud` as the issuer, the token endpoint, or an array holding one of them (RP libraries
    // differ), and the client_id parameter when it matches.
    for aud in [json!(server.issuer), json!(server.url("/token")), json!(["https://other.example", server.issuer])] {
        let mut c = claims(&server, id);
        c["aud"] = aud.clone();
        let (status, body) = with_assertion(&server, &key.sign(&c), CLIENT_CREDENTIALS).await;
        assert_eq!(status, 200, "aud {aud}: {body}");
    }
    let assertion = key.sign(&claims(&server, id));
    let form = [("client_id", id), ("client_assertion_type", JWT_BEARER), ("client_assertion", &assertion)];
    let (status, body, _) = server.token_request(None, &[CLIENT_CREDENTIALS, &form].concat()).await;
    assert_eq!(status, 200, "{body}");

    // Registration: private_key_jwt needs jwks xor jwks_uri (https), a fitting alg.
    let refused = [
        json!({"token_endpoint_auth_method": "private_key_jwt"}),
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&key]), "jwks_uri": "https://rp.example/jwks"}),
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://rp.example/jwks"}),
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&key]), "token_endpoint_auth_signing_alg": "HS256"}),
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&key]), "token_endpoint_auth_signing_alg": "none"}),
        json!({"token_endpoint_auth_method": "client_secret_jwt", "token_endpoint_auth_signing_alg": "RS256"}),
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&key]), "client_secret": "x".repeat(40)}),
        json!({"token_endpoint_auth_method": "client_secret_jwt", "token_endpoint_auth_signing_alg": "HS512",
               "client_secret": "s".repeat(63)}),
    ];
    for extra in refused {
        let mut metadata = json!({"redirect_uris": ["https://app.example.com/cb"]});
        merge(&mut metadata, extra.clone());
        let (status, body) = server.admin(reqwest::Method::POST, "/clients/v1", Some(metadata)).await;
        assert_eq!(status, 400, "{extra}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{extra}: {body}");
    }
    // A client that authenticates with its keys has no secret to rotate; switching it to
    // client_secret_jwt gives it one.
    let path = format!("/clients/v1/{id}");
    let (status, _) = server.admin(reqwest::Method::POST, &format!("{path}/secret"), None).await;
    assert_eq!(status, 409);
    let mut update = info.clone();
    update["token_endpoint_auth_method"] = json!("client_secret_jwt");
    update.as_object_mut().unwrap().remove("jwks");
    let (status, updated) = server.admin(reqwest::Method::PUT, &path, Some(update)).await;
    assert_eq!(status, 200, "{updated}");
    let secret = updated["client_secret"].as_str().expect("a new secret");
    let hs = ClientKey::hmac(Algorithm::HS512, secret);
    let (status, body) = with_assertion(&server, &hs.sign(&claims(&server, id)), CLIENT_CREDENTIALS).await;
    assert_eq!(status, 200, "{body}");
}

/// A JWK set served over https as a client's `jwks_uri`, with a count of the fetches.
#[derive(Clone)]
struct KeyServer {
    url: String,
    jwks: Arc<Mutex<Value>>,
    hits: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start(ca: &TestCa, jwks: Value, cache_control: Option<&'static str>) -> Self {
        let document = Arc::new(Mutex::new(jwks));
        let hits = Arc::new(AtomicUsize::new(0));
        let (doc, count) = (document.clone(), hits.clone());
        let router = Router::new().route(
            "/client1_jwks",
            get(move || {
                let (doc, count) = (doc.clone(), count.clone());
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    let mut response = Response::new(Body::from(doc.lock().unwrap().to_string()));
                    let headers = response.headers_mut();
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    if let Some(cc) = cache_control {
                        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
                    }
                    response
                }
            }),
        );
        let base = ca.serve(router).await;
        Self { url: format!("{base}/client1_jwks"), jwks: document, hits }
    }

    fn publish(&self, jwks: Value) {
        *self.jwks.lock().unwrap() = jwks;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn jwks_uri_keys_are_cached_refetched_for_a_new_kid_and_never_hammered() {
    let ca = TestCa::new();
    let first = ClientKey::rsa(Algorithm::RS256, None).with_thumbprint_kid();
    let keys = KeyServer::start(&ca, jwks(&[&first]), Some("max-age=3600")).await;
    let server = server_trusting(&ca).await;
    let info = client(&server, json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": keys.url})).await;
    let id = info["client_id"].as_str().unwrap();
    let (log, _guard) = Log::capture();
    let fetched = keys.hits();

    let request = |key: &ClientKey| key.sign(&claims(&server, id));
    assert_eq!(with_assertion(&server, &request(&first), CLIENT_CREDENTIALS).await.0, 200);
    assert_eq!(keys.hits(), fetched + 1, "fetched on first use");
    assert_eq!(with_assertion(&server, &request(&first), CLIENT_CREDENTIALS).await.0, 200);
    assert_eq!(keys.hits(), fetched + 1, "then cached");

    // The client rotates its key. Right after the last fetch, the new kid is not fetched for…
    let second = ClientKey::rsa(Algorithm::RS256, None).with_thumbprint_kid();
    keys.publish(jwks(&[&second]));
    assert_eq!(with_assertion(&server, &request(&second), CLIENT_CREDENTIALS).await.0, 401);
    assert_eq!(keys.hits(), fetched + 1, "no refetch within the floor");
    assert!(log.text().contains("unknown key"), "{}", log.text());
    // …but once the floor has passed, the unknown kid has the document fetched again.
    server.clock.advance(31);
    assert_eq!(with_assertion(&server, &request(&second), CLIENT_CREDENTIALS).await.0, 200);
    assert_eq!(keys.hits(), fetched + 2, "refetched for the new kid");
    assert_eq!(with_assertion(&server, &request(&first), CLIENT_CREDENTIALS).await.0, 401, "the old key is gone");

    // A flood of assertions naming kids the client never published fetches nothing within the
    // floor, and once per floor after it.
    let stranger = ClientKey::rsa(Algorithm::RS256, None);
    let flood = |n: usize| {
        let server = &server;
        let stranger = &stranger;
        async move {
            for _ in 0..n {
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some(random_jti());
                let assertion = stranger.sign_with(header, &claims(server, id));
                assert_eq!(with_assertion(server, &assertion, CLIENT_CREDENTIALS).await.0, 401);
            }
        }
    };
    flood(20).await;
    assert_eq!(keys.hits(), fetched + 2, "no fetch within the floor");
    server.clock.advance(31);
    flood(20).await;
    assert_eq!(keys.hits(), fetched + 3, "one fetch per floor interval");
    server.clock.advance(10);
    flood(10).await;
    assert_eq!(keys.hits(), fetched + 3);

    // The document's max-age (an hour) bounds how long the set is used without a fetch.
    server.clock.advance(3600);
    assert_eq!(with_assertion(&server, &request(&second), CLIENT_CREDENTIALS).await.0, 200);
    assert_eq!(keys.hits(), fetched + 4, "fetched again when the copy is an hour old");
    assert_eq!(with_assertion(&server, &request(&second), CLIENT_CREDENTIALS).await.0, 200);
    assert_eq!(keys.hits(), fetched + 4);
}

/// `token` with one bit of its signature changed.
fn flip_signature(token: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[0] ^= 1;
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Whether the log has a refusal line for `client_id` with `reason`.
fn logged_refusal(log: &str, client_id: &str, reason: &str) -> bool {
    log.lines().any(|l| {
        l.contains("INFO")
            && l.contains("client authentication failed")
            && l.contains(&format!("client_id={client_id}"))
            && l.contains(reason)
    })
}

#[tokio::test]
async fn forged_client_assertions_are_refused_and_logged_with_a_reason_but_never_themselves() {
    let server = TestServer::start().await;
    let key = ClientKey::rsa(Algorithm::RS256, Some("a1"));
    let pinned = json!({
        "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&key]),
        "token_endpoint_auth_signing_alg": "RS256",
    });
    let a = client(&server, pinned).await;
    let a_id = a["client_id"].as_str().unwrap().to_owned();
    let s = client(&server, json!({"token_endpoint_auth_method": "client_secret_jwt"})).await;
    let s_id = s["client_id"].as_str().unwrap().to_owned();
    let s_secret = s["client_secret"].as_str().unwrap().to_owned();
    let (log, _guard) = Log::capture();

    let t = now(&server);
    let with = |id: &str, changes: Value| {
        let mut c = claims(&server, id);
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let not_hers = ClientKey::rsa(Algorithm::RS256, Some("a1"));
    let unknown_kid = ClientKey::rsa(Algorithm::RS256, Some("never-published"));
    // HS256 keyed with the client's public key, which anyone can fetch (the classic confusion).
    let public_as_secret = ClientKey::hmac(Algorithm::HS256, &key.jwk.to_string());
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("a1".into());
    let pss_with_her_key = {
        let mut h = Header::new(Algorithm::PS256);
        h.kid = Some("a1".into());
        h
    };
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("expired", key.sign(&with(&a_id, json!({"exp": t - 120, "iat": t - 180, "nbf": t - 180}))), &a_id, "expired"),
        ("not yet valid", key.sign(&with(&a_id, json!({"nbf": t + 300, "exp": t + 600}))), &a_id, "not yet valid"),
        (
            "issued in the future",
            key.sign(&with(&a_id, json!({"iat": t + 300, "exp": t + 600}))),
            &a_id,
            "not yet valid",
        ),
        ("valid for days", key.sign(&with(&a_id, json!({"exp": t + 86_400}))), &a_id, "too long"),
        ("no exp", key.sign(&with(&a_id, json!({"exp": null}))), &a_id, "exp is missing"),
        ("no jti", key.sign(&with(&a_id, json!({"jti": null}))), &a_id, "missing jti"),
        (
            "wrong aud",
            key.sign(&with(&a_id, json!({"aud": "https://elsewhere.example/token"}))),
            &a_id,
            "wrong audience",
        ),
        (
            "aud the userinfo endpoint",
            key.sign(&with(&a_id, json!({"aud": server.url("/userinfo")}))),
            &a_id,
            "wrong audience",
        ),
        ("wrong iss", key.sign(&with(&a_id, json!({"iss": "someone-else"}))), &a_id, "wrong iss"),
        ("unknown sub", key.sign(&with("no-such-client", json!({}))), "no-such-client", "unknown client"),
        ("no sub", key.sign(&with(&a_id, json!({"sub": null}))), "", "wrong sub"),
        ("alg none", unsecured(&with(&a_id, json!({}))), &a_id, "alg none"),
        (
            "HS256 keyed with the public key",
            public_as_secret.sign_with(confused, &with(&a_id, json!({}))),
            &a_id,
            "used client_secret_jwt, registered for private_key_jwt",
        ),
        ("a key not the client's", not_hers.sign(&with(&a_id, json!({}))), &a_id, "bad signature"),
        ("a kid not the client's", unknown_kid.sign(&with(&a_id, json!({}))), &a_id, "unknown key"),
        ("not the registered alg", key.sign_with(pss_with_her_key, &with(&a_id, json!({}))), &a_id, "wrong alg"),
        (
            "the other client's method",
            key.sign(&with(&s_id, json!({}))),
            &s_id,
            "used private_key_jwt, registered for client_secret_jwt",
        ),
        (
            "a wrong client secret",
            ClientKey::hmac(Algorithm::HS256, &"x".repeat(64)).sign(&with(&s_id, json!({}))),
            &s_id,
            "bad signature",
        ),
        ("a changed signature", flip_signature(&key.sign(&with(&a_id, json!({})))), &a_id, "bad signature"),
        ("not a JWS", "not.a.jws".to_owned(), "", "malformed"),
    ];
    for (label, assertion, client_id, reason) in &cases {
        let before = log.text().len();
        let (status, body) = with_assertion(&server, assertion, CLIENT_CREDENTIALS).await;
        assert_eq!(status, 401, "{label}: {body}");
        assert_eq!(body["error"], "invalid_client", "{label}: {body}");
        assert_eq!(body["error_description"], "client authentication failed", "{label}: the one answer");
        let text = log.text()[before..].to_owned();
        assert!(logged_refusal(&text, client_id, reason), "{label}: no INFO line with {reason:?}:\n{text}");
    }

    // Replay: the same assertion twice — the jti is single use.
    let once = key.sign(&claims(&server, &a_id));
    assert_eq!(with_assertion(&server, &once, CLIENT_CREDENTIALS).await.0, 200);
    let before = log.text().len();
    let (status, body) = with_assertion(&server, &once, CLIENT_CREDENTIALS).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(logged_refusal(&log.text()[before..], &a_id, "replayed"), "{}", log.text());

    // The wrong client_assertion_type, a client_id that is not the sub, and an assertion
    // beside Basic credentials.
    let good = key.sign(&claims(&server, &a_id));
    let form =
        [("grant_type", "client_credentials"), ("client_assertion_type", "urn:x:saml"), ("client_assertion", &good)];
    let before = log.text().len();
    let (status, _, _) = server.token_request(None, &form).await;
    assert_eq!(status, 401);
    assert!(logged_refusal(&log.text()[before..], "", "client_assertion_type"), "{}", log.text());
    let form = [
        CLIENT_CREDENTIALS,
        &[("client_id", s_id.as_str()), ("client_assertion_type", JWT_BEARER), ("client_assertion", &good)],
    ]
    .concat();
    let before = log.text().len();
    let (status, _, _) = server.token_request(None, &form).await;
    assert_eq!(status, 401);
    assert!(logged_refusal(&log.text()[before..], &s_id, "differs from the assertion's sub"), "{}", log.text());
    let s_good = ClientKey::hmac(Algorithm::HS256, &s_secret).sign(&claims(&server, &s_id));
    let form = [CLIENT_CREDENTIALS, &[("client_assertion_type", JWT_BEARER), ("client_assertion", &s_good)]].concat();
    let before = log.text().len();
    let (status, body, challenge) = server.token_request(Some((&s_id, &s_secret)), &form).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_client") && body.contains("more than one"), "{body}");
    assert!(challenge.is_some(), "the client tried Basic");
    assert!(logged_refusal(&log.text()[before..], &s_id, "more than one"), "{}", log.text());
    // The same assertion alone still works: refusing the request did not spend its jti.
    assert_eq!(with_assertion(&server, &s_good, CLIENT_CREDENTIALS).await.0, 200);

    // No assertion, nor any signature of one, nor the secret reaches the log.
    let text = log.text();
    for (label, assertion, _, _) in &cases {
        assert!(!text.contains(assertion.as_str()), "{label}: the assertion is in the log");
        if let Some(sig) = assertion.rsplit('.').next().filter(|s| s.len() > 16) {
            assert!(!text.contains(sig), "{label}: its signature is in the log");
        }
        if let Some(payload) = assertion.split('.').nth(1).filter(|p| p.len() > 16) {
            assert!(!text.contains(payload), "{label}: its payload is in the log");
        }
    }
    assert!(!text.contains(&once) && !text.contains(&good) && !text.contains(&s_good));
    assert!(!text.contains(&s_secret), "the client secret is in the log");
}

#[tokio::test]
async fn a_replayed_client_assertion_is_refused_by_every_host_sharing_the_database() {
    let (extra, _keys) = crate::shared_database::shared_config("gatehouse_e2e_assertions").await;
    let a = TestServer::start_with(&extra).await;
    let b = TestServer::start_beside(&a, &extra).await;
    let key = ClientKey::ec(Algorithm::ES256, Some("shared"));
    let info = client(&a, json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&[&key])})).await;
    let id = info["client_id"].as_str().unwrap();
    let (log, _guard) = Log::capture();
    let assertion = key.sign(&claims(&a, id));
    let (status, body) = with_assertion(&a, &assertion, CLIENT_CREDENTIALS).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = with_assertion(&b, &assertion, CLIENT_CREDENTIALS).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    assert!(logged_refusal(&log.text(), id, "replayed"), "{}", log.text());
    // (The audience is the provider's token endpoint: the issuer's, which both hosts share.)
    let fresh = key.sign(&claims(&a, id));
    assert_eq!(with_assertion(&b, &fresh, CLIENT_CREDENTIALS).await.0, 200, "a new jti works on the other host");
}

// ---------------------------------------------------------------------------------------------
// Conformance modules (the Dynamic plan's private_key_jwt variant; common-checks.md §8).

/// The RSA key the suite generates for a client (`GenerateRS256ClientJWKs`): `use: sig`,
/// `alg: RS256`, no kid.
pub(crate) fn suite_key() -> ClientKey {
    let mut key = ClientKey::rsa(Algorithm::RS256, None);
    key.jwk["alg"] = json!("RS256");
    key
}

/// What the suite registers (common-checks.md §9), through the admin API.
async fn suite_client(server: &TestServer, keys: Value, grant_types: &[&str]) -> Value {
    let mut metadata = json!({
        "client_name": "OIDF Conformance Test oidcc",
        "grant_types": grant_types,
        "token_endpoint_auth_method": "private_key_jwt",
        "response_types": ["code"],
        "redirect_uris": ["https://localhost.emobix.co.uk:8443/test/a/gatehouse/callback"],
        "contacts": ["certification@oidf.org"],
    });
    merge(&mut metadata, keys);
    server.register(metadata).await
}

/// The suite's authorization request (no PKCE), the user's login and consent; returns the
/// code, the nonce and the redirect URI.
pub(crate) async fn suite_authorize(
    server: &TestServer,
    info: &Value,
    scope: &str,
    extra: &[(&str, &str)],
    consent: Value,
) -> (String, String, String) {
    let redirect_uri = info["redirect_uris"][0].as_str().unwrap().to_owned();
    let (state, nonce) = (random_jti(), random_jti());
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs([
        ("client_id", info["client_id"].as_str().unwrap()),
        ("nonce", &nonce),
        ("redirect_uri", &redirect_uri),
        ("response_type", "code"),
        ("scope", scope),
        ("state", &state),
    ]);
    query.extend_pairs(extra);
    let front = server.browse_authorize(&format!("{}?{}", server.url("/authorize"), query.finish())).await;
    let sid = server.start_session(&front, None, None).await["sid"].as_str().unwrap().to_owned();
    server.submit_subject(&sid, alice()).await;
    let prompt = server.submit_consent(&sid, consent).await;
    let uri = prompt["uri"].as_str().unwrap();
    assert!(uri.starts_with(&redirect_uri), "{uri}");
    let params = redirect_params(uri);
    assert_eq!(params["state"], state, "CheckStateInAuthorizationResponse");
    assert_eq!(params["iss"], server.issuer, "ValidateIssIfPresentInAuthorizationResponse");
    (params["code"].clone(), nonce, redirect_uri)
}

/// A token-endpoint response as the suite checks it: 200, JSON, `Cache-Control: no-store`,
/// `token_type` Bearer, `expires_in` (oidcc-server: WARN if missing) and an access token.
pub(crate) async fn suite_token_request(server: &TestServer, form: &[(&str, &str)]) -> Value {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.extend_pairs(form);
    let resp = server
        .http
        .post(server.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(ser.finish())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.expect("EnsureContentTypeJson");
    assert_eq!(status, 200, "{body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(headers["cache-control"].to_str().unwrap().contains("no-store"));
    assert!(body["token_type"].as_str().unwrap().eq_ignore_ascii_case("bearer"), "{body}");
    let expires_in = body["expires_in"].as_u64().expect("ExtractExpiresInFromTokenEndpointResponse");
    assert!(expires_in > 0 && expires_in <= 365 * 24 * 3600);
    assert!(body["access_token"].is_string());
    body
}

/// The token request of the authorization-code grant with a client assertion, no client_id.
pub(crate) async fn redeem(server: &TestServer, code: &str, redirect_uri: &str, assertion: &str) -> Value {
    suite_token_request(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

/// The ID token verified by the `openidconnect` crate (signature against the JWK set, iss,
/// aud, exp, nonce); its claims as JSON.
pub(crate) async fn verified_id_token(server: &TestServer, info: &Value, tokens: &Value, nonce: &str) -> Value {
    let rp = Rp::new(server, info).await;
    let id_token: CoreIdToken = tokens["id_token"].as_str().expect("an ID token").parse().expect("a JWT");
    id_token.claims(&rp.client.id_token_verifier(), &Nonce::new(nonce.to_owned())).expect("the ID token verifies");
    use base64::Engine;
    let payload = tokens["id_token"].as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn userinfo_status(server: &TestServer, access_token: &str) -> u16 {
    server.http.get(server.url("/userinfo")).bearer_auth(access_token).send().await.unwrap().status().as_u16()
}

/// A server, the suite's client with an inline key, and its standard authorization request
/// done: the key, the client, the code, the nonce and the redirect URI.
async fn suite_inline_login(server: &TestServer) -> (ClientKey, Value, String, String, String) {
    let key = suite_key();
    let info = suite_client(server, json!({"jwks": jwks(&[&key])}), &["authorization_code"]).await;
    let (code, nonce, redirect_uri) = suite_authorize(server, &info, "openid", &[], json!({"scope": "*"})).await;
    (key, info, code, nonce, redirect_uri)
}

#[tokio::test]
async fn oidcc_server() {
    let server = TestServer::start().await;
    let (key, info, code, nonce, redirect_uri) = suite_inline_login(&server).await;
    let id = info["client_id"].as_str().unwrap();
    assert!(code.len() >= 16, "EnsureMinimumAuthorizationCodeLength");
    assert!(shannon_bits(&code) > 96.0, "EnsureMinimumAuthorizationCodeEntropy");
    let assertion = key.sign(&claims(&server, id));
    assert!(!assertion.split('.').next().unwrap().is_empty());
    let tokens = redeem(&server, &code, &redirect_uri, &assertion).await;
    let id_token = verified_id_token(&server, &info, &tokens, &nonce).await;
    assert!(id_token.get("name").is_none(), "EnsureIdTokenDoesNotContainName");
    const ALLOWED: &str = "iss sub aud exp iat auth_time nonce acr amr azp at_hash c_hash s_hash nbf jti sid txn \
                           openbanking_intent_id";
    for claim in id_token.as_object().unwrap().keys() {
        let allowed = ALLOWED.split_ascii_whitespace().any(|c| c == claim);
        assert!(allowed, "EnsureIdTokenDoesNotContainNonRequestedClaims: {claim}");
    }
    assert_eq!(userinfo_status(&server, tokens["access_token"].as_str().unwrap()).await, 200);
}

#[tokio::test]
async fn oidcc_ensure_client_assertion_with_iss_aud_succeeds() {
    let server = TestServer::start().await;
    let (key, info, code, nonce, redirect_uri) = suite_inline_login(&server).await;
    let id = info["client_id"].as_str().unwrap();
    // UpdateClientAuthenticationAssertionClaimsWithISSAud: `aud` is the issuer.
    let mut c = claims(&server, id);
    c["aud"] = json!(server.issuer);
    let tokens = redeem(&server, &code, &redirect_uri, &key.sign(&c)).await;
    verified_id_token(&server, &info, &tokens, &nonce).await;
}

#[tokio::test]
async fn oidcc_registration_jwks_uri() {
    let ca = TestCa::new();
    let key = suite_key().with_thumbprint_kid();
    let keys = KeyServer::start(&ca, jwks(&[&key]), None).await;
    let server = server_trusting(&ca).await;
    let info = suite_client(&server, json!({"jwks_uri": keys.url}), &["authorization_code"]).await;
    assert_eq!(info["jwks_uri"], keys.url.as_str());
    let id = info["client_id"].as_str().unwrap();
    let (code, nonce, redirect_uri) = suite_authorize(&server, &info, "openid", &[], json!({"scope": "*"})).await;
    let before = keys.hits();
    let tokens = redeem(&server, &code, &redirect_uri, &key.sign(&claims(&server, id))).await;
    assert_eq!(keys.hits(), before + 1, "the assertion was verified with the key fetched from jwks_uri");
    verified_id_token(&server, &info, &tokens, &nonce).await;
    assert_eq!(userinfo_status(&server, tokens["access_token"].as_str().unwrap()).await, 200);
}

#[tokio::test]
async fn oidcc_refresh_token_rp_key_rotation() {
    let ca = TestCa::new();
    let first = suite_key().with_thumbprint_kid();
    let keys = KeyServer::start(&ca, jwks(&[&first]), None).await;
    let server = server_trusting(&ca).await;
    let info = suite_client(&server, json!({"jwks_uri": keys.url}), &["authorization_code", "refresh_token"]).await;
    let id = info["client_id"].as_str().unwrap();
    let scope = "openid offline_access";
    let consent = json!({"scope": "*", "refresh_token": {"issue": true}});
    let (code, nonce, redirect_uri) = suite_authorize(&server, &info, scope, &[("prompt", "consent")], consent).await;
    let tokens = redeem(&server, &code, &redirect_uri, &first.sign(&claims(&server, id))).await;
    let id_token = verified_id_token(&server, &info, &tokens, &nonce).await;
    let refresh_token = tokens["refresh_token"].as_str().expect("ExtractRefreshTokenFromTokenResponse");

    // The RP publishes a new key (new kid) at the same URI and, after the suite's
    // jwks_refresh_delay of 60 s, refreshes with an assertion the new key signed.
    let second = suite_key().with_thumbprint_kid();
    assert_ne!(first.kid(), second.kid());
    keys.publish(jwks(&[&second]));
    server.clock.advance(60);
    let assertion = second.sign(&claims(&server, id));
    let refreshed = suite_token_request(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", scope),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    let new_refresh = refreshed["refresh_token"].as_str().expect("a rotated refresh token");
    assert!(new_refresh.len() >= 22, "at least 16 bytes of entropy");
    // The new ID token (the suite checks one if there is one): a different iat, the same iss,
    // sub, aud and auth_time.
    use base64::Engine;
    let payload = refreshed["id_token"].as_str().expect("a new ID token").split('.').nth(1).unwrap();
    let new_id: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_ne!(new_id["iat"], id_token["iat"]);
    for claim in ["iss", "sub", "aud", "auth_time"] {
        assert_eq!(new_id[claim], id_token[claim], "{claim}");
    }
    assert_eq!(userinfo_status(&server, refreshed["access_token"].as_str().unwrap()).await, 200);
}
