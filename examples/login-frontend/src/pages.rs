//! The HTML pages. maud escapes every interpolated value; nothing here writes raw HTML from
//! input. Plain forms only: every page works without JavaScript.

use maud::{DOCTYPE, Markup, html};
use serde_json::{Map, Value};

use crate::api::{Client, Split};
use crate::consent::{Item, extra_claims, items, scope_description};
use crate::look::{Look, Text};

const STYLE: &str = "
body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:10px;box-shadow:0 1px 4px #0002}
h1{font-size:1.35rem;margin:0 0 1rem}
label{display:block;margin:.8rem 0 .25rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #bbc;border-radius:6px;font-size:1rem}
button,a.button{padding:.6rem 1.2rem;border:0;border-radius:6px;font-size:1rem;cursor:pointer;background:#2f5bd3;color:#fff;text-decoration:none;display:inline-block}
button.secondary{background:#e3e6ec;color:#1d2330}
.actions{display:flex;gap:.7rem;margin-top:1.4rem}
.error{background:#fde8e8;color:#8a1c1c;padding:.6rem .8rem;border-radius:6px}
.note{background:#eef3fe;padding:.6rem .8rem;border-radius:6px}
.muted{color:#667;font-size:.9rem}
.check{display:flex;gap:.5rem;align-items:flex-start;font-weight:400;margin:.5rem 0}
.badge{font-size:.75rem;background:#e3e6ec;border-radius:4px;padding:0 .35rem;margin-left:.3rem}
.client{display:flex;gap:.8rem;align-items:center;margin-bottom:1rem}
.client img{width:48px;height:48px;object-fit:contain}
fieldset{border:1px solid #dde;border-radius:6px;margin:1rem 0}
code{word-break:break-all}
body.display-popup main{margin:.5rem auto;padding:1rem;box-shadow:none}
body.display-touch{font-size:1.15rem}
body.display-touch input[type=text],body.display-touch input[type=password],body.display-touch button{min-height:3rem;font-size:1.15rem}
body.display-touch .check input{width:1.5rem;height:1.5rem}
";

fn layout(title: &str, body: Markup) -> Markup {
    layout_as(Look::default(), title, body)
}

/// A page in `look`'s language, laid out for its display.
fn layout_as(look: Look, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(look.lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body class=(look.display.class()) { main { (body) } }
        }
    }
}

/// Only http(s) links and images; anything else a client registered is not shown.
fn web_url(uri: &Option<String>) -> Option<&str> {
    uri.as_deref().filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

fn client_header(client: &Client, what: &str) -> Markup {
    client_header_as(Look::default(), client, what)
}

fn client_header_as(look: Look, client: &Client, what: &str) -> Markup {
    html! {
        div.client {
            @if let Some(logo) = web_url(&client.logo_uri) { img src=(logo) alt=""; }
            div {
                h1 { (what) }
                div.muted {
                    (look.text(Text::ToContinueTo))
                    @if let Some(uri) = web_url(&client.client_uri) { a href=(uri) { (client.display_name()) } }
                    @else { strong { (client.display_name()) } }
                }
                (client_links(look, client))
            }
        }
    }
}

/// The client's privacy policy and terms of service, when it registered them (OpenID Connect
/// Dynamic Registration §2: shown to the user before they authorise the client).
fn client_links(look: Look, client: &Client) -> Markup {
    html! {
        @if client.policy_uri.is_some() || client.tos_uri.is_some() {
            div.muted.client-links {
                @if let Some(uri) = web_url(&client.policy_uri) { a.policy href=(uri) { (look.text(Text::PrivacyPolicy)) } " " }
                @if let Some(uri) = web_url(&client.tos_uri) { a.tos href=(uri) { (look.text(Text::TermsOfService)) } }
            }
        }
    }
}

/// What the login form shows beside the fields.
#[derive(Default)]
pub struct LoginNotes<'a> {
    pub error: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub required_acr: Option<&'a str>,
    pub username: Option<&'a str>,
}

pub fn login(look: Look, sid: &str, client: &Client, notes: LoginNotes<'_>) -> Markup {
    let sign_in = look.text(Text::SignIn);
    layout_as(
        look,
        sign_in,
        html! {
            (client_header_as(look, client, sign_in))
            @if let Some(reason) = notes.reason { p.note { (reason) } }
            @if let Some(acr) = notes.required_acr {
                p.note { "This application asks for a sign-in of level " code { (acr) } "." }
            }
            @if let Some(error) = notes.error { p.error role="alert" { (error) } }
            form method="post" action="login" {
                input type="hidden" name="sid" value=(sid);
                label for="username" { (look.text(Text::Username)) }
                input #username type="text" name="username" value=[notes.username] autocomplete="username"
                    autocapitalize="none" required autofocus[notes.username.is_none()];
                label for="password" { (look.text(Text::Password)) }
                input #password type="password" name="password" autocomplete="current-password" required
                    autofocus[notes.username.is_some()];
                div.actions { button type="submit" { (sign_in) } }
            }
        },
    )
}

/// A login hook chose an external identity provider.
pub fn external(client: &Client, redirect: &str, reason: Option<&str>) -> Markup {
    layout(
        "Continue to your identity provider",
        html! {
            (client_header(client, "Sign in elsewhere"))
            @if let Some(reason) = reason { p.note { (reason) } }
            p { "Your organisation signs you in with its own identity provider." }
            div.actions { a.button href=(redirect) { "Continue" } }
            p.muted { "Address: " code { (redirect) } }
        },
    )
}

fn check(name: &str, item: &Item, label: Markup) -> Markup {
    html! {
        label.check {
            // New items are ticked by default, and so are those consented to before.
            input type="checkbox" name=(name) value=(item.name) checked;
            span {
                (label)
                @if item.consented { span.badge { "allowed before" } } @else { span.badge { "new" } }
            }
        }
    }
}

/// The consent page: what the client asks for (scopes, extra claims) and where it will use it
/// (the requested resources, named so the user knows which services get access).
pub fn consent(
    look: Look,
    sid: &str,
    client: &Client,
    sub: &str,
    (scope, claims): (&Split, &Split),
    resources: &[String],
) -> Markup {
    let extra = extra_claims(scope, claims);
    let allow_access = look.text(Text::AllowAccess);
    layout_as(
        look,
        allow_access,
        html! {
            (client_header_as(look, client, allow_access))
            p.muted { (look.text(Text::SignedInAs)) strong { (sub) } }
            form method="post" action="consent" {
                input type="hidden" name="sid" value=(sid);
                fieldset {
                    legend { (client.display_name()) (look.text(Text::WouldLikeTo)) }
                    @for item in items(scope) {
                        @if item.name == "openid" {
                            // Always granted: without it there is no sign-in.
                            label.check {
                                input type="checkbox" checked disabled;
                                span { (scope_description("openid").unwrap_or_default()) }
                            }
                        } @else {
                            (check("scope", &item, html! {
                                @match scope_description(&item.name) {
                                    Some(d) => { (d) " " span.muted { "(" code { (item.name) } ")" } }
                                    None => { code { (item.name) } }
                                }
                            }))
                        }
                    }
                }
                @if !resources.is_empty() {
                    fieldset.resources {
                        legend { (look.text(Text::AtResources)) }
                        ul { @for r in resources { li { code { (r) } } } }
                    }
                }
                @if !extra.is_empty() {
                    fieldset {
                        legend { (look.text(Text::ReadDetails)) }
                        @for item in &extra { (check("claim", item, html! { code { (item.name) } })) }
                    }
                }
                label.check {
                    input type="checkbox" name="remember" value="yes";
                    span { (look.text(Text::Remember)) }
                }
                div.actions {
                    button type="submit" name="decision" value="allow" { (look.text(Text::Allow)) }
                    button.secondary type="submit" name="decision" value="deny" { (look.text(Text::Deny)) }
                }
            }
        },
    )
}

/// The `form_post` response mode (OAuth 2.0 Form Post Response Mode §2): a form that submits
/// itself, with a button for browsers without JavaScript.
pub fn form_post(action: &str, fields: &Map<String, Value>) -> Markup {
    layout(
        "Returning to the application",
        html! {
            form method="post" action=(action) {
                @for (name, value) in fields {
                    input type="hidden" name=(name) value=(value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string()));
                }
                p { "Signing you in to the application…" }
                div.actions { button type="submit" { "Continue" } }
            }
            script { (maud::PreEscaped(FORM_POST_SCRIPT)) }
        },
    )
}

/// The only script any page carries; its hash goes in the page's Content-Security-Policy.
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit()";

/// RP-initiated logout: the user confirms signing out (or stays signed in).
pub fn logout(id: &str, client: Option<&Client>) -> Markup {
    layout(
        "Sign out",
        html! {
            h1 { "Sign out?" }
            @if let Some(client) = client {
                p { strong { (client.display_name()) } " asks to sign you out." }
            }
            p { "Signing out ends your session here and in every application you signed in to with it." }
            form method="post" action="/logout" {
                input type="hidden" name="logout_request" value=(id);
                div.actions {
                    button type="submit" name="decision" value="yes" { "Sign out" }
                    button.secondary type="submit" name="decision" value="no" { "Stay signed in" }
                }
            }
        },
    )
}

/// After a logout: the applications' front-channel logout pages load in hidden frames, then
/// the browser goes on to the application that asked (a refresh, so no script is needed).
pub fn logged_out(ended: bool, frontchannel: &[String], redirect: Option<&str>) -> Markup {
    let title = if ended { "Signed out" } else { "Still signed in" };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="referrer" content="no-referrer";
                @if let Some(to) = redirect {
                    meta http-equiv="refresh" content=(format!("2;url={to}"));
                }
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                main {
                    h1 { (title) }
                    @if ended { p { "You are signed out." } } @else { p { "Nothing was changed." } }
                    @for uri in frontchannel {
                        iframe.frontchannel src=(uri) width="0" height="0" hidden {}
                    }
                    @if let Some(to) = redirect {
                        div.actions { a.button href=(to) { "Back to the application" } }
                    }
                }
            }
        }
    }
}

pub fn error(title: &str, message: &str, code: Option<&str>) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
            @if let Some(code) = code { p.muted { "Error code: " code { (code) } } }
            p.muted { "You can close this page and start again from the application you were signing in to." }
        },
    )
}
