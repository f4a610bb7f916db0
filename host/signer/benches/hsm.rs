//! HSM signing throughput: SoftHSM's raw signing rate through cryptoki, tokens per second
//! through the PKCS#11 backend's `Signer` (as configured by default, and with every signature
//! handed to a session thread), and the software backend, in one run.
//!
//! ```text
//! cargo bench -p gatehouse-signer --bench hsm            # BENCH_SECONDS=3 by default
//! ```
//!
//! Needs SoftHSM2 (`scripts/install-test-deps.sh`).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use gatehouse_protocol::jose;
use gatehouse_protocol::secret::{Sealer, Secret};
use gatehouse_protocol::signer::{Alg, Signer};
use gatehouse_protocol::world::{Clock, SystemClock, SystemRandom};
use gatehouse_signer::SoftwareSigner;
use gatehouse_signer::pkcs11::admin::{self, KeyKind, KeySpec};
use gatehouse_signer::pkcs11::{PinSource, Pkcs11Config, Pkcs11Signer};
use gatehouse_store::MemoryStore;
use serde_json::json;
use sha2::Digest;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const LABEL: &str = "gatehouse-bench";
const PIN: &str = "24681357";
/// Concurrent requests against each `Signer`.
const TASKS: usize = 16;
/// Each figure is the best of this many runs, alternating raw and `Signer` runs, so that
/// other load on the machine disturbs both alike.
const ROUNDS: usize = 3;

fn main() {
    let seconds = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let period = Duration::from_secs(seconds);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = softhsm(dir.path());
    if let Some(sessions) = std::env::var("BENCH_SESSIONS").ok().and_then(|s| s.parse().ok()) {
        config.sessions = sessions;
    }
    let now = SystemClock.now();
    for (label, kind) in [("bench-es256", KeyKind::P256), ("bench-rs256", KeyKind::Rsa { bits: 2048 })] {
        let spec = KeySpec {
            label: label.into(),
            kind,
            not_before: now.minus(3600),
            not_after: now.plus(86_400),
            common_name: None,
        };
        admin::generate(&config, &spec).expect("generate a key");
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(cores).enable_all().build().expect("runtime");
    let hsm = runtime.block_on(Pkcs11Signer::open(config.clone(), now)).expect("open the HSM signer");
    let queued_only = Pkcs11Config { inline_below: Duration::ZERO, ..config.clone() };
    let queued_only = runtime.block_on(Pkcs11Signer::open(queued_only, now)).expect("open the second HSM signer");
    let software = runtime.block_on(async {
        let sealer = Sealer::new(&Secret::new([7u8; 32]));
        SoftwareSigner::load_or_generate(&MemoryStore::new(), &sealer, &SystemRandom, now).await.expect("software keys")
    });
    let hsm = Arc::new(hsm);
    let inline_counter = hsm.clone();
    let hsm: Arc<dyn Signer> = hsm;
    let queued_only: Arc<dyn Signer> = Arc::new(queued_only);
    let software: Arc<dyn Signer> = Arc::new(software);

    println!(
        "HSM signing: best of {ROUNDS} runs of {seconds} s, {cores} cores, {} sessions, {TASKS} concurrent requests",
        config.sessions
    );
    let columns = ["alg", "raw, 1 thread", "raw, 1/session", "HSM Signer", "HSM/raw", "queued only", "queued/raw"];
    println!(
        "{:<6} {:>16} {:>16} {:>16} {:>8} {:>16} {:>10} {:>16}",
        columns[0], columns[1], columns[2], columns[3], columns[4], columns[5], columns[6], "software Signer"
    );
    for (alg, label) in [(Alg::ES256, "bench-es256"), (Alg::RS256, "bench-rs256")] {
        let (mut raw1, mut raw_n, mut through_hsm, mut queued, mut through_software) = Default::default();
        let inline_before = inline_counter.inline_signatures();
        for _ in 0..ROUNDS {
            raw1 = best(raw1, raw(&config, label, alg, 1, period));
            through_hsm = best(through_hsm, runtime.block_on(tokens(&hsm, alg, period)));
            raw_n = best(raw_n, raw(&config, label, alg, config.sessions, period));
            queued = best(queued, runtime.block_on(tokens(&queued_only, alg, period)));
            through_software = best(through_software, runtime.block_on(tokens(&software, alg, period)));
        }
        let inline = inline_counter.inline_signatures() - inline_before;
        let raw_best = best(raw1, raw_n);
        let pct = |r: Rate| 100.0 * r.per_second / raw_best.per_second;
        let pct_cpu = |r: Rate| 100.0 * r.per_cpu_second / raw_best.per_cpu_second;
        println!(
            "{:<6} {:>16} {:>16} {:>16} {:>7.0}% {:>16} {:>9.0}% {:>16}",
            alg.as_str(),
            raw1.show(),
            raw_n.show(),
            through_hsm.show(),
            pct(through_hsm),
            queued.show(),
            pct(queued),
            through_software.show()
        );
        println!(
            "{:<6} {:>16} {:>16} {:>16} {:>7.0}% {:>16} {:>9.0}% {:>16}",
            "",
            raw1.show_cpu(),
            raw_n.show_cpu(),
            through_hsm.show_cpu(),
            pct_cpu(through_hsm),
            queued.show_cpu(),
            pct_cpu(queued),
            through_software.show_cpu()
        );
        println!("{:<6} HSM Signer: {inline} of its tokens signed on the requester's thread", "");
    }
    println!("first line: signatures (raw) or tokens (Signer) per second; second line: per CPU-second of this process");
    println!("raw: C_Sign in a loop, one session per thread (ES256 on a SHA-256 digest, RS256 on a token-sized input)");
    println!(
        "Signer: complete JWS tokens (claims of an ID token) from {TASKS} tasks; HSM/raw against the better raw figure"
    );
    println!(
        "HSM Signer: the default (inline_below = 150 µs); queued only: inline_below = 0, every signature on a session thread"
    );
}

/// A measured rate: per second of wall time and per second of this process's CPU time. The
/// second is what other load on a shared machine disturbs least.
#[derive(Copy, Clone, Default)]
struct Rate {
    per_second: f64,
    per_cpu_second: f64,
}

impl Rate {
    fn show(self) -> String {
        format!("{:.0}/s", self.per_second)
    }

    fn show_cpu(self) -> String {
        format!("{:.0}/CPU-s", self.per_cpu_second)
    }
}

fn best(a: Rate, b: Rate) -> Rate {
    Rate { per_second: a.per_second.max(b.per_second), per_cpu_second: a.per_cpu_second.max(b.per_cpu_second) }
}

/// CPU time this process has used (user and system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name (which ends with ')') come the state, then 10 numbers, then
    // utime and stime in clock ticks of 1/100 s.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A private SoftHSM configuration with one token, set for this process.
fn softhsm(dir: &std::path::Path) -> Pkcs11Config {
    assert!(std::path::Path::new(MODULE).is_file(), "SoftHSM2 is missing: run scripts/install-test-deps.sh");
    let tokens = dir.join("tokens");
    std::fs::create_dir(&tokens).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
    )
    .expect("softhsm2.conf");
    let made = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", LABEL, "--so-pin", "13572468", "--pin", PIN])
        .output()
        .expect("softhsm2-util");
    assert!(made.status.success(), "softhsm2-util: {}", String::from_utf8_lossy(&made.stderr));
    // SAFETY: single-threaded so far; the module reads the variable when it is initialised.
    unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
    std::fs::write(dir.join("pin"), PIN).expect("pin file");
    Pkcs11Config::new(MODULE, LABEL, PinSource::File(dir.join("pin")))
}

