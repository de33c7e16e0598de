//! Resume, selection and concurrency: what a rerun says it skips and runs,
//! `--only` and `--rerun-failed`, and two runs on one output folder or one
//! board (the second refused with the holder, or waiting with `--wait`;
//! never interleaved).

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// A command benchmark on `local` over networks n1..n4 that logs when each
/// benchmark starts and ends (to `events`, shared by concurrent runs) and
/// runs `delay` seconds; n3 fails while `fail` exists.
fn scenario(sb: &Sandbox, name: &str, delay: &str) -> String {
    let events = sb.path().join("events");
    let fail = sb.path().join("fail");
    format!(
        "name: {name}\nbenchmark:\n  command:\n    run: |\n      echo \"start {{{{ network }}}} $$\" >> '{e}'\n      if [ {{{{ network }}}} = n3 ] && [ -e '{f}' ]; then echo \"end {{{{ network }}}} $$\" >> '{e}'; exit 4; fi\n      sh fake-bench.sh {{{{ iterations }}}} {delay} {{{{ network }}}}\n      echo \"end {{{{ network }}}} $$\" >> '{e}'\n    push: [fake-bench.sh]\nnetworks: [n1, n2, n3, n4]\niterations: 3\nload_settle_ms: 50\n",
        e = events.display(),
        f = fail.display(),
    )
}

