//! The authorization-session API: the headless login and consent model.
//!
//! A login front-end turns an authentication request into a session, then answers the prompts
//! the provider gives back until the final response:
//!
//! ```text
//!   start ──▶ [hook: started] ──▶ usable SSO session? ──no──▶ prompt `auth`
//!                                        │yes                      │ subject
//!                                        ▼                         ▼
//!                               [hook: authenticated] ◀────────────┘
//!                                        │
//!                   consent policy / remembered consent cover it? ──no──▶ prompt `consent`
//!                                        │yes                              │ consent
//!                                        ▼                                 ▼
//!                               [hook: before response] ◀──────────────────┘
//!                                        │
//!                                        ▼
//!                          prompt `response` (session closed)
//! ```
//!
//! Errors that cannot be trusted to the client's redirect URI end in prompt `error`. A denial
//! (`DELETE`) ends in `response` with the error. Every prompt echoes the front-end's `data`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::authorize::{self, Params, RedirectTarget, Rejection};
use crate::claims;
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::model::{
    AuthorizationRequest, CLIENTS, CODES, CONSENTS, Client, CodeRecord, ConsentRecord, GRANTS, Grant, JsonObject,
    PresetClaims, PromptValue, RefreshSettings, ResponseMode, SUBJECT_SESSIONS, SubjectSession, TokenSettings,
    UseState,
};
use crate::plugins::{ClientView, ConsentQuery, ConsentVerdict, HookAction, HookQuery, HookStage, Reconfirm, Split};
use crate::provider::Provider;
use crate::secret::TokenHash;
use crate::store::Collection;
use crate::world::UnixTime;

/// Where an authorization session stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for the front-end to authenticate the user.
    Auth,
    /// The user is known; waiting for consent. `reconfirm` holds what the consent policy
    /// asked to show as new again.
    Consent {
        subject: SubjectSession,
        #[serde(default, skip_serializing_if = "Reconfirm::is_empty")]
        reconfirm: Reconfirm,
    },
}

/// What a login hook asked of the authentication step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthDirective {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// An external identity provider the front-end should send the user to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
}

/// One pass of an end-user through login and consent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthzSession {
    pub sid: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub request: AuthorizationRequest,
    #[serde(flatten)]
    pub stage: Stage,
    #[serde(default)]
    pub data: JsonObject,
    #[serde(default)]
    pub directive: AuthDirective,
    /// Whether the session is in the store (a session answered at once never is).
    #[serde(skip)]
    stored: bool,
}

const SESSIONS: Collection<AuthzSession> = Collection::new("authz_sessions");

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

/// The authenticated subject as a consent prompt shows it.
#[derive(Clone, Debug, Serialize)]
pub struct SubjectSummary {
    pub sub: String,
    pub auth_time: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    pub sub_sid: String,
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
        /// The subject session, for the front-end's single sign-on cookie.
        #[serde(skip_serializing_if = "Option::is_none")]
        sub_sid: Option<String>,
        data: JsonObject,
    },
    /// Show an error to the user; it must not go to the client.
    Error { error: ErrorCode, error_description: String, data: JsonObject },
}

/// `POST /authz-sessions/v1`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// The authentication request's query string (or form body) as the browser sent it.
    pub query: String,
    /// The subject session id from the front-end's cookie, if any.
    #[serde(default)]
    pub sub_sid: Option<String>,
    /// The front-end's initial `data` object.
    #[serde(default)]
    pub data: Option<Value>,
}

/// `PUT /authz-sessions/v1/{sid}/subject`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectInput {
    pub sub: String,
    #[serde(default)]
    pub acr: Option<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    /// When the user authenticated; now when absent.
    #[serde(default)]
    pub auth_time: Option<UnixTime>,
    /// Claims about the user to keep in the subject session, released per consent.
    #[serde(default)]
    pub claims: JsonObject,
    #[serde(default)]
    pub data: Option<Value>,
}

/// A list of names or `"*"` for everything requested.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Selection {
    All,
    Some(Vec<String>),
}

impl<'de> Deserialize<'de> for Selection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s == "*" => Ok(Selection::All),
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(D::Error::custom("expected a list of strings")),
                })
                .collect::<Result<_, _>>()
                .map(Selection::Some),
            _ => Err(D::Error::custom(r#"expected "*" or a list of strings"#)),
        }
    }
}

