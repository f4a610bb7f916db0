//! A real browser: Debian's headless Chromium, driven by playwright-core
//! (`tests/browser/demo.mjs`), clicks through the demo as `scripts/run.sh` runs it — the demo
//! RP, the provider, the example login front-end and the example plugins — and saves a
//! screenshot of every step in `target/browser-screenshots/` (or `$GATEHOUSE_SCREENSHOTS`).
//! A missing Chromium fails the test: `scripts/setup.sh --test` installs it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use gatehouse_login_frontend::PASSWORD_ACR;
use serde_json::Value;
use url::Url;

use crate::support::stack::stack_with_example_plugins;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The folder holding playwright-core (`scripts/browser-deps.sh` installs it if missing).
fn browser_deps() -> PathBuf {
    let output = Command::new(Path::new(ROOT).join("scripts/browser-deps.sh")).output().expect("browser-deps.sh runs");
    assert!(output.status.success(), "the browser test cannot run:\n{}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
}

fn screenshots_dir() -> PathBuf {
    match std::env::var_os("GATEHOUSE_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(ROOT).join("target/browser-screenshots"),
    }
}

/// The requests (`"METHOD URL"`) the browser made, as URLs.
fn visited(run: &Value) -> Vec<(String, Url)> {
    let requests = run.as_array().unwrap_or_else(|| panic!("a list of requests: {run}"));
    requests
        .iter()
        .map(|r| {
            let (method, url) = r.as_str().unwrap().split_once(' ').unwrap();
            (method.to_owned(), Url::parse(url).unwrap())
        })
        .collect()
}

fn at(url: &Url, base: &Url, path: &str) -> bool {
    url.origin() == base.origin() && url.path() == path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_signs_in_to_the_demo_app_in_chromium_then_single_sign_on_skips_the_forms() {
    let stack = stack_with_example_plugins().await;
    let provider = Url::parse(&stack.server.base).unwrap();
    let directory = stack.directory.clone().expect("the demo directory runs");
    let deps = tokio::task::spawn_blocking(browser_deps).await.unwrap();
    let screenshots = screenshots_dir();
    let chromium = std::env::var("GATEHOUSE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());

    let child = tokio::process::Command::new("node")
        .arg(Path::new(ROOT).join("tests/browser/demo.mjs"))
        .env("BROWSER_DEPS", &deps)
        .env("CHROMIUM", &chromium)
        .env("DEMO_RP", stack.rp.as_str())
        .env("DEMO_FRONTEND", stack.frontend.as_str())
        .env("SCREENSHOTS", &screenshots)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (scripts/setup.sh --test installs Node.js)");
    let output = tokio::time::timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .expect("the browser run ends within 90 s")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser run failed (screenshots in {}):\n{stderr}", screenshots.display());
    // Straight to stderr, past the test harness's capture: where to look.
    let _ = writeln!(std::io::stderr(), "browser test: screenshots in {}", screenshots.display());
    let run: Value = serde_json::from_slice(&output.stdout).expect("the browser run prints JSON");

    // Every step left a screenshot.
    let steps = run["steps"].as_array().unwrap();
    assert!(steps.len() >= 9, "{steps:?}");
    for step in steps {
        let file = Path::new(step["file"].as_str().unwrap());
        assert!(std::fs::metadata(file).map(|m| m.len() > 1000).unwrap_or(false), "{}", file.display());
    }

    // The RP's sign-in link went through the provider's authorization endpoint to the form.
    let to_login = visited(&run["to_login"]);
    assert!(to_login.iter().any(|(_, u)| at(u, &provider, "/authorize")), "{to_login:?}");
    assert!(at(&to_login.last().unwrap().1, &stack.frontend, "/login"));

    let consent = run["consent"]["text"].as_str().unwrap();
    assert!(consent.contains("Signed in as alice"), "{consent}");
    assert!(consent.contains("Gatehouse demo RP"), "the consent page names the client: {consent}");

    // Back at the RP: the claims from the login front-end's users file, and those the
    // user-directory plugin added from the demo directory.
    let first = &run["first"];
    assert_eq!(first["verified"], true, "the RP verified the ID token");
    assert_eq!(first["heading"], "Hello, Alice Liddell");
    let userinfo = &first["userinfo"];
    assert_eq!(userinfo["sub"], "alice");
    assert_eq!(userinfo["name"], "Alice Liddell");
    assert_eq!(userinfo["email"], "alice@example.com");
    assert_eq!(userinfo["email_verified"], true);
    let records = std::fs::read_to_string(Path::new(ROOT).join("examples/demo-directory/users.json")).unwrap();
    let record = &serde_json::from_str::<Value>(&records).unwrap()["alice"];
    for claim in ["nickname", "birthdate", "website"] {
        assert_eq!(userinfo[claim], record[claim], "{claim} comes from the claims plugin: {userinfo}");
    }
    assert_eq!(first["id_token"]["sub"], "alice");
    assert_eq!(first["id_token"]["acr"], PASSWORD_ACR);

    // Single sign-on: no login form, and the consent (not remembered) lasts for the single
    // sign-on session, so the front-end only passes the browser on.
    let sso = &run["sso"];
    assert_eq!(sso["login_form"], false);
    let requests = visited(&sso["visited"]);
    assert!(requests.iter().all(|(m, _)| m == "GET"), "no form was submitted: {requests:?}");
    assert!(at(&requests.last().unwrap().1, &stack.rp, "/callback"));
    assert_eq!(sso["signed_in"]["userinfo"]["sub"], "alice");

    // And again, the same.
    let remembered = &run["remembered"];
    let requests = visited(&remembered["visited"]);
    assert!(requests.iter().all(|(m, _)| m == "GET"), "no form was submitted: {requests:?}");
    assert!(at(&requests.last().unwrap().1, &stack.rp, "/callback"));
    assert_eq!(remembered["signed_in"]["userinfo"]["nickname"], record["nickname"]);

    // RP-initiated logout: confirmed on the front-end's page, the demo app's front-channel
    // logout URI loaded (with the session's sid) before the browser went back to the app with
    // its state, and the single sign-on session ended.
    let logout = &run["logout"];
    let confirm = logout["confirm"].as_str().unwrap();
    assert!(confirm.contains("Gatehouse demo RP asks to sign you out"), "{confirm}");
    let logged_out = logout["logged_out"].as_str().unwrap();
    assert!(logged_out.contains("came back with this app's state"), "{logged_out}");
    let sid = first["id_token"]["sid"].as_str().expect("the ID token's sid");
    assert!(logged_out.contains(&format!("session {sid} ended")), "front-channel logout: {logged_out}");
    assert_eq!(logout["login_form_again"], true, "no single sign-on after the logout");

    // The idp-router login hook routes a partner.example address to the partner's IdP.
    let hook = &run["hook"];
    assert!(hook["text"].as_str().unwrap().contains("Sign in elsewhere"), "{hook}");
    let redirect = Url::parse(hook["redirect"].as_str().expect("a link to the partner's IdP")).unwrap();
    assert!(at(&redirect, &directory, "/partner-idp"), "{redirect}");
    assert!(redirect.query_pairs().any(|(k, v)| k == "login_hint" && v == "alice@partner.example"));
    assert!(hook["landed"]["text"].as_str().unwrap().contains("partner.example sign-in"), "{hook}");
}
