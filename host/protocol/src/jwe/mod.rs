//! JSON Web Encryption (RFC 7516) in compact serialisation, with the key-management and
//! content-encryption algorithms of RFC 7518 that OpenID Connect uses for encrypted ID tokens,
//! UserInfo responses and request objects (Core §10.2, §16.14).
//!
//! [`encrypt`] makes a token for a recipient key and [`decrypt`] opens one; [`recipient_key`]
//! picks the key to encrypt to from a client's JWK set, and [`secret_key`] derives the symmetric
//! key from a client secret as Core §10.2 says. A nested JWT is the caller's: sign, then encrypt
//! with `cty: "JWT"`.
//!
//! ```
//! use gatehouse_protocol::jwe::{self, Enc, KeyAlg, Params};
//! use gatehouse_protocol::world::SystemRandom;
//!
//! // A client registered `id_token_encrypted_response_alg` A256KW and `_enc` A128CBC-HS256.
//! let (alg, enc, secret) = (KeyAlg::A256Kw, Enc::A128CbcHs256, b"the client secret");
//! let key = jwe::secret_key(secret, alg, enc)?;
//! let params = Params { cty: Some("JWT"), ..Params::new(alg, enc) };
//! let token = jwe::encrypt(&key, &params, b"a signed ID token", &SystemRandom)?;
//!
//! // The client's side: the key follows from the header, refused if it is not what was agreed.
//! let opened = jwe::decrypt(&token, |header| {
//!     let agreed = header.alg == alg && header.enc == enc;
//!     agreed.then(|| jwe::secret_key(secret, alg, enc).ok()).flatten()
//! })?;
//! assert_eq!(opened.plaintext, b"a signed ID token");
//! # Ok::<(), jwe::JweError>(())
//! ```
//!
//! The cryptography is aws-lc-rs's (RSA-OAEP, ECDH, AES-GCM, AES-CBC, AES key wrap, HMAC, SHA-2
//! and the Concat KDF); `aes-kw` adds AES-192 key wrap, which aws-lc-rs lacks. No JOSE crate
//! covers every algorithm here without OpenSSL, so only the JWE framing is ours: splitting and
//! joining the five parts, the header, and the composition each RFC 7518 algorithm describes.
//!
//! Decryption never panics on what a token holds, and every failure that depends on a key — a
//! wrong key; a changed encrypted key, IV, ciphertext or tag; a header changed but still well
//! formed — is the single [`JweError::Decryption`]: tags are compared in constant time, CBC is only decrypted after its
//! MAC is checked, and a failed RSA decryption goes on with a random key (RFC 7516 §11.5).

mod content;
mod key_management;
mod keys;
#[cfg(test)]
mod tests;

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jose_jwk::Jwk;
use jose_jwk::jose_b64::serde::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) use key_management::fits;
pub use keys::{generate_ecdh, generate_rsa, public_half, recipient_key, secret_key};

use crate::world::Random;

/// A key-management algorithm, the `alg` of a JWE (RFC 7518 §4.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    /// RSAES-OAEP with SHA-1 and MGF1 with SHA-1 (§4.3).
    RsaOaep,
    /// RSAES-OAEP with SHA-256 and MGF1 with SHA-256 (§4.3).
    RsaOaep256,
    /// ECDH-ES with the Concat KDF, the agreed key used directly as the CEK (§4.6).
    EcdhEs,
    /// ECDH-ES, the agreed key wrapping the CEK with AES key wrap (§4.6).
    EcdhEsA128Kw,
    EcdhEsA192Kw,
    EcdhEsA256Kw,
    /// AES key wrap with a shared key (§4.4).
    A128Kw,
    A192Kw,
    A256Kw,
    /// The shared key is the CEK (§4.5).
    Dir,
}

impl KeyAlg {
    pub const ALL: [KeyAlg; 10] = [
        KeyAlg::RsaOaep,
        KeyAlg::RsaOaep256,
        KeyAlg::EcdhEs,
        KeyAlg::EcdhEsA128Kw,
        KeyAlg::EcdhEsA192Kw,
        KeyAlg::EcdhEsA256Kw,
        KeyAlg::A128Kw,
        KeyAlg::A192Kw,
        KeyAlg::A256Kw,
        KeyAlg::Dir,
    ];

