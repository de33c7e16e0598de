//! The board inventory (`scenarios/boards.yaml`): which boards exist and how
//! klo-spec reaches them. `local` (this machine, real `/sys`) is built in;
//! the inventory adds boards by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::helpers::Compiler;
use crate::error::{Diagnostic, InputError};
use crate::yaml::source::Pos;

/// Seconds to wait for a connection unless the inventory says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT_S: u32 = 10;
/// Tries again after a lost connection unless the inventory says otherwise.
pub const DEFAULT_RETRIES: u32 = 2;

/// The board inventory: boards by name.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "klo-spec board inventory")]
pub struct RawInventory {
    /// Boards by name (the names scenarios use in `boards:`).
    #[serde(default)]
    pub boards: BTreeMap<String, RawBoard>,
}

/// One board.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBoard {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// How klo-spec reaches the board: `local` runs the cell scripts on this
    /// machine, `ssh` through the system's OpenSSH client, `adb` through the
    /// `adb` client.
    #[serde(default)]
    pub transport: TransportKind,
    /// ssh: the destination (`user@host`, or a `Host` of your ssh config);
    /// adb: the device's serial (`adb devices`, or `ip:port` for adb over
    /// the network).
    #[serde(default)]
    pub address: Option<String>,
    /// adb: the host whose adb server the device is attached to (`adb -H`),
    /// for a board on another machine. Default: this machine's server.
    #[serde(default)]
    pub adb_host: Option<String>,
    /// adb: that server's port (`adb -P`, default 5037).
    #[serde(default)]
    pub adb_port: Option<u16>,
    /// ssh: an ssh config file to use instead of ~/.ssh/config (`ssh -F`).
    /// Relative to this file.
    #[serde(default)]
    pub ssh_config: Option<String>,
    /// Root of the board's sysfs, where frequency, hotplug and GPU files
    /// are (default `/sys`). For `local`, relative paths are relative to
    /// this file; for ssh and adb it is a path on the board.
    #[serde(default)]
    pub sysfs_root: Option<String>,
    /// A fixture sysfs tree standing in for a board (tests, demos): klo-spec
    /// copies it into the board's work folder once and plays the kernel's
    /// part on the copy. Relative to this file. `local` only.
    #[serde(default)]
    pub fixture: Option<String>,
    /// Play the kernel's part on a `sysfs_root` that is a fixture tree:
    /// current frequencies follow min/max (or `scaling_setspeed` under the
    /// userspace governor), online lists follow `cpuN/online`. `local` only.
    #[serde(default)]
    pub emulate_kernel: bool,
    /// How the board-side scripts get the rights to write sysfs: `none`
    /// (already allowed: root, or a fixture), `sudo` (`sudo -n`; local and
    /// ssh), `su` (`su -c COMMAND`: MagiskSU, or a Linux su; ssh and adb),
    /// `su_0` (`su 0 COMMAND...`: the su of Android's userdebug builds;
    /// adb), `adb_root` (`adb root` once, userdebug builds only) or `auto`
    /// (adb: the first that works of adbd already root, `adb root`, `su
    /// -c`, `su 0`; what was found is kept in klo-spec's cache).
    #[serde(default)]
    pub root: RootMethod,
    /// The board-side work folder (helpers, cell folders, saved values).
    /// Default: `$TMPDIR/klo-spec-<uid>/<name>` (local), `/tmp/klo-spec`
    /// (ssh), `/data/local/tmp/klo-spec` (adb).
    #[serde(default)]
    pub workdir: Option<String>,
    /// Build the helpers on this machine with this C compiler (a cross
    /// compiler such as `aarch64-linux-gnu-gcc` for a remote board).
    /// Default for `local`: `$CC` or `cc`.
    #[serde(default)]
    pub cc: Option<String>,
    /// Build the helpers with the Android NDK's clang (`ANDROID_NDK_HOME`).
    /// The default for `adb` boards.
    #[serde(default)]
    pub ndk: Option<RawNdk>,
    /// Build the helpers on the board with its own compiler (`gcc`, `cc`).
    /// The default for `ssh` boards (`cc`).
    #[serde(default)]
    pub board_cc: Option<String>,
    /// ssh and adb: how many times a cell whose connection failed is tried
    /// again before the board counts as lost (its remaining cells are not
    /// run; the other boards go on). Default 2. These tries happen inside
    /// one attempt of the cell; a scenario's `retries` with `retry_on:
    /// [lost]` gives the cell further attempts, each with these retries.
    #[serde(default)]
    #[schemars(range(max = 20))]
    pub retries: Option<u32>,
    /// ssh and adb: seconds to wait for a connection (default 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 600))]
    pub connect_timeout_s: Option<u32>,
}

