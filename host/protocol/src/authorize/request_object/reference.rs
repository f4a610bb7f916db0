//! `request_uri` (OpenID Connect Core §6.2, RFC 9101 §5.2): the request object fetched from a
//! URL the client registered, through the provider's [`Fetcher`] port (https only,
//! egress-checked, no redirects, a timeout), at most [`MAX_REQUEST_OBJECT_BYTES`].
//!
//! Registration is required (discovery says `require_request_uri_registration: true`), so a
//! stranger cannot make the provider fetch a URL of their choosing: the URI must equal one of
//! the client's `request_uris`, fragments aside — Core §6.2 lets the fragment carry a hash of
//! the contents, which changes with them while the registration does not.
//!
//! [`Fetcher`]: crate::fetch::Fetcher

use crate::error::{ErrorCode, OAuthError};
use crate::model::Client;
use crate::provider::Provider;

/// Core §6.2: "The entire Request URI MUST NOT exceed 512 ASCII characters."
pub const MAX_REQUEST_URI_LEN: usize = 512;

/// The largest request object fetched from a `request_uri`.
pub const MAX_REQUEST_OBJECT_BYTES: usize = 32 * 1024;

fn without_fragment(uri: &str) -> &str {
    uri.split_once('#').map_or(uri, |(base, _)| base)
}

/// The request object at `uri`, as text.
pub(super) async fn fetch(provider: &Provider, client: &Client, uri: &str) -> Result<String, OAuthError> {
    let invalid = |why: &str| OAuthError::new(ErrorCode::InvalidRequestUri, why.to_owned());
    if uri.len() > MAX_REQUEST_URI_LEN {
        return Err(invalid("the request_uri is longer than 512 characters"));
    }
    let registered = &client.metadata.request_uris;
    if !registered.iter().any(|r| without_fragment(r) == without_fragment(uri)) {
        return Err(invalid("the request_uri is not one of the client's registered request_uris"));
    }
    let fetched = provider.fetcher().get(without_fragment(uri), MAX_REQUEST_OBJECT_BYTES).await.map_err(|e| {
        tracing::info!(client_id = %client.client_id, error = %e, "the request_uri could not be fetched");
        invalid("the request object could not be fetched from the request_uri")
    })?;
    let text = String::from_utf8(fetched.body).map_err(|_| invalid("the document at the request_uri is not text"))?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_are_not_compared() {
        assert_eq!(without_fragment("https://rp.example/r#abc"), "https://rp.example/r");
        assert_eq!(without_fragment("https://rp.example/r"), "https://rp.example/r");
        assert_eq!(without_fragment("https://rp.example/r?x=1#"), "https://rp.example/r?x=1");
    }
}
