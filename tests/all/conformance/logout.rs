//! The logout OP plans: RP-Initiated Logout (`oidcc-rp-initiated-logout-certification-test-plan`,
//! `OIDCCRpInitiatedLogoutTestPlan.java`), Back-Channel Logout
//! (`oidcc-backchannel-rp-initiated-logout-certification-test-plan`) and Front-Channel Logout
//! (`oidcc-frontchannel-rp-initiated-logout-certification-test-plan`), with the variants they
//! fix (discovery, `client_secret_basic`, the default response mode). The plans leave client
//! registration open; these tests register dynamically, so the `post_logout_redirect_uris`
//! and logout URIs of `AbstractOIDCCRpInitiatedLogout` and its subclasses go through the
//! registration endpoint and are checked as echoed, and delete the client at the end as the
//! suite's `cleanup` does. The provider serves https (`CheckDiscEndpointAllEndpointsAreHttps`).
//!
//! Every module logs in first (`AbstractOIDCCServerTest`'s code flow with a 128-character
//! state), then sends the browser to the `end_session_endpoint` with `id_token_hint`,
//! `post_logout_redirect_uri` and a random `state` of visible ASCII
//! (`CreateEndSessionEndpointRequest`, `CreateRandomEndSessionState`), each module changing
//! that request. The browser follows the provider's redirect to the login front-end, played
//! through the logout-request API as the example front-end plays it: it shows what
//! `GET /logout-requests/v1/{id}` says, the user confirms, and the browser loads the
//! front-channel URIs and goes where `redirect` says. Where a module's check is a screenshot
//! ("an error page", "the 'you are logged out' screen"), the test checks what the screenshot
//! would show: the provider's refusal page (400, never a redirect), or the confirmed logout
//! with no redirect. Where the browser comes back, a second authorization with `prompt=none`
//! must fail with an error that needs a user interface.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::routing::post;
use jsonwebtoken::{Algorithm, Header};
use openidconnect::Nonce;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use super::dynamic_registration::{provider, register_and_verify, registration_request, unregister};
use crate::client_auth_jwt::suite_key;
use crate::support::client_jwt::{ClientKey, random_jti};
use crate::support::rp::Rp;
use crate::support::tls::{TestCa, TlsInfo};
use crate::support::{LOGOUT_URL, TestServer, alice, redirect_params};

/// The suite's base URL for this test alias, under which it creates its redirect URIs.
const BASE_URL: &str = "https://localhost.emobix.co.uk:8443/test/a/gatehouse";
/// The back-channel logout event (Back-Channel Logout 1.0 §2.4).
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// `CreateRandomStateValue` with `requested_state_length` 128 (which
/// `AbstractOIDCCRpInitiatedLogout` sets "to check OP doesn't corrupt it"): alphanumerics and
/// `-._~`.
fn long_state() -> String {
    let alphanumerics: String = (0..7).map(|_| random_jti()).collect();
    format!("{}-._~", &alphanumerics[..124])
}

/// `CreateRandomEndSessionState`: 50 letters, 10 digits and 30 punctuation characters of
/// VSCHAR, with `+`, space and `;` turned into `~`. Here the punctuation is all 33 characters
/// the suite draws from rather than 30 of them, to check each comes back intact.
fn end_session_state() -> String {
    let letters: String = std::iter::repeat_with(random_jti)
        .flat_map(|s| s.chars().filter(char::is_ascii_alphabetic).collect::<Vec<_>>())
        .take(50)
        .collect();
    let punctuation: String = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
        .chars()
        .map(|c| if matches!(c, '+' | ' ' | ';') { '~' } else { c })
        .collect();
    format!("{letters}0123456789{punctuation}")
}

