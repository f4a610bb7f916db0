//! The 3rd-Party-Initiated Login OP plan (`oidcc-3rdparty-init-login-certification-test-plan`,
//! `OIDCC3rdPartyInitLoginTestPlan.java`): discovery, a dynamic client, `client_secret_basic`,
//! the default response mode. Both modules only register: the suite never has the provider
//! send a browser to the client's `initiate_login_uri` ("this url isn't actually ever called
//! currently (we only pass it in the DCR request)", `CreateInitiateLoginUri`); what the OP
//! must do is keep the URI (Core §4, Dynamic Registration §2) and refuse one that is not https.

use openidconnect::reqwest::Method;
use serde_json::Value;

use super::dynamic_registration::{REDIRECT_URI, provider, register_and_verify, registration_request, unregister};
use crate::client_auth_jwt::suite_key;
use crate::registration::call;
use crate::support::tls::TestCa;

/// `CreateInitiateLoginUri`: the suite's base URL and `/initiate_login`.
const INITIATE_LOGIN_URI: &str = "https://localhost.emobix.co.uk:8443/test/a/gatehouse/initiate_login";

/// `oidcc-3rd_party-init-login` (OIDCC3rdPartyInitLogin.java): the registration echoes
/// `initiate_login_uri` (`ValidateInitiateLoginUriInRegistrationResponse`), and so does the
/// client configuration endpoint (`CallClientConfigurationEndpoint`,
/// `CheckRegistrationClientEndpointContentTypeHttpStatus200`,
/// `CheckRegistrationClientEndpointContentType`,
/// `ValidateInitiateLoginUriInConfigurationResponse`).
#[tokio::test]
async fn oidcc_3rd_party_init_login() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    let mut request = registration_request("client_secret_basic", &suite_key(), REDIRECT_URI);
    request["initiate_login_uri"] = INITIATE_LOGIN_URI.into();
    let client = register_and_verify(&server, &request).await;
    assert_eq!(client["initiate_login_uri"], INITIATE_LOGIN_URI, "ValidateInitiateLoginUriInRegistrationResponse");

    let uri = client["registration_client_uri"].as_str().unwrap();
    let answer = call(&server, Method::GET, uri, client["registration_access_token"].as_str(), None).await;
    assert_eq!(answer.status, 200, "CheckRegistrationClientEndpointContentTypeHttpStatus200: {}", answer.body);
    let content_type = answer.content_type.as_deref().expect("a content type");
    assert_eq!(
        content_type.split(';').next().unwrap().trim(),
        "application/json",
        "CheckRegistrationClientEndpointContentType"
    );
    assert_eq!(
        answer.body["initiate_login_uri"], INITIATE_LOGIN_URI,
        "ValidateInitiateLoginUriInConfigurationResponse"
    );
    unregister(&server, &client).await;
}

/// `oidcc-3rd_party-init-login-nohttps` (OIDCC3rdPartyInitLoginNonHttps.java): an http
/// `initiate_login_uri` is refused (`EnsureContentTypeJson`, `EnsureHttpStatusCodeIs400`,
/// `CheckErrorFromDynamicRegistrationEndpointIsInvalidClientMetadata`).
#[tokio::test]
async fn oidcc_3rd_party_init_login_nohttps() {
    let ca = TestCa::new();
    let server = provider(&ca).await;
    let mut request = registration_request("client_secret_basic", &suite_key(), REDIRECT_URI);
    // AddInitiateLoginUriAsNonHttpsToDynamicRegistrationRequest.
    request["initiate_login_uri"] = INITIATE_LOGIN_URI.replace("https://", "http://").into();
    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let endpoint = discovery["registration_endpoint"].as_str().expect("CallDynamicRegistrationEndpoint: an endpoint");
    let answer = call(&server, Method::POST, endpoint, None, Some(request)).await;
    let content_type = answer.content_type.as_deref().expect("EnsureContentTypeJson: a content type");
    assert_eq!(content_type.split(';').next().unwrap().trim(), "application/json", "EnsureContentTypeJson");
    assert_eq!(answer.status, 400, "EnsureHttpStatusCodeIs400: {}", answer.body);
    assert_eq!(
        answer.body["error"], "invalid_client_metadata",
        "CheckErrorFromDynamicRegistrationEndpointIsInvalidClientMetadata: {}",
        answer.body
    );
    let description = answer.body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains("initiate_login_uri"), "the refusal names the member: {}", answer.body);
}
