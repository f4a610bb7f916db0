//! What a consent form shows and what the user's choices grant.

use serde_json::{Value, json};

use crate::api::Split;

/// The claims a standard scope asks for (OpenID Connect Core §5.4). The host has the same table;
/// this copy keeps the example free of host crates, as a front-end in another language would be.
pub fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// A sentence for a person about what a scope lets the client do.
pub fn scope_description(scope: &str) -> Option<&'static str> {
    Some(match scope {
        "openid" => "Know who you are when you sign in",
        "profile" => "Your profile: name, nickname, picture, locale and the like",
        "email" => "Your email address and whether it is verified",
        "address" => "Your postal address",
        "phone" => "Your phone number",
        "offline_access" => "Keep access while you are away (a refresh token)",
        _ => return None,
    })
}

/// One requested scope or claim as the form shows it.
#[derive(Debug, PartialEq)]
pub struct Item {
    pub name: String,
    /// Consented to before (long-lived consent).
    pub consented: bool,
}

/// Requested items, new ones first.
pub fn items(split: &Split) -> Vec<Item> {
    let new = split.new.iter().map(|n| Item { name: n.clone(), consented: false });
    new.chain(split.consented.iter().map(|n| Item { name: n.clone(), consented: true })).collect()
}

/// Requested claims that no requested scope covers (they came from the `claims` parameter):
/// the form offers them one by one.
pub fn extra_claims(scope: &Split, claims: &Split) -> Vec<Item> {
    let scopes: Vec<&String> = scope.new.iter().chain(&scope.consented).collect();
    items(claims).into_iter().filter(|c| !scopes.iter().any(|s| scope_claims(s).contains(&c.name.as_str()))).collect()
}

/// The `PUT .../consent` body for what the user ticked. Only requested items are granted;
/// `openid` is always granted (without it there is no sign-in); claims come with the scopes
/// that cover them or when ticked one by one; a refresh token is issued when `offline_access`
/// is granted, or to a plain OAuth 2.0 request (no `openid`: an MCP client, say), which has no
/// `offline_access` to ask with (RFC 6749 leaves refresh tokens to the server).
pub fn grant(
    scope: &Split,
    claims: &Split,
    ticked_scopes: &[String],
    ticked_claims: &[String],
    remember: bool,
) -> Value {
    let requested_scopes = scope.new.iter().chain(&scope.consented);
    let granted_scopes: Vec<&String> =
        requested_scopes.filter(|s| *s == "openid" || ticked_scopes.contains(s)).collect();
    let granted_claims: Vec<&String> = claims
        .new
        .iter()
        .chain(&claims.consented)
        .filter(|c| ticked_claims.contains(c) || granted_scopes.iter().any(|s| scope_claims(s).contains(&c.as_str())))
        .collect();
    let openid = scope.new.iter().chain(&scope.consented).any(|s| s == "openid");
    let offline = granted_scopes.iter().any(|s| *s == "offline_access") || !openid;
    json!({
        "scope": granted_scopes,
        "claims": granted_claims,
        "long_lived": remember,
        "refresh_token": { "issue": offline },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(new: &[&str], consented: &[&str]) -> Split {
        Split {
            new: new.iter().map(|s| s.to_string()).collect(),
            consented: consented.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn grants_only_what_was_requested_and_ticked() {
        let scope = split(&["openid", "email", "offline_access"], &["profile"]);
        let claims = split(&["email", "email_verified", "nickname"], &["name"]);
        let ticked = strings(&["profile", "phone"]);
        let body = grant(&scope, &claims, &ticked, &strings(&["nickname", "address"]), true);
        assert_eq!(body["scope"], json!(["openid", "profile"]), "openid always, phone was not requested");
        assert_eq!(body["claims"], json!(["nickname", "name"]));
        assert_eq!(body["long_lived"], json!(true));
        assert_eq!(body["refresh_token"]["issue"], json!(false));
    }

    #[test]
    fn a_plain_oauth_request_gets_a_refresh_token() {
        let scope = split(&["mcp:tools"], &[]);
        let body = grant(&scope, &Split::default(), &strings(&["mcp:tools"]), &[], false);
        assert_eq!(body["refresh_token"]["issue"], json!(true));
        assert_eq!(body["scope"], json!(["mcp:tools"]));
    }

    #[test]
    fn offline_access_asks_for_a_refresh_token() {
        let scope = split(&["openid", "offline_access"], &[]);
        let body = grant(&scope, &Split::default(), &strings(&["offline_access"]), &[], false);
        assert_eq!(body["refresh_token"]["issue"], json!(true));
    }

    #[test]
    fn extra_claims_are_those_no_scope_covers() {
        let scope = split(&["openid", "email"], &[]);
        let claims = split(&["email", "email_verified", "nickname"], &[]);
        let extra: Vec<String> = extra_claims(&scope, &claims).into_iter().map(|i| i.name).collect();
        assert_eq!(extra, ["nickname"]);
    }
}
