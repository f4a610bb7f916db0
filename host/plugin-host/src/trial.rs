//! One plugin outside a server: the load check (`gatehouse plugin check`) and calls from a
//! file of inputs (`gatehouse plugin test`).
//!
//! A trial loads a plugin with the same code as an install (compile, the world and import
//! checks, the trial call), so a component that passes here loads in a server with the same
//! manifest. Calls go straight to the plugin, without the protocol's trimming, so an author
//! sees exactly what the plugin answered.
//!
//! A calls file is a list of calls, each naming its kind's input (`claims`, `consent` or
//! `hooks`), with the fields of the WIT query in snake case; JSON-valued fields are written as
//! values. An optional `expect` is compared with the answer:
//!
//! ```toml
//! [[call]]
//! name = "Alice is an admin"
//! claims = { sub = "alice", claims = ["groups"] }
//! expect = { ok = { groups = ["admins"] } }
//! ```

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::bindings::{claims, consent, gatehouse::policy::types, hooks};
use crate::error::{Incident, LoadError};
use crate::manifest::{Kind, Manifest};
use crate::plugin::{Answer, Plugin};
use crate::runtime::{Runtime, RuntimeSettings};

/// A plugin loaded on its own.
pub struct Trial {
    plugin: Plugin,
}

/// What the load check found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckReport {
    pub name: String,
    pub kind: Kind,
    pub world: &'static str,
    pub version: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// The interfaces the component imports, all of them granted.
    pub imports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supplied_claims: Vec<String>,
}

/// A file of calls.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    #[serde(default)]
    pub call: Vec<Call>,
}