impl Selection {
    fn resolve(&self, requested: &[String]) -> Vec<String> {
        match self {
            Selection::All => requested.to_vec(),
            Selection::Some(v) => v.clone(),
        }
    }
}

/// `PUT /authz-sessions/v1/{sid}/consent`: what the user (or a consent policy) granted.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    pub scope: Selection,
    /// Granted claims; the claims of the granted scopes and the `claims` parameter when absent.
    #[serde(default)]
    pub claims: Option<Selection>,
    /// Remember this consent for the subject and client.
    #[serde(default)]
    pub long_lived: bool,
    #[serde(default)]
    pub preset_claims: PresetClaims,
    #[serde(default)]
    pub access_token: TokenSettings,
    #[serde(default)]
    pub id_token: TokenSettings,
    #[serde(default)]
    pub refresh_token: RefreshSettings,
    #[serde(default)]
    pub audience: Vec<String>,
    #[serde(default)]
    pub data: Option<Value>,
}

impl ConsentInput {
    /// Everything requested, remembered.
    pub fn all() -> Self {
        Self {
            scope: Selection::All,
            claims: None,
            long_lived: true,
            preset_claims: PresetClaims::default(),
            access_token: TokenSettings::default(),
            id_token: TokenSettings::default(),
            refresh_token: RefreshSettings::default(),
            audience: Vec::new(),
            data: None,
        }
    }

    fn from_record(r: &ConsentRecord) -> Self {
        Self {
            scope: Selection::Some(r.scope.clone()),
            claims: Some(Selection::Some(r.claims.clone())),
            long_lived: true,
            preset_claims: r.preset_claims.clone(),
            access_token: r.access_token.clone(),
            id_token: r.id_token.clone(),
            refresh_token: r.refresh_token.clone(),
            audience: r.audience.clone(),
            data: None,
        }
    }
}

/// `DELETE /authz-sessions/v1/{sid}`: the user or the front-end refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyInput {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Who answers a consent: the front-end is held to what was requested; a policy plugin is
/// trimmed to it.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Grantor {
    FrontEnd,
    Policy,
}

fn not_found(sid: &str) -> ApiError {
    ApiError::NotFound(format!("authorization session {sid:?} does not exist, has expired or has completed"))
}

/// Checks that `value`, if given, is a JSON object.
pub fn data_object(value: Option<Value>) -> Result<Option<JsonObject>, ApiError> {
    match value {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(ApiError::BadRequest(format!(
            "data must be a JSON object, not {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => unreachable!(),
            }
        ))),
    }
}