fn events(sb: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sb.path().join("events"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn started(sb: &Sandbox) -> Vec<String> {
    events(sb)
        .iter()
        .filter_map(|l| l.strip_prefix("start "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

fn status_of(sb: &Sandbox, name: &str, net: &str) -> String {
    let p = sb.out(name).join(format!(
        "cells/local/none/cpu-current/gpu-current/{net}/default/r1/cell.json"
    ));
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    j["status"].as_str().unwrap().to_string()
}

#[test]
fn only_and_rerun_failed_pick_cells_and_the_run_says_what_it_skips() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    sb.write("s.yaml", &scenario(&sb, "sel", "0"));
    std::fs::write(sb.path().join("fail"), "").unwrap();

    // A pattern that matches nothing: bad input, nothing written.
    let out = sb.run(&["run", "s.yaml", "--only", "*/n9/*"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--only `*/n9/*` matches no cell of the scenario"),
        "{err}"
    );
    assert!(
        err.contains("hint: cell ids look like `local/none/cpu-current/gpu-current/n1/default`"),
        "{err}"
    );
    assert!(!sb.out("sel").exists(), "a refused run writes nothing");

    // Two patterns, one repeated flag and a comma list.
    let out = sb.run(&[
        "run",
        "s.yaml",
        "--only",
        "*/n1/*",
        "--only",
        "*/n3/*,*/n9*",
    ]);
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the last pattern matches nothing: {err}"
    );
    let out = sb.run(&["run", "s.yaml", "--only", "*/n1/*,*/n[3]/*"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "n3 fails: {err}");
    assert!(
        err.contains("sel: 4 cells, 2 selected (--only), 2 to run: 0 done (same hash, skipped), 2 missing, 0 changed, 0 failed before"),
        "{err}"
    );
    assert!(err.contains("1 of 2 cells did not finish cleanly"), "{err}");
    assert_eq!(started(&sb), ["n1", "n3"]);
    let rows = csv_rows(&sb.out("sel").join("summary.csv"));
    assert_eq!(rows.len(), 5, "the tables cover every cell of the plan");
    assert_eq!(rows[2][column(&rows, "status")], "not_run");

    // --rerun-failed: only n3; n2 and n4 are missing and left alone.
    let n1 = std::fs::read(
        find(&sb.out("sel"), "cell.json")
            .iter()
            .find(|p| p.to_string_lossy().contains("/n1/"))
            .unwrap(),
    )
    .unwrap();
    std::fs::remove_file(sb.path().join("fail")).unwrap();
    let out = sb.run(&["run", "s.yaml", "--rerun-failed"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("sel: 4 cells, 1 selected (--rerun-failed), 1 to run: 1 done (same hash, skipped), 2 missing (not run: --rerun-failed), 0 changed, 1 failed before (1 failed)"),
        "{err}"
    );
    assert_eq!(started(&sb), ["n1", "n3", "n3"]);
    assert_eq!(status_of(&sb, "sel", "n3"), "ok");

    // A plain rerun runs what is missing, and says so.
    let out = sb.run(&["run", "s.yaml"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("sel: 4 cells, 2 to run: 2 done (same hash, skipped), 2 missing, 0 changed, 0 failed before"),
        "{err}"
    );
    assert_eq!(started(&sb), ["n1", "n3", "n3", "n2", "n4"]);
    let n1_now = std::fs::read(
        find(&sb.out("sel"), "cell.json")
            .iter()
            .find(|p| p.to_string_lossy().contains("/n1/"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(n1, n1_now, "a done cell is never rewritten");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.out("sel").join("meta.json")).unwrap())
            .unwrap();
    assert_eq!(meta["run"]["resume"]["done"], 2, "{meta}");
    assert_eq!(meta["run"]["resume"]["missing"], 2, "{meta}");

    // --force with --only reruns a done cell; --force with --rerun-failed
    // is a contradiction.
    let out = sb.run(&["run", "s.yaml", "--force", "--only", "*/n2/*"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(started(&sb).last().unwrap(), "n2");
    let out = sb.run(&["run", "s.yaml", "--force", "--rerun-failed"]);
    assert_eq!(out.status.code(), Some(2));
    // `plan --only` shows the selection.
    let out = sb.run(&["plan", "s.yaml", "--only", "*n4*"]);
    assert!(
        text(&out.stdout).contains("1 cells (local: 1) x 1 round(s) = 1 runs"),
        "{}",
        text(&out.stdout)
    );
}

fn spawn(sb: &Sandbox, args: &[&str]) -> Child {
    sb.command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_output(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out.stderr))
}

/// Start and end lines never interleave: each start is followed by its own
/// end before the next start.
fn assert_serial(ev: &[String]) {
    assert_eq!(ev.len() % 2, 0, "{ev:?}");
    for pair in ev.chunks(2) {
        let (s, e) = (&pair[0], &pair[1]);
        assert!(
            s.starts_with("start ") && e.starts_with("end ") && s[6..] == e[4..],
            "two benchmarks overlapped: {ev:?}"
        );
    }
}

#[test]
fn a_second_run_on_one_board_is_refused_with_the_holder_or_waits_and_never_overlaps() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    // Two scenarios (two result sets) on the one `local` board.
    // The first run's cells are the slower ones: it must still hold the
    // board when the waiting run starts.
    sb.write("a.yaml", &scenario(&sb, "a", "2"));
    sb.write("b.yaml", &scenario(&sb, "b", "1"));
    let first = spawn(&sb, &["run", "a.yaml"]);
    wait_until("a's first benchmark", Duration::from_secs(30), || {
        !events(&sb).is_empty()
    });
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let holder = format!("pid {} on {}", first.id(), host.trim());
    let out = sb.run(&["run", "b.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "board `local` is in use by another klo-spec run ({holder})"
        )),
        "{err}"
    );
    assert!(err.contains("run with --wait"), "{err}");
    assert!(!sb.out("b").exists());
    // --wait-timeout gives up (still exit 2).
    let t = Instant::now();
    let out = sb.run(&["run", "b.yaml", "--wait", "--wait-timeout", "1"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("gave up after waiting 1 s"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15));
    // Ctrl-C while waiting: exit 130, nothing written.
    let waiter = spawn(&sb, &["run", "b.yaml", "--wait"]);
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(waiter.id() as i32, libc::SIGINT) };
    let (code, err) = wait_output(waiter);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("waiting for it to finish (--wait)"), "{err}");
    assert!(err.contains("interrupted: while waiting"), "{err}");
    assert!(!sb.out("b").exists());
    // --wait: says whom it waits for, runs once the first is done.
    let second = spawn(&sb, &["run", "b.yaml", "--wait"]);
    let (code, err_a) = wait_output(first);
    assert_eq!(code, Some(0), "{err_a}");
    let (code, err_b) = wait_output(second);
    assert_eq!(code, Some(0), "{err_b}");
    assert!(
        err_b.contains(&format!(
            "board `local` is in use by another klo-spec run ({holder}); waiting for it to finish (--wait)"
        )),
        "{err_b}"
    );
    let ev = events(&sb);
    assert_eq!(ev.len(), 16, "4 cells of each run: {ev:?}");
    assert_serial(&ev);
}

#[test]
fn two_runs_on_one_output_folder_wait_for_each_other_and_never_interleave_writes() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    // One result set, two boards (fixture trees): only the output folder is
    // shared, so the output lock is what the second run meets.
    for b in ["q", "e"] {
        common::fixture::copy_tree(
            &common::fixture::fixture(if b == "q" { "qcom" } else { "exynos" }),
            &sb.path().join(format!("sysfs-{b}")),
        );
    }
    sb.write(
        "boards.yaml",
        &format!(
            "boards:\n  rb5: {{sysfs_root: '{}', emulate_kernel: true}}\n  note10: {{sysfs_root: '{}', emulate_kernel: true}}\n",
            sb.path().join("sysfs-q").display(),
            sb.path().join("sysfs-e").display()
        ),
    );
    let s = scenario(&sb, "shared", "1");
    sb.write(
        "a.yaml",
        &s.replace("name: shared\n", "name: shared\nboards: [rb5]\n"),
    );
    sb.write(
        "b.yaml",
        &s.replace("name: shared\n", "name: shared\nboards: [note10]\n"),
    );
    let first = spawn(&sb, &["run", "a.yaml"]);
    wait_until("a's first benchmark", Duration::from_secs(30), || {
        !events(&sb).is_empty()
    });
    let out = sb.run(&["run", "b.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "another klo-spec run holds outputs/shared (pid {} on",
            first.id()
        )),
        "{err}"
    );
    let second = spawn(&sb, &["run", "b.yaml", "--wait"]);
    let (code, err_a) = wait_output(first);
    assert_eq!(code, Some(0), "{err_a}");
    let (code, err_b) = wait_output(second);
    assert_eq!(code, Some(0), "{err_b}");
    assert!(
        err_b.contains("waiting for it to finish (--wait)"),
        "{err_b}"
    );
    assert_serial(&events(&sb));
    // Every record whole, each board's cells in their own folders, no
    // leftovers of either run.
    let records = find(&sb.out("shared"), "cell.json");
    assert_eq!(records.len(), 8);
    for r in &records {
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(r).unwrap()).unwrap();
        assert_eq!(j["status"], "ok", "{j}");
    }
    for left in [".staging", ".trash"] {
        assert!(!sb.out("shared").join(left).exists(), "{left}");
    }
    let no_tmp = |p: &Path| !p.to_string_lossy().ends_with(".tmp");
    assert!(
        common::fixture::snapshot(&sb.out("shared"))
            .keys()
            .all(|p| no_tmp(p))
    );
}
