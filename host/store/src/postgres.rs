//! The PostgreSQL backend, for several Gatehouse hosts sharing one database: one table per
//! collection, a deadpool connection pool, and the same semantics as SQLite (the conformance
//! suite checks both).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use gatehouse_protocol::store::{COLLECTIONS, PoolStats, Row, Store, StoreError};
use gatehouse_protocol::world::UnixTime;
use tokio_postgres::NoTls;

pub struct PostgresStore {
    pool: Pool,
    waits: AtomicU64,
    wait_micros_total: AtomicU64,
    wait_micros_max: AtomicU64,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("postgres: {e}"))
}

/// Only the protocol's own collection names become table names.
fn table(collection: &str) -> Result<&'static str, StoreError> {
    COLLECTIONS
        .iter()
        .find(|c| **c == collection)
        .copied()
        .ok_or_else(|| StoreError::Unavailable(format!("unknown collection {collection:?}")))
}

fn row(key: String, body: String, expires_at: Option<i64>, version: i64) -> Row {
    Row { key, body, expires_at: expires_at.map(UnixTime), version: version as u64 }
}

/// How many expired records one purge statement deletes.
const PURGE_BATCH: i64 = 500;

fn live(expires_at: Option<i64>, now: UnixTime) -> bool {
    expires_at.is_none_or(|e| e > now.0)
}

impl PostgresStore {
    /// Connects to `url` (a libpq-style connection string or `postgres://` URL) with a pool of
    /// `size` connections and creates the tables if needed.
    pub async fn connect(url: &str, size: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Unavailable(format!("storage.url is not a PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool =
            Pool::builder(manager).max_size(size.max(1)).runtime(Runtime::Tokio1).build().map_err(unavailable)?;
        let store = Self {
            pool,
            waits: AtomicU64::new(0),
            wait_micros_total: AtomicU64::new(0),
            wait_micros_max: AtomicU64::new(0),
        };
        let client = store.client().await?;
        let mut schema = String::new();
        for c in COLLECTIONS {
            schema.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {c} (key TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at BIGINT,
                     version BIGINT NOT NULL DEFAULT 1);
                 ALTER TABLE {c} ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 1;
                 CREATE INDEX IF NOT EXISTS {c}_expiry ON {c}(expires_at) WHERE expires_at IS NOT NULL;"
            ));
        }
        // Two hosts starting at once may race on CREATE; a lock keeps the DDL to one of them.
        client
            .batch_execute(&format!("SELECT pg_advisory_lock(7411); {schema} SELECT pg_advisory_unlock(7411);"))
            .await
            .map_err(unavailable)?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        let started = Instant::now();
        let client = self.pool.get().await.map_err(unavailable)?;
        let waited = started.elapsed().as_micros() as u64;
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.wait_micros_total.fetch_add(waited, Ordering::Relaxed);
        self.wait_micros_max.fetch_max(waited, Ordering::Relaxed);
        Ok(client)
    }
}

