//! Three `gatehouse` processes on one PostgreSQL database act as one provider: a login hops
//! across them, plugins installed or rolled back on one host serve on all and survive their
//! restart, and a client change or a revocation on one host holds on the others.

use std::time::{Duration, Instant};

use openidconnect::OAuth2TokenResponse;
use openidconnect::reqwest::Method;
use serde_json::{Value, json};

use crate::shared_database::shared_config;
use crate::support::cluster::Host;
use crate::support::rp::Rp;
use crate::support::{TestServer, alice};

/// How long the tests give a change to reach every host. The documented bound is 2 s (a
/// feed read every second, or at once with `NOTIFY`, plus the work); the margin is for a
/// loaded machine that also compiles a plugin on each host.
const CONVERGENCE: Duration = Duration::from_secs(10);

/// Three hosts on a fresh database; with `notify`, they also hear of changes by `NOTIFY`.
async fn three_hosts(database: &str, notify: bool) -> (Vec<Host>, tempfile::TempDir) {
    let (extra, keys) = shared_config(database).await;
    let first = Host::start(None, notify, &extra).await;
    let issuer = first.server.issuer.clone();
    let (second, third) =
        tokio::join!(Host::start(Some(&issuer), notify, &extra), Host::start(Some(&issuer), notify, &extra));
    (vec![first, second, third], keys)
}

