//! Where the key of a JWE comes from: a client's JWK set, or its client secret.

use aws_lc_rs::digest;
use jose_jwk::{Jwk, Key, Oct, Parameters};
use serde_json::Value;

use super::{Enc, JweError, KeyAlg, key_management};

/// The key of a client's JWK set (`{"keys": [...]}`, from `jwks` or `jwks_uri`) to encrypt to
/// with `alg`: the first whose `use` is `enc` or absent, whose `alg`, if it has one, is `alg`,
/// and whose type and curve fit `alg` (RSA of 2048 bits or more for RSA-OAEP; EC on P-256,
/// P-384 or P-521, or X25519, for ECDH). Keys that do not parse are skipped (RFC 7517 §5).
///
/// The set is taken as JSON because jose-jwk's `Jwk` knows only signing algorithms in `alg`:
/// a key marked `"alg": "RSA-OAEP"` does not deserialise as one, nor does a set holding it.
/// The key returned carries its `kid` but no `alg`.
///
/// The symmetric algorithms take their key from the client secret, never from a JWK set, so
/// for those this is always `None` (use [`secret_key`]).
pub fn recipient_key(jwks: &Value, alg: KeyAlg) -> Option<Jwk> {
    if alg.is_symmetric() {
        return None;
    }
    let keys = jwks.get("keys")?.as_array()?;
    keys.iter().find_map(|member| {
        let mut member = member.as_object()?.clone();
        if member.get("use").is_some_and(|u| u != "enc") {
            return None;
        }
        if member.remove("alg").is_some_and(|a| a != alg.name()) {
            return None;
        }
        let jwk: Jwk = serde_json::from_value(Value::Object(member)).ok()?;
        key_management::fits(&jwk, alg).then_some(jwk)
    })
}

/// The symmetric key for `alg` and `enc` derived from a client secret, as a JWK.
///
/// OpenID Connect Core §10.2: "The symmetric encryption key is derived from the client_secret
/// value by using the left-most bits of a truncated SHA-2 hash of the octets of the UTF-8
/// representation of the client_secret. For keys of 256 or fewer bits, SHA-256 is used; for
/// keys of 257-384 bits, SHA-384 is used; for keys of 385-512 bits, SHA-512 is used. The hash
/// value MUST be truncated retaining the left-most bits to the appropriate bit length for the
/// AES key wrapping or direct encryption algorithm used, for instance, truncating the SHA-256
/// hash to 128 bits for A128KW."
///
/// The length is the key-wrap key's for AxxxKW, and the CEK's that `enc` needs for `dir`.
pub fn secret_key(client_secret: &[u8], alg: KeyAlg, enc: Enc) -> Result<Jwk, JweError> {
    let len = match alg {
        KeyAlg::Dir => enc.key_len(),
        _ => alg
            .kw_len()
            .filter(|_| alg.is_symmetric())
            .ok_or(JweError::KeyMismatch("only AES key wrap and dir use a key derived from the client secret"))?,
    };
    let hash = match len {
        ..=32 => &digest::SHA256,
        33..=48 => &digest::SHA384,
        _ => &digest::SHA512,
    };
    let k = digest::digest(hash, client_secret).as_ref()[..len].to_vec();
    Ok(Jwk { key: Key::Oct(Oct { k: k.into() }), prm: Parameters::default() })
}

