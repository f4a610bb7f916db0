//! Answering a logout request, and ending a subject session: the session and its
//! session-scoped consents deleted, then every client it answered told — by a logout token to
//! its `backchannel_logout_uri` (handed to the delivery port, never awaited) and by its
//! `frontchannel_logout_uri` with `iss` and `sid` (Front-Channel Logout 1.0 §3), for the
//! front-end to load in iframes.

use super::{LoggedOut, LogoutInput, LogoutNotice, LogoutPrompt};
use crate::error::ApiError;
use crate::model::{
    CLIENTS, ConsentRecord, LOGOUT_REQUESTS, LogoutRequest, SESSION_CONSENTS, SUBJECT_SESSIONS, SubjectSession,
};
use crate::provider::Provider;
use crate::session::ClientSummary;
use crate::store::StoreError;

fn no_such_request() -> ApiError {
    ApiError::NotFound("no such logout request; it expired or was answered".into())
}

impl Provider {
    /// What the front-end asks the user to confirm.
    pub async fn get_logout(&self, id: &str) -> Result<LogoutPrompt, ApiError> {
        let now = self.now();
        let request = LOGOUT_REQUESTS.get(self.store(), id, now).await?.ok_or_else(no_such_request)?;
        let client = match &request.client_id {
            Some(client_id) => CLIENTS.get(self.store(), client_id, now).await?.map(|c| ClientSummary::from(&c)),
            None => None,
        };
        Ok(LogoutPrompt {
            id: request.id,
            client,
            redirects: request.redirect.is_some(),
            ui_locales: request.ui_locales,
            logout_hint: request.logout_hint,
            expires_at: request.expires_at,
        })
    }

    /// The user confirmed: the subject session the front-end's SSO credential proves ends
    /// (if the browser has one), and the browser goes back to the client if it asked.
    pub async fn confirm_logout(&self, id: &str, input: LogoutInput) -> Result<LoggedOut, ApiError> {
        let now = self.now();
        let request = self.take_logout(id).await?;
        let subject = match &input.sso_token {
            Some(credential) => self.proved_subject(credential, now).await?,
            None => None,
        };
        let Some(subject) = subject else {
            return Ok(LoggedOut { ended: false, frontchannel_logout_uris: Vec::new(), redirect: request.redirect });
        };
        if request.hint_sid.as_ref().is_some_and(|sid| *sid != subject.sid) {
            tracing::info!("a logout's id_token_hint named another session than the browser's; the browser's ends");
        }
        let frontchannel_logout_uris = self.end(subject).await?;
        Ok(LoggedOut { ended: true, frontchannel_logout_uris, redirect: request.redirect })
    }

    /// The user declined: nothing ends and nobody is redirected.
    pub async fn cancel_logout(&self, id: &str) -> Result<LoggedOut, ApiError> {
        self.take_logout(id).await?;
        Ok(LoggedOut::default())
    }

    /// Ends the subject session `sid` (the admin API), with back-channel logout; the
    /// front-channel URIs go nowhere, there being no browser.
    pub async fn end_subject_session(&self, sid: &str) -> Result<(), ApiError> {
        let subject = SUBJECT_SESSIONS
            .get(self.store(), sid, self.now())
            .await?
            .ok_or_else(|| ApiError::NotFound("no such subject session; it ended or expired".into()))?;
        self.end(subject).await?;
        Ok(())
    }

    async fn take_logout(&self, id: &str) -> Result<LogoutRequest, ApiError> {
        LOGOUT_REQUESTS.take(self.store(), id, self.now()).await?.ok_or_else(no_such_request)
    }

    /// Deletes the session and tells its clients; returns their front-channel logout URIs.
    async fn end(&self, subject: SubjectSession) -> Result<Vec<String>, ApiError> {
        let now = self.now();
        if !SUBJECT_SESSIONS.delete(self.store(), &subject.sid, now).await? {
            // Another request ended it first; that one tells the clients.
            return Ok(Vec::new());
        }
        let frontchannel = self.tell_clients(&subject).await?;
        tracing::info!(sid = %subject.sid, clients = subject.clients.len(), "a subject session ended");
        Ok(frontchannel)
    }

    /// Sends back-channel logout for the subject sessions that expired, removing them from
    /// the store as it goes (each goes to one host); returns how many ended. The server
    /// calls this before each purge, so a session's clients hear of its expiry within one
    /// purge interval.
    pub async fn end_expired_subject_sessions(&self) -> Result<u64, StoreError> {
        const BATCH: usize = 100;
        let mut ended = 0;
        loop {
            let expired = SUBJECT_SESSIONS.take_expired(self.store(), self.now(), BATCH).await?;
            for subject in &expired {
                match self.tell_clients(subject).await {
                    Ok(_) => {
                        tracing::info!(sid = %subject.sid, clients = subject.clients.len(), "a subject session expired")
                    }
                    Err(e) => {
                        tracing::warn!(sid = %subject.sid, error = %e, "an expired session's clients could not be told")
                    }
                }
            }
            ended += expired.len() as u64;
            if expired.len() < BATCH {
                return Ok(ended);
            }
        }
    }

    /// Tells every client `subject` answered that it ended: logout tokens to the delivery
    /// port, and its session-scoped consents deleted; returns the front-channel logout URIs.
    async fn tell_clients(&self, subject: &SubjectSession) -> Result<Vec<String>, ApiError> {
        let now = self.now();
        let mut notices = Vec::new();
        let mut frontchannel = Vec::new();
        for client_id in &subject.clients {
            SESSION_CONSENTS.delete(self.store(), &ConsentRecord::key(&subject.sid, client_id), now).await?;
            let Some(client) = CLIENTS.get(self.store(), client_id, now).await? else {
                continue;
            };
            if let Some(uri) = &client.metadata.backchannel_logout_uri {
                match self.logout_token(&client, subject).await {
                    Ok(logout_token) => {
                        notices.push(LogoutNotice { client_id: client_id.clone(), uri: uri.clone(), logout_token });
                    }
                    Err(e) => tracing::warn!(client_id, error = %e, "a logout token could not be made"),
                }
            }
            if let Some(uri) = client.metadata.frontchannel_logout_uri.as_deref().and_then(|u| url::Url::parse(u).ok())
            {
                let mut uri = uri;
                uri.query_pairs_mut().append_pair("iss", &self.settings().issuer).append_pair("sid", &subject.sid);
                frontchannel.push(uri.into());
            }
        }
        if !notices.is_empty() {
            self.logout_delivery().deliver(notices);
        }
        Ok(frontchannel)
    }
}