/// Signatures made by `threads` threads calling `C_Sign` directly.
fn raw(config: &Pkcs11Config, label: &str, alg: Alg, threads: usize, period: Duration) -> Rate {
    let pkcs11 = Pkcs11::new(&config.module).expect("module");
    let _ = pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = pkcs11
        .get_slots_with_initialized_token()
        .expect("slots")
        .into_iter()
        .find(|s| pkcs11.get_token_info(*s).is_ok_and(|t| t.label() == LABEL))
        .expect("bench token");
    let input = jws_input();
    let data = if alg.is_ec() { sha2::Sha256::digest(&input).to_vec() } else { input };
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (pkcs11, data, stop, count) = (pkcs11.clone(), data.clone(), stop.clone(), count.clone());
            let label = label.to_owned();
            std::thread::spawn(move || {
                let session = pkcs11.open_ro_session(slot).expect("session");
                let _ = session.login(UserType::User, Some(&AuthPin::from(PIN)));
                let key = session
                    .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::Label(label.into_bytes())])
                    .expect("find")[0];
                let mechanism = if alg.is_ec() { Mechanism::Ecdsa } else { Mechanism::Sha256RsaPkcs };
                while !stop.load(Ordering::Relaxed) {
                    session.sign(&mechanism, key, &data).expect("C_Sign");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let rate = measure(&count, &stop, period);
    for w in workers {
        w.join().expect("raw signing thread");
    }
    rate
}

/// Tokens signed through `signer` by `TASKS` concurrent tasks.
async fn tokens(signer: &Arc<dyn Signer>, alg: Alg, period: Duration) -> Rate {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (signer, stop, count) = (signer.clone(), stop.clone(), count.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let now = SystemClock.now();
                    jose::sign(signer.as_ref(), alg, None, &claims(i), now).await.expect("sign");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let rate = tokio::task::spawn_blocking(move || measure(&count, &stop, period)).await.expect("measure");
    for t in tasks {
        t.await.expect("signing task");
    }
    rate
}

/// Lets the workers warm up for a fifth of `period`, then counts for `period`.
fn measure(count: &AtomicU64, stop: &AtomicBool, period: Duration) -> Rate {
    std::thread::sleep(period / 5);
    let (start, started, cpu) = (count.load(Ordering::Relaxed), Instant::now(), cpu_time());
    std::thread::sleep(period);
    let done = (count.load(Ordering::Relaxed) - start) as f64;
    let rate = Rate {
        per_second: done / started.elapsed().as_secs_f64(),
        per_cpu_second: done / (cpu_time() - cpu).as_secs_f64().max(0.01),
    };
    stop.store(true, Ordering::Relaxed);
    rate
}

fn claims(i: usize) -> serde_json::Value {
    json!({
        "iss": "https://id.example.com", "sub": format!("user-{i}"), "aud": "client-app",
        "iat": 1_800_000_000, "exp": 1_800_003_600, "auth_time": 1_800_000_000,
        "nonce": "n-0S6_WzA2Mj", "acr": "urn:mace:incommon:iap:silver", "amr": ["pwd"],
        "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
    })
}

/// A JWS signing input the size of an ID token's.
fn jws_input() -> Vec<u8> {
    use base64::Engine;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let header = b64(br#"{"alg":"RS256","kid":"k"}"#);
    format!("{header}.{}", b64(claims(0).to_string().as_bytes())).into_bytes()
}
