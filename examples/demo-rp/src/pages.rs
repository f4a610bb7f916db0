//! The demo's pages. maud escapes every interpolated value.

use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

use crate::Outcome;

const STYLE: &str = "
body{font-family:system-ui,sans-serif;background:#f6f4ef;color:#222;margin:0}
main{max-width:48rem;margin:2.5rem auto;background:#fff;padding:2rem;border-radius:10px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin-top:0}
h2{font-size:1.05rem;margin:1.6rem 0 .4rem}
pre{background:#f3f3f6;padding:.8rem;border-radius:6px;overflow-x:auto;font-size:.85rem}
form.hint{display:flex;gap:.5rem}
form.hint input{flex:1;padding:.5rem;border:1px solid #bbc;border-radius:6px;font-size:1rem}
form.hint button{padding:.5rem 1rem;border:0;border-radius:6px;background:#e3e6ec;font-size:1rem;cursor:pointer}
a.button{display:inline-block;padding:.6rem 1.2rem;border-radius:6px;background:#1f6f4a;color:#fff;text-decoration:none}
.ok{color:#1f6f4a;font-weight:600}
.error{background:#fde8e8;color:#8a1c1c;padding:.6rem .8rem;border-radius:6px}
.muted{color:#667;font-size:.9rem}
";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gatehouse demo RP" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
}

pub fn home() -> Markup {
    layout(
        "Welcome",
        html! {
            h1 { "Gatehouse demo relying party" }
            p { "This app signs you in with Gatehouse (OpenID Connect code flow with PKCE) and shows the tokens and claims it gets." }
            p { a.button href="login" { "Sign in with Gatehouse" } }
            h2 { "Or sign in with your work address" }
            form.hint method="get" action="login" {
                input type="email" name="login_hint" placeholder="you@partner.example" aria-label="Work email address" required;
                button type="submit" { "Continue" }
            }
            p.muted {
                "The address goes to the provider as " code { "login_hint" } ". A login hook may route you by it: "
                "with the demo's plugins, addresses at " code { "partner.example" } " go to that organisation's identity provider."
            }
        },
    )
}

fn json_block(id: &str, value: &Value) -> Markup {
    html! { pre #(id) { (serde_json::to_string_pretty(value).unwrap_or_default()) } }
}

pub fn signed_in(o: &Outcome) -> Markup {
    let name = o.userinfo.get("name").or_else(|| o.id_token_claims.get("sub")).and_then(Value::as_str).unwrap_or("you");
    layout(
        "Signed in",
        html! {
            h1 { "Hello, " (name) }
            p #verified .ok { "ID token verified: signature (JWK set), issuer, audience, expiry, nonce and at_hash." }
            h2 { "ID token claims" }
            (json_block("id-token", &o.id_token_claims))
            h2 { "Access token claims" }
            p.muted { "Decoded, not verified here: the access token is for resource servers to check." }
            (json_block("access-token", &o.access_token_claims))
            h2 { "UserInfo claims" }
            (json_block("userinfo", &o.userinfo))
            h2 { "Refresh token" }
            p #refresh-token { @if o.refresh_token { "Yes, a refresh token came." } @else { "No refresh token." } }
            @if let Some(scope) = &o.scope { p.muted { "Granted scope: " code { (scope) } } }
            p { a href="login" { "Sign in again" } " · " a href="logout" { "Sign out" } " · " a href="." { "Home" } }
        },
    )
}

/// Where the provider sends the browser after an RP-initiated logout; `sessions` are the
/// provider sessions that front-channel logout said had ended.
pub fn logged_out(state_ok: bool, sessions: &[String]) -> Markup {
    layout(
        "Signed out",
        html! {
            h1 { "Signed out" }
            @if state_ok { p #signed-out .ok { "The provider signed you out and came back with this app's state." } }
            @else { p.error { "This answer's state matches no sign-out this app started." } }
            h2 { "Front-channel logout" }
            @if sessions.is_empty() { p #frontchannel { "The provider has not told this app of an ended session." } }
            @else { p #frontchannel { "The provider told this app (front-channel logout) that session " code { (sessions.join(", ")) } " ended." } }
            p { a href="login" { "Sign in" } " · " a href="." { "Home" } }
        },
    )
}

pub fn failure(title: &str, message: &str, error: Option<&str>) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            @if let Some(error) = error { p.error #error { "Error: " code { (error) } } }
            @if !message.is_empty() { p #error-description { (message) } }
            p { a href="login" { "Try again" } " · " a href="." { "Home" } }
        },
    )
}
