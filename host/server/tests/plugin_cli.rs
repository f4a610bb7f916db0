//! `gatehouse plugin` as a plugin author meets it: for each language and kind, `new` →
//! `build` → `check` → `test` with the real binary and the real toolchains (installed into the
//! cache on first use; a missing toolchain fails the run), then `install`, `list` and
//! `rollback`, `deactivate` and `activate` against a running server.
//!
//! Each language is one test, so the three run side by side while each builds its kinds one
//! after another, sharing the toolchain and compile caches (`GATEHOUSE_CACHE_DIR`, by default
//! `~/.cache/gatehouse`, which `scripts/build-plugins.sh` has filled) and, for Rust, one target
//! folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const KINDS: [(&str, &str); 3] = [("claims", "claims-source"), ("consent", "consent-policy"), ("login", "login-hooks")];

/// Runs the binary in `dir`, with `CARGO_TARGET_DIR` set when `target` is given.
fn run(dir: &Path, target: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(dir);
    if let Some(target) = target {
        command.env("CARGO_TARGET_DIR", target);
    }
    let output = command.output().expect("the gatehouse binary runs");
    eprintln!(
        "$ gatehouse {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn gatehouse(dir: &Path, args: &[&str]) -> Output {
    run(dir, None, args)
}

fn succeeds(dir: &Path, args: &[&str]) -> String {
    succeeds_with(dir, None, args)
}

fn succeeds_with(dir: &Path, target: Option<&Path>, args: &[&str]) -> String {
    let output = run(dir, target, args);
    assert!(output.status.success(), "gatehouse {} failed", args.join(" "));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Scaffolds, builds, checks and tests one plugin of each kind in `lang`; returns the
/// projects. Rust projects build in `target`.
fn every_kind(lang: &str, work: &Path, target: Option<&Path>) -> Vec<PathBuf> {
    let mut projects = Vec::new();
    for (kind, world) in KINDS {
        let name = format!("my-{lang}-{kind}");
        let created = succeeds(work, &["plugin", "new", "--lang", lang, "--kind", kind, &name]);
        assert!(created.contains(&format!("created {lang} {kind} plugin")), "{created}");
        let project = work.join(&name);
        let wasm = succeeds_with(work, target, &["plugin", "build", &name]);
        assert!(wasm.trim().ends_with(&format!("dist/{name}.wasm")), "{wasm}");
        assert!(project.join(format!("dist/{name}.toml")).is_file(), "the manifest lands beside the component");

        let report = succeeds(work, &["plugin", "check", &format!("{name}/dist/{name}.wasm"), "--json"]);
        let report: serde_json::Value = serde_json::from_str(&report).expect("a JSON report");
        assert_eq!(report["world"], world, "{report}");
        let imports: Vec<&str> = report["imports"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
        assert!(imports.contains(&"gatehouse:policy/config@0.1.0"), "{imports:?}");
        assert!(!imports.iter().any(|i| i.starts_with("wasi:sockets") || i.starts_with("wasi:http")), "{imports:?}");
        if kind == "claims" {
            assert_eq!(report["supplied_claims"], serde_json::json!(["department"]), "{report}");
        }

        let answers = succeeds(work, &["plugin", "test", &name]);
        assert!(answers.contains("2 calls, 2 as expected or unchecked, 0 not"), "{answers}");
        assert_eq!(answers.matches('✔').count(), 2, "{answers}");
        projects.push(project);
    }
    projects
}

#[test]
fn python_plugins_of_every_kind_build_check_and_pass_their_tests() {
    let work = tempfile::tempdir().unwrap();
    let projects = every_kind("python", work.path(), None);

    // A changed expectation fails `plugin test`, showing the answer.
    let calls = projects[0].join("calls.toml");
    let text = std::fs::read_to_string(&calls).unwrap().replace("\"Engineering\"", "\"Accounting\"");
    std::fs::write(&calls, text).unwrap();
    let output = gatehouse(work.path(), &["plugin", "test", "my-python-claims"]);
    assert!(!output.status.success());
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("✘ a known user gets a department"), "{shown}");
    assert!(shown.contains(r#""department":"Engineering""#), "{shown}");

    // A component checked against a manifest of another kind is refused, naming its world.
    let output = gatehouse(
        work.path(),
        &[
            "plugin",
            "check",
            "my-python-claims/dist/my-python-claims.wasm",
            "--manifest",
            "my-python-consent/manifest.toml",
        ],
    );
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("built for the claims-source world"), "{error}");
}

#[test]
fn javascript_plugins_of_every_kind_build_check_and_pass_their_tests() {
    let work = tempfile::tempdir().unwrap();
    every_kind("js", work.path(), None);
}

#[test]
fn rust_plugins_of_every_kind_build_check_pass_their_tests_and_install_in_a_server() {
    let work = tempfile::tempdir().unwrap();
    // One target folder for the three projects: the SDK and its dependencies build once.
    let target = work.path().join("target");
    let projects = every_kind("rust", work.path(), Some(&target));
    let manifest = std::fs::read_to_string(projects[1].join("Cargo.toml")).unwrap();
    assert!(manifest.contains("kit"), "outside a repository the SDK comes from the binary's kit: {manifest}");

    let server = Server::start(work.path());
    let consent = "my-rust-consent";
    let list = succeeds(work.path(), &server.args(&["plugin", "install", consent]));
    assert!(list.contains(&format!("{consent} 0.1.0 serving")), "{list}");
    let manifest = projects[1].join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("0.1.0", "0.2.0");
    std::fs::write(&manifest, text).unwrap();
    succeeds_with(work.path(), Some(&target), &["plugin", "build", consent]);
    succeeds(work.path(), &server.args(&["plugin", "install", consent]));
    let list = succeeds(work.path(), &server.args(&["plugin", "list"]));
    assert!(list.contains("consent-policy") && list.contains("0.2.0") && list.contains("0.1.0, 0.2.0"), "{list}");
    let back = succeeds(work.path(), &server.args(&["plugin", "rollback", consent]));
    assert!(back.contains("0.1.0 serving again"), "{back}");
    let list = succeeds(work.path(), &server.args(&["plugin", "list", "--json"]));
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["active_version"], "0.1.0", "{list}");
    assert!(list[0]["versions"][0]["prepared_instances"].as_u64().is_some(), "{list}");
    assert_eq!(
        list[0]["versions"][1]["prepared_instances"], 0,
        "a version that does not serve holds no instances: {list}"
    );

    // Deactivated, nothing serves; activated by version, 0.2.0 serves again.
    let off = succeeds(work.path(), &server.args(&["plugin", "deactivate", consent]));
    assert!(off.contains("no longer serving"), "{off}");
    let list = succeeds(work.path(), &server.args(&["plugin", "list", "--json"]));
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert!(list[0]["active_version"].is_null(), "{list}");
    let on = succeeds(work.path(), &server.args(&["plugin", "activate", consent, "0.2.0"]));
    assert!(on.contains("0.2.0 serving"), "{on}");
    let list = succeeds(work.path(), &server.args(&["plugin", "list", "--json"]));
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["active_version"], "0.2.0", "{list}");
    let output = gatehouse(work.path(), &server.args(&["plugin", "activate", consent, "9.9.9"]));
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("the server refused (404)"), "{output:?}");

    // Without the token the server refuses, and the command says so.
    let output =
        gatehouse(work.path(), &["plugin", "list", "--server", &server.url, "--token-file", "/nonexistent/token"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--token-file"));
}

/// A zero-setup `gatehouse serve` in a folder of its own, stopped when dropped.
struct Server {
    child: Child,
    url: String,
    token_file: String,
}

impl Server {
    fn start(work: &Path) -> Self {
        let dir = work.join("server");
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(BIN)
            .arg("serve")
            .current_dir(&dir)
            .env("GATEHOUSE_ISSUER", &url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        let token_file = dir.join("data/admin-api.token").display().to_string();
        Self { child, url, token_file }
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend(["--server", &self.url, "--token-file", &self.token_file]);
        all
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
