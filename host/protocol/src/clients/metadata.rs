//! Client metadata validation (OpenID Connect Dynamic Client Registration 1.0 §2, RFC 7591
//! §2), the one rule for the registration endpoint, the client API and the configuration
//! file. Each refusal is `invalid_client_metadata` naming the member, except a refused redirect
//! URI, which is `invalid_redirect_uri` (RFC 7591 §3.2.2).

use serde_json::Value;
use url::Url;

use super::redirect_uris::{self, is_loopback_host};
use crate::claims;
use crate::encryption::Target;
use crate::error::{ApiError, ErrorCode, OAuthError};
use crate::jose::{JwsAlg, signing_keys};
use crate::model::{AuthMethod, ClientMetadata, ResponseType};
use crate::provider::Provider;

/// Members that only ever appear in responses; dropped when a request echoes them back.
const RESPONSE_ONLY: &[&str] = &[
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
    "source",
];

/// The most claims `access_token_claims` may name.
const MAX_ACCESS_TOKEN_CLAIMS: usize = 32;

/// The grant types Gatehouse implements.
const GRANT_TYPES: &[&str] = &["authorization_code", "implicit", "client_credentials", "refresh_token"];

pub(super) fn bad_metadata(description: impl Into<String>) -> ApiError {
    ApiError::OAuth(OAuthError::new(ErrorCode::InvalidClientMetadata, description.into()))
}

fn bad_redirect(description: String) -> ApiError {
    ApiError::OAuth(OAuthError::new(ErrorCode::InvalidRedirectUri, description))
}

/// A URL the front-end shows or a browser visits (`logo_uri`, `policy_uri`, `tos_uri`,
/// `client_uri`, `initiate_login_uri`): https, or http on loopback under a loopback issuer.
fn check_web_url(field: &str, uri: &str, loopback_issuer: bool) -> Result<(), ApiError> {
    let url = Url::parse(uri).map_err(|e| bad_metadata(format!("{field} is not an absolute URL: {e}")))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback_issuer && is_loopback_host(&url) => Ok(()),
        _ => Err(bad_metadata(format!("{field} must be an https URL"))),
    }
}

/// `jwks_uri` and `sector_identifier_uri`: documents the provider fetches, over https only.
pub(super) fn check_https(field: &str, uri: &str) -> Result<Url, ApiError> {
    match Url::parse(uri) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() && url.fragment().is_none() => Ok(url),
        _ => Err(bad_metadata(format!("{field} must be an https URL without a fragment"))),
    }
}

/// `request_uris` are fetched over https too, but Dynamic Registration §2 lets each carry a
/// fragment with a hash of the document's contents.
fn check_request_uri(uri: &str) -> Result<(), ApiError> {
    match Url::parse(uri) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => Ok(()),
        _ => Err(bad_metadata("request_uris must be https URLs")),
    }
}

/// `backchannel_logout_uri` is POSTed to by the provider, so https like every outbound
/// request (Back-Channel Logout §2.2 allows http only "provided the OP allows" it; Gatehouse
/// does not). `frontchannel_logout_uri` is loaded by the browser, and Front-Channel Logout §2
/// says its "domain, port, and scheme ... MUST be the same as that of a registered
/// Redirection URI value". Neither may carry a fragment.
fn check_logout_uris(m: &ClientMetadata, loopback_issuer: bool) -> Result<(), ApiError> {
    if let Some(uri) = &m.backchannel_logout_uri {
        check_https("backchannel_logout_uri", uri)?;
    }
    if let Some(uri) = &m.frontchannel_logout_uri {
        check_web_url("frontchannel_logout_uri", uri, loopback_issuer)?;
        let url = Url::parse(uri).map_err(|e| bad_metadata(format!("frontchannel_logout_uri: {e}")))?;
        if url.fragment().is_some() {
            return Err(bad_metadata("frontchannel_logout_uri must not have a fragment"));
        }
        let origin = url.origin();
        if !m.redirect_uris.iter().filter_map(|r| Url::parse(r).ok()).any(|r| r.origin() == origin) {
            return Err(bad_metadata(
                "frontchannel_logout_uri must have the scheme, host and port of a registered redirect URI",
            ));
        }
    }
    Ok(())
}

/// RFC 7591 §3.1.1: the provider "MAY ignore the software statement if it does not support
/// this feature". Gatehouse does not; a statement that is not even a string is refused.
fn drop_software_statement(m: &mut ClientMetadata) -> Result<(), ApiError> {
    match m.extra.remove("software_statement") {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(ApiError::OAuth(OAuthError::new(
            ErrorCode::InvalidSoftwareStatement,
            "software_statement must be a JWT (a string)",
        ))),
    }
}

