//! Key management (`alg`, RFC 7518 §4): how the content-encryption key (CEK) reaches the
//! recipient. RSA-OAEP, ECDH and AES key wrap come from aws-lc-rs; the Concat KDF of §4.6.2 is
//! aws-lc-rs's single-step KDF (NIST SP 800-56C, the same construction). Only AES-192 key wrap,
//! which aws-lc-rs does not offer (its `key_wrap` has AES-128 and AES-256 only), comes from
//! RustCrypto's `aes-kw`.

use aws_lc_rs::agreement::{self, UnparsedPublicKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::kdf::{SskdfDigestAlgorithmId, get_sskdf_digest_algorithm, sskdf_digest};
use aws_lc_rs::key_wrap::{AES_128, AES_256, KeyEncryptionKey, KeyWrap};
use aws_lc_rs::rsa::{
    self, KeyPairComponents, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, PublicKeyComponents,
};
use jose_jwk::jose_b64::serde::Bytes;
use jose_jwk::{Ec, EcCurves, Jwk, Key, Okp, OkpCurves, Parameters, Rsa};
use zeroize::Zeroizing;

use super::{Enc, Header, JweError, KeyAlg};
use crate::world::Random;

/// What key management gives content encryption: the CEK, the JWE Encrypted Key, and for
/// ECDH the ephemeral public key that goes into the header as `epk`.
pub(super) struct Wrapped {
    pub cek: Zeroizing<Vec<u8>>,
    pub encrypted_key: Vec<u8>,
    pub epk: Option<Jwk>,
}

/// The smallest RSA modulus accepted, in bits (RFC 7518 §4.3 asks for 2048 or more).
const MIN_RSA_BITS: usize = 2048;

/// Produces a CEK for `enc` and delivers it to the holder of `key` by `alg`.
pub(super) fn wrap(
    alg: KeyAlg,
    enc: Enc,
    key: &Jwk,
    apu: &[u8],
    apv: &[u8],
    rng: &dyn Random,
) -> Result<Wrapped, JweError> {
    let random_cek = || {
        let mut cek = Zeroizing::new(vec![0u8; enc.key_len()]);
        rng.fill(&mut cek);
        cek
    };
    match alg {
        // RFC 7518 §4.3: the CEK encrypted to the recipient's RSA key with OAEP.
        KeyAlg::RsaOaep | KeyAlg::RsaOaep256 => {
            let public = rsa_public(key)?;
            let cek = random_cek();
            let mut out = vec![0u8; public.ciphertext_size()];
            let encrypted_key =
                public.encrypt(oaep(alg), &cek, &mut out, None).map_err(|_| JweError::Encryption)?.to_vec();
            Ok(Wrapped { cek, encrypted_key, epk: None })
        }
        // RFC 7518 §4.6: an ephemeral key agreed with the recipient's key, through the Concat
        // KDF, is the CEK itself (ECDH-ES) or the key that wraps a random CEK (ECDH-ES+AxxxKW).
        KeyAlg::EcdhEs | KeyAlg::EcdhEsA128Kw | KeyAlg::EcdhEsA192Kw | KeyAlg::EcdhEsA256Kw => {
            let (algorithm, peer) =
                ecdh_public(key).map_err(|_| JweError::KeyMismatch("ECDH needs an EC or X25519 key"))?;
            let ephemeral = agreement::PrivateKey::generate(algorithm).map_err(|_| JweError::Encryption)?;
            let epk = public_jwk(&ephemeral)?;
            let derived = ecdh_es_key(alg, enc, &ephemeral, &peer, apu, apv, JweError::InvalidKey("EC public key"))?;
            match alg.kw_len() {
                None => Ok(Wrapped { cek: derived, encrypted_key: Vec::new(), epk: Some(epk) }),
                Some(_) => {
                    let cek = random_cek();
                    let encrypted_key = kw_wrap(&derived, &cek)?;
                    Ok(Wrapped { cek, encrypted_key, epk: Some(epk) })
                }
            }
        }
        // RFC 7518 §4.4: a random CEK wrapped with the shared symmetric key.
        KeyAlg::A128Kw | KeyAlg::A192Kw | KeyAlg::A256Kw => {
            let kek = symmetric(key, alg.kw_len().unwrap_or_default())?;
            let cek = random_cek();
            let encrypted_key = kw_wrap(kek, &cek)?;
            Ok(Wrapped { cek, encrypted_key, epk: None })
        }
        // RFC 7518 §4.5: the shared symmetric key is the CEK.
        KeyAlg::Dir => {
            let cek = Zeroizing::new(symmetric(key, enc.key_len())?.to_vec());
            Ok(Wrapped { cek, encrypted_key: Vec::new(), epk: None })
        }
    }
}

/// Recovers the CEK of a JWE with `header` and `encrypted_key`, using the recipient's `key`.
///
/// A wrong key or a tampered encrypted key is [`JweError::Decryption`], the same error a bad
/// authentication tag gives, so the two cannot be told apart.
pub(super) fn unwrap(header: &Header, key: &Jwk, encrypted_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, JweError> {
    let (alg, enc) = (header.alg, header.enc);
    let must_be_empty = || match encrypted_key.is_empty() {
        true => Ok(()),
        // RFC 7516 §5.2 step 10.
        false => Err(JweError::Malformed("the encrypted key must be empty for dir and ECDH-ES")),
    };
    match alg {
        KeyAlg::RsaOaep | KeyAlg::RsaOaep256 => {
            let private = rsa_private(key)?;
            // RFC 7516 §11.5: when RSA decryption fails, go on with a random CEK so the failure
            // shows only as the authentication tag failing, never as an oracle on the padding.
            let mut fallback = Zeroizing::new(vec![0u8; enc.key_len()]);
            aws_lc_rs::rand::fill(&mut fallback).map_err(|_| JweError::Decryption)?;
            let mut out = Zeroizing::new(vec![0u8; private.min_output_size()]);
            match private.decrypt(oaep(alg), encrypted_key, &mut out, None) {
                Ok(cek) if cek.len() == enc.key_len() => Ok(Zeroizing::new(cek.to_vec())),
                _ => Ok(fallback),
            }
        }
        KeyAlg::EcdhEs | KeyAlg::EcdhEsA128Kw | KeyAlg::EcdhEsA192Kw | KeyAlg::EcdhEsA256Kw => {
            let private = ecdh_private(key)?;
            let epk = header.epk.as_ref().ok_or(JweError::Malformed("ECDH needs the epk header member"))?;
            let (algorithm, peer) = ecdh_public(epk).map_err(|_| JweError::InvalidEphemeralKey)?;
            if algorithm != private.algorithm() {
                return Err(JweError::InvalidEphemeralKey);
            }
            let party = |info: &Option<Bytes>| info.as_ref().map(|b| b.to_vec()).unwrap_or_default();
            let (apu, apv) = (party(&header.apu), party(&header.apv));
            let derived = ecdh_es_key(alg, enc, &private, &peer, &apu, &apv, JweError::InvalidEphemeralKey)?;
            match alg.kw_len() {
                None => must_be_empty().map(|()| derived),
                Some(_) => kw_unwrap(&derived, encrypted_key, enc.key_len()),
            }
        }
        KeyAlg::A128Kw | KeyAlg::A192Kw | KeyAlg::A256Kw => {
            kw_unwrap(symmetric(key, alg.kw_len().unwrap_or_default())?, encrypted_key, enc.key_len())
        }
        KeyAlg::Dir => {
            must_be_empty()?;
            Ok(Zeroizing::new(symmetric(key, enc.key_len())?.to_vec()))
        }
    }
}

/// Whether `key` is a public key `alg` can encrypt to (always false for the symmetric
/// algorithms, whose key is the client secret's).
pub(crate) fn fits(key: &Jwk, alg: KeyAlg) -> bool {
    match alg {
        KeyAlg::RsaOaep | KeyAlg::RsaOaep256 => rsa_public(key).is_ok(),
        KeyAlg::EcdhEs | KeyAlg::EcdhEsA128Kw | KeyAlg::EcdhEsA192Kw | KeyAlg::EcdhEsA256Kw => {
            ecdh_public(key).is_ok_and(|(algorithm, point)| {
                // The point must be on the curve: aws-lc-rs checks that when it parses it.
                agreement::ParsedPublicKey::try_from(&UnparsedPublicKey::new(algorithm, &point)).is_ok()
            })
        }
        KeyAlg::A128Kw | KeyAlg::A192Kw | KeyAlg::A256Kw | KeyAlg::Dir => false,
    }
}

fn oaep(alg: KeyAlg) -> &'static OaepAlgorithm {
    match alg {
        KeyAlg::RsaOaep256 => &OAEP_SHA256_MGF1SHA256,
        _ => &OAEP_SHA1_MGF1SHA1,
    }
}

/// An RSA public JWK as an OAEP encrypting key: the modulus and exponent in a DER
/// SubjectPublicKeyInfo, the form aws-lc-rs reads.
fn rsa_public(key: &Jwk) -> Result<OaepPublicEncryptingKey, JweError> {
    let Key::Rsa(rsa) = &key.key else {
        return Err(JweError::KeyMismatch("RSA-OAEP needs an RSA key"));
    };
    let public_key = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_bigint_bytes(&rsa.n, true);
            w.next().write_bigint_bytes(&rsa.e, true);
        })
    });
    let spki = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                // rsaEncryption (RFC 8017 Appendix C) with NULL parameters.
                w.next().write_oid(&yasna::models::ObjectIdentifier::from_slice(&[1, 2, 840, 113549, 1, 1, 1]));
                w.next().write_null();
            });
            w.next().write_bitvec_bytes(&public_key, public_key.len() * 8);
        })
    });
    let public = PublicEncryptingKey::from_der(&spki).map_err(|_| JweError::InvalidKey("RSA public key"))?;
    if public.key_size_bits() < MIN_RSA_BITS {
        return Err(JweError::InvalidKey("RSA keys need at least 2048 bits"));
    }
    OaepPublicEncryptingKey::new(public).map_err(|_| JweError::InvalidKey("RSA public key"))
}

