//! Per-call overhead of each plugin kind (fresh instance per call, pooling allocator), and the
//! time from a manifest landing in the watched folder to its version serving.
//!
//! Run: `cargo bench -p gatehouse-plugin-host --bench hooks`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use gatehouse_protocol::plugins::{ConsentVerdict, HookAction, HookStage};
use support::*;

const WARMUP: usize = 200;
const CALLS: usize = 5000;

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{label:<40} p50 {:>7.1} µs   p99 {:>7.1} µs   ({} calls)",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples.len()
    );
}

async fn measure<F: Future<Output = ()>>(mut call: impl FnMut() -> F) -> Vec<Duration> {
    for _ in 0..WARMUP {
        call().await;
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        call().await;
        samples.push(start.elapsed());
    }
    samples
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    components();
    let plugins = host();
    let directory = Directory::start().await;
    plugins.install(user_directory_manifest(&directory.origin, "1"), component("user-directory"), true).await.unwrap();
    let consent =
        manifest("first-party-consent", "consent-policy", "1", "[config]\nfirst_party_clients = [\"portal\"]\n");
    plugins.install(consent, component("first-party-consent"), true).await.unwrap();
    let routes = "[config.routes.\"partner.example\"]\nurl = \"https://idp.partner.example/authorize?state={state}\"\n";
    plugins.install(manifest("idp-router", "login-hooks", "1", routes), component("idp-router"), true).await.unwrap();
    let policies = plugins.policies();

    println!("Plugin calls: fresh instance per call, pooling allocator, through the protocol's ports");
    let hooks = policies.hooks.clone().unwrap();
    let query = hook_query(Some("alice@partner.example"), Default::default());
    report(
        "login hooks (idp-router, started)",
        measure(|| async {
            let outcome = hooks.run(HookStage::Started, &query).await.unwrap();
            assert!(matches!(outcome.action, HookAction::Redirect { .. }));
        })
        .await,
    );
    let policy = policies.consent.clone().unwrap();
    let query = consent_query("portal", Some("openid email"), &["openid", "email"]);
    report(
        "consent policy (first-party-consent)",
        measure(|| async {
            assert!(matches!(policy.decide(&query).await.unwrap(), ConsentVerdict::Grant(_)));
        })
        .await,
    );
    let source = policies.claims.clone().unwrap();
    let query = claims_query("alice", &["email", "name"]);
    report(
        "claims source (user-directory + HTTP)",
        measure(|| async {
            assert_eq!(source.claims(&query).await.unwrap().len(), 2);
        })
        .await,
    );

    println!("Swap: manifest renamed into the watched folder → new version answering");
    let dir = tempfile::tempdir().unwrap();
    let watched = host();
    let _watcher = watched.watch(dir.path()).unwrap();
    std::fs::write(dir.path().join("consent.wasm"), component("first-party-consent")).unwrap();
    let policy = watched.policies().consent.unwrap();
    let query = consent_query("portal", None, &["openid"]);
    let mut swaps = Vec::new();
    for round in 0..10 {
        let first_party = if round % 2 == 0 { "\"portal\"" } else { "" };
        let toml = format!(
            "name = \"consent\"\nkind = \"consent-policy\"\nversion = \"{round}\"\ncomponent = \"consent.wasm\"\n[config]\nfirst_party_clients = [{first_party}]\n"
        );
        let staged = dir.path().join("consent.toml.part");
        std::fs::write(&staged, toml).unwrap();
        let start = Instant::now();
        std::fs::rename(&staged, dir.path().join("consent.toml")).unwrap();
        loop {
            let granted = matches!(policy.decide(&query).await.unwrap(), ConsentVerdict::Grant(_));
            if granted == (round % 2 == 0) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "round {round} never swapped");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        swaps.push(start.elapsed());
    }
    swaps.sort();
    println!(
        "{:<40} median {:>6.0} ms   max {:>6.0} ms   ({} swaps, compile included, no cache)",
        "swap (consent policy)",
        swaps[swaps.len() / 2].as_secs_f64() * 1e3,
        swaps[swaps.len() - 1].as_secs_f64() * 1e3,
        swaps.len()
    );
}
