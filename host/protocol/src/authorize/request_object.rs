//! Request objects (OpenID Connect Core §6, RFC 9101): the authentication request as a JWT,
//! by value (`request`) or by reference (`request_uri`). This check runs right after the
//! client check and before every check that reads a parameter: it turns the request into the
//! parameters the rest of the pipeline validates.
//!
//! Core §6.1: "If the same parameter exists both in the Request Object and the OAuth
//! Authorization Request parameters, the parameter in the Request Object is used", and
//! `client_id` and `response_type`, when both places have them, must match. The object is
//! decrypted first when it is encrypted to the provider (`encryption_keys.rs`), decoded, then
//! verified (`verify.rs`); the reference is fetched by `reference.rs`.
//!
//! A refused object is answered at a redirect URI only if one of the client's registered URIs
//! can be had: the object's own `redirect_uri` (with its `response_mode` and `state`) when the
//! object could be decoded, verified or not — a forged object can name only a URI the client
//! registered, as a forged query can — else the query's. Otherwise the error is shown.

mod reference;
mod verify;

use serde_json::Value;

use super::{Draft, Origin, Params, limits};
use crate::error::{ErrorCode, OAuthError};
use crate::logged::logged;
use crate::model::{Client, JsonObject};
use crate::par::REQUEST_URI_PREFIX;
use crate::provider::Provider;

/// Claims of the JWT itself, not authorization request parameters: never merged.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti", "sub"];

/// A refused request: the error, and the parameters its delivery is decided from.
#[derive(Debug)]
pub(super) struct Refused {
    pub error: OAuthError,
    pub delivery: Params,
}

/// A decoded request object, not yet verified.
pub(super) struct Decoded<'a> {
    /// The compact serialisation.
    pub jwt: &'a str,
    /// The header's `alg`.
    pub alg: String,
    pub claims: JsonObject,
}

/// The request's parameters with its request object's merged in, or `None` without one.
pub(super) async fn resolve(provider: &Provider, draft: &Draft<'_>, origin: Origin) -> Result<Option<Params>, Refused> {
    let client = draft.client();
    let refuse = |params: &Params, error: OAuthError| {
        tracing::info!(client_id = %client.client_id, error = %error, "authentication request refused");
        Refused { error, delivery: without_objects(params) }
    };
    for name in ["request", "request_uri"] {
        if draft.params.is_repeated(name) {
            let error = OAuthError::invalid_request(format!("the {name} parameter is repeated"));
            return Err(refuse(draft.params, error));
        }
    }
    let pushed_uri = draft.params.get("request_uri").filter(|u| u.starts_with(REQUEST_URI_PREFIX));
    let pushed = match pushed_uri {
        Some(uri) => Some(provider.take_pushed_request(uri, client).await.map_err(|e| refuse(draft.params, e))?),
        None => None,
    };
    // RFC 9126 §5: "the authorization server MUST reject authorization requests that do not
    // use PAR" from a client (or a server) that requires it.
    let par_required = client.metadata.require_pushed_authorization_requests
        || provider.settings().require_pushed_authorization_requests;
    if origin == Origin::Front && pushed.is_none() && par_required {
        let error = OAuthError::invalid_request("this client must push its authorization requests (RFC 9126)");
        return Err(refuse(draft.params, error));
    }
    let params = pushed.as_ref().unwrap_or(draft.params);
    let refuse = |error: OAuthError| refuse(params, error);
    let object = object_of(provider, client, params).await.map_err(refuse)?;
    let Some(jwt) = object else {
        // A pushed request without an object is the pushed parameters as they are.
        return Ok(pushed);
    };
    // An encrypted object (five parts, RFC 7516 §7.1) holds the signed one (Core §6.1: "signed
    // then encrypted").
    let jwt = match jwt.split('.').count() {
        5 => provider.open_request_object(client, &jwt).await.map_err(refuse)?,
        _ => jwt,
    };
    let decoded = decode(&jwt).map_err(refuse)?;
    let merged = merge(&decoded.claims, params);
    let refuse_decoded = |error: OAuthError| {
        tracing::info!(client_id = %client.client_id, error = %error, "request object refused");
        Refused { error, delivery: merge(&decoded.claims, params) }
    };
    verify::check(provider, client, &decoded).await.map_err(refuse_decoded)?;
    consistent(&decoded.claims, params, client).map_err(refuse_decoded)?;
    Ok(Some(merged))
}

/// The request object of `params`, by value or fetched from its `request_uri`.
async fn object_of(provider: &Provider, client: &Client, params: &Params) -> Result<Option<String>, OAuthError> {
    match (params.get("request"), params.get("request_uri")) {
        (None, None) if client.metadata.require_signed_request_object => {
            // RFC 9101 §10.5 require_signed_request_object: "authorization requests from this
            // client MUST use a Request Object".
            Err(OAuthError::invalid_request("this client must send a signed request object"))
        }
        (None, None) => Ok(None),
        // RFC 9101 §5: "request and request_uri parameters MUST NOT be included in the same
        // request".
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("request and request_uri cannot both be sent")),
        (Some(jwt), None) if !limits::within("request", jwt) => {
            Err(OAuthError::new(ErrorCode::InvalidRequestObject, "the request object is too long"))
        }
        (Some(jwt), None) => Ok(Some(jwt.to_owned())),
        (None, Some(uri)) if uri.starts_with(REQUEST_URI_PREFIX) => {
            Err(OAuthError::new(ErrorCode::InvalidRequestUri, "a pushed request cannot name another pushed request"))
        }
        (None, Some(uri)) => Ok(Some(reference::fetch(provider, client, uri).await?)),
    }
}

