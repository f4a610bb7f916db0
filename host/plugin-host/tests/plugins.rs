//! The plugin host with real components built from `plugins/` and real wasmtime, called
//! through the protocol's policy ports.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gatehouse_plugin_host::{LoadError, PluginHost, RuntimeSettings};
use gatehouse_protocol::ErrorCode;
use gatehouse_protocol::plugins::{ConsentVerdict, HookAction, HookStage, PluginFailure};
use gatehouse_protocol::session::Selection;
use serde_json::json;
use support::*;

const CONSENT_CONFIG: &str = r#"
[config]
first_party_clients = ["portal"]
restricted_scopes = ["admin"]
always_confirm = ["payments"]
"#;

async fn install_consent(host: &PluginHost, version: &str, config: &str) {
    let m = manifest("first-party-consent", "consent-policy", version, config);
    host.install(m, component("first-party-consent"), true).await.expect("the consent policy loads");
}

fn scopes(verdict: &ConsentVerdict) -> Vec<String> {
    match verdict {
        ConsentVerdict::Grant(input) => match &input.scope {
            Selection::Some(s) => s.clone(),
            Selection::All => panic!("the policy names scopes"),
        },
        other => panic!("expected a grant, got {other:?}"),
    }
}

fn assert_incident(result: Result<impl std::fmt::Debug, PluginFailure>, plugin: &str) {
    match result {
        Err(PluginFailure { plugin: p, error: None }) => assert_eq!(p, plugin),
        other => panic!("expected an incident of {plugin}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_loaded_the_ports_answer_no_claims_ask_and_continue() {
    let host = host();
    let policies = host.policies();
    let claims = policies.claims.unwrap().claims(&claims_query("alice", &["email"])).await.unwrap();
    assert!(claims.is_empty());
    let verdict = policies.consent.unwrap().decide(&consent_query("rp", None, &["openid"])).await.unwrap();
    assert!(matches!(verdict, ConsentVerdict::Ask(r) if r.is_empty()));
    let outcome = policies.hooks.unwrap().run(HookStage::Started, &hook_query(None, Default::default())).await.unwrap();
    assert_eq!(outcome.action, HookAction::Continue);
    assert_eq!(outcome.data, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claims_source_maps_a_user_record_from_the_directory() {
    let directory = Directory::start().await;
    let host = host();
    let installed =
        host.install(user_directory_manifest(&directory.origin, "1.0.0"), component("user-directory"), true).await;
    let installed = installed.expect("the user-directory plugin loads");
    assert!(installed.active);
    let source = host.policies().claims.unwrap();
    let mut names = source.claim_names();
    names.sort();
    assert_eq!(
        names,
        ["birthdate", "email", "email_verified", "https://example.com/department", "name", "nickname", "website"]
    );

    // The record has no birthdate: a pointer that finds nothing gives no claim.
    let wanted = ["email", "email_verified", "https://example.com/department", "nickname", "birthdate"];
    let claims = source.claims(&claims_query("alice", &wanted)).await;
    assert_eq!(
        serde_json::Value::Object(claims.unwrap()),
        json!({
            "email": "alice@example.com",
            "email_verified": true,
            "https://example.com/department": "Wonderland",
            "nickname": "Al",
        })
    );
    // An unknown user has no claims, and claims the plugin does not supply are not asked for.
    assert!(source.claims(&claims_query("bob", &["email"])).await.unwrap().is_empty());
    let hits = directory.hits();
    assert!(source.claims(&claims_query("alice", &["phone_number"])).await.unwrap().is_empty());
    assert_eq!(directory.hits(), hits, "a claim no plugin supplies costs no call");

    let metrics = host.metrics();
    assert_eq!(metrics.len(), 1);
    assert_eq!((metrics[0].name.as_str(), metrics[0].calls, metrics[0].traps), ("user-directory", 2, 0));
    assert_eq!(metrics[0].active_version.as_deref(), Some("1.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claims_source_reports_an_unreachable_directory_as_its_own_error() {
    let host = host();
    // Allowed, but nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    host.install(user_directory_manifest(&origin, "1.0.0"), component("user-directory"), true).await.unwrap();
    let result = host.policies().claims.unwrap().claims(&claims_query("alice", &["email"])).await;
    let error = result.expect_err("the directory is down").error.expect("an expected failure, not an incident");
    assert_eq!(error.code, ErrorCode::TemporarilyUnavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_policy_grants_first_party_clients_their_registered_scopes_only() {
    let host = host();
    install_consent(&host, "1.0.0", CONSENT_CONFIG).await;
    let policy = host.policies().consent.unwrap();

    let verdict = policy.decide(&consent_query("portal", Some("openid email"), &["openid", "email", "phone"])).await;
    let verdict = verdict.unwrap();
    assert_eq!(scopes(&verdict), ["openid", "email"], "phone is not registered for the portal");
    let ConsentVerdict::Grant(input) = verdict else { unreachable!() };
    assert!(input.long_lived);

    let verdict = policy.decide(&consent_query("third-party", Some("openid email"), &["openid", "email"])).await;
    assert!(matches!(verdict.unwrap(), ConsentVerdict::Ask(r) if r.is_empty()));

    let verdict = policy.decide(&consent_query("third-party", None, &["openid", "admin"])).await;
    match verdict.unwrap() {
        ConsentVerdict::Deny(e) => assert_eq!(e.code, ErrorCode::AccessDenied),
        other => panic!("expected a denial, got {other:?}"),
    }

    // A scope to confirm every time: consented before, it is asked again; other consented
    // scopes are not.
    let mut query = consent_query("third-party", None, &["email"]);
    query.scope.consented = vec!["openid".into(), "payments".into()];
    match policy.decide(&query).await.unwrap() {
        ConsentVerdict::Ask(r) => assert_eq!((r.scope, r.claims), (vec!["payments".to_string()], vec![])),
        other => panic!("expected to ask again for payments, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_hook_routes_by_login_hint_parks_state_and_resumes() {
    let host = host();
    let config = r#"
[config.routes."partner.example"]
url = "https://login.partner.example/authorize?login_hint={login_hint}&state={state}"
acr = "urn:partner:sso"
"#;
    host.install(manifest("idp-router", "login-hooks", "1.0.0", config), component("idp-router"), true).await.unwrap();
    let hooks = host.policies().hooks.unwrap();

    let start =
        hooks.run(HookStage::Started, &hook_query(Some("alice@partner.example"), object(json!({"ui": "dark"})))).await;
    let start = start.unwrap();
    assert_eq!(
        start.action,
        HookAction::Redirect {
            uri: "https://login.partner.example/authorize?login_hint=alice%40partner.example&state=session-1".into()
        }
    );
    let parked = start.data.expect("the route is parked in the session data");
    assert_eq!(
        serde_json::Value::Object(parked.clone()),
        json!({"ui": "dark", "idp_router": {"domain": "partner.example", "status": "redirected"}})
    );

    // The user comes back from the partner's IdP; the front-end submits the subject.
    let mut back = hook_query(Some("alice@partner.example"), parked.clone());
    back.sub = Some("alice".into());
    back.acr = Some("urn:partner:sso".into());
    let resumed = hooks.run(HookStage::Authenticated, &back).await.unwrap();
    assert_eq!(resumed.action, HookAction::Continue);
    assert_eq!(
        serde_json::Value::Object(resumed.data.unwrap()),
        json!({"ui": "dark", "idp_router": {"domain": "partner.example", "status": "completed", "sub": "alice"}})
    );

    // A login that did not go through the partner is refused.
    back.acr = Some("urn:password".into());
    match hooks.run(HookStage::Authenticated, &back).await.unwrap().action {
        HookAction::Deny(e) => assert_eq!(e.code, ErrorCode::AccessDenied),
        other => panic!("expected a denial, got {other:?}"),
    }

    // Other domains go on untouched.
    let other = hooks.run(HookStage::Started, &hook_query(Some("bob@example.org"), Default::default())).await.unwrap();
    assert_eq!((other.action, other.data), (HookAction::Continue, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_swap_under_load_fails_no_call_and_a_broken_version_never_replaces_a_working_one() {
    let host = host();
    install_consent(&host, "1.0.0", "[config]\nfirst_party_clients = []\n").await;
    let policy = host.policies().consent.unwrap();
    let query = consent_query("portal", None, &["openid"]);

    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failures, grants) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (policy, query, stop) = (policy.clone(), query.clone(), stop.clone());
        let (calls, failures, grants) = (calls.clone(), failures.clone(), grants.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match policy.decide(&query).await {
                    Ok(ConsentVerdict::Grant(_)) => grants.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => 0,
                    Err(_) => failures.fetch_add(1, Ordering::Relaxed),
                };
                calls.fetch_add(1, Ordering::Relaxed);
                // Like independent requests, let other tasks (the installer) run between calls.
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    install_consent(&host, "2.0.0", "[config]\nfirst_party_clients = [\"portal\"]\n").await;
    let after_swap = calls.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A broken version is refused while the calls go on; 2.0.0 keeps serving.
    let broken = host
        .install(manifest("first-party-consent", "consent-policy", "3.0.0", ""), b"\0asm garbage".to_vec(), true)
        .await;
    assert!(matches!(broken, Err(LoadError::Compile(_))), "{broken:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let total = calls.load(Ordering::Relaxed);
    assert_eq!(failures.load(Ordering::Relaxed), 0, "no call failed across the swap");
    assert!(total > after_swap + 10, "calls went on after the swap ({after_swap} → {total})");
    assert!(grants.load(Ordering::Relaxed) > 0, "the new behaviour was served");
    assert!(matches!(policy.decide(&query).await.unwrap(), ConsentVerdict::Grant(_)));

    let status = &host.list().await[0];
    assert_eq!(status.active_version.as_deref(), Some("2.0.0"));
    assert!(status.last_error.as_deref().unwrap().contains("does not compile"), "{:?}", status.last_error);
    assert_eq!(status.versions.len(), 2, "the broken version was not kept");

    // Roll back to 1.0.0: the old behaviour is back.
    assert_eq!(host.rollback("first-party-consent").await.unwrap(), "1.0.0");
    assert!(matches!(policy.decide(&query).await.unwrap(), ConsentVerdict::Ask(r) if r.is_empty()));
    assert!(matches!(host.rollback("first-party-consent").await, Err(LoadError::NothingToRollBack(_))));
    host.activate("first-party-consent", "2.0.0").await.unwrap();
    assert!(matches!(policy.decide(&query).await.unwrap(), ConsentVerdict::Grant(_)));
}

/// The prepared instances of each installed version of `name`, by version, once the keepers
/// have settled (or as they are after two seconds).
async fn prepared(host: &PluginHost, name: &str, want: &[(&str, usize)]) -> Vec<(String, usize)> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = host.list().await.into_iter().find(|p| p.name == name).expect("installed");
        let now: Vec<(String, usize)> =
            status.versions.iter().map(|v| (v.version.clone(), v.prepared_instances)).collect();
        let wanted: Vec<(String, usize)> = want.iter().map(|(v, n)| (v.to_string(), *n)).collect();
        if now == wanted || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_serving_version_keeps_instances_prepared() {
    let host = host();
    let prepared_2 = "[limits]\nprepared_instances = 2\n[config]\nfirst_party_clients = []\n";
    install_consent(&host, "1.0.0", prepared_2).await;
    let want = [("1.0.0", 2)];
    assert_eq!(prepared(&host, "first-party-consent", &want).await, want.map(|(v, n)| (v.to_string(), n)));

    install_consent(&host, "2.0.0", prepared_2).await;
    let want = [("1.0.0", 0), ("2.0.0", 2)];
    assert_eq!(prepared(&host, "first-party-consent", &want).await, want.map(|(v, n)| (v.to_string(), n)));

    // Installed without activating: compiled and checked, but holding no instances.
    let m = manifest("first-party-consent", "consent-policy", "3.0.0", prepared_2);
    host.install(m, component("first-party-consent"), false).await.unwrap();
    let want = [("1.0.0", 0), ("2.0.0", 2), ("3.0.0", 0)];
    assert_eq!(prepared(&host, "first-party-consent", &want).await, want.map(|(v, n)| (v.to_string(), n)));

    // Rolled back to, a version prepares again; deactivated, none does.
    assert_eq!(host.rollback("first-party-consent").await.unwrap(), "1.0.0");
    let want = [("1.0.0", 2), ("2.0.0", 0), ("3.0.0", 0)];
    assert_eq!(prepared(&host, "first-party-consent", &want).await, want.map(|(v, n)| (v.to_string(), n)));
    host.deactivate("first-party-consent").await.unwrap();
    let want = [("1.0.0", 0), ("2.0.0", 0), ("3.0.0", 0)];
    assert_eq!(prepared(&host, "first-party-consent", &want).await, want.map(|(v, n)| (v.to_string(), n)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_times_out_and_the_host_carries_on() {
    let host = host();
    let m = manifest("looper", "consent-policy", "1.0.0", "[limits]\ntime_ms = 100\n");
    host.install(m, component("testing-endless-loop"), true).await.unwrap();
    let policy = host.policies().consent.unwrap();
    let started = Instant::now();
    assert_incident(policy.decide(&consent_query("rp", None, &["openid"])).await, "looper");
    assert!(started.elapsed() < Duration::from_secs(2), "stopped near its limit, took {:?}", started.elapsed());
    assert_eq!(host.metrics()[0].timeouts, 1);

    // The host carries on: another plugin answers, and the looping one fails the same way again.
    host.deactivate("looper").await.unwrap();
    install_consent(&host, "1.0.0", CONSENT_CONFIG).await;
    assert!(matches!(
        policy.decide(&consent_query("portal", None, &["openid"])).await.unwrap(),
        ConsentVerdict::Grant(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_plugin_marked_skip_unsafe_is_passed_over() {
    let host = host();
    let m = manifest("looper", "consent-policy", "1.0.0", "on_failure = \"skip-unsafe\"\n[limits]\ntime_ms = 50\n");
    host.install(m, component("testing-endless-loop"), true).await.unwrap();
    let verdict = host.policies().consent.unwrap().decide(&consent_query("rp", None, &["openid"])).await;
    assert!(matches!(verdict.unwrap(), ConsentVerdict::Ask(r) if r.is_empty()));
    assert_eq!(host.metrics()[0].timeouts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_is_a_server_error_and_the_next_call_succeeds() {
    let directory = Directory::start().await;
    let host = host();
    host.install(manifest("trap", "login-hooks", "1.0.0", ""), component("testing-trap"), true).await.unwrap();
    host.install(user_directory_manifest(&directory.origin, "1.0.0"), component("user-directory"), true).await.unwrap();
    let policies = host.policies();
    for _ in 0..2 {
        assert_incident(
            policies.hooks.as_ref().unwrap().run(HookStage::Started, &hook_query(None, Default::default())).await,
            "trap",
        );
        let claims = policies.claims.as_ref().unwrap().claims(&claims_query("alice", &["email"])).await.unwrap();
        assert_eq!(claims["email"], "alice@example.com");
    }
    let trap = host.metrics().into_iter().find(|m| m.name == "trap").unwrap();
    assert_eq!((trap.calls, trap.traps), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hog_hits_its_limit_and_the_next_call_succeeds() {
    let host = host();
    let m = manifest("hog", "claims-source", "1.0.0", "[limits]\nmemory_mib = 8\ntime_ms = 5000\n");
    host.install(m, component("testing-memory-hog"), true).await.unwrap();
    install_consent(&host, "1.0.0", CONSENT_CONFIG).await;
    let policies = host.policies();
    assert_incident(policies.claims.as_ref().unwrap().claims(&claims_query("alice", &["hog"])).await, "hog");
    let hog = host.metrics().into_iter().find(|m| m.name == "hog").unwrap();
    assert_eq!((hog.memory_limits, hog.traps, hog.timeouts), (1, 0, 0));
    let verdict = policies.consent.as_ref().unwrap().decide(&consent_query("portal", None, &["openid"])).await;
    assert!(matches!(verdict.unwrap(), ConsentVerdict::Grant(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_built_for_another_world_is_refused_at_load() {
    let host = host();
    let m = manifest("confused", "claims-source", "1.0.0", "");
    let error = host.install(m, component("first-party-consent"), true).await.unwrap_err();
    let LoadError::WrongWorld(message) = &error else { panic!("{error:?}") };
    assert!(message.contains("built for the consent-policy world"), "{message}");
    assert!(host.policies().claims.unwrap().claim_names().is_empty());
    assert!(host.list().await[0].last_error.as_deref().unwrap().contains("consent-policy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_without_allowed_hosts_is_refused_at_load() {
    let host = host();
    let m = manifest("fetcher", "claims-source", "1.0.0", "[config]\nurl = \"http://127.0.0.1:9/\"\n");
    let error = host.install(m, component("testing-fetch-anything"), true).await.unwrap_err();
    let LoadError::ForbiddenImport(message) = &error else { panic!("{error:?}") };
    assert!(message.contains("wasi:http") && message.contains("allowed_outbound_hosts"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_a_host_not_allowed_is_denied_before_connecting() {
    let allowed = Directory::start().await;
    let elsewhere = Directory::start().await;
    let host = host();
    let config = format!(
        "allowed_outbound_hosts = [\"{}\"]\n[config]\nurl = \"{}/users/alice\"\n",
        allowed.origin, elsewhere.origin
    );
    host.install(manifest("fetcher", "claims-source", "1.0.0", &config), component("testing-fetch-anything"), true)
        .await
        .unwrap();
    let source = host.policies().claims.unwrap();
    let error = source.claims(&claims_query("alice", &["fetched"])).await.unwrap_err();
    assert_eq!(
        error.error.expect("the plugin's own error").code,
        ErrorCode::AccessDenied,
        "the guest saw HttpRequestDenied"
    );
    assert_eq!(elsewhere.hits(), 0, "no request reached the host that is not allowed");

    // The same plugin reaches the allowed host.
    let config = format!(
        "allowed_outbound_hosts = [\"{}\"]\n[config]\nurl = \"{}/users/alice\"\n",
        allowed.origin, allowed.origin
    );
    host.install(manifest("fetcher", "claims-source", "1.0.1", &config), component("testing-fetch-anything"), true)
        .await
        .unwrap();
    assert_eq!(source.claims(&claims_query("alice", &["fetched"])).await.unwrap()["fetched"], 200);
    assert_eq!(allowed.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_name_that_resolves_to_a_private_address_is_refused_unless_the_manifest_opts_in() {
    let directory = Directory::start().await;
    // The same directory by name: `localhost` resolves to loopback.
    let by_name = directory.origin.replace("127.0.0.1", "localhost");
    let host = host();
    let config = |private: bool| {
        format!(
            "allowed_outbound_hosts = [\"{by_name}\"]\nallow_private_addresses = {private}\n[config]\nurl = \"{by_name}/users/alice\"\n"
        )
    };
    let fetcher = |version: &str, private: bool| manifest("fetcher", "claims-source", version, &config(private));
    host.install(fetcher("1.0.0", false), component("testing-fetch-anything"), true).await.unwrap();
    let source = host.policies().claims.unwrap();
    let error = source.claims(&claims_query("alice", &["fetched"])).await.unwrap_err();
    assert_eq!(
        error.error.expect("the plugin's own error").code,
        ErrorCode::TemporarilyUnavailable,
        "the guest saw DestinationIpProhibited"
    );
    assert_eq!(directory.hits(), 0, "nothing connected to the private address");

    host.install(fetcher("1.0.1", true), component("testing-fetch-anything"), true).await.unwrap();
    assert_eq!(source.claims(&claims_query("alice", &["fetched"])).await.unwrap()["fetched"], 200);
    assert_eq!(directory.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_claims_sources_supplying_one_claim_need_an_order() {
    let directory = Directory::start().await;
    let host = host();
    host.install(user_directory_manifest(&directory.origin, "1.0.0"), component("user-directory"), true).await.unwrap();
    let second = |order: &str| {
        let origin = &directory.origin;
        manifest(
            "second-directory",
            "claims-source",
            "1.0.0",
            &format!(
                "{order}\nallowed_outbound_hosts = [\"{origin}\"]\n[config]\nurl = \"{origin}/users/{{sub}}\"\n[config.claims]\nemail = \"/displayName\"\n"
            ),
        )
    };
    let error = host.install(second(""), component("user-directory"), true).await.unwrap_err();
    assert!(matches!(&error, LoadError::Conflict(m) if m.contains("\"email\"")), "{error:?}");
    assert_eq!(
        host.policies().claims.unwrap().claims(&claims_query("alice", &["email"])).await.unwrap()["email"],
        "alice@example.com"
    );

    // Ordered before the first (which has the default order 0), the second one wins.
    let error = host.install(second("order = 0"), component("user-directory"), true).await.unwrap_err();
    assert!(matches!(error, LoadError::Conflict(_)), "both need distinct orders");
    host.deactivate("user-directory").await.unwrap();
    host.install(user_directory_manifest(&directory.origin, "1.0.1"), component("user-directory"), false)
        .await
        .unwrap();
    host.install(second("order = -1"), component("user-directory"), true).await.unwrap();
    let error = host.activate("user-directory", "1.0.1").await.unwrap_err();
    assert!(matches!(error, LoadError::Conflict(_)), "the first has no order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_landing_in_the_watched_folder_are_loaded_and_swapped() {
    // Watched by a relative path, as `plugins.dir = "data/plugins"` gives it (the tests run in
    // the package's folder).
    let dir = tempfile::Builder::new().prefix(".watched-").tempdir_in(".").unwrap();
    let relative = Path::new(dir.path().file_name().unwrap());
    let host = host();
    let _watcher = host.watch(relative).unwrap();
    let write = |version: &str, first_party: &str| {
        std::fs::write(dir.path().join("consent.wasm"), component("first-party-consent")).unwrap();
        let toml = format!(
            "name = \"consent\"\nkind = \"consent-policy\"\nversion = \"{version}\"\ncomponent = \"consent.wasm\"\n[config]\nfirst_party_clients = [{first_party}]\n"
        );
        // Edited as `sed -i` does: written beside, then renamed over the manifest.
        std::fs::write(dir.path().join(".consent.toml.new"), toml).unwrap();
        std::fs::rename(dir.path().join(".consent.toml.new"), dir.path().join("consent.toml")).unwrap();
    };
    let policy = host.policies().consent.unwrap();
    let query = consent_query("portal", None, &["openid"]);
    // The deadline only bounds a failure: on a cold run the other tests compile Python and
    // JavaScript components beside this one, and each swap here compiles too.
    let wait_for = |version: &'static str| {
        let host = host.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while host.list().await.first().and_then(|p| p.active_version.clone()).as_deref() != Some(version) {
                assert!(Instant::now() < deadline, "version {version} was not loaded from the folder");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    write("1", "");
    wait_for("1").await;
    assert!(matches!(policy.decide(&query).await.unwrap(), ConsentVerdict::Ask(r) if r.is_empty()));
    write("2", "\"portal\"");
    wait_for("2").await;
    assert!(matches!(policy.decide(&query).await.unwrap(), ConsentVerdict::Grant(_)));

    // A broken component in the folder is refused; version 2 keeps serving.
    std::fs::write(dir.path().join("consent.wasm"), b"not wasm").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while host.list().await[0].last_error.is_none() {
        assert!(Instant::now() < deadline, "the broken component was not reported");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(host.list().await[0].active_version.as_deref(), Some("2"));
    assert!(matches!(policy.decide(&query).await.unwrap(), ConsentVerdict::Grant(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_components_are_cached_by_content_and_engine() {
    let cache = tempfile::tempdir().unwrap();
    let settings = RuntimeSettings { cache_dir: Some(cache.path().to_owned()), max_instances: 8 };
    let first = PluginHost::new(&settings).unwrap();
    install_consent(&first, "1.0.0", CONSENT_CONFIG).await;
    let files: Vec<String> =
        std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let sha = &first.list().await[0].versions[0].sha256;
    assert!(files[0].starts_with(sha.as_str()) && files[0].ends_with(".cwasm"), "{files:?}");

    // A second host (a restart) loads the cached artifact instead of compiling.
    let second = PluginHost::new(&settings).unwrap();
    install_consent(&second, "1.0.0", CONSENT_CONFIG).await;
    let verdict = second.policies().consent.unwrap().decide(&consent_query("portal", None, &["openid"])).await;
    assert!(matches!(verdict.unwrap(), ConsentVerdict::Grant(_)));
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_are_checked_with_fix_it_messages() {
    let bad = gatehouse_plugin_host::Manifest::from_toml(
        "name = \"x\"\nkind = \"claims-source\"\nversion = \"1\"\ncolour = 1\n",
    );
    assert!(matches!(&bad, Err(LoadError::Manifest(m)) if m.contains("colour")), "{bad:?}");
    let bad = gatehouse_plugin_host::Manifest::from_toml(
        "name = \"x\"\nkind = \"claims-source\"\nversion = \"1\"\nallowed_outbound_hosts = [\"https://a.example/path\"]\n",
    );
    assert!(matches!(&bad, Err(LoadError::Manifest(m)) if m.contains("scheme://host[:port]")), "{bad:?}");
    let bad = gatehouse_plugin_host::Manifest::from_toml("name = \"x\"\nkind = \"policy\"\nversion = \"1\"\n");
    assert!(matches!(&bad, Err(LoadError::Manifest(m)) if m.contains("claims-source")), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_instances_can_fill_the_instance_slots() {
    // A Python component instantiates 38 core modules: the engine's budget of core instances
    // must not run out before its component slots do.
    let cache = root().join("target/test-plugin-cache");
    let host = PluginHost::new(&RuntimeSettings { cache_dir: Some(cache), max_instances: 12 }).unwrap();
    let mut m = guest_manifest("python/group-claims", "1");
    m.limits.prepared_instances = 4;
    host.install(m, guest_component("python/group-claims"), true).await.expect("the Python plugin loads");
    let source = host.policies().claims.unwrap();
    for _ in 0..10 {
        let claims = source.claims(&claims_query("alice", &["groups"])).await;
        assert!(claims.is_ok(), "every call gets an instance: {claims:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_kind_that_cannot_deny_may_be_skipped_in_plain_words() {
    for kind in ["consent-policy", "login-hooks"] {
        let text = format!("name = \"x\"\nkind = \"{kind}\"\nversion = \"1\"\non_failure = \"skip\"\n");
        let refused = gatehouse_plugin_host::Manifest::from_toml(&text);
        assert!(matches!(&refused, Err(LoadError::Manifest(m)) if m.contains("skip-unsafe")), "{refused:?}");
        let unsafe_skip = text.replace("\"skip\"", "\"skip-unsafe\"");
        assert!(gatehouse_plugin_host::Manifest::from_toml(&unsafe_skip).is_ok(), "{kind} may say skip-unsafe");
    }
    let claims = "name = \"x\"\nkind = \"claims-source\"\nversion = \"1\"\non_failure = \"skip\"\n";
    assert!(gatehouse_plugin_host::Manifest::from_toml(claims).is_ok());
    let refused = gatehouse_plugin_host::Manifest::from_toml(&claims.replace("\"skip\"", "\"skip-unsafe\""));
    assert!(matches!(&refused, Err(LoadError::Manifest(m)) if m.contains("denies nothing")), "{refused:?}");

    // A manifest built in code is checked at install too.
    let host = host();
    let mut m = manifest("looper", "consent-policy", "1.0.0", "");
    m.on_failure = gatehouse_plugin_host::OnFailure::Skip;
    let refused = host.install(m, component("testing-endless-loop"), true).await;
    assert!(matches!(&refused, Err(LoadError::Manifest(m)) if m.contains("skip-unsafe")), "{refused:?}");
}

const ROUTES: &str = r#"
[config.routes."partner.example"]
url = "https://login.partner.example/authorize?login_hint={login_hint}&state={state}"
acr = "urn:partner:sso"
"#;

/// A login that should have gone through the partner's IdP but did not: the router denies it.
fn a_login_the_router_denies() -> gatehouse_protocol::plugins::HookQuery {
    let parked = object(json!({"idp_router": {"domain": "partner.example", "status": "redirected"}}));
    let mut query = hook_query(Some("alice@partner.example"), parked);
    query.sub = Some("alice".into());
    query.acr = Some("urn:password".into());
    query
}

/// Starts `n` calls to the endless loop and waits until `in_use` slots are held.
async fn flood(host: &PluginHost, n: usize, in_use: u32) -> Vec<tokio::task::JoinHandle<()>> {
    let calls = (0..n)
        .map(|_| {
            let policy = host.policies().consent.unwrap();
            tokio::spawn(async move {
                let _ = policy.decide(&consent_query("rp", None, &["openid"])).await;
            })
        })
        .collect();
    let waited = Instant::now();
    while host.instance_slots().in_use < in_use {
        assert!(waited.elapsed() < Duration::from_secs(30), "the flood never held {in_use} slots");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    calls
}

const LOOPER: &str = "[limits]\ntime_ms = 3000\nprepared_instances = 0\nreserved_instances = 0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_denies_still_denies_when_no_instance_is_free() {
    let host = PluginHost::new(&RuntimeSettings { cache_dir: None, max_instances: 3 }).unwrap();
    host.install(manifest("looper", "consent-policy", "1.0.0", LOOPER), component("testing-endless-loop"), true)
        .await
        .unwrap();
    // Even a hook whose operator lets it be skipped when it fails is not skipped for want of an
    // instance: the login stops with temporarily_unavailable instead of going on unchecked.
    let router = format!(
        "on_failure = \"skip-unsafe\"\n{ROUTES}[limits]\ntime_ms = 200\nprepared_instances = 0\nreserved_instances = 0\n"
    );
    host.install(manifest("idp-router", "login-hooks", "1.0.0", &router), component("idp-router"), true).await.unwrap();
    let hooks = host.policies().hooks.unwrap();

    let calls = flood(&host, 3, 3).await;
    match hooks.run(HookStage::Authenticated, &a_login_the_router_denies()).await {
        Err(PluginFailure { plugin, error: Some(e) }) => {
            assert_eq!((plugin.as_str(), e.code), ("idp-router", ErrorCode::TemporarilyUnavailable));
        }
        other => panic!("expected temporarily_unavailable, got {other:?}"),
    }
    let router = host.metrics().into_iter().find(|m| m.name == "idp-router").unwrap();
    assert_eq!((router.no_free_instance, router.host_failures, router.timeouts), (1, 0, 0));

    for call in calls {
        call.await.unwrap();
    }
    match hooks.run(HookStage::Authenticated, &a_login_the_router_denies()).await.unwrap().action {
        HookAction::Deny(e) => assert_eq!(e.code, ErrorCode::AccessDenied),
        other => panic!("expected a denial once slots are free, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_plugins_flood_cannot_take_anothers_reserved_instance() {
    let host = PluginHost::new(&RuntimeSettings { cache_dir: None, max_instances: 3 }).unwrap();
    host.install(manifest("looper", "consent-policy", "1.0.0", LOOPER), component("testing-endless-loop"), true)
        .await
        .unwrap();
    // The router keeps the default reservation of one instance, and prepares none.
    let router = format!("{ROUTES}[limits]\nprepared_instances = 0\n");
    host.install(manifest("idp-router", "login-hooks", "1.0.0", &router), component("idp-router"), true).await.unwrap();
    assert_eq!(host.instance_slots().reserved, 1);

    // Four looping calls for the two shared slots: two run, two find no slot.
    let calls = flood(&host, 4, 2).await;
    let hooks = host.policies().hooks.unwrap();
    for _ in 0..3 {
        match hooks.run(HookStage::Authenticated, &a_login_the_router_denies()).await.unwrap().action {
            HookAction::Deny(e) => assert_eq!(e.code, ErrorCode::AccessDenied),
            other => panic!("expected the router's denial, got {other:?}"),
        }
    }
    for call in calls {
        call.await.unwrap();
    }
    let looper = host.metrics().into_iter().find(|m| m.name == "looper").unwrap();
    assert_eq!((looper.timeouts, looper.no_free_instance), (2, 2));
}

/// Runs the hooks for one stage of login `sid` and returns what the remembering hook saw.
async fn remembered(host: &PluginHost, stage: HookStage, sid: &str) -> serde_json::Value {
    let mut query = hook_query(None, Default::default());
    query.session_id = sid.into();
    let outcome = host.policies().hooks.unwrap().run(stage, &query).await.expect("the hook answers");
    outcome.data.expect("the hook writes data")["seen"].clone()
}

async fn login_instances(host: &PluginHost, version: &str) -> usize {
    let status = host.list().await.into_iter().find(|p| p.name == "remember").expect("installed");
    status.versions.iter().find(|v| v.version == version).expect("the version").login_instances
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_instance_per_login_each_login_keeps_its_own_instance_through_its_stages() {
    let host = host();
    // By default every call is fresh: the plugin remembers only the call itself.
    host.install(manifest("remember", "login-hooks", "1.0.0", ""), component("testing-remember"), true).await.unwrap();
    for _ in 0..2 {
        assert_eq!(remembered(&host, HookStage::Started, "alice").await, json!(["alice"]));
    }

    let per_login = manifest("remember", "login-hooks", "2.0.0", "instance_per_login = true\n");
    host.install(per_login, component("testing-remember"), true).await.unwrap();
    // Two logins interleaved: each instance remembers its own login, and only that.
    assert_eq!(remembered(&host, HookStage::Started, "alice").await, json!(["alice"]));
    assert_eq!(remembered(&host, HookStage::Started, "bob").await, json!(["bob"]));
    assert_eq!(remembered(&host, HookStage::Authenticated, "alice").await, json!(["alice", "alice"]));
    assert_eq!(remembered(&host, HookStage::Authenticated, "bob").await, json!(["bob", "bob"]));
    assert_eq!(login_instances(&host, "2.0.0").await, 2);

    // The last stage lets the login's instance go; a login with the same id later starts fresh.
    assert_eq!(remembered(&host, HookStage::BeforeResponse, "alice").await, json!(["alice", "alice", "alice"]));
    assert_eq!(login_instances(&host, "2.0.0").await, 1);
    assert_eq!(remembered(&host, HookStage::Started, "alice").await, json!(["alice"]));

    // A version that stops serving drops what its logins kept.
    host.activate("remember", "1.0.0").await.unwrap();
    assert_eq!(login_instances(&host, "2.0.0").await, 0);

    // Only login hooks run within one login, and reuse is another mode.
    for (kind, extra) in [("consent-policy", ""), ("login-hooks", "reuse_instances = true\n")] {
        let text = format!("name = \"x\"\nkind = \"{kind}\"\nversion = \"1\"\ninstance_per_login = true\n{extra}");
        assert!(matches!(gatehouse_plugin_host::Manifest::from_toml(&text), Err(LoadError::Manifest(_))), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_login_hook_admits_only_the_listed_domains_in_each_instance_mode() {
    let host = host();
    for (version, extra) in [("1", false), ("2", true)] {
        let mut m = guest_manifest("python/allowed-domains", version);
        m.instance_per_login = extra;
        host.install(m, guest_component("python/allowed-domains"), true).await.expect("the Python hook loads");
        let hooks = host.policies().hooks.unwrap();
        let mut query = hook_query(Some("mallory@elsewhere.example"), Default::default());
        query.session_id = format!("refused-{version}");
        match hooks.run(HookStage::Started, &query).await.unwrap().action {
            HookAction::Deny(e) => assert_eq!(e.code, ErrorCode::AccessDenied),
            other => panic!("expected a denial, got {other:?}"),
        }
        let mut query = hook_query(Some("alice@wonderland.example"), Default::default());
        query.session_id = format!("admitted-{version}");
        assert_eq!(hooks.run(HookStage::Started, &query).await.unwrap().action, HookAction::Continue);
        query.sub = Some("alice@wonderland.example".into());
        let outcome = hooks.run(HookStage::Authenticated, &query).await.unwrap();
        assert_eq!(outcome.action, HookAction::Continue);
        assert_eq!(outcome.data.unwrap()["allowed_domain"], "wonderland.example");
    }
}
