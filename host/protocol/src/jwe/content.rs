//! Content encryption (`enc`, RFC 7518 §5): AES-GCM, and AES-CBC with HMAC-SHA-2, both over
//! aws-lc-rs primitives. The composite CBC-HMAC construction is the only part written here, as
//! §5.2.2 describes it: encrypt-then-MAC, the tag checked in constant time before anything is
//! decrypted, so a bad padding is never observable (no padding oracle).

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    self, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use super::{Enc, JweError};
use crate::secret::constant_time_eq;

/// A ciphertext and its authentication tag.
pub(super) struct Sealed {
    pub ciphertext: Vec<u8>,
    pub tag: Vec<u8>,
}

/// Encrypts `plaintext` under `cek` and `iv`, authenticating `aad` with it.
pub(super) fn seal(enc: Enc, cek: &[u8], iv: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Sealed, JweError> {
    check_key_and_iv(enc, cek, iv).map_err(|_| JweError::Encryption)?;
    let mut ciphertext = plaintext.to_vec();
    if enc.is_gcm() {
        let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| JweError::Encryption)?;
        let tag = gcm_key(enc, cek)?
            .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut ciphertext)
            .map_err(|_| JweError::Encryption)?;
        return Ok(Sealed { ciphertext, tag: tag.as_ref().to_vec() });
    }
    // RFC 7518 §5.2.2.1: MAC_KEY is the first half of the key, ENC_KEY the second; E is
    // AES-CBC of the PKCS #7-padded plaintext; the tag is HMAC(A || IV || E || AL), truncated.
    let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
    let key = PaddedBlockEncryptingKey::cbc_pkcs7(cbc_key(enc_key)?).map_err(|_| JweError::Encryption)?;
    let context = EncryptionContext::Iv128(FixedLength::try_from(iv).map_err(|_| JweError::Encryption)?);
    key.less_safe_encrypt(&mut ciphertext, context).map_err(|_| JweError::Encryption)?;
    let tag = cbc_tag(enc, mac_key, aad, iv, &ciphertext);
    Ok(Sealed { ciphertext, tag })
}

/// Checks the tag and decrypts. Every failure after the length checks is the same
/// [`JweError::Decryption`].
pub(super) fn open(
    enc: Enc,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, JweError> {
    check_key_and_iv(enc, cek, iv)?;
    if tag.len() != enc.tag_len() {
        return Err(JweError::Malformed("authentication tag length"));
    }
    let mut plaintext = ciphertext.to_vec();
    if enc.is_gcm() {
        let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| JweError::Decryption)?;
        let len = gcm_key(enc, cek)?
            .open_in_place_separate_tag(nonce, Aad::from(aad), tag, &mut plaintext)
            .map_err(|_| JweError::Decryption)?
            .len();
        plaintext.truncate(len);
        return Ok(plaintext);
    }
    // RFC 7518 §5.2.2.2: the integrity check comes first, and only an authentic ciphertext is
    // decrypted; the comparison takes the same time wherever the tags differ.
    let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
    if !constant_time_eq(&cbc_tag(enc, mac_key, aad, iv, ciphertext), tag) {
        return Err(JweError::Decryption);
    }
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(cbc_key(enc_key)?).map_err(|_| JweError::Decryption)?;
    let context = DecryptionContext::Iv128(FixedLength::try_from(iv).map_err(|_| JweError::Decryption)?);
    let len = key.decrypt(&mut plaintext, context).map_err(|_| JweError::Decryption)?.len();
    plaintext.truncate(len);
    Ok(plaintext)
}

fn check_key_and_iv(enc: Enc, cek: &[u8], iv: &[u8]) -> Result<(), JweError> {
    if cek.len() != enc.key_len() {
        return Err(JweError::KeyMismatch("content-encryption key length"));
    }
    if iv.len() != enc.iv_len() {
        return Err(JweError::Malformed("initialization vector length"));
    }
    Ok(())
}

fn gcm_key(enc: Enc, cek: &[u8]) -> Result<LessSafeKey, JweError> {
    let algorithm = match enc {
        Enc::A128Gcm => &aead::AES_128_GCM,
        Enc::A192Gcm => &aead::AES_192_GCM,
        _ => &aead::AES_256_GCM,
    };
    UnboundKey::new(algorithm, cek).map(LessSafeKey::new).map_err(|_| JweError::KeyMismatch("AES-GCM key"))
}

