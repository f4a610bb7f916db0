//! Request objects (OpenID Connect Core §6, RFC 9101) by value and by reference, unsigned
//! and signed with every algorithm clients sign with, each refusal with its exact error and
//! where it is delivered (never a redirect to an unverified URI); and the `claims` parameter
//! (Core §5.5): claims where they were asked for, `essential` `acr` values.

use gatehouse_protocol::world::Clock;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::support::client_jwt::{ClientKey, jwks, unsecured};
use crate::support::request_objects::{ObjectServer, complete, object_claims, object_request_url, start};
use crate::support::rp::Rp;
use crate::support::tls::{TestCa, server_trusting};
use crate::support::{TestServer, alice, merge, redirect_params};

const CALLBACK: &str = "https://app.example.com/callback";

/// Signs `claims` with `key`, or leaves them unsigned without one.
fn object(key: Option<&ClientKey>, claims: &Value) -> String {
    match key {
        Some(key) => key.sign(claims),
        None => unsecured(claims),
    }
}

/// A client with `extra` metadata and the RP library configured for it.
async fn client(server: &TestServer, extra: Value) -> (Value, Rp) {
    let info = server.web_client(extra).await;
    let rp = Rp::new(server, &info).await;
    (info, rp)
}

/// The keys of a client that signs with `alg` (HS* keyed with the secret, registered later).
fn key_for(alg: Algorithm) -> ClientKey {
    match alg {
        Algorithm::RS256 | Algorithm::PS256 => ClientKey::rsa(alg, Some("rsa-1")),
        Algorithm::ES256 | Algorithm::ES384 => ClientKey::ec(alg, Some("ec-1")),
        Algorithm::EdDSA => ClientKey::ed25519(Some("ed-1")),
        other => panic!("no key for {other:?}"),
    }
}

#[tokio::test]
async fn signed_and_unsigned_request_objects_by_value_complete_the_code_flow() {
    let server = TestServer::start().await;
    for alg in [
        None,
        Some(Algorithm::RS256),
        Some(Algorithm::PS256),
        Some(Algorithm::ES256),
        Some(Algorithm::ES384),
        Some(Algorithm::EdDSA),
        Some(Algorithm::HS256),
    ] {
        let label = alg.map_or("none".to_owned(), |a| format!("{a:?}"));
        let (key, extra) = match alg {
            None => (None, json!({})),
            Some(Algorithm::HS256) => (None, json!({"request_object_signing_alg": "HS256"})),
            Some(a) => {
                let key = key_for(a);
                let extra = json!({"jwks": jwks(&[&key]), "request_object_signing_alg": label});
                (Some(key), extra)
            }
        };
        let (info, rp) = client(&server, extra).await;
        let key = match alg {
            Some(Algorithm::HS256) => Some(ClientKey::hmac(Algorithm::HS256, info["client_secret"].as_str().unwrap())),
            _ => key,
        };
        let pending = rp.authorize(&["openid", "email"], &[]);
        let mut claims = object_claims(&pending.url);
        merge(&mut claims, json!({"iss": info["client_id"], "aud": server.issuer}));
        let url = object_request_url(&server, &pending.url, "request", &object(key.as_ref(), &claims));
        // Only the object carries state, nonce and the PKCE challenge.
        assert!(!url.contains("state=") && !url.contains("nonce="), "{url}");
        let prompt = start(&server, &url).await;
        assert_eq!(prompt["auth_request"]["state"], claims["state"], "{label}: {prompt}");
        let login = complete(&server, &rp, pending, &prompt).await;
        assert_eq!(login.userinfo["email"], "alice@example.com", "{label}");
    }
}

#[tokio::test]
async fn request_objects_by_reference_are_fetched_from_registered_request_uris() {
    let ca = TestCa::new();
    let objects = ObjectServer::start(&ca).await;
    let server = server_trusting(&ca).await;
    let key = ClientKey::rsa(Algorithm::RS256, Some("rsa-1"));
    let registered = objects.uri("signed");
    let (info, rp) = client(
        &server,
        json!({"jwks": jwks(&[&key]), "request_object_signing_alg": "RS256", "request_uris": [registered]}),
    )
    .await;
    let pending = rp.authorize(&["openid", "email"], &[]);
    let mut claims = object_claims(&pending.url);
    merge(&mut claims, json!({"iss": info["client_id"], "aud": server.issuer}));
    objects.publish(Some(key.sign(&claims)));
    // The fragment may differ from the registered one (Core §6.2: a hash of the contents).
    let uri = format!("{}#another-hash", registered.split('#').next().unwrap());
    let prompt = start(&server, &object_request_url(&server, &pending.url, "request_uri", &uri)).await;
    let login = complete(&server, &rp, pending, &prompt).await;
    assert_eq!(login.id_claims["aud"], info["client_id"]);
}

