//! The behaviour every storage backend must have. Each backend's tests call [`run`].

use std::sync::Arc;

use gatehouse_protocol::store::{Row, Store};
use gatehouse_protocol::world::UnixTime;

fn row(key: &str, body: &str, expires_at: Option<i64>) -> Row {
    Row::new(key, body, expires_at.map(UnixTime))
}

/// `row` as read back at `version`.
fn at(version: u64, row: Row) -> Row {
    Row { version, ..row }
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
    take_expired_hands_out_each_expired_record_once(store).await;
    collections_are_separate(store).await;
    every_write_moves_the_version(store).await;
    update_only_at_the_version_read(store).await;
    remove_only_at_the_version_read(store).await;
    count_by_prefix(store).await;
    purge_in_batches_removes_everything_expired(store).await;
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
    store.delete("codes", "race", NOW).await.unwrap();
    racing_swaps(store.clone()).await;
    racing_updates_and_a_removal(store).await;
}

/// What redeeming a code or a refresh token does: concurrent swaps of one issued record. Each
/// sees the record the swap before it left, so exactly one sees it as issued.
async fn racing_swaps(store: Arc<dyn Store>) {
    for round in 0..10 {
        let key = format!("swap-{round}");
        store.put("codes", row(&key, "issued", Some(5_000))).await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..8 {
            let (s, key) = (store.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                s.swap("codes", row(&key, &format!("used by {n}"), Some(5_000)), NOW).await.unwrap()
            }));
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap().expect("a previous record").body);
        }
        assert_eq!(seen.iter().filter(|b| *b == "issued").count(), 1, "round {round}: {seen:?}");
        let mut bodies: Vec<&String> = seen.iter().collect();
        bodies.sort();
        bodies.dedup();
        assert_eq!(bodies.len(), 8, "round {round}: each swap saw a different record: {seen:?}");
        store.delete("codes", &key, NOW).await.unwrap();
    }
}

