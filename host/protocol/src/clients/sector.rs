//! The sector of a pairwise client (OpenID Connect Core §8.1): the host of its
//! `sector_identifier_uri`, or of its one redirect URI host. Core §8.1: "The value of the
//! sector_identifier_uri MUST be a URL using the https scheme that points to a JSON file
//! containing an array of redirect_uri values", and every registered redirect URI must be in
//! it (Dynamic Registration §5).

use url::Url;

use super::metadata::{bad_metadata, check_https};
use crate::error::ApiError;
use crate::model::{ClientMetadata, SubjectType};
use crate::provider::Provider;

/// The most a sector identifier document may weigh.
const MAX_SECTOR_BYTES: usize = 64 << 10;

/// The sector identifier of a redirect URI or sector identifier URI: its host, or for a
/// private-use scheme without one (a native app's `com.example.app:/cb`), the scheme.
fn sector_of_url(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    Some(url.host_str().map_or_else(|| url.scheme().to_owned(), str::to_owned))
}

/// The client's sector: the host of `sector_identifier_uri`, or the one host its redirect
/// URIs share. `None` when the redirect URIs name several hosts and no sector URI is given
/// (registration refuses that for pairwise clients).
pub fn sector_of(m: &ClientMetadata) -> Option<String> {
    if let Some(uri) = &m.sector_identifier_uri {
        return sector_of_url(uri);
    }
    let mut hosts = m.redirect_uris.iter().filter_map(|u| sector_of_url(u));
    let first = hosts.next()?;
    hosts.all(|h| h == first).then_some(first)
}

impl Provider {
    /// Checks `sector_identifier_uri` (fetched, it must list every redirect URI) and that a
    /// pairwise client has a sector.
    pub(super) async fn check_sector(&self, m: &ClientMetadata) -> Result<(), ApiError> {
        if let Some(uri) = &m.sector_identifier_uri {
            check_https("sector_identifier_uri", uri)?;
            let listed = self.sector_document(uri).await?;
            if let Some(missing) = m.redirect_uris.iter().find(|r| !listed.contains(r)) {
                return Err(bad_metadata(format!(
                    "sector_identifier_uri: the document does not list the redirect URI {missing:?}"
                )));
            }
        }
        if m.subject_type() == SubjectType::Pairwise && sector_of(m).is_none() {
            return Err(bad_metadata(
                "subject_type pairwise: the redirect URIs name several hosts; register a sector_identifier_uri",
            ));
        }
        Ok(())
    }

    /// The redirect URIs a sector identifier document lists.
    async fn sector_document(&self, uri: &str) -> Result<Vec<String>, ApiError> {
        let fetched = self.fetcher().get(uri, MAX_SECTOR_BYTES).await.map_err(|e| {
            tracing::info!(uri = %crate::logged::logged(uri), error = %e, "a sector_identifier_uri could not be fetched");
            bad_metadata(format!("sector_identifier_uri could not be fetched: {e}"))
        })?;
        serde_json::from_slice::<Vec<String>>(&fetched.body)
            .map_err(|_| bad_metadata("sector_identifier_uri must hold a JSON array of redirect URIs"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_sector_is_the_sector_uri_host_or_the_one_redirect_host() {
        let m = |v| serde_json::from_value::<ClientMetadata>(v).unwrap();
        let one = m(json!({ "redirect_uris": ["https://a.example/1", "https://a.example/2"] }));
        assert_eq!(sector_of(&one).as_deref(), Some("a.example"));
        let two = m(json!({ "redirect_uris": ["https://a.example/1", "https://b.example/2"] }));
        assert_eq!(sector_of(&two), None);
        let uri = m(json!({
            "redirect_uris": ["https://a.example/1", "https://b.example/2"],
            "sector_identifier_uri": "https://sector.example/uris.json",
        }));
        assert_eq!(sector_of(&uri).as_deref(), Some("sector.example"));
        let native = m(json!({ "redirect_uris": ["com.example.app:/cb"], "application_type": "native" }));
        assert_eq!(sector_of(&native).as_deref(), Some("com.example.app"));
    }
}
