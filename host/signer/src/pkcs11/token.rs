//! Reaching a token through a PKCS#11 module: loading and initialising the library, finding
//! the token by label, logging in, signing with the mechanism of each JWS algorithm, and
//! telling which failures call for recovery.

use std::path::Path;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectHandle;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use gatehouse_protocol::secret::Secret;
use gatehouse_protocol::signer::Alg;
use sha2::Digest;

use super::Error;
use crate::certificate::KeyFamily;

/// Loads the module and initialises it with OS locking (without it SoftHSM turns its own
/// locking off). A module another part of the process initialised already is shared.
pub(crate) fn load(path: &Path) -> Result<Pkcs11, Error> {
    let module_error = |reason: String| Error::Module { path: path.to_owned(), reason };
    if !path.is_file() {
        return Err(module_error("no such file".to_owned()));
    }
    let pkcs11 = Pkcs11::new(path).map_err(|e| module_error(describe(&e)))?;
    initialize(&pkcs11).map_err(|e| module_error(describe(&e)))?;
    Ok(pkcs11)
}

/// `C_Initialize` with OS locking; "already initialised" counts as success.
pub(crate) fn initialize(pkcs11: &Pkcs11) -> Result<(), CkError> {
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        other => other,
    }
}

/// The slot holding the token labelled `label`. Slot ids change when tokens are initialised;
/// labels do not.
pub(crate) fn find_token(pkcs11: &Pkcs11, label: &str) -> Result<Slot, Error> {
    let mut present = Vec::new();
    for slot in pkcs11.get_slots_with_initialized_token().map_err(Error::Pkcs11)? {
        // Another token in trouble is no reason to fail: it is named in the error, if any.
        match pkcs11.get_token_info(slot) {
            Ok(info) if info.label() == label => return Ok(slot),
            Ok(info) => present.push(format!("{:?}", info.label())),
            Err(e) => present.push(format!("slot {} ({})", slot.id(), describe(&e))),
        }
    }
    let present = if present.is_empty() { "none".to_owned() } else { present.join(", ") };
    Err(Error::TokenNotFound { label: label.to_owned(), present })
}

/// Logs the user in. One login covers every session of the process, so "already logged in"
/// counts as success.
pub(crate) fn login(session: &Session, pin: &Secret<String>, label: &str) -> Result<(), Error> {
    let auth = AuthPin::from(pin.expose().as_str());
    match session.login(UserType::User, Some(&auth)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(
            rv @ (RvError::PinIncorrect
            | RvError::PinLocked
            | RvError::PinExpired
            | RvError::PinInvalid
            | RvError::PinLenRange),
            _,
        )) => Err(Error::Login { label: label.to_owned(), reason: ckr_name(rv) }),
        Err(e) => Err(Error::Pkcs11(e)),
    }
}

/// A session on the token with the user logged in. It is not closed on drop: after the
/// library is re-initialised its handle may name another session, so only code that knows
/// the library was not reset closes it.
pub(crate) fn open_session(
    pkcs11: &Pkcs11,
    slot: Slot,
    pin: &Secret<String>,
    label: &str,
    rw: bool,
) -> Result<Session, Error> {
    let session = if rw { pkcs11.open_rw_session_no_drop(slot) } else { pkcs11.open_ro_session_no_drop(slot) };
    let session = session.map_err(Error::Pkcs11)?;
    if let Err(e) = login(&session, pin, label) {
        let _ = session.close();
        return Err(e);
    }
    Ok(session)
}

/// The mechanisms a key family signs with; a token lacking one cannot use such keys.
pub(crate) fn mechanisms(family: KeyFamily) -> &'static [MechanismType] {
    match family {
        KeyFamily::Rsa => &[MechanismType::SHA256_RSA_PKCS, MechanismType::SHA256_RSA_PKCS_PSS],
        KeyFamily::P256 | KeyFamily::P384 => &[MechanismType::ECDSA],
    }
}

/// Which of the mechanisms Gatehouse signs with the token offers. (Asked one by one: the full
/// mechanism list holds types cryptoki does not know, and it logs an error for each.)
pub(crate) fn offered_mechanisms(pkcs11: &Pkcs11, slot: Slot) -> Vec<MechanismType> {
    [MechanismType::ECDSA, MechanismType::SHA256_RSA_PKCS, MechanismType::SHA256_RSA_PKCS_PSS]
        .into_iter()
        .filter(|m| pkcs11.get_mechanism_info(slot, *m).is_ok())
        .collect()
}

