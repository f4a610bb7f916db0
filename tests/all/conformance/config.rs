//! The Config OP plan (`oidcc-config-certification-test-plan`): one module,
//! `oidcc-discovery-endpoint-verification`, against a provider serving https.

use serde_json::Value;

use crate::support::TestServer;
use crate::support::tls::TestCa;

/// Every name in the IANA "OAuth Authorization Server Metadata" registry (RFC 8414 §7.1, with
/// the OpenID Connect Discovery, logout, PAR, JAR, RFC 9207 and later registrations) that the
/// suite's metadata schema allows; any other top-level member is a warning.
const REGISTERED: &[&str] = &[
    "acr_values_supported",
    "authorization_details_types_supported",
    "authorization_encryption_alg_values_supported",
    "authorization_encryption_enc_values_supported",
    "authorization_endpoint",
    "authorization_response_iss_parameter_supported",
    "authorization_signing_alg_values_supported",
    "backchannel_authentication_endpoint",
    "backchannel_authentication_request_signing_alg_values_supported",
    "backchannel_logout_session_supported",
    "backchannel_logout_supported",
    "backchannel_token_delivery_modes_supported",
    "backchannel_user_code_parameter_supported",
    "check_session_iframe",
    "claim_types_supported",
    "claims_locales_supported",
    "claims_parameter_supported",
    "claims_supported",
    "client_id_metadata_document_supported",
    "code_challenge_methods_supported",
    "device_authorization_endpoint",
    "display_values_supported",
    "dpop_signing_alg_values_supported",
    "end_session_endpoint",
    "frontchannel_logout_session_supported",
    "frontchannel_logout_supported",
    "grant_types_supported",
    "id_token_encryption_alg_values_supported",
    "id_token_encryption_enc_values_supported",
    "id_token_signing_alg_values_supported",
    "introspection_encryption_alg_values_supported",
    "introspection_encryption_enc_values_supported",
    "introspection_endpoint",
    "introspection_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
    "introspection_signing_alg_values_supported",
    "issuer",
    "jwks_uri",
    "mtls_endpoint_aliases",
    "op_policy_uri",
    "op_tos_uri",
    "prompt_values_supported",
    "protected_resources",
    "pushed_authorization_request_endpoint",
    "registration_endpoint",
    "request_object_encryption_alg_values_supported",
    "request_object_encryption_enc_values_supported",
    "request_object_signing_alg_values_supported",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    "require_pushed_authorization_requests",
    "require_request_uri_registration",
    "require_signed_request_object",
    "response_modes_supported",
    "response_types_supported",
    "revocation_endpoint",
    "revocation_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_signing_alg_values_supported",
    "scopes_supported",
    "service_documentation",
    "signed_metadata",
    "subject_types_supported",
    "tls_client_certificate_bound_access_tokens",
    "token_endpoint",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "ui_locales_supported",
    "userinfo_encryption_alg_values_supported",
    "userinfo_encryption_enc_values_supported",
    "userinfo_endpoint",
    "userinfo_signing_alg_values_supported",
];

/// The response-type sets a static-client OP must offer at least one of; a dynamic OP all of
/// `code`, `id_token` and `id_token token` (compared as sets of words).
const RESPONSE_TYPES: &[&str] =
    &["code", "code id_token", "id_token", "token id_token", "code id_token token", "code token"];

fn words(s: &str) -> Vec<&str> {
    let mut w: Vec<&str> = s.split(' ').collect();
    w.sort_unstable();
    w
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("{key} holds strings")).to_owned())
        .collect()
}

/// An https URL with a host, no fragment, no credentials (`AbstractJsonUriIsValidAndHttps`).
fn assert_https_url(key: &str, value: &Value) {
    let s = value.as_str().unwrap_or_else(|| panic!("{key} is a string"));
    let url = url::Url::parse(s).unwrap_or_else(|e| panic!("{key} {s:?} is a URL: {e}"));
    assert_eq!(url.scheme(), "https", "{key} uses https");
    assert!(url.host().is_some(), "{key} has a host");
    assert!(url.username().is_empty() && url.password().is_none(), "{key} has no userinfo");
}

