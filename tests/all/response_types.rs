//! Every OpenID Connect response type (Core §3.1–§3.3): what the authorization endpoint
//! returns for each, in which response mode, the ID token's binding to what comes with it
//! (`nonce`, `at_hash`, `c_hash`) checked by the `openidconnect` crate, and the token
//! endpoint's ID token of a hybrid flow agreeing with the front-channel one.

use std::str::FromStr;

use openidconnect::core::CoreIdToken;
use openidconnect::{AccessToken, AccessTokenHash, AuthorizationCode, AuthorizationCodeHash, Nonce, PkceCodeChallenge};
use serde_json::{Value, json};

use crate::support::rp::Rp;
use crate::support::{TestServer, alice, redirect_params};

/// A client registered for `response_type` (and the grant types it needs).
async fn client_for(server: &TestServer, response_type: &str) -> Value {
    let mut grants = vec!["refresh_token"];
    if response_type.contains("code") {
        grants.push("authorization_code");
    }
    if response_type != "code" {
        grants.push("implicit");
    }
    server.web_client(json!({ "response_types": [response_type], "grant_types": grants })).await
}

struct Request {
    url: String,
    nonce: String,
    state: String,
    verifier: openidconnect::PkceCodeVerifier,
}

fn request(server: &TestServer, client_id: &str, response_type: &str, extra: &[(&str, &str)]) -> Request {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = Nonce::new_random().secret().clone();
    let state = "st-".to_owned() + &Nonce::new_random().secret()[..8];
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", response_type)
        .append_pair("scope", "openid email")
        .append_pair("redirect_uri", "https://app.example.com/callback")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    Request { url: url.to_string(), nonce, state, verifier }
}

/// Logs Alice in and consents to everything; returns the final `response` prompt.
async fn respond(server: &TestServer, url: &str) -> Value {
    let query = server.browse_authorize(url).await;
    let prompt = server.start_session(&query, None, None).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");
    let sid = prompt["sid"].as_str().unwrap().to_owned();
    server.submit_subject(&sid, alice()).await;
    let prompt = server.submit_consent(&sid, json!({"scope": "*"})).await;
    assert_eq!(prompt["type"], "response", "{prompt}");
    prompt
}

/// The error an authentication request is sent back with, before any login.
async fn refused(server: &TestServer, url: &str) -> (Value, std::collections::HashMap<String, String>) {
    let query = server.browse_authorize(url).await;
    let prompt = server.start_session(&query, None, None).await;
    assert_eq!(prompt["type"], "response", "refused to the client: {prompt}");
    let params = redirect_params(prompt["uri"].as_str().expect("a redirect"));
    (prompt, params)
}

/// Verifies an ID token as an RP must (signature, iss, aud, exp, nonce) and returns its
/// claims as JSON and the token.
fn verify(rp: &Rp, jwt: &str, nonce: &str) -> (Value, CoreIdToken) {
    use base64::Engine;
    let token = CoreIdToken::from_str(jwt).expect("an ID token");
    token.claims(&rp.client.id_token_verifier(), &Nonce::new(nonce.to_owned())).expect("the ID token verifies");
    let payload = jwt.split('.').nth(1).unwrap();
    let claims =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    (claims, token)
}

