//! Resource indicators (RFC 8707) and OAuth 2.0 Authorization Server Metadata (RFC 8414):
//! each access token is for one registered resource, its `aud` that resource and its scopes
//! those the resource accepts; an unknown or disallowed resource is `invalid_target` at the
//! authorization endpoint (redirected), the token endpoint (for the code, refresh and client
//! credentials grants) and PAR.

use base64::Engine;
use openidconnect::reqwest::Method;
use openidconnect::{Nonce, PkceCodeChallenge};
use serde_json::{Value, json};

use crate::support::{TestServer, alice, redirect_params};

const MCP: &str = "https://mcp.example.com/mcp";
const FILES: &str = "https://files.example.com/api";
const PRIVATE: &str = "https://private.example.com/api";
const REDIRECT: &str = "https://app.example.com/callback";

fn resources() -> String {
    format!(
        "[[resources]]\nuri = \"{MCP}\"\nscopes = [\"mcp:tools\"]\n\n\
         [[resources]]\nuri = \"{FILES}\"\nscopes = [\"files:read\", \"files:write\"]\n\n\
         [[resources]]\nuri = \"{PRIVATE}\"\nclients = [\"the-insider\"]\n"
    )
}

async fn server() -> TestServer {
    TestServer::start_with(&resources()).await
}

async fn client(server: &TestServer, id: &str) -> Value {
    server
        .web_client(json!({
            "client_id": id,
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        }))
        .await
}

/// The payload of a JWT, unverified (the tests that verify signatures are elsewhere).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// An authorization request with PKCE, `scope` and the extra parameters; returns the URL and
/// the PKCE verifier.
fn authorize_url(server: &TestServer, client_id: &str, scope: &str, extra: &[(&str, &str)]) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "st")
        .append_pair("nonce", Nonce::new_random().secret())
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    (url.to_string(), verifier.secret().clone())
}

/// The prompt the front-end gets for the request.
async fn start(server: &TestServer, url: &str) -> Value {
    let query = server.browse_authorize(url).await;
    server.start_session(&query, None, None).await
}

/// Alice logs in and consents to everything asked, with a refresh token; returns the code
/// and the consent prompt.
async fn code(server: &TestServer, url: &str) -> (String, Value) {
    let prompt = start(server, url).await;
    let sid = prompt["sid"].as_str().unwrap().to_owned();
    let consent_prompt = server.submit_subject(&sid, alice()).await;
    assert_eq!(consent_prompt["type"], "consent", "{consent_prompt}");
    let done = server.submit_consent(&sid, json!({"scope": "*", "refresh_token": {"issue": true}})).await;
    let code = redirect_params(done["uri"].as_str().unwrap())["code"].clone();
    (code, consent_prompt)
}

async fn token(server: &TestServer, info: &Value, form: &[(&str, &str)]) -> (u16, Value) {
    let id = info["client_id"].as_str().unwrap();
    let secret = info["client_secret"].as_str().unwrap();
    let (status, body, _) = server.token_request(Some((id, secret)), form).await;
    (status, serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON: {body}")))
}

async fn redeem(server: &TestServer, info: &Value, code: &str, verifier: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    form.extend_from_slice(extra);
    token(server, info, &form).await
}

#[tokio::test]
async fn a_token_for_a_resource_names_it_alone_in_aud_with_the_scopes_it_accepts_and_refresh_keeps_it() {
    let server = server().await;
    let info = client(&server, "mcp-app").await;
    let (url, verifier) = authorize_url(&server, "mcp-app", "openid email mcp:tools", &[("resource", MCP)]);
    let (code, consent_prompt) = code(&server, &url).await;
    assert_eq!(consent_prompt["auth_request"]["resources"], json!([MCP]), "the front-end sees the resource");

    let (status, tokens) = redeem(&server, &info, &code, &verifier, &[]).await;
    assert_eq!(status, 200, "{tokens}");
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], MCP, "aud is the resource alone: {access}");
    assert_eq!(access["scope"], "mcp:tools", "the scopes the resource accepts: {access}");
    assert_eq!(tokens["scope"], "mcp:tools");
    let id_token = claims(tokens["id_token"].as_str().expect("the ID token still comes"));
    assert_eq!(id_token["aud"], "mcp-app");

    // Refresh keeps the audience, with or without naming the resource again.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) =
        token(&server, &info, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(claims(refreshed["access_token"].as_str().unwrap())["aud"], MCP);
    let refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("resource", MCP)];
    let (status, refreshed) = token(&server, &info, &form).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(claims(refreshed["access_token"].as_str().unwrap())["aud"], MCP);

    // Introspection shows the audience too.
    let access_token = refreshed["access_token"].as_str().unwrap();
    let resp = server
        .http
        .post(server.url("/introspect"))
        .basic_auth("mcp-app", Some(info["client_secret"].as_str().unwrap()))
        .form(&[("token", access_token)])
        .send()
        .await
        .unwrap();
    let introspected: Value = resp.json().await.unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["aud"], MCP, "{introspected}");
}

