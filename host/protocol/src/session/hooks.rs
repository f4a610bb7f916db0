//! Login hooks as the session moves: what they see, and how their answers move the session.

use super::{AuthDirective, AuthzSession, Stage};
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::model::{Client, PromptValue, SubjectSession};
use crate::plugins::{HookAction, HookQuery, HookStage};
use crate::provider::Provider;
use crate::session::Prompt;
use crate::session::input::object_size;

/// What the session does after a hook.
pub(super) enum Next {
    /// Go on.
    Continue,
    /// The user must authenticate (again); the hook's directive is on the session.
    Authenticate,
    /// The hook ended the session: this is the error response for the client.
    Answer(Box<Result<Prompt, ApiError>>),
}

impl Provider {
    /// Runs a login hook and applies the `data` it returns.
    async fn hook(
        &self,
        stage: HookStage,
        session: &mut AuthzSession,
        subject: Option<&SubjectSession>,
    ) -> Result<HookAction, OAuthError> {
        let Some(hooks) = &self.policies().hooks else {
            return Ok(HookAction::Continue);
        };
        let query = HookQuery {
            session_id: session.sid.clone(),
            client_id: session.request.client_id.clone(),
            scope: session.request.scope.clone(),
            resources: session.request.resources.clone(),
            acr_values: session.request.acr_values.clone(),
            login_hint: session.request.login_hint.clone(),
            sub: subject.map(|s| s.sub.clone()),
            acr: subject.and_then(|s| s.acr.clone()),
            data: session.data.clone(),
        };
        let outcome = hooks.run(stage, &query).await.map_err(|f| f.into_oauth())?;
        if let Some(data) = outcome.data {
            if let Err(e) = object_size("data", &data, self.settings().limits.session_data_bytes) {
                return Err(OAuthError::server_error(format_args!("a login hook returned too much data: {e}")));
            }
            session.data = data;
        }
        Ok(outcome.action)
    }

    /// Runs the hook of `stage` and turns its answer into the session's next step: go on,
    /// authenticate (again), or end with an error for the client.
    pub(super) async fn run_hook(
        &self,
        stage: HookStage,
        session: &mut AuthzSession,
        subject: Option<&SubjectSession>,
    ) -> Next {
        session.directive = match self.hook(stage, session, subject).await {
            Ok(HookAction::Continue) => return Next::Continue,
            Ok(HookAction::Deny(e)) | Err(e) => {
                return Next::Answer(Box::new(self.close_with_error(session.clone(), &e).await));
            }
            Ok(HookAction::Authenticate { acr, reason }) => AuthDirective { required_acr: acr, reason, redirect: None },
            Ok(HookAction::Redirect { uri }) => AuthDirective { redirect: Some(uri), ..Default::default() },
        };
        Next::Authenticate
    }

    /// Asks the front-end to authenticate the user again, unless the request forbids it.
    pub(super) async fn reauthenticate(&self, mut session: AuthzSession, client: &Client) -> Result<Prompt, ApiError> {
        session.stage = Stage::Auth;
        if session.request.has_prompt(PromptValue::None) {
            let e =
                OAuthError::new(ErrorCode::InteractionRequired, "the login service needs to interact with the user");
            return self.close_with_error(session, &e).await;
        }
        self.save(&mut session).await?;
        Ok(self.auth_prompt(session, client))
    }
}
