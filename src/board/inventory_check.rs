//! Checking a board inventory: names, which keys each transport takes, paths
//! on this machine resolved against the inventory file, paths on a board
//! kept to characters that need no quoting, one way to build the helpers.
//! Every problem is located (file:line:column and YAML path) and all of
//! them are reported at once.

use std::path::{Path, PathBuf};

use super::helpers::Compiler;
use super::inventory::{
    BoardConfig, DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_RETRIES, Inventory, RawBoard, RootMethod,
    TransportKind,
};
use crate::error::{Diagnostic, InputError};
use crate::scenario::check::is_slug;
use crate::yaml::source::SourceMap;

/// Most connection retries a board may have.
pub const MAX_BOARD_RETRIES: u32 = 20;
/// Longest connection timeout, in seconds.
pub const MAX_CONNECT_TIMEOUT_S: u32 = 600;

/// CPUs the NDK builds for, by the name `ndk.arch` takes.
pub const NDK_ARCHES: [&str; 4] = ["aarch64", "armv7a", "x86_64", "i686"];

/// True for a path on a board that klo-spec can put in a command line
/// without quoting: absolute, letters, digits and `_ . / + -` only.
pub fn plain_board_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.contains("..")
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./+-".contains(&b))
}

struct Checker<'a> {
    path: &'a Path,
    source: &'a SourceMap,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err(&mut self, at: &str, msg: String, hint: &str) {
        self.problems
            .push(Diagnostic::new(self.path, self.source.locate(at), at, msg).with_hint(hint));
    }

    /// Where `root:` is set in the file (`boards.yaml:7:11`), if it is.
    fn root_at(&self, base: &str, b: &RawBoard) -> Option<String> {
        (b.root != RootMethod::None).then(|| {
            let at = self.source.locate(&format!("{base}.root"));
            format!("{}:{}:{}", self.path.display(), at.line, at.column)
        })
    }

    /// Keys this transport does not take: one problem each.
    fn refuse(&mut self, base: &str, t: TransportKind, keys: &[(&str, bool)], hint: &str) {
        for (key, given) in keys {
            if *given {
                self.err(
                    &format!("{base}.{key}"),
                    format!(
                        "`{key}` does not apply to a board with `transport: {}`",
                        t.as_str()
                    ),
                    hint,
                );
            }
        }
    }
}

pub(super) fn check(
    path: &Path,
    source: &SourceMap,
    raw: super::inventory::RawInventory,
) -> Result<Inventory, InputError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut c = Checker {
        path,
        source,
        problems: Vec::new(),
    };
    let mut inv = Inventory {
        file: Some(path.to_path_buf()),
        ..Inventory::default()
    };
    let resolve = |p: &str| {
        if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            dir.join(p)
        }
    };
    for (name, b) in raw.boards {
        let base = format!("boards.{name}");
        if !is_slug(&name) {
            c.err(&base, format!("board name `{name}` is not a valid name"), "use letters, digits, `_`, `.`, `-` or `+` (names become folder names and cell ids)");
            continue;
        }
        if name == "local" {
            c.err(
                &base,
                "`local` is the built-in board and cannot be redefined".into(),
                "give this board another name",
            );
            continue;
        }
        let before = c.problems.len();
        let config = match b.transport {
            TransportKind::Local => local_board(&mut c, &base, &name, &b, &resolve),
            TransportKind::Ssh | TransportKind::Adb => {
                remote_board(&mut c, &base, &name, &b, &resolve)
            }
        };
        if let Some(config) = config.filter(|_| c.problems.len() == before) {
            inv.boards.insert(name, config);
        }
    }
    if c.problems.is_empty() {
        Ok(inv)
    } else {
        Err(InputError {
            diagnostics: c.problems,
        })
    }
}

