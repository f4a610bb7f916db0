//! `gatehouse plugin check` and `plugin test`: a component loaded by the plugin host's own
//! load path ([`Trial`]), with the compile cache in the user's cache folder.

use std::path::Path;

use gatehouse_plugin_host::{Calls, Manifest, RuntimeSettings, Trial};

use super::kit;

async fn load(component: &Path, manifest: &Path) -> Result<Trial, String> {
    let text = std::fs::read_to_string(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let manifest = Manifest::from_toml(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let bytes = std::fs::read(component).map_err(|e| format!("{}: {e}", component.display()))?;
    let settings = RuntimeSettings { cache_dir: Some(kit::cache_dir().join("compiled")), max_instances: 16 };
    Trial::load(&settings, manifest, bytes).await.map_err(|e| format!("{} is refused: {e}", component.display()))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))
}

pub fn check(component: &Path, manifest: &Path, json: bool) -> Result<(), String> {
    let report = runtime()?.block_on(load(component, manifest))?.report();
    if json {
        println!("{}", serde_json::to_string_pretty(&report).expect("a report serialises"));
        return Ok(());
    }
    println!("{} {} is a valid {} (world {})", report.name, report.version, report.kind, report.world);
    println!("sha256   {}", report.sha256);
    println!("imports  {}", if report.imports.is_empty() { "none".into() } else { report.imports.join(", ") });
    if !report.supplied_claims.is_empty() {
        println!("supplies {}", report.supplied_claims.join(", "));
    }
    Ok(())
}

pub fn test(component: &Path, manifest: &Path, calls_path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(calls_path).map_err(|e| format!("{}: {e}", calls_path.display()))?;
    let calls: Calls = if calls_path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", calls_path.display()))?
    } else {
        toml::from_str(&text).map_err(|e| format!("{}: {e}", calls_path.display()))?
    };
    runtime()?.block_on(async {
        let trial = load(component, manifest).await?;
        let mut unmet = 0;
        for (i, call) in calls.call.iter().enumerate() {
            let label = call.name.clone().unwrap_or_else(|| format!("call {}", i + 1));
            let answer = trial.call(call).await.map_err(|e| format!("{label}: {e}"))?;
            let shown = serde_json::to_string(&answer).expect("JSON serialises");
            match &call.expect {
                None => println!("• {label}\n  {shown}"),
                Some(expected) if *expected == answer => println!("✔ {label}\n  {shown}"),
                Some(expected) => {
                    unmet += 1;
                    println!("✘ {label}\n  answer:   {shown}\n  expected: {expected}");
                }
            }
        }
        let total = calls.call.len();
        println!("{total} calls, {} as expected or unchecked, {unmet} not", total - unmet);
        if unmet > 0 { Err(format!("{unmet} of {total} calls did not answer as expected")) } else { Ok(()) }
    })
}
