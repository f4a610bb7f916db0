//! Policy plugins through the real server: claims from a claims-source plugin in tokens and
//! UserInfo, consent granted and denied by the consent plugin, the login hook's `data` round
//! trip, hot swap under load over HTTP, and misbehaving components.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use openidconnect::OAuth2TokenResponse;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::plugins::{example_manifest, plugin_dir, plugins_config, user_directory};
use crate::support::rp::Rp;
use crate::support::{TestServer, redirect_params};

/// Starts a login up to the subject: returns the prompt after the subject was submitted.
async fn log_in(
    server: &TestServer,
    rp: &Rp,
    scopes: &[&str],
    extra: &[(&str, &str)],
) -> (Value, crate::support::rp::Pending) {
    let pending = rp.authorize(scopes, extra);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, None, None).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");
    let sid = prompt["sid"].as_str().unwrap();
    (server.submit_subject(sid, json!({"sub": "alice", "acr": "urn:gatehouse:pwd"})).await, pending)
}

#[tokio::test]
async fn id_token_and_userinfo_carry_claims_from_the_claims_source_plugin() {
    let origin = user_directory().await;
    let dir = plugin_dir(&[("directory", "user-directory", example_manifest("user-directory", &origin))]);
    let server = TestServer::start_with(&plugins_config(dir.path())).await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;

    let discovery: Value =
        server.http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert!(discovery["claims_supported"].as_array().unwrap().contains(&json!("https://example.com/department")));

    // The subject comes without claims: they all come from the directory.
    let claims = r#"{"id_token":{"email":null,"https://example.com/department":null}}"#;
    let (prompt, pending) = log_in(&server, &rp, &["openid", "email", "profile"], &[("claims", claims)]).await;
    assert_eq!(prompt["type"], "consent", "{prompt}");
    let sid = prompt["sid"].as_str().unwrap();
    let prompt = server.submit_consent(sid, json!({"scope": "*"})).await;
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;

    assert_eq!(login.id_claims["email"], "alice@wonderland.example");
    assert_eq!(login.id_claims["https://example.com/department"], "Looking-Glass");
    assert_eq!(login.userinfo["email"], "alice@wonderland.example");
    assert_eq!(login.userinfo["email_verified"], true);
    assert_eq!(login.userinfo["name"], "Alice from the directory");

    let (status, metrics) = server.admin(Method::GET, "/monitor/v1/metrics", None).await;
    assert_eq!(status, 200);
    let calls = &metrics["counters"]["plugins.calls{plugin=directory,kind=claims-source}"]["count"];
    assert!(calls.as_u64().unwrap() >= 2, "{metrics}");
}

#[tokio::test]
async fn access_tokens_carry_the_claims_the_client_registered_from_the_claims_source_plugin() {
    let origin = user_directory().await;
    let dir = plugin_dir(&[("directory", "user-directory", example_manifest("user-directory", &origin))]);
    let server = TestServer::start_with(&plugins_config(dir.path())).await;
    let department = "https://example.com/department";
    // phone_number is registered but never granted: it must not appear.
    let info = server.web_client(json!({"access_token_claims": ["email", department, "phone_number"]})).await;
    let rp = Rp::new(&server, &info).await;

    let claims = json!({"userinfo": {department: null}}).to_string();
    let (prompt, pending) = log_in(&server, &rp, &["openid", "email"], &[("claims", claims.as_str())]).await;
    let sid = prompt["sid"].as_str().unwrap();
    let prompt = server.submit_consent(sid, json!({"scope": "*"})).await;
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    let access = login.tokens.access_token().secret().clone();

    // RFC 9068 §4: a resource server's checks, by an independent JWT library.
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let set: jsonwebtoken::jwk::JwkSet =
        server.http.get(server.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("a published key");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[&server.issuer]);
    validation.set_audience(&[&server.issuer]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let token = jsonwebtoken::decode::<Value>(&access, &key, &validation).expect("the access token verifies").claims;
    assert_eq!(token["email"], "alice@wonderland.example", "{token}");
    assert_eq!(token[department], "Looking-Glass", "{token}");
    assert!(token.get("phone_number").is_none() && token.get("email_verified").is_none(), "{token}");
    assert_eq!(token["sub"], "alice");

    // Introspection answers them as the token carries them.
    let answer = crate::introspection::introspect(&server, &info, &access, None).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!((&answer["email"], &answer[department]), (&json!("alice@wonderland.example"), &json!("Looking-Glass")));
    assert!(answer.get("gid").is_none(), "the grant id stays inside: {answer}");

    // A client that registered none gets none, and the plugin is not asked for its tokens.
    let plain = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &plain).await;
    let (prompt, pending) = log_in(&server, &rp, &["openid", "email"], &[]).await;
    let prompt = server.submit_consent(prompt["sid"].as_str().unwrap(), json!({"scope": "*"})).await;
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    let token = jsonwebtoken::decode::<Value>(login.tokens.access_token().secret(), &key, &validation).unwrap().claims;
    assert!(token.get("email").is_none(), "{token}");
}

