//! Round trips of every `alg` × `enc`, the worked examples of RFC 7516 Appendix A, and tokens
//! that are malformed, tampered with or opened with the wrong key.

use std::sync::Mutex;

use aws_lc_rs::agreement;
use aws_lc_rs::rsa::KeySize;
use jose_jwk::{Ec, EcCurves, Key, Parameters, Rsa, RsaPrivate};
use serde_json::json;

use super::*;
use crate::world::SystemRandom;

/// A "random" source replaying fixed bytes, to reproduce the RFC's deterministic examples.
struct Replay(Mutex<Vec<u8>>);

impl Random for Replay {
    fn fill(&self, buf: &mut [u8]) {
        let mut bytes = self.0.lock().unwrap();
        let rest = bytes.split_off(buf.len());
        buf.copy_from_slice(&bytes);
        *bytes = rest;
    }
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn public(jwk: &Jwk) -> Jwk {
    public_half(jwk)
}

/// A fresh RSA key as a private JWK, named `kid`.
fn rsa_key(size: KeySize, kid: &str) -> Jwk {
    let jwk = generate_rsa(size).unwrap();
    Jwk { prm: Parameters { kid: Some(kid.to_owned()), ..Parameters::default() }, ..jwk }
}

/// A fresh EC (P-256, P-384, P-521) or X25519 key as a private JWK, named `kid`.
fn ecdh_key(algorithm: &'static agreement::Algorithm, kid: &str) -> Jwk {
    let jwk = generate_ecdh(algorithm).unwrap();
    Jwk { prm: Parameters { kid: Some(kid.to_owned()), ..Parameters::default() }, ..jwk }
}

const ECDH_CURVES: [&agreement::Algorithm; 4] =
    [&agreement::ECDH_P256, &agreement::ECDH_P384, &agreement::ECDH_P521, &agreement::X25519];

/// For each `alg`, the private keys to try it with (the same key decrypts; a second one of
/// the same kind must not).
fn keys_for(alg: KeyAlg, enc: Enc) -> Vec<(Jwk, Jwk)> {
    match alg {
        KeyAlg::RsaOaep | KeyAlg::RsaOaep256 => {
            vec![(rsa_key(KeySize::Rsa2048, "rsa"), rsa_key(KeySize::Rsa2048, "rsa-other"))]
        }
        KeyAlg::EcdhEs | KeyAlg::EcdhEsA128Kw | KeyAlg::EcdhEsA192Kw | KeyAlg::EcdhEsA256Kw => {
            ECDH_CURVES.iter().map(|curve| (ecdh_key(curve, "ec"), ecdh_key(curve, "ec-other"))).collect()
        }
        _ => vec![(
            secret_key(b"the client secret", alg, enc).unwrap(),
            secret_key(b"another client's secret", alg, enc).unwrap(),
        )],
    }
}

fn decrypt_with(token: &str, key: &Jwk) -> Result<Decrypted, JweError> {
    decrypt(token, |_| Some(key.clone()))
}

#[test]
fn jwe_every_alg_and_enc_round_trips_and_refuses_the_wrong_key() {
    let plaintext = br#"{"iss":"https://op.example","sub":"alice"}"#;
    for alg in KeyAlg::ALL {
        for enc in Enc::ALL {
            for (key, other) in keys_for(alg, enc) {
                let params = Params {
                    typ: Some("JWT"),
                    cty: Some("JWT"),
                    apu: Some(b"Gatehouse"),
                    apv: Some(b"client"),
                    ..Params::new(alg, enc)
                };
                let token = encrypt(&public(&key), &params, plaintext, &SystemRandom).unwrap();
                let opened = decrypt_with(&token, &key).unwrap_or_else(|e| panic!("{alg} {enc}: {e}"));
                assert_eq!(opened.plaintext, plaintext, "{alg} {enc}");
                let header = &opened.header;
                assert_eq!((header.alg, header.enc), (alg, enc));
                assert_eq!((header.typ.as_deref(), header.cty.as_deref()), (Some("JWT"), Some("JWT")));
                assert_eq!(header.kid, key.prm.kid, "{alg} {enc}: the recipient key's kid");
                let apu = header.apu.as_deref().map(|b| &b[..]);
                assert_eq!(apu, alg.is_ecdh().then_some(&b"Gatehouse"[..]), "{alg} {enc}: apu only for ECDH");
                let ecdh =
                    matches!(alg, KeyAlg::EcdhEs | KeyAlg::EcdhEsA128Kw | KeyAlg::EcdhEsA192Kw | KeyAlg::EcdhEsA256Kw);
                assert_eq!(header.epk.is_some(), ecdh, "{alg} {enc}: epk");
                let empty_key = token.split('.').nth(1) == Some("");
                assert_eq!(empty_key, matches!(alg, KeyAlg::Dir | KeyAlg::EcdhEs), "{alg} {enc}: encrypted key");
                assert_eq!(decrypt_with(&token, &other), Err(JweError::Decryption), "{alg} {enc}: wrong key");
            }
        }
    }
}

#[test]
fn jwe_tampering_with_any_part_is_refused() {
    let plaintext = b"signed ID token";
    for (alg, enc) in [
        (KeyAlg::RsaOaep256, Enc::A256Gcm),
        (KeyAlg::RsaOaep, Enc::A128CbcHs256),
        (KeyAlg::EcdhEs, Enc::A256CbcHs512),
        (KeyAlg::EcdhEsA128Kw, Enc::A128Gcm),
        (KeyAlg::A256Kw, Enc::A192CbcHs384),
        (KeyAlg::Dir, Enc::A192Gcm),
    ] {
        let (key, _) = keys_for(alg, enc).remove(0);
        let token = encrypt(&public(&key), &Params::new(alg, enc), plaintext, &SystemRandom).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        for (index, part) in parts.iter().enumerate() {
            let mut bytes = b64(part);
            if bytes.is_empty() {
                continue;
            }
            // Flip one bit at the start, the middle and the end of each part.
            for at in [0, bytes.len() / 2, bytes.len() - 1] {
                bytes[at] ^= 0x04;
                let mut changed = parts.clone();
                let encoded = URL_SAFE_NO_PAD.encode(&bytes);
                changed[index] = &encoded;
                let result = decrypt_with(&changed.join("."), &key);
                bytes[at] ^= 0x04;
                match index {
                    // A changed header either no longer parses or fails the tag (it is the AAD).
                    0 => assert!(result.is_err(), "{alg} {enc}: header"),
                    _ => assert_eq!(result, Err(JweError::Decryption), "{alg} {enc}: part {index} at {at}"),
                }
            }
        }
        // A header re-encoded with a member more still parses but no longer authenticates.
        let mut header: serde_json::Value = serde_json::from_slice(&b64(parts[0])).unwrap();
        header["typ"] = json!("JWT");
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let changed = [header.as_str(), parts[1], parts[2], parts[3], parts[4]].join(".");
        assert_eq!(decrypt_with(&changed, &key), Err(JweError::Decryption), "{alg} {enc}: header member");
        // An encrypted key of another length, or none, fails like any wrong key; where there
        // must be none, one is malformed.
        for encrypted_key in ["", "AAAA", &URL_SAFE_NO_PAD.encode([7u8; 300])] {
            let changed = [parts[0], encrypted_key, parts[2], parts[3], parts[4]].join(".");
            match (alg, encrypted_key) {
                (KeyAlg::Dir | KeyAlg::EcdhEs, "") => {}
                (KeyAlg::Dir | KeyAlg::EcdhEs, _) => {
                    assert!(matches!(decrypt_with(&changed, &key), Err(JweError::Malformed(_))))
                }
                _ => assert_eq!(decrypt_with(&changed, &key), Err(JweError::Decryption), "{alg} {enc}: encrypted key"),
            }
        }
        // Truncated or lengthened IV and tag are malformed, not a panic.
        for index in [2, 3, 4] {
            let mut bytes = b64(parts[index]);
            bytes.push(0);
            let longer = URL_SAFE_NO_PAD.encode(&bytes);
            let mut changed = parts.clone();
            changed[index] = &longer;
            assert!(decrypt_with(&changed.join("."), &key).is_err(), "{alg} {enc}: part {index} longer");
            let shorter = URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() - 2]);
            changed[index] = &shorter;
            assert!(decrypt_with(&changed.join("."), &key).is_err(), "{alg} {enc}: part {index} shorter");
        }
    }
}

