//! Which claims a request asks for, and the values released for a grant.

use crate::model::{AuthorizationRequest, Grant, JsonObject};
use crate::plugins::{ClaimsPurpose, ClaimsQuery};
use crate::provider::Provider;

/// OpenID Connect Core §5.4: the claims each standard scope requests.
pub fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// The standard scopes of OpenID Connect Core §5.4 plus `openid` and `offline_access`.
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "address", "phone", "offline_access"];

/// Claims implied by `scopes`.
pub fn claims_of_scopes<'a>(scopes: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scopes {
        for c in scope_claims(s) {
            push_unique(&mut out, c);
        }
    }
    out
}

/// Every claim the request asks for: through its scopes and its `claims` parameter.
pub fn requested_claims(request: &AuthorizationRequest) -> Vec<String> {
    let mut out = claims_of_scopes(&request.scope);
    for name in claims_parameter_names(request) {
        push_unique(&mut out, &name);
    }
    out
}

/// Claims the `claims` parameter asks for, in either target.
pub fn claims_parameter_names(request: &AuthorizationRequest) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = &request.claims {
        for target in [&c.userinfo, &c.id_token].into_iter().flatten() {
            for name in target.keys() {
                push_unique(&mut out, name);
            }
        }
    }
    out
}

/// Claims the `claims` parameter asks to have in the ID token itself.
pub fn id_token_claim_names(request: &AuthorizationRequest) -> Vec<String> {
    request.claims.as_ref().and_then(|c| c.id_token.as_ref()).map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

/// Claims the `claims` parameter asks to have at the UserInfo endpoint.
pub fn userinfo_claim_names(request: &AuthorizationRequest) -> Vec<String> {
    request.claims.as_ref().and_then(|c| c.userinfo.as_ref()).map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

pub(crate) fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|x| x == item) {
        list.push(item.to_owned());
    }
}

/// Claims that identify the token rather than describe the subject; sources cannot set them.
pub(crate) const RESERVED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "scope",
    "client_id",
];

/// The values of `names` for `grant`: preset claims of the consent first, then the claims the
/// front-end gave at login, then the claims-source plugins for what is still missing.
pub(crate) async fn release(
    provider: &Provider,
    grant: &Grant,
    purpose: ClaimsPurpose,
    names: &[String],
) -> Result<JsonObject, crate::plugins::PluginFailure> {
    let preset = match purpose {
        ClaimsPurpose::IdToken => &grant.preset_claims.id_token,
        _ => &grant.preset_claims.userinfo,
    };
    let mut out = JsonObject::new();
    for name in names.iter().filter(|n| !RESERVED.contains(&n.as_str())) {
        if let Some(v) = preset.get(name).or_else(|| grant.session_claims.get(name)) {
            out.insert(name.clone(), v.clone());
        }
    }
    let missing: Vec<String> =
        names.iter().filter(|n| !out.contains_key(*n) && !RESERVED.contains(&n.as_str())).cloned().collect();
    if let (Some(source), false) = (&provider.policies().claims, missing.is_empty()) {
        let query = ClaimsQuery {
            sub: grant.sub.clone(),
            claims: missing.clone(),
            locales: grant.claims_locales.clone(),
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            purpose,
            session_claims: grant.session_claims.clone(),
            data: grant.data.clone(),
        };
        for (name, value) in source.claims(&query).await? {
            if missing.contains(&name) {
                out.insert(name, value);
            }
        }
    }
    // Preset claims the consent added beyond the requested names are released as given.
    for (name, value) in preset {
        if !RESERVED.contains(&name.as_str()) {
            out.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    Ok(out)
}
