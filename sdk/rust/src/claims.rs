//! Claims sources: supply claims about subjects for ID tokens, UserInfo and access tokens.

use crate::bindings::claims_source::exports::gatehouse::policy::claims as wit;
use crate::{Object, PluginError, Value};

/// What the claims are for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    IdToken,
    Userinfo,
    AccessToken,
}

/// A request for claims about one subject.
#[derive(Clone, Debug)]
pub struct Query {
    /// The subject identifier.
    pub sub: String,
    /// The claims wanted, all among those the plugin said it supplies.
    pub claims: Vec<String>,
    /// Preferred languages for the values.
    pub locales: Vec<String>,
    /// The client the claims are released to.
    pub client_id: String,
    /// The scopes granted to the client.
    pub scope: Vec<String>,
    pub purpose: Purpose,
    /// Claims the login front-end gave when it authenticated the subject.
    pub session_claims: Object,
    /// The authorization session's `data`.
    pub data: Object,
}

/// Supplies claim values.
pub trait ClaimsSource {
    /// The names of the claims this plugin can supply. Asked once, when the plugin loads.
    fn supplied_claims() -> Vec<String>;

    /// Values for those of `query.claims` the plugin knows; leave out the others.
    fn claims(query: Query) -> Result<Object, PluginError>;
}

impl<T: ClaimsSource> wit::Guest for T {
    fn supplied_claims() -> Vec<String> {
        T::supplied_claims()
    }

    fn claims(query: wit::ClaimsQuery) -> Result<Vec<wit::Claim>, wit::PluginError> {
        let query = Query {
            sub: query.sub,
            claims: query.claims,
            locales: query.locales,
            client_id: query.client_id,
            scope: query.scope,
            purpose: match query.purpose {
                wit::Purpose::IdToken => Purpose::IdToken,
                wit::Purpose::Userinfo => Purpose::Userinfo,
                wit::Purpose::AccessToken => Purpose::AccessToken,
            },
            session_claims: crate::object(&query.session_claims),
            data: crate::object(&query.data),
        };
        let values = T::claims(query)?;
        Ok(values
            .into_iter()
            .map(|(name, value): (String, Value)| wit::Claim { name, value: value.to_string() })
            .collect())
    }
}

/// Exports a [`ClaimsSource`] implementation as the plugin's component.
#[macro_export]
macro_rules! export_claims_source {
    ($plugin:ident) => {
        $crate::bindings::claims_source::export!($plugin with_types_in $crate::bindings::claims_source);
    };
}
