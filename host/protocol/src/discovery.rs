//! OpenID Connect Discovery 1.0 §3 and RFC 8414: the provider metadata.

use serde_json::{Value, json};

use crate::claims::{STANDARD_SCOPES, scope_claims};
use crate::jose::JwsAlg;
use crate::jwe::{Enc, KeyAlg};
use crate::model::ResponseType;
use crate::provider::Provider;

impl Provider {
    pub fn discovery(&self) -> Value {
        let s = self.settings();
        let algs: Vec<&str> = self.signer().supported_algorithms().iter().map(|a| a.as_str()).collect();
        let mut scopes: Vec<String> = STANDARD_SCOPES.iter().map(|s| s.to_string()).collect();
        for scope in s.extra_scopes.iter().chain(s.resources.iter().flat_map(|r| &r.scopes)) {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        let mut claims: Vec<String> =
            ["sub", "iss", "auth_time", "acr", "amr", "sid"].iter().map(|c| c.to_string()).collect();
        for scope in STANDARD_SCOPES {
            claims.extend(scope_claims(scope).iter().map(|c| c.to_string()));
        }
        if let Some(source) = &self.policies().claims {
            for c in source.claim_names() {
                if !claims.contains(&c) {
                    claims.push(c);
                }
            }
        }
        // Unsigned request objects, and every algorithm clients may sign with (`jose/client.rs`).
        let mut request_object_algs = vec!["none"];
        request_object_algs.extend(JwsAlg::ALL.map(JwsAlg::as_str));
        let client_auth = ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"];
        let key_algs: Vec<&str> = KeyAlg::ALL.iter().map(|a| a.name()).collect();
        let encs: Vec<&str> = Enc::ALL.iter().map(|e| e.name()).collect();
        let mut metadata = json!({
            "issuer": s.issuer,
            "authorization_endpoint": s.endpoints.authorization,
            "token_endpoint": s.endpoints.token,
            "userinfo_endpoint": s.endpoints.userinfo,
            "jwks_uri": s.endpoints.jwks,
            "scopes_supported": scopes,
            "response_types_supported": ResponseType::SUPPORTED,
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": ["authorization_code", "implicit", "client_credentials", "refresh_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": algs,
            "token_endpoint_auth_methods_supported": client_auth,
            "token_endpoint_auth_signing_alg_values_supported": JwsAlg::ALL.map(JwsAlg::as_str),
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": claims,
            "claims_parameter_supported": true,
            "request_parameter_supported": true,
            "request_uri_parameter_supported": true,
            "require_request_uri_registration": true,
            "request_object_signing_alg_values_supported": request_object_algs,
            "request_object_encryption_alg_values_supported": key_algs,
            "request_object_encryption_enc_values_supported": encs,
            "pushed_authorization_request_endpoint": s.endpoints.pushed_authorization_request,
            "require_pushed_authorization_requests": s.require_pushed_authorization_requests,
            "authorization_response_iss_parameter_supported": true,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "userinfo_signing_alg_values_supported": algs,
            "id_token_encryption_alg_values_supported": key_algs,
            "id_token_encryption_enc_values_supported": encs,
            "userinfo_encryption_alg_values_supported": key_algs,
            "userinfo_encryption_enc_values_supported": encs,
            "introspection_endpoint": s.endpoints.introspection,
            "introspection_endpoint_auth_methods_supported": &client_auth[..4],
            "introspection_endpoint_auth_signing_alg_values_supported": JwsAlg::ALL.map(JwsAlg::as_str),
            "introspection_signing_alg_values_supported": algs,
            "revocation_endpoint": s.endpoints.revocation,
            "revocation_endpoint_auth_methods_supported": client_auth,
            "revocation_endpoint_auth_signing_alg_values_supported": JwsAlg::ALL.map(JwsAlg::as_str),
        });
        if s.metadata_documents.is_on() {
            metadata["client_id_metadata_document_supported"] = json!(true);
        }
        if let Some(registration) = &s.endpoints.registration {
            metadata["registration_endpoint"] = json!(registration);
        }
        // RP-Initiated, Front-Channel and Back-Channel Logout, when a front-end confirms
        // logouts: every ended session is told to its clients, with `iss` and `sid`.
        if let Some(end_session) = &s.endpoints.end_session {
            metadata["end_session_endpoint"] = json!(end_session);
            for member in [
                "frontchannel_logout_supported",
                "frontchannel_logout_session_supported",
                "backchannel_logout_supported",
                "backchannel_logout_session_supported",
            ] {
                metadata[member] = json!(true);
            }
        }
        metadata
    }

    /// OAuth 2.0 Authorization Server Metadata (RFC 8414): the discovery document, which
    /// RFC 8414 §2 lets carry OpenID Connect's members too, so both always agree.
    pub fn authorization_server_metadata(&self) -> Value {
        self.discovery()
    }

    /// The public keys clients verify tokens with, and the keys they encrypt request objects
    /// to (`use: enc`). Should the store fail, the signing keys are still served, so tokens stay
    /// verifiable.
    pub async fn jwks(&self) -> jose_jwk::JwkSet {
        let mut set = self.signer().jwks(self.now());
        match self.encryption_jwks().await {
            Ok(keys) => set.keys.extend(keys),
            Err(e) => tracing::warn!(error = %e, "the JWK set is served without its encryption keys"),
        }
        set
    }

    /// Deletes expired records; the server calls this periodically. Expired subject sessions
    /// are taken first, so their clients get back-channel logout.
    pub async fn purge_expired(&self) -> Result<u64, crate::store::StoreError> {
        let ended = self.end_expired_subject_sessions().await?;
        Ok(ended + self.store().purge_expired(self.now()).await?)
    }
}
