//! A client's public keys (OpenID Connect Dynamic Registration §2 `jwks`, `jwks_uri`): the set
//! registered inline, or the document at `jwks_uri`, fetched through the [`Fetcher`] port
//! (https only, egress-checked, no redirects, a timeout) with a size cap and cached per client
//! in the provider.
//!
//! The cache honours the document's `Cache-Control: max-age` within
//! [`MIN_CACHE_SECONDS`]..=[`MAX_CACHE_SECONDS`]. A client that signs with a key the cached copy
//! lacks (a `kid` it does not hold) gets the document fetched again, but never sooner than
//! [`REFETCH_FLOOR_SECONDS`] after the last fetch for that client, so no request — forged or
//! not — makes the provider fetch a URL more often than that. Times come from the provider's
//! clock. A failed fetch counts as a fetch: it too waits out the floor.
//!
//! [`Fetcher`]: crate::fetch::Fetcher

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jose_jwk::Jwk;
use serde_json::Value;

use crate::fetch::FetchError;
use crate::jose::{SigningKey, signing_keys};
use crate::jwe::{KeyAlg, recipient_key};
use crate::model::Client;
use crate::provider::Provider;
use crate::world::UnixTime;

/// The largest JWK set document fetched from a `jwks_uri`.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// How long a fetched set is used at least (also when the document says `no-cache` or nothing).
pub const MIN_CACHE_SECONDS: u64 = 5 * 60;
/// How long a fetched set is used at most, whatever its `max-age`.
pub const MAX_CACHE_SECONDS: u64 = 24 * 3600;
/// The least time between two fetches of one client's `jwks_uri`. Well under the 60 s after
/// which the OpenID conformance suite's `oidcc-refresh-token-rp-key-rotation` uses a new key.
pub const REFETCH_FLOOR_SECONDS: u64 = 30;
/// How many bytes of fetched documents the cache holds in all; past that, the entries fetched
/// longest ago are dropped.
pub const CACHE_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// Why a client's keys could not be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientKeysError {
    #[error("the client registered neither jwks nor jwks_uri")]
    NoKeys,
    #[error("jwks_uri: {0}")]
    Fetch(FetchError),
    #[error("the document at jwks_uri is not a JWK set")]
    NotAJwkSet,
    #[error("jwks_uri was fetched less than {REFETCH_FLOOR_SECONDS} s ago and gave no key set")]
    TooSoon,
}

/// One client's fetched set.
struct Entry {
    /// The `jwks_uri` and client incarnation it was fetched for: a client that registers
    /// another URI, or is registered again, starts afresh.
    source: (String, String),
    set: Option<Arc<Value>>,
    bytes: usize,
    fresh_until: UnixTime,
    last_fetch: UnixTime,
}

#[derive(Default)]
struct Entries {
    by_client: HashMap<String, Entry>,
    bytes: usize,
}

/// The provider's cache of fetched client key sets.
#[derive(Default)]
pub struct ClientKeyCache {
    entries: Mutex<Entries>,
}

impl std::fmt::Debug for ClientKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKeyCache(..)")
    }
}

/// What to do for a `client_jwks` call, decided under the lock.
enum Plan {
    Use(Arc<Value>),
    Fetch(Option<Arc<Value>>),
    Refuse,
}

impl ClientKeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic elsewhere while holding the lock leaves nothing half-written that matters:
        // every entry is replaced whole.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides whether to fetch, and if so claims the fetch (so concurrent callers do not).
    fn plan(&self, client_id: &str, source: &(String, String), refresh: bool, now: UnixTime) -> Plan {
        let mut entries = self.lock();
        let entry = entries.by_client.get_mut(client_id).filter(|e| &e.source == source);
        let Some(entry) = entry else {
            claim(&mut entries, client_id, source.clone(), now);
            return Plan::Fetch(None);
        };
        // Only a fresh copy is ever used: one past its time is fetched again or refused.
        let fresh = entry.set.clone().filter(|_| now < entry.fresh_until);
        match fresh {
            Some(set) if !refresh => Plan::Use(set),
            fresh if now < entry.last_fetch.plus(REFETCH_FLOOR_SECONDS) => fresh.map_or(Plan::Refuse, Plan::Use),
            fresh => {
                entry.last_fetch = now;
                Plan::Fetch(fresh)
            }
        }
    }

    /// Stores a fetched set, then drops the entries fetched longest ago while over budget.
    fn put(
        &self,
        client_id: &str,
        source: (String, String),
        set: Arc<Value>,
        bytes: usize,
        max_age: u64,
        now: UnixTime,
    ) {
        let mut entries = self.lock();
        let fresh_until = now.plus(max_age.clamp(MIN_CACHE_SECONDS, MAX_CACHE_SECONDS));
        let entry = Entry { source, set: Some(set), bytes, fresh_until, last_fetch: now };
        entries.bytes += bytes;
        if let Some(old) = entries.by_client.insert(client_id.to_owned(), entry) {
            entries.bytes -= old.bytes;
        }
        while entries.bytes > CACHE_BUDGET_BYTES {
            let Some(oldest) = entries.by_client.iter().min_by_key(|(_, e)| e.last_fetch).map(|(id, _)| id.clone())
            else {
                break;
            };
            if let Some(old) = entries.by_client.remove(&oldest) {
                entries.bytes -= old.bytes;
            }
        }
    }
}