/// The discovery document as `GetDynamicServerConfiguration` fetches it, with the checks the
/// front-channel module adds (`EnsureDiscoveryEndpointResponseStatusCodeIs200`,
/// `CheckDiscoveryEndpointReturnedJsonContentType`), then `CheckDiscEndpointAllEndpointsAreHttps`
/// and `CheckDiscEndSessionEndpoint`, which every logout plan's discovery module runs.
async fn discovery(server: &TestServer) -> Value {
    let response = server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(response.status(), 200, "EnsureDiscoveryEndpointResponseStatusCodeIs200");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(
        content_type.split(';').next().unwrap().trim(),
        "application/json",
        "CheckDiscoveryEndpointReturnedJsonContentType"
    );
    let doc: Value = response.json().await.expect("GetDynamicServerConfiguration: JSON");
    for (key, value) in doc.as_object().unwrap().iter().filter(|(k, _)| k.ends_with("_endpoint")) {
        let url = value.as_str().map(url::Url::parse).unwrap_or_else(|| panic!("{key} is a string"));
        assert_eq!(url.unwrap().scheme(), "https", "CheckDiscEndpointAllEndpointsAreHttps: {key}");
    }
    let end_session = doc["end_session_endpoint"].as_str().expect("CheckDiscEndSessionEndpoint: present");
    assert_eq!(url::Url::parse(end_session).unwrap().scheme(), "https", "CheckDiscEndSessionEndpoint: https");
    doc
}

/// `AbstractValidateJsonBoolean` with a required `true` (absent means `false`).
fn assert_true(doc: &Value, key: &str) {
    assert_eq!(doc.get(key), Some(&json!(true)), "CheckDiscEndpoint…: {key} must be true");
}

/// The suite against one provider: its client, the browser's SSO cookie and the tokens of the
/// first login.
struct Suite {
    server: TestServer,
    discovery: Value,
    /// Under which the suite's URIs are (`base_url`).
    base: String,
    client: Value,
    /// The client's key (`GenerateRS256ClientJWKs`), which `SignFakeIdToken` uses.
    key: ClientKey,
    /// The browser's single sign-on cookie at the front-end.
    sso: Option<String>,
    id_token: String,
    id_claims: Value,
    _ca: TestCa,
}

impl Suite {
    /// A provider, the client registered with `post_logout_redirect_uris` and `extra`, and the
    /// first login done.
    async fn new(ca: TestCa, base: &str, extra: Value) -> Self {
        let server = provider(&ca).await;
        let discovery = discovery(&server).await;
        let key = suite_key();
        let mut request = registration_request("client_secret_basic", &key, &format!("{base}/callback"));
        // AddPostLogoutRedirectUriToDynamicRegistrationRequest.
        request["post_logout_redirect_uris"] = json!([format!("{base}/post_logout_redirect")]);
        crate::support::merge(&mut request, extra);
        let client = register_and_verify(&server, &request).await;
        let mut suite = Suite {
            server,
            discovery,
            base: base.to_owned(),
            client,
            key,
            sso: None,
            id_token: String::new(),
            id_claims: Value::Null,
            _ca: ca,
        };
        suite.first_login().await;
        suite
    }

    /// A suite whose URIs are the suite's own (never fetched by the provider).
    async fn standard() -> Self {
        Self::new(TestCa::new(), BASE_URL, json!({})).await
    }

    fn client_id(&self) -> &str {
        self.client["client_id"].as_str().unwrap()
    }

    fn post_logout_redirect_uri(&self) -> String {
        format!("{}/post_logout_redirect", self.base)
    }

    /// The suite's authorization request (`CreateAuthorizationRequestSteps`) with `extra`; the
    /// front-end's first prompt, the state and the nonce.
    async fn authorize(&self, extra: &[(&str, &str)]) -> (Value, String, String) {
        let (state, nonce) = (long_state(), random_jti());
        let redirect_uri = format!("{}/callback", self.base);
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs([
            ("client_id", self.client_id()),
            ("scope", "openid"),
            ("redirect_uri", &redirect_uri),
            ("state", &state),
            ("nonce", &nonce),
            ("response_type", "code"),
        ]);
        query.extend_pairs(extra);
        let endpoint = self.discovery["authorization_endpoint"].as_str().unwrap();
        let front = self.server.browse_authorize(&format!("{endpoint}?{}", query.finish())).await;
        let prompt = self.server.start_session(&front, self.sso.as_deref(), None).await;
        (prompt, state, nonce)
    }

    /// The authorization response (`CheckMatchingCallbackParameters`,
    /// `ValidateIssIfPresentInAuthorizationResponse`, `CheckStateInAuthorizationResponse`).
    fn callback(&self, prompt: &Value, state: &str) -> HashMap<String, String> {
        assert_eq!(prompt["type"], "response", "the provider sends the browser back: {prompt}");
        let uri = prompt["uri"].as_str().unwrap();
        assert!(uri.starts_with(&format!("{}/callback?", self.base)), "CheckMatchingCallbackParameters: {uri}");
        let params = redirect_params(uri);
        assert_eq!(params.get("iss"), Some(&self.server.issuer), "ValidateIssIfPresentInAuthorizationResponse");
        assert_eq!(params.get("state").map(String::as_str), Some(state), "CheckStateInAuthorizationResponse");
        params
    }

