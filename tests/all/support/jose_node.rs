//! The relying party's side of encryption, played by an independent JWE implementation:
//! panva's `jose` on Node.js, through the same pinned install and script as the protocol
//! crate's JWE interoperability test (`scripts/jwe-interop-deps.sh`,
//! `host/protocol/tests/jwe-interop/interop.mjs`). `jose` makes the clients' encryption key
//! pairs and opens the tokens Gatehouse encrypted to them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The folder holding jose's node_modules, installed once per test process.
fn node_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let output = Command::new(Path::new(ROOT).join("scripts/jwe-interop-deps.sh"))
            .current_dir(ROOT)
            .output()
            .expect("the deps script runs");
        assert!(output.status.success(), "jwe-interop-deps.sh failed: {}", String::from_utf8_lossy(&output.stderr));
        PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
    })
}

fn run(command: &str, input: &Value) -> Vec<Value> {
    let script = Path::new(ROOT).join("host/protocol/tests/jwe-interop/interop.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .arg(node_dir())
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/setup.sh installs it)");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "interop.mjs {command}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("interop.mjs answers a JSON list")
}

/// A private key jose generated for `alg` (and `crv` for ECDH), with `kid`.
#[derive(Clone, Debug)]
pub struct EncryptionKey {
    pub alg: String,
    pub private: Value,
}

impl EncryptionKey {
    /// The public half, as the client registers it (`use: enc`).
    pub fn public(&self) -> Value {
        let mut public = self.private.as_object().unwrap().clone();
        for private in ["d", "p", "q", "dp", "dq", "qi", "alg", "ext", "key_ops"] {
            public.remove(private);
        }
        public.insert("use".into(), json!("enc"));
        Value::Object(public)
    }
}

/// New key pairs from jose, one per `(alg, crv, kid)` (`crv` empty for RSA).
pub fn key_pairs(specs: &[(&str, &str, &str)]) -> Vec<EncryptionKey> {
    let cases: Vec<Value> = specs
        .iter()
        .map(|(alg, crv, _)| {
            let mut case = json!({"alg": alg, "enc": "A128GCM"});
            if !crv.is_empty() {
                case["crv"] = json!(crv);
            }
            case
        })
        .collect();
    run("make", &Value::Array(cases))
        .into_iter()
        .zip(specs)
        .map(|(made, (alg, _, kid))| {
            let mut private = made["jwk"].clone();
            private["kid"] = json!(kid);
            EncryptionKey { alg: alg.to_string(), private }
        })
        .collect()
}

/// The symmetric key of OpenID Connect Core §10.2 for `alg` and `enc`, derived from the client
/// secret here from the spec's words (the left-most bits of SHA-256/384/512), as an oct JWK.
pub fn secret_key(secret: &str, alg: &str, enc: &str) -> Value {
    use aws_lc_rs::digest;
    let cek_len = |enc: &str| match enc {
        "A128GCM" => 16,
        "A192GCM" => 24,
        "A256GCM" | "A128CBC-HS256" => 32,
        "A192CBC-HS384" => 48,
        "A256CBC-HS512" => 64,
        other => panic!("unknown enc {other}"),
    };
    let len = match alg {
        "A128KW" => 16,
        "A192KW" => 24,
        "A256KW" => 32,
        "dir" => cek_len(enc),
        other => panic!("{other} is not keyed with the client secret"),
    };
    let hash = match len {
        ..=32 => &digest::SHA256,
        33..=48 => &digest::SHA384,
        _ => &digest::SHA512,
    };
    let d = digest::digest(hash, secret.as_bytes());
    let k = &d.as_ref()[..len];
    json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(k)})
}

/// What jose opened: the protected header and the plaintext.
#[derive(Debug)]
pub struct Opened {
    pub header: Value,
    pub plaintext: String,
}

/// Opens each `(token, alg, enc, private JWK)` with jose, allowing only that `alg` and `enc`.
pub fn open_all(tokens: &[(&str, &str, &str, &Value)]) -> Vec<Opened> {
    let cases: Vec<Value> = tokens
        .iter()
        .map(|(token, alg, enc, jwk)| json!({"token": token, "alg": alg, "enc": enc, "jwk": jwk}))
        .collect();
    run("open", &Value::Array(cases))
        .into_iter()
        .map(|out| {
            assert!(out.get("error").is_none(), "jose could not open the token: {out}");
            Opened { header: out["header"].clone(), plaintext: out["plaintext"].as_str().unwrap().to_owned() }
        })
        .collect()
}

/// Opens one token with jose.
pub fn open(token: &str, alg: &str, enc: &str, jwk: &Value) -> Opened {
    open_all(&[(token, alg, enc, jwk)]).pop().unwrap()
}