/// An encrypted key that opens to a CEK of the wrong length for `enc` fails like a bad tag,
/// so the length is no oracle either (RFC 7516 §11.5).
#[test]
fn jwe_a_cek_of_the_wrong_length_is_just_a_decryption_failure() {
    for alg in [KeyAlg::RsaOaep, KeyAlg::RsaOaep256, KeyAlg::EcdhEsA128Kw, KeyAlg::A256Kw] {
        let (key, _) = keys_for(alg, Enc::A128Gcm).remove(0);
        // A128GCM and A256GCM share IV and tag lengths; only the CEK length differs.
        let token = encrypt(&public(&key), &Params::new(alg, Enc::A128Gcm), b"x", &SystemRandom).unwrap();
        let mut header: serde_json::Value = serde_json::from_slice(&b64(token.split('.').next().unwrap())).unwrap();
        header["enc"] = json!("A256GCM");
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let rest = token.split_once('.').unwrap().1;
        assert_eq!(decrypt_with(&format!("{header}.{rest}"), &key), Err(JweError::Decryption), "{alg}");
    }
}

/// RFC 7516 Appendix A.1: RSAES-OAEP and AES-GCM, with the RFC's key (A.1.3) and token (A.1.7).
const A1_KEY: &str = r#"{"kty":"RSA",
    "n":"oahUIoWw0K0usKNuOR6H4wkf4oBUXHTxRvgb48E-BVvxkeDNjbC4he8rUWcJoZmds2h7M70imEVhRU5djINXtqllXI4DFqcI1DgjT9LewND8MW2Krf3Spsk_ZkoFnilakGygTwpZ3uesH-PFABNIUYpOiN15dsQRkgr0vEhxN92i2asbOenSZeyaxziK72UwxrrKoExv6kc5twXTq4h-QChLOln0_mtUZwfsRaMStPs6mS6XrgxnxbWhojf663tuEQueGC-FCMfra36C9knDFGzKsNa7LZK2djYgyD3JR_MB_4NUJW_TqOQtwHYbxevoJArm-L5StowjzGy-_bq6Gw",
    "e":"AQAB",
    "d":"kLdtIj6GbDks_ApCSTYQtelcNttlKiOyPzMrXHeI-yk1F7-kpDxY4-WY5NWV5KntaEeXS1j82E375xxhWMHXyvjYecPT9fpwR_M9gV8n9Hrh2anTpTD93Dt62ypW3yDsJzBnTnrYu1iwWRgBKrEYY46qAZIrA2xAwnm2X7uGR1hghkqDp0Vqj3kbSCz1XyfCs6_LehBwtxHIyh8Ripy40p24moOAbgxVw3rxT_vlt3UVe4WO3JkJOzlpUf-KTVI2Ptgm-dARxTEtE-id-4OJr0h-K-VFs3VSndVTIznSxfyrj8ILL6MG_Uv8YAu7VILSB3lOW085-4qE3DzgrTjgyQ",
    "p":"1r52Xk46c-LsfB5P442p7atdPUrxQSy4mti_tZI3Mgf2EuFVbUoDBvaRQ-SWxkbkmoEzL7JXroSBjSrK3YIQgYdMgyAEPTPjXv_hI2_1eTSPVZfzL0lffNn03IXqWF5MDFuoUYE0hzb2vhrlN_rKrbfDIwUbTrjjgieRbwC6Cl0",
    "q":"wLb35x7hmQWZsWJmB_vle87ihgZ19S8lBEROLIsZG4ayZVe9Hi9gDVCOBmUDdaDYVTSNx_8Fyw1YYa9XGrGnDew00J28cRUoeBB_jKI1oma0Orv1T9aXIWxKwd4gvxFImOWr3QRL9KEBRzk2RatUBnmDZJTIAfwTs0g68UZHvtc",
    "dp":"ZK-YwE7diUh0qR1tR7w8WHtolDx3MZ_OTowiFvgfeQ3SiresXjm9gZ5KLhMXvo-uz-KUJWDxS5pFQ_M0evdo1dKiRTjVw_x4NyqyXPM5nULPkcpU827rnpZzAJKpdhWAgqrXGKAECQH0Xt4taznjnd_zVpAmZZq60WPMBMfKcuE",
    "dq":"Dq0gfgJ1DdFGXiLvQEZnuKEN0UUmsJBxkjydc3j4ZYdBiMRAy86x0vHCjywcMlYYg4yoC4YZa9hNVcsjqA3FeiL19rk8g6Qn29Tt0cj8qqyFpz9vNDBUfCAiJVeESOjJDZPYHdHY8v1b-o-Z2X5tvLx-TCekf7oxyeKDUqKWjis",
    "qi":"VIMpMYbPf47dT1w_zDUXfPimsSegnMOA1zTaX7aGk_8urY6R8-ZW1FxU7AlWAyLWybqq6t16VFd7hQd0y6flUK4SlOydB61gwanOsXGOAOv82cHq0E3eL4HrtZkUuKvnPrMnsUUFlfUdybVzxyjz9JF_XyaY14ardLSjf4L_FNY"}"#;
