//! Helpers shared by the integration tests: a sandbox folder per test, the
//! binary, process checks on real PIDs.
#![allow(dead_code)]

pub mod adbd;
pub mod browser;
pub mod fixture;
pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_klo-spec");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A scratch folder: scenario files, outputs and the local board's work
/// folder live in it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn board_dir(&self) -> PathBuf {
        self.path().join("board")
    }

    /// Writes a file of the test. A scenario (a `.yaml` file with a
    /// top-level `name:`) that does not choose its rounds and order runs one
    /// round in plan order: most tests check what one run of each cell does,
    /// in an order they know; the tests of rounds say `rounds:` and `order:`
    /// themselves.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        let scenario = name.ends_with(".yaml") && text.lines().any(|l| l.starts_with("name:"));
        let mut text = text.to_string();
        if scenario {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            if !text.lines().any(|l| l.starts_with("rounds:")) {
                text.push_str("rounds: 1\n");
            }
            if !text.lines().any(|l| l.starts_with("order:")) {
                text.push_str("order: plan\n");
            }
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.path())
            .env("KLO_SPEC_LOCAL_DIR", self.board_dir())
            .env_remove("KLO_SPEC_OUTPUTS")
            .env_remove("KLO_SPEC_TEMPLATES");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    pub fn out(&self, scenario: &str) -> PathBuf {
        self.path().join("outputs").join(scenario)
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// PIDs of load processes the cells of a result set started.
pub fn load_pids(out: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    let mut stack = vec![out.join("cells")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "loads.pid") {
                pids.extend(
                    std::fs::read_to_string(&p)
                        .unwrap()
                        .split_whitespace()
                        .map(|x| x.parse::<i32>().unwrap()),
                );
            }
        }
    }
    pids
}

pub fn klo_load_running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let close = stat.rfind(')').unwrap();
    let state = stat[close + 1..].split_whitespace().next().unwrap();
    stat.contains("(klo-load)") && state != "Z" && state != "X"
}

/// Live `klo-load` processes whose working folder is under `dir` (cell
/// folders start their loads there), whatever became of their PID files.
pub fn loads_alive_under(dir: &Path) -> Vec<i32> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            (klo_load_running(pid) && cwd.starts_with(&dir)).then_some(pid)
        })
        .collect()
}

/// True while any live process is in process group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        let Some(close) = stat.rfind(')') else {
            return false;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        f.len() > 3 && f[0] != "Z" && f[2].parse::<i32>() == Ok(pgid)
    })
}

/// The benchmark's PID (its process group) from the first bench.pid under `dir`.
pub fn bench_group(dir: &Path) -> i32 {
    std::fs::read_to_string(&find_written(dir, "bench.pid")[0])
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Waits until a running cell has started its loads; returns their PIDs.
pub fn wait_for_loads(sb: &Sandbox) -> Vec<i32> {
    let pid_files = || find(&sb.board_dir(), "loads.pid");
    wait_until("the loads to start", Duration::from_secs(30), || {
        pid_files()
            .iter()
            .any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    });
    // The script writes the file once every load has started.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::read_to_string(&find_written(&sb.board_dir(), "loads.pid")[0])
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Files named `name` anywhere under `dir`.
/// The files named `name` under `dir` that are not empty (a finished cell
/// leaves its board's state files empty).
pub fn find_written(dir: &Path, name: &str) -> Vec<PathBuf> {
    find(dir, name)
        .into_iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .collect()
}

pub fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == name) {
                found.push(p);
            }
        }
    }
    found
}

/// A CSV table as rows of fields, the header first (quoted fields
/// unquoted).
pub fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let t = klo_spec::results::parse_csv(&std::fs::read(path).unwrap()).unwrap();
    std::iter::once(t.columns).chain(t.rows).collect()
}

/// The index of column `name` in `csv_rows`' header row.
pub fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column `{name}` in {:?}", rows[0]))
}

/// The `status` of the first cell of a summary.csv, found by its column's
/// name.
pub fn first_status(summary: &Path) -> String {
    let rows = csv_rows(summary);
    rows[1][column(&rows, "status")].clone()
}

pub const LIGHT_LOAD: &str =
    "{procs_per_core: 1, t_sleep_us: 1000, inner_iter: 2000, log_iter: 20, cores: all}";

pub fn fake_bench_scenario(name: &str, extra: &str) -> String {
    format!(
        "name: {name}\n\
         benchmark:\n  command:\n    run: sh fake-bench.sh {{{{ iterations }}}} {{{{ delay }}}} {{{{ network }}}}\n    push: [fake-bench.sh]\n\
         networks: [net1]\niterations: 3\nload_settle_ms: 100\n{extra}"
    )
}

pub fn copy_fake_bench(sb: &Sandbox) {
    std::fs::copy(
        Path::new(ROOT).join("tests/fixtures/fake-bench.sh"),
        sb.path().join("fake-bench.sh"),
    )
    .unwrap();
}

/// Runs `cmd` to its end: its output and its peak resident memory in
/// bytes (`wait4`'s `ru_maxrss`: the process and the children it waited
/// for, whichever was largest).
// The child is reaped by wait4, which std does not know of.
#[allow(clippy::zombie_processes)]
pub fn run_with_peak_rss(cmd: &mut Command) -> (Output, u64) {
    use std::io::Read as _;
    use std::os::unix::process::ExitStatusExt as _;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Drained as it runs, so that a full pipe never stops the child.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut b = Vec::new();
        out.read_to_end(&mut b).map(|_| b)
    });
    let e = std::thread::spawn(move || {
        let mut b = Vec::new();
        err.read_to_end(&mut b).map(|_| b)
    });
    let mut status = 0;
    // SAFETY: wait4 on our own child, into a zeroed rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    while unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } < 0 {
        assert_eq!(
            std::io::Error::last_os_error().kind(),
            std::io::ErrorKind::Interrupted
        );
    }
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: o.join().unwrap().unwrap(),
        stderr: e.join().unwrap().unwrap(),
    };
    (output, usage.ru_maxrss as u64 * 1024)
}
