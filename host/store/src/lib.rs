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

pub use cache::CachedStore;
pub use feed::{Follower, News};
pub use memory::MemoryStore;
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::SqliteStore;
