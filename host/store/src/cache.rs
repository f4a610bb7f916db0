//! A read cache in front of any store for read-mostly collections (clients). Writes through
//! this host invalidate at once; writes by another host sharing the database are seen within
//! the time-to-live. Expiry is still checked on every read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_protocol::store::{PoolStats, Row, Store, StoreError};
use gatehouse_protocol::world::UnixTime;

/// Entries beyond this are dropped wholesale rather than tracked for eviction.
const MAX_ENTRIES: usize = 10_000;

/// Cached reads by (collection, key): when read, and what.
type Entries = HashMap<(String, String), (Instant, Option<Row>)>;

pub struct CachedStore {
    inner: Arc<dyn Store>,
    collections: &'static [&'static str],
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>, collections: &'static [&'static str], ttl: Duration) -> Self {
        Self { inner, collections, ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, collection: &str) -> bool {
        !self.ttl.is_zero() && self.collections.contains(&collection)
    }

    fn invalidate(&self, collection: &str, key: &str) {
        if let (true, Ok(mut e)) = (self.cached(collection), self.entries.lock()) {
            e.remove(&(collection.to_owned(), key.to_owned()));
        }
    }
}

fn live(row: &Row, now: UnixTime) -> bool {
    row.expires_at.is_none_or(|e| e > now)
}

#[async_trait]
impl Store for CachedStore {
    async fn get(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        if !self.cached(collection) {
            return self.inner.get(collection, key, now).await;
        }
        let id = (collection.to_owned(), key.to_owned());
        let hit = self.entries.lock().ok().and_then(|e| e.get(&id).filter(|(at, _)| at.elapsed() < self.ttl).cloned());
        if let Some((_, row)) = hit {
            return Ok(row.filter(|r| live(r, now)));
        }
        let row = self.inner.get(collection, key, now).await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(id, (Instant::now(), row.clone()));
        }
        Ok(row)
    }

    async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError> {
        self.invalidate(collection, &row.key);
        self.inner.insert(collection, row, now).await
    }

    async fn put(&self, collection: &str, row: Row) -> Result<(), StoreError> {
        self.invalidate(collection, &row.key);
        let key = row.key.clone();
        let result = self.inner.put(collection, row).await;
        self.invalidate(collection, &key);
        result
    }

    async fn swap(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let key = row.key.clone();
        let result = self.inner.swap(collection, row, now).await;
        self.invalidate(collection, &key);
        result
    }

    async fn take(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let result = self.inner.take(collection, key, now).await;
        self.invalidate(collection, key);
        result
    }

    async fn delete(&self, collection: &str, key: &str, now: UnixTime) -> Result<bool, StoreError> {
        let result = self.inner.delete(collection, key, now).await;
        self.invalidate(collection, key);
        result
    }

    async fn update(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<u64>, StoreError> {
        let key = row.key.clone();
        let result = self.inner.update(collection, row, now).await;
        self.invalidate(collection, &key);
        result
    }

    async fn remove(&self, collection: &str, key: &str, version: u64, now: UnixTime) -> Result<bool, StoreError> {
        let result = self.inner.remove(collection, key, version, now).await;
        self.invalidate(collection, key);
        result
    }

    async fn count(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<u64, StoreError> {
        self.inner.count(collection, prefix, now).await
    }

    async fn list(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<Vec<Row>, StoreError> {
        self.inner.list(collection, prefix, now).await
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.inner.purge_expired(now).await
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        self.inner.pool_stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[tokio::test]
    async fn a_cached_store_conforms() {
        let store = CachedStore::new(Arc::new(MemoryStore::new()), &["clients", "grants"], Duration::from_secs(60));
        crate::conformance::run(&store).await;
    }

    #[tokio::test]
    async fn writes_elsewhere_are_seen_after_the_ttl() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let cached = CachedStore::new(shared.clone(), &["clients"], Duration::from_millis(50));
        let row = |body: &str| Row::new("c", body, None);
        shared.put("clients", row("1")).await.unwrap();
        assert_eq!(cached.get("clients", "c", UnixTime(0)).await.unwrap().unwrap().body, "1");
        shared.put("clients", row("2")).await.unwrap();
        assert_eq!(cached.get("clients", "c", UnixTime(0)).await.unwrap().unwrap().body, "1", "cached");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cached.get("clients", "c", UnixTime(0)).await.unwrap().unwrap().body, "2", "seen after the TTL");
        cached.put("clients", row("3")).await.unwrap();
        assert_eq!(cached.get("clients", "c", UnixTime(0)).await.unwrap().unwrap().body, "3", "own writes at once");
    }
}
