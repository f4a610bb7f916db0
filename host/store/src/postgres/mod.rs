//! The PostgreSQL backend, for several Gatehouse hosts sharing one database (PostgreSQL, or an
//! engine that speaks its protocol): one table per collection, a deadpool connection pool over
//! TLS as `sslmode` asks (`tls.rs`), versioned migrations (`schema.rs`), the change feed, and
//! the same semantics as SQLite (the conformance suite checks both).
//!
//! The SQL stays within what PostgreSQL-compatible engines share: no advisory locks, no
//! triggers, and `LISTEN`/`NOTIFY` only when `PostgresOptions::notify` asks. A statement that fails with a serialization failure or a deadlock
//! (SQLSTATE 40001, 40P01; CockroachDB's serializable transactions report them) was rolled
//! back, so it is tried again, up to [`RETRIES`] times.

mod schema;
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use gatehouse_protocol::store::{
    COLLECTIONS, Change, ChangeBatch, FED_COLLECTIONS, PoolStats, Row, Store, StoreError, StoreWork,
};
use gatehouse_protocol::world::UnixTime;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

pub use tls::TlsMode;

/// How to connect, beside the URL.
#[derive(Clone, Debug, Default)]
pub struct PostgresOptions {
    /// Connections in the pool (at least one).
    pub pool_size: usize,
    /// The CA certificates for `verify-ca` and `verify-full` when the URL names none.
    pub ca_file: Option<PathBuf>,
    /// Also announce each change with `NOTIFY` and listen for other hosts' on a connection of
    /// its own, so that hosts act on a change at once rather than at their next read of the
    /// feed. Only for engines that have `LISTEN`/`NOTIFY` (PostgreSQL; not CockroachDB, and
    /// YugabyteDB only when enabled there).
    pub notify: bool,
}

pub struct PostgresStore {
    pool: Pool,
    notify: bool,
    /// Woken by a notification from the listening connection.
    heard: Arc<Notify>,
    waits: AtomicU64,
    wait_micros_total: AtomicU64,
    wait_micros_max: AtomicU64,
    tally: Tally,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("postgres: {e}"))
}

/// A PostgreSQL error with the server's message and SQLSTATE, which `Display` leaves out.
fn failed(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Unavailable(format!("postgres: {} ({})", db.message(), db.code().code())),
        None => unavailable(e),
    }
}

use crate::table;
use crate::tally::{Kind, Tally};

fn row(key: String, body: String, expires_at: Option<i64>, version: i64) -> Row {
    Row { key, body, expires_at: expires_at.map(UnixTime), version: version as u64 }
}

/// How many expired records one purge statement deletes.
const PURGE_BATCH: i64 = 500;

/// How long the change feed keeps a change: a host that could not read the feed for longer
/// forgets everything it caches (see `feed.rs`).
pub const FEED_RETENTION_MS: i64 = 10 * 60 * 1000;

/// How many changes one read of the feed returns at most.
const FEED_PAGE: i64 = 10_000;

/// How often a statement that hit a serialization failure is tried again.
const RETRIES: u32 = 4;

/// How long a request waits for a connection, and for a new one to be made, before it fails
/// with `temporarily_unavailable`: during an outage requests fail fast rather than queue.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// The backend's clock in milliseconds, as SQL.
const NOW_MS: &str = "(floor(extract(epoch FROM clock_timestamp()) * 1000))::BIGINT";

fn live(expires_at: Option<i64>, now: UnixTime) -> bool {
    expires_at.is_none_or(|e| e > now.0)
}

fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// Runs `$body`, an expression that awaits statements on the pooled client `$c`, again on a
/// serialization failure; any other error makes the store unavailable.
macro_rules! retrying {
    // Counted: each attempt is `$n` statements on table `$t`; a write that succeeds is one
    // committed transaction (autocommit, or the statement's own transaction).
    ($self:ident, $t:expr, $kind:expr, $n:expr, |$c:ident| $body:expr) => {{
        let result = retrying!($self, |$c| {
            $self.tally.statements($t, $kind, $n);
            $body
        });
        if result.is_ok() && matches!($kind, Kind::Write) {
            $self.tally.committed(1);
        }
        result
    }};
    ($self:ident, |$c:ident| $body:expr) => {{
        let mut attempt = 0u32;
        loop {
            #[allow(unused_mut)]
            let mut $c = $self.client().await?;
            let result: Result<_, tokio_postgres::Error> = async { $body }.await;
            match result {
                Ok(value) => break Ok(value),
                Err(e) if attempt < RETRIES && retryable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
                }
                Err(e) => break Err(failed(e)),
            }
        }
    }};
}

