//! The example login front-end (`examples/login-frontend`) and the demo relying party
//! (`examples/demo-rp`) against the real server: a cookie-keeping client plays the browser,
//! follows redirects by hand and submits the HTML forms it is shown.

use gatehouse_login_frontend::PASSWORD_ACR;
use openidconnect::reqwest::{self, StatusCode};
use url::Url;

use crate::support::browser::{Browser, Page};
use crate::support::stack::{Stack, demo_rp, listener, stack};

impl Page {
    pub fn is_login_form(&self) -> bool {
        self.has(r#"form[action="login"] input[name="password"]"#)
    }

    pub fn is_consent_form(&self) -> bool {
        self.has(r#"form[action="consent"] button[value="allow"]"#)
    }
}

impl Stack {
    fn provider(&self) -> Url {
        Url::parse(&self.server.base).unwrap()
    }

    fn rp(&self, path: &str) -> Url {
        self.rp.join(path).unwrap()
    }

    /// From the RP's "sign in" link to the login form.
    pub async fn login_form(&self, browser: &Browser) -> Page {
        let page = browser.get(&self.rp("/login")).await;
        assert!(page.visited.iter().any(|u| u.path() == "/authorize" && u.origin() == self.provider().origin()));
        assert_eq!(page.url.origin(), self.frontend.origin(), "the provider hands the browser to the front-end");
        assert!(page.is_login_form(), "{}", page.body);
        page
    }

    /// Signs in as `user` and returns the next page (the consent form, normally).
    async fn sign_in(&self, browser: &Browser, user: &str, password: &str) -> Page {
        let form = self.login_form(browser).await;
        browser.submit(form.form("login").set("username", user).set("password", password)).await
    }

    async fn session_data(&self, sid: &str) -> serde_json::Value {
        let (status, data) =
            self.server.api(reqwest::Method::GET, &format!("/authz-sessions/v1/{sid}/data"), None).await;
        assert_eq!(status, 200, "{data}");
        data
    }
}

#[tokio::test]
async fn code_flow_through_the_html_forms() {
    let stack = stack().await;
    let browser = Browser::new();
    let consent = stack.sign_in(&browser, "alice", "wonderland").await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    assert!(consent.body.contains("Gatehouse demo RP"), "the consent form names the client");
    let form = consent.form("consent");
    for scope in ["profile", "email", "offline_access"] {
        assert!(form.fields.contains(&("scope".into(), scope.into())), "new scope {scope} is ticked by default");
    }

    let done = browser.submit(form.set("decision", "allow")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.url.path(), "/callback");
    assert_eq!(done.url.origin(), stack.rp.origin());
    assert!(done.has("#verified"), "the RP verified the ID token");
    let userinfo = done.json("#userinfo");
    assert_eq!(userinfo["sub"], "alice");
    assert_eq!(userinfo["email"], "alice@example.com");
    assert_eq!(userinfo["email_verified"], true);
    assert_eq!(userinfo["name"], "Alice Liddell");
    assert_eq!(userinfo["family_name"], "Liddell");
    let id_token = done.json("#id-token");
    assert_eq!(id_token["sub"], "alice");
    assert_eq!(id_token["iss"], stack.server.base);
    assert_eq!(id_token["aud"], "demo-rp");
    assert_eq!(id_token["acr"], PASSWORD_ACR);
    assert_eq!(id_token["amr"], serde_json::json!(["pwd"]));
    assert!(id_token["nonce"].is_string() && id_token["at_hash"].is_string());
    assert_eq!(done.json("#access-token")["sub"], "alice");
    assert!(done.text("#refresh-token").contains("Yes"), "offline_access was granted");
    assert!(browser.cookies(&stack.frontend).contains("gatehouse_sso="), "the SSO cookie is set");
}

#[tokio::test]
async fn a_wrong_password_or_an_unknown_user_rerenders_the_form_with_the_same_message() {
    let stack = stack().await;
    let browser = Browser::new();
    let mut page = stack.login_form(&browser).await;
    let sid = page.form("login").get("sid").to_owned();
    for (user, password) in [("alice", "wrong"), ("mallory", "x"), ("alice", "wrong again")] {
        page = browser.submit(page.form("login").set("username", user).set("password", password)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.is_login_form(), "the form comes back");
        assert_eq!(page.text(".error"), "Wrong username or password.", "one message, known account or not");
        assert_eq!(page.form("login").get("username"), user, "the username is kept");
        assert_eq!(page.form("login").get("sid"), sid, "the same session goes on");
    }
    // The failures are counted by the front-end itself (see frontend_throttle.rs), not in the
    // session's data, which a new session would start afresh.
    let data = stack.session_data(&sid).await;
    assert_eq!(data.as_object().unwrap().keys().collect::<Vec<_>>(), ["browser"], "{data}");
    let consent = browser.submit(page.form("login").set("username", "alice").set("password", "wonderland")).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
}

#[tokio::test]
async fn single_sign_on_skips_the_login_form() {
    let stack = stack().await;
    let browser = Browser::new();
    let consent = stack.sign_in(&browser, "bob", "builder").await;
    let done = browser.submit(consent.form("consent").set("decision", "allow")).await;
    assert_eq!(done.json("#userinfo")["sub"], "bob");

    // Signed in, and the consent (not ticked "remember") lasts for the single sign-on
    // session: no form at all (issue 11, session-scoped consent).
    let again = browser.get(&stack.rp("/login")).await;
    assert_eq!(again.url.path(), "/callback", "{}", again.body);
    assert_eq!(again.json("#id-token")["sub"], "bob");
    assert!(again.visited.iter().all(|u| u.origin() != stack.frontend.origin() || u.path() == "/login"));
}

#[tokio::test]
async fn deny_on_the_consent_form_returns_access_denied_to_the_rp() {
    let stack = stack().await;
    let browser = Browser::new();
    let consent = stack.sign_in(&browser, "alice", "wonderland").await;
    let page = browser.submit(consent.form("consent").set("decision", "deny")).await;
    assert_eq!(page.url.origin(), stack.rp.origin());
    assert_eq!(page.url.path(), "/callback");
    assert_eq!(page.text("#error"), "Error: access_denied");
    assert!(page.visited.last().unwrap().query_pairs().any(|(k, v)| k == "iss" && v == stack.server.base));
}

#[tokio::test]
async fn an_unknown_client_gets_the_error_page_and_no_redirect() {
    let stack = stack().await;
    let browser = Browser::new();
    for query in [
        "client_id=nobody&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb",
        "client_id=demo-rp&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb",
    ] {
        let mut authorize = stack.provider().join("/authorize").unwrap();
        authorize.set_query(Some(query));
        let page = browser.get(&authorize).await;
        assert_eq!(page.url.origin(), stack.frontend.origin(), "{query}");
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(!page.headers.contains_key(reqwest::header::LOCATION));
        assert!(page.body.contains("Sign-in request refused"), "{}", page.body);
        assert!(page.visited.iter().all(|u| u.port() != Some(9)), "never sent to the unverified redirect URI");
    }
}

#[tokio::test]
async fn form_post_answers_with_a_self_submitting_form() {
    let stack = stack().await;
    let browser = Browser::new();
    let consent = stack.sign_in(&browser, "alice", "wonderland").await;
    browser.submit(consent.form("consent").set("remember", "yes").set("decision", "allow")).await;
    let mut authorize = stack.provider().join("/authorize").unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", "demo-rp")
        .append_pair("response_type", "code")
        .append_pair("response_mode", "form_post")
        .append_pair("scope", "openid email")
        .append_pair("state", "s<t>&\"ate")
        .append_pair("redirect_uri", stack.rp("/callback").as_str());
    let page = browser.get(&authorize).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = page.form(stack.rp("/callback").as_str());
    assert_eq!(form.get("state"), "s<t>&\"ate", "values are escaped, not interpreted");
    assert_eq!(form.get("iss"), stack.server.base);
    assert!(!form.get("code").is_empty());
    assert!(page.has(r#"button[type="submit"]"#), "a button for browsers without JavaScript");
    let csp = page.headers[reqwest::header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
}

#[tokio::test]
async fn a_form_from_another_browser_or_for_no_session_is_refused() {
    let stack = stack().await;
    let page = stack.login_form(&Browser::new()).await;
    let stolen = page.form("login").set("username", "alice").set("password", "wonderland");
    let other = Browser::new().submit(stolen).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert!(other.body.contains("started in another browser"));

    let browser = Browser::new();
    let page = stack.login_form(&browser).await;
    for sid in ["no-such-session", "../../clients/v1", ""] {
        let form = page.form("login").set("sid", sid).set("username", "alice").set("password", "wonderland");
        let gone = browser.submit(form).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND, "{sid:?}");
        assert!(gone.body.contains("This sign-in has expired"));
    }
    let nothing = browser.get(&stack.frontend.join("/login").unwrap()).await;
    assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_demo_rp_registers_again_with_a_fresh_secret() {
    let stack = stack().await;
    // A second start against the same provider finds `demo-rp` registered, rotates its secret
    // and points its redirect URI at the new address.
    let (listener, url) = listener().await;
    let app = demo_rp(&stack.server, &url).await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let browser = Browser::new();
    let login = browser.get(&url.join("/login").unwrap()).await;
    assert!(login.is_login_form());
    let consent = browser.submit(login.form("login").set("username", "alice").set("password", "wonderland")).await;
    let done = browser.submit(consent.form("consent").set("decision", "allow")).await;
    assert_eq!(done.url.origin(), url.origin());
    assert_eq!(done.json("#userinfo")["sub"], "alice");
}

/// The demo user with every standard claim: the demo RP asks for profile and email, and gets
/// each of those scopes' claims from UserInfo.
#[tokio::test]
async fn carol_has_every_claim_of_the_scopes_the_demo_asks_for() {
    let stack = stack().await;
    let browser = Browser::new();
    let consent = stack.sign_in(&browser, "carol", "looking-glass").await;
    let done = browser.submit(consent.form("consent").set("decision", "allow")).await;
    let userinfo = done.json("#userinfo");
    assert_eq!(userinfo["sub"], "carol");
    for claim in [
        "name",
        "given_name",
        "family_name",
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
        "email",
        "email_verified",
    ] {
        assert!(userinfo.get(claim).is_some_and(|v| !v.is_null()), "{claim}: {userinfo}");
    }
}

#[tokio::test]
async fn the_pages_speak_the_first_ui_locale_they_know_and_fit_the_display() {
    let stack = stack().await;
    let browser = Browser::new();
    let authorize = |locales: &str, display: &str| {
        let mut url = stack.provider().join("/authorize").unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", "demo-rp")
            .append_pair("redirect_uri", stack.rp("/callback").as_str())
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile")
            .append_pair("state", "s")
            .append_pair("nonce", "n")
            .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM")
            .append_pair("code_challenge_method", "S256")
            .append_pair("ui_locales", locales)
            .append_pair("display", display);
        url
    };
    // Japanese is not spoken here; Canadian French is French.
    let login = browser.get(&authorize("ja fr-CA de", "touch")).await;
    assert!(login.is_login_form(), "{}", login.body);
    assert!(login.has(r#"html[lang="fr"]"#), "{}", login.body);
    assert!(login.has("body.display-touch"));
    assert_eq!(login.text(r#"label[for="password"]"#), "Mot de passe");
    let consent = browser.submit(login.form("login").set("username", "alice").set("password", "wonderland")).await;
    assert!(consent.is_consent_form(), "{}", consent.body);
    assert!(consent.has(r#"html[lang="fr"]"#));
    assert_eq!(consent.text(r#"button[value="allow"]"#), "Autoriser");

    let popup = Browser::new().get(&authorize("de-AT", "popup")).await;
    assert!(popup.has(r#"html[lang="de"]"#) && popup.has("body.display-popup"), "{}", popup.body);
    assert_eq!(popup.text(r#"label[for="username"]"#), "Benutzername");
    // Nothing known: English on a page.
    let plain = Browser::new().get(&authorize("ja", "wap")).await;
    assert!(plain.has(r#"html[lang="en"]"#) && plain.has("body.display-page"), "{}", plain.body);
    assert_eq!(plain.text(r#"label[for="password"]"#), "Password");
}