/// The parameters without `request` and `request_uri`, for delivering an error about them.
fn without_objects(params: &Params) -> Params {
    Params(params.0.iter().filter(|(k, _)| k != "request" && k != "request_uri").cloned().collect())
}

/// Decodes a compact JWS (RFC 7515 §7.1) without verifying it: the header's `alg` and the
/// claims, a JSON object.
fn decode(jwt: &str) -> Result<Decoded<'_>, OAuthError> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let invalid = |why: &str| OAuthError::new(ErrorCode::InvalidRequestObject, format!("the request object {why}"));
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, payload, _] = parts[..] else {
        return Err(invalid("is not a JWT"));
    };
    let json = |part: &str| -> Option<JsonObject> {
        let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Value::Object(o) => Some(o),
            _ => None,
        }
    };
    let header = json(header).ok_or_else(|| invalid("header is not base64url JSON"))?;
    let claims = json(payload).ok_or_else(|| invalid("claims are not a base64url JSON object"))?;
    let alg = header.get("alg").and_then(Value::as_str).ok_or_else(|| invalid("header names no alg"))?;
    Ok(Decoded { jwt, alg: alg.to_owned(), claims })
}

/// Core §6.1: "The values for these parameters MUST match those in the Request Object, if
/// present"; RFC 9101 §4: "The request and request_uri parameters MUST NOT be included in
/// Request Objects."
fn consistent(claims: &JsonObject, params: &Params, client: &Client) -> Result<(), OAuthError> {
    let invalid = |why: String| OAuthError::new(ErrorCode::InvalidRequestObject, why);
    for name in ["request", "request_uri"] {
        if claims.contains_key(name) {
            return Err(invalid(format!("a request object cannot contain {name}")));
        }
    }
    if let Some(id) = claims.get("client_id")
        && id.as_str() != Some(&client.client_id)
    {
        return Err(invalid("the request object's client_id differs from the request's".into()));
    }
    if let (Some(inside), Some(outside)) = (claims.get("response_type"), params.get("response_type"))
        && inside.as_str() != Some(outside)
    {
        return Err(invalid(format!("the request object's response_type differs from {:?}", logged(outside))));
    }
    Ok(())
}

/// The object's parameters, then the query's that the object does not have. A member that is
/// not a string is sent as its JSON text (`max_age` as a number, `claims` as an object), but
/// for the array of `resource` values, which become one parameter each.
fn merge(claims: &JsonObject, params: &Params) -> Params {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in claims.iter().filter(|(k, v)| !JWT_CLAIMS.contains(&k.as_str()) && !v.is_null()) {
        match v {
            Value::String(s) => out.push((k.clone(), s.clone())),
            // RFC 8707 §2 in a request object: several resources are an array of strings.
            Value::Array(items) if k == "resource" => {
                out.extend(items.iter().map(|i| (k.clone(), i.as_str().map_or_else(|| i.to_string(), str::to_owned))));
            }
            other => out.push((k.clone(), other.to_string())),
        }
    }
    for (k, v) in &params.0 {
        if k != "request" && k != "request_uri" && !claims.contains_key(k) {
            out.push((k.clone(), v.clone()));
        }
    }
    Params(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> JsonObject {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_object_wins_and_the_query_fills_in() {
        let params = Params::from_query("client_id=c&scope=openid&state=q&request=x&nonce=n");
        let claims = object(json!({"state": "o", "max_age": 30, "claims": {"userinfo": {"name": null}},
            "iss": "c", "aud": "https://op", "exp": 1, "display": null}));
        let merged = merge(&claims, &params);
        assert_eq!(merged.get("state"), Some("o"));
        assert_eq!(merged.get("max_age"), Some("30"));
        assert_eq!(merged.get("claims"), Some(r#"{"userinfo":{"name":null}}"#));
        assert_eq!(merged.get("nonce"), Some("n"));
        assert_eq!(merged.get("client_id"), Some("c"));
        for absent in ["request", "iss", "aud", "exp", "display"] {
            assert_eq!(merged.get(absent), None, "{absent}");
        }
    }

    #[test]
    fn only_compact_jws_with_an_alg_and_object_claims_decode() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let ok = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"scope":"openid"}"#));
        let decoded = decode(&ok).unwrap();
        assert_eq!(decoded.alg, "none");
        assert_eq!(decoded.claims["scope"], "openid");
        for bad in [
            "a.b".to_owned(),
            "a.b.c.d.e".to_owned(),
            format!("{}.{}.", b64(r#"{"typ":"JWT"}"#), b64("{}")),
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64("[1]")),
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), "!!"),
        ] {
            assert_eq!(decode(&bad).err().map(|e| e.code), Some(ErrorCode::InvalidRequestObject), "{bad}");
        }
    }
}
