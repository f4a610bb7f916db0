//! The `gatehouse` command.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gatehouse_server::config::LogFormat;
use gatehouse_server::{Config, Gatehouse, Overrides};
use tracing_subscriber::EnvFilter;

mod keys_command;
mod plugin_command;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "An OpenID Connect provider with WebAssembly policy plugins")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the provider. Without a configuration file it runs the zero-setup default:
    /// issuer http://127.0.0.1:8080, SQLite in ./data, software signing keys.
    Serve {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Checks a configuration file (and the GATEHOUSE_* environment) without starting.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Manages the signing keys in the HSM configured in [signing.pkcs11].
    Keys {
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: keys_command::KeysCommand,
    },
    /// Writes, builds, checks and tests policy plugins, and installs them in a running server.
    Plugin {
        #[command(subcommand)]
        command: plugin_command::PluginCommand,
    },
    /// Prints the SHA-256 of an API token, the form the configuration takes. Reads the token
    /// from standard input so it stays out of the shell history.
    HashToken,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::CheckConfig { config } => match Config::load(config.as_deref()) {
            Ok(_) => {
                println!("configuration is valid");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Keys { config, command } => keys_command::run(config.as_deref(), command),
        Command::Plugin { command } => plugin_command::run(command),
        Command::HashToken => {
            let mut token = String::new();
            if std::io::stdin().read_to_string(&mut token).is_err() || token.trim().is_empty() {
                eprintln!("write the token on standard input, e.g. `gatehouse hash-token < token.txt`");
                return ExitCode::from(2);
            }
            println!("{}", gatehouse_protocol::secret::sha256_hex(token.trim().as_bytes()));
            ExitCode::SUCCESS
        }
    }
}

fn serve(config_path: Option<PathBuf>) -> ExitCode {
    let config = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match config.log.format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match Gatehouse::build(&config, Overrides::default()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("gatehouse cannot start: {e}");
                return ExitCode::from(2);
            }
        };
        let listener = match tokio::net::TcpListener::bind(server.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("gatehouse cannot listen on {}: {e}; set http.listen to a free address", server.listen);
                return ExitCode::from(2);
            }
        };
        tracing::info!(issuer = %config.issuer, listen = %server.listen, "gatehouse is serving");
        tokio::spawn(on_hangup(server.state.hsm.clone(), server.tls.clone()));
        match server.serve(listener, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("server error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// SIGHUP rescans the HSM token, so keys put on it go live at once, and reloads the TLS
/// certificate.
async fn on_hangup(
    hsm: Option<std::sync::Arc<gatehouse_signer::Pkcs11Signer>>,
    tls: Option<std::sync::Arc<gatehouse_server::tls::Certificates>>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else { return };
        while hangups.recv().await.is_some() {
            if let Some(tls) = &tls {
                tls.reload(true);
            }
            let Some(hsm) = &hsm else { continue };
            match hsm.rescan().await {
                Ok(report) => tracing::info!(
                    keys = report.keys.len(),
                    skipped = report.skipped.len(),
                    "SIGHUP: HSM token rescanned"
                ),
                Err(e) => tracing::error!(error = %e, "SIGHUP: HSM rescan failed"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (hsm, tls);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