/// An RSA private JWK as an OAEP decrypting key. aws-lc-rs checks the components agree with
/// each other; it needs the CRT parameters, so a JWK with only `d` is refused.
fn rsa_private(key: &Jwk) -> Result<OaepPrivateDecryptingKey, JweError> {
    let Key::Rsa(Rsa { n, e, prv }) = &key.key else {
        return Err(JweError::KeyMismatch("RSA-OAEP needs an RSA key"));
    };
    let prv = prv.as_ref().ok_or(JweError::KeyMismatch("decryption needs the private key"))?;
    let crt = prv.opt.as_ref().ok_or(JweError::InvalidKey("RSA private key without p, q, dp, dq and qi"))?;
    let components = KeyPairComponents {
        public_key: PublicKeyComponents { n: strip_zeros(n), e: strip_zeros(e) },
        d: &prv.d[..],
        p: &crt.p[..],
        q: &crt.q[..],
        dP: &crt.dp[..],
        dQ: &crt.dq[..],
        qInv: &crt.qi[..],
    };
    let invalid = |_| JweError::InvalidKey("RSA private key");
    let pair = rsa::KeyPair::from_components(&components).map_err(invalid)?;
    let pkcs8 = pair.as_der().map_err(|_| JweError::InvalidKey("RSA private key"))?;
    let private = PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref()).map_err(invalid)?;
    if private.key_size_bits() < MIN_RSA_BITS {
        return Err(JweError::InvalidKey("RSA keys need at least 2048 bits"));
    }
    OaepPrivateDecryptingKey::new(private).map_err(|_| JweError::InvalidKey("RSA private key"))
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The agreement algorithm and public key bytes of an EC (P-256, P-384, P-521) or X25519 JWK:
/// the uncompressed point `04 || x || y`, or the 32 raw bytes of RFC 8037.
fn ecdh_public(key: &Jwk) -> Result<(&'static agreement::Algorithm, Vec<u8>), JweError> {
    match &key.key {
        Key::Ec(ec) => {
            let (algorithm, len) = ec_curve(ec.crv)?;
            // RFC 7518 §6.2.1.2: x and y are the full length of the field.
            if ec.x.len() != len || ec.y.len() != len {
                return Err(JweError::InvalidKey("EC coordinates of the wrong length"));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&ec.x);
            point.extend_from_slice(&ec.y);
            Ok((algorithm, point))
        }
        Key::Okp(Okp { crv: OkpCurves::X25519, x, .. }) if x.len() == 32 => Ok((&agreement::X25519, x.to_vec())),
        _ => Err(JweError::KeyMismatch("ECDH needs an EC or X25519 key")),
    }
}