#[tokio::test]
async fn every_response_type_returns_what_it_names() {
    let server = TestServer::start().await;
    for response_type in ["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"] {
        let info = client_for(&server, response_type).await;
        let client_id = info["client_id"].as_str().unwrap();
        let rp = Rp::new(&server, &info).await;
        let req = request(&server, client_id, response_type, &[]);
        let prompt = respond(&server, &req.url).await;
        let uri = prompt["uri"].as_str().unwrap();
        let words: Vec<&str> = response_type.split(' ').collect();
        if response_type == "code" {
            assert_eq!(prompt["mode"], "query", "{response_type}: {prompt}");
            assert!(!uri.contains('#'), "{uri}");
        } else {
            assert_eq!(prompt["mode"], "fragment", "{response_type}: tokens never go in the query: {prompt}");
            assert!(uri.starts_with("https://app.example.com/callback#"), "{uri}");
        }
        let params = redirect_params(uri);
        assert_eq!(params["state"], req.state, "{response_type}");
        assert_eq!(params["iss"], server.base, "{response_type}");
        for (param, word) in [("code", "code"), ("id_token", "id_token"), ("access_token", "token")] {
            assert_eq!(params.contains_key(param), words.contains(&word), "{response_type}: {param} in {params:?}");
        }
        if words.contains(&"token") {
            assert_eq!(params["token_type"], "Bearer");
            assert_eq!(params["expires_in"], "3600");
            let (status, body) = userinfo(&server, &params["access_token"]).await;
            assert_eq!(status, 200, "{response_type}: the front-channel access token serves UserInfo: {body}");
            assert_eq!(body["sub"], "alice");
        }
        let Some(jwt) = params.get("id_token") else { continue };
        let (claims, token) = verify(&rp, jwt, &req.nonce);
        let verifier = rp.client.id_token_verifier();
        let (alg, key) = (token.signing_alg().unwrap(), token.signing_key(&verifier).unwrap());
        assert_eq!(claims["sub"], "alice");
        match params.get("access_token") {
            Some(at) => {
                let computed = AccessTokenHash::from_token(&AccessToken::new(at.clone()), alg, key).unwrap();
                assert_eq!(claims["at_hash"], json!(computed.as_str()), "{response_type}: at_hash");
            }
            None => assert!(claims.get("at_hash").is_none(), "{response_type}: no at_hash without a token"),
        }
        match params.get("code") {
            Some(code) => {
                let computed =
                    AuthorizationCodeHash::from_code(&AuthorizationCode::new(code.clone()), alg, key).unwrap();
                assert_eq!(claims["c_hash"], json!(computed.as_str()), "{response_type}: c_hash");
            }
            None => assert!(claims.get("c_hash").is_none(), "{response_type}: no c_hash without a code"),
        }
        if response_type == "id_token" {
            // Core §5.4: no access token, so the scope's claims are in the ID token.
            assert_eq!(claims["email"], "alice@example.com", "{claims}");
        } else {
            assert!(claims.get("email").is_none(), "{response_type}: claims go to UserInfo: {claims}");
        }
        if let Some(code) = params.get("code") {
            // The token endpoint's ID token agrees with the front-channel one (Core §3.3.3.6).
            let tokens = rp.redeem(code, req.verifier).await.expect("the hybrid flow's code redeems");
            let back = openidconnect::TokenResponse::id_token(&tokens).expect("an ID token").to_string();
            let (back, _) = verify(&rp, &back, &req.nonce);
            for claim in ["iss", "sub", "aud", "auth_time", "acr", "sid", "nonce"] {
                assert_eq!(back.get(claim), claims.get(claim), "{response_type}: {claim} agrees");
            }
        }
    }
}