    /// The JWA name, as in a header or client metadata.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlg::RsaOaep => "RSA-OAEP",
            KeyAlg::RsaOaep256 => "RSA-OAEP-256",
            KeyAlg::EcdhEs => "ECDH-ES",
            KeyAlg::EcdhEsA128Kw => "ECDH-ES+A128KW",
            KeyAlg::EcdhEsA192Kw => "ECDH-ES+A192KW",
            KeyAlg::EcdhEsA256Kw => "ECDH-ES+A256KW",
            KeyAlg::A128Kw => "A128KW",
            KeyAlg::A192Kw => "A192KW",
            KeyAlg::A256Kw => "A256KW",
            KeyAlg::Dir => "dir",
        }
    }

    pub fn from_name(name: &str) -> Option<KeyAlg> {
        KeyAlg::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// Whether the key comes from an ECDH agreement (RFC 7518 §4.6).
    pub fn is_ecdh(self) -> bool {
        matches!(self, KeyAlg::EcdhEs | KeyAlg::EcdhEsA128Kw | KeyAlg::EcdhEsA192Kw | KeyAlg::EcdhEsA256Kw)
    }

    /// Whether the key is a shared secret (the client secret, OpenID Connect Core §10.2) rather
    /// than one of the recipient's public keys.
    pub fn is_symmetric(self) -> bool {
        matches!(self, KeyAlg::A128Kw | KeyAlg::A192Kw | KeyAlg::A256Kw | KeyAlg::Dir)
    }

    /// The length in bytes of the AES key-wrap key, for the algorithms that wrap.
    fn kw_len(self) -> Option<usize> {
        match self {
            KeyAlg::A128Kw | KeyAlg::EcdhEsA128Kw => Some(16),
            KeyAlg::A192Kw | KeyAlg::EcdhEsA192Kw => Some(24),
            KeyAlg::A256Kw | KeyAlg::EcdhEsA256Kw => Some(32),
            _ => None,
        }
    }
}

/// A content-encryption algorithm, the `enc` of a JWE (RFC 7518 §5.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Enc {
    /// AES-128-CBC with HMAC-SHA-256, tag truncated to 128 bits (§5.2.3).
    A128CbcHs256,
    /// AES-192-CBC with HMAC-SHA-384, tag truncated to 192 bits (§5.2.4).
    A192CbcHs384,
    /// AES-256-CBC with HMAC-SHA-512, tag truncated to 256 bits (§5.2.5).
    A256CbcHs512,
    /// AES-GCM with a 96-bit IV and a 128-bit tag (§5.3).
    A128Gcm,
    A192Gcm,
    A256Gcm,
}

impl Enc {
    pub const ALL: [Enc; 6] =
        [Enc::A128CbcHs256, Enc::A192CbcHs384, Enc::A256CbcHs512, Enc::A128Gcm, Enc::A192Gcm, Enc::A256Gcm];

    /// The JWA name, as in a header or client metadata.
    pub fn name(self) -> &'static str {
        match self {
            Enc::A128CbcHs256 => "A128CBC-HS256",
            Enc::A192CbcHs384 => "A192CBC-HS384",
            Enc::A256CbcHs512 => "A256CBC-HS512",
            Enc::A128Gcm => "A128GCM",
            Enc::A192Gcm => "A192GCM",
            Enc::A256Gcm => "A256GCM",
        }
    }

    pub fn from_name(name: &str) -> Option<Enc> {
        Enc::ALL.into_iter().find(|enc| enc.name() == name)
    }

    /// The length in bytes of the content-encryption key (for CBC-HMAC, MAC and AES keys together).
    pub fn key_len(self) -> usize {
        match self {
            Enc::A128CbcHs256 => 32,
            Enc::A192CbcHs384 => 48,
            Enc::A256CbcHs512 => 64,
            Enc::A128Gcm => 16,
            Enc::A192Gcm => 24,
            Enc::A256Gcm => 32,
        }
    }

    fn is_gcm(self) -> bool {
        matches!(self, Enc::A128Gcm | Enc::A192Gcm | Enc::A256Gcm)
    }

    fn iv_len(self) -> usize {
        if self.is_gcm() { 12 } else { 16 }
    }

    fn tag_len(self) -> usize {
        if self.is_gcm() { 16 } else { self.key_len() / 2 }
    }
}

