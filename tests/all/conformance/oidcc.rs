//! The OP test modules of the Basic, Implicit, Hybrid and Form Post plans, each a function of
//! the plan's [`Variant`]: how the client authenticates at the token endpoint
//! (`client_auth_type`), the `response_type` and the `response_mode` (the default one, or
//! `form_post`). The plans' lists of modules are in `basic`, `implicit`, `hybrid` and
//! `form_post`, which make a test of each (variant, module) pair with the `plan!` macro. Each
//! module sends what the suite's module sends and asserts what its conditions check, warnings
//! included; a module the suite marks `@VariantNotApplicable` for a variant is not in that
//! variant's list. The suite's client is a static one, registered through the admin API for the
//! variant's response type as the suite's would be. The login front-end is played through the
//! authorization-session API, with a user who has every standard claim (the scope modules warn
//! when a scope's claims are missing, and the provider must release all the user has).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_protocol::world::Clock;
use jsonwebtoken::Algorithm;
use openidconnect::Nonce;
use openidconnect::core::CoreIdToken;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::client_jwt::{ClientKey, JWT_BEARER, assertion_claims, jwks, random_jti, unsecured};
use crate::support::request_objects::{ObjectServer, REQUIRED_DUPLICATES};
use crate::support::rp::Rp;
use crate::support::tls::{TestCa, server_trusting};
use crate::support::{TestServer, merge, redirect_params, shannon_bits};

/// The suite's redirect URI (`CreateRedirectUri`: the test's base URL and `/callback`).
const REDIRECT_URI: &str = "https://localhost.emobix.co.uk:8443/test/a/gatehouse/callback";

/// The user the tests log in: every claim of every standard scope (OpenID Connect Core §5.1).
fn user() -> Value {
    json!({
        "sub": "buffy",
        "acr": "urn:gatehouse:acr:password",
        "amr": ["pwd"],
        "claims": {
            "name": "Buffy Summers",
            "given_name": "Buffy",
            "family_name": "Summers",
            "middle_name": "Anne",
            "nickname": "Buff",
            "preferred_username": "buffy",
            "profile": "https://sunnydale.example/buffy",
            "picture": "https://sunnydale.example/buffy.jpg",
            "website": "https://sunnydale.example",
            "gender": "female",
            "birthdate": "1981-01-19",
            "zoneinfo": "America/Los_Angeles",
            "locale": "en-US",
            "updated_at": 1_700_000_000,
            "email": "buffy@sunnydale.example",
            "email_verified": true,
            "address": {
                "formatted": "1630 Revello Drive, Sunnydale, CA 95037, USA",
                "street_address": "1630 Revello Drive",
                "locality": "Sunnydale",
                "region": "CA",
                "postal_code": "95037",
                "country": "US"
            },
            "phone_number": "+1 555 0100",
            "phone_number_verified": false
        }
    })
}

