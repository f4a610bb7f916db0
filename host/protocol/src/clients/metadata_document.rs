//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, which the MCP
//! authorization specification recommends): a `client_id` that is an https URL names a JSON
//! document of client metadata the provider fetches, instead of a registration.
//!
//! The document is fetched through the `Fetcher` port (https only, public addresses only, no
//! redirects, a timeout) and capped at [`MAX_DOCUMENT_BYTES`]; its `client_id` must be the URL
//! exactly; it cannot carry a secret nor ask for a secret-based authentication method; the
//! rest is checked as a registration is. The client it describes is stored under its URL, so
//! grants, consents and tokens find it like any other (kept for the refresh-token lifetime
//! after it was last fetched), and used until its HTTP caching
//! lifetime (bounded by [`MIN_FRESH_SECONDS`] and [`MAX_FRESH_SECONDS`]) runs out; then the
//! next authorization or token request fetches it again. A document that is gone (404 or
//! 410) removes the client, and with it every grant and token; one that cannot be fetched
//! refuses the request that needed it and leaves the stored client as it was.

use serde_json::Value;

use super::ClientRegistration;
use crate::error::{ApiError, OAuthError};
use crate::fetch::FetchError;
use crate::logged::logged;
use crate::model::{AuthMethod, CLIENTS, Client, ClientSource, is_valid_client_id};
use crate::provider::Provider;
use crate::secret::sha256_hex;
use crate::store::StoreError;

/// The largest document accepted, in bytes (the draft suggests 5 KB).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// The longest client ID URL, in bytes.
pub const MAX_URL_LEN: usize = 512;

/// A document is fetched again after its `Cache-Control: max-age`, but never sooner than this
/// (a client cannot make the provider fetch at every request)...
pub const MIN_FRESH_SECONDS: u64 = 60;
/// ...nor later than this, and after this when the response says nothing.
pub const MAX_FRESH_SECONDS: u64 = 24 * 3600;
const DEFAULT_FRESH_SECONDS: u64 = 300;

/// Which client ID metadata documents the provider accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum MetadataDocumentPolicy {
    /// None: a URL is not a client identifier.
    #[default]
    Off,
    /// Any https URL on a public address.
    Open,
    /// URLs on these hosts only (exact host names, compared without case).
    Hosts(Vec<String>),
}

impl MetadataDocumentPolicy {
    pub fn is_on(&self) -> bool {
        *self != Self::Off
    }

    fn allows(&self, url: &url::Url) -> bool {
        match self {
            Self::Off => false,
            Self::Open => true,
            Self::Hosts(hosts) => url.host_str().is_some_and(|h| hosts.iter().any(|a| a.eq_ignore_ascii_case(h))),
        }
    }
}

/// Whether `id` has the shape of a client ID URL (draft §3): https, a host, a path other than
/// `/`, no fragment, no credentials, no `.` or `..` segment, within [`MAX_URL_LEN`].
pub fn is_client_id_url(id: &str) -> bool {
    if id.len() > MAX_URL_LEN || !id.starts_with("https://") {
        return false;
    }
    let Ok(url) = url::Url::parse(id) else { return false };
    let raw_path = id["https://".len()..].split_once('/').map_or("", |(_, p)| p);
    let dot_segment = raw_path.split(['/', '?']).any(|s| s == "." || s == "..");
    url.host_str().is_some()
        && url.path() != "/"
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && !dot_segment
        // The URL must be the one clients send: the parser must not have rewritten it.
        && url.as_str() == id
}

/// Why a client could not be found.
#[derive(Debug)]
pub(crate) enum ClientLookupError {
    /// No such client, or its metadata document could not be had; the text says which.
    Unknown(String),
    Store(StoreError),
}

impl From<StoreError> for ClientLookupError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Provider {
    /// The client `id` names: a registered one, or the one its metadata document describes
    /// when `id` is a client ID URL the policy accepts.
    pub(crate) async fn client(&self, id: &str) -> Result<Client, ClientLookupError> {
        let now = self.now();
        if is_valid_client_id(id) {
            return CLIENTS
                .get(self.store(), id, now)
                .await?
                .ok_or_else(|| ClientLookupError::Unknown(format!("client {id:?} is not registered")));
        }
        let policy = &self.settings().metadata_documents;
        let url = match url::Url::parse(id) {
            Ok(url) if policy.is_on() && is_client_id_url(id) => url,
            _ => return Err(ClientLookupError::Unknown("the client_id is not a valid client identifier".into())),
        };
        if !policy.allows(&url) {
            return Err(ClientLookupError::Unknown(format!(
                "client ID metadata documents from {} are not accepted",
                logged(url.host_str().unwrap_or_default())
            )));
        }
        let stored = CLIENTS.get(self.store(), id, now).await?;
        if let Some(client) = &stored
            && client.refresh_after.is_some_and(|t| t > now)
        {
            return Ok(client.clone());
        }
        match self.fetch_metadata_document(id).await {
            Ok(client) => {
                // Kept while grants made from it may live, so a stranger's URLs do not pile up.
                let keep = client.refresh_after.unwrap_or(now).plus(self.settings().lifetimes.refresh_token);
                CLIENTS.put(self.store(), id, &client, Some(keep)).await?;
                Ok(client)
            }
            Err(Fetch::Gone) => {
                if stored.is_some() {
                    CLIENTS.delete(self.store(), id, now).await?;
                }
                Err(ClientLookupError::Unknown(format!("the client ID metadata document at {} is gone", logged(id))))
            }
            Err(Fetch::Failed(reason)) => {
                tracing::info!(client_id = %logged(id), %reason, "client ID metadata document refused");
                Err(ClientLookupError::Unknown(format!("the client ID metadata document at {}: {reason}", logged(id))))
            }
        }
    }