#[tokio::test]
async fn a_grant_for_several_resources_gives_one_token_per_resource() {
    let server = server().await;
    let info = client(&server, "two-apis").await;
    let extra = [("resource", MCP), ("resource", FILES)];
    let (url, verifier) = authorize_url(&server, "two-apis", "openid mcp:tools files:read", &extra);
    let (code, prompt) = code(&server, &url).await;
    assert_eq!(prompt["auth_request"]["resources"], json!([MCP, FILES]));

    // Which one is ambiguous: invalid_target, and the code is not used up.
    let (status, refused) = redeem(&server, &info, &code, &verifier, &[]).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_target")), "{refused}");
    let (status, refused) = redeem(&server, &info, &code, &verifier, &[("resource", MCP), ("resource", FILES)]).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_target")), "one per token: {refused}");
    let (status, refused) = redeem(&server, &info, &code, &verifier, &[("resource", PRIVATE)]).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_target")), "not authorized: {refused}");

    let (status, tokens) = redeem(&server, &info, &code, &verifier, &[("resource", FILES)]).await;
    assert_eq!(status, 200, "{tokens}");
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!((access["aud"].as_str(), access["scope"].as_str()), (Some(FILES), Some("files:read")));

    // The refresh token gets a token for the other resource of the grant.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("resource", MCP)];
    let (status, other) = token(&server, &info, &form).await;
    assert_eq!(status, 200, "{other}");
    let access = claims(other["access_token"].as_str().unwrap());
    assert_eq!((access["aud"].as_str(), access["scope"].as_str()), (Some(MCP), Some("mcp:tools")));

    // A refused refresh costs the client nothing: the refresh token is still good.
    let refresh = other["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (status, refused) = token(&server, &info, &form).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_target")), "{refused}");
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh), ("resource", FILES)];
    assert_eq!(token(&server, &info, &form).await.0, 200);
}

#[tokio::test]
async fn an_unknown_or_disallowed_resource_is_invalid_target_at_the_redirect_uri() {
    let server = server().await;
    client(&server, "outsider").await;
    for (resource, why) in [
        ("https://unknown.example.com/api", "not registered"),
        (PRIVATE, "only for another client"),
        ("https://mcp.example.com/mcp#frag", "a fragment"),
        ("/relative", "not absolute"),
    ] {
        let (url, _) = authorize_url(&server, "outsider", "openid", &[("resource", resource)]);
        let prompt = start(&server, &url).await;
        assert_eq!(prompt["type"], "response", "{why}: redirected with the error: {prompt}");
        let params = redirect_params(prompt["uri"].as_str().unwrap());
        assert_eq!(params["error"], "invalid_target", "{why}: {params:?}");
        assert_eq!(params["state"], "st");
    }

    // The client the private resource lists may ask for it; its token carries every granted
    // scope, as the resource lists none.
    let info = client(&server, "the-insider").await;
    let (url, verifier) = authorize_url(&server, "the-insider", "openid email", &[("resource", PRIVATE)]);
    let (code, _) = code(&server, &url).await;
    let (status, tokens) = redeem(&server, &info, &code, &verifier, &[]).await;
    assert_eq!(status, 200, "{tokens}");
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!((access["aud"].as_str(), access["scope"].as_str()), (Some(PRIVATE), Some("openid email")));
}

#[tokio::test]
async fn a_request_without_resources_is_for_this_provider_as_before() {
    let server = server().await;
    let info = client(&server, "plain").await;
    let (url, verifier) = authorize_url(&server, "plain", "openid email", &[]);
    let (code, prompt) = code(&server, &url).await;
    assert!(prompt["auth_request"].get("resources").is_none(), "{prompt}");
    let (status, refused) = redeem(&server, &info, &code, &verifier, &[("resource", MCP)]).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_target")), "not authorized: {refused}");
    let (status, tokens) = redeem(&server, &info, &code, &verifier, &[]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["aud"], server.issuer.as_str());
}

#[tokio::test]
async fn client_credentials_tokens_are_for_the_resource_named() {
    let server = server().await;
    let info = server
        .web_client(json!({
            "client_id": "daemon",
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
            "scope": "files:read mcp:tools",
        }))
        .await;
    let (status, tokens) =
        token(&server, &info, &[("grant_type", "client_credentials"), ("scope", "files:read"), ("resource", FILES)])
            .await;
    assert_eq!(status, 200, "{tokens}");
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!((access["aud"].as_str(), access["scope"].as_str()), (Some(FILES), Some("files:read")));

    for resource in ["https://unknown.example.com/api", PRIVATE] {
        let (status, refused) =
            token(&server, &info, &[("grant_type", "client_credentials"), ("resource", resource)]).await;
        assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_target")), "{resource}: {refused}");
    }
    let form = [("grant_type", "client_credentials"), ("resource", FILES), ("resource", MCP)];
    let (status, refused) = token(&server, &info, &form).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_target")), "{refused}");
}

