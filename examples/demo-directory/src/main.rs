//! `gatehouse-demo-directory`: the demo's user directory (and partner IdP stand-in) as a program.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use gatehouse_demo_directory::{Directory, app};

#[derive(Parser)]
#[command(version, about = "The Gatehouse demo's user directory, read by the user-directory claims plugin")]
struct Cli {
    /// The records: a JSON object from subject to record.
    #[arg(long, env = "DEMO_DIRECTORY_USERS", default_value = "examples/demo-directory/users.json")]
    users: PathBuf,
    /// The address to listen on.
    #[arg(long, env = "DEMO_DIRECTORY_LISTEN", default_value = "127.0.0.1:8083")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse-demo-directory: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    let router = app(Directory::load(&cli.users)?);
    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("cannot listen on {}", cli.listen))?;
    tracing::info!(listen = %cli.listen, "demo directory ready");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
