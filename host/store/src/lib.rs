//! Storage backends for Gatehouse's [`Store`](gatehouse_protocol::store::Store) port: SQLite
//! (the embedded default) and an in-memory fake for fast tests. Both pass [`conformance`].

pub mod conformance;
pub mod memory;
mod pool;
pub mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;