    /// The first authorization: the user logs in and consents, the code is redeemed with
    /// `client_secret_basic` and the ID token verified (signature, iss, aud, nonce, at_hash).
    async fn first_login(&mut self) {
        let (prompt, state, nonce) = self.authorize(&[]).await;
        assert_eq!(prompt["type"], "auth", "{prompt}");
        let sid = prompt["sid"].as_str().unwrap().to_owned();
        let consent = self.server.submit_subject(&sid, alice()).await;
        self.sso = Some(consent["sso"]["token"].as_str().expect("the front-end's SSO cookie").to_owned());
        let prompt = self.server.submit_consent(&sid, json!({"scope": "*"})).await;
        let params = self.callback(&prompt, &state);
        let code = params.get("code").expect("ExtractAuthorizationCodeFromAuthorizationResponse");
        let rp = Rp::new(&self.server, &self.client).await;
        let login = rp.redeem_and_verify(&self.server, code, None, &Nonce::new(nonce)).await;
        self.id_token = openidconnect::TokenResponse::id_token(&login.tokens).unwrap().to_string();
        self.id_claims = login.id_claims;
        assert!(self.id_claims["sid"].is_string(), "the ID token names the session: {}", self.id_claims);
    }

    /// `CreateEndSessionEndpointRequest`: the parameters in the suite's order, and the state.
    fn end_session_request(&self) -> (Vec<(String, String)>, String) {
        let state = end_session_state();
        let params = vec![
            ("id_token_hint".to_owned(), self.id_token.clone()),
            ("post_logout_redirect_uri".to_owned(), self.post_logout_redirect_uri()),
            ("state".to_owned(), state.clone()),
        ];
        (params, state)
    }

    /// `BuildRedirectToEndSessionEndpoint`, and the browser there: the logout request the
    /// provider sends the front-end to confirm, or the refusal page's status and text.
    async fn end_session(&self, params: &[(String, String)]) -> Result<String, (u16, String)> {
        let mut url = url::Url::parse(self.discovery["end_session_endpoint"].as_str().unwrap()).unwrap();
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        let resp = self.server.http.get(url).send().await.unwrap();
        let status = resp.status().as_u16();
        if status == 303 {
            let location = resp.headers()["location"].to_str().unwrap().to_owned();
            let (page, query) = location.split_once('?').unwrap();
            assert_eq!(page, LOGOUT_URL, "the browser goes to the front-end's logout page, nowhere else");
            return Ok(redirect_params(&format!("x:?{query}"))["logout_request"].clone());
        }
        assert!(resp.headers().get("location").is_none(), "a refused logout is never redirected");
        Err((status, resp.text().await.unwrap()))
    }

    /// The front-end's logout page: what it shows, then the user's confirmation with the
    /// browser's SSO cookie; the prompt and what the provider answered.
    async fn confirm(&self, id: &str) -> (Value, Value) {
        let (status, prompt) = self.server.api(Method::GET, &format!("/logout-requests/v1/{id}"), None).await;
        assert_eq!(status, 200, "{prompt}");
        let body = json!({ "sso_token": self.sso });
        let (status, done) =
            self.server.api(Method::POST, &format!("/logout-requests/v1/{id}/confirm"), Some(body)).await;
        assert_eq!(status, 200, "{done}");
        (prompt, done)
    }

