//! What the benches share: timing a child process with its peak memory
//! (`wait4`), the machine's description, the Python virtualenv the
//! comparisons with Python tools install themselves, and ratio printing.
//! Each bench includes this file with `mod common;` and uses part of it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A finished child process: its wall time, peak resident memory and
/// whether it exited 0.
pub struct Measured {
    pub wall: Duration,
    /// Peak resident set size of the child (and of its own children that
    /// it waited for), bytes.
    pub max_rss: u64,
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to the end; its output is captured (to files, so a large
/// output cannot block it). The child is reaped by `wait4` (for its
/// rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
pub fn measure(cmd: &mut Command) -> Measured {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    let t = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let (status, rusage) = wait4(child.id() as libc::pid_t);
    let wall = t.elapsed();
    Measured {
        wall,
        // ru_maxrss is in KiB on Linux.
        max_rss: rusage.ru_maxrss as u64 * 1024,
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    }
}

fn wait4(pid: libc::pid_t) -> (i32, libc::rusage) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it in.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our child; status and rusage outlive the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        if r == pid {
            return (status, rusage);
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            panic!("wait4: {}", std::io::Error::last_os_error());
        }
    }
}

/// The klo-spec binary cargo built for this bench.
pub fn klo_spec() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_klo-spec"))
}

/// Where benches keep what they install (the virtualenv): inside the
/// target folder, so `cargo clean` removes it.
pub fn bench_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("klo-bench");
    std::fs::create_dir_all(&d).expect("the bench folder");
    d
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// One line about the machine: cores, CPU model, memory, kernel.
pub fn machine() -> String {
    let nproc = first_line("nproc", &[]);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    format!(
        "machine: {nproc} cores ({model}), {:.1} GiB memory, Linux {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        first_line("uname", &["-r"])
    )
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}

/// A Python virtualenv under the bench folder with `packages` installed
/// (pip, pinned by `benches/python-constraints.txt`), or why there is none.
/// `name` keeps separate environments apart. The interpreter is
/// `$KLO_BENCH_PYTHON`, else the first of python3.11, python3.10,
/// python3.12, python3 that can make a virtualenv (Workload Automation
/// 3.3.1 was released for 3.6-3.11).
pub fn python_venv(name: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let venv = bench_dir().join(format!("venv-{name}"));
    let py = venv.join("bin/python");
    let stamp = venv.join(".klo-installed");
    let constraints = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python-constraints.txt");
    let want = format!(
        "{}\n{}",
        packages.join(" "),
        std::fs::read_to_string(&constraints).unwrap_or_default()
    );
    if py.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(venv);
    }
    let candidates: Vec<String> = match std::env::var("KLO_BENCH_PYTHON") {
        Ok(p) => vec![p],
        Err(_) => ["python3.11", "python3.10", "python3.12", "python3"]
            .into_iter()
            .map(String::from)
            .collect(),
    };
    let mut tried = Vec::new();
    let _ = std::fs::remove_dir_all(&venv);
    let made = candidates.iter().find(|c| {
        let ok = Command::new(c.as_str())
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            tried.push(c.to_string());
            let _ = std::fs::remove_dir_all(&venv);
        }
        ok
    });
    let Some(python) = made else {
        return Err(format!(
            "no Python could make a virtualenv (tried {}; set KLO_BENCH_PYTHON, or install python3-venv)",
            tried.join(", ")
        ));
    };
    eprintln!(
        "bench: installing {} into {} with {python} (once)",
        packages.join(" "),
        venv.display()
    );
    let out = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("-c")
        .arg(&constraints)
        .args(packages)
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(6).collect();
        return Err(format!(
            "pip install {} with {python} failed: {}",
            packages.join(" "),
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    std::fs::write(&stamp, want).map_err(|e| e.to_string())?;
    Ok(venv)
}

/// Prints one figure: both sides, their ratio, and whether it meets the goal.
pub fn ratio_line(what: &str, ours: f64, theirs: f64, unit: &str, goal: Option<(&str, bool)>) {
    let ratio = theirs / ours;
    let goal = match goal {
        Some((g, met)) => format!("  goal {g}: {}", if met { "met" } else { "MISSED" }),
        None => String::new(),
    };
    println!(
        "{what}: klo-spec {ours:.3} {unit}, baseline {theirs:.3} {unit}, ratio {ratio:.1}x{goal}"
    );
}
