//! What the authorization endpoint returns for a grant: a code for the token endpoint, and
//! for the implicit and hybrid response types an access token and an ID token bound to what
//! comes with it (`at_hash`, `c_hash`; OpenID Connect Core §3.2.2.5, §3.3.2.5).

use crate::error::OAuthError;
use crate::model::{AuthorizationRequest, CODES, Client, CodeRecord, Grant, UseState};
use crate::provider::Provider;
use crate::secret::TokenHash;
use crate::token::issue::{self, IdTokenBinding};

impl Provider {
    /// The response parameters for `grant`, as its request's response type asks.
    pub(super) async fn authorization_response(
        &self,
        client: &Client,
        grant: &Grant,
        request: &AuthorizationRequest,
    ) -> Result<Vec<(&'static str, String)>, OAuthError> {
        let response_type = request.response_type();
        let mut params = Vec::new();
        let code = if response_type.code { Some(self.issue_code(client, grant, request).await?) } else { None };
        let access_token = if response_type.token {
            // The authorize pipeline let a front-channel token name one resource at most.
            let resource = grant.resources.first().map(|uri| self.resource_for(client, uri)).transpose()?;
            let scope = resource.map_or_else(|| grant.scope.clone(), |r| r.narrow(&grant.scope));
            let token = issue::access_token(self, client, grant, &scope, resource).await?;
            params.push(("access_token", token.clone()));
            params.push(("token_type", "Bearer".to_owned()));
            params.push(("expires_in", grant.access_token_lifetime.to_string()));
            params.push(("scope", scope.join(" ")));
            Some(token)
        } else {
            None
        };
        if response_type.id_token {
            let binding = IdTokenBinding {
                nonce: request.nonce.as_deref(),
                access_token: access_token.as_deref(),
                code: code.as_deref(),
                state: request.state.as_deref(),
            };
            params.push(("id_token", issue::id_token(self, client, grant, binding).await?));
        }
        if let Some(code) = code {
            params.insert(0, ("code", code));
        }
        Ok(params)
    }

    /// A single-use code for the grant, stored only as its hash.
    async fn issue_code(
        &self,
        client: &Client,
        grant: &Grant,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        let code = self.new_token();
        let record = CodeRecord {
            grant_id: grant.id.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: request.redirect_uri.as_str().to_owned(),
            redirect_uri_given: request.redirect_uri_given,
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            state: UseState::Issued,
        };
        let expires = self.now().plus(self.settings().lifetimes.code);
        CODES.put(self.store(), TokenHash::of(&code).as_str(), &record, Some(expires)).await?;
        Ok(code)
    }
}