    /// A module whose screenshot is an error page: the provider refuses the request with a
    /// page naming `about`, sends the browser nowhere (the suite fails if its
    /// `post_logout_redirect` is called), and the user stays logged in.
    async fn expect_error_page(&self, params: &[(String, String)], about: &str) {
        let (status, page) = self.end_session(params).await.expect_err("the provider refuses the request");
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("Sign-out request refused") && page.contains(about), "the error page: {page}");
        let (prompt, state, _) = self.authorize(&[("prompt", "none")]).await;
        let params = self.callback(&prompt, &state);
        assert!(params.contains_key("code"), "a refused logout ends nothing: {params:?}");
    }

    /// A module whose screenshot is "you are logged out": the front-end confirms, the subject
    /// session ends, and the browser stays at the provider's front-end.
    async fn expect_logged_out_page(&self, params: &[(String, String)]) -> Value {
        let id = self.end_session(params).await.expect("the front-end confirms the logout");
        let (prompt, done) = self.confirm(&id).await;
        assert_eq!(prompt["redirects"], false, "{prompt}");
        assert_eq!(done["ended"], true, "the user is logged out: {done}");
        assert!(done.get("redirect").is_none(), "the suite fails if its post_logout_redirect is called: {done}");
        self.prompt_none_fails().await;
        prompt
    }

    /// `CheckPostLogoutState` (or `CheckNoPostLogoutState`) and
    /// `CheckForUnexpectedParametersInPostLogoutRedirect` (WARN) on where the browser went.
    fn check_post_logout_redirect(&self, done: &Value, state: Option<&str>) {
        let redirect = done["redirect"].as_str().unwrap_or_else(|| panic!("the browser goes back: {done}"));
        let url = url::Url::parse(redirect).unwrap();
        let without_query = redirect.split('?').next().unwrap();
        assert_eq!(without_query, self.post_logout_redirect_uri(), "the registered post_logout_redirect_uri");
        let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(params.get("state").map(String::as_str), state, "CheckPostLogoutState / CheckNoPostLogoutState");
        for name in params.keys() {
            assert_eq!(name, "state", "CheckForUnexpectedParametersInPostLogoutRedirect (WARN)");
        }
    }

    /// The second authorization, with `prompt=none` (`AddPromptNoneToAuthorizationEndpointRequest`),
    /// and the browser's old SSO cookie: `performGenericAuthorizationEndpointErrorResponseValidation`
    /// and `CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface`.
    async fn prompt_none_fails(&self) {
        let (prompt, state, _) = self.authorize(&[("prompt", "none")]).await;
        let params = self.callback(&prompt, &state);
        let error = params.get("error").expect("EnsureErrorFromAuthorizationEndpointResponse");
        assert!(!params.contains_key("code"), "RejectAuthCodeInAuthorizationEndpointResponse");
        for name in params.keys() {
            assert!(
                ["error", "error_description", "error_uri", "state", "session_state", "iss"].contains(&name.as_str()),
                "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint (WARN): {name}"
            );
        }
        // RFC 6749 §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E.
        let allowed = |s: &str| {
            s.bytes().all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        };
        if let Some(description) = params.get("error_description") {
            assert!(!description.contains(['\r', '\n', '\t']), "CheckErrorDescription…ContainsCRLFTAB (WARN)");
            assert!(allowed(description), "ValidateErrorDescriptionFromAuthorizationEndpointResponseError");
        }
        assert!(
            ["interaction_required", "login_required", "account_selection_required", "consent_required"]
                .contains(&error.as_str()),
            "CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface: {error}"
        );
    }

    /// `cleanup`: `UnregisterDynamicallyRegisteredClient`.
    async fn finish(self) {
        unregister(&self.server, &self.client).await;
    }
}

/// Removes the parameter `name` from an end-session request.
fn without(params: &mut Vec<(String, String)>, name: &str) {
    params.retain(|(k, _)| k != name);
}

/// Sets the parameter `name` of an end-session request.
fn set(params: &mut Vec<(String, String)>, name: &str, value: String) {
    without(params, name);
    params.push((name.to_owned(), value));
}

// --- RP-Initiated Logout ----------------------------------------------------------------

#[tokio::test]
async fn oidcc_rp_initiated_logout_discovery_endpoint_verification() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    discovery(&server).await;
}

/// The user is logged out and the browser comes back with the state; `prompt=none` then fails.
#[tokio::test]
async fn oidcc_rp_initiated_logout() {
    let suite = Suite::standard().await;
    let (params, state) = suite.end_session_request();
    let id = suite.end_session(&params).await.expect("the front-end confirms the logout");
    let (prompt, done) = suite.confirm(&id).await;
    assert_eq!(prompt["client"]["client_id"], suite.client_id(), "the page names the client: {prompt}");
    assert_eq!(prompt["redirects"], true);
    assert_eq!(done["ended"], true);
    suite.check_post_logout_redirect(&done, Some(&state));
    suite.prompt_none_fails().await;
    suite.finish().await;
}