const A1_TOKEN: &str = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.\
    OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.\
    48V1_ALb6US04U3b.\
    5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.\
    XFBoMYUZodetZdvTiFvSkQ";

#[test]
fn jwe_decrypts_rfc7516_appendix_a1() {
    let key: Jwk = serde_json::from_str(A1_KEY).unwrap();
    let token = A1_TOKEN.replace(' ', "");
    let opened = decrypt_with(&token, &key).unwrap();
    assert_eq!(opened.plaintext, b"The true sign of intelligence is not knowledge but imagination.");
    assert_eq!((opened.header.alg, opened.header.enc), (KeyAlg::RsaOaep, Enc::A256Gcm));
    // The public half encrypts to the same key (RSA-OAEP is randomised, so not to the same token).
    let again = encrypt(&public(&key), &Params::new(KeyAlg::RsaOaep, Enc::A256Gcm), b"again", &SystemRandom).unwrap();
    assert_eq!(decrypt_with(&again, &key).unwrap().plaintext, b"again");
    // The public key alone cannot decrypt.
    assert!(matches!(decrypt_with(&token, &public(&key)), Err(JweError::KeyMismatch(_))));
}

/// RFC 7516 Appendix A.3: AES key wrap and AES_128_CBC_HMAC_SHA_256, with the RFC's key
/// (A.3.3), CEK (A.3.2), IV (A.3.4) and token (A.3.7).
const A3_TOKEN: &str = "eyJhbGciOiJBMTI4S1ciLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.\
    6KB707dM9YTIgHtLvtgWQ8mKwboJW3of9locizkDTHzBC2IlrT1oOQ.\
    AxY8DCtDaGlsbGljb3RoZQ.\
    KDlTtXchhZTGufMYmOYGS4HffxPSUrfmqCHXaI9wOGY.\
    U0m_YmjN04DJvceFICbCVQ";