/// `AbstractVerifyScopesReturnedInClaims`: the claims each scope must bring (pyoidc's table).
fn scope_items(scope: &str) -> &'static [&'static str] {
    match scope {
        "openid" => &["sub"],
        "profile" => &[
            "name",
            "given_name",
            "family_name",
            "middle_name",
            "nickname",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
            "preferred_username",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// `ValidateIdTokenStandardClaims` / `ValidateUserInfoStandardClaims`: the standard claims
/// present have the types of Core §5.1 (strings, booleans, a number, the address object).
fn check_standard_claims(what: &str, claims: &Value) {
    for (name, value) in claims.as_object().unwrap_or_else(|| panic!("{what} is an object")) {
        let ok = match name.as_str() {
            "sub" | "name" | "given_name" | "family_name" | "middle_name" | "nickname" | "preferred_username"
            | "profile" | "picture" | "website" | "email" | "gender" | "birthdate" | "zoneinfo" | "locale"
            | "phone_number" => value.as_str().is_some_and(|s| !s.is_empty()),
            "email_verified" | "phone_number_verified" => value.is_boolean(),
            // EnsureIdTokenUpdatedAtValid / EnsureUserInfoUpdatedAtValid.
            "updated_at" => value.is_number(),
            "address" => value.as_object().is_some_and(|a| a.values().all(Value::is_string)),
            _ => true,
        };
        assert!(ok, "{what}: {name} has the type of OpenID Connect Core §5.1: {value}");
    }
}

fn decode_part(jwt: &str, part: usize) -> Value {
    let segment = jwt.split('.').nth(part).unwrap_or_else(|| panic!("a JWT: {jwt}"));
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
}

/// The hash of `at_hash` / `c_hash` for RS256: the left half of SHA-256, base64url.
fn half_hash(value: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// How the client authenticates at the token endpoint: the plan's `client_auth_type` variant.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Auth {
    Basic,
    Post,
    /// An RS256 assertion (`CreateClientAuthenticationAssertionClaims`, then
    /// `SignClientAuthenticationAssertion`) with the key in the client's registered `jwks`.
    PrivateKeyJwt,
}

impl Auth {
    fn method(self) -> &'static str {
        match self {
            Auth::Basic => "client_secret_basic",
            Auth::Post => "client_secret_post",
            Auth::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// The plan's `response_type` variant: the six of OpenID Connect Core §3.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum ResponseType {
    Code,
    IdToken,
    IdTokenToken,
    CodeIdToken,
    CodeToken,
    CodeIdTokenToken,
}

impl ResponseType {
    fn as_str(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::IdToken => "id_token",
            ResponseType::IdTokenToken => "id_token token",
            ResponseType::CodeIdToken => "code id_token",
            ResponseType::CodeToken => "code token",
            ResponseType::CodeIdTokenToken => "code id_token token",
        }
    }

    fn has(self, word: &str) -> bool {
        self.as_str().split(' ').any(|w| w == word)
    }

    /// `includesCode`: a code comes back and is redeemed at the token endpoint.
    fn code(self) -> bool {
        self.has("code")
    }

    /// `includesIdToken`: an ID token comes back from the authorization endpoint.
    fn id_token(self) -> bool {
        self.has("id_token")
    }

    /// `includesToken`: an access token comes back from the authorization endpoint.
    fn token(self) -> bool {
        self.has("token")
    }
}

/// Where the authorization response goes (`ResponseMode`, `CallbackMode` of the suite).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Query,
    Fragment,
    FormPost,
}

/// One variant of a plan: the values of its `client_auth_type`, `response_type` and
/// `response_mode` parameters.
#[derive(Clone, Copy)]
pub(super) struct Variant {
    pub auth: Auth,
    pub response_type: ResponseType,
    /// `response_mode=form_post` (the Form Post plans); otherwise the default mode.
    pub form_post: bool,
}

impl Variant {
    pub const fn new(auth: Auth, response_type: ResponseType) -> Self {
        Variant { auth, response_type, form_post: false }
    }

    /// The same variant with `response_mode=form_post` (`changeResponseTypeToFormPost`).
    pub const fn form_post(self) -> Self {
        Variant { form_post: true, ..self }
    }

    /// Where a success comes back: the query for `code`, otherwise the fragment (Multiple
    /// Response Type Encoding Practices §5), or a form post if asked for.
    fn mode(self) -> Mode {
        match (self.form_post, self.response_type) {
            (true, _) => Mode::FormPost,
            (false, ResponseType::Code) => Mode::Query,
            (false, _) => Mode::Fragment,
        }
    }
}

/// An authorization request as the suite builds it, its parameters in the suite's order
/// (`CreateAuthorizationEndpointRequestFromClientInformation`, then state, nonce and
/// response_type), and what it will check on the way back.
struct Request {
    params: Vec<(String, String)>,
    state: String,
    nonce: Option<String>,
    scope: String,
    /// The request object that carries the parameters instead (`request` or `request_uri` and
    /// its value); the query then repeats only the required duplicates.
    object: Option<(&'static str, String)>,
    /// A `redirect_uri` for the query other than the object's.
    query_redirect_uri: Option<String>,
}

impl Request {
    fn query(&self) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        match &self.object {
            None => {
                for (k, v) in &self.params {
                    ser.append_pair(k, v);
                }
            }
            Some((name, value)) => {
                // AbstractBuildRequestObjectRedirectToAuthorizationEndpoint.
                for (k, v) in self.params.iter().filter(|(k, _)| REQUIRED_DUPLICATES.contains(&k.as_str())) {
                    let v = match (k.as_str(), &self.query_redirect_uri) {
                        ("redirect_uri", Some(other)) => other,
                        _ => v,
                    };
                    ser.append_pair(k, v);
                }
                ser.append_pair(name, value);
            }
        }
        ser.finish()
    }

    /// The claims of a request object with every parameter
    /// (`ConvertAuthorizationEndpointRequestToRequestObject`).
    fn object_claims(&self) -> Value {
        Value::Object(self.params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    /// The request carried by a request object: `request` by value or `request_uri`.
    fn carried(mut self, name: &'static str, value: String) -> Self {
        self.object = Some((name, value));
        self
    }

    fn with(mut self, extra: &[(&str, &str)]) -> Self {
        self.params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.params.retain(|(k, _)| k != name);
        if name == "nonce" {
            self.nonce = None;
        }
        self
    }
}

/// What one complete flow gave: the front channel's code, access token and ID token claims
/// (as the response type has them), the token response (`Null` without a code), and the last
/// ID token the suite holds (`id_token` in its environment: the token endpoint's if there was
/// one), raw and its verified claims.
struct Flow {
    code: Option<String>,
    front_id: Option<Value>,
    tokens: Value,
    /// The access token the suite calls UserInfo with: the token endpoint's, if any.
    access_token: Option<String>,
    id_token: String,
    id: Value,
}

impl Flow {
    fn code(&self) -> &str {
        self.code.as_deref().expect("a code")
    }

    fn access_token(&self) -> &str {
        self.access_token.as_deref().expect("an access token")
    }

    /// Every ID token the flow validated (`performIdTokenValidation` runs on each).
    fn id_tokens(&self) -> Vec<&Value> {
        let mut all: Vec<&Value> = self.front_id.iter().collect();
        if !self.tokens.is_null() {
            all.push(&self.id);
        }
        all
    }
}

/// The grant types a client registers for `response_type` (Dynamic Registration §2).
fn grant_types(response_type: ResponseType) -> Value {
    match (response_type.code(), response_type == ResponseType::Code) {
        (true, true) => json!(["authorization_code", "refresh_token"]),
        (true, false) => json!(["authorization_code", "implicit", "refresh_token"]),
        (false, _) => json!(["implicit"]),
    }
}

/// The suite's view of one provider and its client.
struct Suite {
    server: TestServer,
    client: Value,
    discovery: Value,
    v: Variant,
    auth: Auth,
    /// The clients' signing key, for `private_key_jwt`.
    key: Option<ClientKey>,
    /// The browser's single sign-on cookie, once a login made one.
    sso: Option<String>,
    /// Whether the user ticks "remember this consent" (a long-lived consent).
    remember: bool,
}

impl Suite {
    async fn new(v: Variant) -> Self {
        Self::with_client(v, json!({})).await
    }

    /// A server, its discovery document (the suite's `GetDynamicServerConfiguration` and
    /// `CheckServerConfiguration`, its JWK set's checks), and a client as the suite's static
    /// client would be registered, with `extra` metadata.
    async fn with_client(v: Variant, extra: Value) -> Self {
        Self::on(TestServer::start().await, v, extra).await
    }

    /// The suite against `server`.
    async fn on(server: TestServer, v: Variant, extra: Value) -> Self {
        let auth = v.auth;
        let discovery: Value = server
            .http
            .get(server.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for key in ["authorization_endpoint", "token_endpoint", "jwks_uri", "issuer"] {
            assert!(discovery[key].is_string(), "CheckServerConfiguration: {key}");
        }
        let server_jwks: Value =
            server.http.get(discovery["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
        let kids: Vec<&str> = server_jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().expect("CheckForKeyIdInServerJWKs"))
            .collect();
        let mut distinct = kids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), kids.len(), "CheckDistinctKeyIdValueInServerJWKs");
        let method = auth.method();
        let methods = discovery["token_endpoint_auth_methods_supported"].as_array().unwrap();
        assert!(methods.contains(&json!(method)), "EnsureServerConfigurationSupports{method}");
        let mut metadata = json!({
            "client_name": "OIDF Conformance Test oidcc",
            "redirect_uris": [REDIRECT_URI],
            "response_types": [v.response_type.as_str()],
            "grant_types": grant_types(v.response_type),
            "token_endpoint_auth_method": method,
            "contacts": ["certification@oidf.org"],
        });
        let key = (auth == Auth::PrivateKeyJwt).then(|| {
            let algs = discovery["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap();
            assert!(algs.contains(&json!("RS256")), "the suite signs its assertions with RS256");
            ClientKey::rsa(Algorithm::RS256, Some("oidf-client-key"))
        });
        if let Some(key) = &key {
            metadata["jwks"] = jwks(&[key]);
        }
        merge(&mut metadata, extra);
        let client = server.register(metadata).await;
        Suite { server, client, discovery, v, auth, key, sso: None, remember: false }
    }

    /// The suite's second client (`client2` of its configuration), authenticating as the first
    /// does.
    async fn second_client(&self) -> Value {
        let mut metadata = json!({
            "client_name": "OIDF Conformance Test oidcc client2",
            "redirect_uris": [REDIRECT_URI],
            "response_types": [self.v.response_type.as_str()],
            "grant_types": grant_types(self.v.response_type),
            "token_endpoint_auth_method": self.auth.method(),
        });
        if let Some(key) = &self.key {
            metadata["jwks"] = jwks(&[key]);
        }
        self.server.register(metadata).await
    }

    fn client_id(&self) -> &str {
        self.client["client_id"].as_str().unwrap()
    }

    /// The suite's request for `scope` (random state and nonce of its lengths).
    fn request(&self, scope: &str) -> Request {
        let (state, nonce) = (random_jti(), random_jti());
        let params = [
            ("client_id", self.client_id()),
            ("scope", scope),
            ("redirect_uri", REDIRECT_URI),
            ("state", &state),
            ("nonce", &nonce),
            ("response_type", self.v.response_type.as_str()),
        ];
        let request = Request {
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            state,
            nonce: Some(nonce),
            scope: scope.to_owned(),
            object: None,
            query_redirect_uri: None,
        };
        // SetAuthorizationEndpointRequestResponseModeToFormPost.
        if self.v.form_post { request.with(&[("response_mode", "form_post")]) } else { request }
    }

    /// The browser at the authorization endpoint (GET, or a form POST as
    /// `oidcc-ensure-post-request-succeeds` sends it), and the front-end starting the session
    /// with the browser's cookie: the first prompt.
    async fn start(&self, request: &Request, post: bool) -> Value {
        let query = if post {
            let resp = self
                .server
                .http
                .post(self.server.url("/authorize"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(request.query())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 303, "the POSTed request goes to the front-end");
            let location = resp.headers()["location"].to_str().unwrap().to_owned();
            location.split_once('?').unwrap().1.to_owned()
        } else {
            self.server.browse_authorize(&format!("{}?{}", self.server.url("/authorize"), request.query())).await
        };
        self.server.start_session(&query, self.sso.as_deref(), None).await
    }

    /// The user answers every prompt until the provider sends the browser back: logs in (at
    /// the first requested `acr_values` entry if the request names any, as a front-end
    /// that honours them does) and consents to everything, with a refresh token when
    /// `offline_access` is asked for. Returns the final prompt.
    async fn answer(&mut self, mut prompt: Value) -> Value {
        loop {
            let sid = prompt["sid"].as_str().map(str::to_owned);
            prompt = match prompt["type"].as_str() {
                Some("auth") => {
                    let mut subject = user();
                    if let Some(acr) = prompt["auth_request"]["acr_values"].get(0) {
                        subject["acr"] = acr.clone();
                    }
                    let next = self.server.submit_subject(&sid.unwrap(), subject).await;
                    if let Some(token) = next["sso"]["token"].as_str() {
                        self.sso = Some(token.to_owned());
                    }
                    next
                }
                Some("consent") => {
                    let offline =
                        prompt["auth_request"]["scope"].as_array().unwrap().contains(&json!("offline_access"));
                    let consent =
                        json!({"scope": "*", "refresh_token": {"issue": offline}, "long_lived": self.remember});
                    self.server.submit_consent(&sid.unwrap(), consent).await
                }
                _ => return prompt,
            }
        }
    }

    /// The authorization response as the suite checks it, in the variant's response mode.
    fn callback(&self, prompt: &Value, request: &Request) -> HashMap<String, String> {
        self.callback_in(self.v.mode(), prompt, request)
    }

    /// The authorization response in `mode` as the suite's `processCallback` reads it (the
    /// query for `code`, else the fragment, whose URL must have neither a `code` nor an `error`
    /// in its query: `RejectAuthCodeInUrlQuery`, `RejectErrorInUrlQuery`; or the fields of the
    /// form the front-end posts, to the redirect URI as it is: `CheckCallbackHttpMethodIsPost`),
    /// then `CheckMatchingCallbackParameters`, `ValidateIssIfPresentInAuthorizationResponse` and
    /// `CheckStateInAuthorizationResponse`; its parameters.
    fn callback_in(&self, mode: Mode, prompt: &Value, request: &Request) -> HashMap<String, String> {
        assert_eq!(prompt["type"], "response", "the provider sends the browser back: {prompt}");
        let params = match mode {
            Mode::Query | Mode::Fragment => {
                let uri = prompt["uri"].as_str().unwrap_or_else(|| panic!("a redirect: {prompt}"));
                let sep = if mode == Mode::Query { '?' } else { '#' };
                assert!(uri.starts_with(&format!("{REDIRECT_URI}{sep}")), "the response in the {mode:?}: {uri}");
                assert_eq!(prompt["mode"], json!(format!("{mode:?}").to_lowercase()), "{prompt}");
                if mode == Mode::Fragment {
                    let query: HashMap<String, String> =
                        url::Url::parse(uri).unwrap().query_pairs().into_owned().collect();
                    assert!(!query.contains_key("code"), "RejectAuthCodeInUrlQuery: {uri}");
                    assert!(!query.contains_key("error"), "RejectErrorInUrlQuery: {uri}");
                }
                redirect_params(uri)
            }
            Mode::FormPost => {
                assert_eq!(prompt["mode"], "form_post", "OAuth2-FP-2: {prompt}");
                assert!(prompt.get("uri").is_none_or(Value::is_null), "a form, not a redirect: {prompt}");
                assert_eq!(prompt["redirect_uri"], REDIRECT_URI, "the form posts to the redirect URI as it is");
                let fields = prompt["parameters"].as_object().unwrap_or_else(|| panic!("the form's fields: {prompt}"));
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_else(|| panic!("{k} is a string: {v}")).to_owned()))
                    .collect()
            }
        };
        assert_eq!(params.get("iss"), Some(&self.server.issuer), "ValidateIssIfPresentInAuthorizationResponse");
        assert_eq!(params.get("state"), Some(&request.state), "CheckStateInAuthorizationResponse");
        params
    }

    /// `CallTokenEndpointAndReturnFullResponse` with the client's authentication: status and
    /// headers, and the body as JSON.
    async fn token(&self, form: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
        let client = &self.client;
        let id = client["client_id"].as_str().unwrap();
        let secret = || client["client_secret"].as_str().expect("a client secret");
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.extend_pairs(form);
        match (self.auth, &self.key) {
            (Auth::Post, _) => {
                ser.extend_pairs([("client_id", id), ("client_secret", secret())]);
            }
            (Auth::PrivateKeyJwt, Some(key)) => {
                let aud = self.discovery["token_endpoint"].as_str().unwrap();
                let assertion = key.sign(&assertion_claims(id, aud, self.server.clock.now().0));
                ser.extend_pairs([("client_assertion_type", JWT_BEARER), ("client_assertion", &assertion)]);
            }
            _ => {}
        }
        let mut req = self
            .server
            .http
            .post(self.server.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(ser.finish());
        if self.auth == Auth::Basic {
            // AddBasicAuthClientSecretToRequest: both parts form-encoded (RFC 6749 §2.3.1).
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(id), Some(enc(secret())));
        }
        let resp = req.send().await.expect("token request");
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("CheckTokenEndpointReturnedJsonContentType: {text}")),
        )
    }

    /// A successful token response (`CheckTokenEndpointHttpStatus200`, JSON, `no-store`,
    /// `CheckForAccessTokenValue`, `ValidateExpiresIn`, the token type, and the access token's
    /// entropy and characters).
    fn check_tokens(status: u16, headers: &reqwest::header::HeaderMap, body: &Value) {
        assert_eq!(status, 200, "CheckTokenEndpointHttpStatus200: {body}");
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
        assert!(headers["cache-control"].to_str().unwrap().contains("no-store"), "CheckTokenEndpointCacheHeaders");
        assert!(body["token_type"].as_str().unwrap().eq_ignore_ascii_case("bearer"), "CheckTokenTypeIsBearer");
        let expires_in = body["expires_in"].as_u64().expect("ExtractExpiresInFromTokenEndpointResponse (WARN)");
        assert!(expires_in > 0 && expires_in < 50 * 365 * 86400, "ValidateExpiresIn");
        let access = body["access_token"].as_str().expect("CheckForAccessTokenValue");
        assert!(shannon_bits(access) > 96.0, "EnsureMinimumAccessTokenEntropy");
        assert!(access.bytes().all(|b| (0x20..=0x7e).contains(&b)), "EnsureAccessTokenContainsAllowedCharactersOnly");
    }

    /// The ID token with `PerformStandardIdTokenChecks`: the signature against the provider's
    /// keys (by the `openidconnect` crate, with iss, aud and exp), then `ValidateIdToken`'s
    /// time checks, the standard claims' types, the nonce, `sub`, and an encrypted token's kid.
    /// Returns the claims.
    async fn verify_id_token(&self, client: &Value, id_token: &str, nonce: Option<&str>) -> Value {
        let rp = Rp::new(&self.server, client).await;
        let token: CoreIdToken = id_token.parse().expect("ExtractIdTokenFromTokenResponse");
        let expected = nonce.map(|n| Nonce::new(n.to_owned()));
        let verifier = rp.client.id_token_verifier();
        let checked = token.claims(&verifier, |got: Option<&Nonce>| match (&expected, got) {
            (Some(e), Some(g)) if e.secret() == g.secret() => Ok(()),
            (None, None) => Ok(()),
            (e, g) => Err(format!("ValidateIdTokenNonce: expected {e:?}, got {g:?}")),
        });
        checked.expect("ValidateIdTokenSignature, ValidateIdToken, ValidateIdTokenNonce");
        let claims = decode_part(id_token, 1);
        let now = self.server.clock.now().0;
        let skew = 5 * 60;
        assert_eq!(claims["iss"], self.server.issuer.as_str(), "ValidateIdToken: iss");
        let aud = &claims["aud"];
        let client_id = &client["client_id"];
        assert!(aud == client_id || aud.as_array().is_some_and(|a| a.contains(client_id)), "ValidateIdToken: aud");
        let exp = claims["exp"].as_i64().expect("ValidateIdToken: exp");
        assert!(exp > now - skew && exp < now + 50 * 365 * 86400, "ValidateIdToken: exp");
        let iat = claims["iat"].as_i64().expect("ValidateIdToken: iat");
        assert!(iat <= now + skew && iat >= now - skew, "ValidateIdToken: iat");
        if let Some(auth_time) = claims.get("auth_time") {
            let auth_time = auth_time.as_i64().expect("auth_time is a number");
            assert!(auth_time <= now + skew && auth_time > now - 365 * 86400, "ValidateIdToken: auth_time");
        }
        if let Some(nbf) = claims.get("nbf") {
            assert!(nbf.as_i64().unwrap() <= now + skew, "ValidateIdToken: nbf");
        }
        if let Some(acr) = claims.get("acr") {
            assert!(acr.as_str().is_some_and(|a| !a.is_empty()), "ValidateIdToken: acr is not empty");
        }
        match nonce {
            Some(n) => assert_eq!(claims["nonce"], n, "ValidateIdTokenNonce"),
            None => assert!(claims.get("nonce").is_none(), "no nonce asked, none returned"),
        }
        assert!(claims["sub"].as_str().is_some_and(|s| !s.is_empty()), "CheckForSubjectInIdToken");
        let mut identity = claims.clone();
        for c in [
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "c_hash",
            "at_hash",
            "s_hash",
            "jti",
            "nbf",
        ] {
            identity.as_object_mut().unwrap().remove(c);
        }
        check_standard_claims("ID token", &identity);
        claims
    }

    /// A complete code flow as `AbstractOIDCCServerTest` runs it for `request`: the login,
    /// the authorization response, the token request (with `extra_form`, e.g. a PKCE
    /// verifier) and the ID token's checks.
    async fn flow(&mut self, request: &Request, extra_form: &[(&str, &str)]) -> Flow {
        let prompt = self.start(request, false).await;
        self.finish(request, prompt, extra_form).await
    }

    /// The rest of a flow from `prompt`: the user answers, then `onAuthorizationCallbackResponse`
    /// and `handleSuccessfulAuthorizationEndpointResponse` for the response type: the front
    /// channel's ID token checked (`PerformStandardIdTokenChecks`, then `at_hash` required with
    /// an access token and `c_hash` with a code, each checked when present, as `s_hash` is), its
    /// access token used at UserInfo (`requestProtectedResource`), and with a code the token
    /// request, its ID token (`sub` the front channel's: `VerifyIdTokenSubConsistentHybridFlow`)
    /// and its access token used.
    async fn finish(&mut self, request: &Request, prompt: Value, extra_form: &[(&str, &str)]) -> Flow {
        let prompt = self.answer(prompt).await;
        let front = self.front_channel(request, &prompt).await;
        let Some(code) = front.code.clone() else { return front };
        let mut form = vec![("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)];
        form.extend_from_slice(extra_form);
        let (status, headers, tokens) = self.token(&form).await;
        Self::check_tokens(status, &headers, &tokens);
        let id_token = tokens["id_token"].as_str().expect("ExtractIdTokenFromTokenResponse").to_owned();
        let id = self.verify_id_token(&self.client, &id_token, request.nonce.as_deref()).await;
        // At the token endpoint at_hash and c_hash are optional, but checked when present.
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        if let Some(at_hash) = id.get("at_hash") {
            assert_eq!(at_hash, &half_hash(&access), "ValidateAtHash");
        }
        if let Some(c_hash) = id.get("c_hash") {
            assert_eq!(c_hash, &half_hash(&code), "ValidateCHash");
        }
        if let Some(front_id) = &front.front_id {
            assert_eq!(id["sub"], front_id["sub"], "VerifyIdTokenSubConsistentHybridFlow");
        }
        assert_eq!(self.userinfo_status(&access).await, 200, "CallProtectedResource, EnsureHttpStatusCodeIs200");
        Flow { tokens, access_token: Some(access), id_token, id, ..front }
    }

    /// What the authorization endpoint sent back, checked (`CheckIfAuthorizationEndpointError`
    /// first), as a flow that ends there.
    async fn front_channel(&self, request: &Request, prompt: &Value) -> Flow {
        let rt = self.v.response_type;
        let params = self.callback(prompt, request);
        assert!(!params.contains_key("error"), "CheckIfAuthorizationEndpointError: {params:?}");
        let code =
            rt.code().then(|| params.get("code").expect("ExtractAuthorizationCodeFromAuthorizationResponse").clone());
        let access_token = rt.token().then(|| {
            assert!(
                params.get("token_type").is_some_and(|t| !t.is_empty()),
                "ExtractAccessTokenFromAuthorizationResponse: a token_type"
            );
            params.get("access_token").expect("ExtractAccessTokenFromAuthorizationResponse").clone()
        });
        for (word, param) in [("code", "code"), ("token", "access_token"), ("id_token", "id_token")] {
            if !rt.has(word) {
                assert!(!params.contains_key(param), "{}: no {param} in the response: {params:?}", rt.as_str());
            }
        }
        let mut front_id = None;
        let mut id_token = String::new();
        if rt.id_token() {
            id_token = params.get("id_token").expect("ExtractIdTokenFromAuthorizationResponse").clone();
            let id = self.verify_id_token(&self.client, &id_token, request.nonce.as_deref()).await;
            // OIDCCServerTest: ExtractAtHash (a FAILURE with a token), ValidateAtHash; ExtractCHash
            // (a FAILURE with a code), ValidateCHash; s_hash (ValidateSHash) only if present.
            match (&access_token, id.get("at_hash")) {
                (Some(access), Some(at_hash)) => assert_eq!(at_hash, &half_hash(access), "ValidateAtHash"),
                (Some(_), None) => panic!("ExtractAtHash: an ID token beside an access token has at_hash: {id}"),
                (None, at_hash) => assert!(at_hash.is_none(), "an at_hash without an access token: {id}"),
            }
            match (&code, id.get("c_hash")) {
                (Some(code), Some(c_hash)) => assert_eq!(c_hash, &half_hash(code), "ValidateCHash"),
                (Some(_), None) => panic!("ExtractCHash: an ID token beside a code has c_hash: {id}"),
                (None, c_hash) => assert!(c_hash.is_none(), "a c_hash without a code: {id}"),
            }
            if let Some(s_hash) = id.get("s_hash") {
                assert_eq!(s_hash, &half_hash(&request.state), "ValidateSHash");
            }
            front_id = Some(id);
        }
        if let Some(access) = &access_token {
            assert_eq!(self.userinfo_status(access).await, 200, "CallProtectedResource, EnsureHttpStatusCodeIs200");
        }
        Flow {
            code,
            id: front_id.clone().unwrap_or(Value::Null),
            front_id,
            tokens: Value::Null,
            access_token,
            id_token,
        }
    }

    /// `CallUserInfoEndpoint` in one of the three ways, then `EnsureHttpStatusCodeIs200`,
    /// `EnsureContentTypeJson` and the UserInfo claim checks against the ID token.
    async fn userinfo(&self, flow: &Flow, how: UserInfoCall) -> Value {
        let access = flow.access_token();
        let url = self.server.url("/userinfo");
        let req = match how {
            UserInfoCall::Get => self.server.http.get(url).bearer_auth(access),
            UserInfoCall::PostHeader => self.server.http.post(url).bearer_auth(access),
            UserInfoCall::PostBody => self
                .server
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("access_token={access}")),
        };
        let resp = req.send().await.unwrap();
        assert_eq!(
            resp.status(),
            200,
            "EnsureHttpStatusCodeIs200 (for the body form, else the WARN of UserInfoEndpointWithAccessTokenInBodyNotSupported)"
        );
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(content_type.split(';').next().unwrap().trim(), "application/json", "EnsureContentTypeJson");
        let userinfo: Value = resp.json().await.unwrap();
        check_standard_claims("UserInfo", &userinfo);
        assert!(userinfo["sub"].is_string(), "EnsureUserInfoContainsSub");
        for id in flow.id_tokens() {
            // VerifyUserInfoAndIdTokenInAuthorizationEndpointSameSub, …InTokenEndpointSameSub.
            assert_eq!(userinfo["sub"], id["sub"], "VerifyUserInfoAndIdToken…SameSub");
        }
        for (name, value) in userinfo.as_object().unwrap() {
            // EnsureMemberValuesInClaimNameReferenceToMemberNamesInClaimSources.
            if name == "_claim_names" {
                let sources = userinfo["_claim_sources"].as_object().expect("_claim_sources beside _claim_names");
                assert!(value.as_object().unwrap().values().all(|s| sources.contains_key(s.as_str().unwrap())));
            }
        }
        userinfo
    }

    async fn userinfo_status(&self, access_token: &str) -> u16 {
        let resp = self.server.http.get(self.server.url("/userinfo")).bearer_auth(access_token).send().await.unwrap();
        resp.status().as_u16()
    }
}

#[derive(Clone, Copy)]
enum UserInfoCall {
    Get,
    PostHeader,
    PostBody,
}

/// `VerifyScopesReturnedInUserInfoClaims` (WARN): every claim of every requested scope.
fn assert_scope_claims(scope: &str, userinfo: &Value) {
    for s in scope.split(' ') {
        for claim in scope_items(s) {
            assert!(userinfo.get(*claim).is_some(), "VerifyScopesReturnedInUserInfoClaims: {claim} of {s}: {userinfo}");
        }
    }
}

/// `OIDCCServerTest`'s extra checks on the code and the ID token of a happy flow.
fn assert_server_test(flow: &Flow) {
    if let Some(code) = &flow.code {
        assert!(code.len() * 8 >= 128, "EnsureMinimumAuthorizationCodeLength");
        assert!(shannon_bits(code) > 96.0, "EnsureMinimumAuthorizationCodeEntropy");
    }
    for id in flow.id_tokens() {
        assert!(id.get("name").is_none(), "EnsureIdTokenDoesNotContainName (WARN)");
    }
    const ALLOWED: &str = "iss sub aud exp iat auth_time nonce acr amr azp at_hash c_hash s_hash nbf jti sid txn \
                           openbanking_intent_id";
    for claim in flow.id.as_object().unwrap().keys() {
        let allowed = ALLOWED.split_ascii_whitespace().any(|c| c == claim);
        assert!(allowed, "EnsureIdTokenDoesNotContainNonRequestedClaims (WARN): {claim}");
    }
}

/// `performGenericAuthorizationEndpointErrorResponseValidation`: an error redirected to the
/// client with state and iss, no code, only the parameters an error response has, and a
/// description and URI of the allowed characters.
fn assert_error_response(params: &HashMap<String, String>) -> String {
    let error = params.get("error").expect("EnsureErrorFromAuthorizationEndpointResponse").clone();
    assert!(!params.contains_key("code"), "RejectAuthCodeInAuthorizationEndpointResponse");
    for name in params.keys() {
        assert!(
            ["error", "error_description", "error_uri", "state", "session_state", "iss"].contains(&name.as_str()),
            "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint (WARN): {name}"
        );
    }
    // RFC 6749 §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E.
    let allowed =
        |s: &str| s.bytes().all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    assert!(allowed(&error), "ValidateErrorFromAuthorizationEndpointResponseError");
    if let Some(description) = params.get("error_description") {
        assert!(!description.contains(['\r', '\n', '\t']), "CheckErrorDescription…ContainsCRLFTAB (WARN)");
        assert!(allowed(description), "ValidateErrorDescriptionFromAuthorizationEndpointResponseError");
    }
    if let Some(uri) = params.get("error_uri") {
        assert!(url::Url::parse(uri).is_ok(), "ValidateErrorUriFromAuthorizationEndpointResponseError");
    }
    error
}

/// A token-endpoint error as `AbstractOIDCCAuthCodeReuse.checkResponse` and
/// `RefreshTokenRequestExpectingErrorSteps` check it: 400, JSON, `invalid_grant`, a
/// well-formed description.
fn assert_invalid_grant(status: u16, headers: &reqwest::header::HeaderMap, body: &Value) {
    assert_eq!(status, 400, "CheckTokenEndpointHttpStatus400: {body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(body["error"], "invalid_grant", "CheckErrorFromTokenEndpointResponseErrorInvalidGrant");
    if let Some(description) = body["error_description"].as_str() {
        assert!(!description.contains(['\r', '\n', '\t']), "CheckErrorDescription…ContainsCRLFTAB");
        assert!(description.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'));
    }
    assert!(body.get("error_uri").is_none_or(Value::is_string), "ValidateErrorUriFromTokenEndpointResponseError");
}

async fn happy(v: Variant, scope: &str, extra: &[(&str, &str)]) -> (Suite, Flow) {
    let mut suite = Suite::new(v).await;
    let request = suite.request(scope).with(extra);
    let flow = suite.flow(&request, &[]).await;
    (suite, flow)
}

/// A happy flow whose `extra` parameters must not cause an error (display, locales, hints);
/// the flow uses each access token it gets (`CallProtectedResource`).
async fn happy_with(v: Variant, extra: &[(&str, &str)]) {
    happy(v, "openid", extra).await;
}

pub(super) async fn oidcc_server(v: Variant) {
    let (_, flow) = happy(v, "openid", &[]).await;
    assert_server_test(&flow);
}

/// `oidcc-server` with `client_secret_post` whatever the plan's other variants authenticate
/// with.
pub(super) async fn oidcc_server_client_secret_post(v: Variant) {
    let mut suite = Suite::new(Variant { auth: Auth::Post, ..v }).await;
    let request = suite.request("openid");
    let flow = suite.flow(&request, &[]).await;
    assert_eq!(flow.id["sub"], "buffy");
    assert_server_test(&flow);
}

pub(super) async fn oidcc_response_type_missing(v: Variant) {
    let suite = Suite::new(v).await;
    let request = suite.request("openid").without("response_type");
    let prompt = suite.start(&request, false).await;
    // Either an error page (the front-end shows an `error` prompt) or an error redirected back.
    match prompt["type"].as_str() {
        Some("error") => assert!(prompt.get("uri").is_none(), "{prompt}"),
        _ => {
            // "response must be in url query as we didn't specify a response_type".
            let mode = if v.form_post { Mode::FormPost } else { Mode::Query };
            let params = suite.callback_in(mode, &prompt, &request);
            let error = assert_error_response(&params);
            assert!(
                error == "invalid_request" || error == "unsupported_response_type",
                "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrUnsupportedResponseType: {error}"
            );
        }
    }
}

/// The module is skipped when `none` is not among `id_token_signing_alg_values_supported`
/// (servers need not support unsigned ID tokens); Gatehouse signs every ID token, and a
/// client cannot register for unsigned ones.
pub(super) async fn oidcc_idtoken_unsigned(v: Variant) {
    let suite = Suite::new(v).await;
    let algs = suite.discovery["id_token_signing_alg_values_supported"].as_array().unwrap();
    assert!(!algs.contains(&json!("none")), "OIDCCCheckIdTokenSigningAlgValuesSupportedAlgNone: skipped");
    let metadata = json!({
        "redirect_uris": [REDIRECT_URI],
        "id_token_signed_response_alg": "none",
    });
    let (status, body) = suite.server.admin(Method::POST, "/clients/v1", Some(metadata)).await;
    assert_eq!(status, 400, "no client gets unsigned ID tokens: {body}");
}

async fn userinfo_test(v: Variant, how: UserInfoCall) {
    let (suite, flow) = happy(v, "openid", &[]).await;
    suite.userinfo(&flow, how).await;
}

pub(super) async fn oidcc_userinfo_get(v: Variant) {
    userinfo_test(v, UserInfoCall::Get).await;
}

pub(super) async fn oidcc_userinfo_post_header(v: Variant) {
    userinfo_test(v, UserInfoCall::PostHeader).await;
}

pub(super) async fn oidcc_userinfo_post_body(v: Variant) {
    userinfo_test(v, UserInfoCall::PostBody).await;
}

pub(super) async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow(v: Variant) {
    let mut suite = Suite::new(v).await;
    let request = suite.request("openid").without("nonce");
    // The module stops at the authorization response: a code, no error (and an access token
    // that works, for `code token`).
    let prompt = suite.start(&request, false).await;
    let prompt = suite.answer(prompt).await;
    let front = suite.front_channel(&request, &prompt).await;
    assert!(front.code.is_some(), "ExtractAuthorizationCodeFromAuthorizationResponse");
    // And the code redeems to an ID token without a nonce.
    let request2 = suite.request("openid").without("nonce");
    suite.flow(&request2, &[]).await;
}

async fn scope_test(v: Variant, scope: &str) -> (Flow, Value) {
    let suite = Suite::new(v).await;
    let supported = suite.discovery["scopes_supported"].as_array().unwrap();
    for s in scope.split(' ') {
        assert!(supported.contains(&json!(s)), "OIDCCCheckScopesSupportedContainScopeTest: {s} (else skipped)");
    }
    let mut suite = suite;
    let request = suite.request(scope);
    let flow = suite.flow(&request, &[]).await;
    let claims = returned_claims(&suite, &flow, &request).await;
    // The values are the user's, unchanged.
    let user = user();
    for s in scope.split(' ') {
        for claim in scope_items(s).iter().filter(|c| **c != "sub") {
            assert_eq!(claims[*claim], user["claims"][*claim], "{claim}");
        }
    }
    (flow, claims)
}

/// `AbstractOIDCCReturnedClaimsServerTest.onPostAuthorizationFlowComplete`: with an access
/// token, UserInfo's claims (`validateUserInfoResponse`); otherwise, for `id_token`, the
/// authorization endpoint's ID token's (`VerifyScopesReturnedInAuthorizationEndpointIdToken`,
/// a WARN: Core §5.4). Either must have every claim of every requested scope. Returns them.
async fn returned_claims(suite: &Suite, flow: &Flow, request: &Request) -> Value {
    let claims = match &flow.access_token {
        Some(_) => suite.userinfo(flow, UserInfoCall::Get).await,
        None => flow.front_id.clone().expect("the authorization endpoint's ID token"),
    };
    assert_scope_claims(&request.scope, &claims);
    claims
}

/// `OIDCCScopeEmail`'s extra checks: no `name` in the ID tokens or UserInfo (WARNs), and with
/// an access token no `email` in the ID tokens (`EnsureIdTokenDoesNotContainEmailForScopeEmail`,
/// a WARN: Core §5.4).
fn assert_scope_email(v: Variant, flow: &Flow, claims: &Value) {
    for id in flow.id_tokens() {
        assert!(id.get("name").is_none(), "EnsureIdTokenDoesNotContainName (WARN): {id}");
        if v.response_type.code() || v.response_type.token() {
            assert!(id.get("email").is_none(), "EnsureIdTokenDoesNotContainEmailForScopeEmail (WARN): {id}");
        }
    }
    if flow.access_token.is_some() {
        assert!(claims.get("name").is_none(), "EnsureUserInfoDoesNotContainName (WARN): {claims}");
    }
}

pub(super) async fn oidcc_scope_profile(v: Variant) {
    scope_test(v, "openid profile").await;
}

pub(super) async fn oidcc_scope_email(v: Variant) {
    let (flow, claims) = scope_test(v, "openid email").await;
    assert_scope_email(v, &flow, &claims);
}

pub(super) async fn oidcc_scope_address(v: Variant) {
    scope_test(v, "openid address").await;
}

pub(super) async fn oidcc_scope_phone(v: Variant) {
    scope_test(v, "openid phone").await;
}

pub(super) async fn oidcc_scope_all(v: Variant) {
    scope_test(v, "openid email phone address profile").await;
}

/// The email scope flow with the scope's words reversed and the query's parameters in
/// another order (`ReverseScopeOrderInAuthorizationEndpointRequest`,
/// `BuildPlainRedirectToAuthorizationEndpointReorderedParams`).
pub(super) async fn oidcc_alternate_happy_flow(v: Variant) {
    let mut suite = Suite::new(v).await;
    let mut request = suite.request("email openid");
    request.params.reverse();
    let flow = suite.flow(&request, &[]).await;
    let claims = returned_claims(&suite, &flow, &request).await;
    assert_scope_email(v, &flow, &claims);
}

pub(super) async fn oidcc_display_page(v: Variant) {
    happy_with(v, &[("display", "page")]).await;
}

pub(super) async fn oidcc_display_popup(v: Variant) {
    happy_with(v, &[("display", "popup")]).await;
}

pub(super) async fn oidcc_ensure_request_with_unknown_parameter_succeeds(v: Variant) {
    happy_with(v, &[("extra", "foobar")]).await;
}

/// `AddLoginHintFromConfigurationToAuthorizationEndpointRequest`: `buffy@<issuer host>`.
pub(super) async fn oidcc_login_hint(v: Variant) {
    let mut suite = Suite::new(v).await;
    let hint = format!("buffy@{}", url::Url::parse(&suite.server.issuer).unwrap().host_str().unwrap());
    let request = suite.request("openid").with(&[("login_hint", &hint)]);
    let prompt = suite.start(&request, false).await;
    assert_eq!(prompt["auth_request"]["login_hint"], hint.as_str(), "the front-end sees the hint");
    suite.finish(&request, prompt, &[]).await;
}

pub(super) async fn oidcc_ui_locales(v: Variant) {
    let mut suite = Suite::new(v).await;
    let request = suite.request("openid").with(&[("ui_locales", "se")]);
    let prompt = suite.start(&request, false).await;
    assert_eq!(prompt["auth_request"]["ui_locales"], json!(["se"]), "the front-end sees the locales");
    suite.finish(&request, prompt, &[]).await;
}

pub(super) async fn oidcc_claims_locales(v: Variant) {
    happy_with(v, &[("claims_locales", "se")]).await;
}

/// `OIDCCAddAcrValuesToAuthorizationEndpointRequest`: the advertised `acr_values_supported`,
/// or `1 2` without them; `ValidateIdTokenACRClaimAgainstAcrValuesRequest` (WARN) wants one
/// of them back. The front-end decides the `acr` (here it authenticates at the first one
/// asked for); the provider must carry it into the ID token.
pub(super) async fn oidcc_ensure_request_with_acr_values_succeeds(v: Variant) {
    let mut suite = Suite::new(v).await;
    let acr_values = match suite.discovery["acr_values_supported"].as_array() {
        Some(values) => values.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>().join(" "),
        None => "1 2".to_owned(),
    };
    let request = suite.request("openid").with(&[("acr_values", &acr_values)]);
    let flow = suite.flow(&request, &[]).await;
    let acr = flow.id["acr"].as_str().expect("an acr claim");
    assert!(acr_values.split(' ').any(|v| v == acr), "ValidateIdTokenACRClaimAgainstAcrValuesRequest: {acr}");
}

/// The first login of the modules that authorize twice; the SSO cookie stays with the suite.
/// The user remembers the consent: without that, a second `prompt=none` request in the same
/// SSO session is answered `consent_required` today (session-scoped consent is issue 11).
async fn first_login(v: Variant, extra: &[(&str, &str)]) -> (Suite, Flow) {
    let mut suite = Suite::new(v).await;
    suite.remember = true;
    let request = suite.request("openid").with(extra);
    let flow = suite.flow(&request, &[]).await;
    assert!(suite.sso.is_some(), "the login made an SSO session");
    (suite, flow)
}

/// `CheckIdTokenAuthTimeClaimsSameIfPresent` and `CheckIdTokenSubConsistentForSecondAuthorization`.
fn assert_same_auth(first: &Flow, second: &Flow) {
    if second.id.get("auth_time").is_some() {
        assert_eq!(second.id["auth_time"], first.id["auth_time"], "CheckIdTokenAuthTimeClaimsSameIfPresent");
    }
    assert_eq!(second.id["sub"], first.id["sub"], "CheckIdTokenSubConsistentForSecondAuthorization");
}

/// A second authorization in which the user is not asked to log in (and, with
/// `prompt=none`, not asked anything: the first prompt is already the response).
async fn silent(suite: &mut Suite, extra: &[(&str, &str)]) -> Flow {
    let request = suite.request("openid").with(extra);
    let prompt = suite.start(&request, false).await;
    assert_ne!(prompt["type"], "auth", "the user is not asked to log in again: {prompt}");
    if extra.contains(&("prompt", "none")) {
        assert_eq!(prompt["type"], "response", "prompt=none asks nothing: {prompt}");
    }
    suite.finish(&request, prompt, &[]).await
}

/// `prompt=login` re-authenticates (a second login page) and the new `auth_time` is later
/// (`CheckSecondIdTokenAuthTimeIsLaterIfPresent`).
pub(super) async fn oidcc_prompt_login(v: Variant) {
    let (mut suite, first) = first_login(v, &[]).await;
    suite.server.clock.advance(1);
    let request = suite.request("openid").with(&[("prompt", "login")]);
    let prompt = suite.start(&request, false).await;
    assert_eq!(prompt["type"], "auth", "ExpectSecondLoginPage: {prompt}");
    let second = suite.finish(&request, prompt, &[]).await;
    if let Some(auth_time) = second.id["auth_time"].as_i64() {
        assert!(auth_time > first.id["auth_time"].as_i64().unwrap(), "CheckSecondIdTokenAuthTimeIsLaterIfPresent");
    }
}

pub(super) async fn oidcc_prompt_none_not_logged_in(v: Variant) {
    let suite = Suite::new(v).await;
    let mut request = suite.request("openid").with(&[("prompt", "none")]);
    // A 128-character state, to check the provider returns it intact.
    let state: String = (0..7).map(|_| random_jti()).collect::<String>()[..128].to_owned();
    for (k, v) in &mut request.params {
        if k == "state" {
            v.clone_from(&state);
        }
    }
    request.state = state;
    let prompt = suite.start(&request, false).await;
    let params = suite.callback(&prompt, &request);
    let error = assert_error_response(&params);
    assert!(
        ["interaction_required", "login_required", "account_selection_required", "consent_required"]
            .contains(&error.as_str()),
        "CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface: {error}"
    );
}

/// After an interactive login and consent, `prompt=none` in the same SSO session succeeds
/// without asking anything.
pub(super) async fn oidcc_prompt_none_logged_in(v: Variant) {
    let (mut suite, first) = first_login(v, &[]).await;
    let second = silent(&mut suite, &[("prompt", "none")]).await;
    assert_same_auth(&first, &second);
}

pub(super) async fn oidcc_max_age_1(v: Variant) {
    let (mut suite, first) = first_login(v, &[]).await;
    // WaitFor2Seconds, then max_age=1: the login is too old, so the user logs in again.
    suite.server.clock.advance(2);
    let request = suite.request("openid").with(&[("max_age", "1")]);
    let prompt = suite.start(&request, false).await;
    assert_eq!(prompt["type"], "auth", "ExpectSecondLoginPage: {prompt}");
    let second = suite.finish(&request, prompt, &[]).await;
    let auth_time = second.id["auth_time"].as_i64().expect("CheckIdTokenAuthTimeClaimPresentDueToMaxAge");
    if let Some(before) = first.id["auth_time"].as_i64() {
        assert!(auth_time > before, "CheckSecondIdTokenAuthTimeIsLaterIfPresent");
    }
    let now = suite.server.clock.now().0;
    assert!(auth_time >= now - 5 * 60 - 1, "CheckIdTokenAuthTimeIsRecentIfPresent");
}

pub(super) async fn oidcc_max_age_10000(v: Variant) {
    let (mut suite, first) = first_login(v, &[("max_age", "15000")]).await;
    assert!(first.id["auth_time"].is_i64(), "CheckIdTokenAuthTimeClaimPresentDueToMaxAge (first)");
    let second = silent(&mut suite, &[("max_age", "10000")]).await;
    assert!(second.id["auth_time"].is_i64(), "CheckIdTokenAuthTimeClaimPresentDueToMaxAge (second)");
    assert_same_auth(&first, &second);
}

/// The second request has `prompt=none` and the first ID token as `id_token_hint`.
pub(super) async fn oidcc_id_token_hint(v: Variant) {
    let (mut suite, first) = first_login(v, &[]).await;
    let hint = first.id_token.clone();
    let second = silent(&mut suite, &[("prompt", "none"), ("id_token_hint", &hint)]).await;
    assert_same_auth(&first, &second);
}

/// The code redeemed a second time (`AbstractOIDCCAuthCodeReuse`).
async fn reuse(suite: &Suite, flow: &Flow) {
    let form = [("grant_type", "authorization_code"), ("code", flow.code()), ("redirect_uri", REDIRECT_URI)];
    let (status, headers, body) = suite.token(&form).await;
    assert_ne!(status, 200, "ServerAllowedReusingAuthorizationCode (WARN)");
    assert_invalid_grant(status, &headers, &body);
}

pub(super) async fn oidcc_codereuse(v: Variant) {
    let (suite, flow) = happy(v, "openid", &[]).await;
    reuse(&suite, &flow).await;
}

/// Thirty seconds later the reused code is refused and the access token it gave is revoked
/// (RFC 6749 §4.1.2; `EnsureHttpStatusCodeIs4xx` is a WARN).
pub(super) async fn oidcc_codereuse_30seconds(v: Variant) {
    let (suite, flow) = happy(v, "openid", &[]).await;
    suite.server.clock.advance(30);
    reuse(&suite, &flow).await;
    let status = suite.userinfo_status(flow.access_token()).await;
    assert!((400..500).contains(&status), "the first access token was revoked: {status}");
}

/// A redirect URI the client never registered (`CreateBadRedirectUriByAppending`): an error
/// page, never a redirect to it or to the registered one.
pub(super) async fn oidcc_ensure_registered_redirect_uri(v: Variant) {
    let suite = Suite::new(v).await;
    let bad = format!("{REDIRECT_URI}/{}", &random_jti()[..10]);
    let mut request = suite.request("openid");
    for (k, v) in &mut request.params {
        if k == "redirect_uri" {
            v.clone_from(&bad);
        }
    }
    let prompt = suite.start(&request, false).await;
    assert_eq!(prompt["type"], "error", "ExpectRedirectUriErrorPage: {prompt}");
    assert!(prompt.get("uri").is_none(), "no redirect at all: {prompt}");
}

pub(super) async fn oidcc_ensure_post_request_succeeds(v: Variant) {
    let mut suite = Suite::new(v).await;
    let request = suite.request("openid");
    let prompt = suite.start(&request, true).await;
    let flow = suite.finish(&request, prompt, &[]).await;
    assert_eq!(flow.id["sub"], "buffy", "ExpectRedirectUriHasBeenCalled");
}

/// `oidcc-ensure-request-without-nonce-fails`: without a `nonce` where the authorization
/// endpoint returns an ID token (Core §3.2.2.1, §3.3.2.11), an error page or `invalid_request`
/// back to the client (`CheckErrorFromAuthorizationEndpointErrorInvalidRequest`).
pub(super) async fn oidcc_ensure_request_without_nonce_fails(v: Variant) {
    let suite = Suite::new(v).await;
    let request = suite.request("openid").without("nonce");
    let prompt = suite.start(&request, false).await;
    match prompt["type"].as_str() {
        Some("error") => assert!(prompt.get("uri").is_none(), "{prompt}"),
        _ => {
            let params = suite.callback(&prompt, &request);
            let error = assert_error_response(&params);
            assert_eq!(error, "invalid_request", "CheckErrorFromAuthorizationEndpointErrorInvalidRequest");
        }
    }
}

/// `oidcc-refresh-token` (`AbstractOIDCCMultipleClient`): two clients each log in with
/// `offline_access` (advertised, so requested, with `prompt=consent`); each refreshes with
/// the scope, the new ID token agreeing with the first (`CompareIdTokenClaims`); client 1
/// cannot use client 2's refresh token.
pub(super) async fn oidcc_refresh_token(v: Variant) {
    let mut suite = Suite::new(v).await;
    let scopes = suite.discovery["scopes_supported"].as_array().unwrap();
    assert!(
        scopes.contains(&json!("offline_access")),
        "SetScopeInClientConfigurationToOpenIdOfflineAccessIfServerSupportsOfflineAccess"
    );
    let grants = suite.discovery["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!("refresh_token")), "EnsureServerConfigurationSupportsRefreshToken (WARN)");
    let first_client = suite.client.clone();
    let second_client = suite.second_client().await;

    let mut refresh_tokens = Vec::new();
    for client in [&first_client, &second_client] {
        suite.client = client.clone();
        let request = suite.request("openid offline_access").with(&[("prompt", "consent")]);
        let flow = suite.flow(&request, &[]).await;
        let refresh = flow.tokens["refresh_token"].as_str().expect("ExtractRefreshTokenFromTokenResponse").to_owned();
        assert!(refresh.bytes().all(|b| (0x20..=0x7e).contains(&b)), "EnsureRefreshTokenContainsAllowedCharactersOnly");
        // WaitForOneSecond, so the new ID token's iat differs.
        suite.server.clock.advance(1);
        let form =
            [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("scope", request.scope.as_str())];
        let (status, headers, refreshed) = suite.token(&form).await;
        Suite::check_tokens(status, &headers, &refreshed);
        assert_ne!(refreshed["access_token"], flow.tokens["access_token"], "EnsureAccessTokenValuesAreDifferent");
        if let Some(new_refresh) = refreshed["refresh_token"].as_str() {
            assert!(new_refresh.len() * 8 >= 128, "EnsureMinimumRefreshTokenLength");
            assert!(shannon_bits(new_refresh) > 96.0, "EnsureMinimumRefreshTokenEntropy");
        }
        if let Some(id_token) = refreshed["id_token"].as_str() {
            // CompareIdTokenClaims (OpenID Connect Core §12.2).
            let second = decode_part(id_token, 1);
            for claim in ["iss", "sub", "aud", "azp"] {
                assert_eq!(second.get(claim), flow.id.get(claim), "CompareIdTokenClaims: {claim}");
            }
            assert_ne!(second["iat"], flow.id["iat"], "CompareIdTokenClaims: a new iat");
            if second.get("auth_time").is_some() {
                assert_eq!(second["auth_time"], flow.id["auth_time"], "CompareIdTokenClaims: auth_time");
            }
        }
        let access = refreshed["access_token"].as_str().unwrap();
        assert_eq!(suite.userinfo_status(access).await, 200, "CallProtectedResource");
        refresh_tokens.push(refreshed["refresh_token"].as_str().unwrap_or(&refresh).to_owned());
    }
    // Client 1 presents client 2's refresh token.
    suite.client = first_client;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_tokens[1].as_str()),
        ("scope", "openid offline_access"),
    ];
    let (status, headers, body) = suite.token(&form).await;
    assert_invalid_grant(status, &headers, &body);
}

pub(super) async fn oidcc_ensure_request_with_valid_pkce_succeeds(v: Variant) {
    let mut suite = Suite::new(v).await;
    // SetupPkceAndAddToAuthorizationRequest: a random verifier, its S256 challenge.
    let verifier = format!("{}{}{}", random_jti(), random_jti(), random_jti());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(digest.as_ref());
    let request = suite.request("openid").with(&[("code_challenge", &challenge), ("code_challenge_method", "S256")]);
    let flow = suite.flow(&request, &[("code_verifier", &verifier)]).await;
    assert_eq!(flow.id["sub"], "buffy");
}

/// `oidcc-claims-essential`: `name` asked for as essential, in UserInfo or, for `id_token`, in
/// the ID token (`AddUserInfoEssentialNameClaimToAuthorizationEndpointRequest`,
/// `AddIdTokenEssentialNameClaimToAuthorizationEndpointRequest`); the claims come back where
/// asked for (`EnsureUserInfoContainsName`, `EnsureIdTokenContainsName`: WARNs), and not in the ID
/// token when asked for in UserInfo (`EnsureIdTokenDoesNotContainName`, a WARN).
pub(super) async fn oidcc_claims_essential(v: Variant) {
    let mut suite = Suite::new(v).await;
    let id_token_only = v.response_type == ResponseType::IdToken;
    let target = if id_token_only { "id_token" } else { "userinfo" };
    let claims = json!({ target: {"name": {"essential": true}} }).to_string();
    let request = suite.request("openid").with(&[("claims", &claims)]);
    let flow = suite.flow(&request, &[]).await;
    let returned = returned_claims(&suite, &flow, &request).await;
    assert!(returned["name"].as_str().is_some_and(|n| !n.is_empty()), "Ensure…ContainsName (WARN): {returned}");
    if !id_token_only {
        for id in flow.id_tokens() {
            assert!(id.get("name").is_none(), "EnsureIdTokenDoesNotContainName (WARN): {id}");
        }
    }
}

/// `skipTestIfNoneUnsupported`: the module runs only if `none` is advertised (here a skipped
/// module counts as a failure).
fn assert_none_supported(discovery: &Value) {
    let algs = discovery["request_object_signing_alg_values_supported"].as_array();
    assert!(algs.is_none_or(|a| a.contains(&json!("none"))), "skipTestIfNoneUnsupported would skip the module");
}

/// A module that sends its request as an unsigned object by value
/// (`AbstractOIDCCRequestObjectServerTest`): processed, never `request_not_supported`, so the
/// flow completes; `CheckDiscEndpointRequestParameterSupported` (a WARN) wants it advertised.
/// With `invalid_query_redirect`, the query's `redirect_uri` is another
/// (`AddInvalidRedirectUriToAuthorizationRequest`): the object's is the one used (Core §6.1).
async fn unsigned_by_value(v: Variant, invalid_query_redirect: bool) {
    let mut suite = Suite::new(v).await;
    assert_none_supported(&suite.discovery);
    let request = suite.request("openid");
    let object = unsecured(&request.object_claims());
    let mut request = request.carried("request", object);
    if invalid_query_redirect {
        request.query_redirect_uri = Some(format!("{REDIRECT_URI}_invalid"));
    }
    suite.flow(&request, &[]).await;
    assert_eq!(suite.discovery["request_parameter_supported"], true, "CheckDiscEndpointRequestParameterSupported");
}

pub(super) async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(v: Variant) {
    unsigned_by_value(v, false).await;
}

pub(super) async fn oidcc_ensure_request_object_with_redirect_uri(v: Variant) {
    unsigned_by_value(v, true).await;
}

/// The same request as an unsigned object at a `request_uri` the client registered, with a
/// fragment (`AbstractOIDCCRequestUriServerTest`, `CreateRandomRequestUriWithFragment`); then
/// `CheckDiscEndpointRequestUriParameterSupported` (absent means true).
pub(super) async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(v: Variant) {
    let ca = TestCa::new();
    let objects = ObjectServer::start(&ca).await;
    let request_uri = objects.uri(&random_jti());
    let mut suite = Suite::on(server_trusting(&ca).await, v, json!({"request_uris": [request_uri]})).await;
    assert_none_supported(&suite.discovery);
    let request = suite.request("openid");
    objects.publish(Some(unsecured(&request.object_claims())));
    let request = request.carried("request_uri", request_uri);
    suite.flow(&request, &[]).await;
    assert_ne!(
        suite.discovery["request_uri_parameter_supported"], false,
        "CheckDiscEndpointRequestUriParameterSupported"
    );
}
