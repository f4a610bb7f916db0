//! The SQLite backend: one file in WAL mode, one table per collection, one writer connection on
//! a thread of its own with group commit (so writers never wait on SQLite's busy handler, and
//! concurrent requests share commits) and a pool of readers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_protocol::store::{COLLECTIONS, PoolStats, Row, Store, StoreError, StoreWork};
use gatehouse_protocol::world::UnixTime;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::pool::Pool;
use crate::tally::{Kind, Tally};

mod writer;

use writer::Writer;

pub struct SqliteStore {
    writer: Writer,
    readers: Pool<Connection>,
    tally: Arc<Tally>,
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

use crate::table;

const PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// How long a query on a blocking thread waits for a lock (the `busy_timeout` pragma's 5 s).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn open(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open SQLite database {}: {e}", path.display())))?;
    conn.execute_batch(PRAGMAS).map_err(unavailable)?;
    Ok(conn)
}

fn row(key: String, body: String, expires_at: Option<i64>, version: i64) -> Row {
    Row { key, body, expires_at: expires_at.map(UnixTime), version: version as u64 }
}

/// The exclusive upper bound of the keys that start with `prefix`, so prefix scans use the
/// primary-key index: no key holds a character above U+10FFFF.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// How many expired records one purge transaction deletes, so the one writer connection is
/// never held for long by a purge.
const PURGE_BATCH: i64 = 500;

/// Writes a record at the next version.
fn upsert(t: &str) -> String {
    format!(
        "INSERT INTO {t} (key, body, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at, version = {t}.version + 1"
    )
}

fn live(expires_at: Option<i64>, now: UnixTime) -> bool {
    expires_at.is_none_or(|e| e > now.0)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with `readers` reader connections.
    pub fn open(path: &Path, readers: usize) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let writer = open(path, false)?;
        let mut schema = String::new();
        for c in COLLECTIONS {
            schema.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {c} (key TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at INTEGER,
                     version INTEGER NOT NULL DEFAULT 1);
                 CREATE INDEX IF NOT EXISTS {c}_expiry ON {c}(expires_at) WHERE expires_at IS NOT NULL;"
            ));
        }
        writer.execute_batch(&schema).map_err(unavailable)?;
        // Databases made before records had versions gain the column.
        for c in COLLECTIONS {
            let has_version = writer
                .prepare(&format!("SELECT 1 FROM pragma_table_info('{c}') WHERE name = 'version'"))
                .and_then(|mut s| s.exists([]))
                .map_err(unavailable)?;
            if !has_version {
                writer
                    .execute_batch(&format!("ALTER TABLE {c} ADD COLUMN version INTEGER NOT NULL DEFAULT 1"))
                    .map_err(unavailable)?;
            }
        }
        let readers = (0..readers.max(1)).map(|_| open(path, true)).collect::<Result<Vec<_>, _>>()?;
        let tally = Arc::new(Tally::default());
        Ok(Self { writer: Writer::spawn(writer, tally.clone())?, readers: Pool::new(readers), tally })
    }
}