/// `post_logout_redirect_uri` is `…/bad_post_logout_redirect_uri`, which the client never
/// registered (`ExpectPostLogoutRedirectUriNotRegisteredErrorPage`).
#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_post_logout_redirect_uri() {
    let suite = Suite::standard().await;
    let (mut params, _) = suite.end_session_request();
    set(&mut params, "post_logout_redirect_uri", format!("{}/bad_post_logout_redirect_uri", suite.base));
    suite.expect_error_page(&params, "post_logout_redirect_uri is not one of the client's registered").await;
    suite.finish().await;
}

/// The ID token's header replaced by `{"alg": "none"}` and its signature dropped
/// (`ChangeIdTokenToAlgNone`, `ExpectInvalidIdTokenHintErrorPage`).
#[tokio::test]
async fn oidcc_rp_initiated_logout_modified_id_token_hint() {
    use base64::Engine;
    let suite = Suite::standard().await;
    let (mut params, _) = suite.end_session_request();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg": "none"}"#);
    let payload = suite.id_token.split('.').nth(1).unwrap();
    set(&mut params, "id_token_hint", format!("{header}.{payload}."));
    suite.expect_error_page(&params, "id_token_hint is not a valid ID token").await;
    suite.finish().await;
}

/// `post_logout_redirect_uri` and `state` without `id_token_hint`
/// (`RemoveIdTokenHintFromEndSessionEndpointRequest`, `ExpectIdTokenHintRequiredErrorPage`):
/// nothing says whose the URI is.
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_id_token_hint() {
    let suite = Suite::standard().await;
    let (mut params, _) = suite.end_session_request();
    without(&mut params, "id_token_hint");
    suite.expect_error_page(&params, "post_logout_redirect_uri needs client_id or id_token_hint").await;
    suite.finish().await;
}

/// No parameters at all (`RemoveAllParametersFromEndSessionEndpointRequest`,
/// `ExpectSuccessfulLogoutPage`): the user confirms a logout the page attributes to nobody.
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_params() {
    let suite = Suite::standard().await;
    let prompt = suite.expect_logged_out_page(&[]).await;
    assert!(prompt.get("client").is_none(), "no client asked: {prompt}");
    suite.finish().await;
}

/// `id_token_hint` and `state`, no `post_logout_redirect_uri`
/// (`RemovePostLogoutRedirectUriFromEndSessionEndpointRequest`, `ExpectSuccessfulLogoutPage`).
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_post_logout_redirect_uri() {
    let suite = Suite::standard().await;
    let (mut params, _) = suite.end_session_request();
    without(&mut params, "post_logout_redirect_uri");
    let prompt = suite.expect_logged_out_page(&params).await;
    assert_eq!(prompt["client"]["client_id"], suite.client_id(), "{prompt}");
    suite.finish().await;
}

/// No `state` (`RemoveStateFromEndSessionEndpointRequest`): the browser comes back without
/// one (`CheckNoPostLogoutState`).
#[tokio::test]
async fn oidcc_rp_initiated_logout_no_state() {
    let suite = Suite::standard().await;
    let (mut params, _) = suite.end_session_request();
    without(&mut params, "state");
    let id = suite.end_session(&params).await.expect("the front-end confirms the logout");
    let (_, done) = suite.confirm(&id).await;
    assert_eq!(done["ended"], true);
    suite.check_post_logout_redirect(&done, None);
    suite.prompt_none_fails().await;
    suite.finish().await;
}

/// Only `state` (`ExpectSuccessfulLogoutPage`).
#[tokio::test]
async fn oidcc_rp_initiated_logout_only_state() {
    let suite = Suite::standard().await;
    let (mut params, _) = suite.end_session_request();
    without(&mut params, "id_token_hint");
    without(&mut params, "post_logout_redirect_uri");
    suite.expect_logged_out_page(&params).await;
    suite.finish().await;
}

/// The registered `post_logout_redirect_uri` with `?foo=bar` added
/// (`AddPostLogoutRedirectUriWithQueryAddedToEndSessionEndpointRequest`): not the registered
/// URI, which must match exactly.
#[tokio::test]
async fn oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri() {
    let suite = Suite::standard().await;
    let (mut params, _) = suite.end_session_request();
    set(&mut params, "post_logout_redirect_uri", format!("{}?foo=bar", suite.post_logout_redirect_uri()));
    suite.expect_error_page(&params, "post_logout_redirect_uri is not one of the client's registered").await;
    suite.finish().await;
}

