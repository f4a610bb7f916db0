//! Following a shared store's change feed ([`Store::changes`]): which writes to the fed
//! collections a host has not yet acted on.
//!
//! A change becomes visible when its transaction commits, a little after the time it was
//! recorded with, and not necessarily in `seq` order. So each read asks for everything
//! recorded since [`WINDOW`] before the previous read, and the changes already seen are
//! skipped by `seq`: a change is missed only if its transaction took longer than the window,
//! and every write to a fed collection is one short statement. A host that could not read
//! the feed for longer than the feed keeps changes is told it lost track ([`News::Lost`]) and
//! forgets everything it caches.

use std::collections::HashMap;

use gatehouse_protocol::store::{Change, Store, StoreError};

use crate::postgres::FEED_RETENTION_MS;

/// How far back each read looks beyond the previous one.
pub const WINDOW_MS: i64 = 30_000;

/// What a read of the feed brought.
#[derive(Debug, PartialEq, Eq)]
pub enum News {
    /// Changes not seen before (possibly none).
    Changes(Vec<Change>),
    /// Changes may have been missed: forget every cached copy.
    Lost,
}

/// One host's position in the feed.
#[derive(Debug)]
pub struct Follower {
    /// The backend's clock at the previous read.
    last_ms: i64,
    /// The changes seen within the last two windows, by `seq`, with their time.
    seen: HashMap<i64, i64>,
}

impl Follower {
    /// Starts following from now; `None` if the store has no feed (one host only). Start it
    /// before loading what it keeps copies of, so that no change falls between the two.
    pub async fn start(store: &dyn Store) -> Result<Option<Self>, StoreError> {
        Ok(store.changes(i64::MAX).await?.map(|batch| Self { last_ms: batch.now_ms, seen: HashMap::new() }))
    }

    /// The changes recorded since the previous read that this host has not seen.
    pub async fn poll(&mut self, store: &dyn Store) -> Result<News, StoreError> {
        let Some(batch) = store.changes(self.last_ms - WINDOW_MS).await? else {
            return Ok(News::Changes(Vec::new()));
        };
        Ok(self.take(batch.now_ms, batch.changes))
    }

    /// What a batch read at `now_ms` adds to what was seen.
    fn take(&mut self, now_ms: i64, changes: Vec<Change>) -> News {
        let gap = now_ms - self.last_ms;
        self.last_ms = now_ms;
        self.seen.retain(|_, at| *at >= now_ms - 2 * WINDOW_MS);
        if gap > FEED_RETENTION_MS - WINDOW_MS {
            return News::Lost;
        }
        let fresh: Vec<Change> = changes.into_iter().filter(|c| self.seen.insert(c.seq, c.at_ms).is_none()).collect();
        News::Changes(fresh)
    }

    /// The backend's clock at the last read, in milliseconds.
    pub fn last_read_ms(&self) -> i64 {
        self.last_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seq: i64, at_ms: i64) -> Change {
        Change { seq, collection: "clients".into(), key: format!("c{seq}"), at_ms }
    }

    #[test]
    fn each_change_is_news_once_even_when_it_commits_late() {
        let mut f = Follower { last_ms: 1_000_000, seen: HashMap::new() };
        assert_eq!(f.take(1_001_000, vec![change(1, 1_000_500)]), News::Changes(vec![change(1, 1_000_500)]));
        // Read again: 1 is still in the window but was seen; 3 committed before 2.
        assert_eq!(
            f.take(1_002_000, vec![change(1, 1_000_500), change(3, 1_001_800)]),
            News::Changes(vec![change(3, 1_001_800)])
        );
        // 2 was recorded before the last read but committed after it: the window catches it.
        assert_eq!(
            f.take(1_003_000, vec![change(1, 1_000_500), change(2, 1_001_500), change(3, 1_001_800)]),
            News::Changes(vec![change(2, 1_001_500)])
        );
    }

    #[test]
    fn a_follower_that_fell_behind_the_retention_has_lost_track() {
        let mut f = Follower { last_ms: 0, seen: HashMap::new() };
        assert_eq!(f.take(FEED_RETENTION_MS, vec![change(1, 10)]), News::Lost);
        assert_eq!(f.take(FEED_RETENTION_MS + 1000, vec![]), News::Changes(vec![]));
    }
}
