//! Subject identifiers (OpenID Connect Core §8): public, the local subject as it is; or
//! pairwise (§8.1), a different value per sector, so clients of different sectors cannot
//! correlate a user. The pairwise value is HMAC-SHA256, keyed with a salt the provider
//! generates once and every host shares (stored sealed in the database), over the sector and
//! the local subject, base64url. Every place that puts a `sub` in front of a client (ID tokens,
//! access tokens, UserInfo, introspection, logout tokens) calls [`Provider::subject_for`].

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clients::sector_of;
use crate::model::{AuthorizationRequest, CLIENTS, Client, Grant, PROVIDER_SECRETS, ProviderSecret, SubjectType};
use crate::provider::Provider;
use crate::secret::Secret;
use crate::store::StoreError;

/// The key of the salt in `provider_secrets`, and its sealing context.
const SALT_KEY: &str = "pairwise_salt";

/// The pairwise value of `local_sub` in `sector`.
fn pairwise(salt: &[u8; 32], sector: &str, local_sub: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    // The unit separator keeps ("a.b", "c") and ("a", "b.c") apart.
    let tag = hmac::sign(&key, format!("{sector}\u{1f}{local_sub}").as_bytes());
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

impl Provider {
    /// The `sub` that `client` sees for the local subject `local_sub`.
    pub async fn subject_for(&self, client: &Client, local_sub: &str) -> Result<String, StoreError> {
        if client.metadata.subject_type() == SubjectType::Public {
            return Ok(local_sub.to_owned());
        }
        // Registration refuses a pairwise client without a sector; the client id stands in
        // should one be stored otherwise, so no two sectors ever share values by accident.
        let sector = sector_of(&client.metadata).unwrap_or_else(|| format!("client:{}", client.client_id));
        Ok(pairwise(self.pairwise_salt().await?, &sector, local_sub))
    }

    /// The `sub` of a grant as its client sees it (UserInfo, introspection).
    pub async fn subject_of_grant(&self, grant: &Grant) -> Result<String, StoreError> {
        match CLIENTS.get(self.store(), &grant.client_id, self.now()).await? {
            Some(client) => self.subject_for(&client, &grant.sub).await,
            None => Ok(grant.sub.clone()),
        }
    }

    /// Whether the request's `id_token_hint` (if any) names `local_sub`: the hint carries the
    /// `sub` its audience client saw, so it is compared with that client's value.
    pub(crate) async fn hint_names(&self, request: &AuthorizationRequest, local_sub: &str) -> Result<bool, StoreError> {
        let Some(hint) = &request.id_token_hint_sub else {
            return Ok(true);
        };
        let seen = match CLIENTS.get(self.store(), &request.client_id, self.now()).await? {
            Some(client) => self.subject_for(&client, local_sub).await?,
            None => local_sub.to_owned(),
        };
        Ok(crate::secret::constant_time_eq(hint.as_bytes(), seen.as_bytes()))
    }

    /// The salt: read once; generated and stored by the first host that needs it. Hosts that
    /// start at once all insert-if-absent, then read back the one that won.
    async fn pairwise_salt(&self) -> Result<&[u8; 32], StoreError> {
        if let Some(salt) = self.pairwise_salt_cell().get() {
            return Ok(salt.expose());
        }
        let now = self.now();
        if PROVIDER_SECRETS.get(self.store(), SALT_KEY, now).await?.is_none() {
            let mut salt = [0u8; 32];
            self.random().fill(&mut salt);
            let sealed = self.sealer().seal(self.random(), SALT_KEY, &salt);
            PROVIDER_SECRETS.insert(self.store(), SALT_KEY, &ProviderSecret { sealed }, None, now).await?;
        }
        let stored = PROVIDER_SECRETS
            .get(self.store(), SALT_KEY, now)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the pairwise salt vanished after it was stored".into()))?;
        let opened = self
            .sealer()
            .open(SALT_KEY, &stored.sealed)
            .map_err(|_| StoreError::Corrupt("the pairwise salt does not open with this master key".into()))?;
        let salt = <[u8; 32]>::try_from(opened.expose().as_slice())
            .map_err(|_| StoreError::Corrupt("the stored pairwise salt is not 32 bytes".into()))?;
        Ok(self.pairwise_salt_cell().get_or_init(|| Secret::new(salt)).expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_differ_by_sector_and_subject() {
        let salt = [7u8; 32];
        let a = pairwise(&salt, "a.example", "alice");
        assert_eq!(a, pairwise(&salt, "a.example", "alice"));
        assert_ne!(a, pairwise(&salt, "b.example", "alice"));
        assert_ne!(a, pairwise(&salt, "a.example", "bob"));
        assert_ne!(a, pairwise(&[8u8; 32], "a.example", "alice"));
        assert_eq!(a.len(), 43);
    }
}
