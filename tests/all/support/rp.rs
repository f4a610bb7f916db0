//! The relying party, played by the `openidconnect` crate: discovery, authorization URL with
//! PKCE and nonce, code exchange, ID token verification against the JWK set, UserInfo.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde_json::Value;

use super::{TestServer, alice, redirect_params};

pub type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

pub struct Rp {
    pub client: Client,
    pub http: openidconnect::reqwest::Client,
    pub redirect_uri: String,
}

/// One authorization request in flight.
pub struct Pending {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// What the RP got and verified at the end of a code flow.
pub struct Login {
    pub tokens: CoreTokenResponse,
    pub id_claims: Value,
    /// The UserInfo response as JSON (the library's claims type keeps standard claims only).
    pub userinfo: Value,
}

impl Login {
    /// Everything the RP received, with JWTs decoded: the tokens as text, their headers and
    /// payloads, and the UserInfo claims.
    pub fn raw_tokens(&self) -> String {
        use base64::Engine;
        let mut out = vec![self.tokens.access_token().secret().clone(), self.userinfo.to_string()];
        if let Some(id) = openidconnect::TokenResponse::id_token(&self.tokens) {
            out.push(id.to_string());
        }
        if let Some(r) = self.tokens.refresh_token() {
            out.push(r.secret().clone());
        }
        let decoded: Vec<String> = out
            .iter()
            .flat_map(|t| t.split('.'))
            .filter_map(|part| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect();
        out.extend(decoded);
        out.join("\n")
    }
}

impl Rp {
    /// Discovers the provider and configures the client registered as `info`.
    pub async fn new(server: &TestServer, info: &Value) -> Self {
        let http = server.http.clone();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(server.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
        let redirect_uri = info["redirect_uris"][0].as_str().unwrap().to_owned();
        let secret = info["client_secret"].as_str().map(|s| ClientSecret::new(s.to_owned()));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(info["client_id"].as_str().unwrap().to_owned()),
            secret,
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.clone()).unwrap());
        let client = if info["token_endpoint_auth_method"] == "client_secret_post" {
            client.set_auth_type(openidconnect::AuthType::RequestBody)
        } else {
            client
        };
        Rp { client, http, redirect_uri }
    }

    /// An authentication request for `scopes` with PKCE S256, nonce and state.
    pub fn authorize(&self, scopes: &[&str], extra: &[(&str, &str)]) -> Pending {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for s in scopes {
            req = req.add_scope(Scope::new(s.to_string()));
        }
        for (k, v) in extra {
            req = req.add_extra_param(*k, *v);
        }
        let (url, state, nonce) = req.url();
        Pending { url: url.to_string(), state, nonce, verifier }
    }

    /// Handles the redirect back: checks `state` and RFC 9207 `iss`, redeems the code,
    /// verifies the ID token (signature, iss, aud, nonce, at_hash) and calls UserInfo.
    pub async fn finish(&self, server: &TestServer, pending: Pending, redirect: &str) -> Login {
        let params = redirect_params(redirect);
        assert!(redirect.starts_with(&self.redirect_uri), "redirected to the registered URI: {redirect}");
        assert_eq!(params.get("state").map(String::as_str), Some(pending.state.secret().as_str()), "state echoed");
        assert_eq!(params.get("iss").map(String::as_str), Some(server.base.as_str()), "RFC 9207 iss");
        let code = params.get("code").unwrap_or_else(|| panic!("a code in {redirect}"));
        self.redeem_and_verify(server, code, Some(pending.verifier), &pending.nonce).await
    }