/// What an `error` (shown) or error `response` (redirected) prompt says: the error, and the
/// redirect's parameters if redirected.
fn refusal(prompt: &Value) -> (String, Option<std::collections::HashMap<String, String>>) {
    match prompt["type"].as_str() {
        Some("error") => (prompt["error"].as_str().unwrap().to_owned(), None),
        Some("response") => {
            let params = match prompt["uri"].as_str() {
                Some(uri) => redirect_params(uri),
                None => serde_json::from_value(prompt["parameters"].clone()).unwrap(),
            };
            (params["error"].clone(), Some(params))
        }
        _ => panic!("not a refusal: {prompt}"),
    }
}

#[tokio::test]
async fn refused_request_objects_answer_invalid_request_object_at_the_verified_redirect_uri() {
    let server = TestServer::start().await;
    let key = ClientKey::rsa(Algorithm::RS256, Some("rsa-1"));
    let other = ClientKey::rsa(Algorithm::RS256, Some("rsa-1"));
    let (_, rp) = client(&server, json!({"jwks": jwks(&[&key])})).await;
    let (_, strict_rp) = client(
        &server,
        json!({"jwks": jwks(&[&key]), "request_object_signing_alg": "RS256", "require_signed_request_object": true}),
    )
    .await;
    let now = server.clock.now().0;
    type Case<'a> = (&'a str, &'a Rp, Value, Option<&'a ClientKey>, &'a str);
    let cases: Vec<Case> = vec![
        ("signed by a key not the client's", &rp, json!({}), Some(&other), "invalid_request_object"),
        ("iss another party", &rp, json!({"iss": "someone-else"}), Some(&key), "invalid_request_object"),
        ("aud another server", &rp, json!({"aud": "https://op.example"}), Some(&key), "invalid_request_object"),
        ("expired", &rp, json!({"exp": now - 120}), Some(&key), "invalid_request_object"),
        ("not yet valid", &rp, json!({"nbf": now + 600}), Some(&key), "invalid_request_object"),
        ("another client_id", &rp, json!({"client_id": "another"}), Some(&key), "invalid_request_object"),
        ("another response_type", &rp, json!({"response_type": "token"}), Some(&key), "invalid_request_object"),
        ("a request inside", &rp, json!({"request": "x"}), Some(&key), "invalid_request_object"),
        ("unsigned for a client registered for RS256", &strict_rp, json!({}), None, "invalid_request_object"),
    ];
    for (label, rp, changes, signer, expected) in cases {
        let pending = rp.authorize(&["openid"], &[]);
        let mut claims = object_claims(&pending.url);
        merge(&mut claims, changes);
        let url = object_request_url(&server, &pending.url, "request", &object(signer, &claims));
        let prompt = start(&server, &url).await;
        let (error, redirect) = refusal(&prompt);
        assert_eq!(error, expected, "{label}: {prompt}");
        let params = redirect.unwrap_or_else(|| panic!("{label}: redirected, the redirect URI being registered"));
        assert!(prompt["redirect_uri"] == CALLBACK, "{label}: {prompt}");
        // The state inside the object comes back, as a client that put it only there expects.
        assert_eq!(params.get("state"), Some(pending.state.secret()), "{label}");
    }

    // A client that requires signed request objects sends none: invalid_request.
    let pending = strict_rp.authorize(&["openid"], &[]);
    let (error, redirect) = refusal(&start(&server, &pending.url).await);
    assert_eq!(error, "invalid_request");
    assert!(redirect.is_some());

    // Both request and request_uri; an encrypted object; a JWT that is not one.
    let pending = rp.authorize(&["openid"], &[]);
    let claims = object_claims(&pending.url);
    let both = format!(
        "{}&request_uri=https%3A%2F%2Frp.example%2Fr",
        object_request_url(&server, &pending.url, "request", &key.sign(&claims))
    );
    assert_eq!(refusal(&start(&server, &both).await).0, "invalid_request");
    for (label, jwt) in [("encrypted", "a.b.c.d.e"), ("not a JWT", "not-a-jwt")] {
        let url = object_request_url(&server, &pending.url, "request", jwt);
        let (error, redirect) = refusal(&start(&server, &url).await);
        assert_eq!(error, "invalid_request_object", "{label}");
        assert!(redirect.is_some(), "{label}: the query's redirect_uri is registered");
    }
}

