//! `gatehouse plugin new`: a working plugin project from the kit's templates.

use std::path::{Path, PathBuf};

use super::kit;
use super::{Kind, Lang};

/// Writes a new project for plugin `name` into `dir` (which must not exist yet).
pub fn new(lang: Lang, kind: Kind, name: &str, dir: &Path) -> Result<(), String> {
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid || name.starts_with('-') {
        return Err(format!("{name:?} is not a plugin name: use lower-case letters, digits and '-'"));
    }
    if dir.exists() {
        return Err(format!("{} already exists; choose another name or --dir", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = dir.canonicalize().map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let (sdk_path, sdk_note) = match lang {
        Lang::Rust => rust_sdk(&dir)?,
        _ => (String::new(), String::new()),
    };
    let files = kit::template(lang.as_str(), kind.as_str());
    assert!(!files.is_empty(), "every language has a template for every kind");
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(bytes)
            .replace("{{name}}", name)
            .replace("{{sdk_path}}", &sdk_path)
            .replace("{{sdk_note}}", &sdk_note);
        let file = dir.join(path);
        let parent = file.parent().expect("a file has a folder");
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(())
}

/// Where a Rust project finds the SDK: by a relative path inside a Gatehouse repository,
/// else the copy of the SDK in the kit this binary carries.
fn rust_sdk(dir: &Path) -> Result<(String, String), String> {
    let start = dir.parent().unwrap_or(dir);
    if let Some(repo) = kit::repository_of(start) {
        let path = relative(&repo.join("sdk/rust"), dir);
        return Ok((path, "The SDK of the Gatehouse repository this project is in.".into()));
    }
    let kit = kit::unpacked()?;
    let note = "The SDK as released with this gatehouse binary, from its kit in the cache. Or use the \
                repository's: gatehouse-sdk = { git = \"<your Gatehouse repository>\", tag = \"v0.1.0\" }";
    Ok((kit.join("sdk/rust").display().to_string(), note.into()))
}

/// `to` relative to `from`, both absolute.
fn relative(to: &Path, from: &Path) -> String {
    let to: Vec<_> = to.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out.display().to_string()
}
