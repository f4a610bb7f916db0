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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub body: String,
    pub expires_at: Option<UnixTime>,
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

/// The primitive operations every storage backend provides.
///
/// All operations are atomic per record. `swap` and `take` are the building blocks of
/// single-use credentials: exactly one concurrent caller sees the previous value.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The record under `key`, unless absent or expired at `now`.
    async fn get(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError>;

    /// Stores `row` unless a live record exists under its key; returns whether it was stored.
    async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError>;

    /// Stores `row`, replacing any record under its key.
    async fn put(&self, collection: &str, row: Row) -> Result<(), StoreError>;

    /// Stores `row` and returns the live record it replaced, if any.
    async fn swap(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<Row>, StoreError>;

    /// Removes the record under `key` and returns it if it was live.
    async fn take(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError>;

    /// Removes the record under `key`; returns whether a live one was there.
    async fn delete(&self, collection: &str, key: &str, now: UnixTime) -> Result<bool, StoreError>;

    /// Live records whose key starts with `prefix`, in key order.
    async fn list(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<Vec<Row>, StoreError>;

    /// Deletes every record that expired before `now`; returns how many.
    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError>;

    /// The backend's connection-pool gauges, if it has a pool.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }
}

/// The collections the protocol uses. Backends create one table per name.
pub const COLLECTIONS: &[&str] =
    &["clients", "authz_sessions", "subject_sessions", "consents", "codes", "grants", "refresh_tokens", "signing_keys"];

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
        Ok(Row { key: key.to_owned(), body: encode(value)?, expires_at })
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

    pub async fn list(&self, store: &dyn Store, prefix: &str, now: UnixTime) -> Result<Vec<T>, StoreError> {
        store.list(self.name, prefix, now).await?.into_iter().map(|r| decode(self.name, r)).collect()
    }
}