impl SqliteStore {
    /// Runs a single-row read on the request's own thread when a reader connection is idle,
    /// without waiting on a lock: a lookup by key in pages the OS has cached takes a few
    /// microseconds, less than handing it to a blocking thread and back (BENCHMARKS.md,
    /// issue 15). When no reader is idle, or SQLite would have to wait for a lock (a
    /// checkpoint, a recovery), the read goes to a blocking thread as every other query does.
    async fn point_read<T: Send + 'static>(
        &self,
        f: impl Fn(&Connection) -> rusqlite::Result<T> + Send + Sync + 'static,
    ) -> Result<T, StoreError> {
        let here = self.readers.try_here(|c| {
            let _ = c.busy_timeout(Duration::ZERO);
            let result = f(c);
            let _ = c.busy_timeout(BUSY_TIMEOUT);
            result
        });
        match here {
            Some(Err(rusqlite::Error::SqliteFailure(e, _))) if e.code == rusqlite::ErrorCode::DatabaseBusy => {}
            Some(result) => return result.map_err(unavailable),
            None => {}
        }
        self.readers.run(move |c| f(c)).await?.map_err(unavailable)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let key = key.to_owned();
        self.tally.statements(t, Kind::Read, 1);
        self.point_read(move |c| {
            let sql = format!(
                "SELECT body, expires_at, version FROM {t}
                 WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
            );
            c.prepare_cached(&sql)?
                .query_row(params![key, now.0], |r| Ok(row(key.clone(), r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .await
    }

    async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError> {
        let t = table(collection)?;
        self.tally.statements(t, Kind::Write, 1);
        self.writer
            .run(move |c| {
                let sql = format!(
                    "INSERT INTO {t} (key, body, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at, version = 1
                     WHERE {t}.expires_at IS NOT NULL AND {t}.expires_at <= ?4"
                );
                c.prepare_cached(&sql)?.execute(params![row.key, row.body, row.expires_at.map(|e| e.0), now.0])
            })
            .await?
            .map(|changed| changed == 1)
            .map_err(unavailable)
    }

    async fn put(&self, collection: &str, row: Row) -> Result<(), StoreError> {
        let t = table(collection)?;
        self.tally.statements(t, Kind::Write, 1);
        self.writer
            .run(move |c| {
                c.prepare_cached(&upsert(t))?.execute(params![row.key, row.body, row.expires_at.map(|e| e.0)])
            })
            .await?
            .map(drop)
            .map_err(unavailable)
    }

    async fn swap(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        self.tally.statements(t, Kind::Read, 1);
        self.tally.statements(t, Kind::Write, 1);
        self.writer
            .run(move |c| {
                // Both statements run in the writer's one transaction.
                let previous = c
                    .prepare_cached(&format!("SELECT body, expires_at, version FROM {t} WHERE key = ?1"))?
                    .query_row(params![row.key], |r| Ok(self::row(row.key.clone(), r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                c.prepare_cached(&upsert(t))?.execute(params![row.key, row.body, row.expires_at.map(|e| e.0)])?;
                Ok(previous.filter(|p| live(p.expires_at.map(|e| e.0), now)))
            })
            .await?
            .map_err(unavailable)
    }

    async fn take(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let key = key.to_owned();
        self.tally.statements(t, Kind::Write, 1);
        self.writer
            .run(move |c| {
                c.prepare_cached(&format!("DELETE FROM {t} WHERE key = ?1 RETURNING body, expires_at, version"))?
                    .query_row(params![key], |r| Ok(row(key.clone(), r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
                    .map(|found| found.filter(|r| live(r.expires_at.map(|e| e.0), now)))
            })
            .await?
            .map_err(unavailable)
    }

    async fn delete(&self, collection: &str, key: &str, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.take(collection, key, now).await?.is_some())
    }

    async fn update(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<u64>, StoreError> {
        let t = table(collection)?;
        self.tally.statements(t, Kind::Write, 1);
        self.writer
            .run(move |c| {
                let sql = format!(
                    "UPDATE {t} SET body = ?2, expires_at = ?3, version = version + 1
                     WHERE key = ?1 AND version = ?4 AND (expires_at IS NULL OR expires_at > ?5)
                     RETURNING version"
                );
                c.prepare_cached(&sql)?
                    .query_row(
                        params![row.key, row.body, row.expires_at.map(|e| e.0), row.version as i64, now.0],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()
                    .map(|v| v.map(|v| v as u64))
            })
            .await?
            .map_err(unavailable)
    }

    async fn remove(&self, collection: &str, key: &str, version: u64, now: UnixTime) -> Result<bool, StoreError> {
        let t = table(collection)?;
        let key = key.to_owned();
        self.tally.statements(t, Kind::Write, 1);
        self.writer
            .run(move |c| {
                let sql = format!(
                    "DELETE FROM {t} WHERE key = ?1 AND version = ?2 AND (expires_at IS NULL OR expires_at > ?3)"
                );
                c.prepare_cached(&sql)?.execute(params![key, version as i64, now.0])
            })
            .await?
            .map(|n| n == 1)
            .map_err(unavailable)
    }

    async fn count(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<u64, StoreError> {
        let t = table(collection)?;
        let (start, end) = (prefix.to_owned(), prefix_end(prefix));
        self.tally.statements(t, Kind::Read, 1);
        self.point_read(move |c| {
            let sql = format!(
                "SELECT count(*) FROM {t} WHERE key >= ?1 AND key < ?2 AND (expires_at IS NULL OR expires_at > ?3)"
            );
            c.prepare_cached(&sql)?.query_row(params![start, end, now.0], |r| r.get::<_, i64>(0))
        })
        .await
        .map(|n| n as u64)
    }

    async fn list(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<Vec<Row>, StoreError> {
        let t = table(collection)?;
        let (start, end) = (prefix.to_owned(), prefix_end(prefix));
        self.tally.statements(t, Kind::Read, 1);
        self.readers
            .run(move |c| {
                let sql = format!(
                    "SELECT key, body, expires_at, version FROM {t}
                     WHERE key >= ?1 AND key < ?2 AND (expires_at IS NULL OR expires_at > ?3) ORDER BY key"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt
                    .query_map(params![start, end, now.0], |r| Ok(row(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?
            .map_err(unavailable)
    }

    async fn take_expired(&self, collection: &str, now: UnixTime, limit: usize) -> Result<Vec<Row>, StoreError> {
        let t = table(collection)?;
        self.tally.statements(t, Kind::Write, 1);
        self.writer
            .run(move |c| {
                let sql = format!(
                    "DELETE FROM {t} WHERE key IN
                     (SELECT key FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2)
                     RETURNING key, body, expires_at, version"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt
                    .query_map(params![now.0, limit as i64], |r| Ok(row(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?
            .map_err(unavailable)
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut purged = 0u64;
        for t in COLLECTIONS {
            // One short transaction per batch: writes of requests get the writer in between.
            loop {
                self.tally.statements(t, Kind::Write, 1);
                let deleted = self
                    .writer
                    .run(move |c| {
                        let sql = format!(
                            "DELETE FROM {t} WHERE key IN
                             (SELECT key FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= ?1 LIMIT ?2)"
                        );
                        c.prepare_cached(&sql)?.execute(params![now.0, PURGE_BATCH])
                    })
                    .await?
                    .map_err(unavailable)? as u64;
                purged += deleted;
                if deleted < PURGE_BATCH as u64 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(purged)
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        // The writer is one more connection of the same pool as far as operators care.
        let r = self.readers.stats();
        let w = self.writer.stats();
        Some(PoolStats {
            max_connections: r.max_connections + w.max_connections,
            active_connections: r.active_connections + w.active_connections,
            idle_connections: r.idle_connections + w.idle_connections,
            waiting_for_connection: r.waiting_for_connection + w.waiting_for_connection,
            mean_wait_ms: r.mean_wait_ms.max(w.mean_wait_ms),
            max_wait_ms: r.max_wait_ms.max(w.max_wait_ms),
        })
    }

    fn work(&self) -> Option<StoreWork> {
        Some(self.tally.work())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn sqlite_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open(&dir.path().join("db.sqlite"), 2).unwrap();
        crate::conformance::run(&store).await;
        crate::conformance::run_concurrent(std::sync::Arc::new(store)).await;
    }

    #[tokio::test]
    async fn a_database_from_before_versions_gains_them() {
        use gatehouse_protocol::store::{Row, Store};
        use gatehouse_protocol::world::UnixTime;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let old = rusqlite::Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE authz_sessions (key TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at INTEGER);
                 INSERT INTO authz_sessions VALUES ('s', 'old', NULL);",
            )
            .unwrap();
        }
        let store = super::SqliteStore::open(&path, 1).unwrap();
        let read = store.get("authz_sessions", "s", UnixTime(0)).await.unwrap().unwrap();
        assert_eq!((read.body.as_str(), read.version), ("old", 1));
        let next = store.update("authz_sessions", Row { body: "new".into(), ..read }, UnixTime(0)).await.unwrap();
        assert_eq!(next, Some(2));
    }

    #[tokio::test]
    async fn sqlite_store_keeps_records_across_reopen() {
        use gatehouse_protocol::store::{Row, Store};
        use gatehouse_protocol::world::UnixTime;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let store = super::SqliteStore::open(&path, 1).unwrap();
            store.put("clients", Row::new("c1", "{}", None)).await.unwrap();
        }
        let store = super::SqliteStore::open(&path, 1).unwrap();
        assert!(store.get("clients", "c1", UnixTime(0)).await.unwrap().is_some());
    }
}
