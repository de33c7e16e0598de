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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HelperPaths {
    pub load: String,
    pub probe: String,
}

/// How a board's helpers are built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compiler {
    /// On this machine with this compiler command (None: `$CC` or `cc`); a
    /// cross compiler for a remote board.
    Host(Option<String>),
    /// On this machine with the Android NDK's clang.
    Ndk { api: u32, arch: String },
    /// On the board, with its own compiler.
    Board(String),
}

/// The C compiler for the local board: `$CC`, else `cc`.
pub fn local_compiler() -> String {
    std::env::var("CC")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "cc".to_string())
}

/// The command line (program and leading arguments) of a compiler on this
/// machine, or None when the board builds its own.
pub fn host_command(c: &Compiler) -> Result<Option<Vec<String>>> {
    Ok(match c {
        Compiler::Host(cc) => {
            let cc = cc.clone().unwrap_or_else(local_compiler);
            Some(shlex::split(&cc).filter(|w| !w.is_empty()).ok_or_else(|| {
                crate::error::UsageError::new(format!("`{cc}` is not a compiler command"), None)
            })?)
        }
        Compiler::Ndk { api, arch } => Some(ndk_command(*api, arch)?),
        Compiler::Board(_) => None,
    })
}

/// The NDK's clang for `arch` at API level `api`: `$ANDROID_NDK_HOME/
/// toolchains/llvm/prebuilt/<host>/bin/clang --target=<triple><api>`.
pub fn ndk_command(api: u32, arch: &str) -> Result<Vec<String>> {
    let hint = "install the Android NDK and set ANDROID_NDK_HOME to its folder, or build the helpers another way (`cc:` a cross compiler, `board_cc:` the board's own)";
    let Some(home) = std::env::var_os("ANDROID_NDK_HOME").filter(|h| !h.is_empty()) else {
        return Err(crate::error::UsageError::new(
            "ANDROID_NDK_HOME is not set: the helpers of an Android board are built with the NDK's clang",
            Some(hint.into()),
        )
        .into());
    };
    let host = format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH);
    let clang = Path::new(&home)
        .join("toolchains/llvm/prebuilt")
        .join(host.replace("aarch64", "x86_64"))
        .join("bin/clang");
    if !clang.is_file() {
        return Err(crate::error::UsageError::new(
            format!("no NDK clang at {}", clang.display()),
            Some(hint.into()),
        )
        .into());
    }
    let triple = match arch {
        "armv7a" => "armv7a-linux-androideabi",
        "x86_64" => "x86_64-linux-android",
        "i686" => "i686-linux-android",
        _ => "aarch64-linux-android",
    };
    Ok(vec![
        clang.to_string_lossy().into_owned(),
        format!("--target={triple}{api}"),
    ])
}

fn run_compiler(cmd: &[String], args: &[&str]) -> Result<String> {
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(args)
        .output()
        .map_err(|e| {
            crate::error::UsageError::new(
                format!(
                    "cannot run the C compiler `{}` to build the board-side helpers: {e}",
                    cmd.join(" ")
                ),
                Some("install it (Debian: apt-get install gcc, or gcc-aarch64-linux-gnu for a cross compiler) or point CC or the inventory's `cc` at it".into()),
            )
        })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string())
}

/// Helpers built on this machine for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The folder holding `klo-load` and `klo-probe`.
    pub dir: PathBuf,
    /// What the compiler builds for (`-dumpmachine`: `aarch64-linux-gnu`).
    pub target: String,
    /// 16 hex digits over sources, flags, compiler and its version.
    pub key: String,
}

impl Built {
    pub fn paths(&self) -> HelperPaths {
        let path = |name: &str| self.dir.join(name).to_string_lossy().into_owned();
        HelperPaths {
            load: path(LOAD.name),
            probe: path(PROBE.name),
        }
    }
}

/// Builds the helpers with the compiler `cmd` into
/// `cache/<target>/<key>/`, unless already there: cached by target and a
/// hash of sources, flags, compiler and its version line, so a new compiler
/// rebuilds. Builds go to a temporary name and are renamed into place, so
/// concurrent runs never see a half-written binary.
pub fn build_with(cmd: &[String], cache: &Path) -> Result<Built> {
    let version = run_compiler(cmd, &["--version"])?;
    let target = run_compiler(cmd, &["-dumpmachine"])?;
    let target = if target.is_empty()
        || !target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        "unknown".to_string()
    } else {
        target
    };
    let key =
        hex_sha256(format!("{}\0{}\0{version}\0{target}", source_hash(), cmd.join(" ")).as_bytes());
    let dir = cache.join(&target).join(&key[..16]);
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
        let out = Command::new(&cmd[0])
            .args(&cmd[1..])
            .args(h.cflags)
            .arg("-o")
            .arg(&tmp)
            .arg(&src)
            .args(h.libs)
            .output()
            .with_context(|| format!("cannot run `{}`", cmd.join(" ")))?;
        if !out.status.success() {
            let _ = std::fs::remove_file(&tmp);
            bail!(
                "building {} with `{}` failed ({}):\n{}",
                h.name,
                cmd.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        std::fs::rename(&tmp, &bin)
            .with_context(|| format!("cannot move {} into place", bin.display()))?;
    }
    Ok(Built {
        dir,
        target,
        key: key[..16].to_string(),
    })
}

/// Builds the helpers with `cc` (a command line) into the cache; returns
/// their paths and folder.
pub fn build(cc: &str, cache: &Path) -> Result<(HelperPaths, PathBuf)> {
    let cmd = host_command(&Compiler::Host(Some(cc.to_string())))?.unwrap_or_default();
    let built = build_with(&cmd, cache)?;
    Ok((built.paths(), built.dir))
}

/// The `uname -m` names of the CPU a compiler target runs on: a board whose
/// `uname -m` is not among them cannot run the helpers.
pub fn machines_of(target: &str) -> &'static [&'static str] {
    let cpu = target.split('-').next().unwrap_or_default();
    match cpu {
        "aarch64" | "arm64" => &["aarch64", "arm64", "armv8l"],
        "x86_64" | "amd64" => &["x86_64", "amd64"],
        "i386" | "i486" | "i586" | "i686" => &["i386", "i486", "i586", "i686", "x86_64"],
        c if c.starts_with("arm") => &["armv7l", "armv8l", "armv7", "aarch64"],
        "riscv64" => &["riscv64"],
        _ => &[],
    }
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
