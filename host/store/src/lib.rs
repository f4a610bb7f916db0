//! Storage backends for Gatehouse's [`Store`](gatehouse_protocol::store::Store) port: SQLite
//! (the embedded default), PostgreSQL (several hosts sharing one database) and an in-memory
//! fake for fast tests. All pass [`conformance`].

mod cache;
pub mod conformance;
pub mod feed;
pub mod memory;
mod pool;
pub mod postgres;
pub mod sqlite;
mod tally;

pub use cache::CachedStore;
pub use feed::{Follower, News};
pub use memory::MemoryStore;
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::SqliteStore;

use gatehouse_protocol::store::{COLLECTIONS, StoreError};

/// The SQL backends' table of a collection: only the protocol's own collection names become
/// table names.
pub(crate) fn table(collection: &str) -> Result<&'static str, StoreError> {
    COLLECTIONS
        .iter()
        .find(|c| **c == collection)
        .copied()
        .ok_or_else(|| StoreError::Unavailable(format!("unknown collection {collection:?}")))
}
