//! The in-memory store: a fake for unit tests, with the same semantics as the real backends.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use gatehouse_protocol::store::{Row, Store, StoreError};
use gatehouse_protocol::world::UnixTime;

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<HashMap<String, BTreeMap<String, Row>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, collection: &str, f: impl FnOnce(&mut BTreeMap<String, Row>) -> R) -> Result<R, StoreError> {
        let mut tables =
            self.tables.lock().map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))?;
        Ok(f(tables.entry(collection.to_owned()).or_default()))
    }
}

fn live(row: &Row, now: UnixTime) -> bool {
    row.expires_at.is_none_or(|e| e > now)
}

/// Stores `row` at the version after the one it replaces; returns the replaced record.
fn write(t: &mut BTreeMap<String, Row>, row: Row) -> Option<Row> {
    let version = t.get(&row.key).map_or(1, |r| r.version + 1);
    t.insert(row.key.clone(), Row { version, ..row })
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        self.with(collection, |t| t.get(key).filter(|r| live(r, now)).cloned())
    }

    async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError> {
        self.with(collection, |t| {
            if t.get(&row.key).is_some_and(|r| live(r, now)) {
                return false;
            }
            t.insert(row.key.clone(), Row { version: 1, ..row });
            true
        })
    }

    async fn put(&self, collection: &str, row: Row) -> Result<(), StoreError> {
        self.with(collection, |t| {
            write(t, row);
        })
    }

    async fn swap(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<Row>, StoreError> {
        self.with(collection, |t| write(t, row).filter(|r| live(r, now)))
    }

    async fn update(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<u64>, StoreError> {
        self.with(collection, |t| {
            let current = t.get(&row.key).filter(|r| live(r, now) && r.version == row.version)?;
            let version = current.version + 1;
            t.insert(row.key.clone(), Row { version, ..row });
            Some(version)
        })
    }

    async fn remove(&self, collection: &str, key: &str, version: u64, now: UnixTime) -> Result<bool, StoreError> {
        self.with(collection, |t| {
            let matches = t.get(key).is_some_and(|r| live(r, now) && r.version == version);
            if matches {
                t.remove(key);
            }
            matches
        })
    }

    async fn count(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<u64, StoreError> {
        self.with(collection, |t| {
            t.range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .filter(|(_, r)| live(r, now))
                .count() as u64
        })
    }

    async fn take(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        self.with(collection, |t| t.remove(key).filter(|r| live(r, now)))
    }

    async fn delete(&self, collection: &str, key: &str, now: UnixTime) -> Result<bool, StoreError> {
        self.with(collection, |t| t.remove(key).is_some_and(|r| live(&r, now)))
    }

    async fn list(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<Vec<Row>, StoreError> {
        self.with(collection, |t| {
            t.range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .filter(|(_, r)| live(r, now))
                .map(|(_, r)| r.clone())
                .collect()
        })
    }

    async fn take_expired(&self, collection: &str, now: UnixTime, limit: usize) -> Result<Vec<Row>, StoreError> {
        self.with(collection, |t| {
            let expired: Vec<String> =
                t.iter().filter(|(_, r)| !live(r, now)).map(|(k, _)| k.clone()).take(limit).collect();
            expired.iter().filter_map(|k| t.remove(k)).collect()
        })
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut tables =
            self.tables.lock().map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))?;
        let mut purged = 0;
        for t in tables.values_mut() {
            let before = t.len();
            t.retain(|_, r| live(r, now));
            purged += (before - t.len()) as u64;
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_conforms() {
        crate::conformance::run(&super::MemoryStore::new()).await;
        crate::conformance::run_concurrent(std::sync::Arc::new(super::MemoryStore::new())).await;
    }
}
