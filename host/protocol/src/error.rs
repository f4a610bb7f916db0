//! Typed OAuth 2.0 / OpenID Connect errors and the problem errors of the host APIs.
//!
//! An [`OAuthError`] carries its RFC error code, a description that is safe to show to the
//! client, and whether it may be delivered to the client's redirect URI. Internal detail never
//! goes into the description: it is logged where the error is made.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// The error codes of RFC 6749 §4.1.2.1 and §5.2, OpenID Connect Core §3.1.2.6, RFC 6750 §3.1
/// RFC 7591 §3.2.2 and RFC 7009 §2.2.1.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    InteractionRequired,
    LoginRequired,
    AccountSelectionRequired,
    ConsentRequired,
    InvalidRequestUri,
    InvalidRequestObject,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    InvalidToken,
    InsufficientScope,
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidSoftwareStatement,
    /// RFC 7009 §2.2.1: the token is of a type that cannot be revoked.
    UnsupportedTokenType,
    /// RFC 8707 §2: the requested resource is unknown, or not one the client may ask for.
    InvalidTarget,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InteractionRequired => "interaction_required",
            Self::LoginRequired => "login_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::ConsentRequired => "consent_required",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
        }
    }

    /// Parses a code a front-end or plugin names, for example when it denies a request.
    pub fn parse(code: &str) -> Option<Self> {
        const ALL: [ErrorCode; 26] = [
            ErrorCode::InvalidRequest,
            ErrorCode::UnauthorizedClient,
            ErrorCode::AccessDenied,
            ErrorCode::UnsupportedResponseType,
            ErrorCode::InvalidScope,
            ErrorCode::ServerError,
            ErrorCode::TemporarilyUnavailable,
            ErrorCode::InvalidClient,
            ErrorCode::InvalidGrant,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::InteractionRequired,
            ErrorCode::LoginRequired,
            ErrorCode::AccountSelectionRequired,
            ErrorCode::ConsentRequired,
            ErrorCode::InvalidRequestUri,
            ErrorCode::InvalidRequestObject,
            ErrorCode::RequestNotSupported,
            ErrorCode::RequestUriNotSupported,
            ErrorCode::RegistrationNotSupported,
            ErrorCode::InvalidToken,
            ErrorCode::InsufficientScope,
            ErrorCode::InvalidRedirectUri,
            ErrorCode::InvalidClientMetadata,
            ErrorCode::InvalidSoftwareStatement,
            ErrorCode::UnsupportedTokenType,
            ErrorCode::InvalidTarget,
        ];
        ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// The HTTP status a back-channel endpoint answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope | Self::AccessDenied => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error as the client will see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    /// An error with `description`, made safe for the wire: RFC 6749 §4.1.2.1 allows only
    /// printable ASCII other than `"` and `\` in `error_description`, so a `"` becomes `'`,
    /// other characters outside the set become `?`, and the text is cut at 512 bytes.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { code, description: wire_safe(description.into()) }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidToken, description)
    }

    /// A server-side failure. The detail is logged here and never sent to the client.
    pub fn server_error(detail: impl fmt::Display) -> Self {
        tracing::error!(%detail, "request failed on the server side");
        Self::new(ErrorCode::ServerError, "the server could not complete the request")
    }

    /// The signer or another dependency cannot serve right now.
    pub fn temporarily_unavailable(detail: impl fmt::Display) -> Self {
        tracing::error!(%detail, "a dependency is unavailable");
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the server cannot complete the request right now; try again later",
        )
    }
}

/// The longest `error_description` sent.
const MAX_DESCRIPTION: usize = 512;

fn wire_safe(text: Cow<'static, str>) -> Cow<'static, str> {
    let allowed = |c: char| (' '..='~').contains(&c) && c != '"' && c != '\\';
    if text.len() <= MAX_DESCRIPTION && text.chars().all(allowed) {
        return text;
    }
    let safe: String = text
        .chars()
        .map(|c| match c {
            '"' => '\'',
            c if allowed(c) => c,
            _ => '?',
        })
        .take(MAX_DESCRIPTION)
        .collect();
    Cow::Owned(safe)
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

/// The kinds of failure of the host's own JSON APIs (authorization sessions, clients, admin).
/// Rendered as RFC 9457 problem documents by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the request body or a parameter is wrong; the message says how.
    BadRequest(String),
    /// 404: no such resource, or it expired.
    NotFound(String),
    /// 409: the resource exists or is in the wrong state for this call.
    Conflict(String),
    /// 400 with an OAuth code, for client registration (`invalid_client_metadata`, ...).
    OAuth(OAuthError),
    /// 503: a dependency (store, signer, plugin runtime) is failing.
    Unavailable(String),
    /// 500: a bug or an unexpected failure. The message is generic; the detail was logged.
    Internal,
}

impl ApiError {
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(%detail, "internal error in the API");
        Self::Internal
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest(m) | Self::NotFound(m) | Self::Conflict(m) | Self::Unavailable(m) => f.write_str(m),
            Self::OAuth(e) => e.fmt(f),
            Self::Internal => f.write_str("internal error"),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        Self::Unavailable("the storage backend is unavailable".into())
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        OAuthError::temporarily_unavailable(format_args!("storage: {e}"))
    }
}

impl From<crate::signer::SignError> for OAuthError {
    fn from(e: crate::signer::SignError) -> Self {
        OAuthError::temporarily_unavailable(format_args!("signing: {e}"))
    }
}

impl From<crate::signer::SignError> for ApiError {
    fn from(e: crate::signer::SignError) -> Self {
        tracing::error!(error = %e, "signing failure");
        Self::Unavailable("token signing is unavailable".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_made_safe_for_the_wire() {
        let e = OAuthError::invalid_request(format!("prompt value {:?} is not supported", "x\\y\n\u{e9}"));
        assert_eq!(e.description, "prompt value 'x??y?n?' is not supported");
        assert_eq!(OAuthError::invalid_request("x".repeat(600)).description.len(), 512);
        assert!(matches!(OAuthError::invalid_request("plain text").description, Cow::Borrowed(_)));
    }
}
