//! The Dynamic OP plan's registration modules (`oidcc-dynamic-certification-test-plan`,
//! `OIDCCDynamicTestPlan.java`), for the `client_secret_basic` and `private_key_jwt` variants.
//! Every module registers its client through `OIDCCCreateDynamicClientRegistrationRequest`
//! (client_name, grant_types, the public RS256 `jwks`, token_endpoint_auth_method,
//! response_types, redirect_uris, contacts) and checks the answer with
//! `CallDynamicRegistrationEndpointAndVerifySuccessfulResponse`; at the end it deletes the
//! client (`UnregisterDynamicallyRegisteredClient`: 204). The provider serves https, as the
//! suite's `VerifyClientManagementCredentials` wants the configuration endpoint on https.
//! Modules whose placeholder is a screenshot (the logo, policy and terms pages, the redirect
//! URI error pages) are checked on what the screenshot would show: the example front-end's
//! page, or the provider's error prompt that no redirect follows.

use axum::Router;
use axum::routing::get;
use gatehouse_protocol::world::Clock;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::client_auth_jwt::{redeem, suite_authorize, suite_key, verified_id_token};
use crate::registration::{Answer, call};
use crate::support::browser::Browser;
use crate::support::client_jwt::{ClientKey, assertion_claims, jwks};
use crate::support::rp::{Rp, login};
use crate::support::stack::stack;
use crate::support::tls::TestCa;
use crate::support::{TestServer, alice, redirect_params};

/// `CreateRedirectUri`: the suite's callback for this test alias.
pub(super) const REDIRECT_URI: &str = "https://localhost.emobix.co.uk:8443/test/a/gatehouse/callback";
/// `AbstractCondition.SUPPORT_EMAIL`, which `AddContactsToDynamicRegistrationRequest` sends.
const SUPPORT_EMAIL: &str = "certification@oidf.org";
/// The two client authentication variants the plan must pass.
const VARIANTS: [&str; 2] = ["client_secret_basic", "private_key_jwt"];

/// The provider as the plan meets it: https, open registration, fetching documents (the
/// sector identifier) from servers signed by `ca`.
pub(super) async fn provider(ca: &TestCa) -> TestServer {
    TestServer::start_https(
        ca,
        "",
        &format!(
            "[registration]\nmode = \"open\"\n[outbound]\nallow_private_addresses = true\nca_file = \"{}\"\n",
            ca.file.display()
        ),
    )
    .await
}

/// `OIDCCCreateDynamicClientRegistrationRequest` for `auth` with `redirect_uri`.
pub(super) fn registration_request(auth: &str, key: &ClientKey, redirect_uri: &str) -> Value {
    json!({
        "client_name": "OIDF Conformance Test oidcc",
        "grant_types": ["authorization_code"],
        "jwks": jwks(&[key]),
        "token_endpoint_auth_method": auth,
        "response_types": ["code"],
        "redirect_uris": [redirect_uri],
        "contacts": [SUPPORT_EMAIL],
    })
}

async fn call_registration_endpoint(server: &TestServer, request: &Value) -> Answer {
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let endpoint = discovery["registration_endpoint"].as_str().expect("CallDynamicRegistrationEndpoint: an endpoint");
    call(server, Method::POST, endpoint, None, Some(request.clone())).await
}

fn ensure_content_type_json(answer: &Answer) {
    let content_type = answer.content_type.as_deref().expect("EnsureContentTypeJson: a content type");
    assert_eq!(content_type.split(';').next().unwrap().trim(), "application/json", "EnsureContentTypeJson");
}

/// `CallDynamicRegistrationEndpointAndVerifySuccessfulResponse`; returns the client.
pub(super) async fn register_and_verify(server: &TestServer, request: &Value) -> Value {
    let answer = call_registration_endpoint(server, request).await;
    ensure_content_type_json(&answer);
    assert_eq!(answer.status, 201, "EnsureHttpStatusCodeIs201: {}", answer.body);
    let client = answer.body;
    assert!(client.get("error").is_none(), "CheckNoErrorFromDynamicRegistrationEndpoint: {client}");
    assert!(client["client_id"].is_string(), "ExtractDynamicRegistrationResponse");
    // VerifyClientManagementCredentials: both or neither; an https URI and a token.
    let uri = client["registration_client_uri"].as_str().expect("registration_client_uri");
    assert_eq!(url::Url::parse(uri).unwrap().scheme(), "https", "the client management endpoint uses https");
    assert!(!client["registration_access_token"].as_str().expect("registration_access_token").is_empty());
    // VerifyDynamicRegistrationResponseClientCredentials.
    if client.get("client_secret").is_some() {
        assert!(client["client_secret_expires_at"].is_i64(), "client_secret_expires_at with the secret");
    }
    for (key, value) in request.as_object().unwrap() {
        assert_eq!(&client[key], value, "{key} is echoed");
    }
    client
}

