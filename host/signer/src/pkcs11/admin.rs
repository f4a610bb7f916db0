//! Operator tools, called by the `gatehouse keys` commands: what is on the token, generating
//! a key pair on it with a self-signed certificate (signed by the HSM key itself), and the
//! roll-over plan at a given time.
//!
//! These functions block; they share the module with a signer running in the same process.

use std::str::FromStr;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use cryptoki::context::Pkcs11;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use gatehouse_protocol::world::UnixTime;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyUsagePurpose, PublicKeyData, SerialNumber, SignatureAlgorithm,
    SigningKey,
};
use serde::Serialize;
use time::OffsetDateTime;

use super::config::Pkcs11Config;
use super::discovery::{self, Skipped, ec_params, hex};
use super::{Error, token};
use crate::certificate::{self, KeyFamily, MIN_RSA_BITS};
pub use crate::ring::KeyInfo;
use crate::ring::{KeyRing, Plan, RingKey};

/// The kinds of key pair the tools generate.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa { bits: u32 },
    P256,
    P384,
}

impl KeyKind {
    fn family(self) -> KeyFamily {
        match self {
            KeyKind::Rsa { .. } => KeyFamily::Rsa,
            KeyKind::P256 => KeyFamily::P256,
            KeyKind::P384 => KeyFamily::P384,
        }
    }
}

impl FromStr for KeyKind {
    type Err = String;

    /// `rsa` (2048 bits), `rsa3072`, `rsa4096`, `ec-p256` (or `p256`), `ec-p384` (or `p384`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa2048" => Ok(KeyKind::Rsa { bits: 2048 }),
            "rsa3072" => Ok(KeyKind::Rsa { bits: 3072 }),
            "rsa4096" => Ok(KeyKind::Rsa { bits: 4096 }),
            "ec-p256" | "p256" | "p-256" => Ok(KeyKind::P256),
            "ec-p384" | "p384" | "p-384" => Ok(KeyKind::P384),
            _ => Err(format!("unknown key type {s:?}; use rsa2048, rsa3072, rsa4096, ec-p256 or ec-p384")),
        }
    }
}

/// A key pair to generate.
#[derive(Clone, Debug)]
pub struct KeySpec {
    /// `CKA_LABEL` of both halves and the certificate.
    pub label: String,
    pub kind: KeyKind,
    /// The certificate's validity: when the key starts and stops signing.
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    /// The certificate subject's common name; the label when absent.
    pub common_name: Option<String>,
}

/// Everything on the token that concerns signing.
#[derive(Clone, Debug, Serialize)]
pub struct Inventory {
    pub keys: Vec<KeyInfo>,
    pub skipped: Vec<Skipped>,
}

/// Lists the usable keys on the token and the objects skipped, with reasons.
pub fn list(config: &Pkcs11Config) -> Result<Inventory, Error> {
    let (ring, skipped) = Token::open(config)?.ring(config)?;
    let keys = ring.keys().iter().map(KeyInfo::from).collect();
    Ok(Inventory { keys, skipped })
}

/// What would be published, and which key would sign each algorithm, at `at`.
pub fn plan(config: &Pkcs11Config, at: UnixTime) -> Result<Plan, Error> {
    Ok(Token::open(config)?.ring(config)?.0.plan(at))
}

/// Generates a key pair on the token and stores a self-signed certificate for it with the
/// chosen validity. The private key is sensitive, not extractable, and can only sign.
pub fn generate(config: &Pkcs11Config, spec: &KeySpec) -> Result<KeyInfo, Error> {
    if spec.not_after <= spec.not_before {
        return Err(Error::Generate("not_after must be later than not_before".to_owned()));
    }
    if matches!(spec.kind, KeyKind::Rsa { bits } if (bits as usize) < MIN_RSA_BITS) {
        return Err(Error::Generate(format!("RSA keys need at least {MIN_RSA_BITS} bits")));
    }
    let token = Token::open(config)?;
    let id = random::<16>()?;
    let (public, private) = token.generate_pair(spec, &id)?;
    let stored = token.certify(spec, &id, public, private);
    if stored.is_err() {
        // Leave no half-made key behind.
        let _ = token.session.destroy_object(private);
        let _ = token.session.destroy_object(public);
    }
    let certified = stored?;
    Ok(KeyInfo::from(&RingKey { label: spec.label.clone(), id: hex(&id), key: certified }))
}

/// A logged-in read-write session on the configured token, closed on drop.
struct Token {
    pkcs11: Pkcs11,
    slot: Slot,
    session: Session,
}

impl Token {
    fn open(config: &Pkcs11Config) -> Result<Self, Error> {
        config.check()?;
        let pin = config.pin()?;
        let pkcs11 = token::load(&config.module)?;
        let slot = token::find_token(&pkcs11, &config.token_label)?;
        let session = pkcs11.open_rw_session(slot).map_err(Error::Pkcs11)?;
        token::login(&session, &pin, &config.token_label)?;
        Ok(Self { pkcs11, slot, session })
    }

    fn ring(&self, config: &Pkcs11Config) -> Result<(KeyRing, Vec<Skipped>), Error> {
        let mechanisms = token::offered_mechanisms(&self.pkcs11, self.slot);
        let scan = discovery::scan(&self.session, config, &mechanisms).map_err(Error::Pkcs11)?;
        let ring = KeyRing::new(scan.found.into_iter().map(|f| f.key).collect(), config.publication());
        Ok((ring, scan.skipped))
    }

