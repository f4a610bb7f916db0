//! How an authorization session is kept.
//!
//! Every write is a compare-and-swap on the version the request read ([`Store::update`],
//! [`Store::remove`]): of two concurrent requests on one session exactly one goes through,
//! a stale copy never rolls the stage or `data` back, and a completed session never comes
//! back. The session id begins with a short tag of its client's id, so the live sessions of
//! one client can be counted and bounded.
//!
//! [`Store::update`]: crate::store::Store::update
//! [`Store::remove`]: crate::store::Store::remove

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::AuthzSession;
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::model::CLIENTS;
use crate::model::Client;
use crate::provider::Provider;
use crate::secret::sha256;
use crate::store::Collection;
use crate::world::UnixTime;

const SESSIONS: Collection<AuthzSession> = Collection::new("authz_sessions");

/// Characters of the client tag at the start of a session id.
const TAG_LEN: usize = 6;

/// The tag of a client's sessions: the start of the base64url SHA-256 of its id.
fn client_tag(client_id: &str) -> String {
    let mut tag = URL_SAFE_NO_PAD.encode(sha256(client_id.as_bytes()));
    tag.truncate(TAG_LEN);
    tag
}

fn not_found(sid: &str) -> ApiError {
    ApiError::NotFound(format!("authorization session {sid:?} does not exist, has expired or has completed"))
}

impl Provider {
    /// A new, unguessable id for a session of `client_id`.
    pub(super) fn new_session_id(&self, client_id: &str) -> String {
        format!("{}{}", client_tag(client_id), self.new_id())
    }

    /// Refuses a new session when the client, or the provider, already has as many live
    /// sessions as the limits allow. The count and the insert are not one transaction, so
    /// concurrent starts can pass the bound by their number; it bounds a flood, not a race.
    pub(super) async fn session_room(&self, client_id: &str) -> Result<(), OAuthError> {
        let limits = &self.settings().limits;
        let now = self.now();
        let full = if SESSIONS.count(self.store(), &client_tag(client_id), now).await? >= limits.sessions_per_client {
            Some("this client")
        } else if SESSIONS.count(self.store(), "", now).await? >= limits.sessions_total {
            Some("the provider")
        } else {
            None
        };
        match full {
            None => Ok(()),
            Some(whose) => {
                tracing::warn!(client_id, "authorization session refused: {whose} has too many live sessions");
                Err(OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    "too many authorization requests are in progress; try again later",
                ))
            }
        }
    }

    pub(super) async fn load(&self, sid: &str, now: UnixTime) -> Result<AuthzSession, ApiError> {
        if sid.len() > 64 {
            return Err(not_found(&sid[..64]));
        }
        let read = SESSIONS.get_versioned(self.store(), sid, now).await?.ok_or_else(|| not_found(sid))?;
        Ok(AuthzSession { version: Some(read.version), ..read.value })
    }

    /// Stores the session: a new one, or this copy over the version it was read at.
    pub(super) async fn save(&self, session: &mut AuthzSession) -> Result<(), ApiError> {
        let (store, now) = (self.store(), self.now());
        let expiry = Some(session.expires_at);
        session.version = match session.version {
            None => {
                if !SESSIONS.insert(store, &session.sid, session, expiry, now).await? {
                    return Err(ApiError::internal(format_args!("session id {} collided", session.sid)));
                }
                Some(1)
            }
            Some(v) => match SESSIONS.update(store, &session.sid, session, expiry, v, now).await? {
                Some(next) => Some(next),
                None => return Err(self.lost_race(&session.sid).await),
            },
        };
        Ok(())
    }

    /// Closes the session so that exactly one caller completes it, and only from the version
    /// it read; a session that was never stored is answered at once and has nothing to close.
    pub(super) async fn close(&self, session: &AuthzSession) -> Result<(), ApiError> {
        if let Some(v) = session.version
            && !SESSIONS.remove(self.store(), &session.sid, v, self.now()).await?
        {
            return Err(self.lost_race(&session.sid).await);
        }
        Ok(())
    }

    /// The error for a write that found the session gone or changed by another request.
    async fn lost_race(&self, sid: &str) -> ApiError {
        match SESSIONS.get(self.store(), sid, self.now()).await {
            Ok(Some(_)) => ApiError::Conflict(format!(
                "authorization session {sid:?} was changed by another request while this one was handled; \
                 read it again"
            )),
            Ok(None) => not_found(sid),
            Err(e) => e.into(),
        }
    }

    /// The session's client, as long as it is the registration the request was validated for.
    pub(super) async fn session_client(&self, session: &AuthzSession) -> Result<Client, ApiError> {
        match CLIENTS.get(self.store(), &session.request.client_id, self.now()).await? {
            Some(client) if client.incarnation == session.client_incarnation => Ok(client),
            _ => Err(ApiError::Conflict("the client of this session is no longer registered".into())),
        }
    }
}
