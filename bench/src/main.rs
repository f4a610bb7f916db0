//! Drives complete logins against a running Gatehouse, the way a login front-end and a relying
//! party together do: start session → subject → consent → token → UserInfo. Prints logins per
//! second and per-login latency. With `--mode refresh` or `--mode introspect`, each task logs in
//! once and then repeats refresh-token grants (rotating the token each time) or introspection
//! requests for its access token. `--mode par-login` pushes each request first (RFC 9126) as an
//! HS256-signed request object. `--mode logout` logs in at two clients (the second by single
//! sign-on) and then logs out (RP-initiated, confirmed through the logout-request API), timing
//! the logout; `--mode receive` runs the https back-channel receivers those clients registered.
//! Used by `bench/run.sh`; not a test.

mod receiver;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Parser, Clone)]
struct Args {
    /// The issuer (base URL) of the server.
    #[arg(long)]
    issuer: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    #[arg(long)]
    redirect_uri: String,
    /// The authorization-session API token.
    #[arg(long)]
    api_token: String,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// What each task repeats: whole logins, refresh-token grants, or introspection requests.
    #[arg(long, value_enum, default_value_t = Mode::Login)]
    mode: Mode,
    /// `--mode logout`: the client logged in to second, by single sign-on (same secret).
    #[arg(long)]
    second_client_id: Option<String>,
    /// `--mode logout`: a registered post_logout_redirect_uri of the first client.
    #[arg(long)]
    post_logout_redirect_uri: Option<String>,
    /// `--mode receive`: the loopback ports to receive back-channel logouts on.
    #[arg(long, value_delimiter = ',')]
    receive_ports: Vec<u16>,
    /// `--mode receive`: where to write the receivers' certificate (the provider's CA file).
    #[arg(long)]
    ca_out: Option<std::path::PathBuf>,
    /// The server's process id: the CPU time it spends during the timed run is printed per
    /// operation (`server_cpu_ms_per_op`).
    #[arg(long)]
    server_pid: Option<u32>,
    /// An admin token: the storage statements and write transactions of the timed run, read
    /// from `/monitor/v1/metrics` before and after, are printed per operation.
    #[arg(long)]
    admin_token: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Login,
    Refresh,
    Introspect,
    ParLogin,
    Logout,
    Receive,
}

/// CPU time (user + system, all threads, living and ended) of process `pid`, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux as built everywhere).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The storage counters of `/monitor/v1/metrics`: statements read and written, and write
/// transactions committed.
#[derive(Clone, Copy, Default)]
struct StorageWork {
    reads: u64,
    writes: u64,
    transactions: u64,
}

async fn storage_work(http: &reqwest::Client, a: &Args, token: &str) -> Option<StorageWork> {
    let m: Value =
        http.get(format!("{}/monitor/v1/metrics", a.issuer)).bearer_auth(token).send().await.ok()?.json().await.ok()?;
    let counters = m["counters"].as_object()?;
    let mut w = StorageWork::default();
    for (name, v) in counters {
        let n = v["count"].as_u64().unwrap_or(0);
        if name.starts_with("storage.statements{") {
            if name.contains("kind=read") {
                w.reads += n;
            } else {
                w.writes += n;
            }
        } else if name == "storage.write_transactions" {
            w.transactions += n;
        }
    }
    Some(w)
}