/// A fresh RSA key as a private JWK with every member RSA-OAEP decryption needs (`d` and the
/// CRT parameters). aws-lc-rs generates it; its PKCS #8 form is read back into the members,
/// since aws-lc-rs hands out no components.
pub fn generate_rsa(size: aws_lc_rs::rsa::KeySize) -> Result<Jwk, JweError> {
    use aws_lc_rs::encoding::AsDer;
    use jose_jwk::{Rsa, RsaOptional, RsaPrivate};
    let failed = |_| JweError::Encryption;
    let der = aws_lc_rs::rsa::PrivateDecryptingKey::generate(size).map_err(failed)?.as_der().map_err(failed)?;
    // PrivateKeyInfo (RFC 5208 §5) around RSAPrivateKey (RFC 8017 §A.1.2): version, n, e, d,
    // p, q, dP, dQ, qInv.
    let ints: Vec<Vec<u8>> = yasna::parse_der(der.as_ref(), |r| {
        r.read_sequence(|r| {
            r.next().read_u8()?;
            r.next().read_sequence(|r| {
                r.next().read_oid()?;
                r.next().read_null()
            })?;
            let rsa_private_key = r.next().read_bytes()?;
            yasna::parse_der(&rsa_private_key, |r| {
                r.read_sequence(|r| {
                    r.next().read_u8()?;
                    (0..8).map(|_| r.next().read_bigint_bytes().map(|(b, _)| b)).collect()
                })
            })
        })
    })
    .map_err(|_| JweError::Encryption)?;
    let m = |i: usize| ints[i].iter().skip_while(|&&b| b == 0).copied().collect::<Vec<u8>>();
    let opt =
        RsaOptional { p: m(3).into(), q: m(4).into(), dp: m(5).into(), dq: m(6).into(), qi: m(7).into(), oth: vec![] };
    let prv = RsaPrivate { d: m(2).into(), opt: Some(opt) };
    let key = Key::Rsa(Rsa { n: m(0).into(), e: m(1).into(), prv: Some(prv) });
    Ok(Jwk { key, prm: Parameters::default() })
}

/// A fresh EC (P-256, P-384, P-521) or X25519 key for ECDH as a private JWK.
pub fn generate_ecdh(algorithm: &'static aws_lc_rs::agreement::Algorithm) -> Result<Jwk, JweError> {
    use aws_lc_rs::agreement;
    use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin, EcPrivateKeyBin};
    use jose_jwk::{Ec, EcCurves, Okp, OkpCurves};
    let failed = |_| JweError::Encryption;
    let private = agreement::PrivateKey::generate(algorithm).map_err(failed)?;
    let point = private.compute_public_key().map_err(failed)?.as_ref().to_vec();
    let key = if algorithm == &agreement::X25519 {
        let d: Curve25519SeedBin = private.as_be_bytes().map_err(failed)?;
        Key::Okp(Okp { crv: OkpCurves::X25519, x: point.into(), d: Some(d.as_ref().to_vec().into()) })
    } else {
        let crv = match point.len() {
            65 => EcCurves::P256,
            97 => EcCurves::P384,
            _ => EcCurves::P521,
        };
        let (x, y) = point[1..].split_at(point.len() / 2);
        let d: EcPrivateKeyBin = private.as_be_bytes().map_err(failed)?;
        Key::Ec(Ec { crv, x: x.to_vec().into(), y: y.to_vec().into(), d: Some(d.as_ref().to_vec().into()) })
    };
    Ok(Jwk { key, prm: Parameters::default() })
}

