//! `gatehouse-login`: the example login front-end as a program.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse_login_frontend::{Config, Users, app, users};
use url::Url;

#[derive(Parser)]
#[command(version, about = "An example login and consent front-end for Gatehouse")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Subcommand)]
enum Command {
    /// Reads a password from standard input and prints its Argon2id hash for the users file.
    HashPassword,
}

#[derive(clap::Args)]
struct Serve {
    /// The Gatehouse base URL (its issuer).
    #[arg(long, env = "GATEHOUSE_LOGIN_GATEHOUSE_URL", default_value = "http://127.0.0.1:8080")]
    gatehouse_url: Url,
    /// The authorization-session API token. Prefer --api-token-file: environment variables leak
    /// more easily.
    #[arg(long, env = "GATEHOUSE_LOGIN_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// A file holding the authorization-session API token (used when no token is given). The
    /// default is the token a zero-config `gatehouse serve` generates in ./data.
    #[arg(long, env = "GATEHOUSE_LOGIN_API_TOKEN_FILE", default_value = "data/authz-api.token")]
    api_token_file: PathBuf,
    /// The users file (TOML, Argon2 password hashes).
    #[arg(long, env = "GATEHOUSE_LOGIN_USERS", default_value = "examples/login-frontend/users.toml")]
    users: PathBuf,
    /// The address to listen on.
    #[arg(long, env = "GATEHOUSE_LOGIN_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The name of the single sign-on cookie (it holds the provider's subject session id).
    #[arg(long, env = "GATEHOUSE_LOGIN_COOKIE_NAME", default_value = "gatehouse_sso")]
    cookie_name: String,
    /// Mark cookies Secure; set it when the front-end is served over https.
    #[arg(long, env = "GATEHOUSE_LOGIN_SECURE_COOKIES")]
    secure_cookies: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse-login: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::HashPassword) => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!password.is_empty(), "give the password on standard input");
            println!("{}", users::hash_password(password)?);
            Ok(())
        }
        None => serve(cli.serve).await,
    }
}

async fn serve(s: Serve) -> anyhow::Result<()> {
    let token = match s.api_token {
        Some(t) => t,
        None => std::fs::read_to_string(&s.api_token_file)
            .with_context(|| {
                format!(
                    "cannot read the API token file {} (start `gatehouse serve` first, or set GATEHOUSE_LOGIN_API_TOKEN_FILE)",
                    s.api_token_file.display()
                )
            })?
            .trim()
            .to_owned(),
    };
    let users = Users::load(&s.users)?;
    let mut config = Config::new(&s.gatehouse_url, token, users)?;
    config.cookie_name = s.cookie_name;
    config.secure_cookies = s.secure_cookies;
    let listener =
        tokio::net::TcpListener::bind(s.listen).await.with_context(|| format!("cannot listen on {}", s.listen))?;
    tracing::info!(listen = %s.listen, gatehouse = %s.gatehouse_url, "login front-end ready: point frontend.login_url at http://{}/login", s.listen);
    axum::serve(listener, app(config))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
