//! The cache's decisions: when a fetched set is used, when it is fetched again, and the floor
//! between two fetches for one client.

use serde_json::json;

use super::*;

fn source(uri: &str) -> (String, String) {
    (uri.to_owned(), "incarnation".to_owned())
}

fn fetches(plan: &Plan) -> bool {
    matches!(plan, Plan::Fetch(_))
}

#[test]
fn client_keys_are_fetched_again_when_stale_or_unknown_but_never_within_the_floor() {
    let cache = ClientKeyCache::default();
    let src = source("https://rp.example/jwks");
    let t0 = UnixTime(1_000_000);
    assert!(fetches(&cache.plan("c", &src, false, t0)), "the first use fetches");
    // While that fetch is under way, nobody else fetches; nothing is there to use yet.
    assert!(matches!(cache.plan("c", &src, false, t0.plus(1)), Plan::Refuse));
    assert!(matches!(cache.plan("c", &src, true, t0.plus(1)), Plan::Refuse));
    let set = Arc::new(json!({"keys": []}));
    cache.put("c", src.clone(), set.clone(), 100, 600, t0);

    // Fresh: used as it is; an unknown kid within the floor gets the same copy back.
    assert!(matches!(cache.plan("c", &src, false, t0.plus(5)), Plan::Use(s) if Arc::ptr_eq(&s, &set)));
    for t in 1..REFETCH_FLOOR_SECONDS {
        assert!(matches!(cache.plan("c", &src, true, t0.plus(t)), Plan::Use(_)), "no refetch {t} s after");
    }
    // Past the floor one refresh fetches; those right after it do not.
    let t1 = t0.plus(REFETCH_FLOOR_SECONDS);
    assert!(matches!(cache.plan("c", &src, true, t1), Plan::Fetch(Some(_))));
    assert!(matches!(cache.plan("c", &src, true, t1.plus(1)), Plan::Use(_)));
    assert!(matches!(cache.plan("c", &src, true, t1.plus(REFETCH_FLOOR_SECONDS - 1)), Plan::Use(_)));

    // max-age 600 keeps the copy fresh for 600 s from its fetch; after that it is fetched again
    // and a stale copy is never used.
    assert!(matches!(cache.plan("c", &src, false, t0.plus(599)), Plan::Use(_)));
    assert!(matches!(cache.plan("c", &src, false, t0.plus(600)), Plan::Fetch(None)));
    assert!(matches!(cache.plan("c", &src, false, t0.plus(601)), Plan::Refuse));

    // Another URI (the client updated its metadata) or another incarnation starts afresh.
    assert!(fetches(&cache.plan("c", &source("https://rp.example/other"), false, t0.plus(2))));
    assert!(fetches(&cache.plan("c", &(src.0.clone(), "new".into()), false, t0.plus(3))));
}

#[test]
fn client_keys_max_age_is_kept_within_bounds() {
    let cache = ClientKeyCache::default();
    let src = source("https://rp.example/jwks");
    let t0 = UnixTime(1_000_000);
    let set = Arc::new(json!({"keys": []}));
    cache.put("short", src.clone(), set.clone(), 10, 0, t0);
    assert!(matches!(cache.plan("short", &src, false, t0.plus(MIN_CACHE_SECONDS - 1)), Plan::Use(_)));
    assert!(fetches(&cache.plan("short", &src, false, t0.plus(MIN_CACHE_SECONDS))));
    cache.put("long", src.clone(), set, 10, 365 * 24 * 3600, t0);
    assert!(matches!(cache.plan("long", &src, false, t0.plus(MAX_CACHE_SECONDS - 1)), Plan::Use(_)));
    assert!(fetches(&cache.plan("long", &src, false, t0.plus(MAX_CACHE_SECONDS))));
}

#[test]
fn client_keys_cache_is_bounded_in_bytes() {
    let cache = ClientKeyCache::default();
    let src = source("https://rp.example/jwks");
    let t0 = UnixTime(1_000_000);
    let set = Arc::new(json!({"keys": []}));
    let each = MAX_JWKS_BYTES;
    let fits = CACHE_BUDGET_BYTES / each;
    for i in 0..fits + 3 {
        cache.put(&format!("c{i}"), src.clone(), set.clone(), each, 600, t0.plus(i as u64));
    }
    let entries = cache.lock();
    assert!(entries.bytes <= CACHE_BUDGET_BYTES);
    assert_eq!(entries.by_client.len(), fits);
    assert!(!entries.by_client.contains_key("c0"), "the entry fetched longest ago went first");
    assert!(entries.by_client.contains_key(&format!("c{}", fits + 2)));
}

#[test]
fn client_keys_documents_must_be_jwk_sets() {
    assert!(parse_set(br#"{"keys": []}"#).is_ok());
    assert_eq!(parse_set(br#"{"keys": {}}"#), Err(ClientKeysError::NotAJwkSet));
    assert_eq!(parse_set(br#"[]"#), Err(ClientKeysError::NotAJwkSet));
    assert_eq!(parse_set(b"<html>"), Err(ClientKeysError::NotAJwkSet));
}
