//! Client metadata from a request body. A member of the wrong type or with a value Gatehouse
//! does not support (an unknown `token_endpoint_auth_method`, an `*_alg` it does not
//! implement, a negative `default_max_age`) is `invalid_client_metadata` naming that member
//! (Dynamic Registration §3.3), not a generic parse error.

use serde_json::{Map, Value};

use super::ClientRegistration;
use super::metadata::bad_metadata;
use crate::error::ApiError;

impl ClientRegistration {
    /// Reads a registration from a JSON document, naming the first member that is wrong.
    pub fn from_json(body: Value) -> Result<Self, ApiError> {
        let Value::Object(members) = body else {
            return Err(bad_metadata("the client metadata must be a JSON object"));
        };
        match serde_json::from_value(Value::Object(members.clone())) {
            Ok(reg) => Ok(reg),
            Err(whole) => {
                // Each member alone, to find the one that is wrong: every member has a
                // default, so only a bad value fails on its own.
                for (name, value) in members {
                    let alone = Map::from_iter([(name.clone(), value)]);
                    if let Err(e) = serde_json::from_value::<ClientRegistration>(Value::Object(alone)) {
                        return Err(bad_metadata(format!("{name}: {e}")));
                    }
                }
                Err(bad_metadata(format!("the client metadata is not valid: {whole}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::OAuthError;

    fn refusal(body: Value) -> OAuthError {
        match ClientRegistration::from_json(body) {
            Err(ApiError::OAuth(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_wrong_member_is_named() {
        for (body, field) in [
            (json!({ "token_endpoint_auth_method": "magic" }), "token_endpoint_auth_method"),
            (json!({ "id_token_signed_response_alg": "none" }), "id_token_signed_response_alg"),
            (json!({ "id_token_encrypted_response_enc": "A1GCM" }), "id_token_encrypted_response_enc"),
            (json!({ "default_max_age": -1 }), "default_max_age"),
            (json!({ "require_auth_time": "yes" }), "require_auth_time"),
            (json!({ "contacts": "a@example.com" }), "contacts"),
            (json!({ "default_acr_values": [1] }), "default_acr_values"),
            (json!({ "client_name": "x", "redirect_uris": "https://a.example/cb" }), "redirect_uris"),
        ] {
            let e = refusal(body);
            assert_eq!(e.code, crate::ErrorCode::InvalidClientMetadata);
            assert!(e.description.starts_with(field), "{field}: {}", e.description);
        }
        assert!(refusal(json!([])).description.contains("object"));
    }

    #[test]
    fn unknown_members_are_kept() {
        let reg = ClientRegistration::from_json(json!({ "x_custom": { "a": 1 } })).unwrap();
        assert_eq!(reg.metadata.extra["x_custom"], json!({ "a": 1 }));
    }
}