#[tokio::test]
async fn a_remembered_consent_covers_the_resources_it_was_given_for() {
    let server = server().await;
    client(&server, "remember").await;
    let (url, _) = authorize_url(&server, "remember", "openid", &[("resource", MCP)]);
    let query = server.browse_authorize(&url).await;
    let prompt = server.start_session(&query, None, None).await;
    let sid = prompt["sid"].as_str().unwrap();
    let consent_prompt = server.submit_subject(sid, alice()).await;
    let sso = consent_prompt["sso"]["token"].as_str().expect("an SSO credential").to_owned();
    server.submit_consent(sid, json!({"scope": "*"})).await;

    // The same resource in the same session: no consent asked.
    let (url, _) = authorize_url(&server, "remember", "openid", &[("resource", MCP), ("prompt", "none")]);
    let query = server.browse_authorize(&url).await;
    let prompt = server.start_session(&query, Some(&sso), None).await;
    assert!(redirect_params(prompt["uri"].as_str().unwrap()).contains_key("code"), "{prompt}");

    // Another resource is a new consent.
    let (url, _) = authorize_url(&server, "remember", "openid", &[("resource", FILES), ("prompt", "none")]);
    let query = server.browse_authorize(&url).await;
    let prompt = server.start_session(&query, Some(&sso), None).await;
    assert_eq!(redirect_params(prompt["uri"].as_str().unwrap())["error"], "consent_required", "{prompt}");
}

#[tokio::test]
async fn pushed_requests_and_request_objects_carry_resources() {
    let server = server().await;
    let info = client(&server, "pusher").await;
    let (url, verifier) = authorize_url(&server, "pusher", "openid mcp:tools", &[("resource", MCP)]);
    let form: Vec<(String, String)> = url::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
    let resp = server
        .http
        .post(server.url("/par"))
        .basic_auth("pusher", Some(info["client_secret"].as_str().unwrap()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let pushed: Value = resp.json().await.unwrap();
    let uri = pushed["request_uri"].as_str().unwrap();
    let by_reference = format!("{}?client_id=pusher&request_uri={}", server.url("/authorize"), urlencoding(uri));
    let (pushed_code, _) = code(&server, &by_reference).await;
    let (status, tokens) = redeem(&server, &info, &pushed_code, &verifier, &[]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(claims(tokens["access_token"].as_str().unwrap())["aud"], MCP);

    // A pushed request for a resource nobody registered is refused at the push.
    let mut bad = form.clone();
    bad.retain(|(k, _)| k != "resource");
    bad.push(("resource".into(), "https://unknown.example.com/api".into()));
    let resp = server
        .http
        .post(server.url("/par"))
        .basic_auth("pusher", Some(info["client_secret"].as_str().unwrap()))
        .form(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let refused: Value = resp.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_target", "{refused}");

    // An unsigned request object (the client registered `none`) names two resources as an array.
    let (status, _) = server
        .admin(
            Method::PUT,
            "/clients/v1/pusher",
            Some(json!({
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                "request_object_signing_alg": "none",
            })),
        )
        .await;
    assert_eq!(status, 200);
    let object = json!({
        "client_id": "pusher", "response_type": "code", "scope": "openid mcp:tools files:read",
        "redirect_uri": REDIRECT, "state": "st", "nonce": "n",
        "code_challenge": PkceCodeChallenge::from_code_verifier_sha256(&openidconnect::PkceCodeVerifier::new(verifier.clone())).as_str(),
        "code_challenge_method": "S256", "resource": [MCP, FILES],
    });
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let jwt = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&object));
    let url = format!("{}?client_id=pusher&response_type=code&scope=openid&request={jwt}", server.url("/authorize"));
    let (_, prompt) = code(&server, &url).await;
    assert_eq!(prompt["auth_request"]["resources"], json!([MCP, FILES]), "{prompt}");
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn authorization_server_metadata_is_the_discovery_document() {
    let server = server().await;
    let get = |path: &'static str| {
        let http = server.http.clone();
        let url = server.url(path);
        async move {
            let resp = http.get(url).send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, oauth) = get("/.well-known/oauth-authorization-server").await;
    assert_eq!(status, 200);
    let (_, openid) = get("/.well-known/openid-configuration").await;
    assert_eq!(oauth, openid, "RFC 8414 and OpenID discovery agree");
    assert_eq!(oauth["issuer"], server.issuer.as_str());
    assert_eq!(oauth["code_challenge_methods_supported"], json!(["S256"]));
    for scope in ["mcp:tools", "files:read", "files:write"] {
        assert!(oauth["scopes_supported"].as_array().unwrap().contains(&json!(scope)), "{scope} advertised");
    }
    assert!(oauth.get("client_id_metadata_document_supported").is_none(), "off by default");
    // RFC 8414 §3.1: the path-inserted form exists only for an issuer with that path.
    let (status, problem) = get("/.well-known/oauth-authorization-server/tenant").await;
    assert_eq!(status, 404, "{problem}");
}