/// One task's state between requests: the tokens of its login, and the SSO credential the
/// login made.
struct Tokens {
    access: String,
    refresh: Option<String>,
    sso: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A form POST with the client's Basic credentials; the JSON answer, refused unless 2xx.
async fn post_form(http: &reqwest::Client, a: &Args, path: &str, form: String) -> Result<Value, String> {
    post_form_as(http, a, &a.client_id, path, form).await
}

async fn post_form_as(
    http: &reqwest::Client,
    a: &Args,
    client_id: &str,
    path: &str,
    form: String,
) -> Result<Value, String> {
    let resp = http
        .post(format!("{}{path}", a.issuer))
        .basic_auth(client_id, Some(&a.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if status.is_success() { Ok(body) } else { Err(format!("{path}: {status} {body}")) }
}

/// One refresh-token grant; the rotated refresh token goes back into `tokens`.
async fn refresh(http: &reqwest::Client, a: &Args, tokens: &mut Tokens) -> Result<(), String> {
    let token = tokens.refresh.as_deref().ok_or("no refresh token")?;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", token)
        .finish();
    let answer = post_form(http, a, "/token", form).await?;
    tokens.refresh = Some(answer["refresh_token"].as_str().ok_or("no rotated refresh token")?.to_owned());
    tokens.access = answer["access_token"].as_str().ok_or("no access token")?.to_owned();
    Ok(())
}

/// One introspection of the task's access token, which must be active.
async fn introspect(http: &reqwest::Client, a: &Args, tokens: &Tokens) -> Result<(), String> {
    let form = url::form_urlencoded::Serializer::new(String::new()).append_pair("token", &tokens.access).finish();
    let answer = post_form(http, a, "/introspect", form).await?;
    if answer["active"] == true { Ok(()) } else { Err(format!("inactive: {answer}")) }
}

/// An HS256 JWS of `claims`, keyed with the client secret (a signed request object).
fn hs256(secret: &str, claims: &Value) -> String {
    let header = b64(br#"{"alg":"HS256","typ":"oauth-authz-req+jwt"}"#);
    let input = format!("{header}.{}", b64(claims.to_string().as_bytes()));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    format!("{input}.{}", b64(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref()))
}

/// The authentication request's query: as is, or (`--mode par-login`) pushed as a signed
/// request object and referred to by its `request_uri`.
async fn authorization_query(
    http: &reqwest::Client,
    a: &Args,
    client_id: &str,
    n: u64,
    challenge: &str,
) -> Result<String, String> {
    let params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", &a.redirect_uri),
        ("scope", "openid email offline_access"),
        ("state", &format!("s{n}")),
        ("nonce", &format!("n{n}")),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    if a.mode != Mode::ParLogin {
        return Ok(url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish());
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut claims: serde_json::Map<String, Value> = params.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    for (k, v) in [("iss", json!(client_id)), ("aud", json!(a.issuer)), ("iat", json!(now)), ("nbf", json!(now))] {
        claims.insert(k.into(), v);
    }
    claims.insert("exp".into(), json!(now + 60));
    claims.insert("jti".into(), json!(format!("j{n}-{now}")));
    let object = hs256(&a.client_secret, &Value::Object(claims));
    let form = url::form_urlencoded::Serializer::new(String::new()).append_pair("request", &object).finish();
    let pushed = post_form_as(http, a, client_id, "/par", form).await?;
    let request_uri = pushed["request_uri"].as_str().ok_or_else(|| format!("no request_uri: {pushed}"))?;
    Ok(url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .finish())
}

async fn login(http: &reqwest::Client, a: &Args, n: u64) -> Result<Tokens, String> {
    login_at(http, a, &a.client_id, n, None).await
}

/// A complete login at `client_id`, resuming the subject session of `sso` if given.
async fn login_at(
    http: &reqwest::Client,
    a: &Args,
    client_id: &str,
    n: u64,
    sso: Option<&str>,
) -> Result<Tokens, String> {
    let verifier = b64(&Sha256::digest(format!("verifier-{n}-{client_id}")));
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    let query = authorization_query(http, a, client_id, n, &challenge).await?;
    let api = |method: reqwest::Method, path: String, body: Value| {
        http.request(method, format!("{}{path}", a.issuer)).bearer_auth(&a.api_token).json(&body).send()
    };
    let mut prompt: Value =
        api(reqwest::Method::POST, "/authz-sessions/v1".into(), json!({ "query": query, "sso_token": sso }))
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
    let mut made_sso = None;
    loop {
        let sid = prompt["sid"].as_str().unwrap_or_default().to_owned();
        let (path, body) = match prompt["type"].as_str() {
            Some("auth") => {
                let subject = json!({ "sub": format!("user{}", n % 1000), "amr": ["pwd"], "claims": { "email": "u@example.com" } });
                (format!("/authz-sessions/v1/{sid}/subject"), subject)
            }
            Some("consent") => {
                if let Some(token) = prompt["sso"]["token"].as_str() {
                    made_sso = Some(token.to_owned());
                }
                let consent = json!({ "scope": "*", "refresh_token": { "issue": a.mode == Mode::Refresh } });
                (format!("/authz-sessions/v1/{sid}/consent"), consent)
            }
            Some("response") => break,
            _ => return Err(format!("unexpected prompt {prompt}")),
        };
        prompt = api(reqwest::Method::PUT, path, body)
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
    }
    let code = prompt["parameters"]["code"].as_str().ok_or_else(|| format!("no code: {prompt}"))?.to_owned();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", &a.redirect_uri)
        .append_pair("code_verifier", &verifier)
        .finish();
    let tokens = post_form_as(http, a, client_id, "/token", form).await?;
    let at = tokens["access_token"].as_str().ok_or_else(|| format!("no access token: {tokens}"))?;
    let userinfo =
        http.get(format!("{}/userinfo", a.issuer)).bearer_auth(at).send().await.map_err(|e| e.to_string())?;
    if !userinfo.status().is_success() {
        return Err(format!("userinfo: {}", userinfo.status()));
    }
    let refresh = tokens["refresh_token"].as_str().map(str::to_owned);
    Ok(Tokens { access: at.to_owned(), refresh, sso: made_sso.or(sso.map(str::to_owned)) })
}

/// An RP-initiated logout of the subject session `sso`: the end-session endpoint, then the
/// front-end's confirmation through the logout-request API.
async fn logout(http: &reqwest::Client, a: &Args, sso: &str) -> Result<(), String> {
    let redirect = a.post_logout_redirect_uri.as_deref().ok_or("--post-logout-redirect-uri is needed")?;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &a.client_id)
        .append_pair("post_logout_redirect_uri", redirect)
        .append_pair("state", "bench")
        .finish();
    let resp = http.get(format!("{}/logout?{query}", a.issuer)).send().await.map_err(|e| e.to_string())?;
    let location = resp.headers().get("location").and_then(|l| l.to_str().ok()).ok_or("no redirect from /logout")?;
    let id = location.split("logout_request=").nth(1).ok_or("no logout_request")?.to_owned();
    let done: Value = http
        .post(format!("{}/logout-requests/v1/{id}/confirm", a.issuer))
        .bearer_auth(&a.api_token)
        .json(&json!({ "sso_token": sso }))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if done["ended"] == true { Ok(()) } else { Err(format!("the logout ended nothing: {done}")) }
}

/// One timed operation of the benchmark's mode; `tokens` is the task's login, made on first use.
async fn step(http: &reqwest::Client, a: &Args, n: u64, tokens: &mut Option<Tokens>) -> Result<(), String> {
    if matches!(a.mode, Mode::Login | Mode::ParLogin) {
        return login(http, a, n).await.map(|_| ());
    }
    if tokens.is_none() {
        *tokens = Some(login(http, a, n).await?);
    }
    let t = tokens.as_mut().expect("logged in above");
    match a.mode {
        Mode::Refresh => refresh(http, a, t).await,
        _ => introspect(http, a, t).await,
    }
}

/// `--mode logout`: two logins of one subject session (untimed), then its logout (timed).
async fn logout_cycle(http: &reqwest::Client, a: &Args, n: u64) -> Result<Duration, String> {
    let first = login(http, a, n).await?;
    let sso = first.sso.ok_or("the login made no SSO credential")?;
    if let Some(second) = &a.second_client_id {
        login_at(http, a, second, n, Some(&sso)).await?;
    }
    let t = Instant::now();
    logout(http, a, &sso).await?;
    Ok(t.elapsed())
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    if args.mode == Mode::Receive {
        let ca_out = args.ca_out.clone().unwrap_or_else(|| "receiver-ca.pem".into());
        if let Err(e) = receiver::serve(&args.receive_ports, &ca_out).await {
            eprintln!("the receivers failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client");
    // Warm up: a few logins so connections and caches exist.
    for n in 0..20 {
        if let Err(e) = login(&http, &args, n).await {
            eprintln!("warm-up login failed: {e}");
            std::process::exit(1);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(1_000_000));
    let work_before = match &args.admin_token {
        Some(token) => storage_work(&http, &args, token).await,
        None => None,
    };
    let cpu_before = args.server_pid.and_then(cpu_seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (http, args, stop, counter, errors) =
            (http.clone(), args.clone(), stop.clone(), counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut tokens = None;
            if matches!(args.mode, Mode::Refresh | Mode::Introspect) {
                // The task's own login happens before the clock starts.
                match login(&http, &args, counter.fetch_add(1, Ordering::Relaxed)).await {
                    Ok(t) => tokens = Some(t),
                    Err(e) => eprintln!("login failed: {e}"),
                }
            }
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let outcome = match args.mode {
                    Mode::Logout => logout_cycle(&http, &args, n).await,
                    _ => step(&http, &args, n, &mut tokens).await.map(|()| t.elapsed()),
                };
                match outcome {
                    Ok(latency) => latencies.push(latency),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("request failed: {e}");
                        }
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_before.zip(args.server_pid.and_then(cpu_seconds)).map(|(b, a)| a - b);
    let work_after = match &args.admin_token {
        Some(token) => storage_work(&http, &args, token).await,
        None => None,
    };
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    let what = match args.mode {
        Mode::Login => "logins",
        Mode::ParLogin => "par_logins",
        Mode::Logout => "logout_cycles",
        Mode::Refresh => "refresh_grants",
        Mode::Introspect => "introspections",
        Mode::Receive => unreachable!("the receivers returned above"),
    };
    println!(
        "{what}_per_s={:.0} {what}={} p50_ms={:.2} p99_ms={:.2} errors={} concurrency={}",
        all.len() as f64 / elapsed,
        all.len(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        errors.load(Ordering::Relaxed),
        args.concurrency
    );
    // The untimed logins of refresh and introspection tasks (one each) are in these figures too.
    let ops = all.len().max(1) as f64;
    if let Some(cpu) = cpu {
        println!("server_cpu_ms_per_op={:.3} server_cpu_s={cpu:.2}", cpu * 1000.0 / ops);
    }
    if let (Some(b), Some(a)) = (work_before, work_after) {
        // The metrics requests themselves read nothing from storage.
        println!(
            "statements_per_op={:.2} reads_per_op={:.2} writes_per_op={:.2} write_transactions_per_op={:.2}",
            (a.reads + a.writes - b.reads - b.writes) as f64 / ops,
            (a.reads - b.reads) as f64 / ops,
            (a.writes - b.writes) as f64 / ops,
            (a.transactions - b.transactions) as f64 / ops,
        );
    }
}
