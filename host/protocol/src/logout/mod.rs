//! Logout: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) through the headless
//! front-end, and what ending a subject session tells the clients it answered —
//! back-channel logout tokens (Back-Channel Logout 1.0) and front-channel logout URIs
//! (Front-Channel Logout 1.0).
//!
//! ```text
//!  RP ──/logout──▶ host: the request checked (request.rs), kept as a LogoutRequest
//!       ──303──▶ front-end's logout page ?logout_request=<id>
//!  front-end ──GET /logout-requests/v1/<id>──▶ what to confirm with the user
//!  front-end ──POST …/<id>/confirm {sso_token}──▶ the subject session ended (end.rs):
//!       logout tokens (token.rs) handed to the LogoutDelivery port, which POSTs them off
//!       the request path with retries; front-channel URIs and the final redirect returned
//! ```
//!
//! The admin API ends a subject session the same way, by its public `sid`.

mod end;
mod request;
mod token;

use serde::{Deserialize, Serialize};

pub use request::MAX_LOGOUT_HINT;

use crate::secret::Secret;
use crate::session::ClientSummary;
use crate::world::UnixTime;

/// A logout token to POST to a client's `backchannel_logout_uri`.
#[derive(Clone, PartialEq, Eq)]
pub struct LogoutNotice {
    pub client_id: String,
    pub uri: String,
    pub logout_token: String,
}

impl std::fmt::Debug for LogoutNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogoutNotice").field("client_id", &self.client_id).field("uri", &self.uri).finish()
    }
}

/// Where back-channel logout tokens go. The server's implementation POSTs each in a task of
/// its own, with a timeout and retries, and counts the outcomes; ending a session never waits
/// for a client.
pub trait LogoutDelivery: Send + Sync + 'static {
    fn deliver(&self, notices: Vec<LogoutNotice>);
}

/// Drops every notice, with a log line: for providers (and tests) without outbound access.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDelivery;

impl LogoutDelivery for NoDelivery {
    fn deliver(&self, notices: Vec<LogoutNotice>) {
        for n in notices {
            tracing::info!(client_id = %n.client_id, "no back-channel delivery is configured; a logout token was dropped");
        }
    }
}

/// What `/logout` made of a valid request: the logout request the front-end confirms.
#[derive(Clone, Debug)]
pub struct LogoutStarted {
    pub id: String,
}

/// `GET /logout-requests/v1/{id}`: what the front-end shows the user before logging out.
#[derive(Clone, Debug, Serialize)]
pub struct LogoutPrompt {
    pub id: String,
    /// The client that asked for the logout, if it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientSummary>,
    /// Whether the browser goes back to the client afterwards.
    pub redirects: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ui_locales: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logout_hint: Option<String>,
    pub expires_at: UnixTime,
}

/// `POST /logout-requests/v1/{id}/confirm`: the front-end's SSO credential names the subject
/// session to end.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogoutInput {
    #[serde(default)]
    pub sso_token: Option<Secret<String>>,
}

/// What the front-end renders after a logout request is answered.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoggedOut {
    /// Whether a subject session ended (the browser had one).
    pub ended: bool,
    /// Front-channel logout URIs to load in hidden iframes before redirecting.
    pub frontchannel_logout_uris: Vec<String>,
    /// Where to send the browser last: the client's `post_logout_redirect_uri` with `state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}
