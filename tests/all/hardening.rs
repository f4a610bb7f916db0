//! What the security review of issue 9 found in the authorization-session API, tried as an
//! attacker (or a careless front-end) would: each test failed on the code before the fix.

use openidconnect::OAuth2TokenResponse;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::support::rp::{Rp, login, open_session};
use crate::support::{TestServer, alice, redirect_params};

const REDIRECT: &str = "https://app.example.com/callback";

/// An authentication request for `client_id` with `extra` parameters, as the front-end
/// receives it.
fn query(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    q.finish()
}

fn client_id(info: &Value) -> &str {
    info["client_id"].as_str().unwrap()
}

/// Concurrent `PUT /data` and two `PUT /consent` on one session: at most one code, and a
/// completed session never comes back (on the old code it did in 6 of 15 trials, and a
/// second consent issued a second code that also redeemed).
async fn race_data_against_consent(server: &TestServer) {
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(server, &info).await;
    for trial in 0..20 {
        let (_, sid) = open_session(server, &rp, &["email"], &[]).await;
        server.submit_subject(&sid, alice()).await;
        let (consent_path, data_path) =
            (format!("/authz-sessions/v1/{sid}/consent"), format!("/authz-sessions/v1/{sid}/data"));
        let consent = || server.api(Method::PUT, &consent_path, Some(json!({"scope": "*"})));
        let data = server.api(Method::PUT, &data_path, Some(json!({"trial": trial})));
        let ((s1, p1), (s2, p2), (sd, pd)) = tokio::join!(consent(), consent(), data);
        let codes: Vec<&Value> =
            [(s1, &p1), (s2, &p2)].into_iter().filter(|(s, _)| *s == 200).map(|(_, p)| p).collect();
        assert!(codes.len() <= 1, "trial {trial}: two consents issued two codes: {p1} {p2}");
        for (status, body) in [(s1, &p1), (s2, &p2), (sd, &pd)] {
            assert!([200, 404, 409].contains(&status), "trial {trial}: {status} {body}");
        }
        let (after, session) = server.api(Method::GET, &format!("/authz-sessions/v1/{sid}"), None).await;
        if let Some(prompt) = codes.first() {
            assert_eq!(after, 404, "trial {trial}: the completed session came back: {session}");
            assert_eq!(prompt["type"], "response");
        } else {
            assert_eq!(after, 200, "trial {trial}: no consent went through, so the session waits: {session}");
            assert_eq!(session["type"], "consent");
            if sd == 200 {
                assert_eq!(session["data"], json!({"trial": trial}), "trial {trial}: the data write stayed");
            }
        }
    }
}

#[tokio::test]
async fn a_completed_session_never_comes_back_on_sqlite() {
    race_data_against_consent(&TestServer::start().await).await;
}

#[tokio::test]
async fn a_completed_session_never_comes_back_on_postgres() {
    let url = crate::shared_database::fresh_database("gatehouse_e2e_session_race").await;
    let server = TestServer::start_with(&format!("[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\n")).await;
    race_data_against_consent(&server).await;
}

/// Every parameter has a bound; beyond it the request is refused with invalid_request and
/// the oversized value is not echoed back. The old code stored a 60 KB `state` per session.
#[tokio::test]
async fn oversized_request_parameters_are_refused_and_not_echoed() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let id = client_id(&info);

    let long_state = "s".repeat(3000);
    let prompt = server.start_session(&query(id, &[("state", &long_state)]), None, None).await;
    let uri = prompt["uri"].as_str().expect("an error for the client");
    let params = redirect_params(uri);
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    assert!(params["error_description"].contains("state"), "{params:?}");
    assert!(!params.contains_key("state"), "the oversized state is not echoed");

    for (name, size) in
        [("nonce", 600), ("login_hint", 600), ("claims", 9000), ("acr_values", 1100), ("x_custom", 2100)]
    {
        let value = "v".repeat(size);
        let prompt = server.start_session(&query(id, &[(name, &value)]), None, None).await;
        let params = redirect_params(prompt["uri"].as_str().unwrap_or_else(|| panic!("{name}: {prompt}")));
        assert_eq!(params["error"], "invalid_request", "{name}");
    }

    let many: Vec<(String, String)> = (0..70).map(|i| (format!("p{i}"), "x".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let prompt = server.start_session(&query(id, &many), None, None).await;
    assert!(redirect_params(prompt["uri"].as_str().unwrap())["error_description"].contains("parameters"));

    // Beyond the whole request's bound the request is not even parsed: an error page.
    let huge = query(id, &[("state", &"s".repeat(20_000))]);
    let prompt = server.start_session(&huge, None, None).await;
    assert_eq!((prompt["type"].as_str(), prompt["error"].as_str()), (Some("error"), Some("invalid_request")));
}

/// Session `data`, subject claims and every other front-end value are bounded; a refused
/// write changes nothing.
#[tokio::test]
async fn session_data_and_subject_values_are_bounded() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({})).await;
    let rp = Rp::new(&server, &info).await;
    let big = json!({ "blob": "x".repeat(17 * 1024) });

    let pending = rp.authorize(&["email"], &[]);
    let q = server.browse_authorize(&pending.url).await;
    let (status, problem) =
        server.api(Method::POST, "/authz-sessions/v1", Some(json!({"query": q, "data": big}))).await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("the limit is 16384"), "{problem}");

    let (_, sid) = open_session(&server, &rp, &["email"], &[]).await;
    let data_path = format!("/authz-sessions/v1/{sid}/data");
    server.api(Method::PUT, &data_path, Some(json!({"kept": true}))).await;
    let (status, _) = server.api(Method::PUT, &data_path, Some(big.clone())).await;
    assert_eq!(status, 400);
    assert_eq!(server.api(Method::GET, &data_path, None).await.1, json!({"kept": true}), "unchanged");

    let subject = format!("/authz-sessions/v1/{sid}/subject");
    for (bad, what) in [
        (json!({"sub": "a".repeat(256)}), "sub"),
        (json!({"sub": "alice\nbob"}), "control"),
        (json!({"sub": "alice", "acr": "a".repeat(300)}), "acr"),
        (json!({"sub": "alice", "amr": vec!["pwd"; 101]}), "amr"),
        (json!({"sub": "alice", "claims": big}), "claims"),
        (json!({"sub": "alice", "data": big}), "data"),
    ] {
        let (status, problem) = server.api(Method::PUT, &subject, Some(bad)).await;
        assert_eq!(status, 400, "{what}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains(what), "{what}: {problem}");
    }
    let prompt = server.submit_subject(&sid, alice()).await;
    assert_eq!(prompt["type"], "consent", "the session is still usable after refused subjects");
}

