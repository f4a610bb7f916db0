//! A PostgreSQL server of a test's own (`scripts/postgres.sh`), for tests that stop it or
//! need it to speak TLS, which the suite's shared server must not.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct OwnPostgres {
    dir: tempfile::TempDir,
    /// A libpq connection string to its `postgres` database.
    pub url: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh")
}

fn run(args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new(script()).args(args).output().expect("scripts/postgres.sh runs");
    assert!(
        output.status.success(),
        "scripts/postgres.sh {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("text").trim().to_owned()
}

impl OwnPostgres {
    /// Starts a server; with `tls`, a certificate and key it also serves TLS with.
    pub fn start(tls: Option<(&Path, &Path)>) -> Self {
        let dir = tempfile::Builder::new().prefix("gatehouse-own-pg").tempdir().expect("temp dir");
        let mut args = vec![std::ffi::OsStr::new("start"), dir.path().as_os_str()];
        if let Some((cert, key)) = tls {
            args.extend([cert.as_os_str(), key.as_os_str()]);
        }
        let url = run(&args);
        Self { dir, url }
    }

    /// Stops the server, keeping its data and port.
    pub fn pause(&self) {
        run(&["pause".as_ref(), self.dir.path().as_os_str()]);
    }

    /// Starts it again after [`Self::pause`].
    pub fn resume(&self) {
        run(&["resume".as_ref(), self.dir.path().as_os_str()]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(self.dir.path()).output();
    }
}
