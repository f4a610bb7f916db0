//! A read cache in front of any store for read-mostly collections (clients). Writes through
//! this host invalidate at once; writes by another host sharing the database are forgotten
//! when the change feed reports them (`forget`), and within the time-to-live at the latest.
//! Expiry is still checked on every read.
//!
//! Two rules keep it correct and small:
//!
//! - **A read never puts back what a write replaced.** Every write, once it has reached the
//!   store, removes the key and advances a generation; a read caches its result only if the
//!   generation has not moved since the read began. A slow read that overlapped a rotated
//!   secret or a deleted client therefore returns what it found but does not cache it.
//! - **The cache is bounded in bytes.** Keys and bodies (misses too: a miss caches the key)
//!   count against a budget; when an entry would not fit, expired entries are evicted, and if
//!   that is not enough, everything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_protocol::store::{ChangeBatch, PoolStats, Row, Store, StoreError, StoreWork};
use gatehouse_protocol::world::UnixTime;

/// The default budget: keys and bodies of cached reads, plus [`ENTRY_OVERHEAD`] per entry.
pub const DEFAULT_BUDGET: usize = 8 << 20;

/// What an entry costs beyond its strings: the map slot, the instant, the row's other fields.
const ENTRY_OVERHEAD: usize = 96;

/// A cached read of (collection, key): when it was read, and what was found.
struct Entry {
    at: Instant,
    row: Option<Row>,
    size: usize,
}

#[derive(Default)]
struct Entries {
    map: HashMap<(String, String), Entry>,
    /// The sum of the entries' sizes.
    bytes: usize,
    /// Advanced by every write; see the module documentation.
    generation: u64,
}

impl Entries {
    fn remove(&mut self, id: &(String, String)) {
        if let Some(entry) = self.map.remove(id) {
            self.bytes -= entry.size;
        }
    }

