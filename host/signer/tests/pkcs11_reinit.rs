//! The PKCS#11 library finalised under a running signer. This touches the whole process's
//! module, so it runs in its own test binary, as one test: the steps must not overlap.

mod support;

use gatehouse_protocol::signer::{Alg, Signer};
use gatehouse_signer::pkcs11::Pkcs11Signer;
use gatehouse_signer::pkcs11::admin::KeyKind;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finalized_library_is_reinitialised_and_signing_recovers() {
    // Finalised and initialised again from the side: every session and handle is gone.
    survives("reset", |label| {
        let (pkcs11, _) = intruder(label);
        pkcs11.clone().finalize().expect("C_Finalize");
        pkcs11
            .initialize(cryptoki::context::CInitializeArgs::new(cryptoki::context::CInitializeFlags::OS_LOCKING_OK))
            .expect("C_Initialize");
    })
    .await;
    // Finalised and left so: the signer initialises the library itself.
    survives("finalized", |label| {
        let (pkcs11, _) = intruder(label);
        pkcs11.finalize().expect("C_Finalize");
    })
    .await;
    tokens_signed_before_a_reset_still_verify_after_it().await;
}

async fn tokens_signed_before_a_reset_still_verify_after_it() {
    let token = token("before-reset");
    let now = now();
    token.key("ec", KeyKind::P384, now.minus(days(1)), now.plus(days(30)));
    let signer = Pkcs11Signer::open(token.config.clone(), now).await.unwrap();
    let before = signed(&signer, Alg::ES384, now).await.unwrap();
    let label = token.label.clone();
    signer.with_signing_paused(move || intruder(&label).0.finalize().expect("C_Finalize")).await;
    assert!(verify_independently(&signer.jwks(now), &before).is_ok(), "publication survives an outage");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match signed(&signer, Alg::ES384, now).await {
            Ok(after) => {
                assert_eq!(kid_of(&after), kid_of(&before));
                break;
            }
            Err(e) => assert!(std::time::Instant::now() < deadline, "signing did not recover: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(signer.metrics().unwrap().signing.iter().any(|s| s.errors > 0));
}