async fn userinfo(server: &TestServer, token: &str) -> (u16, Value) {
    let resp = server.http.get(server.url("/userinfo")).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn form_post_carries_the_tokens_in_its_parameters() {
    let server = TestServer::start().await;
    let info = client_for(&server, "code id_token token").await;
    let rp = Rp::new(&server, &info).await;
    let req =
        request(&server, info["client_id"].as_str().unwrap(), "code id_token token", &[("response_mode", "form_post")]);
    let prompt = respond(&server, &req.url).await;
    assert_eq!(prompt["mode"], "form_post", "{prompt}");
    assert!(prompt.get("uri").is_none_or(Value::is_null), "a form, not a redirect: {prompt}");
    let p = &prompt["parameters"];
    assert_eq!(prompt["redirect_uri"], "https://app.example.com/callback");
    assert_eq!(p["state"], req.state.as_str());
    assert!(p["code"].is_string() && p["access_token"].is_string(), "{p}");
    verify(&rp, p["id_token"].as_str().unwrap(), &req.nonce);
}

/// Core §3.2.2.1 and §3.3.2.11: without a `nonce`, a request for an ID token from the
/// authorization endpoint is refused (in the fragment); `code` and `code token` do not need
/// one (the suite's oidcc-ensure-request-without-nonce-fails and
/// oidcc-ensure-request-without-nonce-succeeds-for-code-flow).
#[tokio::test]
async fn nonce_is_required_when_an_id_token_comes_from_the_authorization_endpoint() {
    let server = TestServer::start().await;
    for response_type in ["code", "code token"] {
        let info = client_for(&server, response_type).await;
        let req = request(&server, info["client_id"].as_str().unwrap(), response_type, &[]);
        let prompt = respond(&server, &strip(&req.url, "nonce")).await;
        let params = redirect_params(prompt["uri"].as_str().unwrap());
        assert!(params.contains_key("code"), "{response_type} without a nonce succeeds: {params:?}");
    }
    for response_type in ["id_token", "id_token token", "code id_token", "code id_token token"] {
        let info = client_for(&server, response_type).await;
        let req = request(&server, info["client_id"].as_str().unwrap(), response_type, &[]);
        let url = strip(&req.url, "nonce");
        let (prompt, params) = refused(&server, &url).await;
        assert_eq!(prompt["mode"], "fragment", "{response_type}: {prompt}");
        assert_eq!(params["error"], "invalid_request", "{response_type}");
        assert!(params["error_description"].contains("nonce"), "{params:?}");
        assert_eq!(params["state"], req.state);
    }
}

fn strip(url: &str, name: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> = url.query_pairs().into_owned().filter(|(k, _)| k != name).collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    url.to_string()
}

/// Multiple Response Type Encoding Practices §5: tokens never go in the query.
#[tokio::test]
async fn the_query_response_mode_is_refused_for_tokens() {
    let server = TestServer::start().await;
    let info = client_for(&server, "code id_token").await;
    let req = request(&server, info["client_id"].as_str().unwrap(), "code id_token", &[("response_mode", "query")]);
    let (prompt, params) = refused(&server, &req.url).await;
    assert_eq!(prompt["mode"], "fragment", "{prompt}");
    assert_eq!(params["error"], "invalid_request");
    assert!(!params.contains_key("code"));
}

#[tokio::test]
async fn a_response_type_the_client_did_not_register_is_unauthorized_client() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let client_id = info["client_id"].as_str().unwrap();
    let req = request(&server, client_id, "id_token token", &[]);
    let (prompt, params) = refused(&server, &req.url).await;
    assert_eq!(prompt["mode"], "fragment", "the error goes where the client reads it: {prompt}");
    assert_eq!(params["error"], "unauthorized_client", "{params:?}");

    // Words in another order are the same response type; unknown ones are unsupported.
    let info = client_for(&server, "code id_token").await;
    let client_id = info["client_id"].as_str().unwrap();
    let prompt = respond(&server, &request(&server, client_id, "id_token code", &[]).url).await;
    let params = redirect_params(prompt["uri"].as_str().unwrap());
    assert!(params.contains_key("code") && params.contains_key("id_token"), "{params:?}");
    for bad in ["token", "code code", "none", "code id_token device"] {
        let (_, params) = refused(&server, &request(&server, client_id, bad, &[]).url).await;
        assert_eq!(params["error"], "unsupported_response_type", "{bad}: {params:?}");
    }
}

/// Registration: a response type needs its grant types (Dynamic Registration §2), and
/// discovery lists all six.
#[tokio::test]
async fn response_types_are_registered_with_their_grant_types_and_advertised() {
    let server = TestServer::start().await;
    let (status, body) = server
        .admin(
            reqwest::Method::POST,
            "/clients/v1",
            Some(json!({
                "redirect_uris": ["https://app.example.com/callback"],
                "response_types": ["code id_token"],
                "grant_types": ["authorization_code"],
            })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("implicit"), "names the missing grant type: {body}");
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        discovery["response_types_supported"],
        json!(["code", "id_token", "id_token token", "code id_token", "code token", "code id_token token"])
    );
    assert!(discovery["grant_types_supported"].as_array().unwrap().contains(&json!("implicit")));
}
