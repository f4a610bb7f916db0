//! A throwaway SoftHSM2 for tests (feature `test-support`): a private configuration and token
//! directory per process, and a fresh token per test.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when the module is initialised, and the module is one per
//! process, so the fixture is made once per process (the one `static` here), before any test
//! loads the module. It keeps the module loaded and initialised for the whole process:
//! PKCS#11 modules need not survive concurrent `C_Initialize` calls, nor being unloaded and
//! loaded again. SoftHSM's slot list is not safe to change while other threads use the
//! module, so every token is made up front (by `softhsm2-util`, as an operator would).
//!
//! Without SoftHSM2 (`scripts/setup.sh` installs it) the fixture panics: tests fail, they are
//! never skipped.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use gatehouse_protocol::world::UnixTime;

use crate::pkcs11::admin::{self, KeyInfo, KeyKind, KeySpec};
use crate::pkcs11::{PinSource, Pkcs11Config};

/// Debian's SoftHSM2 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of every test token.
pub const PIN: &str = "48151623";
const SO_PIN: &str = "87654321";
/// Tokens made per process; raise it when a test binary needs more.
const TOKENS: usize = 24;

struct SoftHsm {
    dir: tempfile::TempDir,
    _module: Pkcs11,
}

fn softhsm() -> &'static SoftHsm {
    static SOFTHSM: OnceLock<SoftHsm> = OnceLock::new();
    SOFTHSM.get_or_init(|| {
        assert!(
            Path::new(MODULE).is_file(),
            "SoftHSM2 is not installed ({MODULE} is missing): run scripts/setup.sh or `apt-get install softhsm2 opensc`"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        let settings =
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display());
        std::fs::write(&conf, settings).expect("softhsm2.conf");
        for index in 0..TOKENS {
            let made = Command::new("softhsm2-util")
                .env("SOFTHSM2_CONF", &conf)
                .args(["--init-token", "--free", "--label", &label(index), "--so-pin", SO_PIN, "--pin", PIN])
                .output()
                .expect("softhsm2-util runs (package softhsm2)");
            assert!(made.status.success(), "softhsm2-util --init-token: {}", String::from_utf8_lossy(&made.stderr));
        }
        // SAFETY: this runs once, before any thread of the process initialises the module (the
        // only code that reads the variable outside Rust's own lock).
        unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
        let module = Pkcs11::new(MODULE).expect("load SoftHSM");
        module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).expect("C_Initialize");
        SoftHsm { dir, _module: module }
    })
}

fn label(index: usize) -> String {
    format!("gatehouse-test-{index}")
}

/// A token for one test, with a PIN file and a backend configuration that uses it.
pub struct TestToken {
    pub label: String,
    pub pin_file: std::path::PathBuf,
    pub config: Pkcs11Config,
}

/// A fresh token no other test of this process uses; `name` says which test has it.
pub fn token(name: &str) -> TestToken {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let hsm = softhsm();
    let index = NEXT.fetch_add(1, Ordering::SeqCst);
    assert!(index < TOKENS, "more than {TOKENS} SoftHSM tokens wanted: raise TOKENS in host/signer/src/softhsm.rs");
    let label = label(index);
    let pin_file = hsm.dir.path().join(format!("{name}-{index}.pin"));
    std::fs::write(&pin_file, format!("{PIN}\n")).expect("pin file");
    let mut config = Pkcs11Config::new(MODULE, &label, PinSource::File(pin_file.clone()));
    config.sessions = 2;
    TestToken { label, pin_file, config }
}

impl TestToken {
    /// Generates a key pair with a certificate valid from `from` to `to`.
    pub fn key(&self, label: &str, kind: KeyKind, from: UnixTime, to: UnixTime) -> KeyInfo {
        let spec = KeySpec { label: label.to_owned(), kind, not_before: from, not_after: to, common_name: None };
        admin::generate(&self.config, &spec).unwrap_or_else(|e| panic!("generating {label}: {e}"))
    }
}
