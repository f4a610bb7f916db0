//! Login hooks: run as an authorization session moves through login.

use crate::bindings::login_hooks::exports::gatehouse::policy::hooks as wit;
use crate::{Denial, Object, PluginError, Value};

/// Where the session stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The session was just created from the authentication request.
    Started,
    /// The subject has been authenticated.
    Authenticated,
    /// Consent is settled; the final response comes next.
    BeforeResponse,
}

/// The session as a hook sees it.
#[derive(Clone, Debug)]
pub struct Query {
    pub stage: Stage,
    pub session_id: String,
    pub client_id: String,
    pub scope: Vec<String>,
    /// The protected resources (RFC 8707) the tokens are for, such as MCP servers.
    pub resources: Vec<String>,
    pub acr_values: Vec<String>,
    pub login_hint: Option<String>,
    /// The subject, from [`Stage::Authenticated`] on.
    pub sub: Option<String>,
    pub acr: Option<String>,
    /// The session `data`; return a changed copy in [`Outcome::data`] to replace it.
    pub data: Object,
}

/// What the session does next.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Continue,
    /// Ask the front-end to (re-)authenticate the user, optionally at an `acr`.
    Authenticate {
        acr: Option<String>,
        reason: Option<String>,
    },
    /// Ask the front-end to send the user to an external identity provider.
    Redirect(String),
    Deny(Denial),
}

#[derive(Clone, Debug)]
pub struct Outcome {
    /// The new session `data`, or `None` to keep it.
    pub data: Option<Object>,
    pub action: Action,
}

impl Outcome {
    /// Go on, leaving the data as it is.
    pub fn proceed() -> Self {
        Self { data: None, action: Action::Continue }
    }
}

pub trait LoginHooks {
    fn run(query: Query) -> Result<Outcome, PluginError>;
}

impl<T: LoginHooks> wit::Guest for T {
    fn run(query: wit::HookQuery) -> Result<wit::Outcome, wit::PluginError> {
        let query = Query {
            stage: match query.stage {
                wit::Stage::Started => Stage::Started,
                wit::Stage::Authenticated => Stage::Authenticated,
                wit::Stage::BeforeResponse => Stage::BeforeResponse,
            },
            session_id: query.session_id,
            client_id: query.client_id,
            scope: query.scope,
            resources: query.resources,
            acr_values: query.acr_values,
            login_hint: query.login_hint,
            sub: query.sub,
            acr: query.acr,
            data: crate::object(&query.data),
        };
        let outcome = T::run(query)?;
        Ok(wit::Outcome {
            data: outcome.data.map(|d| Value::Object(d).to_string()),
            action: match outcome.action {
                Action::Continue => wit::Action::Continue,
                Action::Authenticate { acr, reason } => wit::Action::Authenticate(wit::Authenticate { acr, reason }),
                Action::Redirect(uri) => wit::Action::Redirect(uri),
                Action::Deny(d) => wit::Action::Deny(d.into()),
            },
        })
    }
}

/// Exports a [`LoginHooks`] implementation as the plugin's component.
#[macro_export]
macro_rules! export_login_hooks {
    ($plugin:ident) => {
        $crate::bindings::login_hooks::export!($plugin with_types_in $crate::bindings::login_hooks);
    };
}