/// `UnregisterDynamicallyRegisteredClient`.
pub(super) async fn unregister(server: &TestServer, client: &Value) {
    let uri = client["registration_client_uri"].as_str().unwrap();
    let token = client["registration_access_token"].as_str();
    let answer = call(server, Method::DELETE, uri, token, None).await;
    assert_eq!(answer.status, 204, "registration_client_uri answers 204 No Content: {}", answer.body);
}

/// The code flow the plan's `oidcc-server` runs with the registered client, for its
/// authentication method: the ID token verified, UserInfo's `sub` the ID token's.
async fn code_flow(server: &TestServer, client: &Value, key: &ClientKey) {
    if client["token_endpoint_auth_method"] == "private_key_jwt" {
        let (code, nonce, redirect_uri) = suite_authorize(server, client, "openid", &[], json!({"scope": "*"})).await;
        let claims =
            assertion_claims(client["client_id"].as_str().unwrap(), &server.url("/token"), server.clock.now().0);
        let tokens = redeem(server, &code, &redirect_uri, &key.sign(&claims)).await;
        let id_claims = verified_id_token(server, client, &tokens, &nonce).await;
        let userinfo: Value = server
            .http
            .get(server.url("/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(userinfo["sub"], id_claims["sub"], "VerifyUserInfoAndIdTokenInAuthorizationEndpointSameSub");
    } else {
        let rp = Rp::new(server, client).await;
        let (_, done) = login(server, &rp, &["openid"], alice(), json!({"scope": "*"})).await;
        assert_eq!(done.userinfo["sub"], done.id_claims["sub"]);
        assert_eq!(done.id_claims["aud"], client["client_id"]);
    }
}

/// `oidcc-server` with `client_registration=dynamic_client`: register, log in, unregister.
#[tokio::test]
async fn oidcc_server() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    for auth in VARIANTS {
        let key = suite_key();
        let client = register_and_verify(&server, &registration_request(auth, &key, REDIRECT_URI)).await;
        assert_eq!(client.get("client_secret").is_some(), auth == "client_secret_basic", "{auth}: {client}");
        code_flow(&server, &client, &key).await;
        unregister(&server, &client).await;
    }
}

/// `oidcc-idtoken-signature` with a dynamic client (OIDCCIdTokenSignature.java): registered
/// with no `id_token_signed_response_alg`, the client gets an ID token with a `kid`
/// (`EnsureIdTokenContainsKid`) signed with RS256, the default of Dynamic Registration §2
/// (`EnsureIdTokenSignatureIsRS256`), which the registration echoes.
#[tokio::test]
async fn oidcc_idtoken_signature() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    let key = suite_key();
    let client = register_and_verify(&server, &registration_request("private_key_jwt", &key, REDIRECT_URI)).await;
    assert_eq!(client["id_token_signed_response_alg"], "RS256", "{client}");
    let (code, nonce, redirect_uri) = suite_authorize(&server, &client, "openid", &[], json!({"scope": "*"})).await;
    let claims = assertion_claims(client["client_id"].as_str().unwrap(), &server.url("/token"), server.clock.now().0);
    let tokens = redeem(&server, &code, &redirect_uri, &key.sign(&claims)).await;
    let header = jsonwebtoken::decode_header(tokens["id_token"].as_str().unwrap()).unwrap();
    assert!(header.kid.is_some(), "EnsureIdTokenContainsKid");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256, "EnsureIdTokenSignatureIsRS256");
    verified_id_token(&server, &client, &tokens, &nonce).await;
    unregister(&server, &client).await;
}

