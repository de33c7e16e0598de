//! The fault matrix: each case runs a scenario on a fixture board (note10,
//! its sysfs tree copied into the sandbox, the kernel's part emulated),
//! injects one fault while a cell runs, and checks the three promises: no
//! load or benchmark process is left, the board's files are back to the
//! fixture's bytes, the results finished before are byte-identical, and
//! the next run resumes (skips what is done, reruns the rest). The ssh
//! transport dropped mid-cell is in tests/ssh.rs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::fixture::{assert_same_tree, copy_tree, fixture, tree_differences};
use common::*;
use klo_spec::record::Status;
use klo_spec::rows::SummaryRow;

const CELL: &str = "note10/light/cpu-min/gpu-current";

/// A sandbox with the fixture board `note10` and a scenario `faults` on it:
/// three cells (networks n1, n2, n3, run in that order) of a command
/// benchmark that logs its start to `starts`, runs the shell line `bench`
/// in n2's cell only (the fault), then prints a complete log. Every cell
/// pins the CPU at its minimum and runs a light load.
struct Faults {
    sb: Sandbox,
    sysfs: PathBuf,
}

impl Faults {
    fn new(bench: &str, extra: &str) -> Faults {
        let sb = Sandbox::new();
        copy_fake_bench(&sb);
        let sysfs = sb.path().join("sysfs-note10");
        copy_tree(&fixture("exynos"), &sysfs);
        sb.write(
            "boards.yaml",
            &format!(
                "boards:\n  note10: {{sysfs_root: '{}', emulate_kernel: true}}\n",
                sysfs.display()
            ),
        );
        let f = Faults { sb, sysfs };
        f.scenario(bench, extra);
        f
    }

    /// (Re)writes the scenario.
    fn scenario(&self, bench: &str, extra: &str) {
        let text = "name: faults\nboards: [note10]\nbenchmark:\n  command:\n    run: |\n      echo \"{{ network }} $$\" >> STARTS\n      if [ {{ network }} = n2 ]; then BENCH; fi\n      sh fake-bench.sh {{ iterations }} 0 {{ network }}\n    push: [fake-bench.sh]\nnetworks: [n1, n2, n3]\niterations: 3\nload_settle_ms: 100\nloads:\n  light: LIGHT\nmatrix:\n  load: [light]\n  cpu_freq: [{all: min}]\n"
            .replace("STARTS", &self.sb.path().join("starts").display().to_string())
            .replace("BENCH", bench)
            .replace("LIGHT", LIGHT_LOAD);
        self.sb.write("s.yaml", &format!("{text}{extra}"));
    }

    fn out(&self) -> PathBuf {
        self.sb.out("faults")
    }

    fn cell(&self, net: &str) -> PathBuf {
        self.out()
            .join("cells")
            .join(CELL)
            .join(net)
            .join("default")
            .join("r1")
    }

