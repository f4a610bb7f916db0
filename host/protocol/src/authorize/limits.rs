//! Every parameter has a length bound, and a request a bound on how many it has: a stranger
//! cannot make the provider keep (or echo) more than these. The whole request is bounded too
//! (`limits.authorization_request_bytes`, checked before parsing).

use super::Draft;
use crate::error::OAuthError;
use crate::provider::Provider;

/// The most parameters one request may carry.
pub const MAX_PARAMETERS: usize = 64;

/// The longest value of each parameter, in bytes; parameters not listed get [`DEFAULT`].
const BOUNDS: &[(&str, usize)] = &[
    ("client_id", 128),
    ("response_type", 64),
    ("response_mode", 32),
    ("code_challenge", 128),
    ("code_challenge_method", 16),
    ("prompt", 64),
    ("max_age", 20),
    ("display", 32),
    ("nonce", 512),
    ("login_hint", 512),
    ("ui_locales", 256),
    ("claims_locales", 256),
    ("acr_values", 1024),
    ("claims", 8 * 1024),
    ("id_token_hint", 8 * 1024),
    ("request", 16 * 1024),
];

/// The bound of parameters not in [`BOUNDS`] (`redirect_uri`, `state`, `scope`, ...).
pub const DEFAULT: usize = 2048;

/// Whether `value` is within the bound of parameter `name`.
pub(super) fn within(name: &str, value: &str) -> bool {
    value.len() <= BOUNDS.iter().find(|(n, _)| *n == name).map_or(DEFAULT, |(_, max)| *max)
}

pub(super) fn check(_: &Provider, draft: &mut Draft<'_>) -> Result<(), OAuthError> {
    let params = &draft.params.0;
    if params.len() > MAX_PARAMETERS {
        return Err(OAuthError::invalid_request(format!("the request has more than {MAX_PARAMETERS} parameters")));
    }
    for (name, value) in params {
        if name.len() > 64 {
            return Err(OAuthError::invalid_request("a parameter name is longer than 64 bytes"));
        }
        if !within(name, value) {
            return Err(OAuthError::invalid_request(format!("the {name} parameter is too long")));
        }
    }
    Ok(())
}
