//! Test fixture: a claims source that allocates until the host's memory limit stops it.

use gatehouse_sdk::claims::{ClaimsSource, Query};
use gatehouse_sdk::{Object, PluginError};

struct MemoryHog;

impl ClaimsSource for MemoryHog {
    fn supplied_claims() -> Vec<String> {
        vec!["hog".into()]
    }

    fn claims(_query: Query) -> Result<Object, PluginError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
    }
}

gatehouse_sdk::export_claims_source!(MemoryHog);
