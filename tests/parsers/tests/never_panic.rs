//! The bounded-time half of the fuzzing: a few thousand generated inputs per parser, shaped
//! like what each parser expects (and sometimes not at all), through the checks of
//! `gatehouse_parser_checks`. The long runs are the fuzz targets in `fuzz/` (docs/fuzzing.md).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gatehouse_parser_checks::{NATIVE_REDIRECTS, WEB_REDIRECTS, World, basic_credentials, basic_round_trip};
use gatehouse_protocol::signer::Alg;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};

const CASES: u32 = 3000;

/// Runs `check` on `cases` values of `strategy`; a panic is shrunk to a minimal input.
fn run<S: Strategy>(cases: u32, strategy: S, check: impl Fn(S::Value)) {
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    if let Err(e) = runner.run(&strategy, |value| {
        check(value);
        Ok(())
    }) {
        panic!("{e}");
    }
}

fn one_of(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(values).prop_map(str::to_owned)
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    json_tree(prop_oneof![5 => exact_leaf(), 1 => any::<f64>().prop_map(Value::from)])
}

/// JSON without floating-point numbers, which serde_json parses back only approximately
/// (without its `float_roundtrip` feature).
fn exact_json() -> impl Strategy<Value = Value> {
    json_tree(exact_leaf())
}

fn exact_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ]
}

fn json_tree(leaf: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Value> {
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map("[a-z_]{0,8}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Text that is sometimes what a parser wants and sometimes anything at all.
fn text(likely: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![3 => one_of(likely), 1 => any::<String>()]
}

const PARAMETERS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "claims",
    "id_token_hint",
    "response_mode",
    "request",
    "request_uri",
    "login_hint",
    "acr_values",
    "ui_locales",
    "claims_locales",
    "display",
];

const VALUES: &[&str] = &[
    "code",
    "token",
    "code id_token",
    "openid",
    "openid profile email",
    "profile",
    "none",
    "login",
    "consent",
    "none login",
    "select_account",
    "S256",
    "plain",
    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    "query",
    "fragment",
    "form_post",
    "app",
    "native",
    "nobody",
    "https://app.example.com/cb",
    "https://app.example.com/cb?x=1",
    "com.example.app:/cb",
    "http://127.0.0.1:8080/cb",
    "https://evil.example/cb",
    "0",
    "-1",
    "60",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775808",
    r#"{"id_token":{"acr":{"essential":true,"values":["a"]}},"userinfo":{"email":null}}"#,
    r#"{"id_token":[]}"#,
    "{",
    "eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
    "page",
    "popup",
    "",
];

/// A query string of known and unknown parameters, encoded or raw, or any text at all.
fn authorization_query() -> impl Strategy<Value = String> {
    let pair = || (prop_oneof![4 => one_of(PARAMETERS), 1 => "[a-z_]{0,10}".boxed()], text(VALUES));
    let encoded = vec(pair(), 0..10).prop_map(|pairs| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(pairs);
        query.finish()
    });
    let raw = vec(pair(), 0..10)
        .prop_map(|pairs| pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"));
    prop_oneof![3 => encoded, 1 => raw, 1 => any::<String>()]
}

#[test]
fn authorization_requests_never_panic_and_redirect_only_to_registered_uris() {
    let world = World::new();
    run(CASES, authorization_query(), |query| world.authorization_request(query.as_bytes()));
}

/// A user-pass from the characters that matter to form decoding.
fn user_pass() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-zA-Z0-9%+:&=~ ._\u{e9}\u{20ac}\u{0}-\u{1f}]{0,24}".prop_map(String::into_bytes),
        "([a-zA-Z0-9]|%[0-9a-fA-F]{2}|%[g-z]|\\+|:){0,16}".prop_map(String::into_bytes),
        vec(any::<u8>(), 0..32),
    ]
}

fn authorization_header() -> impl Strategy<Value = String> {
    let basic = (one_of(&["Basic", "basic", "BASIC", "Bearer", "Basic Basic", ""]), " {0,3}", user_pass(), 0..3usize)
        .prop_map(|(scheme, spaces, user_pass, cut)| {
            let token = STANDARD.encode(user_pass);
            // Sometimes the padding is cut off.
            let token = token.trim_end_matches(|c| c == '=' && cut > 0).to_owned();
            format!("{scheme}{spaces}{token}")
        });
    prop_oneof![4 => basic, 1 => any::<String>()]
}

