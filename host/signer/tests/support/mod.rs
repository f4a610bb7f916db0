//! Helpers of the PKCS#11 tests: the SoftHSM fixture (`gatehouse_signer::softhsm`), an
//! independent verifier (RustCrypto), signing under load, and fault injection.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use gatehouse_protocol::jose;
use gatehouse_protocol::signer::{Alg, SignError, Signer};
use gatehouse_protocol::world::UnixTime;
use gatehouse_signer::pkcs11::Pkcs11Signer;
use gatehouse_signer::pkcs11::admin::KeyKind;
use gatehouse_signer::softhsm;
pub use gatehouse_signer::softhsm::{MODULE, TestToken};
use serde_json::json;

pub const DAY: i64 = 86_400;

/// Logs to the test output when `RUST_LOG` asks for it.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A fresh SoftHSM token for one test.
pub fn token(name: &str) -> TestToken {
    logs();
    softhsm::token(name)
}

pub fn now() -> UnixTime {
    gatehouse_protocol::world::Clock::now(&gatehouse_protocol::world::SystemClock)
}

/// Verifies a compact JWS against a JWK set with RustCrypto (`p256`, `p384`, `rsa`): a
/// second implementation beside the aws-lc-rs verifier the protocol uses.
pub fn verify_independently(jwks: &jose_jwk::JwkSet, token: &str) -> Result<serde_json::Value, String> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string());
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS".into());
    };
    let header: serde_json::Value = serde_json::from_slice(&b64(header)?).map_err(|e| e.to_string())?;
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let alg = header["alg"].as_str().ok_or("no alg")?;
    let jwk = jwks
        .keys
        .iter()
        .find(|k| k.prm.kid.as_deref() == Some(kid))
        .ok_or_else(|| format!("kid {kid} not published"))?;
    let input = &token.as_bytes()[..header_len(token)];
    let signature = b64(signature)?;
    verify_raw(&jwk.key, alg, input, &signature)?;
    serde_json::from_slice(&b64(payload)?).map_err(|e| e.to_string())
}

fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

/// Checks a JWS-form signature (raw `r ‖ s` for ECDSA) with RustCrypto.
pub fn verify_raw(key: &jose_jwk::Key, alg: &str, input: &[u8], signature: &[u8]) -> Result<(), String> {
    use jose_jwk::Key;
    use p256::ecdsa::signature::Verifier;
    let err = |e: &dyn std::fmt::Display| e.to_string();
    match (key, alg) {
        (Key::Ec(ec), "ES256") => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&[&[4u8][..], &ec.x, &ec.y].concat())
                .map_err(|e| err(&e))?;
            let sig = p256::ecdsa::Signature::from_slice(signature).map_err(|e| err(&e))?;
            key.verify(input, &sig).map_err(|e| err(&e))
        }
        (Key::Ec(ec), "ES384") => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&[&[4u8][..], &ec.x, &ec.y].concat())
                .map_err(|e| err(&e))?;
            let sig = p384::ecdsa::Signature::from_slice(signature).map_err(|e| err(&e))?;
            key.verify(input, &sig).map_err(|e| err(&e))
        }
        (Key::Rsa(public), "RS256" | "PS256") => {
            let key =
                rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&public.n), rsa::BigUint::from_bytes_be(&public.e))
                    .map_err(|e| err(&e))?;
            if alg == "RS256" {
                let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|e| err(&e))?;
                rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(key).verify(input, &sig).map_err(|e| err(&e))
            } else {
                let sig = rsa::pss::Signature::try_from(signature).map_err(|e| err(&e))?;
                rsa::pss::VerifyingKey::<rsa::sha2::Sha256>::new(key).verify(input, &sig).map_err(|e| err(&e))
            }
        }
        _ => Err(format!("{alg} does not fit the key")),
    }
}

/// Checks that a JWK's `x5c` certificate certifies the JWK's key, carries the right
/// `x5t#S256`, and is correctly self-signed (DER ECDSA or PKCS#1 v1.5, checked with RustCrypto).
pub fn check_certificate(jwk: &jose_jwk::Jwk) -> Result<(), String> {
    use p256::ecdsa::signature::Verifier;
    use sha2::Digest;
    let x5c = jwk.prm.x5c.as_ref().ok_or("no x5c")?;
    let der: &[u8] = x5c.first().ok_or("empty x5c")?;
    let thumbprint = jwk.prm.x5t.s256.as_ref().ok_or("no x5t#S256")?;
    if thumbprint[..] != sha2::Sha256::digest(der)[..] {
        return Err("x5t#S256 is not the certificate's SHA-256".into());
    }
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let tbs = cert.tbs_certificate.as_ref();
    let signature = cert.signature_value.data.as_ref();
    let err = |e: &dyn std::fmt::Display| e.to_string();
    match &jwk.key {
        jose_jwk::Key::Ec(ec) if ec.x.len() == 32 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&[&[4u8][..], &ec.x, &ec.y].concat())
                .map_err(|e| err(&e))?;
            key.verify(tbs, &p256::ecdsa::Signature::from_der(signature).map_err(|e| err(&e))?).map_err(|e| err(&e))
        }
        jose_jwk::Key::Ec(ec) => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&[&[4u8][..], &ec.x, &ec.y].concat())
                .map_err(|e| err(&e))?;
            key.verify(tbs, &p384::ecdsa::Signature::from_der(signature).map_err(|e| err(&e))?).map_err(|e| err(&e))
        }
        jose_jwk::Key::Rsa(_) => verify_raw(&jwk.key, "RS256", tbs, signature),
        _ => Err("unexpected key type".into()),
    }
}

