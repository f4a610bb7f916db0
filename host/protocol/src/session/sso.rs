//! Subject sessions: the single sign-on state of an authenticated end-user.
//!
//! Each has two values. Its `sid` is public: the `sid` claim of tokens, logout, plugin
//! queries. Its credential — `<sid>.<256 random bits>` — is what the front-end keeps in its
//! SSO cookie and presents to resume the session; the provider stores only the credential's
//! hash, and the credential never appears in a token, a plugin query, a log or session `data`.
//! Seeing a token therefore never lets anyone log in as its subject.

use super::SsoToken;
use crate::error::ApiError;
use crate::model::{AuthorizationRequest, PromptValue, SUBJECT_SESSIONS, SubjectSession};
use crate::provider::Provider;
use crate::secret::{Secret, TokenHash, constant_time_eq};
use crate::world::UnixTime;

/// The longest SSO credential the provider makes; longer ones are refused unread.
const MAX_CREDENTIAL: usize = 128;

impl Provider {
    /// A new subject session's id and credential; `fill` sets everything else.
    pub(super) fn new_subject_session(
        &self,
        fill: impl FnOnce(String) -> SubjectSession,
    ) -> (SubjectSession, SsoToken) {
        let mut subject = fill(self.new_id());
        let token = format!("{}.{}", subject.sid, self.new_token());
        subject.credential = Some(TokenHash::of(&token));
        let expires_at = subject.expires_at;
        (subject, SsoToken { token, expires_at })
    }

    /// Keeps a subject session so its credential can resume it until it expires.
    pub(super) async fn keep_subject_session(&self, subject: &SubjectSession) -> Result<(), ApiError> {
        Ok(SUBJECT_SESSIONS.put(self.store(), &subject.sid, subject, Some(subject.expires_at)).await?)
    }

    /// Adds `client_id` to the clients of the live subject session `sid`, as of its latest
    /// version; `None` if the session has ended.
    pub(super) async fn add_session_client(
        &self,
        sid: &str,
        client_id: &str,
    ) -> Result<Option<SubjectSession>, ApiError> {
        // Each failed swap means another writer succeeded, so this ends quickly; the bound
        // only guards against a store that never accepts a swap.
        for _ in 0..16 {
            let now = self.now();
            let Some(current) = SUBJECT_SESSIONS.get_versioned(self.store(), sid, now).await? else {
                return Ok(None);
            };
            let mut subject = current.value;
            if !subject.add_client(client_id) {
                return Ok(Some(subject));
            }
            let expires = Some(subject.expires_at);
            if SUBJECT_SESSIONS.update(self.store(), sid, &subject, expires, current.version, now).await?.is_some() {
                return Ok(Some(subject));
            }
        }
        Err(ApiError::Unavailable("the subject session is being changed too often; try again".into()))
    }

    /// The live subject session `credential` proves, whatever the request.
    pub(crate) async fn proved_subject(
        &self,
        credential: &Secret<String>,
        now: UnixTime,
    ) -> Result<Option<SubjectSession>, ApiError> {
        let credential = credential.expose();
        let Some((sid, _)) = credential.split_once('.').filter(|_| credential.len() <= MAX_CREDENTIAL) else {
            return Ok(None);
        };
        let Some(subject) = SUBJECT_SESSIONS.get(self.store(), sid, now).await? else {
            return Ok(None);
        };
        let proved = subject
            .credential
            .as_ref()
            .is_some_and(|h| constant_time_eq(h.as_str().as_bytes(), TokenHash::of(credential).as_str().as_bytes()));
        if !proved {
            tracing::info!(sid, "an SSO credential did not match its subject session");
            return Ok(None);
        }
        Ok(Some(subject))
    }

    /// The subject session the front-end's SSO credential proves, if it can answer this
    /// request without a new login (OpenID Connect Core §3.1.2.3).
    pub(super) async fn usable_subject(
        &self,
        credential: &Secret<String>,
        request: &AuthorizationRequest,
        now: UnixTime,
    ) -> Result<Option<SubjectSession>, ApiError> {
        if request.has_prompt(PromptValue::Login) {
            return Ok(None);
        }
        let Some(subject) = self.proved_subject(credential, now).await? else {
            return Ok(None);
        };
        let age = now.0.saturating_sub(subject.auth_time.0);
        let fresh_enough = request.max_age.is_none_or(|max| age <= i64::try_from(max).unwrap_or(i64::MAX));
        let acr_met =
            request.acr_values.is_empty() || subject.acr.as_ref().is_some_and(|a| request.acr_values.contains(a));
        let hint_matches = self.hint_names(request, &subject.sub).await?;
        Ok((fresh_enough && acr_met && hint_matches).then_some(subject))
    }
}