impl Provider {
    /// Starts an authorization session from an authentication request.
    pub async fn start_session(&self, input: StartInput) -> Result<Prompt, ApiError> {
        let data = data_object(input.data)?.unwrap_or_default();
        let params = Params::from_query(&input.query);
        let (request, client) = match authorize::validate(self, &params).await {
            Ok(ok) => ok,
            Err(Rejection::Show(e)) => {
                return Ok(Prompt::Error { error: e.code, error_description: e.description.into_owned(), data });
            }
            Err(Rejection::Redirect { error, to }) => return Ok(self.error_response(None, &to, &error, None, data)),
        };
        let now = self.now();
        let mut session = AuthzSession {
            sid: self.new_id(),
            created_at: now,
            expires_at: now.plus(self.settings().lifetimes.authz_session),
            request,
            stage: Stage::Auth,
            data,
            directive: AuthDirective::default(),
            stored: false,
        };
        let mut forced_login = false;
        match self.hook(HookStage::Started, &mut session, None).await {
            Ok(HookAction::Continue) => {}
            Ok(HookAction::Deny(e)) | Err(e) => return self.close_with_error(session, &e).await,
            Ok(HookAction::Authenticate { acr, reason }) => {
                forced_login = true;
                session.directive = AuthDirective { required_acr: acr, reason, redirect: None };
            }
            Ok(HookAction::Redirect { uri }) => {
                forced_login = true;
                session.directive = AuthDirective { redirect: Some(uri), ..Default::default() };
            }
        }
        let subject = match (&input.sub_sid, forced_login) {
            (Some(sub_sid), false) => self.usable_subject(sub_sid, &session.request, now).await?,
            _ => None,
        };
        match subject {
            Some(subject) => self.after_authentication(session, subject, &client).await,
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

    /// Submits the subject the front-end authenticated.
    pub async fn submit_subject(&self, sid: &str, input: SubjectInput) -> Result<Prompt, ApiError> {
        let now = self.now();
        let mut session = self.load(sid, now).await?;
        if input.sub.is_empty() {
            return Err(ApiError::BadRequest("sub must not be empty".into()));
        }
        if let Some(data) = data_object(input.data)? {
            session.data = data;
        }
        let auth_time = input.auth_time.unwrap_or(now);
        if auth_time > now.plus(60) {
            return Err(ApiError::BadRequest("auth_time is in the future".into()));
        }
        let subject = SubjectSession {
            sid: self.new_id(),
            sub: input.sub,
            auth_time,
            acr: input.acr,
            amr: input.amr,
            claims: input.claims,
            created_at: now,
            expires_at: now.plus(self.settings().lifetimes.subject_session),
        };
        SUBJECT_SESSIONS.put(self.store(), &subject.sid, &subject, Some(subject.expires_at)).await?;
        session.directive = AuthDirective::default();
        let client = self.session_client(&session).await?;
        self.after_authentication(session, subject, &client).await
    }

    /// Submits the consent for a session waiting for it.
    pub async fn submit_consent(&self, sid: &str, input: ConsentInput) -> Result<Prompt, ApiError> {
        let mut session = self.load(sid, self.now()).await?;
        let Stage::Consent { subject, .. } = session.stage.clone() else {
            return Err(ApiError::Conflict(
                "the session is waiting for the user to authenticate, not for consent".into(),
            ));
        };
        if let Some(data) = data_object(input.data.clone())? {
            session.data = data;
        }
        let client = self.session_client(&session).await?;
        self.finish(session, subject, &client, input, Grantor::FrontEnd).await
    }

    /// Ends a session with an error for the client (`access_denied` unless named).
    pub async fn deny(&self, sid: &str, input: DenyInput) -> Result<Prompt, ApiError> {
        let code = match input.error.as_deref() {
            None => ErrorCode::AccessDenied,
            Some(c) => {
                ErrorCode::parse(c).ok_or_else(|| ApiError::BadRequest(format!("{c:?} is not an OAuth error code")))?
            }
        };
        let session = self.load(sid, self.now()).await?;
        let description =
            input.error_description.unwrap_or_else(|| "the user or the login service denied the request".into());
        self.close_with_error(session, &OAuthError::new(code, description)).await
    }

    /// The session's current prompt.
    pub async fn get_session(&self, sid: &str) -> Result<Prompt, ApiError> {
        let session = self.load(sid, self.now()).await?;
        let client = self.session_client(&session).await?;
        Ok(match session.stage.clone() {
            Stage::Auth => self.auth_prompt(session, &client),
            Stage::Consent { subject, reconfirm } => {
                let (scope, claims, _) = self.consent_split(&session.request, &subject.sub).await?;
                let (scope, claims) = (scope.reconfirming(&reconfirm.scope), claims.reconfirming(&reconfirm.claims));
                self.consent_prompt(session, &client, &subject, scope, claims)
            }
        })
    }

    /// The session's `data` object.
    pub async fn get_data(&self, sid: &str) -> Result<JsonObject, ApiError> {
        Ok(self.load(sid, self.now()).await?.data)
    }

    /// Replaces the session's `data` object. Anything but an object is refused and the stored
    /// data stays as it was.
    pub async fn put_data(&self, sid: &str, data: Value) -> Result<JsonObject, ApiError> {
        let data = data_object(Some(data))?.unwrap_or_default();
        let mut session = self.load(sid, self.now()).await?;
        session.data = data;
        self.save(&mut session).await?;
        Ok(session.data)
    }

    async fn load(&self, sid: &str, now: UnixTime) -> Result<AuthzSession, ApiError> {
        let mut session = SESSIONS.get(self.store(), sid, now).await?.ok_or_else(|| not_found(sid))?;
        session.stored = true;
        Ok(session)
    }

    async fn save(&self, session: &mut AuthzSession) -> Result<(), ApiError> {
        SESSIONS.put(self.store(), &session.sid, session, Some(session.expires_at)).await?;
        session.stored = true;
        Ok(())
    }

    /// Closes the session so that exactly one caller completes it; a session that was never
    /// stored is answered at once and has nothing to close.
    async fn close(&self, session: &AuthzSession) -> Result<(), ApiError> {
        if session.stored && SESSIONS.take(self.store(), &session.sid, self.now()).await?.is_none() {
            return Err(not_found(&session.sid));
        }
        Ok(())
    }

    async fn session_client(&self, session: &AuthzSession) -> Result<Client, ApiError> {
        CLIENTS
            .get(self.store(), &session.request.client_id, self.now())
            .await?
            .ok_or_else(|| ApiError::Conflict("the client of this session is no longer registered".into()))
    }

    /// The subject session named by the front-end's cookie, if it can answer this request
    /// without a new login (OpenID Connect Core §3.1.2.3).
    async fn usable_subject(
        &self,
        sub_sid: &str,
        request: &AuthorizationRequest,
        now: UnixTime,
    ) -> Result<Option<SubjectSession>, ApiError> {
        if request.has_prompt(PromptValue::Login) {
            return Ok(None);
        }
        let Some(subject) = SUBJECT_SESSIONS.get(self.store(), sub_sid, now).await? else {
            return Ok(None);
        };
        let fresh_enough = request.max_age.is_none_or(|max| now.0 - subject.auth_time.0 <= max as i64);
        let acr_met =
            request.acr_values.is_empty() || subject.acr.as_ref().is_some_and(|a| request.acr_values.contains(a));
        let hint_matches = request.id_token_hint_sub.as_ref().is_none_or(|s| *s == subject.sub);
        Ok((fresh_enough && acr_met && hint_matches).then_some(subject))
    }

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
            acr_values: session.request.acr_values.clone(),
            login_hint: session.request.login_hint.clone(),
            sub: subject.map(|s| s.sub.clone()),
            acr: subject.and_then(|s| s.acr.clone()),
            data: session.data.clone(),
        };
        let outcome = hooks.run(stage, &query).await.map_err(|f| f.into_oauth())?;
        if let Some(data) = outcome.data {
            session.data = data;
        }
        Ok(outcome.action)
    }

