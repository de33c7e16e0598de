//! The board inventory (`scenarios/boards.yaml`): which boards exist and how
//! klo-spec reaches them. `local` (this machine, real `/sys`) is built in;
//! the inventory adds boards by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, InputError};
use crate::scenario::check::is_slug;
use crate::yaml::source::{Pos, SourceMap};

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
    /// machine.
    #[serde(default)]
    pub transport: TransportKind,
    /// Root of the board's sysfs, where frequency, hotplug and GPU files
    /// are (default `/sys`). Relative paths are relative to this file.
    #[serde(default)]
    pub sysfs_root: Option<String>,
    /// A fixture sysfs tree standing in for a board (tests, demos): klo-spec
    /// copies it into the board's work folder once and plays the kernel's
    /// part on the copy. Relative to this file.
    #[serde(default)]
    pub fixture: Option<String>,
    /// Play the kernel's part on a `sysfs_root` that is a fixture tree:
    /// current frequencies follow min/max (or `scaling_setspeed` under the
    /// userspace governor), online lists follow `cpuN/online`.
    #[serde(default)]
    pub emulate_kernel: bool,
    /// How the cell script gets the rights to write sysfs: `none` (already
    /// allowed, e.g. root or a fixture) or `sudo` (`sudo -n`).
    #[serde(default)]
    pub root: RootMethod,
    /// The board-side work folder (helpers, cell folders, saved values).
    #[serde(default)]
    pub workdir: Option<String>,
    /// The C compiler for the board's helpers (default: `$CC` or `cc`).
    #[serde(default)]
    pub cc: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    #[default]
    Local,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RootMethod {
    #[default]
    None,
    Sudo,
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
    pub workdir: Option<PathBuf>,
    pub cc: Option<String>,
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
            workdir: None,
            cc: None,
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
            if !p.is_file() {
                return Ok(Inventory::default());
            }
            p
        }
    };
    load(&path)
}

/// Reads and validates an inventory file.
pub fn load(path: &Path) -> Result<Inventory, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::one(
            Diagnostic::new(
                path,
                Pos::START,
                "",
                format!("cannot read the board inventory: {e}"),
            )
            .with_hint("the inventory is scenarios/boards.yaml, or the file given with --boards"),
        )
    })?;
    let (raw, source) = crate::yaml::read::<RawInventory>(
        path,
        &text,
        "board inventory",
        "list boards under `boards:`; see scenarios/boards.yaml",
    )?;
    check(path, &source, raw)
}

fn check(path: &Path, source: &SourceMap, raw: RawInventory) -> Result<Inventory, InputError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    let mut inv = Inventory {
        file: Some(path.to_path_buf()),
        ..Inventory::default()
    };
    let diag = |p: &str, msg: String, hint: &str| {
        Diagnostic::new(path, source.locate(p), p, msg).with_hint(hint)
    };
    for (name, b) in raw.boards {
        let base = format!("boards.{name}");
        if !is_slug(&name) {
            problems.push(diag(&base, format!("board name `{name}` is not a valid name"), "use letters, digits, `_`, `.`, `-` or `+` (names become folder names and cell ids)"));
            continue;
        }
        if name == "local" {
            problems.push(diag(
                &base,
                "`local` is the built-in board and cannot be redefined".into(),
                "give this board another name",
            ));
            continue;
        }
        let resolve = |p: &str| {
            if Path::new(p).is_absolute() {
                PathBuf::from(p)
            } else {
                dir.join(p)
            }
        };
        let (sysfs_root, fixture) = match (&b.sysfs_root, &b.fixture) {
            (Some(_), Some(_)) => {
                problems.push(diag(
                    &base,
                    "`sysfs_root` and `fixture` exclude each other".into(),
                    "a fixture board gets its sysfs root from its copy of the fixture",
                ));
                continue;
            }
            (Some(r), None) => (resolve(r), None),
            (None, Some(f)) => {
                let f = resolve(f);
                if !f.join("devices/system/cpu").is_dir() {
                    problems.push(diag(
                        &format!("{base}.fixture"),
                        format!(
                            "`{}` is not a sysfs fixture tree (no devices/system/cpu in it)",
                            f.display()
                        ),
                        "see tests/fixtures/sysfs/ for the layout",
                    ));
                    continue;
                }
                (PathBuf::new(), Some(f))
            }
            (None, None) => (PathBuf::from("/sys"), None),
        };
        inv.boards.insert(
            name.clone(),
            BoardConfig {
                name,
                transport: b.transport,
                sysfs_root,
                emulate_kernel: b.emulate_kernel || fixture.is_some(),
                fixture,
                root: b.root,
                workdir: b.workdir.as_deref().map(resolve),
                cc: b.cc,
            },
        );
    }
    if problems.is_empty() {
        Ok(inv)
    } else {
        Err(InputError {
            diagnostics: problems,
        })
    }
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