/// Records that a fetch for a client not in the cache has started.
fn claim(entries: &mut Entries, client_id: &str, source: (String, String), now: UnixTime) {
    let entry = Entry { source, set: None, bytes: 0, fresh_until: now, last_fetch: now };
    if let Some(old) = entries.by_client.insert(client_id.to_owned(), entry) {
        entries.bytes -= old.bytes;
    }
}

/// Reads a fetched document as a JWK set: a JSON object with a `keys` array.
fn parse_set(body: &[u8]) -> Result<Value, ClientKeysError> {
    let set: Value = serde_json::from_slice(body).map_err(|_| ClientKeysError::NotAJwkSet)?;
    if set.get("keys").is_some_and(Value::is_array) { Ok(set) } else { Err(ClientKeysError::NotAJwkSet) }
}

impl Provider {
    /// The client's JWK set as JSON: its registered `jwks`, or the document at its `jwks_uri`
    /// (cached; see the module documentation). With `refresh`, a copy fetched now is asked
    /// for, because the cached one lacks a key the client used; within the refetch floor the
    /// cached copy comes back instead. Callers compare the result with `Arc::ptr_eq` to know
    /// whether it changed.
    ///
    /// For encryption, pass the set to [`crate::jwe::recipient_key`] (or call
    /// [`Provider::client_encryption_key`]); for signatures, see [`crate::jose::signing_keys`].
    pub async fn client_jwks(&self, client: &Client, refresh: bool) -> Result<Arc<Value>, ClientKeysError> {
        if let Some(set) = &client.metadata.jwks {
            return Ok(Arc::new(set.clone()));
        }
        let uri = client.metadata.jwks_uri.as_deref().ok_or(ClientKeysError::NoKeys)?;
        let source = (uri.to_owned(), client.incarnation.clone());
        let cache = self.client_keys();
        let cached = match cache.plan(&client.client_id, &source, refresh, self.now()) {
            Plan::Use(set) => return Ok(set),
            Plan::Refuse => return Err(ClientKeysError::TooSoon),
            Plan::Fetch(cached) => cached,
        };
        let fetched = self.fetcher().get(uri, MAX_JWKS_BYTES).await.map_err(ClientKeysError::Fetch);
        let result = fetched.and_then(|doc| Ok((parse_set(&doc.body)?, doc)));
        match result {
            Ok((set, doc)) => {
                let set = Arc::new(set);
                let max_age = doc.max_age.unwrap_or(MIN_CACHE_SECONDS);
                cache.put(&client.client_id, source, set.clone(), doc.body.len(), max_age, self.now());
                Ok(set)
            }
            Err(e) => {
                tracing::warn!(client_id = %client.client_id, error = %e, "the client's jwks_uri could not be fetched");
                // A refresh that failed leaves the fresh copy it meant to replace in use.
                cached.ok_or(e)
            }
        }
    }

    /// The client's keys that can verify signatures (see [`crate::jose::signing_keys`]).
    pub async fn client_signing_keys(
        &self,
        client: &Client,
        refresh: bool,
    ) -> Result<(Arc<Value>, Vec<SigningKey>), ClientKeysError> {
        let set = self.client_jwks(client, refresh).await?;
        let keys = signing_keys(&set);
        Ok((set, keys))
    }

    /// The client's key to encrypt to with `alg` ([`recipient_key`] over [`Self::client_jwks`]),
    /// asking for a fresh copy of a `jwks_uri` set once when the cached one has none. `None`:
    /// the client has no key for `alg` (and the symmetric algorithms never take one from here).
    pub async fn client_encryption_key(&self, client: &Client, alg: KeyAlg) -> Result<Option<Jwk>, ClientKeysError> {
        let set = self.client_jwks(client, false).await?;
        if let Some(key) = recipient_key(&set, alg) {
            return Ok(Some(key));
        }
        if client.metadata.jwks_uri.is_none() || alg.is_symmetric() {
            return Ok(None);
        }
        let fresh = self.client_jwks(client, true).await?;
        Ok(if Arc::ptr_eq(&set, &fresh) { None } else { recipient_key(&fresh, alg) })
    }
}

#[cfg(test)]
mod tests;
