//! Test fixture: a consent policy that never returns. The host must stop it at the time limit.

use gatehouse_sdk::PluginError;
use gatehouse_sdk::consent::{ConsentPolicy, Query, Verdict};

struct EndlessLoop;

impl ConsentPolicy for EndlessLoop {
    fn decide(query: Query) -> Result<Verdict, PluginError> {
        let mut n: u64 = query.sub.len() as u64;
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
            if n == 42 && query.client_id == "never" {
                return Ok(Verdict::Ask);
            }
        }
    }
}

gatehouse_sdk::export_consent_policy!(EndlessLoop);