    fn record(&self, net: &str) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.cell(net).join("cell.json")).unwrap())
            .unwrap()
    }

    fn bytes(&self, net: &str) -> Vec<u8> {
        std::fs::read(self.cell(net).join("cell.json")).unwrap()
    }

    /// Networks whose benchmark started, in order.
    fn starts(&self) -> Vec<String> {
        std::fs::read_to_string(self.sb.path().join("starts"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
            .collect()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.sb
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The summary row of a cell, typed.
    fn row(&self, net: &str) -> SummaryRow {
        let text = std::fs::read(self.out().join("summary.csv")).unwrap();
        let rows: Vec<SummaryRow> =
            klo_spec::rows::read(&klo_spec::results::parse_csv(&text).unwrap()).unwrap();
        rows.into_iter()
            .find(|r| r.id.ends_with(&format!("/{net}/default")))
            .unwrap()
    }

    fn board_is_restored(&self) {
        assert_same_tree(&self.sysfs, "exynos");
    }
}

/// Waits for `child` to end; its status and stderr.
fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String) {
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read as _;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, err);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("klo-spec did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until n1 is finished and n2's benchmark runs; n2's loads and
/// benchmark group.
fn wait_for_n2(f: &Faults) -> (Vec<i32>, i32) {
    wait_until("n1 to finish", Duration::from_secs(60), || {
        f.cell("n1").join("cell.json").is_file()
    });
    let loads = wait_for_loads(&f.sb);
    wait_until("n2's benchmark to start", Duration::from_secs(20), || {
        !find_written(&f.sb.board_dir(), "bench.pid").is_empty()
    });
    (loads, bench_group(&f.sb.board_dir()))
}

fn no_process_left(loads: &[i32], bench: i32) {
    wait_until("the loads to be gone", Duration::from_secs(20), || {
        loads.iter().all(|p| !klo_load_running(*p))
    });
    wait_until("the benchmark to be gone", Duration::from_secs(20), || {
        !group_alive(bench)
    });
}

/// Files the kernel derives from the ones scripts write (the emulator's
/// part: it dies with a killed runner).
fn kernel_owned(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(
        name,
        "scaling_cur_freq" | "scaling_setspeed" | "affected_cpus" | "clock" | "cur_freq"
    ) || p == Path::new("devices/system/cpu/online")
}

/// Stops the runner with `sig` while n2 runs, then checks the promises and
/// that the next run resumes.
fn signal_case(sig: i32) {
    let f = Faults::new("true", "");
    let slow = f.sb.path().join("slow");
    std::fs::write(&slow, "").unwrap();
    f.scenario(&format!("[ -e '{}' ] && sleep 60", slow.display()), "");
    let child = f.spawn(&["run", "s.yaml"]);
    let runner = child.id() as i32;
    let (loads, bench) = wait_for_n2(&f);
    let n1 = f.bytes("n1");
    unsafe { libc::kill(runner, sig) };
    let (status, err) = finish(child, Duration::from_secs(30));
    no_process_left(&loads, bench);
    if sig == libc::SIGKILL {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        // The cell script cleaned up by itself (parent-death signal): what
        // it wrote is back; what the kernel derives waits for an emulator.
        wait_until("the cell script's cleanup", Duration::from_secs(20), || {
            tree_differences(&f.sysfs, "exynos", &kernel_owned).is_empty()
        });
        assert!(
            !f.cell("n2").exists(),
            "a killed runner records nothing itself"
        );
    } else {
        assert_eq!(status.code(), Some(130), "{err}");
        assert!(
            err.contains("run the same command again to continue"),
            "{err}"
        );
        f.board_is_restored();
        assert_eq!(f.record("n2")["status"], "interrupted");
        // The record and the message name the signal klo-spec received (the
        // runner itself sends the cell script TERM in every case).
        let name = match sig {
            libc::SIGINT => "SIGINT (Ctrl-C)",
            libc::SIGTERM => "SIGTERM",
            _ => "SIGHUP (a hang-up)",
        };
        let reason = f.record("n2")["reason"].as_str().unwrap().to_string();
        assert_eq!(reason, format!("stopped by {name} to klo-spec"));
        assert!(
            err.contains(&format!("interrupted: stopped by {name}: the tables")),
            "{err}"
        );
        assert!(!f.cell("n3").exists(), "n3 never started");
        assert_eq!(
            f.row("n2").status,
            Status::Interrupted,
            "never counted as a result"
        );
        assert!(
            f.row("n2").latency_mean_us.is_none(),
            "no latency for an interrupted cell"
        );
    }
    assert_eq!(f.bytes("n1"), n1, "the finished cell is byte-identical");

    // The next run: n1 skipped, n2 and n3 run.
    std::fs::remove_file(&slow).unwrap();
    let again = f.sb.run(&["run", "s.yaml"]);
    let err = text(&again.stderr);
    assert!(again.status.success(), "{err}");
    if sig == libc::SIGKILL {
        assert!(
            err.contains("found 1 run(s) cut off when an earlier run was killed, recorded as interrupted: note10/light/cpu-min/gpu-current/n2/default/r1"),
            "{err}"
        );
    }
    assert!(
        err.contains("faults: 3 cells, 2 to run: 1 done (same hash, skipped), 1 missing, 0 changed, 1 failed before (1 interrupted)"),
        "{err}"
    );
    assert_eq!(f.bytes("n1"), n1, "a skipped cell is not rewritten");
    assert_eq!(f.starts(), ["n1", "n2", "n2", "n3"]);
    for net in ["n1", "n2", "n3"] {
        assert_eq!(f.record(net)["status"], "ok", "{net}");
    }
    f.board_is_restored();
    assert!(
        loads_alive_under(f.sb.path()).is_empty(),
        "no load survives the rerun"
    );
}

#[test]
fn sigint_to_the_runner() {
    signal_case(libc::SIGINT);
}

#[test]
fn sigterm_to_the_runner() {
    signal_case(libc::SIGTERM);
}

#[test]
fn sighup_to_the_runner() {
    signal_case(libc::SIGHUP);
}

#[test]
fn sigkill_to_the_runner_then_a_rerun() {
    signal_case(libc::SIGKILL);
}

/// Starts `run s.yaml --force` and waits until n2's benchmark runs (the
/// cells ran once before, so their folders are there already): the child,
/// n2's loads and its benchmark's group.
fn forced_rerun_at_n2(f: &Faults) -> (Child, Vec<i32>, i32) {
    let before = f.starts().len();
    let child = f.spawn(&["run", "s.yaml", "--force"]);
    wait_until(
        "n2's forced rerun to start",
        Duration::from_secs(60),
        || f.starts().len() >= before + 2,
    );
    let loads = wait_for_loads(&f.sb);
    wait_until("n2's benchmark to start", Duration::from_secs(20), || {
        !find_written(&f.sb.board_dir(), "bench.pid").is_empty()
    });
    (child, loads, bench_group(&f.sb.board_dir()))
}

#[test]
fn a_forced_rerun_that_is_interrupted_keeps_the_finished_result() {
    // Every cell ran ok; `--force` reruns them, and n2's rerun is stopped
    // (TERM, then Ctrl-C, then a killed runner). A stopped run measured
    // nothing: n2's finished result stays byte for byte, its log too, and
    // the stopped run is kept beside it in attempts/ for inspection.
    let f = Faults::new("true", "");
    let slow = f.sb.path().join("slow");
    f.scenario(&format!("[ -e '{}' ] && sleep 60", slow.display()), "");
    let (code, err) = run(&f);
    assert_eq!(code, Some(0), "{err}");
    let n2 = f.bytes("n2");
    let n2_log = std::fs::read(f.cell("n2").join("bench.log")).unwrap();
    let n3 = f.bytes("n3");
    std::fs::write(&slow, "").unwrap();
    for (n, sig, name) in [
        (1, libc::SIGTERM, "SIGTERM"),
        (2, libc::SIGINT, "SIGINT (Ctrl-C)"),
    ] {
        let (child, loads, bench) = forced_rerun_at_n2(&f);
        unsafe { libc::kill(child.id() as i32, sig) };
        let (status, err) = finish(child, Duration::from_secs(30));
        assert_eq!(status.code(), Some(130), "{err}");
        no_process_left(&loads, bench);
        f.board_is_restored();
        assert_eq!(f.bytes("n2"), n2, "the finished result is byte-identical");
        assert_eq!(
            std::fs::read(f.cell("n2").join("bench.log")).unwrap(),
            n2_log,
            "its log is kept"
        );
        assert_eq!(f.bytes("n3"), n3, "n3 never started: untouched");
        let folder = format!("attempts/interrupted-{n}");
        assert!(
            err.contains(&format!(
                "stopped by {name} to klo-spec; the earlier ok result is kept, this run is in {folder}"
            )),
            "{err}"
        );
        let kept: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(f.cell("n2").join(&folder).join("cell.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(kept["status"], "interrupted", "{kept}");
        assert!(f.cell("n2").join(&folder).join("cell.sh").is_file());
        assert_eq!(f.row("n2").status, Status::Ok, "the tables still count it");
        assert!(f.row("n2").latency_mean_us.is_some(), "with its latency");
    }

    // A runner killed during a forced rerun: the next run finds the cut-off
    // run and keeps it beside the result too.
    let (child, loads, bench) = forced_rerun_at_n2(&f);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = finish(child, Duration::from_secs(30));
    no_process_left(&loads, bench);
    wait_until("the cell script's cleanup", Duration::from_secs(20), || {
        tree_differences(&f.sysfs, "exynos", &kernel_owned).is_empty()
    });
    std::fs::remove_file(&slow).unwrap();
    let (code, err) = run(&f);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("found a run of note10/light/cpu-min/gpu-current/n2/default/r1 cut off when an earlier run was killed: the earlier ok result is kept, the cut-off run is in its attempts/interrupted-3"),
        "{err}"
    );
    assert!(
        err.contains("faults: 3 cells, 0 to run: 3 done (same hash, skipped)"),
        "{err}"
    );
    assert_eq!(f.bytes("n2"), n2);
    let cut: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(f.cell("n2").join("attempts/interrupted-3/cell.json")).unwrap(),
    )
    .unwrap();
    assert!(
        cut["reason"]
            .as_str()
            .unwrap()
            .starts_with("cut off: klo-spec"),
        "{cut}"
    );
}

#[test]
fn a_forced_stop_says_what_it_left_pinned_and_how_to_put_it_back() {
    // n2's benchmark ignores TERM, so its cell's cleanup waits 2 s before
    // it kills it; a second Ctrl-C during that wait forces the stop: the
    // cleanup never puts the frequencies back.
    let f = Faults::new("trap '' TERM; sleep 60", "");
    let child = f.spawn(&["run", "s.yaml"]);
    let runner = child.id() as i32;
    let (loads, bench) = wait_for_n2(&f);
    unsafe { libc::kill(runner, libc::SIGINT) };
    wait_until(
        "the cell's cleanup to stop the benchmark",
        Duration::from_secs(20),
        || {
            find_written(&f.sb.board_dir(), "cell.status")
                .iter()
                .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("bench_killed=1")))
        },
    );
    unsafe { libc::kill(runner, libc::SIGINT) };
    let (status, err) = finish(child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("klo-spec: forcing the stop"), "{err}");
    let cell = "note10/light/cpu-min/gpu-current/n2/default/r1";
    assert!(
        err.contains(&format!(
            "forced stop: the cleanup of {cell} was cut short; board `note10` may still have:\n  CPU frequencies pinned: "
        )),
        "{err}"
    );
    assert!(err.contains(" kHz"), "{err}");
    assert!(err.contains("load process(es) on cores "), "{err}");
    assert!(
        err.contains("put it back with: klo-spec board reset note10 --boards boards.yaml"),
        "{err}"
    );
    assert!(
        err.contains("a forced stop cut a cell's cleanup short on board `note10`: put it back with `klo-spec board reset note10 --boards boards.yaml`"),
        "the last words say it again: {err}"
    );
    // klo-spec itself killed what the cell started; the values stay.
    no_process_left(&loads, bench);
    let pinned = tree_differences(&f.sysfs, "exynos", &kernel_owned);
    assert!(
        pinned.iter().any(|d| d.contains("scaling_max_freq")),
        "the forced stop left the board pinned: {pinned:?}"
    );
    let j = f.record("n2");
    assert_eq!(j["status"], "interrupted", "{j}");
    assert!(
        j["reason"].as_str().unwrap().starts_with(
            "stopped by SIGINT (Ctrl-C) to klo-spec; a second signal forced the stop: the cell's cleanup was cut short (run `klo-spec board reset note10 --boards boards.yaml`)"
        ),
        "{j}"
    );
    // The command it printed puts the board back.
    let out =
        f.sb.run(&["board", "reset", "note10", "--boards", "boards.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    f.board_is_restored();
}

/// Runs the scenario to its end: status and stderr.
fn run(f: &Faults) -> (Option<i32>, String) {
    let out = f.sb.run(&["run", "s.yaml"]);
    (out.status.code(), text(&out.stderr))
}

/// What every case after the run checks: n1 and n3 ok, no load left, the
/// board restored; returns n1's bytes.
fn others_fine(f: &Faults) -> Vec<u8> {
    for net in ["n1", "n3"] {
        assert_eq!(f.record(net)["status"], "ok", "{net}");
    }
    assert!(loads_alive_under(f.sb.path()).is_empty());
    for g in find(&f.out(), "bench.pid") {
        let pgid: i32 = std::fs::read_to_string(g).unwrap().trim().parse().unwrap();
        assert!(!group_alive(pgid), "a benchmark survived its cell");
    }
    f.board_is_restored();
    f.bytes("n1")
}

/// The next run reruns n2 only (it failed before) and leaves n1 alone.
fn next_run_resumes(f: &Faults, n1: &[u8], status_before: &str) {
    let before = f.starts().len();
    let (code, err) = run(f);
    assert!(
        err.contains(&format!(
            "faults: 3 cells, 1 to run: 2 done (same hash, skipped), 0 missing, 0 changed, 1 failed before (1 {status_before})"
        )),
        "{err}"
    );
    assert_eq!(f.starts()[before..], ["n2"], "{code:?} {err}");
    assert_eq!(f.bytes("n1"), n1);
    f.board_is_restored();
}

#[test]
fn a_load_that_exits_early_flags_the_cell_and_it_is_not_counted() {
    // n2 runs 5 s under a load that is gone after about 2 s (two bursts,
    // each followed by 1 s of sleep); n1 and n3 keep the light load. The
    // load must outlive the settle time and the steps before the benchmark
    // (else the cell fails before its benchmark starts), also on a busy
    // machine: 2 s leaves room for that, and the benchmark 3 s more.
    let f = Faults::new("sleep 5", "");
    let text_in = std::fs::read_to_string(f.sb.path().join("s.yaml"))
        .unwrap()
        .replace(
            "  load: [light]\n  cpu_freq: [{all: min}]\n",
            "  load: [light, short]\n  cpu_freq: [{all: min}]\nexclude:\n  - {load: short, network: n1}\n  - {load: short, network: n3}\n  - {load: light, network: n2}\nchecks:\n  - {id: C1, title: n2 vs n1, metric: latency, kind: differ, a: {network: n2, load: short}, b: {network: n1, load: light}}\n",
        )
        .replace(
            "  light: {",
            "  short: {procs_per_core: 1, t_sleep_us: 1000000, inner_iter: 1, log_iter: 1}\n  light: {",
        );
    f.sb.write("s.yaml", &text_in);
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    let cell = |load: &str, net: &str| {
        f.out().join(format!(
            "cells/note10/{load}/cpu-min/gpu-current/{net}/default/r1/cell.json"
        ))
    };
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cell("short", "n2")).unwrap()).unwrap();
    assert_eq!(j["status"], "load_died", "{j}");
    assert!(err.contains("load processes were still running"), "{err}");
    // Flagged, not counted: the check across it has no verdict.
    let checklist = std::fs::read_to_string(f.out().join("checklist.csv")).unwrap();
    assert!(
        checklist.contains("INCONCLUSIVE") && checklist.contains("load_died"),
        "{checklist}"
    );
    for net in ["n1", "n3"] {
        let j = std::fs::read_to_string(cell("light", net)).unwrap();
        assert!(j.contains("\"status\": \"ok\""), "{j}");
    }
    assert!(loads_alive_under(f.sb.path()).is_empty());
    f.board_is_restored();
    let n1 = std::fs::read(cell("light", "n1")).unwrap();
    let (_, err) = run(&f);
    assert!(
        err.contains("faults: 3 cells, 1 to run: 2 done (same hash, skipped), 0 missing, 0 changed, 1 failed before (1 load_died)"),
        "{err}"
    );
    assert_eq!(std::fs::read(cell("light", "n1")).unwrap(), n1);
    assert_eq!(f.starts(), ["n1", "n3", "n2", "n2"]);
    f.board_is_restored();
}