fn ecdh_private(key: &Jwk) -> Result<agreement::PrivateKey, JweError> {
    let (algorithm, d) = match &key.key {
        Key::Ec(Ec { crv, d: Some(d), .. }) => (ec_curve(*crv)?.0, d),
        Key::Okp(Okp { crv: OkpCurves::X25519, d: Some(d), .. }) => (&agreement::X25519, d),
        Key::Ec(_) | Key::Okp(_) => return Err(JweError::KeyMismatch("decryption needs the private key")),
        _ => return Err(JweError::KeyMismatch("ECDH needs an EC or X25519 key")),
    };
    agreement::PrivateKey::from_private_key(algorithm, d).map_err(|_| JweError::InvalidKey("ECDH private key"))
}

fn ec_curve(crv: EcCurves) -> Result<(&'static agreement::Algorithm, usize), JweError> {
    match crv {
        EcCurves::P256 => Ok((&agreement::ECDH_P256, 32)),
        EcCurves::P384 => Ok((&agreement::ECDH_P384, 48)),
        EcCurves::P521 => Ok((&agreement::ECDH_P521, 66)),
        _ => Err(JweError::KeyMismatch("ECDH curves are P-256, P-384, P-521 and X25519")),
    }
}

/// The `epk` header member for an ephemeral key.
fn public_jwk(ephemeral: &agreement::PrivateKey) -> Result<Jwk, JweError> {
    let public = ephemeral.compute_public_key().map_err(|_| JweError::Encryption)?;
    let bytes = public.as_ref();
    let key = if ephemeral.algorithm() == &agreement::X25519 {
        Key::Okp(Okp { crv: OkpCurves::X25519, x: bytes.to_vec().into(), d: None })
    } else {
        let crv = match bytes.len() {
            65 => EcCurves::P256,
            97 => EcCurves::P384,
            _ => EcCurves::P521,
        };
        let (x, y) = bytes[1..].split_at(bytes.len() / 2);
        Key::Ec(Ec { crv, x: x.to_vec().into(), y: y.to_vec().into(), d: None })
    };
    Ok(Jwk { key, prm: Parameters::default() })
}

