//! Bad requests, each with its exact error, and never a redirect to an unverified URI.

use openidconnect::OAuth2TokenResponse;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::rp::{Rp, consent_to_code, login, open_session};
use crate::support::{TestServer, alice, redirect_params};

const CALLBACK: &str = "https://app.example.com/callback";

fn authorize_url(server: &TestServer, params: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    format!("{}/authorize?{}", server.base, ser.finish())
}

/// Starts a session with a raw authentication request.
async fn start(server: &TestServer, params: &[(&str, &str)]) -> Value {
    let query = server.browse_authorize(&authorize_url(server, params)).await;
    server.start_session(&query, None, None).await
}

async fn token(
    server: &TestServer,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value, Option<String>) {
    let (status, body, challenge) = server.token_request(basic, form).await;
    (status, serde_json::from_str(&body).unwrap(), challenge)
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_an_error_prompt_never_a_redirect() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let client_id = info["client_id"].as_str().unwrap();
    let prompt = start(
        &server,
        &[
            ("client_id", client_id),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", "https://evil.example/cb"),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(prompt["type"], "error", "{prompt}");
    assert_eq!(prompt["error"], "invalid_request");
    assert!(prompt["error_description"].as_str().unwrap().contains("redirect_uri"));
    assert!(prompt.get("uri").is_none() && prompt.get("redirect_uri").is_none(), "nothing to redirect to");
}

#[tokio::test]
async fn an_unknown_client_is_an_error_prompt() {
    let server = TestServer::start().await;
    let prompt =
        start(&server, &[("client_id", "nobody"), ("response_type", "code"), ("redirect_uri", CALLBACK)]).await;
    assert_eq!(prompt["type"], "error");
    assert_eq!(prompt["error"], "invalid_client");
    let prompt = start(&server, &[("response_type", "code"), ("redirect_uri", CALLBACK)]).await;
    assert_eq!(prompt["type"], "error", "a missing client_id is shown too");
    assert_eq!(prompt["error"], "invalid_request");
}

#[tokio::test]
async fn public_clients_must_use_s256_pkce() {
    let server = TestServer::start().await;
    let info = server.register(json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none"})).await;
    let id = info["client_id"].as_str().unwrap();
    let base = [
        ("client_id", id),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", CALLBACK),
        ("state", "xyz"),
    ];

    let prompt = start(&server, &base).await;
    assert_eq!(prompt["type"], "response", "errors after the redirect check go to the client: {prompt}");
    let params = redirect_params(prompt["uri"].as_str().unwrap());
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].contains("PKCE is required"));
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], server.base);

    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let mut plain = base.to_vec();
    plain.extend([("code_challenge", challenge), ("code_challenge_method", "plain")]);
    let prompt = start(&server, &plain).await;
    let params = redirect_params(prompt["uri"].as_str().unwrap());
    assert_eq!(params["error"], "invalid_request");
    assert!(params["error_description"].contains("plain is not allowed"), "{params:?}");

    let mut s256 = base.to_vec();
    s256.extend([("code_challenge", challenge), ("code_challenge_method", "S256")]);
    assert_eq!(start(&server, &s256).await["type"], "auth", "S256 is accepted");
}

