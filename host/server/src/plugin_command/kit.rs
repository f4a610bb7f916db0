//! The plugin kit embedded in the binary: the WIT contract, the SDKs, their templates and
//! `sdk/build-plugin.sh`. It is written out once per kit version into the cache, with the
//! repository's layout, and toolchains run from there.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/kit.rs"));

/// The folder for toolchains, the written-out kit and compiled components:
/// `$GATEHOUSE_CACHE_DIR`, else `$XDG_CACHE_HOME/gatehouse`, else `~/.cache/gatehouse`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GATEHOUSE_CACHE_DIR") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    base.unwrap_or_else(std::env::temp_dir).join("gatehouse")
}

/// The files of one template (`rust`, `python` or `js`; `claims`, `consent` or `login`),
/// by path inside the template.
pub fn template(lang: &str, kind: &str) -> Vec<(&'static str, &'static [u8])> {
    let prefix = format!("sdk/{lang}/templates/{kind}/");
    FILES.iter().filter_map(|(path, bytes)| path.strip_prefix(prefix.as_str()).map(|p| (p, *bytes))).collect()
}

/// The kit, written out into the cache (once per kit version); returns its root, laid out
/// like the repository (`wit/`, `sdk/`).
pub fn unpacked() -> Result<PathBuf, String> {
    let mut hasher = Sha256::new();
    for (path, bytes) in FILES {
        hasher.update(path.as_bytes());
        hasher.update(bytes);
    }
    let digest: String = hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let root = cache_dir().join("kit").join(format!("{}-{digest}", env!("CARGO_PKG_VERSION")));
    if root.is_dir() {
        return Ok(root);
    }
    let parent = root.parent().expect("the kit folder has a parent");
    let fail = |what: &Path, e: std::io::Error| format!("cannot write the plugin kit to {}: {e}", what.display());
    std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
    // Written beside, then renamed: builds running at once never see half a kit.
    let staging = tempfile::tempdir_in(parent).map_err(|e| fail(parent, e))?;
    for (path, bytes) in FILES {
        let file = staging.path().join(path);
        std::fs::create_dir_all(file.parent().expect("a file has a folder")).map_err(|e| fail(&file, e))?;
        std::fs::write(&file, bytes).map_err(|e| fail(&file, e))?;
    }
    let staged = staging.keep();
    if std::fs::rename(&staged, &root).is_err() {
        // Another build unpacked the same kit first.
        let _ = std::fs::remove_dir_all(&staged);
    }
    Ok(root)
}

/// The root of the Gatehouse repository `dir` is in, if it is in one: the folder above it
/// holding both `sdk/rust/Cargo.toml` and `wit/policy@0.1.0`.
pub fn repository_of(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join("sdk/rust/Cargo.toml").is_file() && d.join("wit/policy@0.1.0").is_dir())
        .map(Path::to_owned)
}
