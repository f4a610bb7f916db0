//! Client assertions at the token endpoint: JWT client authentication against the registered
//! `private_key_jwt` and `client_secret_jwt` clients.
#![no_main]

use std::sync::OnceLock;

use gatehouse_parser_checks::World;

/// libFuzzer calls the target once per input; the keys and clients are made on the first.
static WORLD: OnceLock<World> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| WORLD.get_or_init(World::new).client_assertion(data));
