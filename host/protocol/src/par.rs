//! Pushed authorization requests (RFC 9126): the client posts its authentication request to
//! the `pushed_authorization_request_endpoint`, authenticated as at the token endpoint, and
//! gets back a `request_uri` (`urn:ietf:params:oauth:request_uri:` and 256 random bits) to
//! send the browser to `/authorize` with. The request is validated when pushed, as at the
//! authorization endpoint (RFC 9126 §2.1), and again when used; it is stored under the hash of
//! the reference, used once (the store's atomic `take`), and expires after
//! `lifetimes.pushed_request` (60 s unless configured).

use serde::Serialize;

use crate::authorize::{self, Origin, Params, Rejection};
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, PUSHED_REQUESTS, PushedRequest};
use crate::provider::Provider;
use crate::secret::TokenHash;
use crate::token::{ClientAuth, TokenError};

/// RFC 9126 §2.2: the prefix of the `request_uri`s this endpoint issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Parameters of client authentication, not of the authentication request (RFC 9126 §2.1).
const CLIENT_AUTH_PARAMS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// RFC 9126 §2.2, the `201 Created` answer.
#[derive(Clone, Debug, Serialize)]
pub struct PushedResponse {
    pub request_uri: String,
    pub expires_in: u64,
}

impl Provider {
    /// Handles a pushed authorization request: `form` is the body, `auth` the client
    /// credentials the server found in it and in the `Authorization` header.
    pub async fn push_authorization_request(
        &self,
        form: &Params,
        auth: ClientAuth,
    ) -> Result<PushedResponse, TokenError> {
        let used_basic = auth.used_basic();
        let endpoint = &self.settings().endpoints.pushed_authorization_request;
        let client = self.authenticate_client_at(form, auth, endpoint).await.map_err(|error| TokenError {
            basic_challenge: used_basic && error.code == ErrorCode::InvalidClient,
            error,
        })?;
        // RFC 9126 §2.1: "The request_uri authorization request parameter is one exception, and
        // it MUST NOT be provided."
        if form.get("request_uri").is_some() {
            return Err(OAuthError::invalid_request("request_uri cannot be pushed").into());
        }
        // The same bound as a request at the authorization endpoint.
        let max = self.settings().limits.authorization_request_bytes;
        if form.0.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>() > max {
            let e = OAuthError::invalid_request(format!("the pushed request is longer than {max} bytes"));
            return Err(e.into());
        }
        let mut params: Vec<(String, String)> =
            form.0.iter().filter(|(k, _)| !CLIENT_AUTH_PARAMS.contains(&k.as_str())).cloned().collect();
        // The client authenticated; its id may be left out of the body (Basic credentials).
        if form.get("client_id").is_none() {
            params.retain(|(k, _)| k != "client_id");
            params.push(("client_id".into(), client.client_id.clone()));
        }
        let params = Params(params);
        // RFC 9126 §2.3: errors as at the token endpoint, whatever the request's redirect URI.
        authorize::validate_as(self, &params, Origin::Pushed).await.map_err(|rejection| match rejection {
            Rejection::Show(error) | Rejection::Redirect { error, .. } => TokenError::from(error),
        })?;
        let reference = self.new_token();
        let lifetime = self.settings().lifetimes.pushed_request;
        let record = PushedRequest { client_id: client.client_id.clone(), params: params.0 };
        let now = self.now();
        let key = TokenHash::of(&reference);
        PUSHED_REQUESTS
            .put(self.store(), key.as_str(), &record, Some(now.plus(lifetime)))
            .await
            .map_err(OAuthError::from)?;
        Ok(PushedResponse { request_uri: format!("{REQUEST_URI_PREFIX}{reference}"), expires_in: lifetime })
    }

    /// The parameters pushed under `request_uri` by `client`, used up by this call (RFC 9126
    /// §4): unknown, expired, used and another client's references are `invalid_request_uri`.
    pub(crate) async fn take_pushed_request(&self, request_uri: &str, client: &Client) -> Result<Params, OAuthError> {
        let reference = request_uri.strip_prefix(REQUEST_URI_PREFIX).unwrap_or_default();
        let key = TokenHash::of(reference);
        let record = PUSHED_REQUESTS.take(self.store(), key.as_str(), self.now()).await?;
        match record.filter(|r| r.client_id == client.client_id) {
            Some(r) => Ok(Params(r.params)),
            None => Err(OAuthError::new(
                ErrorCode::InvalidRequestUri,
                "the request_uri is unknown, expired or used, or was pushed by another client",
            )),
        }
    }
}
