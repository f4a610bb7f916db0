//! Per-call cost of each plugin kind in Rust, Python and JavaScript side by side, in each
//! instance mode; the memory a loaded plugin and a prepared instance cost; and the time from a
//! manifest landing in the watched folder to its version serving.
//!
//! Run: `cargo bench -p gatehouse-plugin-host --bench hooks`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use gatehouse_plugin_host::{Manifest, PluginHost, RuntimeSettings};
use gatehouse_protocol::plugins::{ConsentVerdict, HookAction, HookStage, Policies};
use support::*;

const WARMUP: usize = 200;
const CALLS: usize = 5000;

/// The pause between timed calls in the paced runs: a busy login service, not a tight loop.
const PACE: Duration = Duration::from_millis(1);

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!("{label:<58} p50 {:>8.1} µs   p99 {:>8.1} µs", at(0.50).as_secs_f64() * 1e6, at(0.99).as_secs_f64() * 1e6,);
}

async fn measure<F: Future<Output = ()>>(pace: Option<Duration>, mut call: impl FnMut() -> F) -> Vec<Duration> {
    for _ in 0..WARMUP {
        call().await;
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        if let Some(pace) = pace {
            tokio::time::sleep(pace).await;
        }
        let start = Instant::now();
        call().await;
        samples.push(start.elapsed());
    }
    samples
}

/// Resident memory of this process, in MiB.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096.0 / (1 << 20) as f64
}

/// One plugin to measure: how to install it and how to call it through the protocol's port.
struct Subject {
    label: &'static str,
    manifest: fn(&str) -> Manifest,
    component: Vec<u8>,
}

#[derive(Clone, Copy)]
enum Mode {
    /// The default: a fresh instance per call, prepared ahead by the pool.
    Fresh,
    /// `prepared_instances = 0`: the call instantiates for itself.
    Unprepared,
    /// `reuse_instances = true`.
    Reused,
    /// `instance_per_login = true` (login hooks): a login's stages share one instance.
    PerLogin,
}

impl Mode {
    fn extra(self) -> &'static str {
        match self {
            Mode::Fresh => "",
            Mode::Unprepared => "[limits]\nprepared_instances = 0",
            Mode::Reused => "reuse_instances = true",
            Mode::PerLogin => "instance_per_login = true",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Fresh => "fresh, prepared",
            Mode::Unprepared => "fresh, unprepared",
            Mode::Reused => "reused",
            Mode::PerLogin => "one instance per login",
        }
    }
}

fn with_extra(mut manifest: Manifest, extra: &str) -> Manifest {
    let patch: Manifest =
        Manifest::from_toml(&format!("name = \"x\"\nkind = \"login-hooks\"\nversion = \"1\"\n{extra}")).unwrap();
    manifest.limits.prepared_instances = patch.limits.prepared_instances;
    manifest.reuse_instances = patch.reuse_instances;
    manifest.instance_per_login = patch.instance_per_login;
    manifest
}

/// Logins of three hook stages each, paced: the first stage's calls, and the later ones'.
async fn logins(policies: &Policies) -> (Vec<Duration>, Vec<Duration>) {
    let hooks = policies.hooks.as_ref().unwrap();
    let (mut first, mut later) = (Vec::new(), Vec::new());
    for login in 0..(WARMUP + CALLS) / 3 {
        let mut query = hook_query(Some("alice@partner.example"), Default::default());
        query.session_id = format!("login-{login}");
        query.sub = Some("alice".into());
        for (i, stage) in
            [HookStage::Started, HookStage::Authenticated, HookStage::BeforeResponse].into_iter().enumerate()
        {
            tokio::time::sleep(PACE).await;
            let start = Instant::now();
            hooks.run(stage, &query).await.expect("the hook answers");
            if login * 3 >= WARMUP {
                if i == 0 { &mut first } else { &mut later }.push(start.elapsed());
            }
        }
    }
    (first, later)
}

async fn call_once(policies: &Policies, kind: &str) {
    match kind {
        "claims-source" => {
            let query = claims_query("alice", &["groups", "roles", "name", "preferred_username", "locale"]);
            let mut query = query;
            query.session_claims =
                object(serde_json::json!({"given_name": "Alice", "family_name": "Liddell", "uid": "alice"}));
            let claims = policies.claims.as_ref().unwrap().claims(&query).await.unwrap();
            assert!(!claims.is_empty());
        }
        "consent-policy" => {
            let query = consent_query("portal", Some("openid email"), &["openid", "email"]);
            let verdict = policies.consent.as_ref().unwrap().decide(&query).await.unwrap();
            assert!(matches!(verdict, ConsentVerdict::Grant(_)));
        }
        _ => {
            let mut query = hook_query(Some("alice@partner.example"), Default::default());
            query.sub = Some("alice".into());
            query.scope = vec!["openid".into(), "admin".into()];
            let outcome = policies.hooks.as_ref().unwrap().run(HookStage::Authenticated, &query).await.unwrap();
            assert!(!matches!(outcome.action, HookAction::Deny(_)));
        }
    }
}

