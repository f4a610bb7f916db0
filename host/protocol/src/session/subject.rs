//! The authenticated subject, and what follows authentication: the `authenticated` hook and
//! the consent decision (a policy, a remembered consent, or the user).

use super::hooks::Next;
use super::input::data_object;
use super::{AuthDirective, AuthzSession, ConsentInput, Grantor, Previous, Prompt, SsoToken, Stage, SubjectInput};
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::model::{Client, PromptValue, SubjectSession};
use crate::plugins::{ClientView, ConsentQuery, ConsentVerdict, HookStage, Reconfirm};
use crate::provider::Provider;

impl Provider {
    /// Submits the subject the front-end authenticated.
    pub async fn submit_subject(&self, sid: &str, input: SubjectInput) -> Result<Prompt, ApiError> {
        let now = self.now();
        let limits = &self.settings().limits;
        input.check(limits, now)?;
        let data = data_object(input.data, limits.session_data_bytes)?;
        let mut session = self.load(sid, now).await?;
        if let Some(data) = data {
            session.data = data;
        }
        let (subject, sso) = self.new_subject_session(|sid| SubjectSession {
            sid,
            credential: None,
            sub: input.sub,
            auth_time: input.auth_time.unwrap_or(now),
            acr: input.acr,
            amr: input.amr,
            claims: input.claims,
            created_at: now,
            expires_at: now.plus(self.settings().lifetimes.subject_session),
            clients: Vec::new(),
        });
        session.directive = AuthDirective::default();
        let client = self.session_client(&session).await?;
        self.after_authentication(session, subject, &client, Some(sso)).await
    }

    /// Goes on from an authenticated subject: a subject session resumed by SSO (`sso` is
    /// `None`), or one just made by a login, which is kept once the `authenticated` hook lets
    /// it through and whose new credential (`sso`) goes to the front-end in the next prompt.
    pub(super) async fn after_authentication(
        &self,
        mut session: AuthzSession,
        mut subject: SubjectSession,
        client: &Client,
        sso: Option<SsoToken>,
    ) -> Result<Prompt, ApiError> {
        match self.run_hook(HookStage::Authenticated, &mut session, Some(&subject)).await {
            Next::Continue => {}
            Next::Authenticate => return self.reauthenticate(session, client).await,
            Next::Answer(prompt) => return *prompt,
        }
        // OpenID Connect Core §5.5.1.1: "If this is an Essential Claim and the requirement
        // cannot be met, then the Authorization Server MUST treat that outcome as a failed
        // authentication attempt."
        let request = &session.request;
        if request.acr_essential && !subject.acr.as_ref().is_some_and(|a| request.acr_values.contains(a)) {
            let e = OAuthError::new(ErrorCode::AccessDenied, "the authentication did not reach an essential acr value");
            return self.close_with_error(session, &e).await;
        }
        // A new session is kept now; a resumed one is told of a new client, which logout
        // will have to tell, by compare-and-swap: concurrent logins at other clients each add
        // theirs, and a session that ended meanwhile is not brought back.
        if sso.is_some() {
            subject.add_client(&client.client_id);
            self.keep_subject_session(&subject).await?;
        } else if !subject.clients.contains(&client.client_id) {
            match self.add_session_client(&subject.sid, &client.client_id).await? {
                Some(current) => subject = current,
                // It ended between the SSO check and now: log in again.
                None => return self.reauthenticate(session, client).await,
            }
        }
        let (mut scope, mut claims, previous) = self.consent_split(&session.request, &subject, client).await?;
        let asks_consent = session.request.has_prompt(PromptValue::Consent);
        let mut reconfirm = Reconfirm::default();
        if let Some(policy) = &self.policies().consent {
            let query = ConsentQuery {
                client: ClientView { client_id: client.client_id.clone(), metadata: client.metadata.clone() },
                sub: subject.sub.clone(),
                scope: scope.clone(),
                claims: claims.clone(),
                resources: session.request.resources.clone(),
                previous: previous.as_ref().map(|p| p.record.clone()),
            };
            match policy.decide(&query).await {
                Ok(ConsentVerdict::Ask(again)) => reconfirm = again,
                // OpenID Connect Core §3.1.2.1: `prompt=consent` asks the user, whatever a
                // policy would grant; a policy can still deny.
                Ok(ConsentVerdict::Grant(_)) if asks_consent => {}
                Ok(ConsentVerdict::Grant(input)) => {
                    return self.finish(session, subject, client, input, Grantor::Policy, sso).await;
                }
                Ok(ConsentVerdict::Deny(e)) => return self.close_with_error(session, &e).await,
                Err(f) => return self.close_with_error(session, &f.into_oauth()).await,
            }
        }
        scope = scope.reconfirming(&reconfirm.scope);
        claims = claims.reconfirming(&reconfirm.claims);
        let resources_known = |p: &Previous| session.request.resources.iter().all(|r| p.record.resources.contains(r));
        let nothing_new =
            scope.new.is_empty() && claims.new.is_empty() && previous.as_ref().is_none_or(resources_known);
        if let (Some(previous), true, false) = (&previous, nothing_new, asks_consent) {
            let input = ConsentInput::from_record(&previous.record, previous.long_lived);
            return self.finish(session, subject, client, input, Grantor::Policy, sso).await;
        }
        if session.request.has_prompt(PromptValue::None) {
            let e = OAuthError::new(ErrorCode::ConsentRequired, "the user has not consented to this request");
            return self.close_with_error(session, &e).await;
        }
        session.stage = Stage::Consent { subject: Box::new(subject.clone()), reconfirm };
        self.save(&mut session).await?;
        Ok(self.consent_prompt(session, client, &subject, (scope, claims), sso))
    }
}