    /// The client the document at `url` describes, checked.
    async fn fetch_metadata_document(&self, url: &str) -> Result<Client, Fetch> {
        let fetched = match self.fetcher().get(url, MAX_DOCUMENT_BYTES).await {
            Ok(f) => f,
            Err(FetchError::Status(404 | 410)) => return Err(Fetch::Gone),
            Err(e) => return Err(Fetch::Failed(e.to_string())),
        };
        let body: Value =
            serde_json::from_slice(&fetched.body).map_err(|_| Fetch::Failed("the document is not JSON".into()))?;
        let Value::Object(members) = &body else {
            return Err(Fetch::Failed("the document is not a JSON object".into()));
        };
        if members.get("client_id").and_then(Value::as_str) != Some(url) {
            return Err(Fetch::Failed("its client_id is not the URL it was fetched from".into()));
        }
        for secret in ["client_secret", "client_secret_expires_at"] {
            if members.contains_key(secret) {
                return Err(Fetch::Failed(format!("a metadata document cannot carry {secret}")));
            }
        }
        let named_method = members.contains_key("token_endpoint_auth_method");
        let mut reg = ClientRegistration::from_json(body).map_err(refusal)?;
        reg.client_id = None;
        // Nobody shares a secret with a document's client: it is public unless it names keys.
        if !named_method {
            reg.metadata.token_endpoint_auth_method = AuthMethod::None;
        }
        let method = reg.metadata.token_endpoint_auth_method;
        if method.uses_secret() {
            return Err(Fetch::Failed(format!(
                "a metadata document's client cannot use {}, which needs a shared secret",
                method.as_str()
            )));
        }
        self.validate_metadata(&mut reg.metadata).await.map_err(refusal)?;
        let now = self.now();
        let fresh = fetched.max_age.unwrap_or(DEFAULT_FRESH_SECONDS).clamp(MIN_FRESH_SECONDS, MAX_FRESH_SECONDS);
        Ok(Client {
            client_id: url.to_owned(),
            secret: None,
            metadata: reg.metadata,
            issued_at: now,
            source: ClientSource::MetadataDocument,
            // The same URL is the same client, whatever its document says over time: its
            // grants and consents outlive a refetch.
            incarnation: sha256_hex(url.as_bytes())[..32].to_owned(),
            registration_token: None,
            refresh_after: Some(now.plus(fresh)),
        })
    }
}

/// What fetching a document came to, short of a client.
enum Fetch {
    /// 404 or 410: the client no longer exists.
    Gone,
    Failed(String),
}

fn refusal(e: ApiError) -> Fetch {
    match e {
        ApiError::OAuth(OAuthError { description, .. }) => Fetch::Failed(description.into_owned()),
        other => Fetch::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_urls_follow_the_draft() {
        assert!(is_client_id_url("https://app.example.com/oauth/client.json"));
        assert!(is_client_id_url("https://app.example.com:8443/client"));
        for bad in [
            "http://app.example.com/client.json",
            "https://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/client#x",
            "https://user:pw@app.example.com/client",
            "https://app.example.com/a/../client",
            "https://app.example.com/./client",
            "https://APP.example.com/client",
            "client-id",
        ] {
            assert!(!is_client_id_url(bad), "{bad}");
        }
        assert!(!is_client_id_url(&format!("https://app.example.com/{}", "a".repeat(MAX_URL_LEN))));
    }

    #[test]
    fn a_host_list_admits_its_hosts_only() {
        let policy = MetadataDocumentPolicy::Hosts(vec!["apps.example.com".into()]);
        assert!(policy.allows(&url::Url::parse("https://Apps.Example.com/c").unwrap()));
        assert!(!policy.allows(&url::Url::parse("https://evil.example.com/c").unwrap()));
        assert!(MetadataDocumentPolicy::Open.allows(&url::Url::parse("https://x.example/c").unwrap()));
        assert!(!MetadataDocumentPolicy::Off.is_on());
    }
}