fn subjects() -> Vec<Subject> {
    vec![
        Subject {
            label: "Rust    login hooks     (idp-router)",
            manifest: |v| {
                let routes = "[config.routes.\"partner.example\"]\nurl = \"https://idp.partner.example/authorize?state={state}\"\n";
                manifest("idp-router", "login-hooks", v, routes)
            },
            component: component("idp-router"),
        },
        Subject {
            label: "Python  login hooks     (allowed-domains)",
            manifest: |v| guest_manifest("python/allowed-domains", v),
            component: guest_component("python/allowed-domains"),
        },
        Subject {
            label: "JS      login hooks     (step-up)",
            manifest: |v| guest_manifest("js/step-up", v),
            component: guest_component("js/step-up"),
        },
        Subject {
            label: "Rust    consent policy  (first-party-consent)",
            manifest: |v| {
                manifest("first-party-consent", "consent-policy", v, "[config]\nfirst_party_clients = [\"portal\"]\n")
            },
            component: component("first-party-consent"),
        },
        Subject {
            label: "Python  consent policy  (scope-tiers)",
            manifest: |v| guest_manifest("python/scope-tiers", v),
            component: guest_component("python/scope-tiers"),
        },
        Subject {
            label: "Python  claims source   (group-claims)",
            manifest: |v| guest_manifest("python/group-claims", v),
            component: guest_component("python/group-claims"),
        },
        Subject {
            label: "JS      claims source   (profile-claims)",
            manifest: |v| guest_manifest("js/profile-claims", v),
            component: guest_component("js/profile-claims"),
        },
    ]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    components();
    let cache = tempfile::tempdir().unwrap();
    let settings = RuntimeSettings { cache_dir: Some(cache.path().to_owned()), max_instances: 64 };
    let subjects = subjects();
    // Compile every component once into the cache, so what follows measures loading and
    // calling, not Cranelift.
    {
        let warm = PluginHost::new(&settings).unwrap();
        for s in &subjects {
            warm.install((s.manifest)("0"), s.component.clone(), false).await.unwrap();
        }
    }

    println!("Plugin calls through the protocol's ports ({CALLS} calls after {WARMUP}; paced: {PACE:?} between calls)");
    for s in &subjects {
        for mode in [Mode::Fresh, Mode::Unprepared, Mode::Reused, Mode::PerLogin] {
            let host = PluginHost::new(&settings).unwrap();
            let manifest = with_extra((s.manifest)("1"), mode.extra());
            let kind = manifest.kind.world();
            if matches!(mode, Mode::PerLogin) && kind != "login-hooks" {
                continue;
            }
            host.install(manifest, s.component.clone(), true).await.unwrap();
            let policies = host.policies();
            if matches!(mode, Mode::PerLogin) {
                let (first, later) = logins(&policies).await;
                report(&format!("{}  {}, first stage, paced", s.label, mode.label()), first);
                report(&format!("{}  {}, later stages, paced", s.label, mode.label()), later);
                continue;
            }
            let paced = measure(Some(PACE), || call_once(&policies, kind)).await;
            report(&format!("{}  {}, paced", s.label, mode.label()), paced);
            if !matches!(mode, Mode::Unprepared) {
                let flat_out = measure(None, || call_once(&policies, kind)).await;
                report(&format!("{}  {}, back to back", s.label, mode.label()), flat_out);
            }
        }
    }

    println!("Memory: resident set growth (components already compiled into the cache)");
    for s in &subjects {
        let host = PluginHost::new(&settings).unwrap();
        let manifest = (s.manifest)("1");
        let kind = manifest.kind.world();
        let before = rss_mib();
        host.install(with_extra(manifest.clone(), Mode::Unprepared.extra()), s.component.clone(), true).await.unwrap();
        let loaded = rss_mib();
        let mut pooled = manifest;
        pooled.version = "2".into();
        pooled.limits.prepared_instances = 8;
        host.install(pooled, s.component.clone(), true).await.unwrap();
        let policies = host.policies();
        // Let the pool fill, serve a round of calls (which spends and replaces instances), fill again.
        for _ in 0..16 {
            call_once(&policies, kind).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = rss_mib();
        println!(
            "{:<46} loaded {:>6.1} MiB   per prepared instance {:>5.1} MiB",
            s.label,
            loaded - before,
            (after - loaded) / 8.0
        );
    }

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
