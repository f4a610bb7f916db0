//! Resource indicators (RFC 8707): the protected resources a client may ask tokens for, and
//! which one an access token is for.
//!
//! The operator lists the resource servers (`[[resources]]`): each an absolute URI, the
//! scopes it accepts and, optionally, the clients that may ask for it. An authorization
//! request names any number of them with repeated `resource` parameters, the grant remembers
//! them, and each access token is narrowed to one: its `aud` is that resource and its `scope`
//! the granted scopes the resource accepts. A resource nobody listed, or one the client may
//! not ask for, is `invalid_target`.

use crate::authorize::Params;
use crate::error::{ErrorCode, OAuthError};
use crate::logged::logged;
use crate::model::Client;
use crate::provider::Provider;

/// The most `resource` values one request may carry.
pub const MAX_RESOURCES: usize = 16;

/// The longest resource URI, in bytes.
pub const MAX_RESOURCE_LEN: usize = 512;

/// A protected resource the operator registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceServer {
    /// Its absolute URI, as clients name it in `resource` and as it checks `aud`.
    pub uri: String,
    /// The scopes it accepts; a token for it carries the granted ones among them. Empty: every
    /// granted scope.
    pub scopes: Vec<String>,
    /// The clients that may ask for it; `None`: every client.
    pub clients: Option<Vec<String>>,
}

impl ResourceServer {
    /// The scopes a token for this resource carries out of `granted`.
    pub fn narrow(&self, granted: &[String]) -> Vec<String> {
        if self.scopes.is_empty() {
            return granted.to_vec();
        }
        granted.iter().filter(|s| self.scopes.contains(s)).cloned().collect()
    }

    fn serves(&self, client: &Client) -> bool {
        self.clients.as_ref().is_none_or(|ids| ids.contains(&client.client_id))
    }
}

/// Whether `uri` is a resource indicator RFC 8707 §2 allows: an absolute URI without a
/// fragment, within [`MAX_RESOURCE_LEN`].
pub fn is_resource_uri(uri: &str) -> bool {
    uri.len() <= MAX_RESOURCE_LEN && url::Url::parse(uri).is_ok_and(|u| u.fragment().is_none())
}

fn invalid_target(description: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

/// The `resource` values of a request, in order, each once.
pub(crate) fn requested(params: &Params) -> Result<Vec<&str>, OAuthError> {
    let mut values: Vec<&str> = Vec::new();
    for (_, value) in params.0.iter().filter(|(k, v)| k == "resource" && !v.is_empty()) {
        if !values.contains(&value.as_str()) {
            values.push(value);
        }
    }
    if values.len() > MAX_RESOURCES {
        return Err(invalid_target(format!("a request may name at most {MAX_RESOURCES} resources")));
    }
    Ok(values)
}

impl Provider {
    /// The registered resource `uri`, if the client may ask for it; otherwise `invalid_target`.
    pub(crate) fn resource_for(&self, client: &Client, uri: &str) -> Result<&ResourceServer, OAuthError> {
        if !is_resource_uri(uri) {
            return Err(invalid_target(format!("resource {} is not an absolute URI without a fragment", logged(uri))));
        }
        match self.settings().resources.iter().find(|r| r.uri == uri) {
            Some(r) if r.serves(client) => Ok(r),
            Some(_) => Err(invalid_target(format!("the client may not ask for the resource {}", logged(uri)))),
            None => Err(invalid_target(format!("{} is not a resource this provider issues tokens for", logged(uri)))),
        }
    }

    /// The resources of an authorization request, each one the client may ask for.
    pub(crate) fn authorized_resources(&self, client: &Client, params: &Params) -> Result<Vec<String>, OAuthError> {
        requested(params)?.into_iter().map(|uri| self.resource_for(client, uri).map(|r| r.uri.clone())).collect()
    }

    /// The one resource a token request's access token is for, out of those its grant was
    /// authorized for (`granted`): the one it names, or the grant's only one. `None` when the
    /// grant has none and the request names none: a token for this provider, as without
    /// resource indicators.
    pub(crate) fn token_resource(
        &self,
        client: &Client,
        granted: &[String],
        params: &Params,
    ) -> Result<Option<&ResourceServer>, OAuthError> {
        let asked = requested(params)?;
        let uri = match (&asked[..], granted) {
            ([], []) => return Ok(None),
            ([], [only]) => only.as_str(),
            ([], _) => {
                return Err(invalid_target(
                    "the grant is for several resources; name the one this token is for with the resource parameter",
                ));
            }
            ([one], _) if granted.iter().any(|g| g == one) => one,
            ([one], _) => {
                return Err(invalid_target(format!("the resource {} was not part of the authorization", logged(one))));
            }
            _ => return Err(invalid_target("an access token is for one resource; name one resource parameter")),
        };
        self.resource_for(client, uri).map(Some)
    }

    /// The resource a `client_credentials` token is for: the one the request names, if any.
    pub(crate) fn client_credentials_resource(
        &self,
        client: &Client,
        params: &Params,
    ) -> Result<Option<&ResourceServer>, OAuthError> {
        match &requested(params)?[..] {
            [] => Ok(None),
            [one] => self.resource_for(client, one).map(Some),
            _ => Err(invalid_target("an access token is for one resource; name one resource parameter")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_indicators_are_absolute_uris_without_fragments() {
        assert!(is_resource_uri("https://mcp.example.com/mcp"));
        assert!(is_resource_uri("http://127.0.0.1:8090/mcp"));
        assert!(!is_resource_uri("/mcp"));
        assert!(!is_resource_uri("https://mcp.example.com/mcp#tools"));
        assert!(is_resource_uri("urn:example:resource"), "a URN is an absolute URI too");
        assert!(!is_resource_uri(&format!("https://example.com/{}", "a".repeat(MAX_RESOURCE_LEN))));
    }

    #[test]
    fn a_token_for_a_resource_carries_the_granted_scopes_it_accepts() {
        let r = ResourceServer { uri: "https://r".into(), scopes: vec!["mcp:tools".into()], clients: None };
        assert_eq!(r.narrow(&["openid".into(), "mcp:tools".into()]), vec!["mcp:tools".to_owned()]);
        let open = ResourceServer { scopes: vec![], ..r };
        assert_eq!(open.narrow(&["a".into(), "b".into()]).len(), 2);
    }

    #[test]
    fn repeated_resources_count_once_and_are_bounded() {
        let params = Params::from_query("resource=https://a&resource=https://b&resource=https://a");
        assert_eq!(requested(&params).unwrap(), vec!["https://a", "https://b"]);
        let many: Vec<String> = (0..=MAX_RESOURCES).map(|i| format!("resource=https://r{i}")).collect();
        let err = requested(&Params::from_query(&many.join("&"))).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
    }
}