#[test]
fn a_benchmark_that_crashes_is_failed_and_retried_when_asked() {
    // A segmentation fault of the benchmark's own shell.
    let f = Faults::new("kill -SEGV $$", "");
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    let j = f.record("n2");
    assert_eq!(j["status"], "failed", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .contains("the benchmark exited with"),
        "{j}"
    );
    let n1 = others_fine(&f);
    assert_eq!(f.starts(), ["n1", "n2", "n3"], "keep_going: n3 still ran");
    next_run_resumes(&f, &n1, "failed");

    // retries: 2 with retry_on [crash]: a crash once, then a clean run; the
    // failed attempt is kept.
    let once = f.sb.path().join("crash-once");
    std::fs::write(&once, "").unwrap();
    f.scenario(
        &format!(
            "if [ -e '{0}' ]; then rm '{0}'; kill -SEGV $$; fi",
            once.display()
        ),
        "retries: 2\nretry_on: [crash]\n",
    );
    let (code, err) = run(&f);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("(retry_on: crash); attempt 2 of 3 (retries: 2)"),
        "{err}"
    );
    let j = f.record("n2");
    assert_eq!(j["status"], "ok", "{j}");
    assert_eq!(j["attempt"], 2, "{j}");
    assert_eq!(j["earlier_attempts"][0]["status"], "failed", "{j}");
    assert_eq!(j["earlier_attempts"][0]["retried_by"], "scenario", "{j}");
    let kept = f.cell("n2").join("attempts/1");
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(kept.join("cell.json")).unwrap()).unwrap();
    assert_eq!(first["status"], "failed");
    assert!(kept.join("bench.err").is_file() && kept.join("cell.sh").is_file());
    f.board_is_restored();
}