    async fn after_authentication(
        &self,
        mut session: AuthzSession,
        subject: SubjectSession,
        client: &Client,
    ) -> Result<Prompt, ApiError> {
        match self.hook(HookStage::Authenticated, &mut session, Some(&subject)).await {
            Ok(HookAction::Continue) => {}
            Ok(HookAction::Deny(e)) | Err(e) => return self.close_with_error(session, &e).await,
            Ok(HookAction::Authenticate { acr, reason }) => {
                session.stage = Stage::Auth;
                session.directive = AuthDirective { required_acr: acr, reason, redirect: None };
                return self.reauthenticate(session, client).await;
            }
            Ok(HookAction::Redirect { uri }) => {
                session.stage = Stage::Auth;
                session.directive = AuthDirective { redirect: Some(uri), ..Default::default() };
                return self.reauthenticate(session, client).await;
            }
        }
        let (mut scope, mut claims, previous) = self.consent_split(&session.request, &subject.sub).await?;
        let mut reconfirm = Reconfirm::default();
        if let Some(policy) = &self.policies().consent {
            let query = ConsentQuery {
                client: ClientView { client_id: client.client_id.clone(), metadata: client.metadata.clone() },
                sub: subject.sub.clone(),
                scope: scope.clone(),
                claims: claims.clone(),
                previous: previous.clone(),
            };
            match policy.decide(&query).await {
                Ok(ConsentVerdict::Ask(again)) => reconfirm = again,
                Ok(ConsentVerdict::Grant(input)) => {
                    return self.finish(session, subject, client, input, Grantor::Policy).await;
                }
                Ok(ConsentVerdict::Deny(e)) => return self.close_with_error(session, &e).await,
                Err(f) => return self.close_with_error(session, &f.into_oauth()).await,
            }
        }
        scope = scope.reconfirming(&reconfirm.scope);
        claims = claims.reconfirming(&reconfirm.claims);
        let nothing_new = scope.new.is_empty() && claims.new.is_empty();
        if let (Some(previous), true, false) =
            (&previous, nothing_new, session.request.has_prompt(PromptValue::Consent))
        {
            let input = ConsentInput::from_record(previous);
            return self.finish(session, subject, client, input, Grantor::Policy).await;
        }
        if session.request.has_prompt(PromptValue::None) {
            let e = OAuthError::new(ErrorCode::ConsentRequired, "the user has not consented to this request");
            return self.close_with_error(session, &e).await;
        }
        session.stage = Stage::Consent { subject: subject.clone(), reconfirm };
        self.save(&mut session).await?;
        Ok(self.consent_prompt(session, client, &subject, scope, claims))
    }

