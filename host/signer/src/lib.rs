//! Token signing backends for Gatehouse's [`Signer`](gatehouse_protocol::signer::Signer) port:
//! software keys (the zero-setup default) and keys in a PKCS#11 HSM, rolled over by the
//! validity of their X.509 certificates.

pub mod certificate;
pub mod pkcs11;
pub mod ring;
#[cfg(feature = "test-support")]
pub mod softhsm;
pub mod software;

pub use pkcs11::{Pkcs11Config, Pkcs11Signer};
pub use software::SoftwareSigner;

/// A signer that could not be set up. The message says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

impl From<pkcs11::Error> for SetupError {
    fn from(e: pkcs11::Error) -> Self {
        SetupError(e.to_string())
    }
}
