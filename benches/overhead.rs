//! Runner overhead (issue 8, item 1): klo-spec against Workload Automation
//! 3.3.1 (`wlauto`, installed by this bench into a virtualenv), both running
//! the same trivial benchmark, a shell script that sleeps 1 s, as 21 cells
//! (jobs) back to back, no load, no frequency change:
//!
//! - on this machine: klo-spec's `local` board, WA's `generic_local` target;
//! - over ssh to an OpenSSH server this bench starts on loopback
//!   (tests/common/sshd.rs, with sftp, which WA needs): klo-spec's `ssh`
//!   board, WA's `generic_linux` target, the same server, user and key.
//!
//! The script writes a timestamp (`date +%s%N`) when it starts and ends, so
//! the figures come from the benchmark's own clock: start-up is the launch
//! of the tool to the first benchmark's start; per-cell overhead is the wall
//! time between one benchmark's end and the next one's start (20 gaps; the
//! wall time minus the benchmark's own time per cell); teardown is the last
//! end to the tool's exit. Each tool runs one untimed cell first (helper
//! builds, Python's imports in the page cache); each measured run opens its
//! own ssh connection. WA runs with the augmentations its first run
//! configures (`execution_time`, `interrupts`, `cpufreq`, `status`, `csv`)
//! and with none (`augmentations: [~~]`). The goals are checked against the
//! first, WA as a user runs it; the second, the least WA does per job, is
//! printed beside it with the same thresholds for reference. The ssh side
//! runs against a server whose sessions get an empty HOME (no rc files) and
//! one with this account as found.
//!
//! Run: `cargo bench --bench overhead` (or `just bench`). Goals: klo-spec's
//! per-cell overhead at most 1/5 of WA's on each transport, start-up at most
//! 1/10. Where WA cannot be installed or run, its column is skipped with the
//! reason.

mod common;
#[path = "../tests/common/sshd.rs"]
#[allow(dead_code)]
mod sshd;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const CELLS: usize = 21;

/// What one measured run gave, in seconds.
#[derive(Debug, Clone)]
struct Timeline {
    startup: f64,
    /// Per gap between one benchmark's end and the next one's start.
    gaps: Vec<f64>,
    own: Vec<f64>,
    teardown: f64,
    wall: f64,
}

