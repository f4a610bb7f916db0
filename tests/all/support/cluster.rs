//! Gatehouse hosts as separate `gatehouse` processes on one PostgreSQL database, for the
//! cluster tests: started from a configuration file as an operator would, ready when
//! `/monitor/v1/readiness` says so, killed with SIGKILL and started again.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_protocol::world::ShiftedClock;

use super::{LOGIN_URL, TestServer, http_client};

/// The `gatehouse` binary Cargo built beside this test binary (`cargo test --workspace`
/// builds it for the server's own CLI tests).
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let binary = dir.join("gatehouse");
    assert!(
        binary.exists(),
        "{} is missing: run the suite with scripts/test.sh (cargo test --workspace builds it)",
        binary.display()
    );
    binary
}

/// One host process. Its `server` has the usual helpers (admin API, sessions); it is not
/// in-process, so its clock does not move.
pub struct Host {
    pub server: TestServer,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Host {
    /// Starts a host with `extra` configuration; the first of a cluster names no issuer (its
    /// own URL becomes the issuer), the others take the first's. It reads the change feed
    /// every second, and with `notify` also hears of changes by PostgreSQL's `NOTIFY`.
    pub async fn start(issuer: Option<&str>, notify: bool, extra: &str) -> Host {
        let tmp = Arc::new(tempfile::tempdir().expect("temp dir"));
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}");
        let server = TestServer {
            issuer: issuer.map(str::to_owned).unwrap_or_else(|| base.clone()),
            base,
            port,
            data_dir: tmp.path().to_path_buf(),
            clock: ShiftedClock::new(),
            http: http_client(),
            login_url: LOGIN_URL.to_owned(),
            http_extra: String::new(),
            extra: format!("[cluster]\nhost_name = \"host-{port}\"\nnotify = {notify}\n{extra}"),
            _tmp: tmp.clone(),
            shutdown: None,
            task: None,
        };
        let config = tmp.path().join("gatehouse.toml");
        std::fs::write(&config, server.config_toml()).unwrap();
        let log = tmp.path().join("host.log");
        let mut host = Host { server, config, log, child: None };
        host.launch().await;
        host
    }

    /// This host's name in per-host reports.
    pub fn name(&self) -> String {
        format!("host-{}", self.server.port)
    }

    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("gatehouse starts");
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(90)).await;
    }

    /// Waits until the host says it is ready.
    pub async fn wait_ready(&mut self, limit: Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("host {} exited with {status} while starting:\n{}", self.name(), self.log_text());
            }
            let ready = self.server.http.get(self.server.url("/monitor/v1/readiness")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(started.elapsed() < limit, "host {} not ready after {limit:?}:\n{}", self.name(), self.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the host logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, nothing flushed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process (SIGTERM, as an orchestrator does) and waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let started = Instant::now();
            while child.try_wait().unwrap().is_none() {
                if started.elapsed() > Duration::from_secs(20) {
                    let _ = child.kill();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Starts the process again on the same port, data folder and configuration.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}