#[test]
fn a_benchmark_that_hangs_is_killed_at_its_timeout_with_its_loads() {
    let f = Faults::new("sleep 60", "timeout_s: 2\n");
    let t = Instant::now();
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    assert!(t.elapsed() < Duration::from_secs(40), "{:?}", t.elapsed());
    assert_eq!(f.record("n2")["status"], "timeout");
    let n1 = others_fine(&f);
    // The next run (a quicker benchmark would pass; this one hangs again):
    // it reruns n2 only.
    next_run_resumes(&f, &n1, "timeout");

    // retry_on: [timeout] with a benchmark that hangs once.
    let once = f.sb.path().join("hang-once");
    std::fs::write(&once, "").unwrap();
    f.scenario(
        &format!(
            "if [ -e '{0}' ]; then rm '{0}'; sleep 60; fi",
            once.display()
        ),
        "timeout_s: 2\nretries: 1\nretry_on: [timeout]\n",
    );
    let (code, err) = run(&f);
    assert_eq!(code, Some(0), "{err}");
    let j = f.record("n2");
    assert_eq!(
        (j["status"].as_str(), j["attempt"].as_u64()),
        (Some("ok"), Some(2)),
        "{j}"
    );
    assert_eq!(j["earlier_attempts"][0]["status"], "timeout");
    others_fine(&f);
}