#[tokio::test]
async fn a_refused_object_never_redirects_to_an_unregistered_uri_and_keeps_its_response_mode() {
    let server = TestServer::start().await;
    let key = ClientKey::rsa(Algorithm::RS256, Some("rsa-1"));
    let other = ClientKey::rsa(Algorithm::RS256, Some("rsa-1"));
    let (_, rp) = client(&server, json!({"jwks": jwks(&[&key])})).await;

    // The object names an unregistered redirect URI, and so does the query: shown.
    let pending = rp.authorize(&["openid"], &[]);
    let mut claims = object_claims(&pending.url);
    merge(&mut claims, json!({"redirect_uri": "https://evil.example/cb"}));
    let url = object_request_url(&server, &pending.url, "request", &other.sign(&claims))
        .replace("app.example.com%2Fcallback", "evil.example%2Fcb");
    let prompt = start(&server, &url).await;
    assert_eq!(prompt["type"], "error", "{prompt}");
    assert!(prompt.get("uri").is_none() && prompt.get("redirect_uri").is_none());

    // A valid object with an unregistered redirect URI inside, a registered one outside: the
    // object's is used, and it is refused as unregistered (shown).
    let pending = rp.authorize(&["openid"], &[]);
    let mut claims = object_claims(&pending.url);
    merge(&mut claims, json!({"redirect_uri": "https://evil.example/cb"}));
    let prompt = start(&server, &object_request_url(&server, &pending.url, "request", &key.sign(&claims))).await;
    assert_eq!(prompt["type"], "error", "{prompt}");
    assert_eq!(prompt["error"], "invalid_request");

    // A refused object asking for form_post inside: the error is posted.
    let pending = rp.authorize(&["openid"], &[]);
    let mut claims = object_claims(&pending.url);
    merge(&mut claims, json!({"response_mode": "form_post"}));
    let prompt = start(&server, &object_request_url(&server, &pending.url, "request", &other.sign(&claims))).await;
    assert_eq!(prompt["type"], "response", "{prompt}");
    assert_eq!(prompt["mode"], "form_post", "{prompt}");
    assert!(prompt.get("uri").is_none(), "no GET redirect: {prompt}");
    assert_eq!(prompt["parameters"]["error"], "invalid_request_object");
    assert_eq!(prompt["parameters"]["state"], pending.state.secret().as_str());
}

#[tokio::test]
async fn request_uris_must_be_registered_reachable_and_bounded() {
    let ca = TestCa::new();
    let objects = ObjectServer::start(&ca).await;
    let server = server_trusting(&ca).await;
    let registered = objects.uri("unsigned");
    let (_, rp) = client(&server, json!({"request_uris": [registered]})).await;
    let (_, unregistered_rp) = client(&server, json!({})).await;
    let refused = |rp: &Rp, uri: String| {
        let pending = rp.authorize(&["openid"], &[]);
        let url = object_request_url(&server, &pending.url, "request_uri", &uri);
        (url, pending)
    };
    // Not registered (by this client, or at all).
    for (rp, uri) in [
        (&rp, format!("{}/requesturi/other", objects.base)),
        (&unregistered_rp, registered.clone()),
        (&rp, format!("{registered}{}", "a".repeat(600))),
    ] {
        let (url, _pending) = refused(rp, uri);
        let (error, redirect) = refusal(&start(&server, &url).await);
        assert_eq!(error, "invalid_request_uri");
        // The object never came: the query's (registered) redirect URI, without its state.
        assert!(redirect.is_some_and(|p| !p.contains_key("state")));
    }
    // Registered, but the server answers 404.
    objects.publish(None);
    let (url, _) = refused(&rp, registered.clone());
    assert_eq!(refusal(&start(&server, &url).await).0, "invalid_request_uri");
    // Registered and served, but not a request object.
    objects.publish(Some("<html>hello</html>".into()));
    let (url, _) = refused(&rp, registered.clone());
    assert_eq!(refusal(&start(&server, &url).await).0, "invalid_request_object");
    // And served properly: accepted.
    let pending = rp.authorize(&["openid"], &[]);
    objects.publish(Some(unsecured(&object_claims(&pending.url))));
    let prompt = start(&server, &object_request_url(&server, &pending.url, "request_uri", &registered)).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");
}

#[tokio::test]
async fn a_provider_without_outbound_trust_refuses_request_uris_it_cannot_fetch() {
    // The test CA is not trusted: the fetch fails, and the error is invalid_request_uri.
    let ca = TestCa::new();
    let objects = ObjectServer::start(&ca).await;
    let server = TestServer::start().await;
    let registered = objects.uri("unsigned");
    let (_, rp) = client(&server, json!({"request_uris": [registered]})).await;
    let pending = rp.authorize(&["openid"], &[]);
    objects.publish(Some(unsecured(&object_claims(&pending.url))));
    let prompt = start(&server, &object_request_url(&server, &pending.url, "request_uri", &registered)).await;
    assert_eq!(refusal(&prompt).0, "invalid_request_uri", "{prompt}");
}