    async fn reauthenticate(&self, mut session: AuthzSession, client: &Client) -> Result<Prompt, ApiError> {
        if session.request.has_prompt(PromptValue::None) {
            let e =
                OAuthError::new(ErrorCode::InteractionRequired, "the login service needs to interact with the user");
            return self.close_with_error(session, &e).await;
        }
        self.save(&mut session).await?;
        Ok(self.auth_prompt(session, client))
    }

    /// Requested scopes and claims, split by what the subject consented to before.
    async fn consent_split(
        &self,
        request: &AuthorizationRequest,
        sub: &str,
    ) -> Result<(Split, Split, Option<ConsentRecord>), ApiError> {
        let previous = CONSENTS.get(self.store(), &ConsentRecord::key(sub, &request.client_id), self.now()).await?;
        let split = |requested: Vec<String>, before: &[String]| {
            let (consented, new) = requested.into_iter().partition(|s| before.contains(s));
            Split { new, consented }
        };
        let (scope_before, claims_before) = match &previous {
            Some(p) => (p.scope.as_slice(), p.claims.as_slice()),
            None => (&[][..], &[][..]),
        };
        let scope = split(request.scope.clone(), scope_before);
        let claims = split(claims::requested_claims(request), claims_before);
        Ok((scope, claims, previous))
    }

    /// Issues the authorization response for a consented session and closes the session.
    async fn finish(
        &self,
        mut session: AuthzSession,
        subject: SubjectSession,
        client: &Client,
        consent: ConsentInput,
        grantor: Grantor,
    ) -> Result<Prompt, ApiError> {
        let request = session.request.clone();
        let requested_claims = claims::requested_claims(&request);
        let mut scope = consent.scope.resolve(&request.scope);
        let mut granted_claims = match &consent.claims {
            Some(sel) => sel.resolve(&requested_claims),
            None => {
                let mut c = claims::claims_of_scopes(&scope);
                for n in claims::claims_parameter_names(&request) {
                    claims::push_unique(&mut c, &n);
                }
                c
            }
        };
        match grantor {
            Grantor::FrontEnd => {
                if let Some(s) = scope.iter().find(|s| !request.scope.contains(s)) {
                    return Err(ApiError::BadRequest(format!("scope {s:?} was not requested")));
                }
                if let Some(c) = granted_claims.iter().find(|c| !requested_claims.contains(c)) {
                    return Err(ApiError::BadRequest(format!("claim {c:?} was not requested")));
                }
            }
            Grantor::Policy => {
                scope.retain(|s| request.scope.contains(s));
                granted_claims.retain(|c| requested_claims.contains(c));
            }
        }
        match self.hook(HookStage::BeforeResponse, &mut session, Some(&subject)).await {
            Ok(HookAction::Continue) => {}
            Ok(HookAction::Deny(e)) | Err(e) => return self.close_with_error(session, &e).await,
            Ok(HookAction::Authenticate { acr, reason }) => {
                session.stage = Stage::Auth;
                session.directive = AuthDirective { required_acr: acr, reason, redirect: None };
                return self.reauthenticate(session, client).await;
            }
            Ok(HookAction::Redirect { uri }) => {
                session.stage = Stage::Auth;
                session.directive = AuthDirective { redirect: Some(uri), ..Default::default() };
                return self.reauthenticate(session, client).await;
            }
        }
        // Exactly one caller closes a session: concurrent consents cannot issue two codes.
        self.close(&session).await?;
        let now = self.now();
        if consent.long_lived {
            let key = ConsentRecord::key(&subject.sub, &client.client_id);
            let previous = CONSENTS.get(self.store(), &key, now).await?;
            let keep = |before: Option<&Vec<String>>, requested: &[String], granted: &[String]| {
                let mut out: Vec<String> =
                    before.into_iter().flatten().filter(|s| !requested.contains(s)).cloned().collect();
                for g in granted {
                    claims::push_unique(&mut out, g);
                }
                out
            };
            let record = ConsentRecord {
                sub: subject.sub.clone(),
                client_id: client.client_id.clone(),
                scope: keep(previous.as_ref().map(|p| &p.scope), &request.scope, &scope),
                claims: keep(previous.as_ref().map(|p| &p.claims), &requested_claims, &granted_claims),
                preset_claims: consent.preset_claims.clone(),
                access_token: consent.access_token.clone(),
                id_token: consent.id_token.clone(),
                refresh_token: consent.refresh_token.clone(),
                audience: consent.audience.clone(),
                updated_at: now,
            };
            CONSENTS.put(self.store(), &key, &record, None).await?;
        }
        let lifetimes = &self.settings().lifetimes;
        let access_token_lifetime = consent.access_token.lifetime.unwrap_or(lifetimes.access_token);
        let refresh_token_lifetime =
            consent.refresh_token.issue.then(|| consent.refresh_token.lifetime.unwrap_or(lifetimes.refresh_token));
        let id_token_claims: Vec<String> =
            claims::id_token_claim_names(&request).into_iter().filter(|c| granted_claims.contains(c)).collect();
        let grant = Grant {
            id: self.new_id(),
            client_id: client.client_id.clone(),
            sub: subject.sub.clone(),
            scope,
            claims: granted_claims,
            id_token_claims,
            claims_locales: request.claims_locales.clone(),
            preset_claims: consent.preset_claims,
            session_claims: subject.claims.clone(),
            data: session.data.clone(),
            auth_time: subject.auth_time,
            acr: subject.acr.clone(),
            amr: subject.amr.clone(),
            sid: Some(subject.sid.clone()),
            audience: consent.audience,
            access_token_lifetime,
            id_token_lifetime: consent.id_token.lifetime.unwrap_or(lifetimes.id_token),
            refresh_token_lifetime,
            created_at: now,
            revoked: false,
        };
        let grant_expiry = now.plus(lifetimes.code + access_token_lifetime.max(refresh_token_lifetime.unwrap_or(0)));
        GRANTS.put(self.store(), &grant.id, &grant, Some(grant_expiry)).await?;
        let code = self.new_token();
        let record = CodeRecord {
            grant_id: grant.id.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: request.redirect_uri.as_str().to_owned(),
            redirect_uri_given: request.redirect_uri_given,
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            state: UseState::Issued,
        };
        CODES.put(self.store(), TokenHash::of(&code).as_str(), &record, Some(now.plus(lifetimes.code))).await?;
        let to = RedirectTarget {
            uri: request.redirect_uri.clone(),
            mode: request.response_mode,
            state: request.state.clone(),
        };
        Ok(self.response(Some(session.sid), &to, vec![("code", code)], Some(subject.sid), session.data))
    }