#[test]
fn a_truncated_log_is_incomplete_and_never_a_result() {
    // The log stops after its first inference: no end line.
    let f = Faults::new(
        "sh fake-bench.sh {{ iterations }} 0 {{ network }} | head -n 4; exit 0",
        "",
    );
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    let j = f.record("n2");
    assert_eq!(j["status"], "incomplete", "{j}");
    assert!(j["reason"].as_str().unwrap().contains("no end line"), "{j}");
    assert!(
        f.row("n2").latency_mean_us.is_none(),
        "no latency for an incomplete cell"
    );
    let n1 = others_fine(&f);
    next_run_resumes(&f, &n1, "incomplete");
}

#[test]
fn on_failure_bail_starts_no_further_cell() {
    let f = Faults::new("exit 3", "on_failure: bail\n");
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("on_failure: bail stopped the run after note10/light/cpu-min/gpu-current/n2/default/r1 ended failed"),
        "{err}"
    );
    assert_eq!(f.starts(), ["n1", "n2"], "n3 never started");
    assert!(!f.cell("n3").exists());
    assert_eq!(f.row("n3").status, Status::NotRun);
    f.board_is_restored();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.out().join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["run"]["bailed_after"]["status"], "failed", "{meta}");
}

// ------------------------------------------------- full and read-only disks

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `size` at `dir`, or says loudly why it cannot (not
/// root, or no right to mount: a container without CAP_SYS_ADMIN). Where
/// `KLO_SPEC_TEST_MOUNT` is set (tests/run.sh sets it for root), it must
/// work.
fn tmpfs(dir: &Path, size: &str) -> Option<Tmpfs> {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
        other => {
            let why = match other {
                Ok(o) => text(&o.stderr),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("KLO_SPEC_TEST_MOUNT").is_none(),
                "KLO_SPEC_TEST_MOUNT is set but a tmpfs cannot be mounted: {why}"
            );
            eprintln!(
                "SKIPPED: this case needs a small tmpfs, and `mount` failed ({}): run the tests as root (tests/run.sh does in CI)",
                why.trim()
            );
            None
        }
    }
}

