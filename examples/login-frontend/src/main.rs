//! `gatehouse-login`: the example login front-end as a program.

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse_example_listener::positive;
use gatehouse_login_frontend::throttle::Policy;
use gatehouse_login_frontend::{Config, IpNet, Users, app, gate, users};
use url::Url;

gatehouse_example_listener::limits_args!(Listener, "GATEHOUSE_LOGIN_");

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
    /// Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For names
    /// the client; without them the peer address is the client's, and the header is ignored.
    #[arg(long, env = "GATEHOUSE_LOGIN_TRUSTED_PROXIES", value_delimiter = ',', value_parser = network)]
    trusted_proxies: Vec<IpNet>,
    #[command(flatten)]
    throttle: Throttle,
    /// How many Argon2 password verifications may run at once (19 MiB each); the default is
    /// the number of cores.
    #[arg(long, env = "GATEHOUSE_LOGIN_ARGON2_CONCURRENCY", default_value_t = gate::cores(),
          value_parser = positive)]
    argon2_concurrency: usize,
    /// How long a login waits for a verification slot before it is asked to try again.
    #[arg(long, env = "GATEHOUSE_LOGIN_ARGON2_WAIT", default_value_t = gate::DEFAULT_WAIT.into())]
    argon2_wait: humantime::Duration,
    #[command(flatten)]
    listener: Listener,
}

/// The throttle of password attempts (see `throttle.rs` for the curve).
#[derive(clap::Args)]
struct Throttle {
    /// Failed attempts per account before delays start.
    #[arg(long, env = "GATEHOUSE_LOGIN_ACCOUNT_FREE_ATTEMPTS", default_value_t = Policy::default().account_free_attempts)]
    account_free_attempts: u32,
    /// Failed attempts per client address (across accounts) before delays start.
    #[arg(long, env = "GATEHOUSE_LOGIN_ADDRESS_FREE_ATTEMPTS", default_value_t = Policy::default().address_free_attempts)]
    address_free_attempts: u32,
    /// The first delay after the free attempts; it doubles with each further failure.
    #[arg(long, env = "GATEHOUSE_LOGIN_THROTTLE_BASE_DELAY", default_value_t = Policy::default().base_delay.into())]
    throttle_base_delay: humantime::Duration,
    /// The longest delay.
    #[arg(long, env = "GATEHOUSE_LOGIN_THROTTLE_MAX_DELAY", default_value_t = Policy::default().max_delay.into())]
    throttle_max_delay: humantime::Duration,
    /// How long after its last failure an account or address is forgotten.
    #[arg(long, env = "GATEHOUSE_LOGIN_THROTTLE_FORGET_AFTER", default_value_t = Policy::default().forget_after.into())]
    throttle_forget_after: humantime::Duration,
    /// How many accounts and addresses the throttle remembers at most.
    #[arg(long, env = "GATEHOUSE_LOGIN_THROTTLE_ENTRIES", default_value_t = Policy::default().max_entries,
          value_parser = positive)]
    throttle_entries: usize,
}

impl From<Throttle> for Policy {
    fn from(t: Throttle) -> Policy {
        Policy {
            account_free_attempts: t.account_free_attempts,
            address_free_attempts: t.address_free_attempts,
            base_delay: t.throttle_base_delay.into(),
            max_delay: t.throttle_max_delay.into(),
            forget_after: t.throttle_forget_after.into(),
            max_entries: t.throttle_entries,
        }
    }
}

/// A network (`10.0.0.0/8`) or a single address.
fn network(s: &str) -> Result<IpNet, String> {
    s.trim()
        .parse::<IpNet>()
        .or_else(|_| s.trim().parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither an IP address nor a network such as 10.0.0.0/8"))
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
    config.trusted_proxies = s.trusted_proxies;
    config.throttle = s.throttle.into();
    config.argon2_concurrency = s.argon2_concurrency;
    config.argon2_wait = s.argon2_wait.into();
    let listener =
        tokio::net::TcpListener::bind(s.listen).await.with_context(|| format!("cannot listen on {}", s.listen))?;
    tracing::info!(listen = %s.listen, gatehouse = %s.gatehouse_url, "login front-end ready: point frontend.login_url at http://{}/login", s.listen);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    gatehouse_example_listener::serve(listener, app(config), s.listener.into(), shutdown).await?;
    Ok(())
}
