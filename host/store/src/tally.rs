//! Counters of the SQL a backend runs: statements by collection, read or write, and write
//! transactions committed. One relaxed atomic add per statement.

use std::sync::atomic::{AtomicU64, Ordering};

use gatehouse_protocol::store::{COLLECTIONS, StoreWork};

const N: usize = COLLECTIONS.len();

#[derive(Default)]
pub(crate) struct Tally {
    reads: [AtomicU64; N],
    writes: [AtomicU64; N],
    write_transactions: AtomicU64,
}

/// Whether a statement reads or writes.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Read,
    Write,
}

impl Tally {
    /// Counts `n` statements on `table` (one of [`COLLECTIONS`]; others are not counted).
    pub fn statements(&self, table: &str, kind: Kind, n: u64) {
        if let Some(i) = COLLECTIONS.iter().position(|c| *c == table) {
            let counter = match kind {
                Kind::Read => &self.reads[i],
                Kind::Write => &self.writes[i],
            };
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts `n` committed write transactions.
    pub fn committed(&self, n: u64) {
        self.write_transactions.fetch_add(n, Ordering::Relaxed);
    }

    pub fn work(&self) -> StoreWork {
        let statements = COLLECTIONS
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, self.reads[i].load(Ordering::Relaxed), self.writes[i].load(Ordering::Relaxed)))
            .filter(|(_, r, w)| r + w > 0)
            .collect();
        StoreWork { statements, write_transactions: self.write_transactions.load(Ordering::Relaxed) }
    }
}