/// Live sessions are bounded per client and in all; a flood gets `temporarily_unavailable`
/// at the client, and completing a session makes room again.
#[tokio::test]
async fn live_sessions_are_bounded_per_client_and_in_total() {
    let server = TestServer::start_with("[limits]\nsessions_per_client = 3\nsessions_total = 5\n").await;
    let a = server.web_client(json!({})).await;
    let b = server.web_client(json!({})).await;
    let server = &server;
    let start = |client: &Value| {
        let q = query(client_id(client), &[("state", "st")]);
        async move { server.start_session(&q, None, None).await }
    };
    let mut a_sessions = Vec::new();
    for _ in 0..3 {
        let prompt = start(&a).await;
        assert_eq!(prompt["type"], "auth", "{prompt}");
        a_sessions.push(prompt["sid"].as_str().unwrap().to_owned());
    }
    let refused = start(&a).await;
    let params = redirect_params(refused["uri"].as_str().expect("an error for the client"));
    assert_eq!(params["error"], "temporarily_unavailable", "{refused}");
    assert_eq!(params["state"], "st");

    assert_eq!(start(&b).await["type"], "auth", "another client still has room");
    assert_eq!(start(&b).await["type"], "auth");
    let total = start(&b).await;
    assert_eq!(redirect_params(total["uri"].as_str().unwrap())["error"], "temporarily_unavailable", "total bound");

    let (status, _) = server.api(Method::DELETE, &format!("/authz-sessions/v1/{}", a_sessions[0]), None).await;
    assert_eq!(status, 200);
    assert_eq!(start(&a).await["type"], "auth", "a completed session frees its place");
}

/// Numbers from the front-end cannot overflow: an absurd token lifetime or `auth_time` is a
/// 400 that leaves the session usable (the old code panicked and lost the session).
#[tokio::test]
async fn absurd_lifetimes_and_auth_times_are_refused_and_the_session_survives() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({"grant_types": ["authorization_code", "refresh_token"]})).await;
    let rp = Rp::new(&server, &info).await;

    let (_, sid) = open_session(&server, &rp, &["email"], &[]).await;
    for auth_time in [json!(i64::MIN), json!(-1), json!(0), json!(i64::MAX)] {
        let (status, problem) = server
            .api(
                Method::PUT,
                &format!("/authz-sessions/v1/{sid}/subject"),
                Some(json!({"sub": "alice", "auth_time": auth_time})),
            )
            .await;
        assert_eq!(status, 400, "auth_time {auth_time}: {problem}");
    }
    server.submit_subject(&sid, alice()).await;
    let consent = format!("/authz-sessions/v1/{sid}/consent");
    for bad in [
        json!({"scope": "*", "access_token": {"lifetime": u64::MAX}}),
        json!({"scope": "*", "access_token": {"lifetime": 0}}),
        json!({"scope": "*", "id_token": {"lifetime": 10 * 24 * 3600}}),
        json!({"scope": "*", "refresh_token": {"issue": true, "lifetime": u64::MAX}}),
    ] {
        let (status, problem) = server.api(Method::PUT, &consent, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {problem}");
        assert!(problem["detail"].as_str().unwrap().contains("lifetime"), "{problem}");
    }
    let (_, code) =
        consent_to_code_after_subject(&server, &sid, json!({"scope": "*", "access_token": {"lifetime": 600}})).await;
    assert!(!code.is_empty(), "the session still completes");

    // The oldest allowed auth_time with a max_age: no overflow, a fresh login is asked for.
    let pending = rp.authorize(&["email"], &[]);
    let q = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&q, None, None).await;
    let sid = prompt["sid"].as_str().unwrap();
    let prompt = server.submit_subject(sid, json!({"sub": "alice", "auth_time": 946_684_800})).await;
    let sso = prompt["sso"]["token"].as_str().unwrap().to_owned();
    server.submit_consent(sid, json!({"scope": "*", "long_lived": true})).await;
    let pending = rp.authorize(&["email"], &[("max_age", &u64::MAX.to_string())]);
    let q = server.browse_authorize(&pending.url).await;
    assert_eq!(server.start_session(&q, Some(&sso), None).await["type"], "response", "max_age near u64::MAX");
    let pending = rp.authorize(&["email"], &[("max_age", "60")]);
    let q = server.browse_authorize(&pending.url).await;
    assert_eq!(server.start_session(&q, Some(&sso), None).await["type"], "auth", "an old login is too old");
}

