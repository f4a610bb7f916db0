//! `prompt` (OpenID Connect Core §3.1.2.1): known values only; `none` stands alone.

use super::Draft;
use crate::error::OAuthError;
use crate::model::PromptValue;
use crate::provider::Provider;

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let mut prompt = Vec::new();
    for value in draft.params.get("prompt").unwrap_or_default().split_ascii_whitespace() {
        let p = match value {
            "none" => PromptValue::None,
            "login" => PromptValue::Login,
            "consent" => PromptValue::Consent,
            "select_account" => PromptValue::SelectAccount,
            other => return Err(OAuthError::invalid_request(format!("prompt value {other:?} is not supported"))),
        };
        if !prompt.contains(&p) {
            prompt.push(p);
        }
    }
    if prompt.contains(&PromptValue::None) && prompt.len() > 1 {
        return Err(OAuthError::invalid_request("prompt=none cannot be combined with other values"));
    }
    draft.request().prompt = prompt;
    Ok(())
}