/// Writes a record at the next version.
const UPSERT: &str = "INSERT INTO {t} (key, body, expires_at) VALUES ($1, $2, $3)
     ON CONFLICT (key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at, version = {t}.version + 1";

#[async_trait]
impl Store for PostgresStore {
    async fn get(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let c = self.client().await?;
        let sql = format!(
            "SELECT body, expires_at, version FROM {t} WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)"
        );
        let stmt = c.prepare_cached(&sql).await.map_err(unavailable)?;
        let found = c.query_opt(&stmt, &[&key, &now.0]).await.map_err(unavailable)?;
        Ok(found.map(|r| row(key.to_owned(), r.get(0), r.get(1), r.get(2))))
    }

    async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError> {
        let t = table(collection)?;
        let c = self.client().await?;
        let sql = format!(
            "INSERT INTO {t} (key, body, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at, version = 1
             WHERE {t}.expires_at IS NOT NULL AND {t}.expires_at <= $4"
        );
        let stmt = c.prepare_cached(&sql).await.map_err(unavailable)?;
        let expires = row.expires_at.map(|e| e.0);
        let n = c.execute(&stmt, &[&row.key, &row.body, &expires, &now.0]).await.map_err(unavailable)?;
        Ok(n == 1)
    }

    async fn put(&self, collection: &str, row: Row) -> Result<(), StoreError> {
        let t = table(collection)?;
        let c = self.client().await?;
        let stmt = c.prepare_cached(&UPSERT.replace("{t}", t)).await.map_err(unavailable)?;
        let expires = row.expires_at.map(|e| e.0);
        c.execute(&stmt, &[&row.key, &row.body, &expires]).await.map_err(unavailable)?;
        Ok(())
    }

    async fn swap(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(unavailable)?;
        let select = format!("SELECT body, expires_at, version FROM {t} WHERE key = $1 FOR UPDATE");
        let previous = tx.query_opt(&select, &[&row.key]).await.map_err(unavailable)?;
        let expires = row.expires_at.map(|e| e.0);
        tx.execute(&UPSERT.replace("{t}", t), &[&row.key, &row.body, &expires]).await.map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(previous
            .map(|r| self::row(row.key.clone(), r.get(0), r.get(1), r.get(2)))
            .filter(|r| live(r.expires_at.map(|e| e.0), now)))
    }

    async fn take(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!("DELETE FROM {t} WHERE key = $1 RETURNING body, expires_at, version"))
            .await
            .map_err(unavailable)?;
        let found = c.query_opt(&stmt, &[&key]).await.map_err(unavailable)?;
        Ok(found
            .map(|r| row(key.to_owned(), r.get(0), r.get(1), r.get(2)))
            .filter(|r| live(r.expires_at.map(|e| e.0), now)))
    }

    async fn delete(&self, collection: &str, key: &str, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.take(collection, key, now).await?.is_some())
    }

    async fn update(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<u64>, StoreError> {
        let t = table(collection)?;
        let c = self.client().await?;
        let sql = format!(
            "UPDATE {t} SET body = $2, expires_at = $3, version = version + 1
             WHERE key = $1 AND version = $4 AND (expires_at IS NULL OR expires_at > $5) RETURNING version"
        );
        let stmt = c.prepare_cached(&sql).await.map_err(unavailable)?;
        let expires = row.expires_at.map(|e| e.0);
        let version = row.version as i64;
        let found =
            c.query_opt(&stmt, &[&row.key, &row.body, &expires, &version, &now.0]).await.map_err(unavailable)?;
        Ok(found.map(|r| r.get::<_, i64>(0) as u64))
    }

    async fn remove(&self, collection: &str, key: &str, version: u64, now: UnixTime) -> Result<bool, StoreError> {
        let t = table(collection)?;
        let c = self.client().await?;
        let sql =
            format!("DELETE FROM {t} WHERE key = $1 AND version = $2 AND (expires_at IS NULL OR expires_at > $3)");
        let stmt = c.prepare_cached(&sql).await.map_err(unavailable)?;
        let n = c.execute(&stmt, &[&key, &(version as i64), &now.0]).await.map_err(unavailable)?;
        Ok(n == 1)
    }

    async fn count(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<u64, StoreError> {
        let t = table(collection)?;
        let c = self.client().await?;
        let sql =
            format!("SELECT count(*) FROM {t} WHERE starts_with(key, $1) AND (expires_at IS NULL OR expires_at > $2)");
        let stmt = c.prepare_cached(&sql).await.map_err(unavailable)?;
        let found = c.query_one(&stmt, &[&prefix, &now.0]).await.map_err(unavailable)?;
        Ok(found.get::<_, i64>(0) as u64)
    }

    async fn list(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<Vec<Row>, StoreError> {
        let t = table(collection)?;
        let c = self.client().await?;
        let sql = format!(
            "SELECT key, body, expires_at, version FROM {t}
             WHERE starts_with(key, $1) AND (expires_at IS NULL OR expires_at > $2) ORDER BY key COLLATE \"C\""
        );
        let rows = c.query(&sql, &[&prefix, &now.0]).await.map_err(unavailable)?;
        Ok(rows.into_iter().map(|r| row(r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    async fn take_expired(&self, collection: &str, now: UnixTime, limit: usize) -> Result<Vec<Row>, StoreError> {
        let t = table(collection)?;
        let c = self.client().await?;
        let sql = format!(
            "DELETE FROM {t} WHERE key IN
             (SELECT key FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)
             RETURNING key, body, expires_at, version"
        );
        let rows = c.query(&sql, &[&now.0, &(limit as i64)]).await.map_err(unavailable)?;
        Ok(rows.into_iter().map(|r| row(r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let mut purged = 0;
        for t in COLLECTIONS {
            // Short statements, so a large purge never holds many row locks at once.
            let sql = format!(
                "DELETE FROM {t} WHERE key IN
                 (SELECT key FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)"
            );
            loop {
                let deleted = c.execute(&sql, &[&now.0, &PURGE_BATCH]).await.map_err(unavailable)?;
                purged += deleted;
                if deleted < PURGE_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(purged)
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        let status = self.pool.status();
        let waits = self.waits.load(Ordering::Relaxed);
        let total = self.wait_micros_total.load(Ordering::Relaxed);
        Some(PoolStats {
            max_connections: status.max_size as u64,
            active_connections: (status.size - status.available) as u64,
            idle_connections: status.available as u64,
            waiting_for_connection: status.waiting as u64,
            mean_wait_ms: if waits == 0 { 0.0 } else { total as f64 / waits as f64 / 1000.0 },
            max_wait_ms: self.wait_micros_max.load(Ordering::Relaxed) as f64 / 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    /// The PostgreSQL server the test command starts (`scripts/postgres.sh`). Without it this
    /// test fails rather than skipping: the backend must be checked against a real server.
    fn url() -> String {
        std::env::var("GATEHOUSE_TEST_POSTGRES_URL").expect(
            "GATEHOUSE_TEST_POSTGRES_URL is not set: run the test suite with scripts/test.sh, which starts PostgreSQL",
        )
    }

    /// A fresh database per test, so tests do not see each other's rows.
    async fn fresh(name: &str) -> String {
        let base = url();
        let (client, conn) =
            tokio_postgres::connect(&base, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
        tokio::spawn(conn);
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let mut config: tokio_postgres::Config = base.parse().unwrap();
        config.dbname(name);
        let host = match &config.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        format!("host={host} port={port} user={user} dbname={name}")
    }

    #[tokio::test]
    async fn postgres_store_conforms() {
        let store = super::PostgresStore::connect(&fresh("gatehouse_conformance").await, 4).await.unwrap();
        crate::conformance::run(&store).await;
        crate::conformance::run_concurrent(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn a_bad_url_is_a_clear_error() {
        let err = super::PostgresStore::connect("not a url at all ===", 1).await.err().unwrap();
        assert!(err.to_string().contains("not a PostgreSQL URL"), "{err}");
    }
}