/// RFC 7518 §4.6.2: the key agreed between `private` and `peer`, through the Concat KDF with
/// the algorithm's identifier and key length.
fn ecdh_es_key(
    alg: KeyAlg,
    enc: Enc,
    private: &agreement::PrivateKey,
    peer: &[u8],
    apu: &[u8],
    apv: &[u8],
    bad_peer: JweError,
) -> Result<Zeroizing<Vec<u8>>, JweError> {
    let z = agreement::agree(private, UnparsedPublicKey::new(private.algorithm(), peer), bad_peer, |z| {
        Ok(Zeroizing::new(z.to_vec()))
    })?;
    // For ECDH-ES the AlgorithmID is the `enc` value and the key is the CEK; for the key-wrap
    // variants it is the `alg` value and the key is the key-encryption key.
    match alg.kw_len() {
        None => concat_kdf(&z, enc.name(), apu, apv, enc.key_len()),
        Some(len) => concat_kdf(&z, alg.name(), apu, apv, len),
    }
}

/// The Concat KDF of NIST SP 800-56A §5.8.1 with SHA-256, as RFC 7518 §4.6.2 fills it in:
/// OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo (each a 32-bit big-endian length then
/// the octets) || SuppPubInfo (the key length in bits, 32-bit big-endian), no SuppPrivInfo.
fn concat_kdf(
    z: &[u8],
    algorithm_id: &str,
    apu: &[u8],
    apv: &[u8],
    key_len: usize,
) -> Result<Zeroizing<Vec<u8>>, JweError> {
    let mut other_info = Vec::with_capacity(16 + algorithm_id.len() + apu.len() + apv.len());
    for datum in [algorithm_id.as_bytes(), apu, apv] {
        let len = u32::try_from(datum.len()).map_err(|_| JweError::Malformed("apu or apv too long"))?;
        other_info.extend_from_slice(&len.to_be_bytes());
        other_info.extend_from_slice(datum);
    }
    other_info.extend_from_slice(&((key_len * 8) as u32).to_be_bytes());
    let sha256 = get_sskdf_digest_algorithm(SskdfDigestAlgorithmId::Sha256).ok_or(JweError::Encryption)?;
    let mut key = Zeroizing::new(vec![0u8; key_len]);
    sskdf_digest(sha256, z, &other_info, &mut key).map_err(|_| JweError::Malformed("apu or apv too long"))?;
    Ok(key)
}

