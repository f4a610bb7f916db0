//! The PKCS#11 backend against a real module (SoftHSM2): discovery, roll-over, publication,
//! rescans, faults, metrics, operator tools and bad configuration.
//!
//! Re-initialising the library affects the whole process, so that test lives in its own
//! binary (`pkcs11_reinit.rs`).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use gatehouse_protocol::jose;
use gatehouse_protocol::signer::{Alg, SignError, Signer};
use gatehouse_protocol::world::UnixTime;
use gatehouse_signer::pkcs11::admin::{self, KeyKind, KeySpec};
use gatehouse_signer::pkcs11::{Error, PinSource, Pkcs11Config, Pkcs11Signer};
use gatehouse_signer::ring::KeyState;
use serde_json::json;
use support::*;

fn kids(signer: &Pkcs11Signer, at: UnixTime) -> BTreeSet<String> {
    signer.jwks(at).keys.into_iter().filter_map(|k| k.prm.kid).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_of_every_validity_are_published_by_the_rules_and_the_current_ones_sign() {
    let token = token("validity");
    let now = now();
    let long_gone = token.key("long-gone", KeyKind::P256, now.minus(days(30)), now.minus(days(10)));
    let retired = token.key("retired", KeyKind::P256, now.minus(days(30)), now.minus(days(1) / 2));
    let older = token.key("older", KeyKind::P256, now.minus(days(20)), now.plus(days(20)));
    let current = token.key("current", KeyKind::P256, now.minus(days(1)), now.plus(days(30)));
    let upcoming = token.key("upcoming", KeyKind::P256, now.plus(days(1) / 2), now.plus(days(60)));
    let future = token.key("future", KeyKind::P256, now.plus(days(10)), now.plus(days(60)));
    let rsa = token.key("rsa", KeyKind::Rsa { bits: 2048 }, now.minus(days(1)), now.plus(days(30)));
    let p384 = token.key("p384", KeyKind::P384, now.minus(days(1)), now.plus(days(30)));

    let signer = Pkcs11Signer::open(token.config.clone(), now).await.unwrap();
    let published: BTreeSet<String> =
        [&retired, &older, &current, &upcoming, &rsa, &p384].iter().map(|k| k.kid.clone()).collect();
    assert_eq!(kids(&signer, now), published, "published: retired within grace, valid, and upcoming within lead time");
    assert!(!kids(&signer, now).contains(&long_gone.kid) && !kids(&signer, now).contains(&future.kid));
    assert_eq!(signer.supported_algorithms(), Alg::ALL.to_vec());

    assert_eq!(signer.active_key(Alg::ES256, now).unwrap(), current.kid, "latest not-before wins");
    assert_eq!(signer.active_key(Alg::RS256, now).unwrap(), rsa.kid);
    assert_eq!(signer.active_key(Alg::PS256, now).unwrap(), rsa.kid);
    assert_eq!(signer.active_key(Alg::ES384, now).unwrap(), p384.kid);
    for alg in Alg::ALL {
        let jws = signed(&signer, alg, now).await.unwrap();
        assert_eq!(kid_of(&jws), signer.active_key(alg, now).unwrap());
    }
    for jwk in signer.jwks(now).keys {
        check_certificate(&jwk).unwrap_or_else(|e| panic!("certificate of {:?}: {e}", jwk.prm.kid));
        assert_eq!(jwk.prm.cls, Some(jose_jwk::Class::Signing));
    }
    assert!(signer.verification_key(&retired.kid, now).is_some());
    assert!(signer.verification_key(&long_gone.kid, now).is_none());
    assert!(signer.verification_key(&future.kid, now).is_none());

    let plan = signer.plan(now);
    let state = |kid: &str| plan.keys.iter().find(|k| k.key.kid == kid).unwrap().state;
    assert_eq!(state(&long_gone.kid), KeyState::Expired);
    assert_eq!(state(&retired.kid), KeyState::Retired);
    assert_eq!(state(&older.kid), KeyState::Superseded);
    assert_eq!(state(&current.kid), KeyState::Active);
    assert_eq!(state(&upcoming.kid), KeyState::Upcoming);
    assert_eq!(state(&future.kid), KeyState::Future);
    let tool_plan = admin::plan(&token.config, now).unwrap();
    assert_eq!(tool_plan, plan, "the operator tool plans as the signer does");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_alone_rolls_keys_over_and_old_tokens_verify_through_the_grace_period() {
    let mut token = token("rollover");
    token.config.publish_ahead = Duration::from_secs(days(2));
    token.config.retire_grace = Duration::from_secs(days(1));
    let now = now();
    let first = token.key("first", KeyKind::P256, now.minus(days(1)), now.plus(days(2)));
    let second = token.key("second", KeyKind::P256, now.plus(days(1)), now.plus(days(10)));
    let signer = Pkcs11Signer::open(token.config.clone(), now).await.unwrap();
    let at = |d: i64| UnixTime(now.0 + d * DAY + 1);

    assert_eq!(signer.active_key(Alg::ES256, now).unwrap(), first.kid);
    let early = signed(&signer, Alg::ES256, now).await.unwrap();
    assert_eq!(kids(&signer, now), BTreeSet::from([first.kid.clone(), second.kid.clone()]), "second published ahead");

    // Past the second key's not-before: it signs, the first key's tokens still verify.
    assert_eq!(signer.active_key(Alg::ES256, at(1)).unwrap(), second.kid);
    assert_eq!(kid_of(&signed(&signer, Alg::ES256, at(1)).await.unwrap()), second.kid);
    assert!(verify_independently(&signer.jwks(at(1)), &early).is_ok());

    // Past the first key's not-after, within the grace period: still published.
    assert!(verify_independently(&signer.jwks(at(2)), &early).is_ok());
    assert!(jose::verify::<serde_json::Value>(&early, |kid, _| signer.verification_key(kid?, at(2))).is_ok());

    // Past the grace period: gone.
    assert_eq!(kids(&signer, at(3)), BTreeSet::from([second.kid.clone()]));
    assert!(jose::verify::<serde_json::Value>(&early, |kid, _| signer.verification_key(kid?, at(3))).is_err());

    // Past every certificate: nothing signs, and nothing is signed.
    assert!(matches!(signer.active_key(Alg::ES256, at(11)), Err(SignError::NoKey(Alg::ES256))));
    assert!(jose::sign(&signer, Alg::ES256, None, &json!({}), at(11)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_added_while_running_go_live_after_a_rescan() {
    let mut token = token("added");
    token.config.rescan_interval = Duration::from_millis(200);
    let now = now();
    token.key("ec", KeyKind::P256, now.minus(days(1)), now.plus(days(30)));
    let signer = Pkcs11Signer::open(token.config.clone(), now).await.unwrap();
    assert!(signer.active_key(Alg::ES384, now).is_err());

    // Keys are made in this process through the module the signer uses, so the signer is
    // paused meanwhile: SoftHSM can lose sight of an object made while another session
    // searches the token. (An operator's `gatehouse keys generate` runs in its own process.)
    let add = |label: &'static str, kind| {
        let config = token.config.clone();
        signer.with_signing_paused(move || {
            let spec = KeySpec {
                label: label.into(),
                kind,
                not_before: now.minus(days(1)),
                not_after: now.plus(days(30)),
                common_name: None,
            };
            admin::generate(&config, &spec).unwrap()
        })
    };

    // On demand.
    let p384 = add("p384", KeyKind::P384).await;
    let report = signer.rescan().await.unwrap();
    assert!(report.keys.contains(&p384.kid), "{report:?}");
    assert_eq!(signer.active_key(Alg::ES384, now).unwrap(), p384.kid);
    signed(&signer, Alg::ES384, now).await.unwrap();

    // By the periodic rescan.
    let rsa = add("rsa", KeyKind::Rsa { bits: 2048 }).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while signer.active_key(Alg::RS256, now).is_err() {
        assert!(Instant::now() < deadline, "the periodic rescan did not find the new key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(signer.active_key(Alg::RS256, now).unwrap(), rsa.kid);
    signed(&signer, Alg::PS256, now).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_from_under_the_signer_is_recovered() {
    survives("logout", |label| {
        let (pkcs11, slot) = intruder(label);
        let session = pkcs11.open_ro_session(slot).unwrap();
        session.logout().expect("C_Logout from a second session");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_every_session_is_recovered() {
    survives("closeall", |label| {
        let (_, slot) = intruder(label);
        // SAFETY: the module is loaded and initialised; C_CloseAllSessions takes a slot id.
        unsafe {
            let raw = cryptoki_sys::Pkcs11::new(MODULE).unwrap();
            assert_eq!(raw.C_CloseAllSessions(slot.id() as cryptoki_sys::CK_SLOT_ID), cryptoki_sys::CKR_OK);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_that_do_not_make_a_usable_pair_are_skipped_with_reasons() {
    let token = token("skips");
    let now = now();
    let good = token.key("good", KeyKind::P256, now.minus(days(1)), now.plus(days(30)));
    let rsa = token.key("rsa", KeyKind::Rsa { bits: 2048 }, now.minus(days(1)), now.plus(days(30)));
    let orphan = token.key("orphan-key", KeyKind::P256, now.minus(days(1)), now.plus(days(30)));
    let mismatch = token.key("mismatch", KeyKind::P384, now.minus(days(1)), now.plus(days(30)));
    let dup = token.key("dup", KeyKind::P256, now.minus(days(1)), now.plus(days(30)));

    let (pkcs11, slot) = intruder(&token.label);
    let session = pkcs11.open_rw_session(slot).unwrap();
    let _ = session.login(UserType::User, Some(&AuthPin::from(gatehouse_signer::softhsm::PIN)));
    let find =
        |class, id: &str| session.find_objects(&[Attribute::Class(class), Attribute::Id(hex_bytes(id))]).unwrap();
    // A key whose certificate is gone; a certificate (copied) without a key.
    let orphan_cert = find(ObjectClass::CERTIFICATE, &orphan.id)[0];
    session
        .copy_object(orphan_cert, &[Attribute::Id(b"lonely".to_vec()), Attribute::Label(b"lonely-cert".to_vec())])
        .unwrap();
    session.destroy_object(orphan_cert).unwrap();
    // A P-384 key paired with the RSA key's certificate.
    let mismatch_cert = find(ObjectClass::CERTIFICATE, &mismatch.id)[0];
    session.destroy_object(mismatch_cert).unwrap();
    let rsa_cert = find(ObjectClass::CERTIFICATE, &rsa.id)[0];
    session
        .copy_object(rsa_cert, &[Attribute::Id(hex_bytes(&mismatch.id)), Attribute::Label(b"mismatch".to_vec())])
        .unwrap();
    // Two certificates under one id.
    let dup_cert = find(ObjectClass::CERTIFICATE, &dup.id)[0];
    session.copy_object(dup_cert, &[]).unwrap();
    drop(session);

    let listed = admin::list(&token.config).unwrap();
    let usable: BTreeSet<&str> = listed.keys.iter().map(|k| k.label.as_str()).collect();
    assert_eq!(usable, BTreeSet::from(["good", "rsa"]));
    let reason = |label: &str| {
        listed.skipped.iter().filter(|s| s.label == label).map(|s| s.reason.clone()).collect::<Vec<_>>().join("; ")
    };
    assert!(reason("orphan-key").contains("no certificate"), "{listed:?}");
    assert!(reason("lonely-cert").contains("without a private key"), "{listed:?}");
    assert!(reason("mismatch").contains("type differs"), "{listed:?}");
    assert!(reason("dup").contains("2 certificates share"), "{listed:?}");

    let signer = Pkcs11Signer::open(token.config.clone(), now).await.unwrap();
    assert_eq!(kids(&signer, now), BTreeSet::from([good.kid.clone(), rsa.kid.clone()]));

    // A configured key list narrows the choice.
    let mut only_rsa = token.config.clone();
    only_rsa.key_labels = vec!["rsa".into()];
    let signer = Pkcs11Signer::open(only_rsa, now).await.unwrap();
    assert_eq!(kids(&signer, now), BTreeSet::from([rsa.kid.clone()]));
    assert!(signer.active_key(Alg::ES256, now).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_signatures_by_key_and_algorithm() {
    let token = token("metrics");
    let now = now();
    let rsa = token.key("rsa", KeyKind::Rsa { bits: 2048 }, now.minus(days(1)), now.plus(days(30)));
    let signer = Pkcs11Signer::open(token.config.clone(), now).await.unwrap();
    for _ in 0..3 {
        signed(&signer, Alg::RS256, now).await.unwrap();
    }
    signed(&signer, Alg::PS256, now).await.unwrap();
    let metrics = signer.metrics().unwrap();
    let stats = |alg| metrics.signing.iter().find(|s| s.kid == rsa.kid && s.alg == alg).unwrap();
    assert_eq!((stats(Alg::RS256).operations, stats(Alg::RS256).errors), (3, 0));
    assert_eq!(stats(Alg::PS256).operations, 1);
    assert!(stats(Alg::RS256).max_ms > 0.0 && stats(Alg::RS256).mean_ms <= stats(Alg::RS256).max_ms);
    let pool = metrics.sessions.unwrap();
    assert_eq!(
        (pool.max_connections, pool.active_connections, pool.idle_connections, pool.waiting_for_connection),
        (3, 0, 3, 0),
        "two session threads and the inline session"
    );
    assert!(pool.max_wait_ms >= pool.mean_wait_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_device_signs_on_the_requesters_thread_and_a_slow_one_on_the_session_threads() {
    let token = token("inline");
    let now = now();
    token.key("ec", KeyKind::P256, now.minus(days(1)), now.plus(days(30)));
    // Any device time is "fast" below an hour: after the first signature (which measures the
    // device on a session thread), every sequential request signs inline.
    let fast = Pkcs11Config { inline_below: Duration::from_secs(3600), ..token.config.clone() };
    let signer = Pkcs11Signer::open(fast, now).await.unwrap();
    for _ in 0..10 {
        signed(&signer, Alg::ES256, now).await.unwrap();
    }
    assert_eq!(signer.inline_signatures(), 9);
    let ops: u64 = signer.metrics().unwrap().signing.iter().map(|s| s.operations).sum();
    assert_eq!(ops, 10, "inline signatures are counted like the others");
    drop(signer);
    let off = Pkcs11Config { inline_below: Duration::ZERO, ..token.config.clone() };
    let signer = Pkcs11Signer::open(off, now).await.unwrap();
    for _ in 0..10 {
        signed(&signer, Alg::ES256, now).await.unwrap();
    }
    assert_eq!(signer.inline_signatures(), 0);
    assert_eq!(signer.metrics().unwrap().sessions.unwrap().max_connections, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_stops_start_up_with_a_clear_message() {
    let token = token("badconfig");
    let now = now();
    token.key("ec", KeyKind::P256, now.minus(days(1)), now.plus(days(30)));
    let open =
        |config: Pkcs11Config| async move { Pkcs11Signer::open(config, now).await.err().expect("start-up must fail") };

    let mut wrong_pin = token.config.clone();
    let pin_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pin_file.path(), "00000000").unwrap();
    wrong_pin.pin_file = Some(pin_file.path().to_owned());
    let e = open(wrong_pin).await;
    assert!(matches!(e, Error::Login { .. }) && e.to_string().contains("CKR_PIN_INCORRECT"), "{e}");
    assert!(!e.to_string().contains("00000000"), "the PIN is never shown: {e}");

    let mut unknown = token.config.clone();
    unknown.token_label = "no-such-token".into();
    let e = open(unknown).await;
    assert!(
        e.to_string().contains("no token labelled \"no-such-token\"") && e.to_string().contains(&token.label),
        "{e}"
    );

    let mut missing = token.config.clone();
    missing.module = "/nonexistent/libpkcs11.so".into();
    let e = open(missing).await;
    assert!(e.to_string().contains("cannot load the PKCS#11 module /nonexistent/libpkcs11.so: no such file"), "{e}");

    let unset = Pkcs11Config::new(MODULE, &token.label, PinSource::Env("GATEHOUSE_TEST_NO_SUCH_PIN".into()));
    let e = open(unset).await;
    assert!(e.to_string().contains("GATEHOUSE_TEST_NO_SUCH_PIN"), "{e}");

    let e = Pkcs11Signer::open(token.config.clone(), now.plus(days(31))).await.err().expect("no valid key");
    assert!(matches!(e, Error::NoValidKey { .. }) && e.to_string().contains("no key on the token"), "{e}");
    let empty = support::token("empty");
    let e = Pkcs11Signer::open(empty.config.clone(), now).await.err().expect("no key at all");
    assert!(e.to_string().contains("gatehouse keys generate"), "{e}");

    let e = admin::generate(
        &token.config,
        &admin::KeySpec {
            label: "bad".into(),
            kind: KeyKind::P256,
            not_before: now,
            not_after: now,
            common_name: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("not_after must be later"), "{e}");
}