/// The Android NDK build of the helpers.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNdk {
    /// The Android API level to build for (default 24, Android 7).
    #[serde(default)]
    pub api: Option<u32>,
    /// The device's CPU: `aarch64` (default), `armv7a`, `x86_64` or `i686`.
    #[serde(default)]
    pub arch: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    #[default]
    Local,
    Ssh,
    Adb,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Local => "local",
            TransportKind::Ssh => "ssh",
            TransportKind::Adb => "adb",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RootMethod {
    #[default]
    None,
    Sudo,
    Su,
    #[serde(rename = "su_0")]
    Su0,
    AdbRoot,
    Auto,
}

impl RootMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RootMethod::None => "none",
            RootMethod::Sudo => "sudo",
            RootMethod::Su => "su",
            RootMethod::Su0 => "su_0",
            RootMethod::AdbRoot => "adb_root",
            RootMethod::Auto => "auto",
        }
    }
}

/// A board after validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardConfig {
    pub name: String,
    pub transport: TransportKind,
    /// The sysfs root the scripts use (for a `fixture`, its copy; filled in
    /// when the board is connected).
    pub sysfs_root: PathBuf,
    /// For a `fixture` board: the tree it is copied from.
    pub fixture: Option<PathBuf>,
    pub emulate_kernel: bool,
    pub root: RootMethod,
    /// Where `root:` was set (`boards.yaml:7:11`), for messages; None for
    /// the default.
    pub root_at: Option<String>,
    pub workdir: Option<PathBuf>,
    /// How the helpers are built for this board.
    pub compiler: Compiler,
    /// ssh destination or adb serial.
    pub address: Option<String>,
    pub adb_host: Option<String>,
    pub adb_port: Option<u16>,
    pub ssh_config: Option<PathBuf>,
    pub retries: u32,
    pub connect_timeout_s: u32,
}

impl BoardConfig {
    /// The built-in `local` board: this machine, its real sysfs.
    pub fn local() -> BoardConfig {
        BoardConfig {
            name: "local".into(),
            transport: TransportKind::Local,
            sysfs_root: PathBuf::from("/sys"),
            fixture: None,
            emulate_kernel: false,
            root: RootMethod::None,
            root_at: None,
            workdir: None,
            compiler: Compiler::Host(None),
            address: None,
            adb_host: None,
            adb_port: None,
            ssh_config: None,
            retries: 0,
            connect_timeout_s: DEFAULT_CONNECT_TIMEOUT_S,
        }
    }

    /// Where the board is, for people: `ssh pi@rk3399`, `adb R58M1234 via lab2:5037`.
    pub fn describe(&self) -> String {
        let addr = self.address.clone().unwrap_or_default();
        match self.transport {
            TransportKind::Local => "this machine".into(),
            TransportKind::Ssh => format!("ssh {addr}"),
            TransportKind::Adb => match &self.adb_host {
                Some(h) => format!("adb {addr} via {h}:{}", self.adb_port.unwrap_or(5037)),
                None => format!("adb {addr}"),
            },
        }
    }
}

/// Boards by name, `local` included.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub boards: BTreeMap<String, BoardConfig>,
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
}

impl Default for Inventory {
    fn default() -> Self {
        let mut boards = BTreeMap::new();
        boards.insert("local".to_string(), BoardConfig::local());
        Inventory { boards, file: None }
    }
}

impl Inventory {
    pub fn get(&self, name: &str) -> Option<&BoardConfig> {
        self.boards.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.boards.keys().map(String::as_str).collect()
    }
}

impl Inventory {
    /// The command that puts `board` back (`klo-spec board reset`), with
    /// `--boards` when this inventory is not the one that command finds by
    /// itself (scenarios/boards.yaml).
    pub fn reset_command(&self, board: &str) -> String {
        match &self.file {
            Some(f) if f != Path::new("scenarios/boards.yaml") => format!(
                "klo-spec board reset {board} --boards {}",
                crate::render::shell_quote(&f.display().to_string())
            ),
            _ => format!("klo-spec board reset {board}"),
        }
    }
}

/// The inventory for a scenario: `explicit` if given, else `boards.yaml`
/// next to the scenario file if it exists, else only `local`.
pub fn for_scenario(
    explicit: Option<&Path>,
    scenario_file: &Path,
) -> Result<Inventory, InputError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = scenario_file
                .parent()
                .unwrap_or(Path::new("."))
                .join("boards.yaml");
            // Anything there is read (a FIFO or a folder is refused then,
            // not passed over).
            if !p.exists() {
                return Ok(Inventory::default());
            }
            p
        }
    };
    load(&path)
}

/// Reads and validates an inventory file.
pub fn load(path: &Path) -> Result<Inventory, InputError> {
    let text =
        crate::untrusted::read_input_text(path, crate::untrusted::YAML_MAX).map_err(|e| {
            InputError::one(
                Diagnostic::new(
                    path,
                    Pos::START,
                    "",
                    format!("cannot read the board inventory: {e}"),
                )
                .with_hint(crate::untrusted::input_hint(
                    &e,
                    "a board inventory",
                    "the inventory is scenarios/boards.yaml, or the file given with --boards",
                )),
            )
        })?;
    parse(path, &text)
}

