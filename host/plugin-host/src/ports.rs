//! The protocol's policy ports, implemented by the plugins in the active set.
//!
//! With nothing of a kind active, each port answers as if there were no plugin: no claims,
//! ask the user, continue. So the protocol can hold the ports from the start and plugins can be
//! hot-loaded later.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_protocol::model::{JsonObject, RefreshSettings, TokenSettings};
use gatehouse_protocol::plugins::{
    ClaimsPurpose, ClaimsQuery, ClaimsSource, ConsentPolicy, ConsentQuery, ConsentVerdict, HookAction, HookOutcome,
    HookQuery, HookStage, LoginHooks, PluginFailure, Policies, Reconfirm,
};
use gatehouse_protocol::session::{ConsentInput, Selection};
use gatehouse_protocol::{ErrorCode, OAuthError};
use serde_json::Value;

use crate::PluginHost;
use crate::bindings::{claims, consent, gatehouse::policy::types, hooks};
use crate::error::Incident;
use crate::plugin::{Answer, Plugin};

impl PluginHost {
    /// The policy ports for the protocol, backed by whatever is active at each call.
    pub fn policies(&self) -> Policies {
        Policies {
            claims: Some(Arc::new(self.clone())),
            consent: Some(Arc::new(self.clone())),
            hooks: Some(Arc::new(self.clone())),
        }
    }
}

/// What a port does with one plugin's result.
enum Settled<T> {
    Answer(T),
    /// The plugin failed and its manifest says to go on without it.
    Skip,
}

/// Applies the plugin's failure semantics: its own errors go to the client; incidents become
/// `server_error` (`error: None`) unless the plugin is configured to be skipped (see
/// [`OnFailure`](crate::OnFailure)).
fn settle<T>(plugin: &Plugin, result: Result<Answer<T>, Incident>) -> Result<Settled<T>, PluginFailure> {
    match result {
        Ok(Ok(answer)) => Ok(Settled::Answer(answer)),
        Ok(Err(e)) => match oauth_error(&e.code, e.description) {
            Some(error) => Err(PluginFailure { plugin: plugin.name().to_owned(), error: Some(error) }),
            None => incident(plugin, plugin.malformed(format!("unknown error code {:?}", e.code))),
        },
        Err(i) => incident(plugin, i),
    }
}

/// What an incident does: the plugin's own failures are skipped if its manifest says so; no
/// free instance is skipped only for a kind that cannot deny, and is otherwise
/// `temporarily_unavailable`, so that load never switches a policy off.
fn incident<T>(plugin: &Plugin, incident: Incident) -> Result<Settled<T>, PluginFailure> {
    let skips = plugin.manifest.on_failure.skips() && (incident.is_the_plugins() || !plugin.kind().can_deny());
    if skips {
        return Ok(Settled::Skip);
    }
    let error = (!incident.is_the_plugins()).then(|| {
        OAuthError::new(ErrorCode::TemporarilyUnavailable, "a policy plugin is at capacity; try again shortly")
    });
    Err(PluginFailure { plugin: plugin.name().to_owned(), error })
}

/// Reads a plugin's value into the protocol's terms; its own errors pass through.
fn read<T, U>(answer: Answer<T>, f: impl FnOnce(T) -> Result<U, Incident>) -> Result<Answer<U>, Incident> {
    match answer {
        Ok(value) => f(value).map(Ok),
        Err(e) => Ok(Err(e)),
    }
}

fn oauth_error(code: &str, description: String) -> Option<OAuthError> {
    ErrorCode::parse(code).map(|code| OAuthError::new(code, description))
}

fn json(object: &JsonObject) -> String {
    serde_json::to_string(object).expect("a JSON object serialises")
}

fn object(plugin: &Plugin, text: &str, what: &str) -> Result<JsonObject, Incident> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(plugin.malformed(format!("{what} is not a JSON object"))),
    }
}

