//! The client must be named once and be registered (RFC 6749 §4.1.2.1: an unknown client is
//! never redirected to).

use super::Draft;
use crate::error::OAuthError;
use crate::model::{CLIENTS, is_valid_client_id};
use crate::provider::Provider;

pub(super) async fn check(provider: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    if draft.params.is_repeated("client_id") {
        return Err(OAuthError::invalid_request("the client_id parameter is repeated"));
    }
    let Some(client_id) = draft.params.get("client_id") else {
        return Err(OAuthError::invalid_request("the client_id parameter is missing"));
    };
    // An identifier no client can have is refused before the lookup, and not repeated back.
    if !is_valid_client_id(client_id) {
        return Err(OAuthError::invalid_client("the client_id is not a valid client identifier"));
    }
    let client = CLIENTS.get(provider.store(), client_id, provider.now()).await?;
    match client {
        Some(client) => {
            draft.client = Some(client);
            Ok(())
        }
        None => Err(OAuthError::invalid_client(format!("client {client_id:?} is not registered"))),
    }
}