#[tokio::test]
async fn the_consent_plugin_grants_first_party_clients_without_a_consent_prompt() {
    let dir = plugin_dir(&[(
        "consent",
        "first-party-consent",
        "kind = \"consent-policy\"\nversion = \"1\"\n[config]\nfirst_party_clients = [\"portal\"]\n".into(),
    )]);
    let server = TestServer::start_with(&plugins_config(dir.path())).await;
    let info = server.web_client(json!({"client_id": "portal"})).await;
    let rp = Rp::new(&server, &info).await;
    let (prompt, pending) = log_in(&server, &rp, &["openid", "email"], &[]).await;
    assert_eq!(prompt["type"], "response", "consent was granted by the plugin: {prompt}");
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    assert_eq!(login.id_claims["sub"], "alice");

    // A third-party client is asked as usual.
    let other = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &other).await;
    assert_eq!(log_in(&server, &rp, &["openid"], &[]).await.0["type"], "consent");
}

#[tokio::test]
async fn the_consent_plugin_denies_restricted_scopes_with_access_denied_at_the_rp() {
    let dir = plugin_dir(&[(
        "consent",
        "first-party-consent",
        "kind = \"consent-policy\"\nversion = \"1\"\n[config]\nrestricted_scopes = [\"admin\"]\n".into(),
    )]);
    let server = TestServer::start_with(&plugins_config(dir.path())).await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let (prompt, pending) = log_in(&server, &rp, &["openid", "admin"], &[]).await;
    assert_eq!(prompt["type"], "response", "{prompt}");
    let params = redirect_params(prompt["uri"].as_str().unwrap());
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], *pending.state.secret());
    assert!(params["error_description"].contains("first-party"), "{params:?}");
}

#[tokio::test]
async fn the_consent_plugin_asks_again_for_a_scope_to_confirm_every_time() {
    let dir = plugin_dir(&[(
        "consent",
        "first-party-consent",
        "kind = \"consent-policy\"\nversion = \"1\"\n[config]\nalways_confirm = [\"payments\"]\n".into(),
    )]);
    let server = TestServer::start_with(&plugins_config(dir.path())).await;
    let info = server.web_client(json!({"scope": "openid email payments"})).await;
    let rp = Rp::new(&server, &info).await;

    // The first time, everything is new; the user consents for good.
    let (prompt, pending) = log_in(&server, &rp, &["openid", "payments"], &[]).await;
    assert_eq!(prompt["type"], "consent", "{prompt}");
    assert_eq!(prompt["scope"]["new"], json!(["openid", "payments"]));
    let sid = prompt["sid"].as_str().unwrap();
    let prompt = server.submit_consent(sid, json!({"scope": "*", "long_lived": true})).await;
    rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;

    // Consented before, payments is shown as new again; openid is not; reading the session
    // shows the same.
    let (prompt, pending) = log_in(&server, &rp, &["openid", "payments"], &[]).await;
    assert_eq!(prompt["type"], "consent", "payments is confirmed every time: {prompt}");
    assert_eq!(prompt["scope"]["new"], json!(["payments"]));
    assert_eq!(prompt["scope"]["consented"], json!(["openid"]));
    let sid = prompt["sid"].as_str().unwrap();
    let (status, read) = server.api(Method::GET, &format!("/authz-sessions/v1/{sid}"), None).await;
    assert_eq!(status, 200);
    assert_eq!((&read["scope"]["new"], &read["scope"]["consented"]), (&json!(["payments"]), &json!(["openid"])));
    let prompt = server.submit_consent(sid, json!({"scope": "*", "long_lived": true})).await;
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    assert_eq!(login.id_claims["sub"], "alice");

    // Without payments, the remembered consent is enough: no consent prompt.
    let (prompt, _) = log_in(&server, &rp, &["openid"], &[]).await;
    assert_eq!(prompt["type"], "response", "{prompt}");
}