#[async_trait]
impl ClaimsSource for PluginHost {
    fn claim_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for plugin in &self.active().claims {
            for c in &plugin.supplied_claims {
                if !names.contains(c) {
                    names.push(c.clone());
                }
            }
        }
        names
    }

    async fn claims(&self, query: &ClaimsQuery) -> Result<JsonObject, PluginFailure> {
        let active = self.active();
        let mut out = JsonObject::new();
        for plugin in &active.claims {
            let wanted: Vec<String> = query
                .claims
                .iter()
                .filter(|c| !out.contains_key(*c) && plugin.supplied_claims.contains(c))
                .cloned()
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let wit_query = claims::ClaimsQuery {
                sub: query.sub.clone(),
                claims: wanted.clone(),
                locales: query.locales.clone(),
                client_id: query.client_id.clone(),
                scope: query.scope.clone(),
                purpose: match query.purpose {
                    ClaimsPurpose::IdToken => claims::Purpose::IdToken,
                    ClaimsPurpose::Userinfo => claims::Purpose::Userinfo,
                    ClaimsPurpose::AccessToken => claims::Purpose::AccessToken,
                },
                session_claims: json(&query.session_claims),
                data: json(&query.data),
            };
            let result = plugin.claims(&wit_query).await.and_then(|answer| {
                read(answer, |values| {
                    values
                        .into_iter()
                        .filter(|c| wanted.contains(&c.name))
                        .map(|c| match serde_json::from_str::<Value>(&c.value) {
                            Ok(v) => Ok((c.name, v)),
                            Err(_) => Err(plugin.malformed(format!("the value of claim {:?} is not JSON", c.name))),
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            });
            if let Settled::Answer(values) = settle(plugin, result)? {
                out.extend(values);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ConsentPolicy for PluginHost {
    async fn decide(&self, query: &ConsentQuery) -> Result<ConsentVerdict, PluginFailure> {
        let active = self.active();
        let Some(plugin) = &active.consent else {
            return Ok(ConsentVerdict::Ask(Reconfirm::default()));
        };
        let split = |s: &gatehouse_protocol::plugins::Split| consent::Split {
            new: s.new.clone(),
            consented: s.consented.clone(),
        };
        let metadata = serde_json::to_string(&query.client.metadata).expect("client metadata serialises");
        let wit_query = consent::ConsentQuery {
            client: consent::Client { client_id: query.client.client_id.clone(), metadata },
            sub: query.sub.clone(),
            scope: split(&query.scope),
            claims: split(&query.claims),
            resources: query.resources.clone(),
            previous: query.previous.as_ref().map(|p| consent::PreviousConsent {
                scope: p.scope.clone(),
                claims: p.claims.clone(),
                updated_at: p.updated_at.0.max(0) as u64,
            }),
        };
        let result = plugin.decide(&wit_query).await.and_then(|answer| read(answer, |v| verdict(plugin, v)));
        Ok(match settle(plugin, result)? {
            Settled::Answer(verdict) => verdict,
            Settled::Skip => ConsentVerdict::Ask(Reconfirm::default()),
        })
    }
}

fn verdict(plugin: &Plugin, verdict: consent::Verdict) -> Result<ConsentVerdict, Incident> {
    Ok(match verdict {
        consent::Verdict::Ask(a) => {
            ConsentVerdict::Ask(Reconfirm { scope: a.reconfirm_scope, claims: a.reconfirm_claims })
        }
        consent::Verdict::Deny(d) => ConsentVerdict::Deny(denial(plugin, d)?),
        consent::Verdict::Grant(g) => ConsentVerdict::Grant(ConsentInput {
            scope: Selection::Some(g.scope),
            claims: g.claims.map(Selection::Some),
            long_lived: g.long_lived,
            access_token: TokenSettings { lifetime: g.access_token_lifetime },
            id_token: TokenSettings { lifetime: g.id_token_lifetime },
            refresh_token: RefreshSettings { issue: g.refresh_token, lifetime: g.refresh_token_lifetime },
            ..ConsentInput::all()
        }),
    })
}

fn denial(plugin: &Plugin, d: types::Denial) -> Result<OAuthError, Incident> {
    oauth_error(&d.code, d.description).ok_or_else(|| plugin.malformed(format!("unknown error code {:?}", d.code)))
}

#[async_trait]
impl LoginHooks for PluginHost {
    /// Runs the active hooks in order. Each sees the data the one before it left; the first
    /// that does anything but continue decides.
    async fn run(&self, stage: HookStage, query: &HookQuery) -> Result<HookOutcome, PluginFailure> {
        let active = self.active();
        let mut data: Option<JsonObject> = None;
        for plugin in &active.hooks {
            let wit_query = hooks::HookQuery {
                stage: match stage {
                    HookStage::Started => hooks::Stage::Started,
                    HookStage::Authenticated => hooks::Stage::Authenticated,
                    HookStage::BeforeResponse => hooks::Stage::BeforeResponse,
                },
                session_id: query.session_id.clone(),
                client_id: query.client_id.clone(),
                scope: query.scope.clone(),
                resources: query.resources.clone(),
                acr_values: query.acr_values.clone(),
                login_hint: query.login_hint.clone(),
                sub: query.sub.clone(),
                acr: query.acr.clone(),
                data: json(data.as_ref().unwrap_or(&query.data)),
            };
            let result = plugin.run(&wit_query).await.and_then(|answer| read(answer, |o| outcome(plugin, o)));
            let Settled::Answer((new_data, action)) = settle(plugin, result)? else {
                continue;
            };
            if new_data.is_some() {
                data = new_data;
            }
            if action != HookAction::Continue {
                return Ok(HookOutcome { data, action });
            }
        }
        Ok(HookOutcome { data, action: HookAction::Continue })
    }
}

fn outcome(plugin: &Plugin, outcome: hooks::Outcome) -> Result<(Option<JsonObject>, HookAction), Incident> {
    let data = outcome.data.map(|d| object(plugin, &d, "the new session data")).transpose()?;
    let action = match outcome.action {
        hooks::Action::Continue => HookAction::Continue,
        hooks::Action::Authenticate(a) => HookAction::Authenticate { acr: a.acr, reason: a.reason },
        hooks::Action::Redirect(uri) => {
            if !(uri.starts_with("https://") || uri.starts_with("http://")) {
                return Err(plugin.malformed("the redirect is not an absolute http(s) URI".into()));
            }
            HookAction::Redirect { uri }
        }
        hooks::Action::Deny(d) => HookAction::Deny(denial(plugin, d)?),
    };
    Ok((data, action))
}