/// The channel changes are announced on when `PostgresOptions::notify` is set.
const CHANNEL: &str = "gatehouse_changes";

/// How long the listening connection waits before it connects again after losing the server.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

impl PostgresStore {
    /// Connects to `url` (a libpq-style connection string or `postgres://` URL, `sslmode`
    /// and `sslrootcert` as libpq reads them) with a pool of `size` connections, and brings
    /// the schema up to date. `ca_file` is the CA certificates for `verify-ca` and
    /// `verify-full` when the URL names none; without either, the system's roots.
    pub async fn connect(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        let split = tls::split(url).map_err(|e| StoreError::Unavailable(format!("storage.url: {e}")))?;
        let mut config: tokio_postgres::Config = split
            .rest
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("storage.url is not a PostgreSQL URL: {e}")))?;
        config.ssl_mode(split.mode.ssl_mode());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        let ca_file = split.root_cert.as_deref().or(options.ca_file.as_deref());
        let tls = MakeRustlsConnect::new(
            tls::client_config(split.mode, ca_file).map_err(|e| StoreError::Unavailable(format!("storage: {e}")))?,
        );
        let heard = Arc::new(Notify::new());
        if options.notify {
            tokio::spawn(listen(config.clone(), tls.clone(), Arc::downgrade(&heard)));
        }
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let timeouts = Timeouts { wait: Some(POOL_TIMEOUT), create: Some(POOL_TIMEOUT), recycle: Some(POOL_TIMEOUT) };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .timeouts(timeouts)
            .build()
            .map_err(unavailable)?;
        let store = Self {
            pool,
            notify: options.notify,
            heard,
            waits: AtomicU64::new(0),
            wait_micros_total: AtomicU64::new(0),
            wait_micros_max: AtomicU64::new(0),
            tally: Tally::default(),
        };
        let mut client = store.client().await?;
        schema::migrate(&mut client).await?;
        Ok(store)
    }

    /// A write statement (which must return `key` first) that, for a fed collection, also
    /// records the change in the feed, in the same statement and so in the same transaction,
    /// and announces it when `notify` is on.
    fn fed(&self, t: &str, write: String) -> String {
        if !FED_COLLECTIONS.contains(&t) {
            return write;
        }
        if self.notify {
            format!(
                "WITH w AS ({write}),
                      c AS (INSERT INTO gatehouse_changes (collection, key) SELECT '{t}', key FROM w RETURNING seq),
                      n AS (SELECT pg_notify('{CHANNEL}', '') FROM (SELECT 1 FROM c LIMIT 1) AS one)
                 SELECT w.* FROM w LEFT JOIN n ON true"
            )
        } else {
            format!(
                "WITH w AS ({write}), c AS (INSERT INTO gatehouse_changes (collection, key) SELECT '{t}', key FROM w)
                 SELECT * FROM w"
            )
        }
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
     ON CONFLICT (key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at, version = {t}.version + 1
     RETURNING key";

#[async_trait]
impl Store for PostgresStore {
    async fn get(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let sql = format!(
            "SELECT body, expires_at, version FROM {t} WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)"
        );
        let found = retrying!(self, t, Kind::Read, 1, |c| {
            let stmt = c.prepare_cached(&sql).await?;
            c.query_opt(&stmt, &[&key, &now.0]).await
        })?;
        Ok(found.map(|r| row(key.to_owned(), r.get(0), r.get(1), r.get(2))))
    }

    async fn insert(&self, collection: &str, row: Row, now: UnixTime) -> Result<bool, StoreError> {
        let t = table(collection)?;
        let sql = self.fed(
            t,
            format!(
                "INSERT INTO {t} (key, body, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET body = excluded.body, expires_at = excluded.expires_at, version = 1
                 WHERE {t}.expires_at IS NOT NULL AND {t}.expires_at <= $4 RETURNING key"
            ),
        );
        let expires = row.expires_at.map(|e| e.0);
        let rows = retrying!(self, t, Kind::Write, 1, |c| {
            let stmt = c.prepare_cached(&sql).await?;
            c.query(&stmt, &[&row.key, &row.body, &expires, &now.0]).await
        })?;
        Ok(rows.len() == 1)
    }

    async fn put(&self, collection: &str, row: Row) -> Result<(), StoreError> {
        let t = table(collection)?;
        let sql = self.fed(t, UPSERT.replace("{t}", t));
        let expires = row.expires_at.map(|e| e.0);
        retrying!(self, t, Kind::Write, 1, |c| {
            let stmt = c.prepare_cached(&sql).await?;
            c.query(&stmt, &[&row.key, &row.body, &expires]).await
        })?;
        Ok(())
    }

    async fn swap(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let expires = row.expires_at.map(|e| e.0);
        let previous = if FED_COLLECTIONS.contains(&t) {
            // The feed's statement wraps the write in a WITH of its own, so the read goes first
            // in a transaction.
            let select = format!("SELECT body, expires_at, version FROM {t} WHERE key = $1 FOR UPDATE");
            let upsert = self.fed(t, UPSERT.replace("{t}", t));
            retrying!(self, t, Kind::Write, 2, |c| {
                let tx = c.transaction().await?;
                let previous = tx.query_opt(&select, &[&row.key]).await?;
                tx.query(&upsert, &[&row.key, &row.body, &expires]).await?;
                tx.commit().await?;
                Ok(previous)
            })?
        } else {
            // One statement, one round trip: the row is locked as it is read, so of concurrent
            // swaps each sees the one before it.
            let sql = format!(
                "WITH old AS (SELECT body, expires_at, version FROM {t} WHERE key = $1 FOR UPDATE),
                      w AS ({})
                 SELECT old.body, old.expires_at, old.version FROM old LEFT JOIN w ON true",
                UPSERT.replace("{t}", t)
            );
            retrying!(self, t, Kind::Write, 1, |c| {
                let stmt = c.prepare_cached(&sql).await?;
                c.query_opt(&stmt, &[&row.key, &row.body, &expires]).await
            })?
        };
        Ok(previous
            .map(|r| self::row(row.key.clone(), r.get(0), r.get(1), r.get(2)))
            .filter(|r| live(r.expires_at.map(|e| e.0), now)))
    }

    async fn take(&self, collection: &str, key: &str, now: UnixTime) -> Result<Option<Row>, StoreError> {
        let t = table(collection)?;
        let sql = self.fed(t, format!("DELETE FROM {t} WHERE key = $1 RETURNING key, body, expires_at, version"));
        let found = retrying!(self, t, Kind::Write, 1, |c| {
            let stmt = c.prepare_cached(&sql).await?;
            c.query_opt(&stmt, &[&key]).await
        })?;
        Ok(found.map(|r| row(r.get(0), r.get(1), r.get(2), r.get(3))).filter(|r| live(r.expires_at.map(|e| e.0), now)))
    }

    async fn delete(&self, collection: &str, key: &str, now: UnixTime) -> Result<bool, StoreError> {
        Ok(self.take(collection, key, now).await?.is_some())
    }

    async fn update(&self, collection: &str, row: Row, now: UnixTime) -> Result<Option<u64>, StoreError> {
        let t = table(collection)?;
        let sql = self.fed(
            t,
            format!(
                "UPDATE {t} SET body = $2, expires_at = $3, version = version + 1
                 WHERE key = $1 AND version = $4 AND (expires_at IS NULL OR expires_at > $5) RETURNING key, version"
            ),
        );
        let expires = row.expires_at.map(|e| e.0);
        let version = row.version as i64;
        let found = retrying!(self, t, Kind::Write, 1, |c| {
            let stmt = c.prepare_cached(&sql).await?;
            c.query_opt(&stmt, &[&row.key, &row.body, &expires, &version, &now.0]).await
        })?;
        Ok(found.map(|r| r.get::<_, i64>(1) as u64))
    }

    async fn remove(&self, collection: &str, key: &str, version: u64, now: UnixTime) -> Result<bool, StoreError> {
        let t = table(collection)?;
        let sql = self.fed(
            t,
            format!(
                "DELETE FROM {t} WHERE key = $1 AND version = $2 AND (expires_at IS NULL OR expires_at > $3) RETURNING key"
            ),
        );
        let rows = retrying!(self, t, Kind::Write, 1, |c| {
            let stmt = c.prepare_cached(&sql).await?;
            c.query(&stmt, &[&key, &(version as i64), &now.0]).await
        })?;
        Ok(rows.len() == 1)
    }

    async fn count(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<u64, StoreError> {
        let t = table(collection)?;
        let sql =
            format!("SELECT count(*) FROM {t} WHERE starts_with(key, $1) AND (expires_at IS NULL OR expires_at > $2)");
        let found = retrying!(self, t, Kind::Read, 1, |c| {
            let stmt = c.prepare_cached(&sql).await?;
            c.query_one(&stmt, &[&prefix, &now.0]).await
        })?;
        Ok(found.get::<_, i64>(0) as u64)
    }

    async fn list(&self, collection: &str, prefix: &str, now: UnixTime) -> Result<Vec<Row>, StoreError> {
        let t = table(collection)?;
        let sql = format!(
            "SELECT key, body, expires_at, version FROM {t}
             WHERE starts_with(key, $1) AND (expires_at IS NULL OR expires_at > $2) ORDER BY key COLLATE \"C\""
        );
        let rows = retrying!(self, t, Kind::Read, 1, |c| c.query(&sql, &[&prefix, &now.0]).await)?;
        Ok(rows.into_iter().map(|r| row(r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    async fn take_expired(&self, collection: &str, now: UnixTime, limit: usize) -> Result<Vec<Row>, StoreError> {
        let t = table(collection)?;
        let sql = self.fed(
            t,
            format!(
                "DELETE FROM {t} WHERE key IN
                 (SELECT key FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)
                 RETURNING key, body, expires_at, version"
            ),
        );
        let rows = retrying!(self, t, Kind::Write, 1, |c| c.query(&sql, &[&now.0, &(limit as i64)]).await)?;
        Ok(rows.into_iter().map(|r| row(r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut purged = 0;
        for t in COLLECTIONS {
            // Short statements, so a large purge never holds many row locks at once.
            let sql = format!(
                "DELETE FROM {t} WHERE key IN
                 (SELECT key FROM {t} WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)"
            );
            loop {
                let deleted = retrying!(self, t, Kind::Write, 1, |c| c.execute(&sql, &[&now.0, &PURGE_BATCH]).await)?;
                purged += deleted;
                if deleted < PURGE_BATCH as u64 {
                    break;
                }
            }
        }
        let sql = format!(
            "DELETE FROM gatehouse_changes WHERE seq IN
             (SELECT seq FROM gatehouse_changes WHERE at_ms < {NOW_MS} - $1 LIMIT $2)"
        );
        loop {
            let deleted = retrying!(self, |c| c.execute(&sql, &[&FEED_RETENTION_MS, &PURGE_BATCH]).await)?;
            if deleted < PURGE_BATCH as u64 {
                break;
            }
        }
        Ok(purged)
    }

    fn work(&self) -> Option<StoreWork> {
        Some(self.tally.work())
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

    async fn changes(&self, since_ms: i64) -> Result<Option<ChangeBatch>, StoreError> {
        let now_sql = format!("SELECT {NOW_MS}");
        let changes_sql = format!(
            "SELECT seq, collection, key, at_ms FROM gatehouse_changes WHERE at_ms >= $1 ORDER BY seq LIMIT {FEED_PAGE}"
        );
        let (now, rows) = retrying!(self, |c| {
            let now: i64 = c.query_one(&now_sql, &[]).await?.get(0);
            let stmt = c.prepare_cached(&changes_sql).await?;
            let rows = c.query(&stmt, &[&since_ms]).await?;
            Ok((now, rows))
        })?;
        let changes = rows
            .into_iter()
            .map(|r| Change { seq: r.get(0), collection: r.get(1), key: r.get(2), at_ms: r.get(3) })
            .collect();
        Ok(Some(ChangeBatch { now_ms: now, changes }))
    }

    async fn changed(&self) {
        if self.notify {
            self.heard.notified().await;
        } else {
            std::future::pending::<()>().await;
        }
    }
}

/// The listening connection: `LISTEN` on a connection of its own (outside the pool), waking
/// `heard` at each notification, connecting again after a failure, until the store is dropped.
async fn listen(config: tokio_postgres::Config, tls: MakeRustlsConnect, heard: std::sync::Weak<Notify>) {
    let mut failing = false;
    while heard.strong_count() > 0 {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let statement = format!("LISTEN {CHANNEL}");
                let mut listening = std::pin::pin!(client.batch_execute(&statement));
                let mut subscribed = false;
                loop {
                    tokio::select! {
                        done = &mut listening, if !subscribed => {
                            if let Err(e) = done {
                                tracing::warn!(error = %failed(e), "cannot LISTEN for changes; the feed is read on its interval only");
                                break;
                            }
                            subscribed = true;
                            if failing {
                                tracing::info!("listening for changes again");
                                failing = false;
                            }
                            // Changes made while not listening are in the feed: read it now.
                            if let Some(h) = heard.upgrade() { h.notify_one() }
                        }
                        message = std::future::poll_fn(|cx| connection.poll_message(cx)) => match message {
                            Some(Ok(AsyncMessage::Notification(_))) => match heard.upgrade() {
                                Some(h) => h.notify_one(),
                                None => return,
                            },
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => break,
                        },
                        _ = tokio::time::sleep(LISTEN_RETRY) => {
                            if heard.strong_count() == 0 {
                                return;
                            }
                        }
                    }
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %failed(e), "cannot connect to listen for changes; retrying");
                }
            }
        }
        failing = true;
        tokio::time::sleep(LISTEN_RETRY).await;
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

    fn options(pool_size: usize, notify: bool) -> super::PostgresOptions {
        super::PostgresOptions { pool_size, notify, ..Default::default() }
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
        let store =
            super::PostgresStore::connect(&fresh("gatehouse_conformance").await, &options(4, false)).await.unwrap();
        crate::conformance::run(&store).await;
        crate::conformance::run_concurrent(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn hosts_starting_at_once_migrate_once_and_every_collection_has_a_table() {
        let url = fresh("gatehouse_migrations").await;
        let one = options(1, false);
        let (a, b, c) = tokio::join!(
            super::PostgresStore::connect(&url, &one),
            super::PostgresStore::connect(&url, &one),
            super::PostgresStore::connect(&url, &one)
        );
        let (a, _, _) = (a.unwrap(), b.unwrap(), c.unwrap());
        let client = a.client().await.unwrap();
        let applied: i64 = client.query_one("SELECT applied FROM gatehouse_schema", &[]).await.unwrap().get(0);
        assert_eq!(applied, super::schema::latest());
        for collection in super::COLLECTIONS {
            let found: Option<String> =
                client.query_one(&format!("SELECT to_regclass('{collection}')::text"), &[]).await.unwrap().get(0);
            assert!(found.is_some(), "table {collection}");
        }
    }

    #[tokio::test]
    async fn writes_to_fed_collections_reach_the_change_feed_and_others_do_not() {
        use gatehouse_protocol::store::{Row, Store};
        use gatehouse_protocol::world::UnixTime;
        let store = super::PostgresStore::connect(&fresh("gatehouse_feed").await, &options(2, true)).await.unwrap();
        let heard = |what: &'static str| {
            let store = &store;
            async move {
                tokio::time::timeout(std::time::Duration::from_secs(5), store.changed()).await.expect(what);
            }
        };
        heard("the listener's first wake-up, once it listens").await;
        let now = UnixTime(1_000);
        let start = store.changes(i64::MAX).await.unwrap().unwrap().now_ms;
        store.put("clients", Row::new("c1", "{}", None)).await.unwrap();
        heard("a NOTIFY for a write to a fed collection").await;
        store.put("codes", Row::new("k1", "{}", None)).await.unwrap();
        assert!(store.insert("clients", Row::new("c2", "{}", None), now).await.unwrap());
        assert!(!store.insert("clients", Row::new("c2", "{}", None), now).await.unwrap(), "a refused insert");
        let v = store.get("clients", "c1", now).await.unwrap().unwrap().version;
        store.update("clients", Row { version: v, ..Row::new("c1", "{\"a\":1}", None) }, now).await.unwrap().unwrap();
        assert!(store.delete("clients", "c2", now).await.unwrap());
        assert!(!store.delete("clients", "nobody", now).await.unwrap());
        let batch = store.changes(start - 1000).await.unwrap().unwrap();
        let keys: Vec<(&str, &str)> = batch.changes.iter().map(|c| (c.collection.as_str(), c.key.as_str())).collect();
        assert_eq!(keys, [("clients", "c1"), ("clients", "c2"), ("clients", "c1"), ("clients", "c2")]);
        assert!(batch.changes.iter().all(|c| c.at_ms >= start - 1000 && c.at_ms <= batch.now_ms));
    }

    #[tokio::test]
    async fn a_bad_url_is_a_clear_error() {
        let err = super::PostgresStore::connect("not a url at all ===", &options(1, false)).await.err().unwrap();
        assert!(err.to_string().contains("not a PostgreSQL URL"), "{err}");
    }
}
