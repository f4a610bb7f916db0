//! Two plugin hosts sharing one store as cluster members: what one installs the other loads and
//! serves, and a version that does not load on a host is reported there and never replaces the
//! version it serves.

mod support;

use std::sync::Arc;

use gatehouse_plugin_host::{CatalogRecord, Cluster, ClusterError, LoadError, StoredVersion};
use gatehouse_protocol::plugins::ConsentVerdict;
use gatehouse_protocol::store::{Row, Store};
use gatehouse_protocol::world::{Clock, SystemClock};
use gatehouse_store::MemoryStore;
use support::*;

const FIRST_PARTY: &str = "[config]\nfirst_party_clients = [\"portal\"]\n";

fn member(store: &Arc<MemoryStore>, name: &str) -> (Cluster, gatehouse_plugin_host::PluginHost) {
    let plugins = host();
    let cluster = Cluster::new(plugins.clone(), store.clone(), Arc::new(SystemClock), name.into());
    (cluster, plugins)
}

async fn granted(plugins: &gatehouse_plugin_host::PluginHost) -> bool {
    let consent = plugins.policies().consent.unwrap();
    matches!(consent.decide(&consent_query("portal", None, &["openid"])).await.unwrap(), ConsentVerdict::Grant(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_does_not_load_on_a_host_is_reported_and_the_served_one_stays() {
    let store = Arc::new(MemoryStore::new());
    let (a, a_plugins) = member(&store, "a");
    let (b, b_plugins) = member(&store, "b");
    let m = manifest("first-party-consent", "consent-policy", "1", FIRST_PARTY);
    a.install(m.clone(), component("first-party-consent"), true).await.unwrap();
    assert!(granted(&a_plugins).await);
    assert!(!granted(&b_plugins).await, "b has not followed yet");
    b.converge("first-party-consent").await.unwrap();
    assert!(granted(&b_plugins).await, "b serves what a installed");

    // Version 2's component is damaged in the store: it cannot load on the host that follows.
    let now = SystemClock.now();
    store.put("plugin_components", Row::new("damaged", r#"{"base64":"AAECAw=="}"#, None)).await.unwrap();
    let row = store.get("plugin_catalog", "first-party-consent", now).await.unwrap().unwrap();
    let mut record: CatalogRecord = serde_json::from_str(&row.body).unwrap();
    let mut two = m.clone();
    two.version = "2".into();
    record.versions.push(StoredVersion { version: "2".into(), manifest: two.to_toml(), sha256: "damaged".into() });
    record.history.push("1".into());
    record.active = Some("2".into());
    store
        .put("plugin_catalog", Row::new("first-party-consent", serde_json::to_string(&record).unwrap(), None))
        .await
        .unwrap();

    b.converge("first-party-consent").await.unwrap();
    assert!(granted(&b_plugins).await, "version 1 still serves on b");
    let listed = b.list().await.unwrap();
    let entry = listed.iter().find(|p| p.local.name == "first-party-consent").unwrap();
    assert_eq!(entry.local.active_version.as_deref(), Some("1"));
    let report = entry.hosts.iter().find(|h| h.host == "b").expect("b reports");
    assert_eq!(report.serving.as_deref(), Some("1"));
    assert!(report.error.as_deref().is_some_and(|e| e.contains("version 2")), "{report:?}");
    assert_eq!(b.diverged().await, 1, "b serves otherwise than the catalog says");

    // Asking b to serve the version it could not load is refused with the reason.
    match b.activate("first-party-consent", "2").await {
        Err(ClusterError::Load(LoadError::Conflict(why))) => {
            assert!(why.contains("did not load on this host"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A rollback through b goes back to 1 everywhere, and b is in step again.
    assert_eq!(b.rollback("first-party-consent").await.unwrap(), "1");
    assert_eq!(b.diverged().await, 0);
    a.converge("first-party-consent").await.unwrap();
    assert_eq!(a.diverged().await, 0);
}
