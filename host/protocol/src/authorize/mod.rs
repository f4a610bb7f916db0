//! The authorization endpoint's request validation: an ordered list of small checks, one per
//! file, read top to bottom.
//!
//! Until the redirect check has verified `redirect_uri` against the client's registered URIs,
//! every error is shown to the user (an `error` prompt) and never redirected. After it, errors
//! go back to the client through the verified URI.
//!
//! A request object (`request_object.rs`) is resolved between the client check and the
//! redirect check: every later check reads the parameters with the object's merged in.

mod acr_values;
mod claims;
mod client;
mod duplicates;
mod id_token_hint;
mod limits;
mod max_age;
mod nonce;
mod pkce;
mod prompt;
mod redirect_uri;
mod request_object;
mod resource;
mod response_mode;
mod response_type;
mod scope;

use crate::error::OAuthError;
use crate::model::{AuthorizationRequest, Client, ResponseMode, VerifiedRedirect};
use crate::provider::Provider;

/// Request parameters as received, in order, duplicates kept so they can be refused.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses an `application/x-www-form-urlencoded` query string.
    pub fn from_query(query: &str) -> Self {
        Self(url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()).into_owned().collect())
    }

    /// The value of `name`. OAuth 2.0 parameters sent without a value are treated as omitted
    /// (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// Names that occur more than once, in the order of their second occurrence; `resource`,
    /// which RFC 8707 repeats to name several resources, is not among them.
    pub fn repeated(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        let mut repeated = Vec::new();
        for (k, _) in self.0.iter().filter(|(k, _)| k != "resource") {
            if !seen.insert(k.as_str()) && !repeated.contains(&k.as_str()) {
                repeated.push(k.as_str());
            }
        }
        repeated
    }

    pub fn is_repeated(&self, name: &str) -> bool {
        self.0.iter().filter(|(k, _)| k == name).count() > 1
    }
}

/// Why an authentication request was refused.
#[derive(Debug)]
pub enum Rejection {
    /// Shown to the user; the client or redirect URI could not be trusted.
    Show(OAuthError),
    /// Sent to the client at its verified redirect URI.
    Redirect { error: OAuthError, to: RedirectTarget },
}

/// Where and how an authorization response goes.
#[derive(Clone, Debug, PartialEq)]
pub struct RedirectTarget {
    pub uri: VerifiedRedirect,
    pub mode: ResponseMode,
    pub state: Option<String>,
}

impl RedirectTarget {
    /// Where the response to a validated request goes.
    pub fn of(request: &AuthorizationRequest) -> Self {
        Self { uri: request.redirect_uri.clone(), mode: request.response_mode, state: request.state.clone() }
    }
}

/// The request as the checks build it up.
#[derive(Debug)]
pub(crate) struct Draft<'a> {
    pub params: &'a Params,
    pub client: Option<Client>,
    pub redirect_uri: Option<VerifiedRedirect>,
    pub response_mode: ResponseMode,
    pub request: Option<AuthorizationRequest>,
}

impl Draft<'_> {
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the client check runs first")
    }

    pub fn request(&mut self) -> &mut AuthorizationRequest {
        self.request.as_mut().expect("the response_type check builds the request")
    }
}

/// One check of the pipeline.
type Check = fn(&Provider, &mut Draft<'_>) -> Result<(), OAuthError>;

/// Checks whose errors go back to the client, in order.
const AFTER_REDIRECT: &[Check] = &[
    response_mode::check,
    limits::check,
    duplicates::check,
    response_type::check,
    nonce::check,
    scope::check,
    resource::check,
    pkce::check,
    prompt::check,
    max_age::check,
    claims::check,
    acr_values::check,
    id_token_hint::check,
];

/// Where an authentication request came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The authorization endpoint (through the front-end).
    Front,
    /// The pushed authorization request endpoint (RFC 9126), validating what is pushed.
    Pushed,
}

/// Validates an authentication request (OpenID Connect Core §3.1.2.2) that came to the
/// authorization endpoint.
pub async fn validate(provider: &Provider, params: &Params) -> Result<(AuthorizationRequest, Client), Rejection> {
    validate_as(provider, params, Origin::Front).await
}

/// Validates an authentication request that came from `origin`.
pub async fn validate_as(
    provider: &Provider,
    params: &Params,
    origin: Origin,
) -> Result<(AuthorizationRequest, Client), Rejection> {
    let resolved: Params;
    let mut draft =
        Draft { params, client: None, redirect_uri: None, response_mode: ResponseMode::Query, request: None };
    // Until the redirect URI is verified, errors are shown to the user, never redirected.
    client::check(provider, &mut draft).await.map_err(Rejection::Show)?;
    match request_object::resolve(provider, &draft, origin).await {
        Ok(None) => {}
        Ok(Some(merged)) => {
            resolved = merged;
            draft.params = &resolved;
        }
        Err(refused) => return Err(refusal_of_object(provider, draft.client.take(), refused)),
    }
    redirect_uri::check(provider, &mut draft).map_err(Rejection::Show)?;
    for check in AFTER_REDIRECT {
        if let Err(error) = check(provider, &mut draft) {
            return Err(Rejection::Redirect { error, to: target(&draft) });
        }
    }
    let request = draft.request.take().expect("the response_type check builds the request");
    let client = draft.client.take().expect("the client check runs first");
    Ok((request, client))
}

/// Where an error goes once the redirect URI is verified: the request's response mode, as far
/// as it was read, and its `state`.
fn target(draft: &Draft<'_>) -> RedirectTarget {
    RedirectTarget {
        uri: draft.redirect_uri.clone().expect("verified before these checks"),
        mode: draft.response_mode,
        // A `state` beyond its bound is not echoed back.
        state: draft.params.get("state").filter(|s| limits::within("state", s)).map(str::to_owned),
    }
}

/// A refused request object: redirected in the response mode of the parameters the refusal
/// names when their `redirect_uri` is one the client registered, shown otherwise.
fn refusal_of_object(provider: &Provider, client: Option<Client>, refused: request_object::Refused) -> Rejection {
    let request_object::Refused { error, delivery } = refused;
    let mut draft =
        Draft { params: &delivery, client, redirect_uri: None, response_mode: ResponseMode::Query, request: None };
    if redirect_uri::check(provider, &mut draft).is_err() {
        return Rejection::Show(error);
    }
    // An unknown response mode leaves the default, which the error then goes in.
    let _ = response_mode::check(provider, &mut draft);
    Rejection::Redirect { error, to: target(&draft) }
}