fn local_board(
    c: &mut Checker,
    base: &str,
    name: &str,
    b: &RawBoard,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Option<BoardConfig> {
    c.refuse(
        base,
        TransportKind::Local,
        &[
            ("address", b.address.is_some()),
            ("adb_host", b.adb_host.is_some()),
            ("adb_port", b.adb_port.is_some()),
            ("ssh_config", b.ssh_config.is_some()),
            ("ndk", b.ndk.is_some()),
            ("board_cc", b.board_cc.is_some()),
            ("retries", b.retries.is_some()),
            ("connect_timeout_s", b.connect_timeout_s.is_some()),
        ],
        "a local board runs its scripts on this machine and builds its helpers with `cc`; use `transport: ssh` or `adb` for a board elsewhere",
    );
    if !matches!(b.root, RootMethod::None | RootMethod::Sudo) {
        c.err(
            &format!("{base}.root"),
            format!(
                "`root: {}` does not apply to a local board",
                b.root.as_str()
            ),
            "use `none` or `sudo`",
        );
    }
    let (sysfs_root, fixture) = match (&b.sysfs_root, &b.fixture) {
        (Some(_), Some(_)) => {
            c.err(
                base,
                "`sysfs_root` and `fixture` exclude each other".into(),
                "a fixture board gets its sysfs root from its copy of the fixture",
            );
            return None;
        }
        (Some(r), None) => {
            let r = resolve(r);
            // A tree the emulator plays the kernel on is read and written
            // file by file: only folders and regular files.
            if b.emulate_kernel
                && r.exists()
                && let Err(why) = crate::untrusted::check_tree(&r, 100_000, 1 << 20)
            {
                c.err(
                    &format!("{base}.sysfs_root"),
                    format!("`{}` cannot be emulated: {why}", r.display()),
                    "an emulated sysfs tree holds folders and small regular files only (see tests/fixtures/sysfs/)",
                );
                return None;
            }
            (r, None)
        }
        (None, Some(f)) => {
            let f = resolve(f);
            if !f.join("devices/system/cpu").is_dir() {
                c.err(
                    &format!("{base}.fixture"),
                    format!(
                        "`{}` is not a sysfs fixture tree (no devices/system/cpu in it)",
                        f.display()
                    ),
                    "see tests/fixtures/sysfs/ for the layout",
                );
                return None;
            }
            if let Err(why) = crate::untrusted::check_tree(&f, 100_000, 1 << 20) {
                c.err(
                    &format!("{base}.fixture"),
                    format!("`{}` is not a fixture tree klo-spec copies: {why}", f.display()),
                    "a fixture tree holds folders and small regular files only (no links, FIFOs or devices); see tests/fixtures/sysfs/",
                );
                return None;
            }

            (PathBuf::new(), Some(f))
        }
        (None, None) => (PathBuf::from("/sys"), None),
    };
    Some(BoardConfig {
        name: name.to_string(),
        transport: TransportKind::Local,
        sysfs_root,
        emulate_kernel: b.emulate_kernel || fixture.is_some(),
        fixture,
        root: b.root,
        root_at: c.root_at(base, b),
        workdir: b.workdir.as_deref().map(resolve),
        compiler: Compiler::Host(b.cc.clone()),
        ..BoardConfig::local()
    })
}

fn remote_board(
    c: &mut Checker,
    base: &str,
    name: &str,
    b: &RawBoard,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Option<BoardConfig> {
    let t = b.transport;
    let adb = t == TransportKind::Adb;
    refuse_other_transports(c, base, b);
    let address = remote_address(c, base, b);
    check_remote_root(c, base, b);
    check_remote_settings(c, base, b);
    let compiler = compiler(c, base, b, adb)?;
    let ssh_config = b.ssh_config.as_deref().map(resolve);
    if let Some(f) = &ssh_config
        && !adb
        && !f.is_file()
    {
        c.err(
            &format!("{base}.ssh_config"),
            format!("no ssh config file at {}", f.display()),
            "give the path of an ssh config file (relative to the inventory), or leave `ssh_config` out to use ~/.ssh/config",
        );
    }
    let default_workdir = if adb {
        "/data/local/tmp/klo-spec"
    } else {
        "/tmp/klo-spec"
    };
    Some(BoardConfig {
        name: name.to_string(),
        transport: t,
        sysfs_root: PathBuf::from(b.sysfs_root.as_deref().unwrap_or("/sys")),
        fixture: None,
        emulate_kernel: false,
        root: b.root,
        root_at: c.root_at(base, b),
        workdir: Some(PathBuf::from(
            b.workdir.as_deref().unwrap_or(default_workdir),
        )),
        compiler,
        address,
        adb_host: b.adb_host.clone(),
        adb_port: b.adb_port,
        ssh_config,
        retries: b.retries.unwrap_or(DEFAULT_RETRIES),
        connect_timeout_s: b.connect_timeout_s.unwrap_or(DEFAULT_CONNECT_TIMEOUT_S),
    })
}

/// A remote board's settings that belong to another transport.
fn refuse_other_transports(c: &mut Checker, base: &str, b: &RawBoard) {
    let t = b.transport;
    c.refuse(
        base,
        t,
        &[
            ("fixture", b.fixture.is_some()),
            ("emulate_kernel", b.emulate_kernel),
        ],
        "fixture trees and kernel emulation are for `transport: local` boards",
    );
    if t == TransportKind::Adb {
        c.refuse(
            base,
            t,
            &[("ssh_config", b.ssh_config.is_some())],
            "ssh settings are for `transport: ssh` boards",
        );
    } else {
        c.refuse(
            base,
            t,
            &[
                ("adb_host", b.adb_host.is_some()),
                ("adb_port", b.adb_port.is_some()),
            ],
            "adb settings are for `transport: adb` boards",
        );
    }
}

/// A remote board's `address`: given, and safe on the client's command
/// line.
fn remote_address(c: &mut Checker, base: &str, b: &RawBoard) -> Option<String> {
    let t = b.transport;
    let what = if t == TransportKind::Adb {
        "the device's serial (`adb devices` lists it)"
    } else {
        "the ssh destination (`user@host`, or a Host of your ssh config)"
    };
    match b.address.as_deref().map(str::trim) {
        None | Some("") => {
            c.err(
                base,
                format!(
                    "a board with `transport: {}` needs an `address`",
                    t.as_str()
                ),
                &format!("set `address:` to {what}"),
            );
            None
        }
        Some(a)
            if a.starts_with('-')
                || !a
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "@._:%+-[]".contains(ch)) =>
        {
            c.err(
                &format!("{base}.address"),
                format!("`{a}` is not a valid address"),
                &format!("give {what}: letters, digits and `@ . _ : % + - [ ]` only, not starting with `-` (it goes to the client's command line)"),
            );
            None
        }
        Some(a) => Some(a.to_string()),
    }
}

/// A remote board's `root`: a method its transport has.
fn check_remote_root(c: &mut Checker, base: &str, b: &RawBoard) {
    let t = b.transport;
    let adb = t == TransportKind::Adb;
    let root_ok = match b.root {
        RootMethod::None | RootMethod::Su => true,
        RootMethod::Sudo => !adb,
        RootMethod::AdbRoot | RootMethod::Su0 | RootMethod::Auto => adb,
    };
    if !root_ok {
        c.err(
            &format!("{base}.root"),
            format!(
                "`root: {}` does not apply to a board with `transport: {}`",
                b.root.as_str(),
                t.as_str()
            ),
            if adb {
                "use `none`, `su` (`su -c`, MagiskSU), `su_0` (`su 0 COMMAND`, a userdebug build's su), `adb_root` (userdebug builds) or `auto` (the first of these that works)"
            } else {
                "use `none`, `sudo` (`sudo -n`) or `su` (`su -c`)"
            },
        );
    }
}

/// A remote board's paths, adb host, retries and connection timeout.
fn check_remote_settings(c: &mut Checker, base: &str, b: &RawBoard) {
    for (key, value) in [("workdir", &b.workdir), ("sysfs_root", &b.sysfs_root)] {
        if let Some(v) = value
            && !plain_board_path(v)
        {
            c.err(
                &format!("{base}.{key}"),
                format!("`{v}` is not a plain absolute path on the board"),
                "use an absolute path of letters, digits, `_`, `.`, `/`, `+` and `-` (it goes into command lines on the board unquoted)",
            );
        }
    }
    if let Some(h) = &b.adb_host
        && (h.is_empty() || h.starts_with('-') || h.chars().any(char::is_whitespace))
    {
        c.err(
            &format!("{base}.adb_host"),
            format!("`{h}` is not a host name"),
            "the host whose adb server has the device, e.g. `lab2` or `10.0.0.7`",
        );
    }
    if let Some(r) = b.retries
        && r > MAX_BOARD_RETRIES
    {
        c.err(
            &format!("{base}.retries"),
            format!("`retries` must be between 0 and {MAX_BOARD_RETRIES}, got {r}"),
            "tries again after a dropped connection, 2 s, 4 s, ... apart: a board lost 20 times in a row is not coming back",
        );
    }
    if let Some(t) = b.connect_timeout_s
        && !(1..=MAX_CONNECT_TIMEOUT_S).contains(&t)
    {
        c.err(
            &format!("{base}.connect_timeout_s"),
            format!("`connect_timeout_s` must be between 1 and {MAX_CONNECT_TIMEOUT_S}, got {t}"),
            "seconds to wait for a connection; the default is 10",
        );
    }
}

/// One way to build the helpers: `cc` (here), `ndk` or `board_cc`.
fn compiler(c: &mut Checker, base: &str, b: &RawBoard, adb: bool) -> Option<Compiler> {
    let given: Vec<&str> = [
        ("cc", b.cc.is_some()),
        ("ndk", b.ndk.is_some()),
        ("board_cc", b.board_cc.is_some()),
    ]
    .iter()
    .filter(|(_, g)| *g)
    .map(|(k, _)| *k)
    .collect();
    if given.len() > 1 {
        c.err(
            &format!("{base}.{}", given[1]),
            format!("`{}` and `{}` exclude each other", given[0], given[1]),
            "build the helpers one way: `cc` (a compiler here, e.g. a cross gcc), `ndk` (Android NDK) or `board_cc` (the board's own compiler)",
        );
        return None;
    }
    for (key, v) in [("cc", &b.cc), ("board_cc", &b.board_cc)] {
        if let Some(v) = v
            && shlex::split(v).is_none_or(|w| w.is_empty())
        {
            c.err(
                &format!("{base}.{key}"),
                format!("`{v}` is not a compiler command"),
                "e.g. `aarch64-linux-gnu-gcc` or `gcc`",
            );
            return None;
        }
    }
    if let Some(v) = &b.board_cc
        && !v
            .bytes()
            .all(|ch| ch.is_ascii_alphanumeric() || b"_./+- ".contains(&ch))
    {
        c.err(
            &format!("{base}.board_cc"),
            format!("`{v}` has characters klo-spec does not pass to the board's shell"),
            "a compiler name or path with its options, e.g. `gcc` or `/usr/bin/gcc-12`",
        );
        return None;
    }
    Some(match (&b.cc, &b.ndk, &b.board_cc) {
        (Some(cc), _, _) => Compiler::Host(Some(cc.clone())),
        (_, _, Some(cc)) => Compiler::Board(cc.clone()),
        (_, Some(n), _) => ndk(c, base, n.api, n.arch.as_deref())?,
        (None, None, None) if adb => ndk(c, base, None, None)?,
        (None, None, None) => Compiler::Board("cc".into()),
    })
}

fn ndk(c: &mut Checker, base: &str, api: Option<u32>, arch: Option<&str>) -> Option<Compiler> {
    let arch = arch.unwrap_or("aarch64");
    if !NDK_ARCHES.contains(&arch) {
        c.err(
            &format!("{base}.ndk.arch"),
            format!("`{arch}` is not a CPU the NDK builds for"),
            &format!("use one of {}", NDK_ARCHES.join(", ")),
        );
        return None;
    }
    let api = api.unwrap_or(24);
    if !(21..=40).contains(&api) {
        c.err(
            &format!("{base}.ndk.api"),
            format!("API level {api} is outside what NDKs build for"),
            "use 21 (Android 5) to 35; 24 (Android 7) is the default",
        );
        return None;
    }
    Some(Compiler::Ndk {
        api,
        arch: arch.to_string(),
    })
}
