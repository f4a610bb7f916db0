//! Authorization request parameters: `Params::from_query`, then `authorize::validate` through
//! a real `Provider` over the in-memory store with registered clients.
#![no_main]

use std::sync::OnceLock;

use gatehouse_parser_checks::World;

/// libFuzzer calls the target once per input; the provider is built on the first.
static WORLD: OnceLock<World> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| WORLD.get_or_init(World::new).authorization_request(data));