/// Waits until `check` holds on a host, or panics saying what was last seen.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(()) => return started.elapsed(),
            Err(seen) if started.elapsed() > CONVERGENCE => panic!("{what} not within {CONVERGENCE:?}: {seen}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// What `server` says serves of plugin `name`, and every host's report of it.
async fn plugin_on(server: &TestServer, name: &str) -> (Option<String>, Value) {
    let (status, list) = server.admin(Method::GET, "/admin/v1/plugins", None).await;
    assert_eq!(status, 200, "{list}");
    let entry = list.as_array().unwrap().iter().find(|p| p["name"] == name).cloned().unwrap_or(Value::Null);
    (entry["active_version"].as_str().map(str::to_owned), entry)
}

/// A login whose consent the first-party consent policy answers on `server`: `true` when it
/// was granted without a consent prompt.
async fn consent_is_automatic(server: &TestServer, rp: &Rp) -> bool {
    let pending = rp.authorize(&["openid"], &[]);
    let query = server.browse_authorize(&pending.url).await;
    let sid = server.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    let prompt = server.submit_subject(&sid, json!({"sub": "alice"})).await;
    prompt["type"] == "response"
}

fn consent_manifest(version: &str, first_party: &str) -> String {
    format!(
        "name = \"consent\"\nkind = \"consent-policy\"\nversion = \"{version}\"\n[config]\nlong_lived = false\nfirst_party_clients = [{first_party}]\n"
    )
}

#[tokio::test]
async fn a_login_hops_across_three_host_processes() {
    let (hosts, _keys) = three_hosts("gatehouse_cluster_login", false).await;
    let [h1, h2, h3] = [&hosts[0].server, &hosts[1].server, &hosts[2].server];
    let jwks = |s: &TestServer| {
        let req = s.http.get(s.url("/jwks.json"));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(jwks(h1).await, jwks(h2).await, "one set of keys, though the hosts started at once");
    assert_eq!(jwks(h1).await, jwks(h3).await);

    let info = h2.web_client(json!({})).await;
    let rp = Rp::new(h1, &info).await;
    let pending = rp.authorize(&["email"], &[]);
    let query = h3.browse_authorize(&pending.url.replace(&h1.base, &h3.base)).await;
    let sid = h1.start_session(&query, None, None).await["sid"].as_str().unwrap().to_owned();
    assert_eq!(h2.submit_subject(&sid, alice()).await["type"], "consent");
    let prompt = h3.submit_consent(&sid, json!({"scope": "*"})).await;
    let login = rp.finish(h1, pending, prompt["uri"].as_str().unwrap()).await;
    assert_eq!(login.userinfo["email"], "alice@example.com");
    let userinfo: Value = h2
        .http
        .get(h2.url("/userinfo"))
        .bearer_auth(login.tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], "alice@example.com", "every host serves the token of every other");

    for host in &hosts {
        let (status, ready) = host.server.api(Method::GET, "/monitor/v1/readiness", None).await;
        assert_eq!((status, &ready["checks"]["store"]), (200, &json!("ok")), "{ready}");
        let (status, _) = host.server.api(Method::GET, "/monitor/v1/healthcheck", None).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn a_plugin_installed_on_one_host_serves_on_all_and_survives_their_restart() {
    let (mut hosts, _keys) = three_hosts("gatehouse_cluster_plugins", true).await;
    let info = hosts[0].server.web_client(json!({})).await;
    let client_id = info["client_id"].as_str().unwrap().to_owned();
    let rp = Rp::new(&hosts[0].server, &info).await;

    let (status, body) = hosts[0].server.upload_plugin(&consent_manifest("1", ""), "first-party-consent").await;
    assert_eq!(status, 201, "{body}");
    let (status, body) =
        hosts[0].server.upload_plugin(&consent_manifest("2", &format!("\"{client_id}\"")), "first-party-consent").await;
    assert_eq!(status, 201, "{body}");
    let started = Instant::now();
    for host in &hosts[1..] {
        eventually("version 2 serving on every host", || async {
            match plugin_on(&host.server, "consent").await {
                (Some(v), _) if v == "2" => Ok(()),
                (_, seen) => Err(seen.to_string()),
            }
        })
        .await;
        assert!(consent_is_automatic(&host.server, &rp).await, "version 2 grants consent on {}", host.name());
    }
    eprintln!("plugin version reached every host in {:?}", started.elapsed());
    let (_, entry) = plugin_on(&hosts[0].server, "consent").await;
    eventually("every host's report", || async {
        let (_, entry) = plugin_on(&hosts[0].server, "consent").await;
        let reports = entry["hosts"].as_array().cloned().unwrap_or_default();
        let serving_two = reports.iter().filter(|r| r["serving"] == "2").count();
        if serving_two == 3 { Ok(()) } else { Err(entry.to_string()) }
    })
    .await;
    assert_eq!(entry["clustered"], true, "{entry}");
    for host in &hosts[1..] {
        let (status, metrics) = host.server.admin(Method::GET, "/monitor/v1/metrics", None).await;
        assert_eq!(status, 200);
        assert_eq!(metrics["gauges"]["cluster.plugins.diverged"]["value"], 0.0, "{}", metrics["gauges"]);
        assert!(metrics["counters"]["cluster.feed.changes"]["count"].as_u64() >= Some(1), "{}", metrics["counters"]);
        assert!(metrics["gauges"]["cluster.feed.lag_ms"]["value"].as_f64().is_some(), "{}", metrics["gauges"]);
    }

    // A rollback on host 2 is seen on hosts 1 and 3.
    let (status, body) = hosts[1].server.admin(Method::POST, "/admin/v1/plugins/consent/rollback", None).await;
    assert_eq!((status, &body["active_version"]), (200, &json!("1")), "{body}");
    for host in [&hosts[0], &hosts[2]] {
        eventually("the rollback on every host", || async {
            match plugin_on(&host.server, "consent").await {
                (Some(v), _) if v == "1" => Ok(()),
                (_, seen) => Err(seen.to_string()),
            }
        })
        .await;
        assert!(!consent_is_automatic(&host.server, &rp).await, "version 1 asks for consent on {}", host.name());
    }

    // Back to 2, then every host restarts: the catalog, not memory, decides what serves.
    let (status, _) =
        hosts[2].server.admin(Method::POST, "/admin/v1/plugins/consent/activate", Some(json!({"version": "2"}))).await;
    assert_eq!(status, 204);
    for host in &mut hosts {
        host.restart().await;
    }
    for host in &hosts {
        let (active, entry) = plugin_on(&host.server, "consent").await;
        assert_eq!(active.as_deref(), Some("2"), "after the restart, {}: {entry}", host.name());
        assert!(consent_is_automatic(&host.server, &rp).await, "version 2 serves after the restart on {}", host.name());
    }
}

#[tokio::test]
async fn a_client_change_or_a_revocation_on_one_host_holds_on_every_host() {
    let (hosts, _keys) = three_hosts("gatehouse_cluster_clients", false).await;
    let [h1, h2, h3] = [&hosts[0].server, &hosts[1].server, &hosts[2].server];
    let client = h1
        .register(json!({"client_name": "Service", "grant_types": ["client_credentials"], "response_types": []}))
        .await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let token = async |s: &TestServer, secret: String| {
        s.token_request(Some((&id, &secret)), &[("grant_type", "client_credentials")]).await
    };
    // Each host has the client in its cache now.
    for s in [h1, h2, h3] {
        assert_eq!(token(s, secret.clone()).await.0, 200);
    }

    let (status, rotated) = h1.admin(Method::POST, &format!("/clients/v1/{id}/secret"), None).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    for s in [h2, h3] {
        let took = eventually("the old secret refused", || async {
            match token(s, secret.clone()).await {
                (401, _, _) => Ok(()),
                (status, body, _) => Err(format!("{status} {body}")),
            }
        })
        .await;
        eprintln!("a rotated secret was refused on {} after {took:?}", s.base);
        assert_eq!(token(s, new_secret.clone()).await.0, 200, "the new secret works");
    }

    // A token revoked on host 3 is refused by introspection on hosts 1 and 2 at once.
    let (_, body, _) = token(h1, new_secret.clone()).await;
    let access: Value = serde_json::from_str(&body).unwrap();
    let access = access["access_token"].as_str().unwrap().to_owned();
    let form = |extra: &[(&str, &str)]| {
        let mut f = vec![("token", access.as_str())];
        f.extend_from_slice(extra);
        f.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<Vec<_>>()
    };
    let post =
        |s: &TestServer, path: &str| s.http.post(s.url(path)).basic_auth(&id, Some(&new_secret)).form(&form(&[]));
    assert_eq!(post(h3, "/revoke").send().await.unwrap().status(), 200);
    for s in [h1, h2] {
        let answer: Value = post(s, "/introspect").send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["active"], false, "revoked everywhere from the next request: {answer}");
    }

    // A client deleted on host 1 is refused on hosts 2 and 3.
    let (status, _) = h1.admin(Method::DELETE, &format!("/clients/v1/{id}"), None).await;
    assert_eq!(status, 204);
    for s in [h2, h3] {
        eventually("the deleted client refused", || async {
            match token(s, new_secret.clone()).await {
                (401, _, _) => Ok(()),
                (status, body, _) => Err(format!("{status} {body}")),
            }
        })
        .await;
    }
}

/// The `[storage]` and `[signing]` of hosts on `url`, sharing the master key in `keys`.
fn storage_config(url: &str, keys: &std::path::Path) -> String {
    let key_file = keys.join("master.key");
    std::fs::write(&key_file, "7".repeat(64)).unwrap();
    format!(
        "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 4\n[signing]\nmaster_key_file = \"{}\"\n",
        key_file.display()
    )
}

/// Starts an authorization session on `server` for a fresh login of `rp`: the status, the
/// body and how long it took. The session is written to the store, so it needs the database.
async fn try_session(server: &TestServer, rp: &Rp) -> (u16, Value, Duration) {
    let started = Instant::now();
    let pending = rp.authorize(&["openid"], &[]);
    let query = pending.url.split_once('?').unwrap().1.to_owned();
    let request = server
        .http
        .post(server.url("/authz-sessions/v1"))
        .bearer_auth(crate::support::AUTHZ_TOKEN)
        .json(&json!({ "query": query }))
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    match request {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            (status, body, started.elapsed())
        }
        Err(e) => (0, json!(e.to_string()), started.elapsed()),
    }
}

#[tokio::test]
async fn hosts_ride_out_a_postgres_outage_and_lose_nothing_acknowledged() {
    let pg = crate::support::postgres::OwnPostgres::start(None);
    let keys = tempfile::tempdir().unwrap();
    let extra = storage_config(&pg.url, keys.path());
    let h1 = Host::start(None, true, &extra).await;
    let h2 = Host::start(Some(&h1.server.issuer), true, &extra).await;
    let info = h1.server.web_client(json!({})).await;
    let rp = Rp::new(&h1.server, &info).await;
    // Writes acknowledged before the outage.
    let mut clients = Vec::new();
    for (i, host) in [&h1, &h2, &h1, &h2].into_iter().enumerate() {
        let c = host.server.register(json!({"client_name": format!("before {i}"), "grant_types": ["client_credentials"], "response_types": []})).await;
        clients.push((c["client_id"].as_str().unwrap().to_owned(), c["client_secret"].as_str().unwrap().to_owned()));
    }

    pg.pause();
    let mut during = Vec::new();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(3) {
        for host in [&h1, &h2] {
            during.push(try_session(&host.server, &rp).await);
        }
    }
    pg.resume();
    let resumed = Instant::now();
    for host in [&h1, &h2] {
        eventually("the host serving again after the outage", || async {
            match try_session(&host.server, &rp).await {
                (200, _, _) => Ok(()),
                (status, body, _) => Err(format!("{status} {body}")),
            }
        })
        .await;
    }
    eprintln!(
        "hosts recovered {:?} after PostgreSQL came back; {} requests during the outage",
        resumed.elapsed(),
        during.len()
    );

    assert!(!during.is_empty());
    for (status, body, took) in &during {
        // The authorization-session API answers its errors as an `error` prompt.
        let prompt = *status == 200 && body["type"] == "error";
        assert!(prompt || *status == 503, "a clean failure during the outage: {status} {body}");
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        assert!(*took < Duration::from_secs(12), "no request hangs during the outage: {took:?}");
    }
    for host in [&h1, &h2] {
        for (id, secret) in &clients {
            let (status, body, _) =
                host.server.token_request(Some((id, secret)), &[("grant_type", "client_credentials")]).await;
            assert_eq!(status, 200, "a client acknowledged before the outage still works on {}: {body}", host.name());
        }
        let (status, ready) = host.server.api(Method::GET, "/monitor/v1/readiness", None).await;
        assert_eq!(status, 200, "ready again: {ready}");
    }
}

#[tokio::test]
async fn a_host_killed_mid_load_leaves_the_others_serving_and_nothing_acknowledged_lost() {
    let (mut hosts, _keys) = three_hosts("gatehouse_cluster_sigkill", false).await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for host in &hosts {
        let (server_url, http) = (host.server.base.clone(), host.server.http.clone());
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut failures_after_kill = 0;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let answer = http
                    .post(format!("{server_url}/clients/v1"))
                    .bearer_auth(crate::support::ADMIN_TOKEN)
                    .json(&json!({"client_name": format!("load {n}"), "grant_types": ["client_credentials"], "response_types": []}))
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status() == 201 => {
                        let body: Value = r.json().await.unwrap();
                        acknowledged.lock().unwrap().push(body["client_id"].as_str().unwrap().to_owned());
                    }
                    _ => failures_after_kill += 1,
                }
            }
            failures_after_kill
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    hosts[1].kill();
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let failures: Vec<usize> = futures_join(load).await;
    assert_eq!(failures[0], 0, "host 1 kept serving");
    assert_eq!(failures[2], 0, "host 3 kept serving");

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 10, "the load ran: {}", acknowledged.len());
    for id in &acknowledged {
        for host in [&hosts[0], &hosts[2]] {
            let (status, _) = host.server.admin(Method::GET, &format!("/clients/v1/{id}"), None).await;
            assert_eq!(status, 200, "client {id}, acknowledged before or after the kill, is on {}", host.name());
        }
    }
    hosts[1].restart().await;
    let last = acknowledged.last().unwrap();
    let (status, _) = hosts[1].server.admin(Method::GET, &format!("/clients/v1/{last}"), None).await;
    assert_eq!(status, 200, "the killed host came back with everything");
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<usize>>) -> Vec<usize> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn the_postgres_connection_is_tls_verified_by_name_and_ca() {
    let ca = crate::support::tls::TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = ca.server_files(certs.path(), "postgres");
    let pg = crate::support::postgres::OwnPostgres::start(Some((&cert, &key)));
    let keys = tempfile::tempdir().unwrap();
    let verified = format!("{} sslmode=verify-full", pg.url);
    let key_file = keys.path().join("master.key");
    std::fs::write(&key_file, "7".repeat(64)).unwrap();
    let extra = format!(
        "[storage]\nbackend = \"postgres\"\nurl = \"{verified}\"\npool_size = 4\ntls_ca_file = \"{}\"\n[signing]\nmaster_key_file = \"{}\"\n",
        ca.file.display(),
        key_file.display()
    );
    let server = TestServer::start_with(&extra).await;
    let client = server
        .register(json!({"client_name": "over TLS", "grant_types": ["client_credentials"], "response_types": []}))
        .await;
    let (status, body, _) = server
        .token_request(
            Some((client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap())),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The server's connections are encrypted: PostgreSQL says so.
    let (db, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let encrypted: i64 = db.query_one("SELECT count(*) FROM pg_stat_ssl WHERE ssl", &[]).await.unwrap().get(0);
    assert!(encrypted >= 1, "Gatehouse's pool connects over TLS");

    // Another CA's certificate, or a name the certificate does not carry, is refused at start.
    let other = crate::support::tls::TestCa::new();
    for (url, ca_file, why) in [
        (verified.clone(), other.file.clone(), "a certificate from another CA"),
        (
            format!(
                "{} sslmode=verify-full",
                pg.url.replace("host=127.0.0.1", "host=pg.example.test hostaddr=127.0.0.1")
            ),
            ca.file.clone(),
            "a name not in the certificate",
        ),
    ] {
        let data = tempfile::tempdir().unwrap();
        let config = format!(
            "data_dir = \"{}\"\n[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\ntls_ca_file = \"{}\"\n",
            data.path().display(),
            ca_file.display()
        );
        let config = gatehouse_server::Config::from_toml(&config).unwrap();
        let err = gatehouse_server::Gatehouse::build(&config, Default::default()).await.err().expect(why);
        assert!(err.to_string().contains("storage"), "{why}: {err}");
        assert!(!err.to_string().contains("password"), "{err}");
    }
}
