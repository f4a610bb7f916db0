//! Gatehouse's JWE module against an independent implementation: panva's `jose` for Node.js
//! (pinned by `jwe-interop/package-lock.json`, installed by `scripts/jwe-interop-deps.sh`).
//! For every `alg` × `enc` pair, and every curve for ECDH, jose generates the key and encrypts
//! a token that Gatehouse must decrypt, and Gatehouse encrypts a token that jose must decrypt.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gatehouse_protocol::jwe::{self, Enc, KeyAlg, Params};
use gatehouse_protocol::world::SystemRandom;
use jose_jwk::Jwk;
use serde_json::{Value, json};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The folder holding jose's node_modules (the script installs it when missing).
fn node_dir() -> PathBuf {
    let output =
        Command::new(Path::new(ROOT).join("scripts/jwe-interop-deps.sh")).output().expect("the deps script runs");
    assert!(output.status.success(), "jwe-interop-deps.sh failed: {}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// Runs one command of `jwe-interop/interop.mjs` with `input` on its standard input.
fn jose(dir: &Path, command: &str, input: &Value) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jwe-interop/interop.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .arg(dir)
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

fn is_ecdh(alg: KeyAlg) -> bool {
    matches!(alg, KeyAlg::EcdhEs | KeyAlg::EcdhEsA128Kw | KeyAlg::EcdhEsA192Kw | KeyAlg::EcdhEsA256Kw)
}

/// A JWK as jose exports it, read by jose-jwk (whose `alg` knows only signing algorithms).
fn private_jwk(jwk: &Value) -> Jwk {
    let mut jwk = jwk.as_object().unwrap().clone();
    jwk.remove("alg");
    serde_json::from_value(Value::Object(jwk)).unwrap()
}

/// The key Gatehouse encrypts to: for the asymmetric algorithms, the public half chosen from a
/// JWK set by `recipient_key`, as for a client's `jwks`.
fn recipient(jwk: &Value, alg: KeyAlg) -> Jwk {
    if alg.is_symmetric() {
        return private_jwk(jwk);
    }
    let mut public = jwk.as_object().unwrap().clone();
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        public.remove(private);
    }
    public.insert("use".into(), json!("enc"));
    jwe::recipient_key(&json!({"keys": [public]}), alg).expect("recipient_key picks the key jose made")
}

#[test]
fn jwe_tokens_round_trip_between_gatehouse_and_panva_jose() {
    let dir = node_dir();
    let mut cases = Vec::new();
    for alg in KeyAlg::ALL {
        for enc in Enc::ALL {
            let curves: &[&str] = if is_ecdh(alg) { &["P-256", "P-384", "P-521", "X25519"] } else { &[""] };
            for crv in curves {
                let mut case = json!({"alg": alg, "enc": enc});
                if !crv.is_empty() {
                    case["crv"] = json!(crv);
                }
                cases.push(case);
            }
        }
    }
    let made = jose(&dir, "make", &Value::Array(cases));

    // jose → Gatehouse.
    let mut ours = Vec::new();
    for case in &made {
        let alg = KeyAlg::from_name(case["alg"].as_str().unwrap()).unwrap();
        let enc = Enc::from_name(case["enc"].as_str().unwrap()).unwrap();
        let name = format!("{alg} {enc} {}", case["crv"].as_str().unwrap_or_default());
        let key = private_jwk(&case["jwk"]);
        let token = case["token"].as_str().unwrap();
        let opened = jwe::decrypt(token, |header| {
            assert_eq!((header.alg, header.enc), (alg, enc), "{name}");
            Some(key.clone())
        })
        .unwrap_or_else(|e| panic!("{name}: Gatehouse cannot open jose's token: {e}"));
        assert_eq!(String::from_utf8(opened.plaintext).unwrap(), format!("made by jose for {alg} {enc} ✓"), "{name}");
        assert_eq!(opened.header.cty.as_deref(), Some("JWT"), "{name}");
        assert_eq!(opened.header.kid, case["jwk"]["kid"].as_str().map(str::to_owned), "{name}");
        if is_ecdh(alg) {
            assert_eq!(opened.header.apu.as_deref().map(|b| &b[..]), Some(&b"jose"[..]), "{name}");
        }

        // Gatehouse → jose, to the same key.
        let plaintext = format!("made by Gatehouse for {name} ✓");
        let params = Params { cty: Some("JWT"), apu: Some(b"Gatehouse"), apv: Some(b"jose"), ..Params::new(alg, enc) };
        let token = jwe::encrypt(&recipient(&case["jwk"], alg), &params, plaintext.as_bytes(), &SystemRandom).unwrap();
        ours.push(
            json!({"alg": alg, "enc": enc, "jwk": case["jwk"], "token": token, "name": name, "plaintext": plaintext}),
        );
    }
    let opened = jose(&dir, "open", &Value::Array(ours.clone()));
    assert_eq!(opened.len(), ours.len());
    for (case, opened) in ours.iter().zip(&opened) {
        let name = case["name"].as_str().unwrap();
        assert_eq!(opened["error"], Value::Null, "{name}: jose cannot open Gatehouse's token");
        assert_eq!(opened["plaintext"], case["plaintext"], "{name}");
        assert_eq!(opened["header"]["cty"], "JWT", "{name}");
        assert_eq!((&opened["header"]["alg"], &opened["header"]["enc"]), (&case["alg"], &case["enc"]), "{name}");
    }
    // Every pair was tried: 2 RSA algorithms, 4 ECDH ones on 4 curves, 4 symmetric ones.
    assert_eq!(ours.len(), (2 + 4 * 4 + 4) * Enc::ALL.len());
}