macro_rules! jwa_serde {
    ($ty:ty, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                <$ty>::from_name(&name)
                    .ok_or_else(|| serde::de::Error::custom(format!(concat!("unsupported ", $what, " {:?}"), name)))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

jwa_serde!(KeyAlg, "alg");
jwa_serde!(Enc, "enc");

/// The JWE Protected Header (RFC 7516 §4.1) with the members Gatehouse reads and writes.
/// Other members of a received header are ignored, except `zip` and `crit`, which make
/// [`decrypt`] refuse the token (neither is supported).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub alg: KeyAlg,
    pub enc: Enc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// `JWT` for a nested (signed, then encrypted) token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
    /// The sender's ephemeral public key, for ECDH (RFC 7518 §4.6.1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epk: Option<Jwk>,
    /// Agreement PartyUInfo and PartyVInfo for the Concat KDF (RFC 7518 §4.6.1.2–3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apu: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apv: Option<Bytes>,
}

/// What to encrypt with besides the key: the algorithms and the optional header members.
/// `Params { cty: Some("JWT"), ..Params::new(alg, enc) }` for a nested JWT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params<'a> {
    pub alg: KeyAlg,
    pub enc: Enc,
    pub typ: Option<&'a str>,
    pub cty: Option<&'a str>,
    /// PartyUInfo and PartyVInfo for ECDH (sent as `apu` and `apv`); ignored by other algorithms.
    pub apu: Option<&'a [u8]>,
    pub apv: Option<&'a [u8]>,
}

impl Params<'_> {
    pub fn new(alg: KeyAlg, enc: Enc) -> Self {
        Params { alg, enc, typ: None, cty: None, apu: None, apv: None }
    }
}

/// An opened JWE: its protected header and the plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decrypted {
    pub header: Header,
    pub plaintext: Vec<u8>,
}