impl Timeline {
    fn per_cell(&self) -> f64 {
        self.gaps.iter().sum::<f64>() / self.gaps.len() as f64
    }
    fn own_mean(&self) -> f64 {
        self.own.iter().sum::<f64>() / self.own.len() as f64
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos()
}

/// Runs `cmd` with the stamps file emptied; the timeline of its `cells`
/// benchmarks from their stamps.
fn timeline(
    cmd: &mut Command,
    stamps: &Path,
    what: &str,
    cells: usize,
) -> Result<Timeline, String> {
    std::fs::write(stamps, "").map_err(|e| e.to_string())?;
    let t0 = now_ns();
    let clock = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let wall = clock.elapsed().as_secs_f64();
    let t_end = t0 + (wall * 1e9) as u128;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let text = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = err.lines().chain(text.lines()).rev().take(8).collect();
        return Err(format!(
            "{what} failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    let text = std::fs::read_to_string(stamps).map_err(|e| e.to_string())?;
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let (Some(kind), Some(ns)) = (it.next(), it.next().and_then(|v| v.parse::<u128>().ok()))
        else {
            continue;
        };
        match kind {
            "start" => starts.push(ns),
            "end" => ends.push(ns),
            _ => {}
        }
    }
    if starts.len() != cells || ends.len() != cells {
        return Err(format!(
            "{what}: {} benchmark starts and {} ends recorded, expected {cells}",
            starts.len(),
            ends.len()
        ));
    }
    let s = |a: u128, b: u128| (b as f64 - a as f64) / 1e9;
    Ok(Timeline {
        startup: s(t0, starts[0]),
        gaps: (1..cells).map(|i| s(ends[i - 1], starts[i])).collect(),
        own: (0..cells).map(|i| s(starts[i], ends[i])).collect(),
        teardown: s(ends[cells - 1], t_end),
        wall,
    })
}

fn stamp_script(dir: &Path, stamps: &Path) -> PathBuf {
    let f = dir.join("sleep1.sh");
    std::fs::write(
        &f,
        format!(
            "echo \"start $(date +%s%N)\" >> {s}\nsleep 1\necho \"end $(date +%s%N)\" >> {s}\n",
            s = stamps.display()
        ),
    )
    .unwrap();
    f
}

fn user() -> String {
    String::from_utf8_lossy(&Command::new("id").arg("-un").output().unwrap().stdout)
        .trim()
        .to_string()
}

struct Setup<'a> {
    dir: &'a Path,
    script: &'a Path,
    stamps: &'a Path,
    sshd: &'a sshd::Sshd,
    /// Names this transport's run folders (each run starts afresh).
    variant: &'a str,
}

/// klo-spec: `cells` runs of the script on `board`, as `cells / rounds`
/// cells in `rounds` rounds (random order within each).
fn klo_spec_run(
    st: &Setup,
    board: &str,
    cells: usize,
    rounds: usize,
    tag: &str,
) -> Result<Timeline, String> {
    let d = st.dir.join(format!("klo-{board}-{}-{tag}", st.variant));
    std::fs::create_dir_all(&d).unwrap();
    let nets: Vec<String> = (0..cells / rounds).map(|i| format!("c{i:02}")).collect();
    std::fs::write(
        d.join("s.yaml"),
        format!(
            "name: overhead\nboards: [{board}]\nbenchmark:\n  command:\n    run: >-\n      sh {} &&\n      echo 'KLO v1 iter=0 latency_us=1000000' && echo 'KLO v1 iter=1 latency_us=1000000' &&\n      echo 'KLO v1 end iters=2'\niterations: 2\nrounds: {rounds}\nnetworks: [{}]\n",
            st.script.display(),
            nets.join(", ")
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("boards.yaml"),
        format!(
            "boards:\n  pi:\n    transport: ssh\n    address: kloboard\n    ssh_config: {}\n    workdir: {}\n",
            st.sshd.ssh_config().display(),
            st.dir.join("pi-board").display()
        ),
    )
    .unwrap();
    // Its own TMPDIR: no ssh connection left by an earlier run is shared.
    let tmp = d.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = Command::new(common::klo_spec());
    cmd.arg("run")
        .arg(d.join("s.yaml"))
        .arg("--output-dir")
        .arg(d.join("out"))
        .arg("--quiet")
        .env("TMPDIR", &tmp)
        .env("KLO_SPEC_CACHE", st.dir.join("klo-cache"))
        .env("NO_COLOR", "1");
    timeline(&mut cmd, st.stamps, &format!("klo-spec on {board}"), cells)
}

/// Workload Automation: `cells` jobs of the script on `target`.
fn wa_run(
    st: &Setup,
    venv: &Path,
    target: &str,
    lean: bool,
    cells: usize,
    tag: &str,
) -> Result<Timeline, String> {
    let d = st.dir.join(format!("wa-{target}-{}-{tag}", st.variant));
    std::fs::create_dir_all(&d).unwrap();
    let device_config = if target == "generic_linux" {
        format!(
            "  device_config:\n    host: 127.0.0.1\n    port: {}\n    username: {}\n    keyfile: {}\n    working_directory: {}\n",
            st.sshd.port,
            user(),
            st.sshd.dir.join("user_key").display(),
            st.dir.join("wa-board").display()
        )
    } else {
        String::new()
    };
    std::fs::write(
        d.join("agenda.yaml"),
        format!(
            "config:\n  device: {target}\n{device_config}  iterations: {cells}\n{}workloads:\n  - name: shellscript\n    params:\n      script_file: {}\n",
            if lean { "  augmentations: [~~]\n" } else { "" },
            st.script.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(venv.join("bin/wa"));
    cmd.arg("run")
        .arg(d.join("agenda.yaml"))
        .arg("-d")
        .arg(d.join("out"))
        .arg("-f")
        // WA keeps its configuration under ~/.workload_automation.
        .env("HOME", st.dir.join("wa-home"));
    let what = format!("WA on {target}");
    let t = timeline(&mut cmd, st.stamps, &what, cells)?;
    // The stamps already say every job's script ran to its end; WA's own
    // status file (written by its `status` augmentation, so not in the lean
    // runs) must agree where there is one.
    let status = std::fs::read_to_string(d.join("out/status.txt")).unwrap_or_default();
    let all_ok = format!("{cells}/{cells} iterations completed without error");
    if !status.is_empty() && !status.contains(&all_ok) {
        return Err(format!("{what}: not every job OK: {}", status.trim()));
    }
    Ok(t)
}

fn row(name: &str, t: &Timeline) {
    println!(
        "  {name:<34} start-up {:>6.3} s  per-cell overhead {:>6.3} s (min {:.3}, max {:.3})  teardown {:>6.3} s  benchmark {:.3} s/cell  wall {:>6.1} s",
        t.startup,
        t.per_cell(),
        t.gaps.iter().copied().fold(f64::INFINITY, f64::min),
        t.gaps.iter().copied().fold(0.0, f64::max),
        t.teardown,
        t.own_mean(),
        t.wall
    );
}

/// Unmounts what was mounted under `dir` (WA's `generic_linux` mounts
/// cgroup hierarchies in its working directory and leaves them), deepest
/// first, so that the temporary folder can go.
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").arg("-l").arg(p).status();
    }
}

fn main() {
    println!("{}", common::machine());
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let dir = tmp.path();
    let stamps = dir.join("stamps");
    let script = stamp_script(dir, &stamps);
    // Two servers on loopback, the same user and key: one whose sessions
    // get an empty HOME (a board's service account: the login shell reads
    // no rc files), one with this account as found (on the development VM,
    // root's ~/.bashrc runs `pyenv init`, about 0.1 s before every command
    // of an ssh session, for either tool).
    let sshd_clean = sshd::Sshd::start_with(&dir.join("sshd-clean"), true);
    let sshd_account = sshd::Sshd::start(&dir.join("sshd"));
    let wa = common::python_venv("wa", &["wlauto==3.3.1"]);
    if let Err(why) = &wa {
        println!("Workload Automation: skipped: {why}");
    }
    println!(
        "{CELLS} cells of `sleep 1` (a shell script) per run; times from the script's own clock"
    );
    for (variant, board, target, transport, sshd) in [
        (
            "local",
            "local",
            "generic_local",
            "this machine",
            &sshd_clean,
        ),
        (
            "clean",
            "pi",
            "generic_linux",
            "ssh to a loopback sshd, empty HOME on the server (no rc files)",
            &sshd_clean,
        ),
        (
            "account",
            "pi",
            "generic_linux",
            "ssh to a loopback sshd, this account's HOME (its ~/.bashrc runs per session)",
            &sshd_account,
        ),
    ] {
        let st = Setup {
            dir,
            script: &script,
            stamps: &stamps,
            sshd,
            variant,
        };
        println!("{transport}:");
        // Untimed warm-up: helper builds, board readings, imports.
        let ours = klo_spec_run(&st, board, 1, 1, "warm")
            .and_then(|_| klo_spec_run(&st, board, CELLS, 1, "timed"));
        let ours = match ours {
            Ok(t) => {
                row(&format!("klo-spec ({board})"), &t);
                t
            }
            Err(e) => panic!("{e}"),
        };
        // The same 21 runs as 7 cells in 3 rounds: what rounds cost.
        match klo_spec_run(&st, board, CELLS, 3, "rounds") {
            Ok(t) => row(&format!("klo-spec ({board}), 7 cells x 3 rounds"), &t),
            Err(e) => panic!("{e}"),
        }
        let Ok(venv) = &wa else { continue };
        let mut was: Vec<(String, bool, Timeline)> = Vec::new();
        for lean in [false, true] {
            let name = format!(
                "WA 3.3.1 ({target}, {})",
                if lean {
                    "no augmentations"
                } else {
                    "default augm."
                }
            );
            let r = wa_run(&st, venv, target, lean, 1, "warm").and_then(|_| {
                wa_run(
                    &st,
                    venv,
                    target,
                    lean,
                    CELLS,
                    if lean { "lean" } else { "default" },
                )
            });
            match r {
                Ok(t) => {
                    row(&name, &t);
                    was.push((name, lean, t));
                }
                Err(e) => println!("  {name}: skipped: {e}"),
            }
        }
        // Against each WA configuration that ran: its default one (what a
        // user gets) and the stripped one (no augmentations: the least WA can
        // do per job).
        // The goals are against WA as a user runs it (its default
        // configuration); the stripped run is printed beside it, as the
        // least WA does per job, with the goal's threshold for reference.
        for (name, lean, theirs) in &was {
            let per_cell = theirs.per_cell() / ours.per_cell();
            let startup = theirs.startup / ours.startup;
            let verdict = |met: bool| match (lean, met) {
                (false, true) => "goal met",
                (false, false) => "goal MISSED",
                (true, true) => "reference (not the goal's baseline): above",
                (true, false) => "reference (not the goal's baseline): below",
            };
            println!(
                "  per-cell overhead vs {name}: klo-spec {:.3} s, WA {:.3} s: ratio {per_cell:.1}x  >= 5x {}",
                ours.per_cell(),
                theirs.per_cell(),
                verdict(per_cell >= 5.0)
            );
            println!(
                "  start-up vs {name}: klo-spec {:.3} s, WA {:.3} s: ratio {startup:.1}x  >= 10x {}",
                ours.startup,
                theirs.startup,
                verdict(startup >= 10.0)
            );
        }
    }
    unmount_under(dir);
}
