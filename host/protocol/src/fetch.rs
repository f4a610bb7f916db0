//! The outbound port: documents the provider fetches from URLs that clients registered or
//! sent (`jwks_uri`, `sector_identifier_uri`, `request_uri`). The server implements it with
//! https only, the egress policy (no loopback, private or metadata addresses unless the
//! operator allows them, no second DNS resolution), no redirects, a timeout and a size cap.

use async_trait::async_trait;

/// A fetched document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub body: Vec<u8>,
    /// The media type, without parameters, in lower case.
    pub content_type: Option<String>,
    /// How long the document may be reused, from `Cache-Control: max-age` (or `no-store`,
    /// `no-cache`: zero), if the response said.
    pub max_age: Option<u64>,
}

/// Why a document could not be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL is not allowed: not https, a refused address, credentials in it.
    #[error("the URL is not allowed: {0}")]
    Refused(String),
    /// No answer: resolution, connection or TLS failed, or it took too long.
    #[error("the document could not be fetched: {0}")]
    Unreachable(String),
    /// An answer other than `200 OK` (redirects are not followed).
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// More than the caller's limit.
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
}

#[async_trait]
pub trait Fetcher: Send + Sync + 'static {
    /// GETs `url`, accepting at most `max_bytes` of body.
    async fn get(&self, url: &str, max_bytes: usize) -> Result<Fetched, FetchError>;
}

/// A fetcher that fetches nothing, for providers that have no outbound access (and tests that
/// need none).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFetcher;

#[async_trait]
impl Fetcher for NoFetcher {
    async fn get(&self, _: &str, _: usize) -> Result<Fetched, FetchError> {
        Err(FetchError::Refused("this provider fetches no documents".into()))
    }
}