/// Grant types and response types (Dynamic Registration §2: each response type needs the
/// grant types that issue what it returns, `code` the `authorization_code` grant and the
/// others `implicit`).
fn check_grants(m: &ClientMetadata) -> Result<(), ApiError> {
    if let Some(g) = m.grant_types.iter().find(|g| !GRANT_TYPES.contains(&g.as_str())) {
        return Err(bad_metadata(format!("grant_types: {g:?} is not supported")));
    }
    for r in &m.response_types {
        let Some(t) = ResponseType::parse(r) else {
            return Err(bad_metadata(format!(
                "response_types: {r:?} is not supported; use one of {}",
                ResponseType::SUPPORTED.join(", ")
            )));
        };
        if let Some(g) = t.grant_types().find(|g| !m.has_grant_type(g)) {
            return Err(bad_metadata(format!("response_types: {r:?} needs the {g} grant type in grant_types")));
        }
    }
    if let Some(g) = ["authorization_code", "implicit"].into_iter().find(|g| m.has_grant_type(g))
        && m.response_types.is_empty()
    {
        return Err(bad_metadata(format!("grant_types {g} needs a response type in response_types")));
    }
    if m.token_endpoint_auth_method == AuthMethod::None && m.has_grant_type("client_credentials") {
        return Err(bad_metadata(
            "grant_types: public clients (token_endpoint_auth_method none) cannot use client_credentials",
        ));
    }
    Ok(())
}

/// `jwks` xor `jwks_uri` (Dynamic Registration §2), and what the JWT authentication methods
/// need (OpenID Connect Core §9): `private_key_jwt` clients register their keys, and a
/// registered `token_endpoint_auth_signing_alg` must be one Gatehouse verifies for the method
/// (for the other methods it is kept but unused).
fn check_keys(m: &ClientMetadata) -> Result<(), ApiError> {
    match (&m.jwks, &m.jwks_uri) {
        (Some(_), Some(_)) => return Err(bad_metadata("jwks and jwks_uri cannot both be given")),
        (Some(jwks), None) if !jwks.get("keys").is_some_and(Value::is_array) => {
            return Err(bad_metadata("jwks must be a JWK set: an object with a \"keys\" array"));
        }
        (None, Some(uri)) => {
            check_https("jwks_uri", uri)?;
        }
        _ => {}
    }
    let method = m.token_endpoint_auth_method;
    if method == AuthMethod::PrivateKeyJwt {
        match &m.jwks {
            _ if m.jwks_uri.is_some() => {}
            None => return Err(bad_metadata("private_key_jwt needs the client's keys: jwks or jwks_uri")),
            Some(jwks) if signing_keys(jwks).is_empty() => {
                return Err(bad_metadata("jwks holds no key that can verify signatures"));
            }
            Some(_) => {}
        }
    }
    let (Some(alg), AuthMethod::ClientSecretJwt | AuthMethod::PrivateKeyJwt) =
        (m.token_endpoint_auth_signing_alg.as_deref(), method)
    else {
        return Ok(());
    };
    match JwsAlg::parse(alg) {
        Some(a) if a.is_hmac() == (method == AuthMethod::ClientSecretJwt) => Ok(()),
        _ => Err(bad_metadata(format!(
            "token_endpoint_auth_signing_alg {alg:?} is not available for {}",
            method.as_str()
        ))),
    }
}

