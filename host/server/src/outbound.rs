//! The provider's outbound fetches (the protocol's [`Fetcher`] port): documents at URLs that
//! clients name — `jwks_uri`, `sector_identifier_uri`, `request_uri`.
//!
//! A stranger chooses these URLs, so every fetch is held to: `https` only; no credentials in
//! the URL; the host resolved once by our own resolver, every address checked against the
//! egress policy (`gatehouse-egress`: no loopback, private, link-local or metadata addresses
//! unless configured) and the connection made to exactly those addresses (no second
//! resolution, so no DNS rebinding); no proxy; no redirects; a timeout; the body capped while
//! it is read. Server certificates are checked against the operating system's CA store and
//! the bundled Mozilla roots, plus an optional CA file.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_egress::Policy;
use gatehouse_protocol::fetch::{FetchError, Fetched, Fetcher};
use gatehouse_protocol::logged::logged;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::OutboundConfig;

/// Resolves names for the outbound client and keeps only the addresses the policy allows.
struct CheckedResolver(Arc<Policy>);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all.iter().copied().filter(|a| policy.check(a.ip()).is_ok()).collect();
            if allowed.is_empty() {
                let why = all.first().and_then(|a| policy.check(a.ip()).err());
                let reason = why.map_or("it has no address".to_owned(), |r| format!("its address {}", r));
                return Err(format!("{} is refused: {reason}", logged(&host)).into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The [`Fetcher`] of a running server.
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<Policy>,
}

impl Outbound {
    pub fn new(config: &OutboundConfig) -> Result<Self, String> {
        let policy = Arc::new(Policy {
            allow_private: config.allow_private_addresses,
            allowed_networks: config.allowed_networks.clone(),
        });
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .timeout(config.timeout)
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(CheckedResolver(policy.clone())));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("outbound.ca_file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("outbound.ca_file {} holds no PEM certificates: {e}", path.display()))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| format!("the outbound HTTP client: {e}"))?;
        Ok(Self { client, policy })
    }

    /// The URL's own checks, before any connection: https, no credentials, and an IP literal
    /// host within the policy (a literal is never resolved, so the resolver never sees it).
    fn check_url(&self, url: &str) -> Result<reqwest::Url, FetchError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| FetchError::Refused(format!("not a URL: {e}")))?;
        if parsed.scheme() != "https" {
            return Err(FetchError::Refused("only https URLs are fetched".into()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(FetchError::Refused("the URL carries credentials".into()));
        }
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(FetchError::Refused("the URL has no host".into())),
        };
        if let Some(ip) = ip {
            self.policy.check(ip).map_err(|r| FetchError::Refused(format!("the address {ip} is refused: {r}")))?;
        }
        Ok(parsed)
    }
}

impl Outbound {
    /// POSTs `form` to `url` under the same rules as a fetch (back-channel logout); the
    /// answer's status. The body of the answer is not read.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<u16, FetchError> {
        let parsed = self.check_url(url)?;
        let response = self.client.post(parsed).form(form).send().await.map_err(|e| describe(&e))?;
        Ok(response.status().as_u16())
    }
}

/// `Cache-Control: max-age` in seconds; zero for `no-store` and `no-cache`.
fn max_age(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            age = v.trim_matches('"').parse().ok();
        }
    }
    age
}

#[async_trait]
impl Fetcher for Outbound {
    async fn get(&self, url: &str, max_bytes: usize) -> Result<Fetched, FetchError> {
        let parsed = self.check_url(url)?;
        let mut response = self.client.get(parsed).send().await.map_err(|e| describe(&e))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(FetchError::TooLarge(max_bytes));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase());
        let max_age = max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if body.len() + chunk.len() > max_bytes {
                return Err(FetchError::TooLarge(max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, content_type, max_age })
    }
}

/// What went wrong, with the source chain (the refusal of an address is in there), for the log
/// and the client's error description.
fn describe(e: &reqwest::Error) -> FetchError {
    let mut text = if e.is_timeout() { "it took too long".to_owned() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.contains(" is refused: ") { FetchError::Refused(text) } else { FetchError::Unreachable(text) }
}