#[test]
fn basic_credentials_never_panic_and_decode_what_they_encode() {
    run(CASES, authorization_header(), |header| basic_credentials(header.as_bytes()));
    run(CASES, (any::<String>(), any::<String>()), |(id, secret)| basic_round_trip(&id, &secret));
    run(CASES, ("[a-z%+:&= ]{0,8}", "[a-z%+:&= ]{0,8}"), |(id, secret)| basic_round_trip(&id, &secret));
}

/// Compact JWS made of a header with likely and unlikely members, any payload and a signature
/// of a plausible length, with the dots sometimes wrong; or any text.
fn compact_jws() -> impl Strategy<Value = String> {
    let alg = text(&["ES256", "ES384", "RS256", "PS256", "HS256", "none", "EdDSA"]);
    let header = (alg, proptest::option::of(".{0,12}"), proptest::option::of(text(&["JWT", "at+jwt"])), json_value())
        .prop_map(|(alg, kid, typ, extra)| {
            let mut h = Map::new();
            h.insert("alg".into(), Value::from(alg));
            if let Some(kid) = kid {
                h.insert("kid".into(), Value::from(kid));
            }
            if let Some(typ) = typ {
                h.insert("typ".into(), Value::from(typ));
            }
            h.insert("crit".into(), extra);
            serde_json::to_vec(&h).unwrap()
        });
    let header = prop_oneof![4 => header, 1 => vec(any::<u8>(), 0..40)];
    let payload = prop_oneof![json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()), vec(any::<u8>(), 0..40)];
    let signature =
        prop_oneof![Just(64usize), Just(96), Just(256), 0..300usize].prop_flat_map(|n| vec(any::<u8>(), n..=n));
    let dots = one_of(&[".", ".", ".", "", "..", ".="]);
    let token = (header, payload, signature, dots).prop_map(|(h, p, s, dot)| {
        format!("{}.{}{dot}{}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(p), URL_SAFE_NO_PAD.encode(s))
    });
    prop_oneof![4 => token, 1 => any::<String>()]
}

#[test]
fn compact_jws_never_panics_and_nothing_forged_verifies() {
    let world = World::new();
    run(CASES, compact_jws(), |token| world.jws(token.as_bytes()));
}

/// Client assertions: compact JWS of the algorithms clients sign with (and `none`), naming the
/// test clients, with claims that pass the time and audience checks as often as not.
fn client_assertion(now: i64) -> impl Strategy<Value = String> {
    let alg = text(&["RS256", "PS384", "ES256", "ES512", "EdDSA", "HS256", "HS512", "none"]);
    let kid = proptest::option::of(text(&["", "k1"]));
    let header = (alg, kid).prop_map(|(alg, kid)| {
        let mut h = Map::new();
        h.insert("alg".into(), Value::from(alg));
        if let Some(kid) = kid {
            h.insert("kid".into(), Value::from(kid));
        }
        serde_json::to_vec(&h).unwrap()
    });
    let client = text(&["keys", "hmac", "app", "native"]);
    let aud = prop_oneof![
        3 => one_of(&["https://issuer.example", "https://issuer.example/token"]).prop_map(Value::from),
        1 => json_value(),
    ];
    let time = prop_oneof![3 => (-120i64..120).prop_map(move |d| Value::from(now + d)), 1 => json_value()];
    let claims = (client, proptest::option::of(text(&["keys"])), aud, time.clone(), time, ".{0,24}").prop_map(
        |(sub, iss, aud, exp, iat, jti)| {
            let iss = iss.unwrap_or_else(|| sub.clone());
            serde_json::to_vec(
                &serde_json::json!({"sub": sub, "iss": iss, "aud": aud, "exp": exp, "iat": iat, "jti": jti}),
            )
            .unwrap()
        },
    );
    let signature =
        prop_oneof![Just(64usize), Just(132), Just(256), 0..300usize].prop_flat_map(|n| vec(any::<u8>(), n..=n));
    let token = (header, claims, signature).prop_map(|(h, p, s)| {
        format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(p), URL_SAFE_NO_PAD.encode(s))
    });
    prop_oneof![6 => token, 1 => compact_jws()]
}

#[test]
fn client_assertions_never_panic_and_nothing_forged_authenticates() {
    let world = World::new();
    run(CASES, client_assertion(world.now().0), |token| world.client_assertion(token.as_bytes()));
}

