//! The `claims` request parameter (OpenID Connect Core §5.5): a JSON object with `userinfo`
//! and `id_token` members, each naming claims with `null` or an object of `essential`,
//! `value` and `values` (§5.5.1). An `acr` asked for with values sets the request's
//! `acr_values` (§5.5.1.1): in place of the parameter's when essential, which makes a login
//! that reaches none of them fail.

use serde_json::Value;

use super::Draft;
use crate::error::OAuthError;
use crate::model::ClaimsParameter;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let Some(raw) = draft.params.get("claims") else {
        return Ok(());
    };
    let claims: ClaimsParameter = serde_json::from_str(raw).map_err(|e| {
        OAuthError::invalid_request(format!("the claims parameter is not a JSON object of userinfo and id_token: {e}"))
    })?;
    for (target, members) in [("userinfo", &claims.userinfo), ("id_token", &claims.id_token)] {
        for (name, request) in members.iter().flatten() {
            well_formed(request)
                .map_err(|why| OAuthError::invalid_request(format!("the claims parameter's {target}.{name} {why}")))?;
        }
    }
    let acr = [&claims.id_token, &claims.userinfo].into_iter().flatten().find_map(|m| m.get("acr"));
    if let Some(acr) = acr {
        let values = requested_values(acr);
        let essential = acr.get("essential") == Some(&Value::Bool(true));
        let request = draft.request();
        if !values.is_empty() && (essential || request.acr_values.is_empty()) {
            request.acr_values = values;
            request.acr_essential = essential;
        }
    }
    draft.request().claims = Some(claims);
    Ok(())
}

/// §5.5.1: a claim is requested with `null` (default manner) or an object whose `essential`
/// is a boolean and whose `values` is an array; other members are ignored ("Other members MAY
/// be defined to provide additional information about the requested Claims").
fn well_formed(request: &Value) -> Result<(), &'static str> {
    let Some(options) = request.as_object() else {
        return if request.is_null() { Ok(()) } else { Err("must be null or an object") };
    };
    if options.get("essential").is_some_and(|e| !e.is_boolean()) {
        return Err("has an essential member that is not a boolean");
    }
    if options.get("values").is_some_and(|v| !v.is_array()) {
        return Err("has a values member that is not an array");
    }
    Ok(())
}

/// The string values a claim request names in `value` or `values`.
fn requested_values(request: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let one = request.get("value").into_iter();
    let many = request.get("values").and_then(Value::as_array).into_iter().flatten();
    for v in one.chain(many).filter_map(Value::as_str) {
        if !out.iter().any(|x| x == v) {
            out.push(v.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_requests_follow_section_5_5_1() {
        for ok in [json!(null), json!({}), json!({"essential": true, "values": ["a"]}), json!({"value": 1, "x": 2})] {
            assert!(well_formed(&ok).is_ok(), "{ok}");
        }
        for bad in [json!(true), json!("name"), json!({"essential": "yes"}), json!({"values": "a"})] {
            assert!(well_formed(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn acr_values_come_from_value_and_values() {
        assert_eq!(requested_values(&json!({"value": "a", "values": ["b", "a", 3]})), ["a", "b"]);
        assert!(requested_values(&json!({"essential": true})).is_empty());
    }
}