/// Every file under `dir` with its bytes (the result set as it is), but
/// the lock file, where each run writes its PID.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    common::fixture::snapshot(dir)
        .into_iter()
        .filter(|(p, _)| p != Path::new(".lock"))
        .collect()
}

#[test]
fn a_full_output_disk_stops_the_run_with_a_clear_error_and_corrupts_nothing() {
    let f = Faults::new("true", "");
    let Some(_mount) = tmpfs(&f.sb.path().join("outputs"), "1m") else {
        return;
    };
    let (code, err) = run(&f);
    assert_eq!(code, Some(0), "{err}");
    let before = all_files(&f.out());
    // Fill the disk, leaving three pages: room for a cell's first record,
    // not for what its round trip brings back.
    let small = f.sb.path().join("outputs/small");
    std::fs::write(&small, vec![0u8; 12 * 1024]).unwrap();
    {
        use std::io::Write as _;
        let mut filler = std::fs::File::create(f.sb.path().join("outputs/filler")).unwrap();
        while filler.write_all(&[0u8; 4096]).is_ok() {}
    }
    std::fs::remove_file(&small).unwrap();
    // Another definition (iterations): every cell must run again.
    let text_in = std::fs::read_to_string(f.sb.path().join("s.yaml"))
        .unwrap()
        .replace("iterations: 3", "iterations: 4");
    f.sb.write("s.yaml", &text_in);
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains("the run stopped there: no further cell was started"),
        "{err}"
    );
    assert_eq!(
        f.starts(),
        ["n1", "n2", "n3", "n1"],
        "one cell tried, then the run stopped"
    );
    assert!(
        all_files(&f.out()) == before,
        "the result set changed: a file was corrupted, added or removed"
    );
    assert!(loads_alive_under(f.sb.path()).is_empty());
    f.board_is_restored();

    // Space again: the next run runs the three cells.
    std::fs::remove_file(f.sb.path().join("outputs/filler")).unwrap();
    let (code, err) = run(&f);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("3 to run"), "{err}");
    f.board_is_restored();
}