/// The public half of a private JWK.
pub fn public_half(jwk: &Jwk) -> Jwk {
    use jose_jwk::{Ec, Okp, Rsa};
    let key = match &jwk.key {
        Key::Rsa(rsa) => Key::Rsa(Rsa { prv: None, ..rsa.clone() }),
        Key::Ec(ec) => Key::Ec(Ec { d: None, ..ec.clone() }),
        Key::Okp(okp) => Key::Okp(Okp { d: None, ..okp.clone() }),
        other => other.clone(),
    };
    Jwk { key, prm: jwk.prm.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jwe_secret_key_is_the_left_of_the_sha2_hash_core_10_2() {
        let secret = b"a client secret of some length";
        let sha256 = digest::digest(&digest::SHA256, secret);
        let sha384 = digest::digest(&digest::SHA384, secret);
        let sha512 = digest::digest(&digest::SHA512, secret);
        let cases = [
            (KeyAlg::A128Kw, Enc::A256Gcm, &sha256.as_ref()[..16]),
            (KeyAlg::A192Kw, Enc::A128CbcHs256, &sha256.as_ref()[..24]),
            (KeyAlg::A256Kw, Enc::A256CbcHs512, sha256.as_ref()),
            (KeyAlg::Dir, Enc::A128Gcm, &sha256.as_ref()[..16]),
            (KeyAlg::Dir, Enc::A192Gcm, &sha256.as_ref()[..24]),
            (KeyAlg::Dir, Enc::A256Gcm, sha256.as_ref()),
            (KeyAlg::Dir, Enc::A128CbcHs256, sha256.as_ref()),
            (KeyAlg::Dir, Enc::A192CbcHs384, sha384.as_ref()),
            (KeyAlg::Dir, Enc::A256CbcHs512, sha512.as_ref()),
        ];
        for (alg, enc, expected) in cases {
            let Key::Oct(oct) = secret_key(secret, alg, enc).unwrap().key else { panic!("not a symmetric key") };
            assert_eq!(&oct.k[..], expected, "{alg} {enc}");
        }
        for alg in [KeyAlg::RsaOaep, KeyAlg::EcdhEs, KeyAlg::EcdhEsA128Kw] {
            assert!(matches!(secret_key(secret, alg, Enc::A128Gcm), Err(JweError::KeyMismatch(_))));
        }
    }

    /// A 2048-bit RSA modulus, base64url (RFC 7516 Appendix A.1.3's).
    const N: &str = "oahUIoWw0K0usKNuOR6H4wkf4oBUXHTxRvgb48E-BVvxkeDNjbC4he8rUWcJoZmds2h7M70imEVhRU5djINXtqllXI4DFqcI1DgjT9LewND8MW2Krf3Spsk_ZkoFnilakGygTwpZ3uesH-PFABNIUYpOiN15dsQRkgr0vEhxN92i2asbOenSZeyaxziK72UwxrrKoExv6kc5twXTq4h-QChLOln0_mtUZwfsRaMStPs6mS6XrgxnxbWhojf663tuEQueGC-FCMfra36C9knDFGzKsNa7LZK2djYgyD3JR_MB_4NUJW_TqOQtwHYbxevoJArm-L5StowjzGy-_bq6Gw";
    /// A P-256 public key (RFC 7518 Appendix C's Bob).
    const X: &str = "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ";
    const Y: &str = "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck";

    #[test]
    fn jwe_recipient_key_takes_the_first_encryption_key_that_fits() {
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "sig", "use": "sig", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "signing-alg", "alg": "RS256", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "other-alg", "alg": "RSA-OAEP-256", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
            {"kty": "unknown", "kid": "strange"},
            {"kty": "EC", "kid": "ec-sig", "use": "sig", "crv": "P-256", "x": X, "y": Y},
            {"kty": "RSA", "kid": "rsa-enc", "use": "enc", "alg": "RSA-OAEP", "n": N, "e": "AQAB"},
            {"kty": "EC", "kid": "ec-off-curve", "crv": "P-256", "x": X, "y": X},
            {"kty": "EC", "kid": "ec-enc", "crv": "P-256", "x": X, "y": Y},
            {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": X},
        ]});
        let kid = |alg| recipient_key(&jwks, alg).and_then(|k| k.prm.kid);
        assert_eq!(kid(KeyAlg::RsaOaep).as_deref(), Some("rsa-enc"));
        assert_eq!(kid(KeyAlg::RsaOaep256).as_deref(), Some("other-alg"));
        assert_eq!(kid(KeyAlg::EcdhEs).as_deref(), Some("ec-enc"));
        assert_eq!(kid(KeyAlg::EcdhEsA256Kw).as_deref(), Some("ec-enc"));
        assert_eq!(kid(KeyAlg::A128Kw), None);
        assert_eq!(kid(KeyAlg::Dir), None);
        let only_x25519 = json!({"keys": [{"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": X}]});
        assert_eq!(
            recipient_key(&only_x25519, KeyAlg::EcdhEsA128Kw).and_then(|k| k.prm.kid).as_deref(),
            Some("x25519")
        );
        assert_eq!(recipient_key(&only_x25519, KeyAlg::RsaOaep), None);
        assert_eq!(recipient_key(&json!({"keys": "none"}), KeyAlg::RsaOaep), None);
        assert_eq!(recipient_key(&json!([]), KeyAlg::RsaOaep), None);
    }
}