#[test]
fn signed_claims_verify_as_they_were() {
    let world = World::new();
    let typ = proptest::option::of(one_of(&["JWT", "at+jwt"]));
    run(300, (proptest::sample::select(&Alg::ALL[..]), typ, exact_json()), |(alg, typ, claims)| {
        world.jws_round_trip(alg, typ.as_deref(), &claims)
    });
}

const SCHEMES: &[&str] = &[
    "https",
    "HTTPS",
    "http",
    "javascript",
    "JavaScript",
    "data",
    "file",
    "vbscript",
    "blob",
    "about",
    "com.example.app",
    "myapp",
    "ftp",
    "ws",
];
const HOSTS: &[&str] = &[
    "app.example.com",
    "127.0.0.1",
    "127.9.9.9",
    "127.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "localhost",
    "LOCALHOST",
    "localhost.evil.example",
    "*.example.com",
    "%2A.example.com",
    "user:pw@app.example.com",
    "127.0.0.1@evil.example",
    "10.0.0.1",
    "",
];
const SUFFIXES: &[&str] = &["/cb", "/cb#frag", "?q=1", "", ":8080/cb", ":99999/", "/%zz", "/cb?x=1#"];

fn redirect_uri() -> impl Strategy<Value = String> {
    let built = (one_of(SCHEMES), one_of(&["://", ":", ":/", ":///"]), one_of(HOSTS), one_of(SUFFIXES))
        .prop_map(|(scheme, sep, host, suffix)| format!("{scheme}{sep}{host}{suffix}"));
    prop_oneof![
        6 => built,
        1 => one_of(&WEB_REDIRECTS),
        1 => one_of(&NATIVE_REDIRECTS),
        1 => "javascript:.{0,10}",
        1 => any::<String>(),
    ]
}

/// Client metadata JSON: known members with likely and unlikely values, unknown members,
/// sometimes cut short; or any bytes.
fn client_metadata() -> impl Strategy<Value = Vec<u8>> {
    let uris = prop_oneof![4 => vec(redirect_uri(), 0..3).prop_map(Value::from), 1 => json_value()];
    let member =
        |name: &'static str, value: BoxedStrategy<Value>| proptest::option::of(value.prop_map(move |v| (name, v)));
    let s = |values: &'static [&'static str]| {
        prop_oneof![4 => one_of(values).prop_map(Value::from), 1 => json_value()].boxed()
    };
    let list = |values: &'static [&'static str]| {
        prop_oneof![4 => proptest::sample::subsequence(values, 0..=values.len()).prop_map(Value::from), 1 => json_value()]
            .boxed()
    };
    let members = (
        member("redirect_uris", uris.clone().boxed()),
        member("post_logout_redirect_uris", uris.boxed()),
        member("application_type", s(&["web", "native", "desktop"])),
        member(
            "token_endpoint_auth_method",
            s(&["client_secret_basic", "client_secret_post", "none", "private_key_jwt"]),
        ),
        member("grant_types", list(&["authorization_code", "client_credentials", "refresh_token", "implicit"])),
        member("response_types", list(&["code", "token", "id_token"])),
        member("client_id", s(&["fixed", "app", "urn:x:y", "", "with space", "ü"])),
        member("client_secret", s(&["short", "a-secret-of-at-least-thirty-two-characters"])),
        member("id_token_signed_response_alg", s(&["ES256", "ES384", "RS256", "PS256", "HS256", "none"])),
        member("default_max_age", prop_oneof![any::<u64>().prop_map(Value::from), json_value()].boxed()),
        member("scope", s(&["openid profile", "api:read", ""])),
        (proptest::option::of(("[a-z_]{1,10}", json_value())), 0..4usize),
    );
    let object = members.prop_map(|(a, b, c, d, e, f, g, h, i, j, k, (extra, cut))| {
        let mut m = Map::new();
        for (name, value) in [a, b, c, d, e, f, g, h, i, j, k].into_iter().flatten() {
            m.insert(name.to_owned(), value);
        }
        if let Some((name, value)) = extra {
            m.insert(name, value);
        }
        let mut bytes = serde_json::to_vec(&m).unwrap();
        // Sometimes the document is cut short.
        if cut == 0 {
            bytes.truncate(bytes.len() / 2);
        }
        bytes
    });
    prop_oneof![8 => object, 1 => vec(any::<u8>(), 0..64)]
}

#[test]
fn client_metadata_never_panics_and_registers_only_safe_redirect_uris() {
    let world = World::new();
    run(CASES, client_metadata(), |json| world.client_registration(&json));
}
