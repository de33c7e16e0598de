//! Boards and how klo-spec reaches them. A [`Transport`] makes one round
//! trip per cell: push the cell's files, run its script, pull its folder.
//! `local` (this machine) is built in; `ssh` and `adb` boards
//! ([`remote::RemoteBoard`]) plug in behind the same trait.

pub mod adb;
pub mod channel;
pub mod check;
pub mod emulate;
pub mod freqplan;
pub mod helpers;
pub mod inventory;
mod inventory_check;
pub mod keeper;
pub mod listing;
pub mod local;
pub mod pull;
pub mod remote;
pub mod ssh;
pub mod topology;
pub mod trip;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

pub use helpers::HelperPaths;
pub use inventory::BoardConfig;
pub use topology::Topology;

/// Cancellation shared by the signal handler and the workers: 0 run on,
/// 1 stop after cleaning up (first Ctrl-C), 2 stop now (second Ctrl-C).
/// It also keeps which signal came first (INT, TERM, HUP), so that records
/// and messages name it.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<CancelState>);

#[derive(Debug, Default)]
struct CancelState {
    level: AtomicU8,
    /// The first signal received, 0 for none (or a cancellation without one).
    signal: AtomicI32,
}

impl Cancel {
    pub fn level(&self) -> u8 {
        self.0.level.load(Ordering::SeqCst)
    }
    pub fn is_cancelled(&self) -> bool {
        self.level() > 0
    }
    /// True once a second signal asked to stop without cleaning up.
    pub fn is_forced(&self) -> bool {
        self.level() >= 2
    }
    /// Raises the level by one (each signal escalates).
    pub fn escalate(&self) -> u8 {
        self.0
            .level
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1)
    }
    /// Raises the level by one for signal `sig`; the first signal is kept.
    pub fn escalate_by(&self, sig: i32) -> u8 {
        let _ = self
            .0
            .signal
            .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
        self.escalate()
    }
    /// The first signal that cancelled the run, if a signal did.
    pub fn signal(&self) -> Option<i32> {
        Some(self.0.signal.load(Ordering::SeqCst)).filter(|s| *s != 0)
    }
    /// What stopped the run, for records and messages: `SIGINT (Ctrl-C)`,
    /// `SIGTERM`, `SIGHUP (the terminal closed)`, or a cancellation
    /// without a signal.
    pub fn cause(&self) -> String {
        match self.signal() {
            Some(s) => signal_name(s),
            None => "a cancellation".into(),
        }
    }
}

/// The name of a signal klo-spec stops on, as messages give it.
pub fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT (Ctrl-C)".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP (a hang-up)".into(),
        other => format!("signal {other}"),
    }
}

/// A file sent to a board: (name, content, permission bits).
pub type JobFile = (String, Vec<u8>, u32);
/// The mode of a script or program klo-spec sends.
pub const EXEC: u32 = 0o755;
/// The mode of a data file klo-spec sends.
pub const DATA: u32 = 0o644;

/// What a cell sends to the board.
#[derive(Debug, Clone)]
pub struct CellJob {
    /// Unique name of this attempt on the board.
    pub token: String,
    /// Files to create in the cell folder.
    pub files: Vec<JobFile>,
    /// The file among `files` that the board runs with `sh`.
    pub script: String,
    /// Local folder the cell folder is pulled into.
    pub pull_to: PathBuf,
    /// Longest the whole round trip may take before it is killed.
    pub deadline: Duration,
    /// How much of the cell folder may come back.
    pub limits: crate::untrusted::PullLimits,
}