#[tokio::test]
async fn a_wrong_code_verifier_is_invalid_grant() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let (_, sid) = open_session(&server, &rp, &[], &[]).await;
    let (_, code) = consent_to_code(&server, &sid, json!({"scope": "*"})).await;
    let wrong = openidconnect::PkceCodeVerifier::new("x".repeat(50));
    let err = rp.redeem(&code, wrong).await.unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");
    assert!(format!("{err:?}").contains("code_verifier does not match"), "{err:?}");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_the_tokens_issued_from_it() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let (pending, sid) = open_session(&server, &rp, &["email"], &[]).await;
    let (_, code) = consent_to_code(&server, &sid, json!({"scope": "*"})).await;
    let verifier = pending.verifier.secret().clone();

    let first =
        rp.redeem(&code, openidconnect::PkceCodeVerifier::new(verifier.clone())).await.expect("first redemption");
    rp.userinfo(first.access_token().secret()).await.expect("the first access token works");

    let replay = rp.redeem(&code, openidconnect::PkceCodeVerifier::new(verifier)).await.unwrap_err();
    assert!(format!("{replay:?}").contains("invalid_grant"), "{replay:?}");

    let resp =
        server.http.get(server.url("/userinfo")).bearer_auth(first.access_token().secret()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401, "the first token is revoked");
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    assert!(challenge.contains("revoked"), "{challenge}");
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client_with_401() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let id = info["client_id"].as_str().unwrap();
    let (status, body, challenge) =
        token(&server, Some((id, "not-the-secret")), &[("grant_type", "authorization_code"), ("code", "x")]).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(challenge.as_deref(), Some(r#"Basic realm="gatehouse""#));
    let (status, body, _) =
        token(&server, Some(("no-such-client", "whatever")), &[("grant_type", "client_credentials")]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn token_requests_are_bound_to_client_redirect_uri_and_expiry() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let other = server.web_client(json!({})).await;
    let (id, secret) = (info["client_id"].as_str().unwrap(), info["client_secret"].as_str().unwrap());
    let rp = Rp::new(&server, &info).await;

    let issue_code = || async {
        let (pending, sid) = open_session(&server, &rp, &[], &[]).await;
        server.submit_subject(&sid, alice()).await;
        let prompt = server.submit_consent(&sid, json!({"scope": "*"})).await;
        (redirect_params(prompt["uri"].as_str().unwrap())["code"].clone(), pending.verifier.secret().clone())
    };

    let (code, verifier) = issue_code().await;
    let (oid, osecret) = (other["client_id"].as_str().unwrap(), other["client_secret"].as_str().unwrap());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", &verifier),
    ];
    let (status, body, _) = token(&server, Some((oid, osecret)), &form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a code of another client: {body}");

    let wrong_uri = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://app.example.com/other"),
        ("code_verifier", &verifier),
    ];
    let (status, body, _) = token(&server, Some((id, secret)), &wrong_uri).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    let (code, verifier) = issue_code().await;
    server.clock.advance(61);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", &verifier),
    ];
    let (status, body, _) = token(&server, Some((id, secret)), &form).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "an expired code: {body}");

    let (status, body, _) = token(&server, Some((id, secret)), &[("grant_type", "password")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (status, body, _) = token(&server, Some((id, secret)), &[("code", "x")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "missing grant_type");
    let (status, body, _) = token(&server, Some((id, secret)), &[("grant_type", "client_credentials")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{body}");
}

#[tokio::test]
async fn malformed_authentication_requests_are_answered_at_the_redirect_uri() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let id = info["client_id"].as_str().unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("response_type", "code"), ("scope", "openid"), ("scope", "email")], "invalid_request"),
        (&[("response_type", "code"), ("request", "eyJ...")], "invalid_request_object"),
        (&[("response_type", "code"), ("request_uri", "https://elsewhere.example/r")], "invalid_request_uri"),
        (&[("response_type", "code"), ("prompt", "none login")], "invalid_request"),
        (&[("response_type", "code"), ("max_age", "-1")], "invalid_request"),
        (&[("response_type", "code"), ("claims", "{not json")], "invalid_request"),
        (&[("response_type", "code"), ("response_mode", "web_message")], "invalid_request"),
        (&[("response_type", "code"), ("id_token_hint", "not.a.jwt")], "invalid_request"),
    ];
    for (extra, expected) in cases {
        let mut params = vec![("client_id", id), ("redirect_uri", CALLBACK), ("state", "st")];
        params.extend_from_slice(extra);
        let prompt = start(&server, &params).await;
        assert_eq!(prompt["type"], "response", "{extra:?}: {prompt}");
        let p = redirect_params(prompt["uri"].as_str().unwrap());
        assert_eq!(p["error"], *expected, "{extra:?}: {p:?}");
        assert_eq!(p["state"], "st");
    }
}

#[tokio::test]
async fn form_post_and_fragment_response_modes() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let id = info["client_id"].as_str().unwrap();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    for mode in ["form_post", "fragment"] {
        let prompt = start(
            &server,
            &[
                ("client_id", id),
                ("redirect_uri", CALLBACK),
                ("response_type", "code"),
                ("response_mode", mode),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("state", "st"),
            ],
        )
        .await;
        let sid = prompt["sid"].as_str().unwrap();
        server.submit_subject(sid, alice()).await;
        let prompt = server.submit_consent(sid, json!({"scope": "*"})).await;
        assert_eq!(prompt["mode"], mode);
        assert_eq!(prompt["redirect_uri"], CALLBACK);
        assert!(prompt["parameters"]["code"].is_string());
        assert_eq!(prompt["parameters"]["state"], "st");
        assert_eq!(prompt["parameters"]["iss"], server.base);
        match mode {
            "form_post" => assert!(prompt.get("uri").is_none(), "form_post has fields, not a URI"),
            _ => assert!(prompt["uri"].as_str().unwrap().starts_with(&format!("{CALLBACK}#code="))),
        }
    }
}

#[tokio::test]
async fn an_id_token_is_not_an_access_token() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let (_, login) = login(&server, &rp, &[], alice(), json!({"scope": "*"})).await;
    let id_token = login.tokens.extra_fields().id_token().unwrap().to_string();
    let resp = server.http.get(server.url("/userinfo")).bearer_auth(&id_token).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = server.http.get(server.url("/userinfo")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["www-authenticate"], r#"Bearer realm="gatehouse""#, "no error code without a token");
    let resp = server
        .http
        .post(server.url("/userinfo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={}", login.tokens.access_token().secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "POST with the token in the body (RFC 6750 §2.2)");
}

#[tokio::test]
async fn consent_cannot_grant_what_was_not_requested() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let (_, sid) = open_session(&server, &rp, &["email"], &[]).await;
    server.submit_subject(&sid, alice()).await;
    let (status, body) = server
        .api(Method::PUT, &format!("/authz-sessions/v1/{sid}/consent"), Some(json!({"scope": ["openid", "admin"]})))
        .await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("\"admin\" was not requested"), "{body}");
    let (status, _) = server.api(Method::GET, &format!("/authz-sessions/v1/{sid}"), None).await;
    assert_eq!(status, 200, "the session survives a refused consent");
}
