//! Logout tokens (Back-Channel Logout 1.0 §2.4): a JWT of type `logout+jwt` with `iss`,
//! `aud`, `iat`, `exp`, `jti`, the back-channel logout event, and both `sub` (as the client
//! sees it, pairwise or public) and `sid`; never a `nonce` (§2.4: "MUST NOT contain"). Signed
//! as the client's ID tokens are, and encrypted when it registered ID-token encryption (§2.4:
//! "using the keys and algorithms that the Client specified during Registration for
//! encrypting ID Tokens").

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::OAuthError;
use crate::jose;
use crate::model::{Client, SubjectSession};
use crate::provider::Provider;

/// The event member's key (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is good for: §2.4 recommends "no more than two minutes".
const LIFETIME: u64 = 120;

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    events: Value,
    sid: &'a str,
}

impl Provider {
    pub(super) async fn logout_token(&self, client: &Client, subject: &SubjectSession) -> Result<String, OAuthError> {
        let now = self.now();
        let alg = client.metadata.id_token_signed_response_alg.unwrap_or(self.settings().id_token_alg);
        let sub = self.subject_for(client, &subject.sub).await?;
        let claims = LogoutClaims {
            iss: &self.settings().issuer,
            sub: &sub,
            aud: &client.client_id,
            iat: now.0,
            exp: now.plus(LIFETIME).0,
            jti: self.new_id(),
            events: json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
            sid: &subject.sid,
        };
        let signed = jose::sign(self.signer(), alg, Some("logout+jwt"), &claims, now).await?;
        self.id_token_for_client(client, signed).await
    }
}
