//! Key discovery: private keys and X.509 certificates on the token, paired by `CKA_ID`.
//!
//! A pair is used when the private key can sign, the certificate parses and certifies a key
//! of the same type (RSA of at least 2048 bits, EC P-256 or P-384), the token has the
//! mechanisms, and a probe signature made with the private key verifies with the
//! certificate's public key. Everything else is skipped with a reason: keys without a
//! certificate, certificates without a key, type or curve mismatches, duplicate ids.

use std::collections::{BTreeMap, HashSet};

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use gatehouse_protocol::jose::verify_signature;
use serde::Serialize;
use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384};

use super::config::Pkcs11Config;
use super::token::{self, recovery_for};
use crate::certificate::{self, CertifiedKey, KeyFamily, strip_zeros};
use crate::ring::RingKey;

/// A usable key and the handle of its private half.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub key: RingKey,
    pub handle: ObjectHandle,
}

/// A token object that is not used, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Skipped {
    /// `CKA_ID` in hex.
    pub id: String,
    pub label: String,
    pub reason: String,
}

/// What a scan of the token found.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scan {
    pub found: Vec<Found>,
    pub skipped: Vec<Skipped>,
}

/// Fails only when the token itself fails (the error then says how to recover); problems
/// with single objects become [`Skipped`] entries.
pub(crate) fn scan(session: &Session, config: &Pkcs11Config, mechanisms: &[MechanismType]) -> Result<Scan, CkError> {
    let key_attributes = [AttributeType::KeyType, AttributeType::Sign, AttributeType::EcParams, AttributeType::Modulus];
    let keys = objects(session, ObjectClass::PRIVATE_KEY, &key_attributes)?;
    let certs = objects(session, ObjectClass::CERTIFICATE, &[AttributeType::CertificateType, AttributeType::Value])?;
    let mut scan = Scan::default();
    let mut certs = unique_ids(certs, "certificates", &mut scan.skipped);
    let keys = unique_ids(keys, "private keys", &mut scan.skipped);
    let mut kids = HashSet::new();
    for (id, key) in keys {
        let cert = certs.remove(&id);
        if !config.selects(&key.label, &id) {
            continue;
        }
        let skip = |reason: String| Skipped { id: id.clone(), label: key.label.clone(), reason };
        match pair(session, &key, cert.as_ref(), mechanisms) {
            Ok(certified) if kids.insert(certified.kid().to_owned()) => {
                let ring_key = RingKey { label: key.label.clone(), id: id.clone(), key: certified };
                scan.found.push(Found { key: ring_key, handle: key.handle });
            }
            Ok(certified) => {
                scan.skipped.push(skip(format!("the same key as {} under another CKA_ID", certified.kid())))
            }
            Err(Pairing::Skip(reason)) => scan.skipped.push(skip(reason)),
            Err(Pairing::Token(e)) => return Err(e),
        }
    }
    for (id, cert) in certs {
        if config.selects(&cert.label, &id) {
            scan.skipped.push(Skipped {
                id,
                label: cert.label,
                reason: "a certificate without a private key".to_owned(),
            });
        }
    }
    Ok(scan)
}

/// A token object with its id, label and the attributes asked for.
struct Object {
    handle: ObjectHandle,
    label: String,
    attributes: Vec<Attribute>,
}

impl Object {
    fn get(&self, wanted: AttributeType) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.attribute_type() == wanted)
    }
}

/// Every object of `class` with its id in hex.
fn objects(session: &Session, class: ObjectClass, wanted: &[AttributeType]) -> Result<Vec<(String, Object)>, CkError> {
    let mut all = vec![AttributeType::Id, AttributeType::Label];
    all.extend_from_slice(wanted);
    let mut objects = Vec::new();
    for handle in session.find_objects(&[Attribute::Class(class)])? {
        let attributes = session.get_attributes(handle, &all)?;
        let mut id = String::new();
        let mut label = String::new();
        for attribute in &attributes {
            match attribute {
                Attribute::Id(bytes) => id = hex(bytes),
                Attribute::Label(bytes) => label = String::from_utf8_lossy(bytes).into_owned(),
                _ => {}
            }
        }
        objects.push((id, Object { handle, label, attributes }));
    }
    Ok(objects)
}