#[test]
fn jwe_decrypts_and_reproduces_rfc7516_appendix_a3() {
    let key: Jwk = serde_json::from_value(json!({"kty": "oct", "k": "GawgguFyGrWKav7AX4VKUg"})).unwrap();
    let token = A3_TOKEN.replace(' ', "");
    let opened = decrypt_with(&token, &key).unwrap();
    assert_eq!(opened.plaintext, b"Live long and prosper.");
    assert_eq!((opened.header.alg, opened.header.enc), (KeyAlg::A128Kw, Enc::A128CbcHs256));
    // Key wrap and CBC-HMAC are deterministic: with the RFC's CEK and IV as the "random" bytes,
    // encryption gives the RFC's token exactly.
    let cek: [u8; 32] = [
        4, 211, 31, 197, 84, 157, 252, 254, 11, 100, 157, 250, 63, 170, 106, 206, 107, 124, 212, 45, 111, 107, 9, 219,
        200, 177, 0, 240, 143, 156, 44, 207,
    ];
    let iv: [u8; 16] = [3, 22, 60, 12, 43, 67, 104, 105, 108, 108, 105, 99, 111, 116, 104, 101];
    let replay = Replay(Mutex::new([&cek[..], &iv[..]].concat()));
    let params = Params::new(KeyAlg::A128Kw, Enc::A128CbcHs256);
    assert_eq!(encrypt(&key, &params, b"Live long and prosper.", &replay).unwrap(), token);
}

