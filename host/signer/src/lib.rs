//! Token signing backends for Gatehouse's [`Signer`](gatehouse_protocol::signer::Signer) port.

pub mod software;

pub use software::SoftwareSigner;

/// A signer that could not be set up. The message says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);
