//! Consent policies: grant, ask or deny in place of the login front-end's consent screen.

use crate::bindings::consent_policy::exports::gatehouse::policy::consent as wit;
use crate::{Denial, Object, PluginError};

/// Requested items, split into those not consented before and those already consented.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub new: Vec<String>,
    pub consented: Vec<String>,
}

impl Split {
    /// Everything requested.
    pub fn all(&self) -> Vec<String> {
        self.new.iter().chain(&self.consented).cloned().collect()
    }
}

/// A long-lived consent the subject gave this client before.
#[derive(Clone, Debug)]
pub struct Previous {
    pub scope: Vec<String>,
    pub claims: Vec<String>,
    /// Seconds since the Unix epoch.
    pub updated_at: u64,
}

/// A consent decision to make.
#[derive(Clone, Debug)]
pub struct Query {
    pub client_id: String,
    /// The client's registered metadata (RFC 7591 §2), e.g. `scope`, `client_name`, and any
    /// extra members the operator registered.
    pub client_metadata: Object,
    pub sub: String,
    pub scope: Split,
    pub claims: Split,
    /// The protected resources (RFC 8707) the tokens are for, such as MCP servers.
    pub resources: Vec<String>,
    pub previous: Option<Previous>,
}

impl Query {
    /// The scopes the client is registered for, or `None` when it may ask for any.
    pub fn registered_scopes(&self) -> Option<Vec<String>> {
        self.client_metadata
            .get("scope")
            .and_then(|s| s.as_str())
            .map(|s| s.split_ascii_whitespace().map(str::to_owned).collect())
    }
}

/// Consent given without asking the user. Anything not requested is trimmed by the host.
#[derive(Clone, Debug, Default)]
pub struct Grant {
    pub scope: Vec<String>,
    /// `None`: the claims of the granted scopes and of the `claims` request parameter.
    pub claims: Option<Vec<String>>,
    /// Remember this consent for the subject and client.
    pub long_lived: bool,
    /// Lifetimes in seconds; the server defaults when `None`.
    pub access_token_lifetime: Option<u64>,
    pub id_token_lifetime: Option<u64>,
    pub refresh_token: bool,
    pub refresh_token_lifetime: Option<u64>,
}

/// What to do about the request.
#[derive(Clone, Debug)]
pub enum Verdict {
    Grant(Grant),
    /// Let the front-end ask the user.
    Ask,
    /// Let the front-end ask the user, showing these requested scopes and claims as new
    /// although the user consented to them before, so they are confirmed again. Items not
    /// consented before are shown as new anyway.
    Reconfirm {
        scope: Vec<String>,
        claims: Vec<String>,
    },
    Deny(Denial),
}

pub trait ConsentPolicy {
    fn decide(query: Query) -> Result<Verdict, PluginError>;
}

impl<T: ConsentPolicy> wit::Guest for T {
    fn decide(query: wit::ConsentQuery) -> Result<wit::Verdict, wit::PluginError> {
        let split = |s: wit::Split| Split { new: s.new, consented: s.consented };
        let query = Query {
            client_id: query.client.client_id,
            client_metadata: crate::object(&query.client.metadata),
            sub: query.sub,
            scope: split(query.scope),
            claims: split(query.claims),
            resources: query.resources,
            previous: query.previous.map(|p| Previous { scope: p.scope, claims: p.claims, updated_at: p.updated_at }),
        };
        Ok(match T::decide(query)? {
            Verdict::Ask => {
                wit::Verdict::Ask(wit::AskUser { reconfirm_scope: Vec::new(), reconfirm_claims: Vec::new() })
            }
            Verdict::Reconfirm { scope, claims } => {
                wit::Verdict::Ask(wit::AskUser { reconfirm_scope: scope, reconfirm_claims: claims })
            }
            Verdict::Deny(d) => wit::Verdict::Deny(d.into()),
            Verdict::Grant(g) => wit::Verdict::Grant(wit::Grant {
                scope: g.scope,
                claims: g.claims,
                long_lived: g.long_lived,
                access_token_lifetime: g.access_token_lifetime,
                id_token_lifetime: g.id_token_lifetime,
                refresh_token: g.refresh_token,
                refresh_token_lifetime: g.refresh_token_lifetime,
            }),
        })
    }
}

/// Exports a [`ConsentPolicy`] implementation as the plugin's component.
#[macro_export]
macro_rules! export_consent_policy {
    ($plugin:ident) => {
        $crate::bindings::consent_policy::export!($plugin with_types_in $crate::bindings::consent_policy);
    };
}
