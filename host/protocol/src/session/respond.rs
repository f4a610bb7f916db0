//! The prompts: what the front-end must do next, and the final authorization response.

use serde::Serialize;
use serde_json::Value;

use super::{AuthDirective, AuthzSession};
use crate::authorize::RedirectTarget;
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::model::{AuthorizationRequest, Client, JsonObject, ResponseMode, SubjectSession};
use crate::plugins::Split;
use crate::provider::Provider;
use crate::world::UnixTime;

/// The client as a front-end shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ClientSummary {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
}

impl From<&Client> for ClientSummary {
    fn from(c: &Client) -> Self {
        let m = &c.metadata;
        Self {
            client_id: c.client_id.clone(),
            client_name: m.client_name.clone(),
            client_uri: m.client_uri.clone(),
            logo_uri: m.logo_uri.clone(),
            policy_uri: m.policy_uri.clone(),
            tos_uri: m.tos_uri.clone(),
        }
    }
}

/// The authenticated subject as a consent prompt shows it. `sid` is the public subject-session
/// id (the `sid` claim), not the SSO credential.
#[derive(Clone, Debug, Serialize)]
pub struct SubjectSummary {
    pub sub: String,
    pub auth_time: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    pub sid: String,
}

impl From<&SubjectSession> for SubjectSummary {
    fn from(s: &SubjectSession) -> Self {
        Self { sub: s.sub.clone(), auth_time: s.auth_time, acr: s.acr.clone(), amr: s.amr.clone(), sid: s.sid.clone() }
    }
}

/// A new single sign-on credential, handed to the front-end once, in the prompt that follows
/// the login that made it. The front-end keeps it in its SSO cookie until `expires_at` and
/// sends it back as `sso_token` when it starts a session; the provider stores only its hash.
#[derive(Clone, Serialize)]
pub struct SsoToken {
    pub token: String,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for SsoToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoToken").field("token", &"<redacted>").field("expires_at", &self.expires_at).finish()
    }
}

/// What the front-end must do next.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Prompt {
    /// Authenticate the user.
    Auth {
        sid: String,
        expires_at: UnixTime,
        client: ClientSummary,
        auth_request: AuthorizationRequest,
        #[serde(flatten)]
        directive: AuthDirective,
        data: JsonObject,
    },
    /// Ask the user for consent.
    Consent {
        sid: String,
        expires_at: UnixTime,
        client: ClientSummary,
        auth_request: AuthorizationRequest,
        subject: SubjectSummary,
        scope: Split,
        claims: Split,
        /// A new SSO credential, when this prompt follows the login that made it.
        #[serde(skip_serializing_if = "Option::is_none")]
        sso: Option<SsoToken>,
        data: JsonObject,
    },
    /// Send the browser back to the client.
    Response {
        #[serde(skip_serializing_if = "Option::is_none")]
        sid: Option<String>,
        mode: ResponseMode,
        redirect_uri: String,
        /// The complete redirect URI, for the `query` and `fragment` modes.
        #[serde(skip_serializing_if = "Option::is_none")]
        uri: Option<String>,
        /// The response parameters; for `form_post`, the form fields to post.
        parameters: JsonObject,
        /// A new SSO credential, when this response follows the login that made it.
        #[serde(skip_serializing_if = "Option::is_none")]
        sso: Option<SsoToken>,
        data: JsonObject,
    },
    /// Show an error to the user; it must not go to the client.
    Error { error: ErrorCode, error_description: String, data: JsonObject },
}

impl Provider {
    /// Closes the session and answers with an error for the client.
    pub(super) async fn close_with_error(&self, session: AuthzSession, error: &OAuthError) -> Result<Prompt, ApiError> {
        self.close(&session).await?;
        let to = RedirectTarget::of(&session.request);
        Ok(self.error_response(Some(session.sid), &to, error, session.data))
    }

    pub(super) fn error_response(
        &self,
        sid: Option<String>,
        to: &RedirectTarget,
        error: &OAuthError,
        data: JsonObject,
    ) -> Prompt {
        let params =
            vec![("error", error.code.as_str().to_owned()), ("error_description", error.description.to_string())];
        self.response(sid, to, params, None, data)
    }

    /// The final redirect, with `state` and RFC 9207 `iss` added.
    pub(super) fn response(
        &self,
        sid: Option<String>,
        to: &RedirectTarget,
        mut params: Vec<(&'static str, String)>,
        sso: Option<SsoToken>,
        data: JsonObject,
    ) -> Prompt {
        if let Some(state) = &to.state {
            params.push(("state", state.clone()));
        }
        params.push(("iss", self.settings().issuer.clone()));
        let base = to.uri.as_str();
        let encoded = || {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &params {
                ser.append_pair(k, v);
            }
            ser.finish()
        };
        let uri = match to.mode {
            ResponseMode::Query => {
                let sep = if base.contains('?') { '&' } else { '?' };
                Some(format!("{base}{sep}{}", encoded()))
            }
            ResponseMode::Fragment => Some(format!("{base}#{}", encoded())),
            ResponseMode::FormPost => None,
        };
        Prompt::Response {
            sid,
            mode: to.mode,
            redirect_uri: base.to_owned(),
            uri,
            parameters: params.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v))).collect(),
            sso,
            data,
        }
    }

    pub(super) fn auth_prompt(&self, session: AuthzSession, client: &Client) -> Prompt {
        Prompt::Auth {
            sid: session.sid,
            expires_at: session.expires_at,
            client: client.into(),
            auth_request: session.request,
            directive: session.directive,
            data: session.data,
        }
    }

    pub(super) fn consent_prompt(
        &self,
        session: AuthzSession,
        client: &Client,
        subject: &SubjectSession,
        (scope, claims): (Split, Split),
        sso: Option<SsoToken>,
    ) -> Prompt {
        Prompt::Consent {
            sid: session.sid,
            expires_at: session.expires_at,
            client: client.into(),
            auth_request: session.request,
            subject: subject.into(),
            scope,
            claims,
            sso,
            data: session.data,
        }
    }
}