    fn generate_pair(&self, spec: &KeySpec, id: &[u8]) -> Result<(ObjectHandle, ObjectHandle), Error> {
        let common =
            [Attribute::Token(true), Attribute::Id(id.to_vec()), Attribute::Label(spec.label.clone().into_bytes())];
        let mut public =
            vec![Attribute::Private(false), Attribute::Verify(true), Attribute::Encrypt(false), Attribute::Wrap(false)];
        // SoftHSM makes private keys decrypt and unwrap unless told otherwise.
        let mut private = vec![
            Attribute::Private(true),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
        ];
        public.extend_from_slice(&common);
        private.extend_from_slice(&common);
        let mechanism = match spec.kind {
            KeyKind::Rsa { bits } => {
                public.push(Attribute::ModulusBits(u64::from(bits).into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
            KeyKind::P256 | KeyKind::P384 => {
                public.push(Attribute::EcParams(ec_params(spec.kind.family())));
                Mechanism::EccKeyPairGen
            }
        };
        self.session.generate_key_pair(&mechanism, &public, &private).map_err(Error::Pkcs11)
    }

    /// Makes the certificate with the new key and stores it beside the key.
    fn certify(
        &self,
        spec: &KeySpec,
        id: &[u8],
        public: ObjectHandle,
        private: ObjectHandle,
    ) -> Result<certificate::CertifiedKey, Error> {
        let key = HsmKey::read(&self.session, spec.kind.family(), public, private)?;
        let mut params = CertificateParams::default();
        params.not_before = date(spec.not_before)?;
        params.not_after = date(spec.not_after)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, spec.common_name.clone().unwrap_or_else(|| spec.label.clone()));
        params.distinguished_name = name;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // RFC 5280 §4.1.2.2: a positive serial of at most 20 bytes, unique per issuer.
        let mut serial = random::<16>()?;
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let cert =
            params.self_signed(&key).map_err(|e| Error::Generate(format!("the certificate could not be made: {e}")))?;
        let der = cert.der().to_vec();
        let certified = certificate::read(&der).map_err(Error::Generate)?;
        let subject = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| Error::Generate(format!("the new certificate does not parse: {e}")))?
            .1
            .subject()
            .as_raw()
            .to_vec();
        let template = [
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Id(id.to_vec()),
            Attribute::Label(spec.label.clone().into_bytes()),
            Attribute::Subject(subject),
            Attribute::Value(der),
        ];
        self.session.create_object(&template).map_err(Error::Pkcs11)?;
        Ok(certified)
    }
}

/// A key pair on the token, seen by rcgen as the certificate's subject and issuer.
struct HsmKey<'a> {
    session: &'a Session,
    private: ObjectHandle,
    family: KeyFamily,
    /// The subjectPublicKey: the SEC1 point, or the PKCS#1 `RSAPublicKey`.
    public: Vec<u8>,
}

impl<'a> HsmKey<'a> {
    fn read(
        session: &'a Session,
        family: KeyFamily,
        public: ObjectHandle,
        private: ObjectHandle,
    ) -> Result<Self, Error> {
        let wanted = match family {
            KeyFamily::Rsa => vec![AttributeType::Modulus, AttributeType::PublicExponent],
            KeyFamily::P256 | KeyFamily::P384 => vec![AttributeType::EcPoint],
        };
        let attributes = session.get_attributes(public, &wanted).map_err(Error::Pkcs11)?;
        let missing = || Error::Generate("the token did not return the new public key".to_owned());
        let public = match family {
            KeyFamily::Rsa => {
                let n = attributes.iter().find_map(|a| if let Attribute::Modulus(n) = a { Some(n) } else { None });
                let e =
                    attributes.iter().find_map(|a| if let Attribute::PublicExponent(e) = a { Some(e) } else { None });
                let (n, e) = n.zip(e).ok_or_else(missing)?;
                yasna::construct_der(|w| {
                    w.write_sequence(|w| {
                        w.next().write_bigint_bytes(n, true);
                        w.next().write_bigint_bytes(e, true);
                    })
                })
            }
            KeyFamily::P256 | KeyFamily::P384 => {
                let point = attributes
                    .iter()
                    .find_map(|a| if let Attribute::EcPoint(p) = a { Some(p) } else { None })
                    .ok_or_else(missing)?;
                // CKA_EC_POINT holds the DER OCTET STRING around the point.
                yasna::parse_der(point, |r| r.read_bytes())
                    .map_err(|e| Error::Generate(format!("CKA_EC_POINT is not a DER octet string: {e}")))?
            }
        };
        Ok(Self { session, private, family, public })
    }
}

impl PublicKeyData for HsmKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self.family {
            KeyFamily::Rsa => &rcgen::PKCS_RSA_SHA256,
            KeyFamily::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyFamily::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

impl SigningKey for HsmKey<'_> {
    /// Signs with the token. X.509 wants ECDSA signatures as DER `SEQUENCE { r, s }`
    /// (RFC 3279 §2.2.3), not the raw `r ‖ s` the token returns.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let alg = self.family.algs()[0];
        let signature = token::sign(self.session, self.private, alg, &token::to_be_signed(alg, msg)).map_err(|e| {
            tracing::error!(error = %token::describe(&e), "the HSM could not sign the new certificate");
            rcgen::Error::RemoteKeyError
        })?;
        if !alg.is_ec() {
            return Ok(signature);
        }
        let (r, s) = signature.split_at(signature.len() / 2);
        Ok(yasna::construct_der(|w| {
            w.write_sequence(|w| {
                w.next().write_bigint_bytes(r, true);
                w.next().write_bigint_bytes(s, true);
            })
        }))
    }
}

fn date(t: UnixTime) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp(t.0).map_err(|e| Error::Generate(format!("the date {t} is out of range: {e}")))
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Generate("the system random generator failed".to_owned()))?;
    Ok(bytes)
}
