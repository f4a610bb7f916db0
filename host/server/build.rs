//! Embeds the plugin kit (the WIT contract, the SDKs, their templates and the build script)
//! in the `gatehouse` binary, so `gatehouse plugin new` and `plugin build` work outside the
//! repository. Writes `$OUT_DIR/kit.rs`: a list of (path in the repository, bytes).

use std::path::{Path, PathBuf};

/// What the kit holds, relative to the repository root.
const ROOTS: &[&str] = &[
    "wit",
    "sdk/build-plugin.sh",
    "sdk/python/requirements.txt",
    "sdk/python/gatehouse",
    "sdk/python/templates",
    "sdk/js/gatehouse.js",
    "sdk/js/package.json",
    "sdk/js/package-lock.json",
    "sdk/js/templates",
    "sdk/rust/Cargo.toml",
    "sdk/rust/src",
    "sdk/rust/templates",
];

/// Folders that are build or tool output, never part of the kit.
const SKIPPED: &[&str] = &["__pycache__", "node_modules", "target", "dist"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by Cargo"));
    let repo = manifest_dir.join("../..").canonicalize().expect("the repository root");
    let mut files = Vec::new();
    for root in ROOTS {
        let path = repo.join(root);
        println!("cargo:rerun-if-changed={}", path.display());
        collect(&path, &mut files);
    }
    files.sort();
    let mut out = String::from(
        "/// The plugin kit: (path in the repository, contents).\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        let relative = file.strip_prefix(&repo).expect("under the root").to_string_lossy().replace('\\', "/");
        out.push_str(&format!("    ({relative:?}, include_bytes!({:?})),\n", file.display().to_string()));
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by Cargo"));
    std::fs::write(out_dir.join("kit.rs"), out).expect("kit.rs is written");
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_file() {
        files.push(path.to_owned());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else { return };
    for entry in entries.flatten() {
        let p = entry.path();
        let skipped = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| SKIPPED.contains(&n));
        if !skipped {
            collect(&p, files);
        }
    }
}