impl Provider {
    /// Checks client metadata against what this provider supports, and drops the members
    /// that only responses carry. The `sector_identifier_uri` is fetched here.
    pub(super) async fn validate_metadata(&self, m: &mut ClientMetadata) -> Result<(), ApiError> {
        for k in RESPONSE_ONLY {
            m.extra.remove(*k);
        }
        drop_software_statement(m)?;
        check_grants(m)?;
        let loopback = self.settings().issuer_is_loopback();
        if (m.has_grant_type("authorization_code") || m.has_grant_type("implicit")) && m.redirect_uris.is_empty() {
            return Err(bad_redirect(
                "redirect_uris is required for the authorization_code and implicit grants".into(),
            ));
        }
        for uri in &m.redirect_uris {
            redirect_uris::check(uri, m.application_type, loopback)
                .map_err(|reason| bad_redirect(format!("redirect URI {uri:?}: {reason}")))?;
        }
        for uri in &m.post_logout_redirect_uris {
            redirect_uris::check(uri, m.application_type, loopback)
                .map_err(|reason| bad_metadata(format!("post_logout_redirect_uris: {uri:?}: {reason}")))?;
        }
        check_logout_uris(m, loopback)?;
        for (field, value) in [
            ("logo_uri", &m.logo_uri),
            ("policy_uri", &m.policy_uri),
            ("tos_uri", &m.tos_uri),
            ("client_uri", &m.client_uri),
            ("initiate_login_uri", &m.initiate_login_uri),
        ] {
            if let Some(uri) = value {
                check_web_url(field, uri, loopback)?;
            }
        }
        for uri in &m.request_uris {
            check_request_uri(uri)?;
        }
        for (field, values) in [
            ("contacts", &m.contacts),
            ("default_acr_values", &m.default_acr_values),
            ("access_token_claims", &m.access_token_claims),
        ] {
            if values.iter().any(|v| v.trim().is_empty()) {
                return Err(bad_metadata(format!("{field} must hold non-empty strings")));
            }
        }
        if m.access_token_claims.len() > MAX_ACCESS_TOKEN_CLAIMS {
            return Err(bad_metadata(format!("access_token_claims may name at most {MAX_ACCESS_TOKEN_CLAIMS} claims")));
        }
        if let Some(c) = m.access_token_claims.iter().find(|c| claims::RESERVED.contains(&c.as_str()) || *c == "gid") {
            return Err(bad_metadata(format!(
                "access_token_claims cannot name {c:?}: the provider sets it in every access token"
            )));
        }
        let supported = self.signer().supported_algorithms();
        for (field, alg) in [
            ("id_token_signed_response_alg", m.id_token_signed_response_alg),
            ("userinfo_signed_response_alg", m.userinfo_signed_response_alg),
        ] {
            if let Some(alg) = alg.filter(|a| !supported.contains(a)) {
                return Err(bad_metadata(format!("{field} {alg} is not available")));
            }
        }
        if let Some(alg) =
            m.request_object_signing_alg.as_deref().filter(|a| *a != "none" && JwsAlg::parse(a).is_none())
        {
            return Err(bad_metadata(format!("request_object_signing_alg {alg:?} is not supported")));
        }
        check_keys(m)?;
        for target in [Target::IdToken, Target::Userinfo] {
            super::encryption::check(m, target).map_err(bad_metadata)?;
        }
        if m.request_object_encryption_enc.is_some() && m.request_object_encryption_alg.is_none() {
            return Err(bad_metadata("request_object_encryption_enc needs request_object_encryption_alg"));
        }
        if m.request_object_encryption_alg.is_some_and(|a| a.is_symmetric())
            && !m.token_endpoint_auth_method.uses_secret()
        {
            return Err(bad_metadata(
                "request_object_encryption_alg is keyed with the client secret, and the client has none",
            ));
        }
        self.check_sector(m).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(json: Value) -> ClientMetadata {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn grant_and_response_types_go_together() {
        let ok = metadata(serde_json::json!({ "redirect_uris": ["https://a.example/cb"] }));
        assert!(check_grants(&ok).is_ok());
        let only_credentials =
            metadata(serde_json::json!({ "grant_types": ["client_credentials"], "response_types": [] }));
        assert!(check_grants(&only_credentials).is_ok());
        let code_without_grant = metadata(serde_json::json!({ "grant_types": ["client_credentials"] }));
        assert!(check_grants(&code_without_grant).is_err());
        let grant_without_response = metadata(serde_json::json!({ "response_types": [] }));
        assert!(check_grants(&grant_without_response).is_err());
        let implicit = metadata(serde_json::json!({ "grant_types": ["implicit"], "response_types": ["id_token"] }));
        assert!(check_grants(&implicit).is_ok());
        let hybrid_without_implicit = metadata(serde_json::json!({ "response_types": ["code id_token"] }));
        assert!(check_grants(&hybrid_without_implicit).is_err());
        let unknown = metadata(serde_json::json!({ "response_types": ["code device"] }));
        assert!(check_grants(&unknown).is_err());
    }

    #[test]
    fn keys_are_inline_or_fetched_not_both() {
        let both = metadata(serde_json::json!({ "jwks": { "keys": [] }, "jwks_uri": "https://a.example/jwks" }));
        assert!(check_keys(&both).is_err());
        let http = metadata(serde_json::json!({ "jwks_uri": "http://a.example/jwks" }));
        assert!(check_keys(&http).is_err());
        let not_a_set = metadata(serde_json::json!({ "jwks": [1] }));
        assert!(check_keys(&not_a_set).is_err());
        let keyless = metadata(serde_json::json!({ "token_endpoint_auth_method": "private_key_jwt" }));
        assert!(check_keys(&keyless).is_err());
    }

    #[test]
    fn web_urls_are_https() {
        assert!(check_web_url("logo_uri", "https://a.example/logo.png", false).is_ok());
        assert!(check_web_url("logo_uri", "http://a.example/logo.png", true).is_err());
        assert!(check_web_url("logo_uri", "http://127.0.0.1/logo.png", true).is_ok());
        assert!(check_web_url("logo_uri", "http://127.0.0.1/logo.png", false).is_err());
        assert!(check_web_url("tos_uri", "javascript:alert(1)", true).is_err());
    }
}
