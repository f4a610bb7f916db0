//! `gatehouse keys`: the HSM operator's commands, on the token configured in
//! `[signing.pkcs11]`. The work is done by `gatehouse_signer::pkcs11::admin`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use clap::Subcommand;
use gatehouse_protocol::world::{Clock, SystemClock, UnixTime};
use gatehouse_server::Config;
use gatehouse_signer::pkcs11::admin::{self, KeyKind, KeySpec};
use gatehouse_signer::ring::Plan;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Lists the usable keys on the token, and the objects skipped with the reason.
    List {
        /// Prints JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Generates a key pair on the token with a self-signed certificate whose validity says
    /// when the key signs. Times are RFC 3339 (2027-01-31T00:00:00Z), `now`, or relative to
    /// now (+30d, -1h).
    Generate {
        /// CKA_LABEL of the key pair and its certificate.
        #[arg(long)]
        label: String,
        /// rsa2048, rsa3072, rsa4096, ec-p256 or ec-p384.
        #[arg(long = "type", default_value = "ec-p256")]
        kind: KeyKind,
        #[arg(long, default_value = "now", value_parser = parse_time, allow_hyphen_values = true)]
        not_before: UnixTime,
        #[arg(long, value_parser = parse_time, allow_hyphen_values = true)]
        not_after: UnixTime,
        /// The certificate subject's common name (the label when absent).
        #[arg(long)]
        common_name: Option<String>,
    },
    /// Shows what Gatehouse would publish, and which key would sign, at a given time.
    Plan {
        #[arg(long, default_value = "now", value_parser = parse_time, allow_hyphen_values = true)]
        at: UnixTime,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(config: Option<&Path>, command: KeysCommand) -> ExitCode {
    let config = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Some(hsm) = config.signing.pkcs11 else {
        eprintln!("no [signing.pkcs11] section in the configuration: say which module, token and PIN to use");
        return ExitCode::from(2);
    };
    let done = match command {
        KeysCommand::List { json } => admin::list(&hsm).map(|inventory| {
            if json {
                println!("{}", serde_json::to_string_pretty(&inventory).unwrap_or_default());
                return;
            }
            println!("{:<44} {:<20} {:<12} {:<21} {:<21}", "kid", "label", "algorithms", "not before", "not after");
            for k in &inventory.keys {
                let algs: Vec<&str> = k.algs.iter().map(|a| a.as_str()).collect();
                let when = (time(k.not_before), time(k.not_after));
                println!("{:<44} {:<20} {:<12} {:<21} {:<21}", k.kid, k.label, algs.join(","), when.0, when.1);
            }
            for s in &inventory.skipped {
                println!("skipped {:?} (id {}): {}", s.label, s.id, s.reason);
            }
        }),
        KeysCommand::Generate { label, kind, not_before, not_after, common_name } => {
            let spec = KeySpec { label, kind, not_before, not_after, common_name };
            admin::generate(&hsm, &spec).map(|k| {
                println!(
                    "generated {} ({}), id {}, valid {} to {}",
                    k.kid,
                    k.label,
                    k.id,
                    time(k.not_before),
                    time(k.not_after)
                );
            })
        }
        KeysCommand::Plan { at, json } => admin::plan(&hsm, at).map(|plan| {
            if json {
                println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default());
            } else {
                print_plan(&plan);
            }
        }),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn print_plan(plan: &Plan) {
    println!("at {}:", time(plan.at));
    for a in &plan.active {
        println!("  {} is signed by {}", a.alg, a.kid);
    }
    if plan.active.is_empty() {
        println!("  no key signs: token requests would fail");
    }
    for planned in &plan.keys {
        let state = serde_json::to_value(planned.state).ok().and_then(|v| v.as_str().map(str::to_owned));
        let k = &planned.key;
        let state = state.unwrap_or_default();
        println!("  {state:<10} {} ({}), valid {} to {}", k.kid, k.label, time(k.not_before), time(k.not_after));
    }
}

/// RFC 3339, `now`, or a duration relative to now (`+30d`, `-1h`).
fn parse_time(s: &str) -> Result<UnixTime, String> {
    let now = SystemClock.now();
    let relative = |d: &str| humantime::parse_duration(d).map_err(|e| format!("{s:?}: {e}"));
    match s {
        "now" => Ok(now),
        _ if s.starts_with('+') => Ok(now.plus(relative(&s[1..])?.as_secs())),
        _ if s.starts_with('-') => Ok(now.minus(relative(&s[1..])?.as_secs())),
        _ => {
            let t = humantime::parse_rfc3339_weak(s)
                .map_err(|e| format!("{s:?} is not a time (RFC 3339, now, +30d): {e}"))?;
            let secs = t.duration_since(UNIX_EPOCH).map_err(|_| format!("{s:?} is before 1970"))?.as_secs();
            Ok(UnixTime(secs as i64))
        }
    }
}

/// RFC 3339, as far as the format reaches (the year 9999).
fn time(t: UnixTime) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t.0.clamp(0, 253_402_300_799) as u64))
        .to_string()
}
