//! The `gatehouse` command as an operator meets it: zero-config start, environment overrides,
//! and configuration mistakes stopping start-up with a message that says how to fix them.
//! These tests live beside the binary because Cargo exposes a binary only to its own
//! package's tests.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn serve_without_configuration_runs_a_provider_and_keeps_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let jwks = |issuer: &str| -> String {
        let mut child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .env("GATEHOUSE_ISSUER", issuer)
            .env("GATEHOUSE_BENCH_CACHE", "/unrelated/variable/is/ignored")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let body = loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                write!(s, "GET /jwks.json HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
                let mut out = String::new();
                std::io::Read::read_to_string(&mut s, &mut out).unwrap();
                break out;
            }
            assert!(Instant::now() < deadline, "the server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        };
        child.kill().unwrap();
        let output = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(
            !log.contains(std::fs::read_to_string(dir.path().join("data/admin-api.token")).unwrap().trim()),
            "tokens never reach the log"
        );
        body.split("\r\n\r\n").nth(1).unwrap().to_owned()
    };
    let first = jwks(&issuer);
    assert!(first.contains("\"keys\""), "{first}");
    assert!(dir.path().join("data/gatehouse.db").exists(), "SQLite in ./data");
    assert!(dir.path().join("data/master.key").exists());
    let second = jwks(&issuer);
    assert_eq!(first, second, "keys are kept across restarts");
}

fn check(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN).arg("check-config").arg("--config").arg(&path).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn configuration_mistakes_stop_start_up_with_a_fix_it_message() {
    assert!(check("issuer = \"https://id.example.com\"\n").0);
    let (ok, msg) = check("issuer = \"https://id.example.com\"\n[lifetimes]\naccess_tokn = \"5m\"\n");
    assert!(!ok);
    assert!(msg.contains("access_tokn") && msg.contains("docs/configuration.md"), "{msg}");
    let (ok, msg) = check("issuer = \"http://id.example.com\"\n");
    assert!(!ok && msg.contains("must use https"), "{msg}");
    let (ok, msg) = check("[signing]\nid_token_alg = \"HS256\"\n");
    assert!(!ok && msg.contains("id_token_alg"), "{msg}");

    let out = Command::new(BIN).args(["serve", "--config", "/no/such/file.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn environment_overrides_reach_nested_keys() {
    let out = Command::new(BIN)
        .arg("check-config")
        .env("GATEHOUSE_FRONTEND__LOGIN_URL", "not a url")
        .env("GATEHOUSE_BENCH_CACHE", "/unrelated/variable/is/ignored")
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && msg.contains("frontend.login_url"), "{msg}");
}

#[test]
fn hash_token_prints_the_configured_form() {
    let mut child = Command::new(BIN).arg("hash-token").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