/// One call: the input of the plugin's kind, and optionally the answer expected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub claims: Option<ClaimsInput>,
    #[serde(default)]
    pub consent: Option<ConsentInput>,
    #[serde(default)]
    pub hooks: Option<HookInput>,
    #[serde(default)]
    pub expect: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsInput {
    pub sub: String,
    /// The claims wanted; every claim the plugin supplies when absent.
    #[serde(default)]
    pub claims: Option<Vec<String>>,
    #[serde(default)]
    pub locales: Vec<String>,
    #[serde(default = "client")]
    pub client_id: String,
    #[serde(default = "openid")]
    pub scope: Vec<String>,
    /// `id-token`, `userinfo` (the default) or `access-token`.
    #[serde(default = "userinfo")]
    pub purpose: String,
    #[serde(default)]
    pub session_claims: Map<String, Value>,
    #[serde(default)]
    pub data: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitInput {
    #[serde(default)]
    pub new: Vec<String>,
    #[serde(default)]
    pub consented: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousInput {
    #[serde(default)]
    pub scope: Vec<String>,
    #[serde(default)]
    pub claims: Vec<String>,
    #[serde(default)]
    pub updated_at: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    #[serde(default = "client")]
    pub client_id: String,
    #[serde(default)]
    pub client_metadata: Map<String, Value>,
    pub sub: String,
    #[serde(default)]
    pub scope: SplitInput,
    #[serde(default)]
    pub claims: SplitInput,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub previous: Option<PreviousInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookInput {
    /// `started`, `authenticated` or `before-response`.
    pub stage: String,
    #[serde(default = "session_id")]
    pub session_id: String,
    #[serde(default = "client")]
    pub client_id: String,
    #[serde(default = "openid")]
    pub scope: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub acr_values: Vec<String>,
    #[serde(default)]
    pub login_hint: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub acr: Option<String>,
    #[serde(default)]
    pub data: Map<String, Value>,
}

fn client() -> String {
    "client".into()
}

fn openid() -> Vec<String> {
    vec!["openid".into()]
}

fn userinfo() -> String {
    "userinfo".into()
}

fn session_id() -> String {
    "session-1".into()
}

impl Trial {
    /// Compiles (or finds in the cache), checks and trial-calls a plugin, as an install does.
    /// A trial makes a handful of calls, so no instances are prepared ahead: each call
    /// instantiates its own.
    pub async fn load(
        settings: &RuntimeSettings,
        mut manifest: Manifest,
        component: Vec<u8>,
    ) -> Result<Self, LoadError> {
        manifest.limits.prepared_instances = 0;
        let runtime = Arc::new(Runtime::new(settings).map_err(LoadError::Compile)?);
        let plugin = Plugin::load(runtime, manifest, component, Arc::default()).await?;
        Ok(Self { plugin })
    }

    pub fn report(&self) -> CheckReport {
        let manifest = &self.plugin.manifest;
        CheckReport {
            name: manifest.name.clone(),
            kind: manifest.kind,
            world: manifest.kind.world(),
            version: manifest.version.clone(),
            sha256: self.plugin.hash.clone(),
            imports: self.plugin.imports.clone(),
            supplied_claims: self.plugin.supplied_claims.clone(),
        }
    }

    /// Runs one call. The answer is `{"ok": …}`, `{"error": {"code", "description"}}` for the
    /// plugin's own errors, or `{"incident": "…"}` for a trap, timeout or memory-limit hit.
    /// A call that does not fit the plugin is an `Err` saying why.
    pub async fn call(&self, call: &Call) -> Result<Value, String> {
        let kind = self.plugin.kind();
        let given: Vec<&str> =
            [("claims", call.claims.is_some()), ("consent", call.consent.is_some()), ("hooks", call.hooks.is_some())]
                .into_iter()
                .filter_map(|(key, set)| set.then_some(key))
                .collect();
        let expected = match kind {
            Kind::ClaimsSource => "claims",
            Kind::ConsentPolicy => "consent",
            Kind::LoginHooks => "hooks",
        };
        if given != [expected] {
            return Err(format!(
                "a call to a {kind} gives exactly one `{expected}` input (this one gives: {})",
                given.join(", ")
            ));
        }
        Ok(match (&call.claims, &call.consent, &call.hooks) {
            (Some(input), _, _) => answer(self.plugin.claims(&self.claims_query(input)?).await, |claims| {
                let values: Map<String, Value> = claims
                    .into_iter()
                    .map(|c| (c.name, serde_json::from_str(&c.value).unwrap_or(Value::String(c.value))))
                    .collect();
                Value::Object(values)
            }),
            (_, Some(input), _) => answer(self.plugin.decide(&consent_query(input)).await, verdict),
            (_, _, Some(input)) => answer(self.plugin.run(&hook_query(input)?).await, outcome),
            _ => unreachable!("exactly one input was checked above"),
        })
    }

    fn claims_query(&self, input: &ClaimsInput) -> Result<claims::ClaimsQuery, String> {
        let purpose = match input.purpose.as_str() {
            "id-token" => claims::Purpose::IdToken,
            "userinfo" => claims::Purpose::Userinfo,
            "access-token" => claims::Purpose::AccessToken,
            other => return Err(format!("purpose {other:?} is not id-token, userinfo or access-token")),
        };
        Ok(claims::ClaimsQuery {
            sub: input.sub.clone(),
            claims: input.claims.clone().unwrap_or_else(|| self.plugin.supplied_claims.clone()),
            locales: input.locales.clone(),
            client_id: input.client_id.clone(),
            scope: input.scope.clone(),
            purpose,
            session_claims: Value::Object(input.session_claims.clone()).to_string(),
            data: Value::Object(input.data.clone()).to_string(),
        })
    }
}

fn consent_query(input: &ConsentInput) -> consent::ConsentQuery {
    let split = |s: &SplitInput| consent::Split { new: s.new.clone(), consented: s.consented.clone() };
    consent::ConsentQuery {
        client: consent::Client {
            client_id: input.client_id.clone(),
            metadata: Value::Object(input.client_metadata.clone()).to_string(),
        },
        sub: input.sub.clone(),
        scope: split(&input.scope),
        claims: split(&input.claims),
        resources: input.resources.clone(),
        previous: input.previous.as_ref().map(|p| consent::PreviousConsent {
            scope: p.scope.clone(),
            claims: p.claims.clone(),
            updated_at: p.updated_at,
        }),
    }
}

fn hook_query(input: &HookInput) -> Result<hooks::HookQuery, String> {
    let stage = match input.stage.as_str() {
        "started" => hooks::Stage::Started,
        "authenticated" => hooks::Stage::Authenticated,
        "before-response" => hooks::Stage::BeforeResponse,
        other => return Err(format!("stage {other:?} is not started, authenticated or before-response")),
    };
    Ok(hooks::HookQuery {
        stage,
        session_id: input.session_id.clone(),
        client_id: input.client_id.clone(),
        scope: input.scope.clone(),
        resources: input.resources.clone(),
        acr_values: input.acr_values.clone(),
        login_hint: input.login_hint.clone(),
        sub: input.sub.clone(),
        acr: input.acr.clone(),
        data: Value::Object(input.data.clone()).to_string(),
    })
}

fn answer<T>(result: Result<Answer<T>, Incident>, ok: impl FnOnce(T) -> Value) -> Value {
    match result {
        Ok(Ok(value)) => json!({ "ok": ok(value) }),
        Ok(Err(e)) => json!({ "error": { "code": e.code, "description": e.description } }),
        Err(incident) => json!({ "incident": incident.to_string() }),
    }
}

fn denial(d: types::Denial) -> Value {
    json!({ "code": d.code, "description": d.description })
}

/// Empty lists are left out, so an answer compares with the fields an expectation names.
fn without_empty(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| v.as_array().is_none_or(|a| !a.is_empty()));
    }
    value
}

/// Absent values are left out, so answers compare with TOML, which has no null.
fn without_nulls(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
    }
    value
}

fn verdict(v: consent::Verdict) -> Value {
    match v {
        consent::Verdict::Ask(a) if a.reconfirm_scope.is_empty() && a.reconfirm_claims.is_empty() => json!("ask"),
        consent::Verdict::Ask(a) => json!({ "ask": without_empty(json!({
            "reconfirm_scope": a.reconfirm_scope,
            "reconfirm_claims": a.reconfirm_claims,
        })) }),
        consent::Verdict::Deny(d) => json!({ "deny": denial(d) }),
        consent::Verdict::Grant(g) => json!({ "grant": without_nulls(json!({
            "scope": g.scope,
            "claims": g.claims,
            "long_lived": g.long_lived,
            "access_token_lifetime": g.access_token_lifetime,
            "id_token_lifetime": g.id_token_lifetime,
            "refresh_token": g.refresh_token,
            "refresh_token_lifetime": g.refresh_token_lifetime,
        })) }),
    }
}

fn outcome(o: hooks::Outcome) -> Value {
    let action = match o.action {
        hooks::Action::Continue => json!("continue"),
        hooks::Action::Authenticate(a) => {
            json!({ "authenticate": without_nulls(json!({ "acr": a.acr, "reason": a.reason })) })
        }
        hooks::Action::Redirect(uri) => json!({ "redirect": uri }),
        hooks::Action::Deny(d) => json!({ "deny": denial(d) }),
    };
    let data = o.data.map(|d| serde_json::from_str::<Value>(&d).unwrap_or(Value::String(d)));
    without_nulls(json!({ "action": action, "data": data }))
}
