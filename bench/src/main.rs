//! Drives complete logins against a running Gatehouse, the way a login front-end and a relying
//! party together do: start session → subject → consent → token → UserInfo. Prints logins per
//! second and per-login latency. With `--mode refresh` or `--mode introspect`, each task logs in
//! once and then repeats refresh-token grants (rotating the token each time) or introspection
//! requests for its access token. Used by `bench/run.sh`; not a test.

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
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Login,
    Refresh,
    Introspect,
}

/// One task's state between requests: the tokens of its login.
struct Tokens {
    access: String,
    refresh: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A form POST with the client's Basic credentials; the JSON answer, refused unless 200.
async fn post_form(http: &reqwest::Client, a: &Args, path: &str, form: String) -> Result<Value, String> {
    let resp = http
        .post(format!("{}{path}", a.issuer))
        .basic_auth(&a.client_id, Some(&a.client_secret))
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

async fn login(http: &reqwest::Client, a: &Args, n: u64) -> Result<Tokens, String> {
    let verifier = b64(&Sha256::digest(format!("verifier-{n}-{}", a.client_id)));
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &a.client_id)
        .append_pair("redirect_uri", &a.redirect_uri)
        .append_pair("scope", "openid email offline_access")
        .append_pair("state", &format!("s{n}"))
        .append_pair("nonce", &format!("n{n}"))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let api = |method: reqwest::Method, path: String, body: Value| {
        http.request(method, format!("{}{path}", a.issuer)).bearer_auth(&a.api_token).json(&body).send()
    };
    let check = |v: &Value, want: &str| {
        if v["type"] == want { Ok(()) } else { Err(format!("expected a {want} prompt, got {v}")) }
    };
    let prompt: Value = api(reqwest::Method::POST, "/authz-sessions/v1".into(), json!({ "query": query }))
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    check(&prompt, "auth")?;
    let sid = prompt["sid"].as_str().unwrap_or_default().to_owned();
    let subject = json!({ "sub": format!("user{}", n % 1000), "amr": ["pwd"], "claims": { "email": "u@example.com" } });
    let prompt: Value = api(reqwest::Method::PUT, format!("/authz-sessions/v1/{sid}/subject"), subject)
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    check(&prompt, "consent")?;
    let consent = json!({ "scope": "*", "refresh_token": { "issue": a.mode == Mode::Refresh } });
    let prompt: Value = api(reqwest::Method::PUT, format!("/authz-sessions/v1/{sid}/consent"), consent)
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    check(&prompt, "response")?;
    let code = prompt["parameters"]["code"].as_str().ok_or("no code")?.to_owned();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", &a.redirect_uri)
        .append_pair("code_verifier", &verifier)
        .finish();
    let tokens = post_form(http, a, "/token", form).await?;
    let at = tokens["access_token"].as_str().ok_or_else(|| format!("no access token: {tokens}"))?;
    let userinfo =
        http.get(format!("{}/userinfo", a.issuer)).bearer_auth(at).send().await.map_err(|e| e.to_string())?;
    if !userinfo.status().is_success() {
        return Err(format!("userinfo: {}", userinfo.status()));
    }
    let refresh = tokens["refresh_token"].as_str().map(str::to_owned);
    Ok(Tokens { access: at.to_owned(), refresh })
}

/// One timed operation of the benchmark's mode; `tokens` is the task's login, made on first use.
async fn step(http: &reqwest::Client, a: &Args, n: u64, tokens: &mut Option<Tokens>) -> Result<(), String> {
    if a.mode == Mode::Login {
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

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
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
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (http, args, stop, counter, errors) =
            (http.clone(), args.clone(), stop.clone(), counter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut tokens = None;
            if args.mode != Mode::Login {
                // The task's own login happens before the clock starts.
                match login(&http, &args, counter.fetch_add(1, Ordering::Relaxed)).await {
                    Ok(t) => tokens = Some(t),
                    Err(e) => eprintln!("login failed: {e}"),
                }
            }
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                match step(&http, &args, n, &mut tokens).await {
                    Ok(()) => latencies.push(t.elapsed()),
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
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    let what = match args.mode {
        Mode::Login => "logins",
        Mode::Refresh => "refresh_grants",
        Mode::Introspect => "introspections",
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
}
