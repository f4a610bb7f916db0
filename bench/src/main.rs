//! Drives complete logins against a running Gatehouse, the way a login front-end and a relying
//! party together do: start session → subject → consent → token → UserInfo. Prints logins per
//! second and per-login latency. Used by `bench/run.sh`; not a test.

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
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn login(http: &reqwest::Client, a: &Args, n: u64) -> Result<(), String> {
    let verifier = b64(&Sha256::digest(format!("verifier-{n}-{}", a.client_id)));
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &a.client_id)
        .append_pair("redirect_uri", &a.redirect_uri)
        .append_pair("scope", "openid email")
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
    let prompt: Value = api(reqwest::Method::PUT, format!("/authz-sessions/v1/{sid}/consent"), json!({ "scope": "*" }))
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
    let tokens: Value = http
        .post(format!("{}/token", a.issuer))
        .basic_auth(&a.client_id, Some(&a.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let at = tokens["access_token"].as_str().ok_or_else(|| format!("no access token: {tokens}"))?;
    let userinfo =
        http.get(format!("{}/userinfo", a.issuer)).bearer_auth(at).send().await.map_err(|e| e.to_string())?;
    if !userinfo.status().is_success() {
        return Err(format!("userinfo: {}", userinfo.status()));
    }
    Ok(())
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
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                match login(&http, &args, n).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("login failed: {e}");
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
    println!(
        "logins_per_s={:.0} logins={} p50_ms={:.2} p99_ms={:.2} errors={} concurrency={}",
        all.len() as f64 / elapsed,
        all.len(),
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        errors.load(Ordering::Relaxed),
        args.concurrency
    );
}