#[test]
fn jwe_refuses_malformed_and_unsupported_tokens() {
    let key = secret_key(b"secret", KeyAlg::Dir, Enc::A128Gcm).unwrap();
    let token = encrypt(&key, &Params::new(KeyAlg::Dir, Enc::A128Gcm), b"x", &SystemRandom).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let with_header = |header: serde_json::Value| {
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        [header.as_str(), parts[1], parts[2], parts[3], parts[4]].join(".")
    };
    let open = |token: &str| decrypt_with(token, &key);
    let malformed = |token: &str| matches!(open(token), Err(JweError::Malformed(_)));

    assert!(malformed(""));
    assert!(malformed(&parts[..4].join(".")));
    assert!(malformed(&format!("{token}.")));
    assert!(malformed(&token.replacen('.', ".!", 1)));
    assert!(malformed(&token.replacen('.', "=.", 1)));
    assert!(malformed(&with_header(json!(["alg", "dir"]))));
    assert!(malformed(&with_header(json!({"enc": "A128GCM"}))));
    assert!(malformed(&with_header(json!({"alg": "dir"}))));
    assert!(malformed(&with_header(json!({"alg": "dir", "enc": "A128GCM", "kid": 7}))));
    assert_eq!(open(&with_header(json!({"alg": "RSA1_5", "enc": "A128GCM"}))), Err(JweError::Unsupported("alg")));
    assert_eq!(
        open(&with_header(json!({"alg": "PBES2-HS256+A128KW", "enc": "A128GCM"}))),
        Err(JweError::Unsupported("alg"))
    );
    assert_eq!(open(&with_header(json!({"alg": "dir", "enc": "A128CCM"}))), Err(JweError::Unsupported("enc")));
    assert_eq!(
        open(&with_header(json!({"alg": "dir", "enc": "A128GCM", "zip": "DEF"}))),
        Err(JweError::Unsupported("zip"))
    );
    assert_eq!(
        open(&with_header(json!({"alg": "dir", "enc": "A128GCM", "crit": ["exp"], "exp": 1}))),
        Err(JweError::Unsupported("crit"))
    );
    // A member given twice (RFC 7516 §5.2 step 4).
    let twice = URL_SAFE_NO_PAD.encode(r#"{"alg":"dir","enc":"A128GCM","alg":"A128KW"}"#);
    assert!(malformed(&[twice.as_str(), parts[1], parts[2], parts[3], parts[4]].join(".")));
    // `dir` with an encrypted key.
    assert!(malformed(&[parts[0], "AAAA", parts[2], parts[3], parts[4]].join(".")));
    // No key for the token.
    assert_eq!(decrypt(&token, |_| None), Err(JweError::UnknownKey));
    // ECDH without `epk`, or with one that is not a point of the curve.
    let ec = ecdh_key(&agreement::ECDH_P256, "ec");
    let ecdh = encrypt(&public(&ec), &Params::new(KeyAlg::EcdhEs, Enc::A128Gcm), b"x", &SystemRandom).unwrap();
    let ecdh_parts: Vec<&str> = ecdh.split('.').collect();
    let mut header: serde_json::Value = serde_json::from_slice(&b64(ecdh_parts[0])).unwrap();
    let with_ecdh_header = |header: &serde_json::Value| {
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
        [header.as_str(), ecdh_parts[1], ecdh_parts[2], ecdh_parts[3], ecdh_parts[4]].join(".")
    };
    header["epk"]["y"] = header["epk"]["x"].clone();
    assert_eq!(decrypt_with(&with_ecdh_header(&header), &ec), Err(JweError::InvalidEphemeralKey));
    header["epk"]["y"] = json!("AAAA");
    assert_eq!(decrypt_with(&with_ecdh_header(&header), &ec), Err(JweError::InvalidEphemeralKey));
    // An X25519 point of small order (all zeros) makes the agreement fail, not a zero key.
    let x25519 = ecdh_key(&agreement::X25519, "x");
    let token = encrypt(&public(&x25519), &Params::new(KeyAlg::EcdhEs, Enc::A128Gcm), b"x", &SystemRandom).unwrap();
    let x_parts: Vec<&str> = token.split('.').collect();
    let mut x_header: serde_json::Value = serde_json::from_slice(&b64(x_parts[0])).unwrap();
    x_header["epk"]["x"] = json!(URL_SAFE_NO_PAD.encode([0u8; 32]));
    let x_header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&x_header).unwrap());
    let low_order = [x_header.as_str(), x_parts[1], x_parts[2], x_parts[3], x_parts[4]].join(".");
    assert_eq!(decrypt_with(&low_order, &x25519), Err(JweError::InvalidEphemeralKey));
    header.as_object_mut().unwrap().remove("epk");
    assert!(matches!(decrypt_with(&with_ecdh_header(&header), &ec), Err(JweError::Malformed(_))));
}

