//! Plugins for the end-to-end tests: components built from `plugins/`, plugin folders, uploads
//! through the admin API, and a small HTTP user directory for the claims source.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::{Value, json};

use super::TestServer;

/// The built components, once per test run (`scripts/build-plugins.sh`); a missing toolchain
/// fails the run.
fn components() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-plugins.sh");
        let output = Command::new(script).output().expect("scripts/build-plugins.sh runs");
        assert!(output.status.success(), "building the plugins failed:\n{}", String::from_utf8_lossy(&output.stderr));
        PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
    })
}

/// A built component by crate name (`user-directory`, `testing-trap`, ...).
pub fn component(crate_name: &str) -> Vec<u8> {
    let path = components().join(format!("{}.wasm", crate_name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A plugin folder holding `name.toml` and `name.wasm` for each `(name, crate, manifest)`.
pub fn plugin_dir(plugins: &[(&str, &str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, crate_name, manifest) in plugins {
        std::fs::write(dir.path().join(format!("{name}.wasm")), component(crate_name)).unwrap();
        std::fs::write(dir.path().join(format!("{name}.toml")), format!("name = \"{name}\"\n{manifest}")).unwrap();
    }
    dir
}

/// The `[plugins]` section for a folder. The compile cache is shared by the tests, so a
/// Python or JavaScript component is compiled once per run rather than once per server.
pub fn plugins_config(dir: &Path) -> String {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-plugin-cache");
    format!("[plugins]\ndir = \"{}\"\ncache_dir = \"{}\"\n", dir.display(), cache.display())
}

/// The manifest of a Python or JavaScript plugin (`python/scope-tiers`, `js/step-up`, ...)
/// with its version replaced and, when `tables` is not empty, its tables (`[config]`,
/// `[limits]`) replaced by `tables`.
pub fn guest_manifest(project: &str, version: &str, tables: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins").join(project).join("manifest.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let split = text.find("\n[").map_or(text.len(), |i| i + 1);
    let (head, own_tables) = text.split_at(split);
    let head: String = head
        .lines()
        .map(|l| if l.starts_with("version") { format!("version = \"{version}\"") } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n");
    format!("{head}\n{}\n", if tables.is_empty() { own_tables } else { tables })
}

/// A plugin folder holding each Python or JavaScript project's manifest and component.
pub fn guest_plugin_dir(projects: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for project in projects {
        let name = project.rsplit('/').next().expect("a project name");
        std::fs::write(dir.path().join(format!("{name}.wasm")), component(name)).unwrap();
        std::fs::write(dir.path().join(format!("{name}.toml")), guest_manifest(project, "1.0.0", "")).unwrap();
    }
    dir
}

impl TestServer {
    /// Uploads a Python or JavaScript plugin (`python/scope-tiers`, ...) with `manifest`.
    pub async fn upload_guest(&self, manifest: &str, project: &str) -> (u16, Value) {
        self.upload_plugin(manifest, project.rsplit('/').next().expect("a project name")).await
    }

    /// Uploads a plugin through the admin API; returns the status and the answer.
    pub async fn upload_plugin(&self, manifest: &str, crate_name: &str) -> (u16, Value) {
        let body = json!({
            "manifest": manifest,
            "component": base64::engine::general_purpose::STANDARD.encode(component(crate_name)),
        });
        self.admin(openidconnect::reqwest::Method::POST, "/admin/v1/plugins", Some(body)).await
    }
}

/// A user directory on loopback: `GET /users/alice` answers Alice's record, 404 for others.
pub async fn user_directory() -> String {
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::routing::get;

    let app = axum::Router::new().route(
        "/users/{sub}",
        get(|Path(sub): Path<String>| async move {
            match sub.as_str() {
                "alice" => Ok(axum::Json(json!({
                    "mail": "alice@wonderland.example",
                    "verified": true,
                    "displayName": "Alice from the directory",
                    "org": { "department": "Looking-Glass" },
                }))),
                _ => Err(StatusCode::NOT_FOUND),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    origin
}

/// `plugins/{crate_name}/example.toml` after its `name` and without its `component` (for
/// [`plugin_dir`]), with the demo directory's origin (`http://127.0.0.1:8083`) replaced by
/// `origin`.
pub fn example_manifest(crate_name: &str, origin: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../plugins/{crate_name}/example.toml"));
    let example = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rest = example.lines().skip_while(|l| !l.starts_with("kind")).filter(|l| !l.starts_with("component"));
    rest.collect::<Vec<_>>().join("\n").replace("http://127.0.0.1:8083", origin)
}