    fn insert(&mut self, id: (String, String), row: Option<Row>, ttl: Duration, budget: usize) {
        let size = ENTRY_OVERHEAD + id.0.len() + id.1.len() + row.as_ref().map_or(0, |r| r.key.len() + r.body.len());
        if size > budget {
            return;
        }
        self.remove(&id);
        if self.bytes + size > budget {
            self.map.retain(|_, e| e.at.elapsed() < ttl);
            self.bytes = self.map.values().map(|e| e.size).sum();
        }
        if self.bytes + size > budget {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += size;
        self.map.insert(id, Entry { at: Instant::now(), row, size });
    }
}

pub struct CachedStore {
    inner: Arc<dyn Store>,
    collections: &'static [&'static str],
    ttl: Duration,
    budget: usize,
    entries: Mutex<Entries>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>, collections: &'static [&'static str], ttl: Duration) -> Self {
        Self { inner, collections, ttl, budget: DEFAULT_BUDGET, entries: Mutex::new(Entries::default()) }
    }

    /// The same cache with another byte budget.
    pub fn with_budget(mut self, bytes: usize) -> Self {
        self.budget = bytes;
        self
    }

    fn cached(&self, collection: &str) -> bool {
        !self.ttl.is_zero() && self.collections.contains(&collection)
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        // The map is consistent after every statement; a panic elsewhere leaves it usable.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called after every write has reached the store, whether it succeeded or not.
    fn invalidate(&self, collection: &str, key: &str) {
        if self.cached(collection) {
            let mut entries = self.entries();
            entries.remove(&(collection.to_owned(), key.to_owned()));
            entries.generation += 1;
        }
    }

    /// Drops the cached read of a record another host changed (from the change feed).
    pub fn forget(&self, collection: &str, key: &str) {
        self.invalidate(collection, key);
    }

    /// Drops every cached read, for a host that lost track of the change feed.
    pub fn forget_all(&self) {
        let mut entries = self.entries();
        entries.map.clear();
        entries.bytes = 0;
        entries.generation += 1;
    }

    /// How many entries and bytes the cache holds.
    pub fn footprint(&self) -> (usize, usize) {
        let entries = self.entries();
        (entries.map.len(), entries.bytes)
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
        let generation = {
            let mut entries = self.entries();
            match entries.map.get(&id) {
                Some(e) if e.at.elapsed() < self.ttl => return Ok(e.row.clone().filter(|r| live(r, now))),
                Some(_) => entries.remove(&id),
                None => {}
            }
            entries.generation
        };
        let row = self.inner.get(collection, key, now).await?;
        let mut entries = self.entries();
        if entries.generation == generation {
            entries.insert(id, row.clone(), self.ttl, self.budget);
        }
        Ok(row)
    }

    async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError> {
        let key = row.key.clone();
        let result = self.inner.insert(collection, row, now).await;
        self.invalidate(collection, &key);
        result
    }

    async fn put(&self, collection: &str, row: Row) -> Result<(), StoreError> {
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

    async fn take_expired(&self, collection: &str, now: UnixTime, limit: usize) -> Result<Vec<Row>, StoreError> {
        self.inner.take_expired(collection, now, limit).await
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.inner.purge_expired(now).await
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        self.inner.pool_stats()
    }

    fn work(&self) -> Option<StoreWork> {
        self.inner.work()
    }

    async fn changes(&self, since_ms: i64) -> Result<Option<ChangeBatch>, StoreError> {
        self.inner.changes(since_ms).await
    }

    async fn changed(&self) {
        self.inner.changed().await
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;
    use crate::MemoryStore;

    fn row(body: &str) -> Row {
        Row::new("c", body, None)
    }

    #[tokio::test]
    async fn a_cached_store_conforms() {
        let store = CachedStore::new(Arc::new(MemoryStore::new()), &["clients", "grants"], Duration::from_secs(60));
        crate::conformance::run(&store).await;
    }

    #[tokio::test]
    async fn writes_elsewhere_are_seen_after_the_ttl() {
        let shared: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let cached = CachedStore::new(shared.clone(), &["clients"], Duration::from_millis(50));
        shared.put("clients", row("1")).await.unwrap();
        assert_eq!(cached.get("clients", "c", UnixTime(0)).await.unwrap().unwrap().body, "1");
        shared.put("clients", row("2")).await.unwrap();
        assert_eq!(cached.get("clients", "c", UnixTime(0)).await.unwrap().unwrap().body, "1", "cached");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cached.get("clients", "c", UnixTime(0)).await.unwrap().unwrap().body, "2", "seen after the TTL");
        cached.put("clients", row("3")).await.unwrap();
        assert_eq!(cached.get("clients", "c", UnixTime(0)).await.unwrap().unwrap().body, "3", "own writes at once");
    }

    /// A store whose next read, once it has its answer, waits until the test lets it go.
    struct PausedRead {
        inner: MemoryStore,
        pause: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
    }

    impl PausedRead {
        /// Arms the pause: the first receiver says the read has its answer, the sender resumes it.
        fn pause_next_read(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
            let (reached, on_reached) = oneshot::channel();
            let (resume, on_resume) = oneshot::channel();
            *self.pause.lock().unwrap() = Some((reached, on_resume));
            (on_reached, resume)
        }
    }

    #[async_trait]
    impl Store for PausedRead {
        async fn get(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
            let row = self.inner.get(collection, key, now).await?;
            let pause = self.pause.lock().unwrap().take();
            if let Some((reached, resume)) = pause {
                reached.send(()).unwrap();
                resume.await.unwrap();
            }
            Ok(row)
        }
        async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError> {
            self.inner.insert(collection, row, now).await
        }
        async fn put(&self, collection: &str, row: Row) -> Result<(), StoreError> {
            self.inner.put(collection, row).await
        }
        async fn swap(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<Row>, StoreError> {
            self.inner.swap(collection, row, now).await
        }
        async fn take(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
            self.inner.take(collection, key, now).await
        }
        async fn delete(&self, collection: &str, key: &str, now: UnixTime) -> Result<bool, StoreError> {
            self.inner.delete(collection, key, now).await
        }
        async fn list(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<Vec<Row>, StoreError> {
            self.inner.list(collection, prefix, now).await
        }
        async fn update(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<u64>, StoreError> {
            self.inner.update(collection, row, now).await
        }
        async fn remove(&self, collection: &str, key: &str, version: u64, now: UnixTime) -> Result<bool, StoreError> {
            self.inner.remove(collection, key, version, now).await
        }
        async fn count(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<u64, StoreError> {
            self.inner.count(collection, prefix, now).await
        }
        async fn take_expired(&self, collection: &str, now: UnixTime, limit: usize) -> Result<Vec<Row>, StoreError> {
            self.inner.take_expired(collection, now, limit).await
        }
        async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
            self.inner.purge_expired(now).await
        }
    }

    /// A read that has the old record in hand when a write lands, then finishes.
    async fn read_across(write: impl AsyncFnOnce(&CachedStore)) -> (Option<Row>, Option<Row>) {
        let slow = Arc::new(PausedRead { inner: MemoryStore::new(), pause: Mutex::new(None) });
        slow.inner.put("clients", row("old secret")).await.unwrap();
        let cached = Arc::new(CachedStore::new(slow.clone(), &["clients"], Duration::from_secs(3600)));
        let (reached, resume) = slow.pause_next_read();
        let reader = tokio::spawn({
            let cached = cached.clone();
            async move { cached.get("clients", "c", UnixTime(0)).await.unwrap() }
        });
        reached.await.unwrap();
        write(&cached).await;
        resume.send(()).unwrap();
        let overlapping = reader.await.unwrap();
        (overlapping, cached.get("clients", "c", UnixTime(0)).await.unwrap())
    }

    #[tokio::test]
    async fn a_read_overlapping_a_write_does_not_cache_the_old_record() {
        let (overlapping, after) =
            read_across(async |cached: &CachedStore| cached.put("clients", row("new secret")).await.unwrap()).await;
        assert_eq!(overlapping.unwrap().body, "old secret", "the slow read returns what it found");
        assert_eq!(after.unwrap().body, "new secret", "but the rotated secret is what the cache serves");

        let (overlapping, after) = read_across(async |cached: &CachedStore| {
            assert!(cached.delete("clients", "c", UnixTime(0)).await.unwrap())
        })
        .await;
        assert!(overlapping.is_some());
        assert!(after.is_none(), "a deleted client is not brought back");
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_byte_budget() {
        let budget = 64 << 10;
        let cached =
            CachedStore::new(Arc::new(MemoryStore::new()), &["clients"], Duration::from_secs(3600)).with_budget(budget);
        let long = "x".repeat(1500);
        for i in 0..2000 {
            assert!(cached.get("clients", &format!("{long}{i}"), UnixTime(0)).await.unwrap().is_none());
            assert!(cached.footprint().1 <= budget, "after {i} misses: {:?}", cached.footprint());
        }
        let huge = "y".repeat(budget * 2);
        cached.get("clients", &huge, UnixTime(0)).await.unwrap();
        assert!(cached.footprint().1 <= budget, "an entry larger than the budget is not cached");
    }

    #[tokio::test]
    async fn expired_entries_make_room_before_live_ones_are_dropped() {
        let ttl = Duration::from_millis(50);
        let cached =
            CachedStore::new(Arc::new(MemoryStore::new()), &["clients"], ttl).with_budget(40 * (ENTRY_OVERHEAD + 20));
        for i in 0..30 {
            cached.get("clients", &format!("old-{i}"), UnixTime(0)).await.unwrap();
        }
        tokio::time::sleep(ttl + Duration::from_millis(10)).await;
        for i in 0..20 {
            cached.get("clients", &format!("new-{i}"), UnixTime(0)).await.unwrap();
        }
        assert_eq!(cached.footprint().0, 20, "the expired entries went, the live ones stayed");
    }
}