/// What the authorization-session API does under concurrent requests: several writers that
/// read one version update it while another removes it (completes the session). Exactly one
/// of them wins, and no update brings a removed record back.
async fn racing_updates_and_a_removal(store: Arc<dyn Store>) {
    for round in 0..20 {
        let key = format!("session-{round}");
        store.put("authz_sessions", row(&key, "start", Some(5_000))).await.unwrap();
        let read = store.get("authz_sessions", &key, NOW).await.unwrap().unwrap();
        let mut tasks = Vec::new();
        for writer in 0..8 {
            let (s, read) = (store.clone(), read.clone());
            tasks.push(tokio::spawn(async move {
                if writer == 0 {
                    s.remove("authz_sessions", &read.key, read.version, NOW).await.unwrap()
                } else {
                    let body = format!("update {writer}");
                    s.update("authz_sessions", Row { body, ..read }, NOW).await.unwrap().is_some()
                }
            }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        assert_eq!(outcomes.iter().filter(|w| **w).count(), 1, "round {round}: exactly one writer wins: {outcomes:?}");
        let after = store.get("authz_sessions", &key, NOW).await.unwrap();
        if outcomes[0] {
            assert_eq!(after, None, "round {round}: the removed record stays removed");
        } else {
            let after = after.expect("an update won, so the record is there");
            assert!(after.body.starts_with("update"), "round {round}: {after:?}");
            assert_eq!(after.version, read.version + 1);
            store.delete("authz_sessions", &key, NOW).await.unwrap();
        }
    }
}

async fn every_write_moves_the_version(s: &dyn Store) {
    s.put("grants", row("v", "1", None)).await.unwrap();
    let first = s.get("grants", "v", NOW).await.unwrap().unwrap().version;
    s.put("grants", row("v", "2", None)).await.unwrap();
    assert_eq!(s.get("grants", "v", NOW).await.unwrap().unwrap().version, first + 1, "put");
    s.swap("grants", row("v", "3", None), NOW).await.unwrap();
    assert_eq!(s.get("grants", "v", NOW).await.unwrap().unwrap().version, first + 2, "swap");
    let taken = s.take("grants", "v", NOW).await.unwrap().unwrap();
    assert_eq!(taken.version, first + 2, "take returns the version it removed");
    assert!(s.insert("grants", row("v", "4", None), NOW).await.unwrap());
    assert_eq!(s.get("grants", "v", NOW).await.unwrap().unwrap().version, 1, "insert stores version 1");
    s.put("grants", row("v", "5", Some(1_100))).await.unwrap();
    assert!(s.insert("grants", row("v", "6", None), UnixTime(1_200)).await.unwrap());
    assert_eq!(s.get("grants", "v", NOW).await.unwrap().unwrap().version, 1, "also over an expired record");
    s.delete("grants", "v", NOW).await.unwrap();
}

async fn update_only_at_the_version_read(s: &dyn Store) {
    s.put("authz_sessions", row("u", "a", Some(2_000))).await.unwrap();
    let read = s.get("authz_sessions", "u", NOW).await.unwrap().unwrap();
    let v2 = s.update("authz_sessions", Row { body: "b".into(), ..read.clone() }, NOW).await.unwrap();
    assert_eq!(v2, Some(read.version + 1), "update at the version read");
    assert_eq!(
        s.get("authz_sessions", "u", NOW).await.unwrap(),
        Some(at(read.version + 1, row("u", "b", Some(2_000)))),
        "update replaced body and expiry and moved the version"
    );
    let stale = s.update("authz_sessions", Row { body: "stale".into(), ..read.clone() }, NOW).await.unwrap();
    assert_eq!(stale, None, "a stale version is refused");
    assert_eq!(s.get("authz_sessions", "u", NOW).await.unwrap().unwrap().body, "b", "and changed nothing");
    let taken = s.take("authz_sessions", "u", NOW).await.unwrap().unwrap();
    let resurrect = s.update("authz_sessions", Row { body: "back".into(), ..taken }, NOW).await.unwrap();
    assert_eq!(resurrect, None, "an update cannot bring back a removed record");
    assert_eq!(s.get("authz_sessions", "u", NOW).await.unwrap(), None);
    assert_eq!(s.update("authz_sessions", row("never", "x", None), NOW).await.unwrap(), None, "absent record");
    s.put("authz_sessions", row("old", "x", Some(900))).await.unwrap();
    let expired = Row { version: 1, ..row("old", "y", Some(5_000)) };
    assert_eq!(s.update("authz_sessions", expired, NOW).await.unwrap(), None, "an expired record is not updated");
    s.delete("authz_sessions", "old", UnixTime(0)).await.unwrap();
}

async fn remove_only_at_the_version_read(s: &dyn Store) {
    s.put("authz_sessions", row("r", "a", Some(2_000))).await.unwrap();
    let read = s.get("authz_sessions", "r", NOW).await.unwrap().unwrap();
    s.put("authz_sessions", row("r", "b", Some(2_000))).await.unwrap();
    assert!(!s.remove("authz_sessions", "r", read.version, NOW).await.unwrap(), "stale version");
    assert!(s.get("authz_sessions", "r", NOW).await.unwrap().is_some(), "a refused removal removed nothing");
    assert!(s.remove("authz_sessions", "r", read.version + 1, NOW).await.unwrap(), "current version");
    assert!(!s.remove("authz_sessions", "r", read.version + 1, NOW).await.unwrap(), "only once");
    s.put("authz_sessions", row("gone", "a", Some(900))).await.unwrap();
    let v = s.get("authz_sessions", "gone", UnixTime(0)).await.unwrap().unwrap().version;
    assert!(!s.remove("authz_sessions", "gone", v, NOW).await.unwrap(), "an expired record is not removed");
    s.delete("authz_sessions", "gone", UnixTime(0)).await.unwrap();
}

async fn count_by_prefix(s: &dyn Store) {
    for (k, e) in [("ab1", None), ("ab2", Some(5_000)), ("ab3", Some(10)), ("ac1", None), ("a", None)] {
        s.put("authz_sessions", row(k, "{}", e)).await.unwrap();
    }
    assert_eq!(s.count("authz_sessions", "ab", NOW).await.unwrap(), 2, "live records under the prefix");
    assert_eq!(s.count("authz_sessions", "a", NOW).await.unwrap(), 4);
    assert_eq!(s.count("authz_sessions", "", NOW).await.unwrap(), 4, "the empty prefix counts everything live");
    assert_eq!(s.count("authz_sessions", "b", NOW).await.unwrap(), 0);
    for k in ["ab1", "ab2", "ab3", "ac1", "a"] {
        s.delete("authz_sessions", k, UnixTime(0)).await.unwrap();
    }
}

async fn purge_in_batches_removes_everything_expired(s: &dyn Store) {
    for i in 0..1_234 {
        s.put("codes", row(&format!("dead-{i:04}"), "{}", Some(999))).await.unwrap();
    }
    s.put("codes", row("alive", "{}", Some(5_000))).await.unwrap();
    assert_eq!(s.purge_expired(NOW).await.unwrap(), 1_234, "more than one batch");
    assert_eq!(s.list("codes", "", UnixTime(0)).await.unwrap().len(), 1);
    s.delete("codes", "alive", NOW).await.unwrap();
}

async fn get_put_and_expiry(s: &dyn Store) {
    assert_eq!(s.get("clients", "a", NOW).await.unwrap(), None, "absent key");
    s.put("clients", row("a", r#"{"v":1}"#, None)).await.unwrap();
    let read = s.get("clients", "a", NOW).await.unwrap().unwrap();
    assert_eq!(read, at(read.version, row("a", r#"{"v":1}"#, None)));
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

async fn take_expired_hands_out_each_expired_record_once(s: &dyn Store) {
    for (key, expires) in
        [("a", Some(900)), ("b", Some(1_000)), ("c", Some(999)), ("live", Some(5_000)), ("kept", None)]
    {
        s.put("subject_sessions", row(key, &format!("{{\"k\":\"{key}\"}}"), expires)).await.unwrap();
    }
    s.put("grants", row("other-collection", "{}", Some(10))).await.unwrap();
    let first = s.take_expired("subject_sessions", NOW, 2).await.unwrap();
    assert_eq!(first.len(), 2, "at most the limit");
    let second = s.take_expired("subject_sessions", NOW, 2).await.unwrap();
    assert_eq!(second.len(), 1, "the rest");
    let mut keys: Vec<String> = first.iter().chain(&second).map(|r| r.key.clone()).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"], "exactly the expired records, each once");
    assert!(first.iter().chain(&second).all(|r| r.body.contains(&r.key) && r.expires_at.is_some()));
    assert!(s.take_expired("subject_sessions", NOW, 10).await.unwrap().is_empty());
    assert_eq!(s.list("subject_sessions", "", UnixTime(0)).await.unwrap().len(), 2, "live records stay");
    assert!(s.get("grants", "other-collection", UnixTime(0)).await.unwrap().is_some(), "other collections stay");
    for key in ["live", "kept"] {
        s.delete("subject_sessions", key, NOW).await.unwrap();
    }
    s.delete("grants", "other-collection", UnixTime(0)).await.unwrap();
}

async fn collections_are_separate(s: &dyn Store) {
    s.put("clients", row("same", "client", None)).await.unwrap();
    s.put("grants", row("same", "grant", None)).await.unwrap();
    assert_eq!(s.get("clients", "same", NOW).await.unwrap().unwrap().body, "client");
    assert_eq!(s.get("grants", "same", NOW).await.unwrap().unwrap().body, "grant");
    s.delete("clients", "same", NOW).await.unwrap();
    s.delete("grants", "same", NOW).await.unwrap();
}
