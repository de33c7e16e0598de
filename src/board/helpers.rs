//! The board-side helpers (`klo-load`, `klo-probe`): portable C embedded in
//! klo-spec and built with the board's compiler, cached by source hash.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::digest::hex_sha256;

/// One helper program.
#[derive(Debug, Clone, Copy)]
pub struct Helper {
    pub name: &'static str,
    pub source: &'static str,
    pub cflags: &'static [&'static str],
    pub libs: &'static [&'static str],
}

pub const LOAD: Helper = Helper {
    name: "klo-load",
    source: include_str!("../../helpers/klo-load.c"),
    cflags: &["-O2", "-std=c99"],
    libs: &[],
};

pub const PROBE: Helper = Helper {
    name: "klo-probe",
    source: include_str!("../../helpers/klo-probe.c"),
    cflags: &["-O2", "-std=c99", "-pthread"],
    libs: &["-ldl", "-lm"],
};

pub const ALL: [Helper; 2] = [LOAD, PROBE];

/// Hash of the helpers' sources and flags: part of every cell's hash.
pub fn source_hash() -> String {
    let mut material = String::new();
    for h in ALL {
        material.push_str(h.name);
        material.push('\0');
        material.push_str(&h.cflags.join(" "));
        material.push('\0');
        material.push_str(&h.libs.join(" "));
        material.push('\0');
        material.push_str(h.source);
        material.push('\0');
    }
    hex_sha256(material.as_bytes())
}

/// Paths of the built helpers on the board.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HelperPaths {
    pub load: String,
    pub probe: String,
}

/// The C compiler for the local board: `$CC`, else `cc`.
pub fn local_compiler() -> String {
    std::env::var("CC")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "cc".to_string())
}

fn compiler_version(cc: &str) -> Result<String> {
    let out = Command::new(cc).arg("--version").output().map_err(|e| {
        crate::error::UsageError::new(
            format!("cannot run the C compiler `{cc}` to build the board-side helpers: {e}"),
            Some("install one (Debian: apt-get install gcc) or point CC at it".into()),
        )
    })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Builds the helpers with `cc` into `cache/<hash>/`, unless already there.
/// The hash covers sources, flags and the compiler's version line, so a new
/// compiler rebuilds. Builds go to a temporary name and are renamed into
/// place, so concurrent runs never see a half-written binary.
pub fn build(cc: &str, cache: &Path) -> Result<(HelperPaths, PathBuf)> {
    let version = compiler_version(cc)?;
    let key = hex_sha256(format!("{}\0{cc}\0{version}", source_hash()).as_bytes());
    let dir = cache.join(&key[..16]);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the helper cache {}", dir.display()))?;
    for h in ALL {
        let bin = dir.join(h.name);
        if bin.is_file() {
            continue;
        }
        let src = dir.join(format!("{}.c", h.name));
        std::fs::write(&src, h.source)
            .with_context(|| format!("cannot write {}", src.display()))?;
        let tmp = dir.join(format!(".{}.{}.tmp", h.name, std::process::id()));
        let out = Command::new(cc)
            .args(h.cflags)
            .arg("-o")
            .arg(&tmp)
            .arg(&src)
            .args(h.libs)
            .output()
            .with_context(|| format!("cannot run `{cc}`"))?;
        if !out.status.success() {
            let _ = std::fs::remove_file(&tmp);
            bail!(
                "building {} with `{cc}` failed ({}):\n{}",
                h.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        std::fs::rename(&tmp, &bin)
            .with_context(|| format!("cannot move {} into place", bin.display()))?;
    }
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    Ok((
        HelperPaths {
            load: path(LOAD.name),
            probe: path(PROBE.name),
        },
        dir,
    ))
}

/// klo-spec's cache folder: `$KLO_SPEC_CACHE`, `$XDG_CACHE_HOME/klo-spec`,
/// `~/.cache/klo-spec`, or a folder in the temporary directory.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KLO_SPEC_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("klo-spec");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h).join(".cache").join("klo-spec");
    }
    std::env::temp_dir().join(format!("klo-spec-cache-{}", unsafe { libc::getuid() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_hash_is_stable_and_covers_the_sources() {
        assert_eq!(source_hash(), source_hash());
        assert_eq!(source_hash().len(), 64);
        assert!(PROBE.source.contains("KLO v1"));
        assert!(LOAD.source.contains("rand()"));
    }
}