/// Signs a token at `at` and checks it with both verifiers against the JWK set of `at`.
pub async fn signed(signer: &Pkcs11Signer, alg: Alg, at: UnixTime) -> Result<String, SignError> {
    let token = jose::sign(signer, alg, None, &json!({"sub": "alice", "alg": alg.as_str()}), at).await?;
    let jwks = signer.jwks(at);
    let claims = verify_independently(&jwks, &token)
        .unwrap_or_else(|e| panic!("{alg} token fails the independent verifier: {e}"));
    assert_eq!(claims["sub"], "alice");
    jose::verify::<serde_json::Value>(&token, |kid, _| signer.verification_key(kid?, at))
        .unwrap_or_else(|e| panic!("{alg} token fails the protocol verifier: {e}"));
    Ok(token)
}

pub fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The module and the slot of a token, opened a second time in this process: the fault
/// injector's way in.
pub fn intruder(label: &str) -> (Pkcs11, cryptoki::slot::Slot) {
    let pkcs11 = Pkcs11::new(MODULE).unwrap();
    let _ = pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = pkcs11
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| pkcs11.get_token_info(*s).unwrap().label() == label)
        .unwrap();
    (pkcs11, slot)
}

/// Signs from `tasks` concurrent tasks until `stop`, checking every token that comes back.
/// Returns (successes, failures).
pub fn load(
    signer: &Arc<Pkcs11Signer>,
    tasks: usize,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(u64, u64)>> {
    (0..tasks)
        .map(|i| {
            let signer = signer.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0, 0);
                let alg = if i % 2 == 0 { Alg::ES256 } else { Alg::RS256 };
                while !stop.load(Ordering::Relaxed) {
                    let now = now();
                    let attempt = tokio::time::timeout(Duration::from_secs(10), signed(&signer, alg, now)).await;
                    match attempt.expect("a signing request hung during a fault") {
                        Ok(_) => ok += 1,
                        Err(SignError::Device(_) | SignError::UnknownKey(_)) => failed += 1,
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                (ok, failed)
            })
        })
        .collect()
}

/// Runs `fault` under signing load and checks that signing recovers by itself. The fault
/// strikes between two calls into the module (PKCS#11 leaves a session closed under a running
/// call undefined, and SoftHSM crashes then); requests in flight wait for it and then meet it.
pub async fn survives(name: &str, fault: impl FnOnce(&str) + Send + 'static) {
    let token = token(name);
    let now = now();
    token.key("ec", KeyKind::P256, now.minus(days(1)), now.plus(days(30)));
    token.key("rsa", KeyKind::Rsa { bits: 2048 }, now.minus(days(1)), now.plus(days(30)));
    let signer = Arc::new(Pkcs11Signer::open(token.config.clone(), now).await.unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load(&signer, 6, stop.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let label = token.label.clone();
    signer.with_signing_paused(move || fault(&label)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (o, f) = task.await.unwrap();
        ok += o;
        failed += f;
    }
    assert!(ok > 0, "nothing was signed");
    assert!(failed > 0, "no request met the fault");
    // After the fault, every request succeeds again.
    for alg in Alg::ALL.into_iter().filter(|a| *a != Alg::ES384) {
        signed(&signer, alg, now).await.unwrap_or_else(|e| panic!("{name}: {alg} still fails after recovery: {e}"));
    }
    let metrics = signer.metrics().unwrap();
    let errors: u64 = metrics.signing.iter().map(|s| s.errors).sum();
    assert_eq!(errors, failed, "metrics count the failed requests");
    eprintln!("{name}: {ok} tokens signed, {failed} requests failed cleanly during the fault");
}

pub fn hex_bytes(id: &str) -> Vec<u8> {
    (0..id.len()).step_by(2).map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap()).collect()
}

pub fn days(n: i64) -> u64 {
    (n * DAY) as u64
}