/// An ID token "issued" by the client (`GenerateFakeIdTokenClaims`: iss and aud swapped)
/// signed by the suite (`SignFakeIdToken`) with the client's RS256 key, which a dynamic client
/// has; a static client's suite signs with HS256 and the client secret
/// (`GenerateJWKsFromClientSecret`), tried too.
#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_id_token_hint() {
    let suite = Suite::standard().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = json!({
        "iss": suite.client_id(),
        "sub": "SubjectID",
        "aud": suite.server.issuer,
        "nonce": "flibble",
        "iat": now,
        "exp": now + 5 * 60,
    });
    let secret = suite.client["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "GenerateJWKsFromClientSecret needs 32 bytes for HS256");
    let hmac = ClientKey::hmac(Algorithm::HS256, &secret).sign_with(Header::new(Algorithm::HS256), &claims);
    for fake in [suite.key.sign(&claims), hmac] {
        let (mut params, _) = suite.end_session_request();
        set(&mut params, "id_token_hint", fake);
        suite.expect_error_page(&params, "id_token_hint is not a valid ID token").await;
    }
    suite.finish().await;
}

// --- Back-Channel Logout ----------------------------------------------------------------

/// One request the suite's `backchannel_logout` endpoint received.
#[derive(Clone, Debug)]
struct Delivery {
    content_type: Option<String>,
    form: Vec<(String, String)>,
    tls: TlsInfo,
}

/// The suite's endpoints under its base URL, on https: `backchannel_logout` records what it
/// gets and answers 200 with `Cache-Control: no-store`, as `handleBackchannelLogout` does.
#[derive(Clone, Default)]
struct SuiteEndpoints {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl SuiteEndpoints {
    async fn start(ca: &TestCa) -> (Self, String) {
        let endpoints = SuiteEndpoints::default();
        let router = Router::new()
            .route(
                "/backchannel_logout",
                post(
                    |State(e): State<SuiteEndpoints>,
                     axum::Extension(tls): axum::Extension<TlsInfo>,
                     headers: HeaderMap,
                     body: String| async move {
                        let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
                        let form = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                        e.deliveries.lock().unwrap().push(Delivery { content_type, form, tls });
                        (StatusCode::OK, [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))])
                    },
                ),
            )
            .with_state(endpoints.clone());
        let base = ca.serve(router).await;
        (endpoints, base)
    }

    async fn first_delivery(&self) -> Delivery {
        for _ in 0..250 {
            if let Some(d) = self.deliveries.lock().unwrap().first() {
                return d.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the back-channel logout request did not arrive");
    }
}

#[tokio::test]
async fn oidcc_backchannel_logout_discovery_endpoint_verification() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    let doc = discovery(&server).await;
    assert_true(&doc, "backchannel_logout_supported");
    assert_true(&doc, "backchannel_logout_session_supported");
}