#[tokio::test]
async fn discovery_advertises_request_objects_as_supported() {
    let server = TestServer::start().await;
    let meta: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["request_parameter_supported"], true);
    assert_eq!(meta["request_uri_parameter_supported"], true);
    assert_eq!(meta["require_request_uri_registration"], true);
    let algs: Vec<&str> = meta["request_object_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for alg in ["none", "RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"] {
        assert!(algs.contains(&alg), "{alg} in {algs:?}");
    }
    // Encrypted objects: `encrypted_request_objects.rs`.
    assert!(meta["request_object_encryption_alg_values_supported"].is_array());
}

#[tokio::test]
async fn the_claims_parameter_puts_each_claim_where_it_was_asked_for() {
    let server = TestServer::start().await;
    let (_, rp) = client(&server, json!({})).await;
    // name at UserInfo only, email in the ID token only.
    let claims = json!({"userinfo": {"name": {"essential": true}}, "id_token": {"email": null}}).to_string();
    let pending = rp.authorize(&["openid"], &[("claims", &claims)]);
    let prompt = start(&server, &pending.url.clone()).await;
    let login = complete(&server, &rp, pending, &prompt).await;
    assert_eq!(login.userinfo["name"], "Alice Liddell");
    assert!(login.userinfo.get("email").is_none(), "{}", login.userinfo);
    assert_eq!(login.id_claims["email"], "alice@example.com");
    assert!(login.id_claims.get("name").is_none(), "{}", login.id_claims);

    // The claims parameter inside a request object, as a JSON object.
    let pending = rp.authorize(&["openid"], &[]);
    let mut object = object_claims(&pending.url);
    merge(&mut object, json!({"claims": {"id_token": {"name": {"essential": true}}}}));
    let url = object_request_url(&server, &pending.url, "request", &unsecured(&object));
    let prompt = start(&server, &url).await;
    let login = complete(&server, &rp, pending, &prompt).await;
    assert_eq!(login.id_claims["name"], "Alice Liddell");
    assert!(login.userinfo.get("name").is_none(), "{}", login.userinfo);

    // Malformed: invalid_request, redirected.
    for bad in [
        r#"{"userinfo": {"name": true}}"#,
        r#"{"id_token": {"acr": {"essential": "yes"}}}"#,
        r#"{"userinfo": []}"#,
        "not json",
    ] {
        let pending = rp.authorize(&["openid"], &[("claims", bad)]);
        let (error, redirect) = refusal(&start(&server, &pending.url).await);
        assert_eq!(error, "invalid_request", "{bad}");
        assert!(redirect.is_some());
    }
}

#[tokio::test]
async fn an_essential_acr_sets_the_acr_values_and_a_login_short_of_them_fails() {
    let server = TestServer::start().await;
    let (_, rp) = client(&server, json!({})).await;
    let claims = json!({"id_token": {"acr": {"essential": true, "values": ["urn:gatehouse:mfa"]}}}).to_string();
    let pending = rp.authorize(&["openid"], &[("claims", &claims), ("acr_values", "urn:gatehouse:pwd")]);
    let prompt = start(&server, &pending.url).await;
    assert_eq!(prompt["auth_request"]["acr_values"], json!(["urn:gatehouse:mfa"]), "{prompt}");
    // Alice logs in with a password only.
    let response = server.submit_subject(prompt["sid"].as_str().unwrap(), alice()).await;
    let (error, redirect) = refusal(&response);
    assert_eq!(error, "access_denied", "{response}");
    assert!(redirect.is_some());

    // With the factor asked for, the ID token says so.
    let pending = rp.authorize(&["openid"], &[("claims", &claims)]);
    let prompt = start(&server, &pending.url).await;
    let sid = prompt["sid"].as_str().unwrap();
    let mut subject = alice();
    subject["acr"] = json!("urn:gatehouse:mfa");
    server.submit_subject(sid, subject).await;
    let response = server.submit_consent(sid, json!({"scope": "*"})).await;
    let login = rp.finish(&server, pending, response["uri"].as_str().unwrap()).await;
    assert_eq!(login.id_claims["acr"], "urn:gatehouse:mfa");

    // Voluntary acr values from the claims parameter fill in for an absent acr_values.
    let voluntary = json!({"id_token": {"acr": {"values": ["urn:gatehouse:pwd"]}}}).to_string();
    let pending = rp.authorize(&["openid"], &[("claims", &voluntary)]);
    let prompt = start(&server, &pending.url).await;
    assert_eq!(prompt["auth_request"]["acr_values"], json!(["urn:gatehouse:pwd"]));
    assert!(prompt["auth_request"].get("acr_essential").is_none());
}