#[test]
fn a_read_only_output_folder_is_refused_before_any_cell_runs() {
    let f = Faults::new("true", "");
    let Some(mount) = tmpfs(&f.sb.path().join("outputs"), "4m") else {
        return;
    };
    let (code, err) = run(&f);
    assert_eq!(code, Some(0), "{err}");
    let before = all_files(&f.out());
    let remount = |mode: &str| {
        let s = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&mount.0)
            .status()
            .unwrap();
        assert!(s.success());
    };
    remount("ro");
    let text_in = std::fs::read_to_string(f.sb.path().join("s.yaml"))
        .unwrap()
        .replace("iterations: 3", "iterations: 4");
    f.sb.write("s.yaml", &text_in);
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("cannot be written") && err.contains("Read-only file system"),
        "{err}"
    );
    assert!(err.contains("nothing was run"), "{err}");
    assert_eq!(f.starts().len(), 3, "no cell started");
    assert!(all_files(&f.out()) == before);
    f.board_is_restored();
    remount("rw");
    let (code, err) = run(&f);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("3 to run"), "{err}");
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    all_files(dir)
        .into_iter()
        .filter(|(_, b)| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(p, _)| p)
        .collect()
}

#[test]
fn links_and_special_files_a_cell_leaves_are_never_pulled_into_the_results() {
    // n2's benchmark points names of its cell folder at a host file and a
    // host folder, and leaves a FIFO and a hard link: none comes back.
    let f = Faults::new("true", "");
    let secret = f.sb.write("secret.txt", "local-board-exfiltrated\n");
    let outside = f.sb.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    f.scenario(
        &format!(
            "ln -s {o} ../attempts; rm -f ../bench.err; ln -s {s} ../bench.err; mkfifo ../fifo; ln ../cell.sh ../hard; mkdir ../d; ln -s {s} ../d/l",
            o = outside.display(),
            s = secret.display()
        ),
        "",
    );
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    let j = f.record("n2");
    assert_eq!(j["status"], "rejected", "{j}");
    let reason = j["reason"].as_str().unwrap();
    for what in [
        "`attempts` is a name klo-spec writes itself",
        "`bench.err` is a symbolic link",
        "`d/l` is a symbolic link",
        "`fifo` is a FIFO",
        "is a hard link",
    ] {
        assert!(reason.contains(what), "{what}: {reason}");
    }
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(files_containing(&f.out(), "local-board-exfiltrated").is_empty());
    assert_eq!(f.row("n2").status, Status::Rejected);
    let n1 = others_fine(&f);
    next_run_resumes(&f, &n1, "rejected");
}

