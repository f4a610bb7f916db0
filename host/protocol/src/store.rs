//! The storage port.
//!
//! Every record the protocol keeps is a JSON document in a named collection, under a string
//! key, with an optional expiry. Backends (SQLite, PostgreSQL, the in-memory fake) implement the
//! handful of primitive operations below and pass one conformance suite; the protocol reads and
//! writes typed records through [`Collection`]. Expired records are invisible to every read.
//!
//! Keys of codes and tokens are hashes (see [`crate::secret::TokenHash`]): a store dump does not
//! hold a usable credential.

use std::fmt;
use std::marker::PhantomData;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::world::UnixTime;

/// A storage failure. Callers turn it into `temporarily_unavailable` / 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}

/// One stored record, as the backend sees it.
///
/// `version` counts the writes of the record: every write stores the next version, and
/// [`Store::update`] and [`Store::remove`] act only on the version a caller read. Writes other
/// than `update` ignore the version they are given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub body: String,
    pub expires_at: Option<UnixTime>,
    pub version: u64,
}

impl Row {
    /// A record to write; its version is the store's to set.
    pub fn new(key: impl Into<String>, body: impl Into<String>, expires_at: Option<UnixTime>) -> Self {
        Self { key: key.into(), body: body.into(), expires_at, version: 0 }
    }
}

/// Gauges of a backend's connection pool, published at `/monitor/v1/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PoolStats {
    pub max_connections: u64,
    pub active_connections: u64,
    pub idle_connections: u64,
    pub waiting_for_connection: u64,
    pub mean_wait_ms: f64,
    pub max_wait_ms: f64,
}

/// What a backend has done since it started, counted as it runs SQL, for the monitoring
/// endpoint and the bench (statements and write transactions per login and per token).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StoreWork {
    /// Statements run, by collection: `(collection, reads, writes)`, collections with none
    /// left out. A statement retried after a rollback counts again.
    pub statements: Vec<(&'static str, u64, u64)>,
    /// Write transactions committed. Several statements of one operation, or (with group
    /// commit) several operations, can share one.
    pub write_transactions: u64,
}

