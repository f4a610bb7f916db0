//! Basic client credentials: `token::basic_credentials` on the input as a header value, and
//! the encode-then-decode round trip of the input split into a client id and a secret.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gatehouse_parser_checks::basic_credentials(data);
    let text = String::from_utf8_lossy(data);
    let (id, secret) = text.split_once('\n').unwrap_or((&text, ""));
    gatehouse_parser_checks::basic_round_trip(id, secret);
});
