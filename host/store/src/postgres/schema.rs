//! Versioned migrations, applied at start-up by one host at a time.
//!
//! `gatehouse_schema` holds one row with the number of migrations applied. A host takes that
//! row's lock (`SELECT … FOR UPDATE`) in a transaction, applies the next migration in the same
//! short transaction, and commits; hosts starting at once queue on the row, and each finds the
//! work done by the one before. Nothing here needs a session-scoped advisory lock, which
//! PostgreSQL-compatible engines (CockroachDB, YugabyteDB) lack or restrict.

use gatehouse_protocol::store::{COLLECTIONS, StoreError};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::failed as unavailable;

/// The tables of collections: a key, a JSON body, an expiry and a write version.
fn collection_tables(names: &[&str]) -> String {
    names
        .iter()
        .map(|c| {
            format!(
                "CREATE TABLE IF NOT EXISTS {c} (key TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at BIGINT,
                     version BIGINT NOT NULL DEFAULT 1);
                 ALTER TABLE {c} ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 1;
                 CREATE INDEX IF NOT EXISTS {c}_expiry ON {c}(expires_at) WHERE expires_at IS NOT NULL;"
            )
        })
        .collect()
}

/// The migrations, in order; a released one never changes. A collection added to
/// `COLLECTIONS` needs a new migration that creates its table.
fn migrations() -> Vec<String> {
    vec![
        // 1: every collection of the first clustered release. Databases made before migrations
        // existed already have most of these tables; `IF NOT EXISTS` leaves them as they are.
        collection_tables(COLLECTIONS),
        // 2: the change feed (see `Store::changes`): one row per write to a fed collection.
        "CREATE TABLE IF NOT EXISTS gatehouse_changes (
             seq BIGSERIAL PRIMARY KEY,
             collection TEXT NOT NULL,
             key TEXT NOT NULL,
             at_ms BIGINT NOT NULL DEFAULT (floor(extract(epoch FROM clock_timestamp()) * 1000))::BIGINT);
         CREATE INDEX IF NOT EXISTS gatehouse_changes_at ON gatehouse_changes(at_ms);"
            .to_owned(),
    ]
}

/// How many migrations this release knows.
#[cfg(test)]
pub fn latest() -> i64 {
    migrations().len() as i64
}

/// Brings the database to the latest schema; returns how many migrations this host applied.
pub async fn migrate(client: &mut Client) -> Result<i64, StoreError> {
    // Two hosts creating the table at once can collide in the catalog; the loser retries and
    // finds it there.
    for attempt in 0.. {
        let created = client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS gatehouse_schema (id INT PRIMARY KEY, applied BIGINT NOT NULL);
                 INSERT INTO gatehouse_schema (id, applied) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
            )
            .await;
        match created {
            Ok(()) => break,
            Err(e) if attempt < 5 && is_race(&e) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            Err(e) => return Err(unavailable(e)),
        }
    }
    let migrations = migrations();
    let mut applied_here = 0;
    loop {
        let tx = client.transaction().await.map_err(unavailable)?;
        let row = tx
            .query_one("SELECT applied FROM gatehouse_schema WHERE id = 1 FOR UPDATE", &[])
            .await
            .map_err(unavailable)?;
        let applied: i64 = row.get(0);
        if applied > migrations.len() as i64 {
            return Err(StoreError::Unavailable(format!(
                "the database schema is at migration {applied}, newer than this release's {}: upgrade this host",
                migrations.len()
            )));
        }
        let Some(next) = migrations.get(applied as usize) else {
            tx.commit().await.map_err(unavailable)?;
            return Ok(applied_here);
        };
        tx.batch_execute(next).await.map_err(unavailable)?;
        tx.execute("UPDATE gatehouse_schema SET applied = $1 WHERE id = 1", &[&(applied + 1)])
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        tracing::info!(migration = applied + 1, "applied a storage migration");
        applied_here += 1;
    }
}

/// A concurrent `CREATE … IF NOT EXISTS` that lost a race in the system catalog.
fn is_race(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::DUPLICATE_TABLE || *c == SqlState::DUPLICATE_OBJECT || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}