#[test]
fn a_cell_that_leaves_more_than_its_pull_limits_is_too_large() {
    let f = Faults::new(
        "head -c 3000000 /dev/zero > ../big.bin",
        "pull_limits: {file_mib: 2}\n",
    );
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    let j = f.record("n2");
    assert_eq!(j["status"], "too_large", "{j}");
    assert!(
        j["reason"].as_str().unwrap().contains(
            "`big.bin` holds 3000000 bytes, more than the 2 MiB of `pull_limits.file_mib`"
        ),
        "{j}"
    );
    assert!(!f.cell("n2").join("big.bin").exists());
    let n1 = others_fine(&f);
    next_run_resumes(&f, &n1, "too_large");
}

#[test]
fn impossible_log_values_are_incomplete_and_never_a_result() {
    // n2's benchmark prints a complete log of another network.
    let f = Faults::new("sh fake-bench.sh {{ iterations }} 0 other; exit 0", "");
    let (code, err) = run(&f);
    assert_eq!(code, Some(1), "{err}");
    let j = f.record("n2");
    assert_eq!(j["status"], "incomplete", "{j}");
    assert_eq!(
        j["reason"], "the log is of network `other`, the cell ran `n2`",
        "{j}"
    );
    assert!(f.row("n2").inferences.is_none(), "no latency for it");
    others_fine(&f);

    // A gap in its kernel numbering, then a negative time.
    for (bench, why) in [
        (
            "sh fake-bench.sh {{ iterations }} 0 {{ network }} | sed 's/kernel=1 /kernel=2 /'; exit 0",
            "kernel 2 of inference 0 follows kernel 0",
        ),
        (
            "sh fake-bench.sh {{ iterations }} 0 {{ network }} | sed 's/t_ker_us=20.0/t_ker_us=-20.0/'; exit 0",
            "`t_ker_us=-20.0` is negative",
        ),
    ] {
        f.scenario(bench, "");
        let (code, err) = run(&f);
        assert_eq!(code, Some(1), "{err}");
        let j = f.record("n2");
        assert_eq!(j["status"], "incomplete", "{j}");
        assert!(j["reason"].as_str().unwrap().contains(why), "{j}");
    }
}

#[test]
fn a_benchmark_that_escapes_its_process_group_is_found_and_stopped() {
    // n2's benchmark leaves two daemons, each in a session of its own
    // (setsid), the second also double-forked (its parent gone, adopted by
    // init): no signal to the benchmark's group reaches them. Each writes
    // its PID and sleeps on.
    let f = Faults::new("true", "");
    let pids = f.sb.path().join("daemons");
    f.scenario(
        &format!(
            "setsid sh -c 'echo $$ >> {p}; exec sleep 300' > /dev/null 2>&1 < /dev/null & ( ( setsid sh -c 'echo $$ >> {p}; exec sleep 300' > /dev/null 2>&1 < /dev/null & ) & ); sleep 0.3",
            p = pids.display()
        ),
        "",
    );
    let (code, err) = run(&f);
    assert_eq!(code, Some(0), "{err}");
    let daemons: Vec<i32> = std::fs::read_to_string(&pids)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(daemons.len(), 2, "{daemons:?}");
    wait_until(
        "the escaped daemons to be gone",
        Duration::from_secs(10),
        || daemons.iter().all(|&p| !process_alive(p)),
    );
    let j = f.record("n2");
    assert_eq!(j["status"], "ok", "{j}");
    let reason = j["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("started 2 process(es) that left its process group"),
        "{j}"
    );
    others_fine(&f);
}

/// True while `pid` runs (not a zombie).
fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s[s.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .next()
            .unwrap_or("Z");
        state != "Z" && state != "X"
    })
}