/// Why a JWE could not be made or opened. The messages name no key material and echo nothing
/// from the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JweError {
    /// Not a compact JWE, or a part of the wrong shape.
    #[error("malformed JWE: {0}")]
    Malformed(&'static str),
    /// An `alg`, `enc`, `zip` or `crit` that is not supported.
    #[error("unsupported JWE header member {0}")]
    Unsupported(&'static str),
    /// The key finder had no key for this token.
    #[error("no key for this JWE")]
    UnknownKey,
    /// The key is not of the type, curve or length the algorithm needs.
    #[error("key does not fit the algorithm: {0}")]
    KeyMismatch(&'static str),
    /// The key itself is unusable (too short an RSA modulus, a point off the curve…).
    #[error("unusable key: {0}")]
    InvalidKey(&'static str),
    /// The `epk` is not a valid public key on the recipient's curve.
    #[error("invalid ephemeral public key")]
    InvalidEphemeralKey,
    /// The wrong key, or the token was changed: one error for every cause.
    #[error("JWE decryption failed")]
    Decryption,
    /// The cryptographic library failed while encrypting.
    #[error("JWE encryption failed")]
    Encryption,
}

/// Encrypts `plaintext` to `key` as a compact JWE (RFC 7516 §5.1, §7.1).
///
/// `key` is the recipient's public JWK (RSA, EC on P-256/P-384/P-521, or X25519) for the
/// asymmetric algorithms, or a symmetric JWK (see [`secret_key`]) for AES key wrap and `dir`.
/// Its `kid`, if any, goes into the header. The CEK and the IV come from `rng`; the RSA-OAEP
/// seed and ECDH ephemeral keys come from aws-lc-rs's own generator, which offers no other.
pub fn encrypt(key: &Jwk, params: &Params<'_>, plaintext: &[u8], rng: &dyn Random) -> Result<String, JweError> {
    let (alg, enc) = (params.alg, params.enc);
    let (apu, apv) = (params.apu.unwrap_or_default(), params.apv.unwrap_or_default());
    let wrapped = key_management::wrap(alg, enc, key, apu, apv, rng)?;
    let header = Header {
        alg,
        enc,
        kid: key.prm.kid.clone(),
        typ: params.typ.map(str::to_owned),
        cty: params.cty.map(str::to_owned),
        epk: wrapped.epk,
        apu: params.apu.filter(|_| alg.is_ecdh()).map(|b| b.to_vec().into()),
        apv: params.apv.filter(|_| alg.is_ecdh()).map(|b| b.to_vec().into()),
    };
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|_| JweError::Encryption)?);
    let mut iv = vec![0u8; enc.iv_len()];
    rng.fill(&mut iv);
    // RFC 7516 §5.1 step 14: the additional authenticated data is ASCII(BASE64URL(header)).
    let sealed = content::seal(enc, &wrapped.cek, &iv, header.as_bytes(), plaintext)?;
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    Ok(format!(
        "{header}.{}.{}.{}.{}",
        b64(&wrapped.encrypted_key),
        b64(&iv),
        b64(&sealed.ciphertext),
        b64(&sealed.tag)
    ))
}

/// Opens a compact JWE (RFC 7516 §5.2) with the key `find_key` gives for its header.
///
/// `find_key` sees the protected header before anything is decrypted: it is where the caller
/// refuses an `alg` or `enc` it does not expect (RFC 8725 §3.1), picks its own key by `kid`,
/// or derives the client-secret key for the header's `alg` and `enc` with [`secret_key`].
pub fn decrypt(token: &str, find_key: impl FnOnce(&Header) -> Option<Jwk>) -> Result<Decrypted, JweError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err(JweError::Malformed("a compact JWE has five parts"));
    };
    let header = parse_header(header_b64)?;
    let part = |b64: &str, what| URL_SAFE_NO_PAD.decode(b64).map_err(|_| JweError::Malformed(what));
    let encrypted_key = part(encrypted_key, "encrypted key is not base64url")?;
    let iv = part(iv, "initialization vector is not base64url")?;
    let ciphertext = part(ciphertext, "ciphertext is not base64url")?;
    let tag = part(tag, "authentication tag is not base64url")?;
    let key = find_key(&header).ok_or(JweError::UnknownKey)?;
    let cek = key_management::unwrap(&header, &key, &encrypted_key)?;
    let plaintext = content::open(header.enc, &cek, &iv, header_b64.as_bytes(), &ciphertext, &tag)?;
    Ok(Decrypted { header, plaintext })
}

/// The protected header of a received token, refusing what is not supported.
fn parse_header(b64: &str) -> Result<Header, JweError> {
    let json = URL_SAFE_NO_PAD.decode(b64).map_err(|_| JweError::Malformed("protected header is not base64url"))?;
    let members: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json).map_err(|_| JweError::Malformed("protected header is not a JSON object"))?;
    // RFC 7516 §4.1.3 and RFC 7515 §4.1.11: compression and critical extensions are not
    // supported, so a token that uses either is refused rather than misread.
    for member in ["zip", "crit"] {
        if members.contains_key(member) {
            return Err(JweError::Unsupported(member));
        }
    }
    let name = |member| members.get(member).and_then(serde_json::Value::as_str);
    let alg = name("alg").ok_or(JweError::Malformed("protected header has no alg"))?;
    KeyAlg::from_name(alg).ok_or(JweError::Unsupported("alg"))?;
    let enc = name("enc").ok_or(JweError::Malformed("protected header has no enc"))?;
    Enc::from_name(enc).ok_or(JweError::Unsupported("enc"))?;
    // The typed parse also refuses a member given twice (RFC 7516 §5.2 step 4).
    serde_json::from_slice(&json).map_err(|_| JweError::Malformed("protected header members"))
}