/// The bytes of a symmetric JWK, which must be exactly `len` long.
fn symmetric(key: &Jwk, len: usize) -> Result<&[u8], JweError> {
    match &key.key {
        Key::Oct(oct) if oct.k.len() == len => Ok(&oct.k),
        Key::Oct(_) => Err(JweError::KeyMismatch("symmetric key of the wrong length for the algorithm")),
        _ => Err(JweError::KeyMismatch("AES key wrap and dir need a symmetric key")),
    }
}

/// AES key wrap (RFC 3394) of `cek` under `kek`.
fn kw_wrap(kek: &[u8], cek: &[u8]) -> Result<Vec<u8>, JweError> {
    let mut out = vec![0u8; cek.len() + 8];
    let wrapped = match kek.len() {
        16 | 32 => {
            let cipher = if kek.len() == 16 { &AES_128 } else { &AES_256 };
            let kek = KeyEncryptionKey::new(cipher, kek).map_err(|_| JweError::Encryption)?;
            kek.wrap(cek, &mut out).map_err(|_| JweError::Encryption)?.len()
        }
        _ => {
            use aes_kw::KeyInit;
            let kek = aes_kw::KwAes192::new_from_slice(kek).map_err(|_| JweError::Encryption)?;
            kek.wrap_key(cek, &mut out).map_err(|_| JweError::Encryption)?.len()
        }
    };
    out.truncate(wrapped);
    Ok(out)
}