/// The logo, policy and terms modules: a client registered with the member (the suite's own
/// https URLs) is shown with it on the login page (`ExpectLoginPageWith…`), and on the consent
/// page after it, by the example front-end.
async fn shown_by_the_front_end(member: &str, value: &str, selector: &str) {
    let stack = stack().await;
    let mut request = registration_request("client_secret_basic", &suite_key(), REDIRECT_URI);
    request[member] = json!(value);
    // The stack's provider is a loopback one, open by default; the module's checks of the
    // answer are those of `register_and_verify` but the https management endpoint.
    let answer = call(&stack.server, Method::POST, &stack.server.url("/register"), None, Some(request)).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body[member], value, "{member} is echoed");
    let client_id = answer.body["client_id"].as_str().unwrap();
    let mut authorize = url::Url::parse(&stack.server.url("/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s"),
        ("nonce", "n"),
    ]);
    let browser = Browser::new();
    let page = browser.get(&authorize).await;
    assert!(page.is_login_form(), "{}", page.body);
    let selector = selector.replace("{}", value);
    assert!(page.has(&selector), "the login page shows the client's {member}: {}", page.body);
    let consent = browser.submit(page.form("login").set("username", "alice").set("password", "wonderland")).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    assert!(consent.has(&selector), "so does the consent page: {}", consent.body);
    assert!(consent.body.contains("OIDF Conformance Test oidcc"), "and the client_name");
}

#[tokio::test]
async fn oidcc_registration_logo_uri() {
    shown_by_the_front_end("logo_uri", "https://www.certification.openid.net/images/openid.png", r#"img[src="{}"]"#)
        .await;
}

#[tokio::test]
async fn oidcc_registration_policy_uri() {
    shown_by_the_front_end(
        "policy_uri",
        "https://www.certification.openid.net/test/a/gatehouse/policy",
        r#"a[href="{}"]"#,
    )
    .await;
}

#[tokio::test]
async fn oidcc_registration_tos_uri() {
    shown_by_the_front_end("tos_uri", "https://www.certification.openid.net/test/a/gatehouse/tos", r#"a[href="{}"]"#)
        .await;
}

/// Serves the module's `redirect_uris.json` holding `uris`; returns its URL.
async fn sector_document(ca: &TestCa, uris: Vec<&'static str>) -> String {
    let body = serde_json::to_string(&uris).unwrap();
    let router = Router::new().route(
        "/test/a/gatehouse/redirect_uris.json",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    format!("{}/test/a/gatehouse/redirect_uris.json", ca.serve(router).await)
}

/// Both sector modules are skipped unless discovery offers pairwise subjects.
async fn assert_pairwise_offered(server: &TestServer) {
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(discovery["subject_types_supported"].as_array().unwrap().contains(&json!("pairwise")));
}

/// `oidcc-registration-sector-uri`: pairwise, with a `sector_identifier_uri` listing the
/// redirect URI (`CreateSectorRedirectUris`): a successful registration.
#[tokio::test]
async fn oidcc_registration_sector_uri() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    assert_pairwise_offered(&server).await;
    let document = sector_document(&ca, vec![REDIRECT_URI]).await;
    for auth in VARIANTS {
        let mut request = registration_request(auth, &suite_key(), REDIRECT_URI);
        request["subject_type"] = json!("pairwise");
        request["sector_identifier_uri"] = json!(document);
        let client = register_and_verify(&server, &request).await;
        unregister(&server, &client).await;
    }
}

/// `oidcc-registration-sector-bad`: the document does not list the redirect URI
/// (`CreateInvalidSectorRedirectUris`): JSON, 400, `invalid_client_metadata` (a WARNING).
#[tokio::test]
async fn oidcc_registration_sector_bad() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    assert_pairwise_offered(&server).await;
    let document = sector_document(&ca, vec!["https://example.com/op"]).await;
    for auth in VARIANTS {
        let mut request = registration_request(auth, &suite_key(), REDIRECT_URI);
        request["subject_type"] = json!("pairwise");
        request["sector_identifier_uri"] = json!(document);
        let answer = call_registration_endpoint(&server, &request).await;
        ensure_content_type_json(&answer);
        assert_eq!(answer.status, 400, "EnsureHttpStatusCodeIs400");
        assert_eq!(
            answer.body["error"], "invalid_client_metadata",
            "CheckErrorFromDynamicRegistrationEndpointIsInvalidClientMetadata"
        );
    }
}

/// `oidcc-redirect-uri-regfrag`: a redirect URI with a fragment (`AddFragmentToRedirectUri`)
/// is refused: JSON, 400, `invalid_redirect_uri` or `invalid_client_metadata`.
#[tokio::test]
async fn oidcc_redirect_uri_regfrag() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    for auth in VARIANTS {
        let request = registration_request(auth, &suite_key(), &format!("{REDIRECT_URI}#foobar"));
        let answer = call_registration_endpoint(&server, &request).await;
        ensure_content_type_json(&answer);
        assert_eq!(answer.status, 400, "EnsureHttpStatusCodeIs400");
        let error = answer.body["error"].as_str().unwrap();
        assert!(["invalid_redirect_uri", "invalid_client_metadata"].contains(&error), "{error}");
    }
}