fn cbc_key(enc_key: &[u8]) -> Result<UnboundCipherKey, JweError> {
    let algorithm = match enc_key.len() {
        16 => &cipher::AES_128,
        24 => &cipher::AES_192,
        _ => &cipher::AES_256,
    };
    UnboundCipherKey::new(algorithm, enc_key).map_err(|_| JweError::KeyMismatch("AES-CBC key"))
}

/// RFC 7518 §5.2.2.1 steps 4–6: `HMAC(MAC_KEY, A || IV || E || AL)`, cut to the tag length,
/// where AL is the length of A in bits as a 64-bit big-endian number.
fn cbc_tag(enc: Enc, mac_key: &[u8], aad: &[u8], iv: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let algorithm = match enc {
        Enc::A128CbcHs256 => hmac::HMAC_SHA256,
        Enc::A192CbcHs384 => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    let mut mac = hmac::Context::with_key(&hmac::Key::new(algorithm, mac_key));
    mac.update(aad);
    mac.update(iv);
    mac.update(ciphertext);
    mac.update(&(aad.len() as u64).wrapping_mul(8).to_be_bytes());
    mac.sign().as_ref()[..enc.tag_len()].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
    }

    const PLAINTEXT: &str = "41 20 63 69 70 68 65 72 20 73 79 73 74 65 6d 20
        6d 75 73 74 20 6e 6f 74 20 62 65 20 72 65 71 75 69 72 65 64 20 74 6f 20 62 65 20 73 65 63 72 65
        74 2c 20 61 6e 64 20 69 74 20 6d 75 73 74 20 62 65 20 61 62 6c 65 20 74 6f 20 66 61 6c 6c 20 69
        6e 74 6f 20 74 68 65 20 68 61 6e 64 73 20 6f 66 20 74 68 65 20 65 6e 65 6d 79 20 77 69 74 68 6f
        75 74 20 69 6e 63 6f 6e 76 65 6e 69 65 6e 63 65";
    const IV: &str = "1a f3 8c 2d c2 b9 6f fd d8 66 94 09 23 41 bc 04";
    const AAD: &str = "54 68 65 20 73 65 63 6f 6e 64 20 70 72 69 6e 63 69 70 6c 65 20 6f 66 20 41 75 67 75
        73 74 65 20 4b 65 72 63 6b 68 6f 66 66 73";

    /// The test cases of RFC 7518 Appendix B (B.1, B.2, B.3): key, ciphertext E and tag T for the
    /// plaintext, IV and associated data above. The key is 00 01 02 … in each case.
    const APPENDIX_B: [(Enc, &str, &str); 3] = [
        (
            Enc::A128CbcHs256,
            "c8 0e df a3 2d df 39 d5 ef 00 c0 b4 68 83 42 79 a2 e4 6a 1b 80 49 f7 92 f7 6b fe 54 b9 03 a9 c9
             a9 4a c9 b4 7a d2 65 5c 5f 10 f9 ae f7 14 27 e2 fc 6f 9b 3f 39 9a 22 14 89 f1 63 62 c7 03 23 36
             09 d4 5a c6 98 64 e3 32 1c f8 29 35 ac 40 96 c8 6e 13 33 14 c5 40 19 e8 ca 79 80 df a4 b9 cf 1b
             38 4c 48 6f 3a 54 c5 10 78 15 8e e5 d7 9d e5 9f bd 34 d8 48 b3 d6 95 50 a6 76 46 34 44 27 ad e5
             4b 88 51 ff b5 98 f7 f8 00 74 b9 47 3c 82 e2 db",
            "65 2c 3f a3 6b 0a 7c 5b 32 19 fa b3 a3 0b c1 c4",
        ),
        (
            Enc::A192CbcHs384,
            "ea 65 da 6b 59 e6 1e db 41 9b e6 2d 19 71 2a e5 d3 03 ee b5 00 52 d0 df d6 69 7f 77 22 4c 8e db
             00 0d 27 9b dc 14 c1 07 26 54 bd 30 94 42 30 c6 57 be d4 ca 0c 9f 4a 84 66 f2 2b 22 6d 17 46 21
             4b f8 cf c2 40 0a dd 9f 51 26 e4 79 66 3f c9 0b 3b ed 78 7a 2f 0f fc bf 39 04 be 2a 64 1d 5c 21
             05 bf e5 91 ba e2 3b 1d 74 49 e5 32 ee f6 0a 9a c8 bb 6c 6b 01 d3 5d 49 78 7b cd 57 ef 48 49 27
             f2 80 ad c9 1a c0 c4 e7 9c 7b 11 ef c6 00 54 e3",
            "84 90 ac 0e 58 94 9b fe 51 87 5d 73 3f 93 ac 20 75 16 80 39 cc c7 33 d7",
        ),
        (
            Enc::A256CbcHs512,
            "4a ff aa ad b7 8c 31 c5 da 4b 1b 59 0d 10 ff bd 3d d8 d5 d3 02 42 35 26 91 2d a0 37 ec bc c7 bd
             82 2c 30 1d d6 7c 37 3b cc b5 84 ad 3e 92 79 c2 e6 d1 2a 13 74 b7 7f 07 75 53 df 82 94 10 44 6b
             36 eb d9 70 66 29 6a e6 42 7e a7 5c 2e 08 46 a1 1a 09 cc f5 37 0d c8 0b fe cb ad 28 c7 3f 09 b3
             a3 b7 5e 66 2a 25 94 41 0a e4 96 b2 e2 e6 60 9e 31 e6 e0 2c c8 37 f0 53 d2 1f 37 ff 4f 51 95 0b
             be 26 38 d0 9d d7 a4 93 09 30 80 6d 07 03 b1 f6",
            "4d d3 b4 c0 88 a7 f4 5c 21 68 39 64 5b 20 12 bf 2e 62 69 a8 c5 6a 81 6d bc 1b 26 77 61 95 5b c5",
        ),
    ];

    #[test]
    fn jwe_cbc_hmac_matches_rfc7518_appendix_b() {
        let (plaintext, iv, aad) = (hex(PLAINTEXT), hex(IV), hex(AAD));
        for (enc, ciphertext, tag) in APPENDIX_B {
            let key: Vec<u8> = (0..enc.key_len() as u8).collect();
            let sealed = seal(enc, &key, &iv, &aad, &plaintext).unwrap();
            assert_eq!(sealed.ciphertext, hex(ciphertext), "{enc:?} ciphertext");
            assert_eq!(sealed.tag, hex(tag), "{enc:?} tag");
            assert_eq!(open(enc, &key, &iv, &aad, &hex(ciphertext), &hex(tag)).unwrap(), plaintext);
        }
    }

    #[test]
    fn jwe_cbc_hmac_refuses_any_change_before_decrypting() {
        let (plaintext, iv, aad) = (hex(PLAINTEXT), hex(IV), hex(AAD));
        for enc in Enc::ALL {
            let key: Vec<u8> = (0..enc.key_len() as u8).collect();
            let iv = &iv[..enc.iv_len()];
            let sealed = seal(enc, &key, iv, &aad, &plaintext).unwrap();
            let flip = |bytes: &[u8], at: usize| {
                let mut bytes = bytes.to_vec();
                bytes[at] ^= 1;
                bytes
            };
            let (ct, tag) = (&sealed.ciphertext, &sealed.tag);
            for at in [0, ct.len() - 1] {
                assert_eq!(open(enc, &key, iv, &aad, &flip(ct, at), tag), Err(JweError::Decryption), "{enc:?}");
            }
            assert_eq!(open(enc, &key, iv, &aad, ct, &flip(tag, 0)), Err(JweError::Decryption), "{enc:?}");
            assert_eq!(open(enc, &key, &flip(iv, 3), &aad, ct, tag), Err(JweError::Decryption), "{enc:?}");
            assert_eq!(open(enc, &key, iv, &flip(&aad, 5), ct, tag), Err(JweError::Decryption), "{enc:?}");
            assert_eq!(open(enc, &flip(&key, 0), iv, &aad, ct, tag), Err(JweError::Decryption), "{enc:?}");
            assert!(matches!(open(enc, &key, iv, &aad, ct, &tag[1..]), Err(JweError::Malformed(_))));
            assert!(matches!(open(enc, &key, &iv[1..], &aad, ct, tag), Err(JweError::Malformed(_))));
            assert!(matches!(open(enc, &key[1..], iv, &aad, ct, tag), Err(JweError::KeyMismatch(_))));
            // A ciphertext that is not a whole number of blocks, or empty, is refused, not a panic.
            assert!(open(enc, &key, iv, &aad, &ct[1..], tag).is_err());
            assert!(open(enc, &key, iv, &aad, &[], tag).is_err());
        }
    }
}