#[tokio::test]
async fn the_login_hook_parks_its_state_in_session_data_and_resumes_after_the_external_idp() {
    let routes = "kind = \"login-hooks\"\nversion = \"1\"\n[config.routes.\"partner.example\"]\n\
                  url = \"https://login.partner.example/authorize?login_hint={login_hint}&state={state}\"\n\
                  acr = \"urn:partner:sso\"\n";
    let dir = plugin_dir(&[("router", "idp-router", routes.into())]);
    let server = TestServer::start_with(&plugins_config(dir.path())).await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;

    let pending = rp.authorize(&["openid"], &[("login_hint", "alice@partner.example")]);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, None, Some(json!({"theme": "dark"}))).await;
    assert_eq!(prompt["type"], "auth", "{prompt}");
    let sid = prompt["sid"].as_str().unwrap().to_owned();
    let expected_redirect =
        format!("https://login.partner.example/authorize?login_hint=alice%40partner.example&state={sid}");
    assert_eq!(prompt["redirect"], expected_redirect, "{prompt}");
    let parked = json!({"theme": "dark", "idp_router": {"domain": "partner.example", "status": "redirected"}});
    assert_eq!(prompt["data"], parked);

    // The front-end is stateless: after the IdP, it finds the session by `state` and reads the data.
    let (status, data) = server.api(Method::GET, &format!("/authz-sessions/v1/{sid}/data"), None).await;
    assert_eq!((status, data), (200, parked));

    let prompt = server.submit_subject(&sid, json!({"sub": "alice", "acr": "urn:partner:sso"})).await;
    assert_eq!(prompt["type"], "consent", "{prompt}");
    let completed =
        json!({"theme": "dark", "idp_router": {"domain": "partner.example", "status": "completed", "sub": "alice"}});
    assert_eq!(prompt["data"], completed);
    let prompt = server.submit_consent(&sid, json!({"scope": "*"})).await;
    assert_eq!(prompt["data"], completed);
    let login = rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
    assert_eq!(login.id_claims["acr"], "urn:partner:sso");
}

