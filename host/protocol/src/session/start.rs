//! Starting a session from an authentication request.

use super::hooks::Next;
use super::input::data_object;
use super::{AuthDirective, AuthzSession, Prompt, Stage, StartInput};
use crate::authorize::{self, Params, RedirectTarget, Rejection};
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::model::PromptValue;
use crate::plugins::HookStage;
use crate::provider::Provider;

impl Provider {
    /// Starts an authorization session from an authentication request.
    pub async fn start_session(&self, input: StartInput) -> Result<Prompt, ApiError> {
        let limits = &self.settings().limits;
        let data = data_object(input.data, limits.session_data_bytes)?.unwrap_or_default();
        if input.query.len() > limits.authorization_request_bytes {
            let e = OAuthError::invalid_request(format!(
                "the authentication request is longer than {} bytes",
                limits.authorization_request_bytes
            ));
            return Ok(Prompt::Error { error: e.code, error_description: e.description.into_owned(), data });
        }
        let params = Params::from_query(&input.query);
        let (request, client) = match authorize::validate(self, &params).await {
            Ok(ok) => ok,
            Err(Rejection::Show(e)) => {
                return Ok(Prompt::Error { error: e.code, error_description: e.description.into_owned(), data });
            }
            Err(Rejection::Redirect { error, to }) => return Ok(self.error_response(None, &to, &error, data)),
        };
        if let Err(e) = self.session_room(&client.client_id).await {
            return Ok(self.error_response(None, &RedirectTarget::of(&request), &e, data));
        }
        let now = self.now();
        let mut session = AuthzSession {
            sid: self.new_session_id(&client.client_id),
            client_incarnation: client.incarnation.clone(),
            created_at: now,
            expires_at: now.plus(self.settings().lifetimes.authz_session),
            request,
            stage: Stage::Auth,
            data,
            directive: AuthDirective::default(),
            version: None,
        };
        let forced_login = match self.run_hook(HookStage::Started, &mut session, None).await {
            Next::Continue => false,
            // Before authentication the hook's directive only shapes the `auth` prompt.
            Next::Authenticate => true,
            Next::Answer(prompt) => return *prompt,
        };
        let subject = match (&input.sso_token, forced_login) {
            (Some(credential), false) => self.usable_subject(credential, &session.request, now).await?,
            _ => None,
        };
        match subject {
            Some(subject) => self.after_authentication(session, subject, &client, None).await,
            None if session.request.has_prompt(PromptValue::None) => {
                let e = OAuthError::new(ErrorCode::LoginRequired, "the user is not logged in");
                self.close_with_error(session, &e).await
            }
            None => {
                self.save(&mut session).await?;
                Ok(self.auth_prompt(session, &client))
            }
        }
    }
}
