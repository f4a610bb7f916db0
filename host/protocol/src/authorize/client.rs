//! The client must be named once and be registered (RFC 6749 §4.1.2.1: an unknown client is
//! never redirected to). A client ID URL names the client its metadata document describes.

use super::Draft;
use crate::clients::ClientLookupError;
use crate::error::OAuthError;
use crate::provider::Provider;

pub(super) async fn check(provider: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    if draft.params.is_repeated("client_id") {
        return Err(OAuthError::invalid_request("the client_id parameter is repeated"));
    }
    let Some(client_id) = draft.params.get("client_id") else {
        return Err(OAuthError::invalid_request("the client_id parameter is missing"));
    };
    // An identifier no client can have is refused before any lookup, and not repeated back.
    match provider.client(client_id).await {
        Ok(client) => {
            draft.client = Some(client);
            Ok(())
        }
        Err(ClientLookupError::Unknown(why)) => Err(OAuthError::invalid_client(why)),
        Err(ClientLookupError::Store(e)) => Err(e.into()),
    }
}