    /// Redeems `code` (with the PKCE verifier if the request had a challenge), verifies the ID
    /// token (signature, iss, aud, nonce, at_hash) and calls UserInfo, through the library and
    /// as JSON, checking that both name the same subject.
    pub async fn redeem_and_verify(
        &self,
        server: &TestServer,
        code: &str,
        verifier: Option<PkceCodeVerifier>,
        nonce: &Nonce,
    ) -> Login {
        let exchange =
            self.client.exchange_code(AuthorizationCode::new(code.to_owned())).expect("token endpoint known");
        let exchange = match verifier {
            Some(v) => exchange.set_pkce_verifier(v),
            None => exchange,
        };
        let tokens = exchange.request_async(&self.http).await.expect("token exchange");
        let id_claims = self.verify_id_token(&tokens, nonce);
        let standard = self.userinfo(tokens.access_token().secret()).await.expect("the library accepts UserInfo");
        let userinfo: Value = server
            .http
            .get(server.url("/userinfo"))
            .bearer_auth(tokens.access_token().secret())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(userinfo["sub"], serde_json::to_value(standard.subject()).unwrap());
        Login { tokens, id_claims, userinfo }
    }

    pub async fn redeem(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
    ) -> Result<
        CoreTokenResponse,
        openidconnect::RequestTokenError<
            openidconnect::HttpClientError<openidconnect::reqwest::Error>,
            openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
        >,
    > {
        self.client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .expect("token endpoint known")
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
    }

    /// Verifies the ID token as an RP must, and returns its claims as JSON.
    pub fn verify_id_token(&self, tokens: &CoreTokenResponse, nonce: &Nonce) -> Value {
        let id_token = tokens.id_token().expect("an ID token");
        let verifier = self.client.id_token_verifier();
        let claims = id_token.claims(&verifier, nonce).expect("the ID token verifies");
        let expected = claims.access_token_hash().expect("at_hash is present");
        let computed = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().expect("alg"),
            id_token.signing_key(&verifier).expect("signing key"),
        )
        .expect("at_hash computes");
        assert_eq!(&computed, expected, "at_hash matches the access token");
        // The library's claims type keeps only standard claims; the verified token's payload
        // has them all.
        use base64::Engine;
        let payload = id_token.to_string().split('.').nth(1).map(str::to_owned).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    pub async fn userinfo(
        &self,
        access_token: &str,
    ) -> Result<
        CoreUserInfoClaims,
        openidconnect::UserInfoError<openidconnect::HttpClientError<openidconnect::reqwest::Error>>,
    > {
        self.client
            .user_info(openidconnect::AccessToken::new(access_token.to_owned()), None)
            .expect("userinfo endpoint known")
            .request_async(&self.http)
            .await
    }
}

/// Runs a whole login for `subject` with `consent`, playing the front-end through the API.
/// Returns the consent prompt (which names the subject session and carries its new SSO
/// credential) and what the RP got.
pub async fn login(server: &TestServer, rp: &Rp, scopes: &[&str], subject: Value, consent: Value) -> (Value, Login) {
    let pending = rp.authorize(scopes, &[]);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, None, None).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");
    let sid = prompt["sid"].as_str().unwrap().to_owned();
    let consent_prompt = server.submit_subject(&sid, subject).await;
    assert_eq!(consent_prompt["type"], "consent", "{consent_prompt}");
    let prompt = server.submit_consent(&sid, consent).await;
    assert_eq!(prompt["type"], "response", "{prompt}");
    let login = rp.finish(server, pending, prompt["uri"].as_str().unwrap()).await;
    (consent_prompt, login)
}

/// Sends the browser to the provider with a new request from `rp` and starts the front-end's
/// session for it; returns the request and the session id.
pub async fn open_session(server: &TestServer, rp: &Rp, scopes: &[&str], extra: &[(&str, &str)]) -> (Pending, String) {
    let pending = rp.authorize(scopes, extra);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    (pending, sid)
}

/// Authenticates Alice in session `sid` and submits `consent`; returns the final prompt and
/// the code it carries.
pub async fn consent_to_code(server: &TestServer, sid: &str, consent: Value) -> (Value, String) {
    server.submit_subject(sid, alice()).await;
    let prompt = server.submit_consent(sid, consent).await;
    let code = redirect_params(prompt["uri"].as_str().unwrap())["code"].clone();
    (prompt, code)
}
