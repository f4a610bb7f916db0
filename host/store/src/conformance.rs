//! The behaviour every storage backend must have. Each backend's tests call [`run`].

use std::sync::Arc;

use gatehouse_protocol::store::{Row, Store};
use gatehouse_protocol::world::UnixTime;

fn row(key: &str, body: &str, expires_at: Option<i64>) -> Row {
    Row { key: key.into(), body: body.into(), expires_at: expires_at.map(UnixTime) }
}

const NOW: UnixTime = UnixTime(1_000);

/// Runs every check against `store`, which must be empty. Panics with the failing check.
pub async fn run(store: &dyn Store) {
    get_put_and_expiry(store).await;
    insert_only_when_absent_or_expired(store).await;
    swap_returns_previous_live_record(store).await;
    take_and_delete_are_single_use(store).await;
    list_by_prefix_in_key_order(store).await;
    purge_removes_only_expired(store).await;
    collections_are_separate(store).await;
}

/// Runs the concurrency check: of many concurrent takes of one key, exactly one succeeds.
pub async fn run_concurrent(store: Arc<dyn Store>) {
    store.put("codes", row("race", "{}", Some(5_000))).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move { s.take("codes", "race", NOW).await.unwrap().is_some() }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += t.await.unwrap() as usize;
    }
    assert_eq!(winners, 1, "exactly one concurrent take wins");
}

async fn get_put_and_expiry(s: &dyn Store) {
    assert_eq!(s.get("clients", "a", NOW).await.unwrap(), None, "absent key");
    s.put("clients", row("a", r#"{"v":1}"#, None)).await.unwrap();
    assert_eq!(s.get("clients", "a", NOW).await.unwrap(), Some(row("a", r#"{"v":1}"#, None)));
    s.put("clients", row("a", r#"{"v":2}"#, Some(2_000))).await.unwrap();
    assert_eq!(s.get("clients", "a", NOW).await.unwrap().unwrap().body, r#"{"v":2}"#, "put replaces");
    assert_eq!(s.get("clients", "a", UnixTime(2_000)).await.unwrap(), None, "expired at its expiry time");
    assert!(s.delete("clients", "a", NOW).await.unwrap());
}

async fn insert_only_when_absent_or_expired(s: &dyn Store) {
    assert!(s.insert("grants", row("g", "1", Some(1_500)), NOW).await.unwrap(), "insert into empty");
    assert!(!s.insert("grants", row("g", "2", None), NOW).await.unwrap(), "live record blocks insert");
    assert_eq!(s.get("grants", "g", NOW).await.unwrap().unwrap().body, "1", "refused insert changed nothing");
    assert!(s.insert("grants", row("g", "3", None), UnixTime(1_600)).await.unwrap(), "expired record is replaced");
    assert_eq!(s.get("grants", "g", NOW).await.unwrap().unwrap().body, "3");
    s.delete("grants", "g", NOW).await.unwrap();
}

async fn swap_returns_previous_live_record(s: &dyn Store) {
    assert_eq!(s.swap("codes", row("c", "issued", Some(1_100)), NOW).await.unwrap(), None, "nothing before");
    let prev = s.swap("codes", row("c", "used", Some(3_000)), NOW).await.unwrap();
    assert_eq!(prev.unwrap().body, "issued");
    let prev = s.swap("codes", row("c", "used-again", Some(3_000)), NOW).await.unwrap();
    assert_eq!(prev.unwrap().body, "used");
    s.put("codes", row("old", "x", Some(900))).await.unwrap();
    assert_eq!(s.swap("codes", row("old", "y", None), NOW).await.unwrap(), None, "expired previous is not returned");
    s.delete("codes", "c", NOW).await.unwrap();
    s.delete("codes", "old", NOW).await.unwrap();
}

async fn take_and_delete_are_single_use(s: &dyn Store) {
    s.put("authz_sessions", row("s", "body", Some(2_000))).await.unwrap();
    assert_eq!(s.take("authz_sessions", "s", NOW).await.unwrap().unwrap().body, "body");
    assert_eq!(s.take("authz_sessions", "s", NOW).await.unwrap(), None, "second take finds nothing");
    s.put("authz_sessions", row("e", "body", Some(500))).await.unwrap();
    assert_eq!(s.take("authz_sessions", "e", NOW).await.unwrap(), None, "expired record cannot be taken");
    assert!(!s.delete("authz_sessions", "e", NOW).await.unwrap(), "expired record was already gone");
    assert!(!s.delete("authz_sessions", "missing", NOW).await.unwrap());
}

async fn list_by_prefix_in_key_order(s: &dyn Store) {
    for (k, e) in [("alice\u{1f}b", None), ("alice\u{1f}a", None), ("bob\u{1f}a", None), ("alice\u{1f}x", Some(10))] {
        s.put("consents", row(k, "{}", e)).await.unwrap();
    }
    let keys: Vec<String> = s.list("consents", "alice\u{1f}", NOW).await.unwrap().into_iter().map(|r| r.key).collect();
    assert_eq!(keys, vec!["alice\u{1f}a", "alice\u{1f}b"], "prefix, order, expiry");
    assert_eq!(s.list("consents", "", NOW).await.unwrap().len(), 3, "empty prefix lists all live records");
    for k in ["alice\u{1f}a", "alice\u{1f}b", "bob\u{1f}a", "alice\u{1f}x"] {
        s.delete("consents", k, UnixTime(0)).await.unwrap();
    }
}

async fn purge_removes_only_expired(s: &dyn Store) {
    s.put("refresh_tokens", row("dead", "{}", Some(999))).await.unwrap();
    s.put("refresh_tokens", row("alive", "{}", Some(5_000))).await.unwrap();
    s.put("refresh_tokens", row("forever", "{}", None)).await.unwrap();
    assert_eq!(s.purge_expired(NOW).await.unwrap(), 1);
    assert_eq!(s.list("refresh_tokens", "", UnixTime(0)).await.unwrap().len(), 2);
    s.delete("refresh_tokens", "alive", NOW).await.unwrap();
    s.delete("refresh_tokens", "forever", NOW).await.unwrap();
}

async fn collections_are_separate(s: &dyn Store) {
    s.put("clients", row("same", "client", None)).await.unwrap();
    s.put("grants", row("same", "grant", None)).await.unwrap();
    assert_eq!(s.get("clients", "same", NOW).await.unwrap().unwrap().body, "client");
    assert_eq!(s.get("grants", "same", NOW).await.unwrap().unwrap().body, "grant");
    s.delete("clients", "same", NOW).await.unwrap();
    s.delete("grants", "same", NOW).await.unwrap();
}