/// What came back from a cell's round trip.
#[derive(Debug, Clone, Default)]
pub struct CellRun {
    /// Exit code of the cell script (None when killed by a signal).
    pub exit_code: Option<i32>,
    /// The script's own stdout and stderr (the benchmark's go to files).
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
    /// Remote commands this round trip needed.
    pub round_trips: u32,
    /// True when a cancellation stopped the cell.
    pub interrupted: bool,
    /// True when the deadline passed and the runner killed the script.
    pub deadline_hit: bool,
    /// Processes the runner had to kill after the script was gone (a load
    /// or benchmark that survived its cleanup): should always be 0.
    pub leftovers_killed: u32,
    /// Boards on this machine: CPU time (s) that other processes than the
    /// cell's and klo-spec's used on this machine while the cell ran, and
    /// the machine's CPUs (see `local::ForeignCpu`).
    pub foreign_cpu: Option<(f64, u32)>,
    /// What the pull of the cell folder refused (links, special files,
    /// paths leaving the folder, sizes over the limits).
    pub pull: pull::PullReport,
}

/// A board klo-spec can run cells on.
pub trait Transport: Send + Sync {
    /// The board as configured (name, sysfs root, root method).
    fn config(&self) -> &BoardConfig;
    /// The board's name in scenarios.
    fn name(&self) -> &str {
        &self.config().name
    }
    /// What identifies the hardware, for cell hashes (stable across runs).
    fn identity(&self) -> Result<String>;
    /// The board-side work folder (helpers, cell folders, saved values).
    fn workdir(&self) -> String;
    /// The CPU a load meant for board core `core` is pinned to.
    fn load_cpu(&self, core: u32) -> u32 {
        core
    }
    /// Runs a short script on the board and returns its standard output.
    fn run_script(&self, script: &str, timeout: Duration) -> Result<String>;
    /// Builds or pushes the helpers if needed; returns their board paths.
    fn ensure_helpers(&self) -> Result<HelperPaths>;
    /// Where the cell folder of `token` lives on the board.
    fn cell_dir(&self, token: &str) -> String;
    /// Pushes the job's files, runs its script, pulls the cell folder.
    fn run_cell(&self, job: &CellJob, cancel: &Cancel) -> Result<CellRun>;
    /// Takes the board for this process: a second klo-spec run on the same
    /// board is refused with the holder's PID and host.
    fn lock(&self) -> Result<BoardLock>;
}

/// The board could not be reached, or the connection to it dropped: the
/// cell may be tried again (`retries` in the inventory), and a board that
/// stays unreachable loses its remaining cells while the others go on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("board `{board}` ({address}) is unreachable: {detail}")]
pub struct Unreachable {
    pub board: String,
    /// How klo-spec reaches it (`ssh pi@rk3399`).
    pub address: String,
    /// What the client said (its stderr), or what went wrong.
    pub detail: String,
}

/// What to do about a board another run holds.
pub const BUSY_BOARD_HINT: &str =
    "wait for it to finish, or run with --wait: cells on one board must never overlap";

/// Held while klo-spec uses a board: a lock file on this machine (local
/// boards), or a lock process on the board (ssh and adb boards).
pub struct BoardLock {
    _held: Box<dyn std::any::Any + Send>,
}

impl BoardLock {
    /// Takes `path` (a lock file) or says who holds it.
    pub fn take(path: &std::path::Path, board: &str) -> Result<BoardLock> {
        use std::io::Write as _;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if file.try_lock().is_err() {
            let holder = std::fs::read_to_string(path).unwrap_or_default();
            return Err(crate::error::Busy {
                message: format!("board `{board}` is in use by another klo-spec run"),
                holder: holder.trim().to_string(),
                hint: BUSY_BOARD_HINT.into(),
            }
            .into());
        }
        file.set_len(0)?;
        writeln!(file, "{}", crate::host::this_process())?;
        Ok(BoardLock {
            _held: Box::new(file),
        })
    }

    /// A lock held by `guard` (released when it is dropped).
    pub fn held(guard: impl std::any::Any + Send) -> BoardLock {
        BoardLock {
            _held: Box::new(guard),
        }
    }
}