async fn consent_to_code_after_subject(server: &TestServer, sid: &str, consent: Value) -> (Value, String) {
    let prompt = server.submit_consent(sid, consent).await;
    let code = redirect_params(prompt["uri"].as_str().unwrap())["code"].clone();
    (prompt, code)
}

/// Deleting a client revokes its grants and forgets its consents: a client registered again
/// under the same id gets nothing of the old one (the old code answered `prompt=none` at once).
#[tokio::test]
async fn a_deleted_client_takes_its_grants_and_consents_with_it() {
    let server = TestServer::start().await;
    let info = server.web_client(json!({"client_id": "reborn"})).await;
    let rp = Rp::new(&server, &info).await;
    let consent = json!({"scope": "*", "long_lived": true, "refresh_token": {"issue": true}});
    let (prompt, old) = login(&server, &rp, &["email", "offline_access"], alice(), consent).await;
    let sso = prompt["sso"]["token"].as_str().unwrap().to_owned();
    let refresh = old.tokens.refresh_token().expect("a refresh token").secret().clone();
    let access = old.tokens.access_token().secret().clone();
    assert!(rp.userinfo(&access).await.is_ok());

    let (status, _) = server.admin(Method::DELETE, "/clients/v1/reborn", None).await;
    assert_eq!(status, 204);
    let new_info =
        server.web_client(json!({"client_id": "reborn", "redirect_uris": ["https://other.example.com/cb"]})).await;

    let pending = {
        let rp = Rp::new(&server, &new_info).await;
        rp.authorize(&["email"], &[("prompt", "none")])
    };
    let q = server.browse_authorize(&pending.url).await;
    let prompt = server.start_session(&q, Some(&sso), None).await;
    assert_eq!(
        redirect_params(prompt["uri"].as_str().unwrap())["error"],
        "consent_required",
        "the old client's consent does not serve the new one: {prompt}"
    );

    let refreshed = server
        .http
        .post(server.url("/token"))
        .basic_auth("reborn", new_info["client_secret"].as_str())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 400);
    assert_eq!(refreshed.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let userinfo = server.http.get(server.url("/userinfo")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(userinfo.status(), 401, "the old access token stopped working");
}

/// A consent policy that would grant does not silence `prompt=consent`: the user is asked
/// (OpenID Connect Core §3.1.2.1). On the old code the policy's grant won.
#[tokio::test]
async fn prompt_consent_reaches_the_user_even_when_a_policy_would_grant() {
    use crate::support::plugins::{plugin_dir, plugins_config};
    let dir = plugin_dir(&[(
        "consent",
        "first-party-consent",
        "kind = \"consent-policy\"\nversion = \"1\"\n[config]\nfirst_party_clients = [\"portal\"]\n".into(),
    )]);
    let server = TestServer::start_with(&plugins_config(dir.path())).await;
    let info = server.web_client(json!({"client_id": "portal"})).await;
    let rp = Rp::new(&server, &info).await;

    let (_, sid) = open_session(&server, &rp, &["email"], &[]).await;
    assert_eq!(server.submit_subject(&sid, alice()).await["type"], "response", "the policy grants silently");

    let (pending, sid) = open_session(&server, &rp, &["email"], &[("prompt", "consent")]).await;
    let prompt = server.submit_subject(&sid, alice()).await;
    assert_eq!(prompt["type"], "consent", "prompt=consent asks the user: {prompt}");
    let (prompt, _) = consent_to_code_after_subject(&server, &sid, json!({"scope": "*"})).await;
    rp.finish(&server, pending, prompt["uri"].as_str().unwrap()).await;
}
