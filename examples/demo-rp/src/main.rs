//! `gatehouse-demo-rp`: the demo relying party as a program.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use gatehouse_demo_rp::{Config, DEFAULT_MAX_PENDING, app};
use gatehouse_example_listener::positive;
use url::Url;

gatehouse_example_listener::limits_args!(Listener, "DEMO_RP_");

#[derive(Parser)]
#[command(version, about = "A demo OpenID Connect relying party for Gatehouse")]
struct Cli {
    /// The provider's issuer identifier.
    #[arg(long, env = "DEMO_RP_ISSUER", default_value = "http://127.0.0.1:8080")]
    issuer: Url,
    /// The provider's client-API master token. Prefer --admin-token-file.
    #[arg(long, env = "DEMO_RP_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// A file holding the client-API master token (used when no token is given). The default
    /// is the token a zero-config `gatehouse serve` generates in ./data.
    #[arg(long, env = "DEMO_RP_ADMIN_TOKEN_FILE", default_value = "data/admin-api.token")]
    admin_token_file: PathBuf,
    /// The address to listen on.
    #[arg(long, env = "DEMO_RP_LISTEN", default_value = "127.0.0.1:8082")]
    listen: SocketAddr,
    /// This app's base URL as browsers reach it; the redirect URI is <base-url>/callback.
    #[arg(long, env = "DEMO_RP_BASE_URL", default_value = "http://127.0.0.1:8082")]
    base_url: Url,
    /// How many logins may be pending (sent to the provider, not yet back) at once; more get
    /// an error page.
    #[arg(long, env = "DEMO_RP_MAX_PENDING_LOGINS", default_value_t = DEFAULT_MAX_PENDING, value_parser = positive)]
    max_pending_logins: usize,
    #[command(flatten)]
    listener: Listener,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse-demo-rp: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let admin_token = match cli.admin_token {
        Some(t) => t,
        None => std::fs::read_to_string(&cli.admin_token_file)
            .with_context(|| {
                format!(
                    "cannot read the admin token file {} (start `gatehouse serve` first, or set DEMO_RP_ADMIN_TOKEN_FILE)",
                    cli.admin_token_file.display()
                )
            })?
            .trim()
            .to_owned(),
    };
    let base_url = cli.base_url.clone();
    let config = Config { issuer: cli.issuer, admin_token, base_url, max_pending: cli.max_pending_logins };
    let router = app(config).await?;
    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("cannot listen on {}", cli.listen))?;
    tracing::info!(listen = %cli.listen, "demo RP ready: open {}", cli.base_url);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    gatehouse_example_listener::serve(listener, router, cli.listener.into(), shutdown).await?;
    Ok(())
}
