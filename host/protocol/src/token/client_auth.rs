//! Client authentication at the token endpoint and every other endpoint that authenticates
//! clients (RFC 6749 §2.3, OpenID Connect Core §9): client secrets by Basic or in the form,
//! JWT assertions (`client_assertion.rs`), or none for public clients. A request that uses more
//! than one method is refused with `invalid_client`.

use crate::authorize::Params;
use crate::clients::ClientLookupError;
use crate::error::OAuthError;
use crate::logged::logged;
use crate::model::{AuthMethod, Client};
use crate::provider::Provider;
use crate::secret::{Secret, constant_time_eq};
use crate::token::client_assertion::AssertionError;

/// The client credentials the server found in the request.
#[derive(Debug, Default)]
pub struct ClientAuth {
    /// From `Authorization: Basic`, already form-decoded (RFC 6749 §2.3.1).
    pub basic: Option<(String, Secret<String>)>,
    /// The `Authorization` header was present but not valid Basic credentials.
    pub malformed_header: bool,
}

impl ClientAuth {
    pub(crate) fn used_basic(&self) -> bool {
        self.basic.is_some() || self.malformed_header
    }
}

/// The one answer to every failed authentication of a named client — unknown, wrong method,
/// wrong or missing secret — so the response does not say whether the client exists or how
/// it authenticates. The reason goes to the log.
const FAILED: &str = "client authentication failed";

/// A failed authentication of `client_id`: the reason logged at INFO, the generic answer
/// returned.
fn failed(client_id: &str, reason: impl std::fmt::Display) -> OAuthError {
    tracing::info!(client_id = %logged(client_id), %reason, "client authentication failed");
    OAuthError::invalid_client(FAILED)
}

impl Provider {
    /// Authenticates the client of a token request; an assertion's `aud` may name the issuer
    /// or the token endpoint.
    pub(crate) async fn authenticate_client(&self, form: &Params, auth: ClientAuth) -> Result<Client, OAuthError> {
        self.authenticate_client_at(form, auth, &self.settings().endpoints.token).await
    }

    /// Authenticates the client of a request to the endpoint at `endpoint_url`: an assertion's
    /// `aud` may name the issuer, the token endpoint or that endpoint (RFC 7523 §3 item 3).
    pub(crate) async fn authenticate_client_at(
        &self,
        form: &Params,
        auth: ClientAuth,
        endpoint_url: &str,
    ) -> Result<Client, OAuthError> {
        if auth.malformed_header {
            return Err(OAuthError::invalid_client("the Authorization header is not valid HTTP Basic credentials"));
        }
        let form_id = form.get("client_id");
        let form_secret = form.get("client_secret");
        let assertion = form.get("client_assertion").is_some() || form.get("client_assertion_type").is_some();
        let methods = [auth.basic.is_some(), form_secret.is_some(), assertion].iter().filter(|m| **m).count();
        if methods > 1 {
            let client_id = auth.basic.as_ref().map(|(id, _)| id.as_str()).or(form_id).unwrap_or_default();
            let reason = "more than one client authentication method";
            tracing::info!(client_id = %logged(client_id), %reason, "client authentication failed");
            return Err(OAuthError::invalid_client("the request uses more than one client authentication method"));
        }
        if assertion {
            let s = self.settings();
            let audiences = [s.issuer.as_str(), s.endpoints.token.as_str(), endpoint_url];
            return self.authenticate_assertion(form, form_id, &audiences).await.map_err(|e| match e {
                AssertionError::Refused(r) => failed(&r.client_id, r.reason),
                AssertionError::Server(e) => e,
            });
        }
        let (client_id, secret, method) = match (&auth.basic, form_id, form_secret) {
            (Some((id, secret)), form_id, _) => {
                if form_id.is_some_and(|f| f != id) {
                    return Err(OAuthError::invalid_client("client_id in the body differs from the Basic credentials"));
                }
                (id.as_str(), Some(secret.expose().as_str()), AuthMethod::ClientSecretBasic)
            }
            (None, Some(id), Some(secret)) => (id, Some(secret), AuthMethod::ClientSecretPost),
            (None, Some(id), None) => (id, None, AuthMethod::None),
            (None, None, _) => return Err(OAuthError::invalid_client("no client authentication was given")),
        };
        // An identifier no client can have is refused before any lookup.
        let client = match self.client(client_id).await {
            Ok(client) => client,
            Err(ClientLookupError::Unknown(why)) => return Err(failed(client_id, why)),
            Err(ClientLookupError::Store(e)) => return Err(e.into()),
        };
        let registered = client.metadata.token_endpoint_auth_method;
        if registered != method {
            let reason = format_args!("used {}, registered for {}", method.as_str(), registered.as_str());
            return Err(failed(client_id, reason));
        }
        if let Some(given) = secret {
            let Some(sealed) = &client.secret else {
                return Err(failed(client_id, "the client has no secret"));
            };
            let stored = self
                .sealer()
                .open(&client.client_id, sealed)
                .map_err(|e| OAuthError::server_error(format_args!("client {client_id}: {e}")))?;
            if !constant_time_eq(stored.expose(), given.as_bytes()) {
                return Err(failed(client_id, "wrong client secret"));
            }
        }
        Ok(client)
    }
}
