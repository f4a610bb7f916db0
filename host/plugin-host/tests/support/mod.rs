//! Helpers for the plugin-host tests: real components built from `plugins/`, a plugin host,
//! queries, and a small HTTP user directory on loopback.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use gatehouse_plugin_host::{Manifest, PluginHost, RuntimeSettings};
use gatehouse_protocol::model::{ClientMetadata, JsonObject};
use gatehouse_protocol::plugins::{ClaimsPurpose, ClaimsQuery, ClientView, ConsentQuery, HookQuery, Split};
use serde_json::json;

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root exists")
}

/// Builds the guest workspace (`plugins/`) once per test run with `scripts/build-plugins.sh`
/// and returns the folder holding the components. A missing toolchain or target fails the
/// run: nothing is skipped.
pub fn components() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let output =
            Command::new(root().join("scripts/build-plugins.sh")).output().expect("scripts/build-plugins.sh runs");
        assert!(output.status.success(), "building the plugins failed:\n{}", String::from_utf8_lossy(&output.stderr));
        PathBuf::from(String::from_utf8(output.stdout).expect("a path").trim())
    })
}

/// The bytes of a built component, by crate name (`user-directory`, `testing-trap`, ...).
pub fn component(crate_name: &str) -> Vec<u8> {
    let path = components().join(format!("{}.wasm", crate_name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn host() -> PluginHost {
    PluginHost::new(&RuntimeSettings { cache_dir: None, max_instances: 64 }).expect("the plugin host starts")
}

/// A manifest from its TOML lines after `name`, `kind` and `version`.
pub fn manifest(name: &str, kind: &str, version: &str, rest: &str) -> Manifest {
    Manifest::from_toml(&format!("name = \"{name}\"\nkind = \"{kind}\"\nversion = \"{version}\"\n{rest}"))
        .expect("a valid test manifest")
}

pub fn object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        _ => panic!("not an object"),
    }
}

pub fn claims_query(sub: &str, claims: &[&str]) -> ClaimsQuery {
    ClaimsQuery {
        sub: sub.into(),
        claims: claims.iter().map(|c| c.to_string()).collect(),
        locales: vec![],
        client_id: "rp".into(),
        scope: vec!["openid".into(), "email".into()],
        purpose: ClaimsPurpose::Userinfo,
        session_claims: JsonObject::new(),
        data: JsonObject::new(),
    }
}

pub fn consent_query(client_id: &str, registered: Option<&str>, scope: &[&str]) -> ConsentQuery {
    let metadata = ClientMetadata { scope: registered.map(str::to_owned), ..ClientMetadata::default() };
    ConsentQuery {
        client: ClientView { client_id: client_id.into(), metadata },
        sub: "alice".into(),
        scope: Split { new: scope.iter().map(|s| s.to_string()).collect(), consented: vec![] },
        claims: Split::default(),
        resources: vec![],
        previous: None,
    }
}

pub fn hook_query(login_hint: Option<&str>, data: JsonObject) -> HookQuery {
    HookQuery {
        session_id: "session-1".into(),
        client_id: "rp".into(),
        scope: vec!["openid".into()],
        resources: vec![],
        acr_values: vec![],
        login_hint: login_hint.map(str::to_owned),
        sub: None,
        acr: None,
        data,
    }
}

/// A user directory on loopback: `GET /users/{sub}` answers the user's record, 404 for
/// unknown users. Counts the requests it gets.
pub struct Directory {
    pub origin: String,
    pub hits: Arc<AtomicUsize>,
}

impl Directory {
    pub async fn start() -> Self {
        use axum::extract::{Path, State};
        use axum::http::StatusCode;
        use axum::routing::get;

        let hits = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route(
                "/users/{sub}",
                get(|State(hits): State<Arc<AtomicUsize>>, Path(sub): Path<String>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    match sub.as_str() {
                        "alice" => Ok(axum::Json(json!({
                            "mail": "alice@example.com",
                            "verified": true,
                            "displayName": "Alice Liddell",
                            "nickname": "Al",
                            "org": { "department": "Wonderland" },
                        }))),
                        _ => Err(StatusCode::NOT_FOUND),
                    }
                }),
            )
            .with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { origin, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// `plugins/user-directory/example.toml`, pointed at the directory at `origin`.
pub fn user_directory_manifest(origin: &str, version: &str) -> Manifest {
    let example =
        std::fs::read_to_string(root().join("plugins/user-directory/example.toml")).expect("the example manifest");
    let mut manifest =
        Manifest::from_toml(&example.replace("http://127.0.0.1:8083", origin)).expect("the example is valid");
    manifest.version = version.to_owned();
    manifest
}

/// The manifest of a Python or JavaScript plugin (`python/group-claims`, `js/step-up`, ...),
/// with `version` replaced.
pub fn guest_manifest(project: &str, version: &str) -> Manifest {
    let text = std::fs::read_to_string(root().join("plugins").join(project).join("manifest.toml"))
        .expect("the plugin's manifest");
    let mut manifest = Manifest::from_toml(&text).expect("the manifest is valid");
    manifest.version = version.to_owned();
    manifest
}

/// The component of a Python or JavaScript plugin by project (`python/group-claims`, ...).
pub fn guest_component(project: &str) -> Vec<u8> {
    component(project.rsplit('/').next().expect("a project name"))
}