/// The data handed to the token for `alg`: ECDSA keys sign a digest made here, because
/// SoftHSM 2.6 lacks `CKM_ECDSA_SHA256`; RSA mechanisms hash on the token.
pub(crate) fn to_be_signed(alg: Alg, input: &[u8]) -> Vec<u8> {
    match alg {
        Alg::ES256 => sha2::Sha256::digest(input).to_vec(),
        Alg::ES384 => sha2::Sha384::digest(input).to_vec(),
        Alg::RS256 | Alg::PS256 => input.to_vec(),
    }
}

/// The signing mechanism of `alg`. `CKM_ECDSA` returns raw `r ‖ s`, the JWS form (RFC 7518
/// §3.4); PS256 is RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 7518 §3.5).
fn mechanism(alg: Alg) -> Mechanism<'static> {
    match alg {
        Alg::ES256 | Alg::ES384 => Mechanism::Ecdsa,
        Alg::RS256 => Mechanism::Sha256RsaPkcs,
        Alg::PS256 => Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 32u64.into(),
        }),
    }
}

/// Signs data prepared by [`to_be_signed`], returning the JWS signature.
pub(crate) fn sign(session: &Session, key: ObjectHandle, alg: Alg, data: &[u8]) -> Result<Vec<u8>, CkError> {
    let signature = session.sign(&mechanism(alg), key, data)?;
    // A signature of the wrong shape is never handed out.
    let expected = match alg {
        Alg::ES256 => Some(64),
        Alg::ES384 => Some(96),
        Alg::RS256 | Alg::PS256 => None,
    };
    match expected {
        Some(len) if signature.len() != len => Err(CkError::InvalidValue),
        _ => Ok(signature),
    }
}

/// How far recovery must go after a failed call.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Recovery {
    /// The login or the object handles are gone: log in again and find the keys again.
    Relogin,
    /// The library or the device is in trouble: finalise, initialise, log in, find.
    Reinitialize,
}

/// The recovery a failed call calls for; `None` when the failure is the request's alone.
pub(crate) fn recovery_for(error: &CkError) -> Option<Recovery> {
    match error {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::UserNotLoggedIn
            | RvError::ObjectHandleInvalid
            | RvError::KeyHandleInvalid
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::SessionCount => Some(Recovery::Relogin),
            RvError::DeviceError
            | RvError::DeviceRemoved
            | RvError::DeviceMemory
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::CryptokiNotInitialized
            | RvError::GeneralError => Some(Recovery::Reinitialize),
            _ => None,
        },
        CkError::LibraryLoading(_) | CkError::NullFunctionPointer | CkError::MissingSymbol(_) => {
            Some(Recovery::Reinitialize)
        }
        _ => None,
    }
}

/// A short description of a cryptoki error: the PKCS#11 function and the `CKR_` name.
pub(crate) fn describe(error: &CkError) -> String {
    match error {
        CkError::Pkcs11(rv, function) => format!("C_{function:?} returned {}", ckr_name(*rv)),
        CkError::InvalidValue => "the token returned a malformed value".to_owned(),
        other => other.to_string(),
    }
}

/// The specification's name of a return value: `UserNotLoggedIn` becomes
/// `CKR_USER_NOT_LOGGED_IN`.
fn ckr_name(rv: RvError) -> String {
    let mut name = String::from("CKR");
    for c in format!("{rv:?}").chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use cryptoki::context::Function;

    use super::*;

    #[test]
    fn errors_are_named_as_in_the_specification() {
        let e = CkError::Pkcs11(RvError::UserNotLoggedIn, Function::Sign);
        assert_eq!(describe(&e), "C_Sign returned CKR_USER_NOT_LOGGED_IN");
        assert_eq!(recovery_for(&e), Some(Recovery::Relogin));
        assert_eq!(
            recovery_for(&CkError::Pkcs11(RvError::DeviceRemoved, Function::Sign)),
            Some(Recovery::Reinitialize)
        );
        assert_eq!(recovery_for(&CkError::Pkcs11(RvError::DataLenRange, Function::Sign)), None);
    }
}
