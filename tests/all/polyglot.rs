//! Python and JavaScript plugins through the real server, built from source by the test
//! command (`plugins/python/*`, `plugins/js/*`): claims in the ID token and UserInfo as the
//! independent RP library verifies them, a consent policy and a login hook shaping the code
//! flow, and hot swaps under load with no failed request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::plugins::{guest_manifest, guest_plugin_dir, plugins_config};
use crate::support::rp::Rp;
use crate::support::{TestServer, redirect_params};

/// A subject as a front-end would submit it, with raw attributes as session claims.
fn alice(acr: &str) -> Value {
    json!({
        "sub": "alice",
        "acr": acr,
        "claims": {
            "email": "alice@wonderland.example",
            "given_name": "Alice",
            "family_name": "Liddell",
            "uid": "aliddell"
        }
    })
}

#[tokio::test]
async fn python_and_javascript_claims_sources_fill_the_id_token_and_userinfo() {
    let dir = guest_plugin_dir(&["python/group-claims", "js/profile-claims"]);
    let server = TestServer::start_with(&plugins_config(dir.path())).await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;

    let claims = r#"{"id_token":{"groups":null,"roles":null,"name":null},"userinfo":{"groups":null,"preferred_username":null,"locale":null,"profile":null}}"#;
    let pending = rp.authorize(&["openid", "profile"], &[("claims", claims), ("claims_locales", "fr-FR de-DE")]);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, None, None).await;
    let sid = prompt["sid"].as_str().unwrap().to_owned();
    let prompt = server.submit_subject(&sid, alice("urn:gatehouse:pwd")).await;
    assert_eq!(prompt["type"], "consent", "{prompt}");
    let prompt = server.submit_consent(&sid, json!({"scope": "*"})).await;
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;

    // From the Python claims source: alice by name, and the wonderland group by her email's domain.
    assert_eq!(login.id_claims["groups"], json!(["admins", "wonderland"]), "{:?}", login.id_claims);
    assert_eq!(login.id_claims["roles"], json!(["gatehouse:admin", "tea-party:guest"]));
    assert_eq!(login.userinfo["groups"], json!(["admins", "wonderland"]));
    // From the JavaScript claims source: templates over the session claims, and the locale.
    assert_eq!(login.id_claims["name"], "Alice Liddell");
    assert_eq!(login.userinfo["preferred_username"], "aliddell");
    assert_eq!(login.userinfo["profile"], "https://people.example.com/aliddell");
    assert_eq!(login.userinfo["locale"], "fr-FR");

    let (_, metrics) = server.admin(Method::GET, "/monitor/v1/metrics", None).await;
    for plugin in ["group-claims", "profile-claims"] {
        let key = format!("plugins.calls{{plugin={plugin},kind=claims-source}}");
        assert!(metrics["counters"][&key]["count"].as_u64().unwrap() >= 2, "{key}: {metrics}");
        let traps = format!("plugins.traps{{plugin={plugin},kind=claims-source}}");
        assert_eq!(metrics["counters"][&traps]["count"].as_u64().unwrap_or(0), 0, "{metrics}");
    }
}