/// AES key unwrap, with the integrity check of RFC 3394 §2.2.3; a CEK of the wrong length for
/// the content encryption fails the same way.
fn kw_unwrap(kek: &[u8], wrapped: &[u8], cek_len: usize) -> Result<Zeroizing<Vec<u8>>, JweError> {
    if wrapped.len() != cek_len + 8 {
        return Err(JweError::Decryption);
    }
    let mut cek = Zeroizing::new(vec![0u8; cek_len]);
    let unwrapped = match kek.len() {
        16 | 32 => {
            let cipher = if kek.len() == 16 { &AES_128 } else { &AES_256 };
            let kek = KeyEncryptionKey::new(cipher, kek).map_err(|_| JweError::Decryption)?;
            kek.unwrap(wrapped, &mut cek).map(|k| k.len())
        }
        _ => {
            use aes_kw::KeyInit;
            let kek = aes_kw::KwAes192::new_from_slice(kek).map_err(|_| JweError::Decryption)?;
            kek.unwrap_key(wrapped, &mut cek).map(|k| k.len()).map_err(|_| aws_lc_rs::error::Unspecified)
        }
    };
    match unwrapped {
        Ok(len) if len == cek_len => Ok(cek),
        _ => Err(JweError::Decryption),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    /// RFC 7518 Appendix C: Bob's key and Alice's ephemeral key (P-256), `apu` "Alice", `apv`
    /// "Bob", `enc` A128GCM; the shared secret Z and the derived key are the RFC's.
    const BOB_X: &str = "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ";
    const BOB_Y: &str = "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck";
    const BOB_D: &str = "VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw";
    const ALICE_X: &str = "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0";
    const ALICE_Y: &str = "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps";
    const ALICE_D: &str = "0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo";
    const Z: [u8; 32] = [
        158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128, 106,
        72, 246, 218, 167, 121, 140, 254, 144, 196,
    ];
    const DERIVED: &str = "VqqN6vgjbSBcIijNcacQGg";

    fn ec_jwk(x: &str, y: &str, d: Option<&str>) -> Jwk {
        let key = Ec { crv: EcCurves::P256, x: b64(x).into(), y: b64(y).into(), d: d.map(|d| b64(d).into()) };
        Jwk { key: Key::Ec(key), prm: Parameters::default() }
    }

    #[test]
    fn jwe_concat_kdf_matches_rfc7518_appendix_c() {
        let derived = concat_kdf(&Z, "A128GCM", b"Alice", b"Bob", 16).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&*derived), DERIVED);
    }

    #[test]
    fn jwe_ecdh_es_agreement_matches_rfc7518_appendix_c_on_both_sides() {
        let bob = ec_jwk(BOB_X, BOB_Y, Some(BOB_D));
        let alice = ec_jwk(ALICE_X, ALICE_Y, Some(ALICE_D));
        // The sender's side: Alice's ephemeral private key with Bob's public key.
        let (_, bob_point) = ecdh_public(&bob).unwrap();
        let derived = ecdh_es_key(
            KeyAlg::EcdhEs,
            Enc::A128Gcm,
            &ecdh_private(&alice).unwrap(),
            &bob_point,
            b"Alice",
            b"Bob",
            JweError::Encryption,
        )
        .unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&*derived), DERIVED);
        // The recipient's side, through `unwrap` and the header as the RFC writes it.
        let header: Header = serde_json::from_value(serde_json::json!({
            "alg": "ECDH-ES", "enc": "A128GCM", "apu": "QWxpY2U", "apv": "Qm9i",
            "epk": {"kty": "EC", "crv": "P-256", "x": ALICE_X, "y": ALICE_Y},
        }))
        .unwrap();
        let cek = unwrap(&header, &bob, &[]).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&*cek), DERIVED);
        // The ephemeral key must be on the recipient's curve, and a point off the curve is refused.
        let mut off_curve = header.clone();
        if let Some(Jwk { key: Key::Ec(ec), .. }) = &mut off_curve.epk {
            ec.y = b64(BOB_Y).into();
        }
        assert_eq!(unwrap(&off_curve, &bob, &[]).unwrap_err(), JweError::InvalidEphemeralKey);
        let mut other_curve = header;
        other_curve.epk = Some(Jwk {
            key: Key::Okp(Okp { crv: OkpCurves::X25519, x: vec![9; 32].into(), d: None }),
            prm: Parameters::default(),
        });
        assert_eq!(unwrap(&other_curve, &bob, &[]).unwrap_err(), JweError::InvalidEphemeralKey);
    }

    #[test]
    fn jwe_key_wrap_matches_rfc7516_appendix_a3_and_checks_integrity() {
        // RFC 7516 Appendix A.3.3: the CEK wrapped with the shared key.
        let kek = b64("GawgguFyGrWKav7AX4VKUg");
        let cek = [
            4, 211, 31, 197, 84, 157, 252, 254, 11, 100, 157, 250, 63, 170, 106, 206, 107, 124, 212, 45, 111, 107, 9,
            219, 200, 177, 0, 240, 143, 156, 44, 207,
        ];
        let wrapped = kw_wrap(&kek, &cek).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&wrapped), "6KB707dM9YTIgHtLvtgWQ8mKwboJW3of9locizkDTHzBC2IlrT1oOQ");
        assert_eq!(*kw_unwrap(&kek, &wrapped, 32).unwrap(), cek);
        // Each key size wraps and unwraps, and any change to the wrapped key is caught.
        for len in [16, 24, 32] {
            let kek: Vec<u8> = (0..len as u8).collect();
            let wrapped = kw_wrap(&kek, &cek).unwrap();
            assert_eq!(*kw_unwrap(&kek, &wrapped, 32).unwrap(), cek);
            let mut tampered = wrapped.clone();
            tampered[9] ^= 0x80;
            assert_eq!(kw_unwrap(&kek, &tampered, 32).unwrap_err(), JweError::Decryption);
            assert_eq!(kw_unwrap(&kek, &wrapped[..32], 24).unwrap_err(), JweError::Decryption);
            assert_eq!(kw_unwrap(&kek, &wrapped, 16).unwrap_err(), JweError::Decryption);
        }
    }
}