#[test]
fn jwe_refuses_keys_that_do_not_fit() {
    let rsa = rsa_key(KeySize::Rsa2048, "rsa");
    let ec = ecdh_key(&agreement::ECDH_P384, "ec");
    let aes = secret_key(b"secret", KeyAlg::A128Kw, Enc::A128Gcm).unwrap();
    let enc = |key: &Jwk, alg| encrypt(key, &Params::new(alg, Enc::A128Gcm), b"x", &SystemRandom);
    let mismatch = |result: Result<String, JweError>| matches!(result, Err(JweError::KeyMismatch(_)));
    assert!(mismatch(enc(&public(&ec), KeyAlg::RsaOaep)));
    assert!(mismatch(enc(&public(&rsa), KeyAlg::EcdhEs)));
    assert!(mismatch(enc(&aes, KeyAlg::RsaOaep256)));
    assert!(mismatch(enc(&public(&rsa), KeyAlg::A128Kw)));
    assert!(mismatch(enc(&aes, KeyAlg::A256Kw)), "a 128-bit key for A256KW");
    assert!(enc(&aes, KeyAlg::Dir).is_ok(), "16 bytes is A128GCM's key");
    assert!(mismatch(encrypt(&aes, &Params::new(KeyAlg::Dir, Enc::A256Gcm), b"x", &SystemRandom)));
    let Key::Ec(p384) = &ec.key else { unreachable!() };
    let secp256k1 =
        Jwk { key: Key::Ec(Ec { crv: EcCurves::P256K, d: None, ..p384.clone() }), prm: Parameters::default() };
    assert!(mismatch(enc(&secp256k1, KeyAlg::EcdhEs)));
    // An RSA modulus under 2048 bits is refused.
    let Key::Rsa(full) = &rsa.key else { unreachable!() };
    let short = Jwk {
        key: Key::Rsa(Rsa { n: full.n[..128].to_vec().into(), e: full.e.clone(), prv: None }),
        prm: Parameters::default(),
    };
    assert!(matches!(enc(&short, KeyAlg::RsaOaep), Err(JweError::InvalidKey(_))));
    // An RSA private key without its CRT parameters is refused rather than guessed at.
    let token = enc(&public(&rsa), KeyAlg::RsaOaep).unwrap();
    let Key::Rsa(Rsa { prv: Some(prv), .. }) = &rsa.key else { unreachable!() };
    let d_only = Jwk {
        key: Key::Rsa(Rsa { prv: Some(RsaPrivate { d: prv.d.clone(), opt: None }), ..full.clone() }),
        prm: Parameters::default(),
    };
    assert!(matches!(decrypt_with(&token, &d_only), Err(JweError::InvalidKey(_))));
}

/// Random garbage, and random single-character changes to real tokens, are refused with an
/// error: never a panic, never a plaintext.
#[test]
fn jwe_garbage_is_refused_without_panicking() {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    let rng = SystemRandom;
    let mut seed = [0u8; 4096];
    rng.fill(&mut seed);
    let mut bytes = seed.iter().copied().cycle();
    let mut next = move || bytes.next().unwrap_or_default();
    let keys: Vec<(KeyAlg, Enc, Jwk)> = [
        (KeyAlg::RsaOaep256, Enc::A256Gcm),
        (KeyAlg::EcdhEsA256Kw, Enc::A128CbcHs256),
        (KeyAlg::EcdhEs, Enc::A192Gcm),
        (KeyAlg::A192Kw, Enc::A256CbcHs512),
        (KeyAlg::Dir, Enc::A128CbcHs256),
    ]
    .into_iter()
    .map(|(alg, enc)| (alg, enc, keys_for(alg, enc).remove(0).0))
    .collect();
    for (alg, enc, key) in &keys {
        let token = encrypt(&public(key), &Params::new(*alg, *enc), b"plaintext", &rng).unwrap();
        for _ in 0..200 {
            // Pure garbage from the token alphabet, often with the right number of dots.
            let len = next() as usize;
            let garbage: String = (0..len).map(|_| ALPHABET[next() as usize % ALPHABET.len()] as char).collect();
            assert!(decrypt_with(&garbage, key).is_err());
            // A real token with one character changed.
            let mut changed = token.clone().into_bytes();
            let at = (usize::from(next()) << 8 | usize::from(next())) % changed.len();
            let replacement = ALPHABET[next() as usize % ALPHABET.len()];
            if changed[at] == replacement {
                continue;
            }
            changed[at] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            assert!(decrypt_with(&changed, key).is_err(), "{alg} {enc}: {changed}");
        }
    }
}
