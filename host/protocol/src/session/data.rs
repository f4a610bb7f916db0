//! Reading a session, and the front-end's `data` object.

use serde_json::Value;

use super::input::data_object;
use super::{Prompt, Stage};
use crate::error::ApiError;
use crate::model::JsonObject;
use crate::provider::Provider;

impl Provider {
    /// The session's current prompt.
    pub async fn get_session(&self, sid: &str) -> Result<Prompt, ApiError> {
        let session = self.load(sid, self.now()).await?;
        let client = self.session_client(&session).await?;
        Ok(match session.stage.clone() {
            Stage::Auth => self.auth_prompt(session, &client),
            Stage::Consent { subject, reconfirm } => {
                let (scope, claims, _) = self.consent_split(&session.request, &subject, &client).await?;
                let split = (scope.reconfirming(&reconfirm.scope), claims.reconfirming(&reconfirm.claims));
                self.consent_prompt(session, &client, &subject, split, None)
            }
        })
    }

    /// The session's `data` object.
    pub async fn get_data(&self, sid: &str) -> Result<JsonObject, ApiError> {
        Ok(self.load(sid, self.now()).await?.data)
    }

    /// Replaces the session's `data` object. Anything but an object within the size limit is
    /// refused, and the stored data stays as it was; so does it when another request changed
    /// or completed the session meanwhile.
    pub async fn put_data(&self, sid: &str, data: Value) -> Result<JsonObject, ApiError> {
        let data = data_object(Some(data), self.settings().limits.session_data_bytes)?.unwrap_or_default();
        let mut session = self.load(sid, self.now()).await?;
        session.data = data;
        self.save(&mut session).await?;
        Ok(session.data)
    }
}