/// Validates an inventory given as text (`path` names it in messages and
/// anchors relative paths).
pub fn parse(path: &Path, text: &str) -> Result<Inventory, InputError> {
    let (raw, source) = crate::yaml::read::<RawInventory>(
        path,
        text,
        "board inventory",
        "list boards under `boards:`; see scenarios/boards.yaml",
    )?;
    super::inventory_check::check(path, &source, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_resolve_relative_to_the_inventory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("fx/devices/system/cpu")).unwrap();
        let p = dir.path().join("boards.yaml");
        std::fs::write(&p, "boards:\n  a: {fixture: fx}\n  b: {sysfs_root: /tmp/s, emulate_kernel: true, root: sudo}\n").unwrap();
        let inv = load(&p).unwrap();
        assert_eq!(inv.names(), vec!["a", "b", "local"]);
        assert_eq!(
            inv.get("a").unwrap().fixture.as_deref(),
            Some(dir.path().join("fx").as_path())
        );
        assert!(inv.get("a").unwrap().emulate_kernel);
        assert_eq!(inv.get("b").unwrap().root, RootMethod::Sudo);
    }

    #[test]
    fn remote_boards_get_their_transports_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("boards.yaml");
        std::fs::write(&p, "boards:\n  pi: {transport: ssh, address: pi@rk3399, root: su}\n  ph: {transport: adb, address: R58, adb_host: lab2, root: adb_root}\n  x: {transport: ssh, address: h, cc: aarch64-linux-gnu-gcc, retries: 0, workdir: /var/tmp/k}\n").unwrap();
        let inv = load(&p).unwrap();
        let pi = inv.get("pi").unwrap();
        assert_eq!(pi.workdir.as_deref(), Some(Path::new("/tmp/klo-spec")));
        assert_eq!(pi.compiler, Compiler::Board("cc".into()));
        assert_eq!((pi.retries, pi.root), (DEFAULT_RETRIES, RootMethod::Su));
        let ph = inv.get("ph").unwrap();
        assert_eq!(
            ph.workdir.as_deref(),
            Some(Path::new("/data/local/tmp/klo-spec"))
        );
        assert_eq!(
            ph.compiler,
            Compiler::Ndk {
                api: 24,
                arch: "aarch64".into()
            }
        );
        assert_eq!(ph.describe(), "adb R58 via lab2:5037");
        let x = inv.get("x").unwrap();
        assert_eq!(
            x.compiler,
            Compiler::Host(Some("aarch64-linux-gnu-gcc".into()))
        );
        assert_eq!(x.retries, 0);
        assert_eq!(
            x.sysfs_root,
            Path::new("/sys"),
            "a board path, not resolved here"
        );
    }

    #[test]
    fn androids_root_methods_are_for_adb_boards_and_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("boards.yaml");
        std::fs::write(
            &p,
            "boards:\n  a: {transport: adb, address: R58, root: su_0}\n  b:\n    transport: adb\n    address: R59\n    root: auto\n",
        )
        .unwrap();
        let inv = load(&p).unwrap();
        let a = inv.get("a").unwrap();
        assert_eq!(a.root, RootMethod::Su0);
        assert_eq!(
            a.root_at.as_deref(),
            Some(format!("{}:2:43", p.display()).as_str())
        );
        let b = inv.get("b").unwrap();
        assert_eq!(b.root, RootMethod::Auto);
        assert_eq!(
            b.root_at.as_deref(),
            Some(format!("{}:6:11", p.display()).as_str())
        );
        std::fs::write(
            &p,
            "boards:\n  s: {transport: ssh, address: h, root: su_0}\n  t: {transport: ssh, address: h, root: auto}\n  l: {root: auto}\n",
        )
        .unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(
            e.contains("`root: su_0` does not apply to a board with `transport: ssh`"),
            "{e}"
        );
        assert!(
            e.contains("`root: auto` does not apply to a board with `transport: ssh`"),
            "{e}"
        );
        assert!(
            e.contains("`root: auto` does not apply to a local board"),
            "{e}"
        );
    }

    #[test]
    fn bad_inventories_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("boards.yaml");
        std::fs::write(&p, "boards:\n  a: {transprot: local}\n").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(
            e.contains("boards.yaml:2:7: unknown field `transprot`"),
            "{e}"
        );
        assert!(e.contains("did you mean `transport`?"), "{e}");
        std::fs::write(&p, "boards:\n  local: {}\n  x: {fixture: nowhere}\n").unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("`local` is the built-in board"), "{e}");
        assert!(e.contains("is not a sysfs fixture tree"), "{e}");
    }
}