#[tokio::test]
async fn a_plugin_swapped_under_load_fails_no_request_and_a_broken_upload_is_refused() {
    let server = Arc::new(TestServer::start().await);
    let info = server.web_client(json!({})).await;
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    // Automatic consents are not remembered, so a rollback shows at once.
    let manifest = |version: &str, first_party: &str| {
        format!(
            "name = \"consent\"\nkind = \"consent-policy\"\nversion = \"{version}\"\n[config]\nlong_lived = false\nfirst_party_clients = [{first_party}]\n"
        )
    };
    let (status, body) = server.upload_plugin(&manifest("1", ""), "first-party-consent").await;
    assert_eq!(status, 201, "{body}");
    let rp = Arc::new(Rp::new(&server, &info).await);

    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed, granted) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut workers = Vec::new();
    for _ in 0..3 {
        let (server, rp, stop) = (server.clone(), rp.clone(), stop.clone());
        let (done, failed, granted) = (done.clone(), failed.clone(), granted.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let pending = rp.authorize(&["openid"], &[]);
                let query = server.browse_authorize(&pending.url).await;
                let (status, prompt) =
                    server.api(Method::POST, "/authz-sessions/v1", Some(json!({"query": query}))).await;
                let sid = prompt["sid"].as_str().unwrap_or_default().to_owned();
                let subject = Some(json!({"sub": "alice"}));
                let (status2, prompt) =
                    server.api(Method::PUT, &format!("/authz-sessions/v1/{sid}/subject"), subject).await;
                match (status, status2, prompt["type"].as_str()) {
                    (200, 200, Some("consent")) => {}
                    (200, 200, Some("response")) if prompt["uri"].as_str().is_some_and(|u| u.contains("code=")) => {
                        granted.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = server.upload_plugin(&manifest("2", &format!("\"{client_id}\"")), "first-party-consent").await;
    assert_eq!(status, 201, "{body}");
    let at_swap = done.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = server.upload_plugin(&manifest("3", ""), "testing-trap").await;
    assert_eq!(status, 422, "a hooks component is refused as a consent policy: {body}");
    assert!(body["detail"].as_str().unwrap().contains("login-hooks"), "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let total = done.load(Ordering::Relaxed);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request failed ({total} requests)");
    assert!(total > at_swap, "requests went on after the swap");
    assert!(granted.load(Ordering::Relaxed) > 0, "version 2 served");

    let (status, list) = server.admin(Method::GET, "/admin/v1/plugins", None).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["active_version"], "2", "{list}");
    assert!(list[0]["last_error"].as_str().unwrap().contains("login-hooks"));

    let (status, body) = server.admin(Method::POST, "/admin/v1/plugins/consent/rollback", None).await;
    assert_eq!((status, &body["active_version"]), (200, &json!("1")), "{body}");
    let (prompt, _) = log_in(&server, &rp, &["openid"], &[]).await;
    assert_eq!(prompt["type"], "consent", "version 1 is back");
    let (status, _) =
        server.admin(Method::POST, "/admin/v1/plugins/consent/activate", Some(json!({"version": "2"}))).await;
    assert_eq!(status, 204);
    assert_eq!(log_in(&server, &rp, &["openid"], &[]).await.0["type"], "response");
}

#[tokio::test]
async fn misbehaving_plugins_give_server_error_and_the_server_carries_on() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;

    // A trapping hook: the RP gets server_error, never the trap's text.
    let (status, body) =
        server.upload_plugin("name = \"trap\"\nkind = \"login-hooks\"\nversion = \"1\"\n", "testing-trap").await;
    assert_eq!(status, 201, "{body}");
    let pending = rp.authorize(&["openid"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&query, None, None).await;
    assert_eq!(prompt["type"], "response", "{prompt}");
    let params = redirect_params(prompt["uri"].as_str().unwrap());
    assert_eq!(params["error"], "server_error");
    assert!(
        !params["error_description"].contains("panic") && !params["error_description"].contains("fixture"),
        "{params:?}"
    );
    let (status, _) = server.admin(Method::POST, "/admin/v1/plugins/trap/deactivate", None).await;
    assert_eq!(status, 204);

    // An endless loop in the consent policy: stopped at its time limit, server_error.
    let looping = "name = \"looper\"\nkind = \"consent-policy\"\nversion = \"1\"\n[limits]\ntime_ms = 100\n";
    assert_eq!(server.upload_plugin(looping, "testing-endless-loop").await.0, 201);
    let (prompt, _) = log_in(&server, &rp, &["openid"], &[]).await;
    assert_eq!(redirect_params(prompt["uri"].as_str().unwrap())["error"], "server_error", "{prompt}");
    server.admin(Method::POST, "/admin/v1/plugins/looper/deactivate", None).await;

    // Refused at upload: a component that wants outbound HTTP without allowed hosts.
    let fetcher =
        "name = \"fetcher\"\nkind = \"claims-source\"\nversion = \"1\"\n[config]\nurl = \"http://127.0.0.1:9/\"\n";
    let (status, body) = server.upload_plugin(fetcher, "testing-fetch-anything").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("allowed_outbound_hosts"), "{body}");

    // The server serves the next login normally, and the metrics tell what happened.
    let (prompt, _) = log_in(&server, &rp, &["openid"], &[]).await;
    assert_eq!(prompt["type"], "consent", "{prompt}");
    let (_, metrics) = server.admin(Method::GET, "/monitor/v1/metrics", None).await;
    assert_eq!(metrics["counters"]["plugins.traps{plugin=trap,kind=login-hooks}"]["count"], 1, "{metrics}");
    assert_eq!(metrics["counters"]["plugins.timeouts{plugin=looper,kind=consent-policy}"]["count"], 1, "{metrics}");
}

#[tokio::test]
async fn a_refused_plugin_in_the_folder_stops_the_start_with_its_reason() {
    let dir = plugin_dir(&[("confused", "first-party-consent", "kind = \"claims-source\"\nversion = \"1\"\n".into())]);
    let config = gatehouse_server::Config::from_toml(&format!(
        "issuer = \"http://127.0.0.1:1\"\ndata_dir = \"{}\"\n{}",
        dir.path().join("data").display(),
        plugins_config(dir.path())
    ))
    .unwrap();
    let error = gatehouse_server::Gatehouse::build(&config, Default::default()).await.err().expect("the start fails");
    assert!(error.to_string().contains("built for the consent-policy world"), "{error}");
}