/// The objects by id; ids held by more than one object are skipped, since which one is meant
/// cannot be told.
fn unique_ids(objects: Vec<(String, Object)>, what: &str, skipped: &mut Vec<Skipped>) -> BTreeMap<String, Object> {
    let mut by_id: BTreeMap<String, Vec<Object>> = BTreeMap::new();
    for (id, object) in objects {
        by_id.entry(id).or_default().push(object);
    }
    let mut unique = BTreeMap::new();
    for (id, mut objects) in by_id {
        if objects.len() == 1 {
            unique.insert(id, objects.remove(0));
            continue;
        }
        let reason = format!("{} {what} share this CKA_ID", objects.len());
        for object in objects {
            skipped.push(Skipped { id: id.clone(), label: object.label, reason: reason.clone() });
        }
    }
    unique
}

/// Why a key and certificate do not make a usable pair.
enum Pairing {
    Skip(String),
    /// The token failed; the whole scan fails.
    Token(CkError),
}

fn pair(
    session: &Session,
    key: &Object,
    cert: Option<&Object>,
    mechanisms: &[MechanismType],
) -> Result<CertifiedKey, Pairing> {
    let skip = |reason: &str| Pairing::Skip(reason.to_owned());
    if !matches!(key.get(AttributeType::Sign), Some(Attribute::Sign(true))) {
        return Err(skip("not a signing key (CKA_SIGN is false)"));
    }
    let cert = cert.ok_or_else(|| skip("no certificate has this CKA_ID"))?;
    if !matches!(cert.get(AttributeType::CertificateType), Some(Attribute::CertificateType(t)) if *t == CertificateType::X_509)
    {
        return Err(skip("the certificate is not an X.509 certificate"));
    }
    let Some(Attribute::Value(der)) = cert.get(AttributeType::Value) else {
        return Err(skip("the certificate has no value"));
    };
    let certified = certificate::read(der).map_err(Pairing::Skip)?;
    match (key.get(AttributeType::KeyType), certified.family) {
        (Some(Attribute::KeyType(t)), KeyFamily::Rsa) if *t == KeyType::RSA => {
            if let (Some(Attribute::Modulus(n)), jose_jwk::Key::Rsa(public)) =
                (key.get(AttributeType::Modulus), &certified.jwk.key)
                && strip_zeros(n) != &public.n[..]
            {
                return Err(skip("the RSA key's modulus differs from the certificate's"));
            }
        }
        (Some(Attribute::KeyType(t)), family @ (KeyFamily::P256 | KeyFamily::P384)) if *t == KeyType::EC => {
            if !matches!(key.get(AttributeType::EcParams), Some(Attribute::EcParams(p)) if *p == ec_params(family)) {
                return Err(skip("the EC key is on another curve than the certificate's"));
            }
        }
        _ => {
            return Err(skip("the private key's type differs from the certificate's key"));
        }
    }
    if let Some(missing) = token::mechanisms(certified.family).iter().find(|m| !mechanisms.contains(m)) {
        return Err(Pairing::Skip(format!("the token does not offer {missing}")));
    }
    probe(session, key.handle, &certified)?;
    Ok(certified)
}

/// Signs a probe with the private key and verifies it with the certificate's public key, so
/// a key paired with the wrong certificate never signs a token.
fn probe(session: &Session, handle: ObjectHandle, certified: &CertifiedKey) -> Result<(), Pairing> {
    const PROBE: &[u8] = b"gatehouse key probe";
    let alg = certified.family.algs()[0];
    let signature =
        token::sign(session, handle, alg, &token::to_be_signed(alg, PROBE)).map_err(|e| match recovery_for(&e) {
            Some(_) => Pairing::Token(e),
            None => Pairing::Skip(format!("the probe signature failed: {}", token::describe(&e))),
        })?;
    verify_signature(&certified.jwk, alg, PROBE, &signature)
        .map_err(|_| Pairing::Skip("the private key does not match the certificate".to_owned()))
}

/// `CKA_EC_PARAMS` of a curve: the DER encoding of its named-curve OID.
pub(crate) fn ec_params(family: KeyFamily) -> Vec<u8> {
    let oid = match family {
        KeyFamily::P384 => &OID_NIST_EC_P384,
        _ => &OID_EC_P256,
    };
    let content = oid.as_bytes();
    let mut der = vec![0x06, content.len() as u8];
    der.extend_from_slice(content);
    der
}

/// Lower-case hex, the form ids are shown and configured in.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
