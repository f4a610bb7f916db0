//! JWS compact form: `jose::verify` against the provider's public keys.
#![no_main]

use std::sync::OnceLock;

use gatehouse_parser_checks::World;

/// libFuzzer calls the target once per input; the keys are made on the first.
static WORLD: OnceLock<World> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| WORLD.get_or_init(World::new).jws(data));