#[tokio::test]
async fn the_python_consent_policy_and_the_javascript_login_hook_shape_the_code_flow() {
    let dir = guest_plugin_dir(&["python/scope-tiers", "js/step-up"]);
    let server = TestServer::start_with(&plugins_config(dir.path())).await;
    let info = server.web_client(json!({"scope": "openid email profile admin payments"})).await;
    let rp = Rp::new(&server, &info).await;

    // Low-risk scopes only: the Python policy grants them without a consent screen.
    let pending = rp.authorize(&["openid", "email"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let prompt = server.submit_subject(&sid, alice("urn:gatehouse:pwd")).await;
    assert_eq!(prompt["type"], "response", "granted by the policy: {prompt}");
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    assert_eq!(login.id_claims["sub"], "alice");

    // A reserved scope this client is not listed for: denied, and the RP hears access_denied.
    // (payments is also a step-up scope, so Alice signs in with the stronger acr at once.)
    let pending = rp.authorize(&["openid", "payments"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let prompt = server.submit_subject(&sid, alice("urn:gatehouse:mfa")).await;
    let params = redirect_params(prompt["uri"].as_str().unwrap_or_else(|| panic!("{prompt}")));
    assert_eq!(params["error"], "access_denied", "{prompt}");
    assert!(params["error_description"].contains("reserved"), "{params:?}");
    assert_eq!(params["state"], *pending.state.secret());

    // A sensitive scope: the JavaScript hook asks for a stronger sign-in, then lets it through.
    let pending = rp.authorize(&["openid", "admin"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid =
        server.start_session(&query, None, Some(json!({"theme": "dark"}))).await["sid"].as_str().unwrap().to_owned();
    let prompt = server.submit_subject(&sid, alice("urn:gatehouse:pwd")).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");
    assert_eq!(prompt["required_acr"], "urn:gatehouse:mfa", "{prompt}");
    assert_eq!(prompt["data"]["step_up"]["status"], "required", "{prompt}");
    assert_eq!(prompt["data"]["theme"], "dark", "the hook keeps the front-end's data");
    let prompt = server.submit_subject(&sid, alice("urn:gatehouse:mfa")).await;
    assert_eq!(prompt["type"], "consent", "admin is asked of the user: {prompt}");
    assert_eq!(prompt["data"]["step_up"]["status"], "satisfied", "{prompt}");
    let prompt = server.submit_consent(&sid, json!({"scope": "*"})).await;
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    assert_eq!(login.id_claims["acr"], "urn:gatehouse:mfa");
}

/// Counts of the logins run by the load in the swap test.
#[derive(Default)]
struct Tally {
    done: AtomicUsize,
    failed: AtomicUsize,
    granted: AtomicUsize,
    stepped_up: AtomicUsize,
}

#[tokio::test]
async fn python_and_javascript_plugins_swap_and_load_under_load_without_a_failed_request() {
    // This server compiles for itself (no shared cache), so the loads below compile while the
    // logins go on.
    let server = Arc::new(TestServer::start().await);
    let info = server.web_client(json!({"scope": "openid email admin"})).await;
    let rp = Arc::new(Rp::new(&server, &info).await);
    let upload = |project: &'static str, version: &'static str, extra: &'static str| {
        let server = server.clone();
        async move {
            let (status, body) = server.upload_guest(&guest_manifest(project, version, extra), project).await;
            assert_eq!(status, 201, "{project} {version}: {body}");
        }
    };
    // Version 1 of each: the policy grants nothing by itself, the hook steps up `admin` only.
    upload("python/scope-tiers", "1", "[config]\nauto = []").await;
    upload("js/step-up", "1", "[config]\nacr = \"urn:gatehouse:mfa\"\nscopes = [\"admin\"]").await;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut workers = Vec::new();
    for worker in 0..3 {
        let (server, rp, stop, tally) = (server.clone(), rp.clone(), stop.clone(), tally.clone());
        workers.push(tokio::spawn(async move {
            let scopes: &[&str] = if worker == 0 { &["openid", "admin"] } else { &["openid", "email"] };
            while !stop.load(Ordering::Relaxed) {
                let pending = rp.authorize(scopes, &[]);
                let query = server.browse_authorize(&pending.url).await;
                let (status, prompt) =
                    server.api(Method::POST, "/authz-sessions/v1", Some(json!({"query": query}))).await;
                let sid = prompt["sid"].as_str().unwrap_or_default().to_owned();
                let subject = Some(json!({"sub": "alice", "acr": "urn:gatehouse:pwd"}));
                let (status2, prompt) =
                    server.api(Method::PUT, &format!("/authz-sessions/v1/{sid}/subject"), subject).await;
                let kind = prompt["type"].as_str().unwrap_or_default();
                let counter = match (status, status2, kind) {
                    (200, 200, "consent") => None,
                    (200, 200, "auth") if prompt["required_acr"] == "urn:gatehouse:mfa" => Some(&tally.stepped_up),
                    (200, 200, "response") if prompt["uri"].as_str().is_some_and(|u| u.contains("code=")) => {
                        Some(&tally.granted)
                    }
                    _ => Some(&tally.failed),
                };
                if let Some(counter) = counter {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                tally.done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tally.granted.load(Ordering::Relaxed), 0, "version 1 grants nothing by itself");

    // Loading a Python and a JavaScript plugin compiles them (seconds each): logins go on meanwhile.
    for project in ["python/group-claims", "js/profile-claims"] {
        let before = tally.done.load(Ordering::Relaxed);
        let started = Instant::now();
        upload(project, "1", "").await;
        let during = tally.done.load(Ordering::Relaxed) - before;
        let seconds = started.elapsed().as_secs_f64();
        assert!(during as f64 >= seconds * 5.0, "{during} logins in the {seconds:.1} s {project} took to load");
    }

    // Version 2 of each, swapped in under load: low-risk logins are now granted by the policy.
    upload("python/scope-tiers", "2", "[config]\nauto = [\"openid\", \"email\"]").await;
    upload("js/step-up", "2", "[config]\nacr = \"urn:gatehouse:mfa\"\nscopes = [\"admin\", \"payments\"]").await;
    let at_swap = tally.done.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }

    let total = tally.done.load(Ordering::Relaxed);
    assert_eq!(tally.failed.load(Ordering::Relaxed), 0, "no login failed ({total} logins)");
    assert!(total > at_swap, "logins went on after the swap");
    assert!(tally.granted.load(Ordering::Relaxed) > 0, "version 2 of the Python policy served");
    assert!(tally.stepped_up.load(Ordering::Relaxed) > 0, "the JavaScript hook served throughout");

    let (_, list) = server.admin(Method::GET, "/admin/v1/plugins", None).await;
    let active =
        |name: &str| list.as_array().unwrap().iter().find(|p| p["name"] == name).map(|p| p["active_version"].clone());
    assert_eq!(active("scope-tiers"), Some(json!("2")), "{list}");
    assert_eq!(active("step-up"), Some(json!("2")), "{list}");
    assert_eq!(active("group-claims"), Some(json!("1")), "{list}");
}