/// The client registers `backchannel_logout_uri` with `backchannel_logout_session_required`;
/// the logout sends it a logout token the suite verifies, and the browser back with the state.
/// The suite's `backchannel_logout` is under its base URL; here it is on loopback, where the
/// provider can reach it, while the browser's URIs stay under the suite's base URL (a web
/// client's redirect URIs may not be on loopback).
#[tokio::test]
async fn oidcc_backchannel_rp_initiated_logout() {
    let ca = TestCa::new();
    let (endpoints, base) = SuiteEndpoints::start(&ca).await;
    let extra = json!({
        "backchannel_logout_session_required": true,
        "backchannel_logout_uri": format!("{base}/backchannel_logout"),
    });
    let suite = Suite::new(ca, BASE_URL, extra).await;
    let (params, state) = suite.end_session_request();
    let id = suite.end_session(&params).await.expect("the front-end confirms the logout");
    let (_, done) = suite.confirm(&id).await;
    assert_eq!(done["ended"], true);

    let delivery = endpoints.first_delivery().await;
    // EnsureIncomingTls12WithSecureCipherOrTls13 (WARN) and EnsureIncomingTls13 (WARN).
    assert_eq!(delivery.tls.version, Some(rustls::ProtocolVersion::TLSv1_3), "EnsureIncomingTls13: {delivery:?}");
    assert!(delivery.tls.cipher_suite.is_some());
    assert_eq!(delivery.content_type.as_deref(), Some("application/x-www-form-urlencoded"), "§2.5: a form POST");
    let names: Vec<&str> = delivery.form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["logout_token"], "CheckForUnexpectedParametersInBackchannelLogoutRequest (WARN)");
    let token = &delivery.form[0].1;
    // ValidateLogoutTokenFromBackchannelLogoutRequestEncryption: not a JWE (five parts), as
    // the client registered no ID-token encryption.
    assert_eq!(token.split('.').count(), 3, "ExtractLogoutTokenFromBackchannelLogoutRequest: a JWS");

    // ValidateLogoutTokenSignature: against the provider's published keys.
    let head = jsonwebtoken::decode_header(token).expect("a JWS header");
    let jwks: jsonwebtoken::jwk::JwkSet = suite
        .server
        .http
        .get(suite.discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(head.kid.as_deref().expect("a kid")).expect("the key is published");
    let mut validation = jsonwebtoken::Validation::new(head.alg);
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.set_required_spec_claims::<&str>(&[]);
    let claims = jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("ValidateLogoutTokenSignature")
        .claims;

    // ValidateLogoutTokenClaims, in the order of §2.4.
    assert_eq!(claims["iss"], suite.server.issuer.as_str(), "ValidateLogoutTokenClaims: iss");
    let aud = &claims["aud"];
    let client_id = &suite.client["client_id"];
    assert!(
        aud == client_id || aud.as_array().is_some_and(|a| a.contains(client_id)),
        "ValidateLogoutTokenClaims: aud"
    );
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let iat = claims["iat"].as_i64().expect("ValidateLogoutTokenClaims: iat");
    assert!(iat <= now + 300 && iat >= now - 86400, "ValidateLogoutTokenClaims: iat");
    assert!(claims["jti"].is_string(), "ValidateLogoutTokenClaims: jti");
    assert_eq!(claims["events"], json!({ BACKCHANNEL_EVENT: {} }), "ValidateLogoutTokenClaims: events");
    assert_eq!(claims["sub"], suite.id_claims["sub"], "CheckIdTokenSubMatchesLogoutToken");
    assert_eq!(claims["sid"], suite.id_claims["sid"], "CheckIdTokenSidMatchesLogoutToken");
    assert!(claims.get("nonce").is_none(), "CheckLogoutTokenNoNonce");

    suite.check_post_logout_redirect(&done, Some(&state));
    suite.prompt_none_fails().await;
    suite.finish().await;
}

// --- Front-Channel Logout ---------------------------------------------------------------

#[tokio::test]
async fn oidcc_frontchannel_logout_discovery_endpoint_verification() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    let doc = discovery(&server).await;
    assert_true(&doc, "frontchannel_logout_supported");
    assert_true(&doc, "frontchannel_logout_session_supported");
}

/// The client registers `frontchannel_logout_uri` with
/// `frontchannel_logout_session_required`; the browser loads it with `iss` and `sid` before
/// going back with the state.
#[tokio::test]
async fn oidcc_frontchannel_rp_initiated_logout() {
    let extra = json!({
        "frontchannel_logout_session_required": true,
        "frontchannel_logout_uri": format!("{BASE_URL}/frontchannel_logout"),
    });
    let suite = Suite::new(TestCa::new(), BASE_URL, extra).await;
    let (params, state) = suite.end_session_request();
    let id = suite.end_session(&params).await.expect("the front-end confirms the logout");
    let (_, done) = suite.confirm(&id).await;
    assert_eq!(done["ended"], true);
    let uris = done["frontchannel_logout_uris"].as_array().expect("frontchannel_logout_uris");
    assert_eq!(uris.len(), 1, "the browser loads the client's front-channel URI: {done}");
    let url = url::Url::parse(uris[0].as_str().unwrap()).unwrap();
    let without_query = uris[0].as_str().unwrap().split('?').next().unwrap();
    assert_eq!(without_query, format!("{BASE_URL}/frontchannel_logout"), "the registered frontchannel_logout_uri");
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    for name in params.keys() {
        assert!(
            ["iss", "sid"].contains(&name.as_str()),
            "CheckForUnexpectedParametersInFrontchannelLogoutRequest (WARN): {name}"
        );
    }
    assert_eq!(params.get("iss"), Some(&suite.server.issuer), "ValidateFrontchannelLogoutIss");
    let sid = params.get("sid").expect("CheckIdTokenSidMatchesFrontChannelLogoutRequest: sid");
    assert_eq!(suite.id_claims["sid"], sid.as_str(), "CheckIdTokenSidMatchesFrontChannelLogoutRequest");
    suite.check_post_logout_redirect(&done, Some(&state));
    suite.prompt_none_fails().await;
    suite.finish().await;
}
