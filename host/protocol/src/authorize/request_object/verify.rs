//! Whether a decoded request object may be used: its algorithm, its signature, and the claims
//! of the JWT itself (RFC 9101 §6.1 and §10.2, OpenID Connect Core §6.1, Dynamic Registration
//! §2 `request_object_signing_alg`).
//!
//! Unsigned objects (`alg: none`) are accepted from a client that registered
//! `request_object_signing_alg: none`, or no algorithm and no `require_signed_request_object`:
//! Dynamic Registration §2 says of an omitted `request_object_signing_alg` that "any algorithm
//! supported by the OP and the RP MAY be used", and an unsigned object asserts no more than
//! the same parameters in the query would. Signed ones are verified like client assertions:
//! HS* only with the client secret, the others with the client's registered keys
//! (`jose/client.rs` decides which key fits which algorithm).

use serde_json::Value;

use super::Decoded;
use crate::error::{ErrorCode, OAuthError};
use crate::jose::ClientJws;
use crate::logged::logged;
use crate::model::{Client, JsonObject};
use crate::provider::Provider;
use crate::token::client_assertion::LEEWAY_SECONDS;

pub(super) async fn check(provider: &Provider, client: &Client, object: &Decoded<'_>) -> Result<(), OAuthError> {
    let invalid = |why: String| OAuthError::new(ErrorCode::InvalidRequestObject, why);
    let registered = client.metadata.request_object_signing_alg.as_deref();
    if registered.is_some_and(|r| r != object.alg) {
        return Err(invalid(format!(
            "the request object is signed with {:?}, not the registered request_object_signing_alg",
            logged(&object.alg)
        )));
    }
    if object.alg == "none" {
        // A registered algorithm other than `none` was refused above.
        if client.metadata.require_signed_request_object {
            return Err(invalid("this client must sign its request objects".into()));
        }
        // RFC 7519 §6.1: an Unsecured JWT has an empty signature.
        if !object.jwt.ends_with('.') {
            return Err(invalid("an unsigned request object must have an empty signature".into()));
        }
    } else {
        let jws = ClientJws::parse(object.jwt)
            .map_err(|e| invalid(format!("the request object is not a JWS Gatehouse accepts: {e}")))?;
        provider.verify_client_signature(client, &jws).await.map_err(|reason| match reason {
            Ok(reason) => {
                tracing::info!(client_id = %client.client_id, %reason, "request object signature refused");
                invalid("the request object's signature could not be verified with the client's keys".into())
            }
            Err(server) => server,
        })?;
    }
    claims(&object.claims, client, &provider.settings().issuer, provider.now().0)
}

/// RFC 9101 §10.2: "the Authorization Server MUST check that the iss (issuer) Claim ...
/// matches the client_id ... and that the aud (audience) Claim ... includes the Authorization
/// Server's Issuer Identifier" (when the claims are present); `exp` and `nbf` with the leeway
/// of client assertions.
fn claims(claims: &JsonObject, client: &Client, issuer: &str, now: i64) -> Result<(), OAuthError> {
    let invalid = |why: &str| OAuthError::new(ErrorCode::InvalidRequestObject, format!("the request object {why}"));
    if claims.get("iss").is_some_and(|iss| iss.as_str() != Some(&client.client_id)) {
        return Err(invalid("was issued by another party than the client (iss)"));
    }
    let for_us = |aud: &Value| match aud {
        Value::String(a) => a == issuer,
        Value::Array(all) => all.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if claims.get("aud").is_some_and(|aud| !for_us(aud)) {
        return Err(invalid("is meant for another audience (aud)"));
    }
    let date = |name: &str| -> Result<Option<f64>, OAuthError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| invalid(&format!("has a {name} that is not a NumericDate"))),
        }
    };
    let (now, leeway) = (now as f64, LEEWAY_SECONDS as f64);
    if date("exp")?.is_some_and(|exp| exp + leeway <= now) {
        return Err(invalid("has expired (exp)"));
    }
    if date("nbf")?.is_some_and(|nbf| nbf > now + leeway) {
        return Err(invalid("is not valid yet (nbf)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<(), OAuthError> {
        let mut client: Client = serde_json::from_value(json!({
            "client_id": "c1", "metadata": {}, "issued_at": 0
        }))
        .unwrap();
        client.client_id = "c1".into();
        claims(v.as_object().unwrap(), &client, "https://op.example", 1_000_000)
    }

    #[test]
    fn jwt_claims_are_checked_when_present() {
        assert!(check(json!({})).is_ok());
        assert!(check(json!({"iss": "c1", "aud": "https://op.example", "exp": 1_000_001, "nbf": 999_999})).is_ok());
        assert!(check(json!({"aud": ["x", "https://op.example"]})).is_ok());
        assert!(check(json!({"exp": 999_950})).is_ok(), "expired within the leeway");
        for bad in [
            json!({"iss": "c2"}),
            json!({"iss": 1}),
            json!({"aud": "https://op.example/authorize"}),
            json!({"aud": []}),
            json!({"exp": 999_940}),
            json!({"exp": "tomorrow"}),
            json!({"nbf": 1_000_061}),
        ] {
            assert_eq!(check(bad.clone()).err().map(|e| e.code), Some(ErrorCode::InvalidRequestObject), "{bad}");
        }
    }
}