/// The suite's authorization request for `client`, with `redirect_uri` as given (or none);
/// the prompt the provider answers the front-end with.
async fn authorization_prompt(server: &TestServer, client: &Value, redirect_uri: Option<&str>) -> Value {
    let mut authorize = url::Url::parse(&server.url("/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("client_id", client["client_id"].as_str().unwrap()),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "xyz"),
        ("nonce", "abc"),
    ]);
    if let Some(uri) = redirect_uri {
        authorize.query_pairs_mut().append_pair("redirect_uri", uri);
    }
    let query = server.browse_authorize(authorize.as_str()).await;
    server.start_session(&query, None, None).await
}

/// What the screenshot of an error page must show: an error, and no redirect to the client
/// (`AuthorizationEndpointRedirectedBackUnexpectedly` / the modules' `processCallback`).
fn assert_error_page(prompt: &Value, about: &str) {
    assert_eq!(prompt["type"], "error", "an error page, not a redirect: {prompt}");
    assert!(prompt.get("uri").is_none() && prompt.get("redirect_uri").is_none(), "{prompt}");
    assert_eq!(prompt["error"], "invalid_request", "{prompt}");
    assert!(prompt["error_description"].as_str().unwrap().contains(about), "{prompt}");
}

/// `oidcc-ensure-redirect-uri-in-authorization-request`: with two registered redirect URIs
/// (`AddMultipleRedirectUriToDynamicRegistrationRequest`) a request without `redirect_uri` is
/// an error page.
#[tokio::test]
async fn oidcc_ensure_redirect_uri_in_authorization_request() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    let mut request = registration_request("client_secret_basic", &suite_key(), REDIRECT_URI);
    request["redirect_uris"] = json!([REDIRECT_URI, "https://example.org/redirect"]);
    let client = register_and_verify(&server, &request).await;
    assert_error_page(&authorization_prompt(&server, &client, None).await, "redirect_uri");
    unregister(&server, &client).await;
}

/// `oidcc-redirect-uri-query-OK`: a registered redirect URI with a query (`AddQueryToRedirectUri`:
/// `?bar=foo`), sent as registered: the flow completes, the query kept beside the response.
#[tokio::test]
async fn oidcc_redirect_uri_query_ok() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    let with_query = format!("{REDIRECT_URI}?bar=foo");
    for auth in VARIANTS {
        let key = suite_key();
        let client = register_and_verify(&server, &registration_request(auth, &key, &with_query)).await;
        code_flow(&server, &client, &key).await;
        let prompt = authorization_prompt(&server, &client, Some(&with_query)).await;
        let sid = prompt["sid"].as_str().expect("an authentication prompt").to_owned();
        server.submit_subject(&sid, alice()).await;
        let done = server.submit_consent(&sid, json!({"scope": "*"})).await;
        let uri = done["uri"].as_str().unwrap();
        assert!(uri.starts_with(&format!("{with_query}&")), "{uri}");
        let params = redirect_params(uri);
        assert_eq!(params["bar"], "foo");
        assert!(params.contains_key("code") && params["state"] == "xyz");
        unregister(&server, &client).await;
    }
}

/// `oidcc-redirect-uri-query-mismatch`: registered `?bar=foo`, sent `?foo=bar`
/// (`ReplaceRedirectUriQueryInAuthorizationRequest`): an error page.
#[tokio::test]
async fn oidcc_redirect_uri_query_mismatch() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    let registered = format!("{REDIRECT_URI}?bar=foo");
    let client =
        register_and_verify(&server, &registration_request("client_secret_basic", &suite_key(), &registered)).await;
    let prompt = authorization_prompt(&server, &client, Some(&format!("{REDIRECT_URI}?foo=bar"))).await;
    assert_error_page(&prompt, "redirect_uri");
    unregister(&server, &client).await;
}

/// `oidcc-redirect-uri-query-added`: registered without a query, sent with `?foo=bar`
/// (`AddQueryToRedirectUriInAuthorizationRequest`): an error page.
#[tokio::test]
async fn oidcc_redirect_uri_query_added() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    let client =
        register_and_verify(&server, &registration_request("client_secret_basic", &suite_key(), REDIRECT_URI)).await;
    let prompt = authorization_prompt(&server, &client, Some(&format!("{REDIRECT_URI}?foo=bar"))).await;
    assert_error_page(&prompt, "redirect_uri");
    unregister(&server, &client).await;
}
