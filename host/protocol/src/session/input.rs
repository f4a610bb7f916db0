//! What the front-end sends through the authorization-session API, and the bounds every part
//! of it is held to. A value out of bounds is a `400` that names the field and the limit; the
//! session stays as it was.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::model::{ConsentRecord, JsonObject, PresetClaims, RefreshSettings, TokenSettings};
use crate::provider::Limits;
use crate::secret::Secret;
use crate::world::UnixTime;

/// The longest `sub` (OpenID Connect Core §2: at most 255 ASCII characters).
pub const MAX_SUB: usize = 255;
/// The longest `acr` value, `amr` entry, scope or claim name the front-end may send.
pub const MAX_NAME: usize = 255;
/// The most `amr` entries, audiences, or scopes and claims in a consent.
pub const MAX_ITEMS: usize = 100;
/// No `auth_time` before 2000-01-01: older values are mistakes that would make `max_age`
/// checks meaningless.
pub const MIN_AUTH_TIME: UnixTime = UnixTime(946_684_800);

/// `POST /authz-sessions/v1`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// The authentication request's query string (or form body) as the browser sent it.
    pub query: String,
    /// The single sign-on credential from the front-end's cookie, if any: what a `response`
    /// or `consent` prompt handed out in `sso.token`.
    #[serde(default)]
    pub sso_token: Option<Secret<String>>,
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

impl SubjectInput {
    /// Checks every field against its bound; `now` is the provider's time.
    pub(super) fn check(&self, limits: &Limits, now: UnixTime) -> Result<(), ApiError> {
        if self.sub.is_empty() {
            return Err(ApiError::BadRequest("sub must not be empty".into()));
        }
        name("sub", &self.sub, MAX_SUB)?;
        if let Some(acr) = &self.acr {
            name("acr", acr, MAX_NAME)?;
        }
        names("amr", &self.amr)?;
        if let Some(t) = self.auth_time {
            if t > now.plus(60) {
                return Err(ApiError::BadRequest("auth_time is in the future".into()));
            }
            if t < MIN_AUTH_TIME {
                return Err(ApiError::BadRequest(format!("auth_time must not be before {MIN_AUTH_TIME} (2000-01-01)")));
            }
        }
        object_size("claims", &self.claims, limits.session_data_bytes)
    }
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
    pub(super) fn resolve(&self, requested: &[String]) -> Vec<String> {
        match self {
            Selection::All => requested.to_vec(),
            Selection::Some(v) => v.clone(),
        }
    }

    fn check(&self, field: &str) -> Result<(), ApiError> {
        match self {
            Selection::All => Ok(()),
            Selection::Some(v) => names(field, v),
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

    pub(super) fn from_record(r: &ConsentRecord, long_lived: bool) -> Self {
        Self {
            scope: Selection::Some(r.scope.clone()),
            claims: Some(Selection::Some(r.claims.clone())),
            long_lived,
            preset_claims: r.preset_claims.clone(),
            access_token: r.access_token.clone(),
            id_token: r.id_token.clone(),
            refresh_token: r.refresh_token.clone(),
            audience: r.audience.clone(),
            data: None,
        }
    }

    /// Checks every field against its bound, before anything is issued: a consent refused
    /// here leaves the session waiting for a better one.
    pub(super) fn check(&self, limits: &Limits) -> Result<(), ApiError> {
        self.scope.check("scope")?;
        if let Some(c) = &self.claims {
            c.check("claims")?;
        }
        let max = &limits.max_lifetimes;
        lifetime("access_token.lifetime", self.access_token.lifetime, max.access_token)?;
        lifetime("id_token.lifetime", self.id_token.lifetime, max.id_token)?;
        lifetime("refresh_token.lifetime", self.refresh_token.lifetime, max.refresh_token)?;
        if self.audience.len() > MAX_ITEMS {
            return Err(ApiError::BadRequest(format!("audience has more than {MAX_ITEMS} entries")));
        }
        for a in &self.audience {
            name("audience", a, 2048)?;
        }
        object_size("preset_claims.id_token", &self.preset_claims.id_token, limits.session_data_bytes)?;
        object_size("preset_claims.userinfo", &self.preset_claims.userinfo, limits.session_data_bytes)
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

/// The longest `error_description` a front-end may name when it denies.
pub const MAX_DESCRIPTION: usize = 1024;

/// Checks that `value`, if given, is a JSON object no larger than `max` bytes serialised.
pub fn data_object(value: Option<Value>, max: usize) -> Result<Option<JsonObject>, ApiError> {
    match value {
        None => Ok(None),
        Some(Value::Object(map)) => {
            object_size("data", &map, max)?;
            Ok(Some(map))
        }
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

/// The serialised size of `object` is at most `max` bytes.
pub(super) fn object_size(field: &str, object: &JsonObject, max: usize) -> Result<(), ApiError> {
    let size = serde_json::to_vec(object).map_or(usize::MAX, |v| v.len());
    if size > max {
        return Err(ApiError::BadRequest(format!("{field} is {size} bytes serialised; the limit is {max}")));
    }
    Ok(())
}

fn name(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::BadRequest(format!("{field} is longer than {max} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!("{field} must not contain control characters")));
    }
    Ok(())
}

fn names(field: &str, values: &[String]) -> Result<(), ApiError> {
    if values.len() > MAX_ITEMS {
        return Err(ApiError::BadRequest(format!("{field} has more than {MAX_ITEMS} entries")));
    }
    values.iter().try_for_each(|v| name(field, v, MAX_NAME))
}

fn lifetime(field: &str, value: Option<u64>, max: u64) -> Result<(), ApiError> {
    match value {
        Some(0) => Err(ApiError::BadRequest(format!("{field} must be at least 1 second"))),
        Some(v) if v > max => {
            Err(ApiError::BadRequest(format!("{field} is {v} seconds; the most this provider allows is {max}")))
        }
        _ => Ok(()),
    }
}
