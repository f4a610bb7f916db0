//! `oidcc-server-rotate-keys` (OIDCCServerRotateKeys.java, in the Dynamic plan): the suite
//! fetches the provider's JWK set, the operator rotates the signing keys, and the suite fetches
//! it again. Both sets must be valid JWK sets whose keys all have distinct `kid`s
//! (`CheckServerKeysIsValid`, `CheckForKeyIdInServerJWKs`, `CheckDistinctKeyIdValueInServerJWKs`);
//! the new one must hold a signing key with a new `kid` and new key material
//! (`VerifyNewJwksHasNewSigningKey`) and should still hold the old one
//! (`VerifyNewJwksStillHasOldSigningKey`, a warning). The operator's rotation here is the
//! HSM one: a new RS256 key put on the token with a later validity, then a rescan.

use std::collections::BTreeSet;

use gatehouse_protocol::world::{Clock, SystemClock};
use gatehouse_signer::pkcs11::admin::KeyKind;
use gatehouse_signer::softhsm::{self, MODULE};
use openidconnect::reqwest::Method;
use serde_json::Value;

use crate::support::TestServer;

const DAY: u64 = 86_400;

/// `FetchServerKeys` and the checks the module runs on every set it fetches; the signing keys
/// as (kid, modulus or x).
async fn fetch_and_validate(server: &TestServer) -> BTreeSet<(String, String)> {
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let jwks: Value =
        server.http.get(discovery["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().expect("CheckServerKeysIsValid: a JWK set");
    let mut kids = BTreeSet::new();
    let mut signing = BTreeSet::new();
    for key in keys {
        let kid = key["kid"].as_str().expect("CheckForKeyIdInServerJWKs").to_owned();
        assert!(kids.insert(kid.clone()), "CheckDistinctKeyIdValueInServerJWKs: {kid}");
        let material = match key["kty"].as_str() {
            Some("RSA") => key["n"].as_str(),
            Some("EC") => key["x"].as_str(),
            other => panic!("CheckServerKeysIsValid: kty {other:?}"),
        };
        let material = material.expect("CheckServerKeysIsValid: the public key").to_owned();
        if key.get("use").is_none_or(|u| u == "sig") {
            signing.insert((kid, material));
        }
    }
    signing
}

#[tokio::test]
async fn oidcc_server_rotate_keys() {
    let token = softhsm::token("oidcc-rotate");
    let now = SystemClock.now();
    token.key("old", KeyKind::Rsa { bits: 2048 }, now.minus(DAY), now.plus(30 * DAY));
    let signing = format!(
        "[signing]\nbackend = \"pkcs11\"\nid_token_alg = \"RS256\"\naccess_token_alg = \"RS256\"\n[signing.pkcs11]\nmodule = \"{MODULE}\"\ntoken_label = \"{}\"\npin_file = \"{}\"\nrescan_interval = \"1h\"\npublish_ahead = \"2d\"\n",
        token.label,
        token.pin_file.display()
    );
    let server = TestServer::start_with(&signing).await;
    let original = fetch_and_validate(&server).await;
    assert!(!original.is_empty(), "a signing key before the rotation");

    // TellUserToRotateOpKeys: the operator adds the successor, valid from tomorrow, and rescans.
    let new = token.key("new", KeyKind::Rsa { bits: 2048 }, now.plus(DAY), now.plus(60 * DAY));
    let (status, report) = server.admin(Method::POST, "/admin/v1/keys/rescan", None).await;
    assert_eq!(status, 200, "{report}");

    let latest = fetch_and_validate(&server).await;
    let added: Vec<_> = latest.difference(&original).collect();
    assert!(!added.is_empty(), "VerifyNewJwksHasNewSigningKey: {latest:?}");
    for (kid, material) in &added {
        assert!(original.iter().all(|(k, m)| k != kid && m != material), "VerifyNewJwksHasNewSigningKey: {kid}");
    }
    assert!(added.iter().any(|(kid, _)| *kid == new.kid), "the key the operator added: {latest:?}");
    assert!(original.is_subset(&latest), "VerifyNewJwksStillHasOldSigningKey: {latest:?}");
}