/// The module's checks on a discovery document fetched from `discovery_url`, in its order.
/// `dynamic` adds the Dynamic plan's stricter response- and grant-type checks.
pub async fn discovery_endpoint_verification(server: &TestServer, dynamic: bool) -> Value {
    let discovery_url = server.url("/.well-known/openid-configuration");
    let response = server.http.get(&discovery_url).send().await.expect("discovery");
    assert_eq!(response.status(), 200, "EnsureDiscoveryEndpointResponseStatusCodeIs200");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(
        content_type.split(';').next().unwrap().trim(),
        "application/json",
        "CheckDiscoveryEndpointReturnedJsonContentType"
    );
    let doc: Value = response.json().await.expect("JSON");

    // 1. response_types_supported.
    let offered: Vec<Vec<&str>> = doc["response_types_supported"]
        .as_array()
        .expect("response_types_supported is an array")
        .iter()
        .map(|v| words(v.as_str().expect("strings")))
        .collect();
    if dynamic {
        for needed in ["code", "id_token", "token id_token"] {
            assert!(offered.contains(&words(needed)), "OIDCCCheckDiscEndpointResponseTypesSupportedDynamic: {needed}");
        }
    } else {
        assert!(
            RESPONSE_TYPES.iter().any(|t| offered.contains(&words(t))),
            "OIDCCCheckDiscEndpointResponseTypesSupported"
        );
    }
    // 2-4. The discovery URL, the issuer and its form.
    let discovery = url::Url::parse(&discovery_url).unwrap();
    assert_eq!(discovery.scheme(), "https", "CheckDiscEndpointDiscoveryUrl");
    assert!(discovery.path().ends_with("/.well-known/openid-configuration"));
    let issuer = doc["issuer"].as_str().expect("issuer");
    let expected = discovery_url.trim_end_matches(".well-known/openid-configuration");
    assert_eq!(issuer.trim_end_matches('/'), expected.trim_end_matches('/'), "CheckDiscEndpointIssuer");
    let issuer_url = url::Url::parse(issuer).expect("CheckDiscEndpointIssuerIsValidUrl");
    assert_eq!(issuer_url.scheme(), "https");
    assert!(issuer_url.query().is_none() && issuer_url.fragment().is_none() && issuer_url.username().is_empty());
    // 5-6. Types of the members, and no member the registry does not know (WARN).
    for (key, value) in doc.as_object().unwrap() {
        assert!(REGISTERED.contains(&key.as_str()), "CheckForUnexpectedParametersInServerMetadata: {key}");
        if key.ends_with("_supported") && !key.ends_with("parameter_supported") && !key.contains("logout_") {
            assert!(value.is_array() || value.is_boolean(), "ValidateServerMetadataAgainstSchema: {key}");
        }
        if key.ends_with("parameter_supported")
            || key.ends_with("logout_supported")
            || key.ends_with("session_supported")
        {
            assert!(value.is_boolean(), "ValidateServerMetadataAgainstSchema: {key} is a boolean");
        }
    }
    // 7-9. Subject types, RS256 for ID tokens, the UserInfo algorithms an array if present.
    let subjects = strings(&doc, "subject_types_supported");
    assert!(subjects.iter().any(|s| s == "public" || s == "pairwise"), "CheckDiscEndpointSubjectTypesSupported");
    assert!(
        strings(&doc, "id_token_signing_alg_values_supported").contains(&"RS256".to_owned()),
        "OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported"
    );
    if doc.get("userinfo_signing_alg_values_supported").is_some() {
        strings(&doc, "userinfo_signing_alg_values_supported");
    }
    // 10-14. Endpoints (userinfo absent would be a WARN), and the JWK set.
    for key in ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"] {
        assert_https_url(key, &doc[key]);
    }
    if let Some(registration) = doc.get("registration_endpoint") {
        assert_https_url("registration_endpoint", registration);
    }
    // 15-16. The keys: public parts only, each with a kid, of supported types.
    let jwks: Value = server.http.get(doc["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().expect("FetchServerKeys: a keys array");
    assert!(!keys.is_empty());
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "ValidateJwksSequence: no private member {private} in {key}");
        }
        assert!(key["kid"].is_string(), "every key has a kid: {key}");
        match key["kty"].as_str() {
            Some("RSA") => assert!(key["n"].is_string() && key["e"].is_string()),
            Some("EC") => assert!(["P-256", "P-384", "P-521"].contains(&key["crv"].as_str().unwrap())),
            Some("OKP") => assert_eq!(key["crv"], "Ed25519"),
            other => panic!("ValidateJwksSequence: unsupported kty {other:?}"),
        }
    }
    // 19. Request-object algorithms, if published, include RS256 (WARN).
    if doc.get("request_object_signing_alg_values_supported").is_some() {
        assert!(strings(&doc, "request_object_signing_alg_values_supported").contains(&"RS256".to_owned()));
    }
    // 21. claims_supported is present (WARN).
    strings(&doc, "claims_supported");
    // 22. Grant types, if published.
    if doc.get("grant_types_supported").is_some() {
        let grants = strings(&doc, "grant_types_supported");
        assert!(!grants.is_empty(), "OIDCCCheckDiscEndpointGrantTypesSupported");
        if dynamic {
            for needed in ["authorization_code", "implicit"] {
                assert!(
                    grants.contains(&needed.to_owned()),
                    "OIDCCCheckDiscEndpointGrantTypesSupportedDynamic: {needed}"
                );
            }
        }
    }
    // 23-24. scopes_supported is present (WARN), has openid, and well-formed scope tokens.
    let scopes = strings(&doc, "scopes_supported");
    assert!(scopes.contains(&"openid".to_owned()), "CheckDiscEndpointScopesSupportedContainsOpenId");
    for s in &scopes {
        assert!(
            !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)),
            "CheckDiscEndpointScopesSupportedSyntax: {s:?}"
        );
    }
    // 25-26. Locales, if published, are canonical BCP 47 tags (a simple form check).
    for key in ["ui_locales_supported", "claims_locales_supported"] {
        if doc.get(key).is_some() {
            for tag in strings(&doc, key) {
                let mut parts = tag.split('-');
                let language = parts.next().unwrap();
                assert!(
                    (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase()),
                    "{key}: {tag}"
                );
                for part in parts {
                    assert!(
                        part.len() == 2 && part.bytes().all(|b| b.is_ascii_uppercase())
                            || part.len() == 4
                                && part[..1].bytes().all(|b| b.is_ascii_uppercase())
                                && part[1..].bytes().all(|b| b.is_ascii_lowercase()),
                        "CheckDiscEndpointLocalesCanonicalCasing: {tag}"
                    );
                }
            }
        }
    }
    // 27. Every endpoint is https.
    for (key, value) in doc.as_object().unwrap() {
        if key.ends_with("_endpoint") {
            assert_https_url(key, value);
        }
    }
    // 28. PKCE methods.
    if let Some(methods) = doc.get("code_challenge_methods_supported") {
        let methods: Vec<&str> = methods.as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert!(methods.is_empty() || methods.contains(&"S256") || methods.contains(&"plain"));
    }
    doc
}

#[tokio::test]
async fn oidcc_discovery_endpoint_verification() {
    let ca = TestCa::new();
    let server = TestServer::start_https(&ca, "", "").await;
    discovery_endpoint_verification(&server, false).await;
}
