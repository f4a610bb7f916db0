//! The policy ports: claims sources, the consent policy and login hooks. The plugin host
//! implements them with WebAssembly components; the protocol only sees these traits. With no
//! plugins loaded, claims come from the session and the consent, the front-end decides consent,
//! and login goes straight on.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::OAuthError;
use crate::model::{ClientMetadata, ConsentRecord, JsonObject};

/// A plugin call that did not produce an answer the protocol can use.
///
/// `error` is the OAuth error the plugin itself chose (an expected failure, a value in WIT);
/// `None` means an incident (trap, timeout, memory limit, malformed answer), which the client
/// only ever sees as `server_error`. The plugin host logs the incident with the plugin's name.
#[derive(Clone, Debug)]
pub struct PluginFailure {
    pub plugin: String,
    pub error: Option<OAuthError>,
}

impl PluginFailure {
    pub fn into_oauth(self) -> OAuthError {
        match self.error {
            Some(e) => e,
            None => OAuthError::new(
                crate::error::ErrorCode::ServerError,
                "a policy plugin failed; the request could not be completed",
            ),
        }
    }
}

/// What a claims source is asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimsPurpose {
    IdToken,
    Userinfo,
    AccessToken,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClaimsQuery {
    pub sub: String,
    pub claims: Vec<String>,
    pub locales: Vec<String>,
    pub client_id: String,
    pub scope: Vec<String>,
    pub purpose: ClaimsPurpose,
    pub session_claims: JsonObject,
    pub data: JsonObject,
}

/// Supplies claim values about subjects.
#[async_trait]
pub trait ClaimsSource: Send + Sync + 'static {
    /// Names of the claims this source can supply; advertised in discovery.
    fn claim_names(&self) -> Vec<String>;

    /// Values for those of `query.claims` this source knows.
    async fn claims(&self, query: &ClaimsQuery) -> Result<JsonObject, PluginFailure>;
}

/// The client as a consent policy sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub metadata: ClientMetadata,
}

/// Requested items split into those not consented before and those already consented.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub new: Vec<String>,
    pub consented: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConsentQuery {
    pub client: ClientView,
    pub sub: String,
    pub scope: Split,
    pub claims: Split,
    /// The protected resources (RFC 8707) the tokens are for.
    pub resources: Vec<String>,
    pub previous: Option<ConsentRecord>,
}

/// Requested items consented before that a consent policy wants the user to confirm again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconfirm {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
}

impl Reconfirm {
    pub fn is_empty(&self) -> bool {
        self.scope.is_empty() && self.claims.is_empty()
    }
}

impl Split {
    /// The split shown to the user: items consented before and listed in `again` move to
    /// `new`; items not consented before stay new whatever the policy says.
    pub fn reconfirming(mut self, again: &[String]) -> Split {
        let (moved, kept): (Vec<String>, Vec<String>) = self.consented.into_iter().partition(|c| again.contains(c));
        self.new.extend(moved);
        self.consented = kept;
        self
    }
}

/// A consent policy's decision.
#[derive(Clone, Debug)]
pub enum ConsentVerdict {
    /// Ask the user through the front-end, as if there were no policy, showing the items in
    /// `Reconfirm` as new although they were consented before.
    Ask(Reconfirm),
    /// Grant without asking.
    Grant(crate::session::ConsentInput),
    /// Refuse; the error goes to the client's redirect URI.
    Deny(OAuthError),
}

#[async_trait]
pub trait ConsentPolicy: Send + Sync + 'static {
    async fn decide(&self, query: &ConsentQuery) -> Result<ConsentVerdict, PluginFailure>;
}

/// Where in the authorization session a login hook runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookStage {
    Started,
    Authenticated,
    BeforeResponse,
}

#[derive(Clone, Debug, Serialize)]
pub struct HookQuery {
    pub session_id: String,
    pub client_id: String,
    pub scope: Vec<String>,
    /// The protected resources (RFC 8707) the tokens are for.
    pub resources: Vec<String>,
    pub acr_values: Vec<String>,
    pub login_hint: Option<String>,
    pub sub: Option<String>,
    pub acr: Option<String>,
    pub data: JsonObject,
}

/// What the authorization session does after a hook.
#[derive(Clone, Debug, PartialEq)]
pub enum HookAction {
    Continue,
    /// Ask the front-end to (re-)authenticate the user, optionally at a given `acr`.
    Authenticate {
        acr: Option<String>,
        reason: Option<String>,
    },
    /// Ask the front-end to send the user to an external identity provider.
    Redirect {
        uri: String,
    },
    /// End the session with an error to the client.
    Deny(OAuthError),
}

#[derive(Clone, Debug, PartialEq)]
pub struct HookOutcome {
    /// The session `data` to store from now on, when the hook replaced it.
    pub data: Option<JsonObject>,
    pub action: HookAction,
}

impl HookOutcome {
    pub fn proceed() -> Self {
        Self { data: None, action: HookAction::Continue }
    }
}

#[async_trait]
pub trait LoginHooks: Send + Sync + 'static {
    async fn run(&self, stage: HookStage, query: &HookQuery) -> Result<HookOutcome, PluginFailure>;
}

/// The policy plugins in effect. Each slot is filled by the plugin host, or left empty.
#[derive(Clone, Default)]
pub struct Policies {
    pub claims: Option<Arc<dyn ClaimsSource>>,
    pub consent: Option<Arc<dyn ConsentPolicy>>,
    pub hooks: Option<Arc<dyn LoginHooks>>,
}
