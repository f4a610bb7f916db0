//! The SQLite backend: one file in WAL mode, one table per collection, one writer connection
//! (so writers never wait on SQLite's busy handler) and a pool of readers.

use std::path::Path;

use async_trait::async_trait;
use gatehouse_protocol::store::{COLLECTIONS, PoolStats, Row, Store, StoreError};
use gatehouse_protocol::world::UnixTime;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::pool::Pool;

pub struct SqliteStore {
    writer: Pool<Connection>,
    readers: Pool<Connection>,
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// Only the protocol's own collection names become table names.
fn table(collection: &str) -> Result<&'static str, StoreError> {
    COLLECTIONS
        .iter()
        .find(|c| **c == collection)
        .copied()
        .ok_or_else(|| StoreError::Unavailable(format!("unknown collection {collection:?}")))
}

const PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

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

fn row(key: String, body: String, expires_at: Option<i64>) -> Row {
    Row { key, body, expires_at: expires_at.map(UnixTime) }
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
                "CREATE TABLE IF NOT EXISTS {c} (key TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at INTEGER);
                 CREATE INDEX IF NOT EXISTS {c}_expiry ON {c}(expires_at) WHERE expires_at IS NOT NULL;"
            ));
        }
        writer.execute_batch(&schema).map_err(unavailable)?;
        let readers = (0..readers.max(1)).map(|_| open(path, true)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { writer: Pool::new(vec![writer]), readers: Pool::new(readers) })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let key = key.to_owned();
        self.readers
            .run(move |c| {
                let sql = format!(
                    "SELECT body, expires_at FROM {t} WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
                );
                c.prepare_cached(&sql)?
                    .query_row(params![key, now.0], |r| Ok(row(key.clone(), r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .await?
            .map_err(unavailable)
    }

    async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError> {
        let t = table(collection)?;
        self.writer
            .run(move |c| {
                let sql = format!(
                    "INSERT INTO {t} (key, body, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at
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
        self.writer
            .run(move |c| {
                let sql = format!(
                    "INSERT INTO {t} (key, body, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at"
                );
                c.prepare_cached(&sql)?.execute(params![row.key, row.body, row.expires_at.map(|e| e.0)])
            })
            .await?
            .map(drop)
            .map_err(unavailable)
    }

    async fn swap(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        self.writer
            .run(move |c| {
                let tx = c.transaction()?;
                let previous = tx
                    .prepare_cached(&format!("SELECT body, expires_at FROM {t} WHERE key = ?1"))?
                    .query_row(params![row.key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?)))
                    .optional()?;
                tx.prepare_cached(&format!(
                    "INSERT INTO {t} (key, body, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at"
                ))?
                .execute(params![row.key, row.body, row.expires_at.map(|e| e.0)])?;
                tx.commit()?;
                Ok(previous.filter(|(_, e)| live(*e, now)).map(|(body, e)| self::row(row.key.clone(), body, e)))
            })
            .await?
            .map_err(unavailable)
    }

    async fn take(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let key = key.to_owned();
        self.writer
            .run(move |c| {
                c.prepare_cached(&format!("DELETE FROM {t} WHERE key = ?1 RETURNING body, expires_at"))?
                    .query_row(params![key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?)))
                    .optional()
                    .map(|found| found.filter(|(_, e)| live(*e, now)).map(|(body, e)| row(key.clone(), body, e)))
            })
            .await?
            .map_err(unavailable)
    }

    async fn delete(&self, collection: &str, key: &str, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.take(collection, key, now).await?.is_some())
    }

    async fn list(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<Vec<Row>, StoreError> {
        let t = table(collection)?;
        let prefix = prefix.to_owned();
        self.readers
            .run(move |c| {
                let sql = format!(
                    "SELECT key, body, expires_at FROM {t}
                     WHERE substr(key, 1, length(?1)) = ?1 AND (expires_at IS NULL OR expires_at > ?2) ORDER BY key"
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![prefix, now.0], |r| Ok(row(r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<Vec<_>, _>>()
            })
            .await?
            .map_err(unavailable)
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.writer
            .run(move |c| {
                let mut purged = 0u64;
                for t in COLLECTIONS {
                    purged += c.execute(
                        &format!("DELETE FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= ?1"),
                        params![now.0],
                    )? as u64;
                }
                Ok(purged)
            })
            .await?
            .map_err(unavailable)
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
    async fn sqlite_store_keeps_records_across_reopen() {
        use gatehouse_protocol::store::{Row, Store};
        use gatehouse_protocol::world::UnixTime;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let store = super::SqliteStore::open(&path, 1).unwrap();
            store.put("clients", Row { key: "c1".into(), body: "{}".into(), expires_at: None }).await.unwrap();
        }
        let store = super::SqliteStore::open(&path, 1).unwrap();
        assert!(store.get("clients", "c1", UnixTime(0)).await.unwrap().is_some());
    }
}
