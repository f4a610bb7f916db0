//! Reading the X.509 certificates that accompany signing keys: their validity decides when a
//! key signs, and their public key becomes the published JWK (with `x5c` and `x5t#S256`).

use gatehouse_protocol::jose::thumbprint;
use gatehouse_protocol::secret::sha256;
use gatehouse_protocol::signer::Alg;
use gatehouse_protocol::world::UnixTime;
use jose_jwk::{Class, Ec, EcCurves, Jwk, Key, Parameters, Rsa, Thumbprint};
use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// The smallest RSA modulus Gatehouse signs with (RFC 7518 §3.3 requires 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;

/// The kind of key a certificate certifies, which fixes the algorithms it signs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    P256,
    P384,
}

impl KeyFamily {
    /// The JWS algorithms a key of this family signs: RSA keys both RS256 and PS256.
    pub fn algs(self) -> &'static [Alg] {
        match self {
            KeyFamily::Rsa => &[Alg::RS256, Alg::PS256],
            KeyFamily::P256 => &[Alg::ES256],
            KeyFamily::P384 => &[Alg::ES384],
        }
    }
}

/// What Gatehouse needs from a signing key's certificate.
#[derive(Clone, Debug)]
pub struct CertifiedKey {
    pub family: KeyFamily,
    /// The public key as a JWK with `kid` (its RFC 7638 thumbprint), `use`, `x5c` and
    /// `x5t#S256`. RSA keys sign two algorithms, so their JWK names none (RFC 7517 §4.4 makes
    /// `alg` optional); verifiers take the algorithm from the token header.
    pub jwk: Jwk,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
}

impl CertifiedKey {
    pub fn kid(&self) -> &str {
        self.jwk.prm.kid.as_deref().unwrap_or_default()
    }
}

/// Reads a DER certificate. The error says, in a sentence fragment, why it cannot be used.
pub fn read(der: &[u8]) -> Result<CertifiedKey, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("the certificate does not parse: {e}"))?;
    let spki = cert.public_key();
    let parsed = spki.parsed().map_err(|e| format!("the certificate's public key does not parse: {e}"))?;
    let (family, key) = match parsed {
        PublicKey::RSA(rsa) => {
            let n = strip_zeros(rsa.modulus);
            if n.len() * 8 < MIN_RSA_BITS {
                return Err(format!("the RSA key has {} bits, fewer than {MIN_RSA_BITS}", n.len() * 8));
            }
            let key = Key::Rsa(Rsa { n: n.to_vec().into(), e: strip_zeros(rsa.exponent).to_vec().into(), prv: None });
            (KeyFamily::Rsa, key)
        }
        PublicKey::EC(point) => {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
            let (family, crv) = match curve {
                Some(oid) if oid == OID_EC_P256 => (KeyFamily::P256, EcCurves::P256),
                Some(oid) if oid == OID_NIST_EC_P384 => (KeyFamily::P384, EcCurves::P384),
                _ => return Err("the EC key is on a curve other than P-256 and P-384".to_owned()),
            };
            let (x, y) = split_point(point.data(), family).ok_or("the EC public key is not an uncompressed point")?;
            (family, Key::Ec(Ec { crv, x: x.to_vec().into(), y: y.to_vec().into(), d: None }))
        }
        _ => return Err("the certificate holds neither an RSA nor an EC key".to_owned()),
    };
    let kid = thumbprint(&key);
    let alg = match family.algs() {
        [one] => Some(one.jwa().into()),
        _ => None,
    };
    let jwk = Jwk {
        key,
        prm: Parameters {
            kid: Some(kid),
            cls: Some(Class::Signing),
            alg,
            x5c: Some(vec![der.to_vec().into_boxed_slice().into()]),
            x5t: Thumbprint { s1: None, s256: Some(sha256(der).into()) },
            ..Default::default()
        },
    };
    let validity = cert.validity();
    Ok(CertifiedKey {
        family,
        jwk,
        not_before: UnixTime(validity.not_before.timestamp()),
        not_after: UnixTime(validity.not_after.timestamp()),
    })
}

/// The coordinates of an uncompressed SEC1 point (`04 ‖ x ‖ y`) on the family's curve.
pub(crate) fn split_point(point: &[u8], family: KeyFamily) -> Option<(&[u8], &[u8])> {
    let size = match family {
        KeyFamily::P256 => 32,
        KeyFamily::P384 => 48,
        KeyFamily::Rsa => return None,
    };
    match point.split_first() {
        Some((4, xy)) if xy.len() == 2 * size => Some(xy.split_at(size)),
        _ => None,
    }
}

/// A big-endian unsigned integer without its leading zero bytes, as JWKs carry them.
pub(crate) fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}