/// The transport for a configured board. Connecting costs nothing: remote
/// boards are reached at their first round trip.
pub fn connect(
    config: &BoardConfig,
    templates: &crate::render::Templates,
) -> Result<Box<dyn Transport>> {
    match config.transport {
        inventory::TransportKind::Local => Ok(Box::new(local::LocalBoard::new(config)?)),
        inventory::TransportKind::Ssh | inventory::TransportKind::Adb => Ok(Box::new(
            remote::RemoteBoard::new(config, templates.clone())?,
        )),
    }
}

/// Reads the board's topology with `templates/probe.sh.j2` (one round trip)
/// and caches it. With `refresh: false` a saved reading is used when there
/// is one: first `saved` (the reading `board probe --write` keeps beside the
/// inventory), then the cache (keyed by board name and sysfs root).
pub fn topology(
    board: &dyn Transport,
    templates: &crate::render::Templates,
    refresh: bool,
    saved: Option<&std::path::Path>,
) -> Result<Topology> {
    let c = board.config();
    let script = templates.render_probe(&c.sysfs_root.to_string_lossy())?;
    // A new probe script (another klo-spec) reads the board afresh.
    let key = crate::digest::hex_sha256(
        format!(
            "{}\0{}\0{}\0{script}",
            c.name,
            c.sysfs_root.display(),
            c.describe()
        )
        .as_bytes(),
    );
    let cache = helpers::cache_dir()
        .join("boards")
        .join(format!("{}-{}.json", c.name, &key[..12]));
    // The built-in board is this machine: reading it costs nothing, and a
    // reading saved elsewhere would describe another machine.
    let refresh = refresh
        || (c.name == "local"
            && c.transport == inventory::TransportKind::Local
            && c.sysfs_root == std::path::Path::new("/sys"));
    if !refresh {
        for file in saved.into_iter().chain([cache.as_path()]) {
            if let Some(t) = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
            {
                return Ok(t);
            }
        }
    }
    let out = board
        .run_script(&script, Duration::from_secs(60))
        .with_context(|| format!("probing board `{}`", c.name))?;
    let topo =
        Topology::parse(&out).map_err(|e| anyhow::anyhow!("probing board `{}`: {e}", c.name))?;
    crate::output::atomic_write(
        &cache,
        (serde_json::to_string_pretty(&topo)? + "\n").as_bytes(),
    )?;
    Ok(topo)
}

/// Where `board probe --write` keeps a board's reading: `topology/<name>.json`
/// beside the inventory file.
pub fn saved_topology(inventory: &inventory::Inventory, board: &str) -> Option<std::path::PathBuf> {
    let dir = inventory.file.as_ref()?.parent()?;
    Some(dir.join("topology").join(format!("{board}.json")))
}

/// Formats a core list compactly: `0-3,6`.
pub fn format_cores(cores: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cores.len() {
        let start = cores[i];
        let mut end = start;
        while i + 1 < cores.len() && cores[i + 1] == end + 1 {
            i += 1;
            end = cores[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// Parses a kernel CPU list (`0-3,6`) as in `/sys/devices/system/cpu/online`.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(parse_cpu_list("0-3,6\n"), Some(vec![0, 1, 2, 3, 6]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(format_cores(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(format_cores(&[1]), "1");
    }

    #[test]
    fn cancel_escalates() {
        let c = Cancel::default();
        assert!(!c.is_cancelled());
        assert_eq!(c.escalate(), 1);
        assert_eq!(c.escalate(), 2);
        assert!(c.is_cancelled() && c.is_forced());
        assert_eq!(c.signal(), None);
        assert_eq!(c.cause(), "a cancellation");
        // The first signal is the one named, whatever follows.
        let c = Cancel::default();
        assert_eq!(c.escalate_by(libc::SIGTERM), 1);
        assert!(!c.is_forced());
        assert_eq!(c.escalate_by(libc::SIGINT), 2);
        assert_eq!(c.signal(), Some(libc::SIGTERM));
        assert_eq!(c.cause(), "SIGTERM");
        assert_eq!(signal_name(libc::SIGHUP), "SIGHUP (a hang-up)");
        assert_eq!(signal_name(libc::SIGINT), "SIGINT (Ctrl-C)");
    }
}
