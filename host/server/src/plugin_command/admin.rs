//! `gatehouse plugin install`, `list`, `rollback`, `activate` and `deactivate`: the admin API of a running server
//! (`/admin/v1/plugins`, master token).

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};

use super::ServerArgs;

/// A request to the admin API; answers the status and the JSON body.
fn request(
    server: &ServerArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let token = match std::env::var("GATEHOUSE_ADMIN_TOKEN") {
        Ok(token) => token,
        Err(_) => std::fs::read_to_string(&server.token_file).map_err(|e| {
            format!(
                "the admin token file {} cannot be read ({e}); pass --token-file or set GATEHOUSE_ADMIN_TOKEN",
                server.token_file.display()
            )
        })?,
    };
    let url = format!("{}{path}", server.server.trim_end_matches('/'));
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let mut request = reqwest::Client::new().request(method, &url).bearer_auth(token.trim());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{url} cannot be reached: {e}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| format!("{url}: the answer was cut short: {e}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    })
}

/// The server's refusal, with the detail of its problem document.
fn refused(status: u16, body: &Value) -> String {
    let detail = body["detail"].as_str().map(str::to_owned).unwrap_or_else(|| body.to_string());
    format!("the server refused ({status}): {detail}")
}

pub fn install(server: &ServerArgs, manifest: &Path, component: &Path, activate: bool) -> Result<(), String> {
    let manifest = std::fs::read_to_string(manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let bytes = std::fs::read(component).map_err(|e| format!("{}: {e}", component.display()))?;
    let body = json!({
        "manifest": manifest,
        "component": base64::engine::general_purpose::STANDARD.encode(bytes),
        "activate": activate,
    });
    let (status, answer) = request(server, reqwest::Method::POST, "/admin/v1/plugins", Some(body))?;
    if status != 201 {
        return Err(refused(status, &answer));
    }
    let state = if answer["active"] == true { "serving" } else { "installed, not serving" };
    println!(
        "{} {} {state} (sha256 {})",
        answer["name"].as_str().unwrap_or("?"),
        answer["version"].as_str().unwrap_or("?"),
        answer["sha256"].as_str().unwrap_or("?")
    );
    Ok(())
}

pub fn list(server: &ServerArgs, json: bool) -> Result<(), String> {
    let (status, answer) = request(server, reqwest::Method::GET, "/admin/v1/plugins", None)?;
    if status != 200 {
        return Err(refused(status, &answer));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&answer).expect("JSON serialises"));
        return Ok(());
    }
    println!("{:<24} {:<16} {:<10} versions", "name", "kind", "serving");
    for plugin in answer.as_array().into_iter().flatten() {
        let versions: Vec<&str> =
            plugin["versions"].as_array().into_iter().flatten().filter_map(|v| v["version"].as_str()).collect();
        println!(
            "{:<24} {:<16} {:<10} {}",
            plugin["name"].as_str().unwrap_or("?"),
            plugin["kind"].as_str().unwrap_or("-"),
            plugin["active_version"].as_str().unwrap_or("-"),
            versions.join(", ")
        );
        if let Some(error) = plugin["last_error"].as_str() {
            println!("  last refusal: {error}");
        }
    }
    Ok(())
}

pub fn rollback(server: &ServerArgs, name: &str) -> Result<(), String> {
    let path = format!("/admin/v1/plugins/{name}/rollback");
    let (status, answer) = request(server, reqwest::Method::POST, &path, None)?;
    if status != 200 {
        return Err(refused(status, &answer));
    }
    println!("{name} {} serving again", answer["active_version"].as_str().unwrap_or("?"));
    Ok(())
}

pub fn activate(server: &ServerArgs, name: &str, version: &str) -> Result<(), String> {
    let path = format!("/admin/v1/plugins/{name}/activate");
    let (status, answer) = request(server, reqwest::Method::POST, &path, Some(json!({ "version": version })))?;
    if !(200..300).contains(&status) {
        return Err(refused(status, &answer));
    }
    println!("{name} {version} serving");
    Ok(())
}

pub fn deactivate(server: &ServerArgs, name: &str) -> Result<(), String> {
    let path = format!("/admin/v1/plugins/{name}/deactivate");
    let (status, answer) = request(server, reqwest::Method::POST, &path, None)?;
    if !(200..300).contains(&status) {
        return Err(refused(status, &answer));
    }
    println!("{name} no longer serving; its versions stay installed");
    Ok(())
}