    /// Closes the session and answers with an error for the client.
    async fn close_with_error(&self, session: AuthzSession, error: &OAuthError) -> Result<Prompt, ApiError> {
        self.close(&session).await?;
        let to = RedirectTarget {
            uri: session.request.redirect_uri.clone(),
            mode: session.request.response_mode,
            state: session.request.state.clone(),
        };
        Ok(self.error_response(Some(session.sid), &to, error, None, session.data))
    }

    fn error_response(
        &self,
        sid: Option<String>,
        to: &RedirectTarget,
        error: &OAuthError,
        sub_sid: Option<String>,
        data: JsonObject,
    ) -> Prompt {
        let params =
            vec![("error", error.code.as_str().to_owned()), ("error_description", error.description.to_string())];
        self.response(sid, to, params, sub_sid, data)
    }

    /// The final redirect, with `state` and RFC 9207 `iss` added.
    fn response(
        &self,
        sid: Option<String>,
        to: &RedirectTarget,
        mut params: Vec<(&'static str, String)>,
        sub_sid: Option<String>,
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
            sub_sid,
            data,
        }
    }

    fn auth_prompt(&self, session: AuthzSession, client: &Client) -> Prompt {
        Prompt::Auth {
            sid: session.sid,
            expires_at: session.expires_at,
            client: client.into(),
            auth_request: session.request,
            directive: session.directive,
            data: session.data,
        }
    }

    fn consent_prompt(
        &self,
        session: AuthzSession,
        client: &Client,
        subject: &SubjectSession,
        scope: Split,
        claims: Split,
    ) -> Prompt {
        Prompt::Consent {
            sid: session.sid,
            expires_at: session.expires_at,
            client: client.into(),
            auth_request: session.request,
            subject: SubjectSummary {
                sub: subject.sub.clone(),
                auth_time: subject.auth_time,
                acr: subject.acr.clone(),
                amr: subject.amr.clone(),
                sub_sid: subject.sid.clone(),
            },
            scope,
            claims,
            data: session.data,
        }
    }
}