/// The primitive operations every storage backend provides.
///
/// All operations are atomic per record. `swap` and `take` are the building blocks of
/// single-use credentials: exactly one concurrent caller sees the previous value. `update` and
/// `remove` are compare-and-swap on the record's version: of concurrent writers that read the
/// same version, exactly one succeeds, and nothing brings back a record that was removed.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The record under `key`, unless absent or expired at `now`.
    async fn get(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError>;

    /// Stores `row` at version 1 unless a live record exists under its key; returns whether it
    /// was stored. (A key created again after its record was removed or expired starts over at
    /// version 1, so callers that compare versions use keys that are never reused.)
    async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError>;

    /// Stores `row`, replacing any record under its key.
    async fn put(&self, collection: &str, row: Row) -> Result<(), StoreError>;

    /// Stores `row` and returns the live record it replaced, if any.
    async fn swap(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<Row>, StoreError>;

    /// Removes the record under `key` and returns it if it was live.
    async fn take(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError>;

    /// Removes the record under `key`; returns whether a live one was there.
    async fn delete(&self, collection: &str, key: &str, now: UnixTime) -> Result<bool, StoreError>;

    /// Replaces the live record under `row.key` if it is still at `row.version`, storing the
    /// next version; returns that version, or `None` (and changes nothing) when the record is
    /// gone, expired or was written since it was read.
    async fn update(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<u64>, StoreError>;

    /// Removes the live record under `key` if it is still at `version`; returns whether it did.
    async fn remove(&self, collection: &str, key: &str, version: u64, now: UnixTime) -> Result<bool, StoreError>;

    /// How many live records have a key that starts with `prefix`.
    async fn count(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<u64, StoreError>;

    /// Live records whose key starts with `prefix`, in key order.
    async fn list(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<Vec<Row>, StoreError>;

    /// Removes up to `limit` records of `collection` that expired at `now` and returns them,
    /// for work their expiry calls for (a subject session's back-channel logout). Of
    /// concurrent callers, each record goes to one.
    async fn take_expired(&self, collection: &str, now: UnixTime, limit: usize) -> Result<Vec<Row>, StoreError>;

    /// Deletes every record that expired before `now`; returns how many. Backends delete in
    /// small batches so that other writers are not held up behind a large purge.
    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError>;

    /// The backend's connection-pool gauges, if it has a pool.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }

    /// The statements and transactions the backend has run, if it counts them.
    fn work(&self) -> Option<StoreWork> {
        None
    }

    /// The change feed of a backend that several hosts share: the writes to
    /// [`FED_COLLECTIONS`] recorded at or after `since_ms` (the backend's clock, in
    /// milliseconds), with the backend's clock now. `None` for a backend only one host uses
    /// (SQLite, memory): there every write goes through the one host's caches.
    async fn changes(&self, _since_ms: i64) -> Result<Option<ChangeBatch>, StoreError> {
        Ok(None)
    }

    /// Resolves when the backend hears that the feed has news (PostgreSQL `NOTIFY`, when it
    /// is on), so that a host reads it at once rather than at its next interval. Never, by
    /// default: the feed is then read on its interval only.
    async fn changed(&self) {
        std::future::pending::<()>().await
    }
}

/// The collections other hosts keep copies of (the client cache, the loaded plugins): every
/// write to them is recorded in the change feed in the same statement, so hosts sharing a
/// database learn of it (see [`Store::changes`]). What no host caches (tokens, sessions,
/// revocations) is read from the store on every request and needs no feed.
pub const FED_COLLECTIONS: &[&str] = &["clients", "plugin_catalog"];

/// One write to a fed collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Unique per change, in no promised order.
    pub seq: i64,
    pub collection: String,
    pub key: String,
    /// When it was recorded, on the backend's clock (milliseconds since the Unix epoch).
    pub at_ms: i64,
}

/// What one read of the change feed found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeBatch {
    /// The backend's clock when it was read.
    pub now_ms: i64,
    pub changes: Vec<Change>,
}

/// The collections the protocol uses. Backends create one table per name.
pub const COLLECTIONS: &[&str] = &[
    "clients",
    "authz_sessions",
    "subject_sessions",
    "consents",
    "session_consents",
    "codes",
    "grants",
    "refresh_tokens",
    "signing_keys",
    "client_assertions",
    "revoked_access_tokens",
    "provider_secrets",
    "pushed_requests",
    "logout_requests",
    "plugin_catalog",
    "plugin_components",
    "plugin_hosts",
];

/// A typed view of one collection.
pub struct Collection<T> {
    pub name: &'static str,
    _record: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Collection<T> {}

impl<T> fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Collection({})", self.name)
    }
}

fn encode<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(collection: &str, row: Row) -> Result<T, StoreError> {
    serde_json::from_str(&row.body).map_err(|e| StoreError::Corrupt(format!("{collection}/{}: {e}", row.key)))
}

impl<T: Serialize + DeserializeOwned> Collection<T> {
    pub const fn new(name: &'static str) -> Self {
        Self { name, _record: PhantomData }
    }

    fn row(&self, key: &str, value: &T, expires_at: Option<UnixTime>) -> Result<Row, StoreError> {
        Ok(Row::new(key, encode(value)?, expires_at))
    }

    pub async fn get(&self, store: &dyn Store, key: &str, now: UnixTime) -> Result<Option<T>, StoreError> {
        store.get(self.name, key, now).await?.map(|r| decode(self.name, r)).transpose()
    }

    pub async fn insert(
        &self,
        store: &dyn Store,
        key: &str,
        value: &T,
        expires_at: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        store.insert(self.name, self.row(key, value, expires_at)?, now).await
    }

    pub async fn put(
        &self,
        store: &dyn Store,
        key: &str,
        value: &T,
        expires_at: Option<UnixTime>,
    ) -> Result<(), StoreError> {
        store.put(self.name, self.row(key, value, expires_at)?).await
    }

    pub async fn swap(
        &self,
        store: &dyn Store,
        key: &str,
        value: &T,
        expires_at: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<Option<T>, StoreError> {
        store.swap(self.name, self.row(key, value, expires_at)?, now).await?.map(|r| decode(self.name, r)).transpose()
    }

    pub async fn take(&self, store: &dyn Store, key: &str, now: UnixTime) -> Result<Option<T>, StoreError> {
        store.take(self.name, key, now).await?.map(|r| decode(self.name, r)).transpose()
    }

    pub async fn delete(&self, store: &dyn Store, key: &str, now: UnixTime) -> Result<bool, StoreError> {
        store.delete(self.name, key, now).await
    }

    /// Up to `limit` expired records, removed (see [`Store::take_expired`]).
    pub async fn take_expired(&self, store: &dyn Store, now: UnixTime, limit: usize) -> Result<Vec<T>, StoreError> {
        store.take_expired(self.name, now, limit).await?.into_iter().map(|r| decode(self.name, r)).collect()
    }

    pub async fn list(&self, store: &dyn Store, prefix: &str, now: UnixTime) -> Result<Vec<T>, StoreError> {
        store.list(self.name, prefix, now).await?.into_iter().map(|r| decode(self.name, r)).collect()
    }

    /// The record under `key` with the version it was read at, for a later [`Self::update`]
    /// or [`Self::remove`].
    pub async fn get_versioned(
        &self,
        store: &dyn Store,
        key: &str,
        now: UnixTime,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        match store.get(self.name, key, now).await? {
            Some(row) => {
                let version = row.version;
                Ok(Some(Versioned { value: decode(self.name, row)?, version }))
            }
            None => Ok(None),
        }
    }

    /// Replaces the record under `key` if it is still at `version`; see [`Store::update`].
    pub async fn update(
        &self,
        store: &dyn Store,
        key: &str,
        value: &T,
        expires_at: Option<UnixTime>,
        version: u64,
        now: UnixTime,
    ) -> Result<Option<u64>, StoreError> {
        let row = Row { version, ..self.row(key, value, expires_at)? };
        store.update(self.name, row, now).await
    }

    /// Removes the record under `key` if it is still at `version`; see [`Store::remove`].
    pub async fn remove(&self, store: &dyn Store, key: &str, version: u64, now: UnixTime) -> Result<bool, StoreError> {
        store.remove(self.name, key, version, now).await
    }

    pub async fn count(&self, store: &dyn Store, prefix: &str, now: UnixTime) -> Result<u64, StoreError> {
        store.count(self.name, prefix, now).await
    }
}

/// A record and the version it was read at.
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}
