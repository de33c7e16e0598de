//! Rounds end to end: every cell once per round, a random order per round
//! that a seed replays, resume per (cell, round), the A/A check, boards on
//! this machine one after the other, runs of another klo-spec beside ours
//! flagged, and `plan` saying what a design can decide.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

mod common;
use common::fixture::{copy_tree, fixture};
use common::*;

/// A scenario of 4 networks x {default, {fixed: 1}} (8 cells) whose
/// benchmark appends `<network>/<strategy K>` to `starts` when it starts.
fn logged(sb: &Sandbox, name: &str, extra: &str) {
    copy_fake_bench(sb);
    let starts = sb.path().join(format!("starts-{name}"));
    sb.write(
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\n\
             benchmark:\n  command:\n    run: |\n      echo \"{{{{ network }}}}/{{{{ strategy }}}}\" >> '{}'\n      sh fake-bench.sh {{{{ iterations }}}} 0 {{{{ network }}}}\n    push: [fake-bench.sh]\n\
             networks: [n1, n2, n3, n4]\niterations: 4\n\
             matrix:\n  strategy: [default, {{fixed: 1}}]\n{extra}",
            starts.display()
        ),
    );
}

fn starts(sb: &Sandbox, name: &str) -> Vec<String> {
    std::fs::read_to_string(sb.path().join(format!("starts-{name}")))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// rounds.csv as rows keyed by column name.
fn rounds_csv(out: &Path) -> Vec<BTreeMap<String, String>> {
    let rows = csv_rows(&out.join("rounds.csv"));
    rows[1..]
        .iter()
        .map(|r| rows[0].iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

#[test]
fn every_cell_runs_once_per_round_in_an_order_a_seed_replays() {
    let sb = Sandbox::new();
    logged(&sb, "r", "rounds: 3\norder: random\nseed: 7\n");
    let out = sb.run(&["run", "r.yaml"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("r: 8 cells x 3 rounds = 24 runs, 24 to run"),
        "{err}"
    );
    assert!(
        err.contains("order: random within each round, seed 7 (--seed 7 replays it)"),
        "{err}"
    );
    let order = starts(&sb, "r");
    assert_eq!(order.len(), 24);
    // Every round runs every cell once.
    let rounds: Vec<&[String]> = order.chunks(8).collect();
    for r in &rounds {
        let mut sorted = r.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 8, "{r:?}");
    }
    // Each round has its own order, and it is not the plan's.
    assert!(
        rounds[0] != rounds[1] || rounds[1] != rounds[2],
        "{order:?}"
    );
    let plan: Vec<String> = ["n1", "n2", "n3", "n4"]
        .iter()
        .flat_map(|n| [format!("{n}/default"), format!("{n}/fixed-1")])
        .collect();
    assert!(rounds.iter().any(|r| r != &plan.as_slice()), "{order:?}");

    // Each run is recorded in its round's folder with its place.
    let out_dir = sb.out("r");
    let rec =
        json(&out_dir.join("cells/local/none/cpu-current/gpu-current/n3/default/r2/cell.json"));
    assert_eq!(rec["round"], 2);
    assert_eq!(rec["seed"], 7);
    let pos = rec["position"].as_u64().unwrap() as usize;
    assert_eq!(rounds[1][pos], "n3/default");
    let meta = json(&out_dir.join("meta.json"));
    assert_eq!(meta["run"]["order"]["seed"], 7, "{meta}");
    assert_eq!(meta["run"]["order"]["rounds"], 3);
    let rows = rounds_csv(&out_dir);
    assert_eq!(rows.len(), 24);
    assert!(rows.iter().all(|r| r["status"] == "ok"));

    // The A/A check heads the checklist: default and {fixed: 1} are the
    // same settings; the fake benchmark is deterministic, so they agree.
    let checklist = csv_rows(&out_dir.join("checklist.csv"));
    let aa: Vec<&Vec<String>> = checklist.iter().filter(|r| r[0] == "AA").collect();
    assert_eq!(aa.len(), 4, "{checklist:?}");
    let v = column(&checklist, "verdict");
    assert!(aa.iter().all(|r| r[v] == "PASS"), "{aa:?}");
    let md = std::fs::read_to_string(out_dir.join("checklist.md")).unwrap();
    assert!(
        md.contains("**Noise floor.** A/A: 4 pair(s) of identical settings under two names, 4 tested, none differ"),
        "{md}"
    );

    // The same seed replays the same order into another folder.
    std::fs::remove_file(sb.path().join("starts-r")).unwrap();
    let again = sb.run(&["run", "r.yaml", "--output-dir", "again"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(starts(&sb, "r"), order);

    // More rounds later: only the new round runs.
    std::fs::remove_file(sb.path().join("starts-r")).unwrap();
    let more = sb.run(&["run", "r.yaml", "--rounds", "4"]);
    let err = text(&more.stderr);
    assert!(more.status.success(), "{err}");
    assert!(
        err.contains(
            "r: 8 cells x 4 rounds = 32 runs, 8 to run: 24 done (same hash, skipped), 8 missing"
        ),
        "{err}"
    );
    assert_eq!(starts(&sb, "r").len(), 8);
    assert_eq!(rounds_csv(&out_dir).len(), 32);
    let summary = csv_rows(&out_dir.join("summary.csv"));
    let rc = column(&summary, "rounds");
    assert!(summary[1..].iter().all(|r| r[rc] == "4/4"), "{summary:?}");
}

#[test]
fn a_run_interrupted_between_rounds_resumes_with_the_runs_it_missed() {
    let sb = Sandbox::new();
    logged(&sb, "i", "rounds: 2\norder: random\nseed: 3\n");
    // One cell's second-round run is missing (as if the runner was
    // stopped before it): the next run does that run only.
    let out = sb.run(&["run", "i.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let gone = sb
        .out("i")
        .join("cells/local/none/cpu-current/gpu-current/n2/fixed-1/r2");
    std::fs::remove_dir_all(&gone).unwrap();
    std::fs::remove_file(sb.path().join("starts-i")).unwrap();
    let out = sb.run(&["run", "i.yaml"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("1 to run: 15 done"), "{err}");
    assert_eq!(starts(&sb, "i"), ["n2/fixed-1"]);
    assert!(gone.join("cell.json").is_file());
}

#[test]
fn boards_on_this_machine_take_turns() {
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
    // Each benchmark writes S at its start and E at its end: runs of the
    // two boards must never interleave.
    let marks = sb.path().join("marks");
    sb.write(
        "t.yaml",
        &format!(
            "name: t\nboards: [local, note10]\n\
             benchmark:\n  command:\n    run: |\n      echo S >> '{m}'\n      sh fake-bench.sh {{{{ iterations }}}} 0.2 {{{{ network }}}}\n      echo E >> '{m}'\n    push: [fake-bench.sh]\n\
             networks: [n1, n2]\niterations: 3\nrounds: 2\norder: random\n",
            m = marks.display()
        ),
    );
    let out = sb.run(&["run", "t.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let m = std::fs::read_to_string(&marks).unwrap();
    assert_eq!(m, "S\nE\n".repeat(8), "runs overlapped");
    let meta = json(&sb.out("t").join("meta.json"));
    assert_eq!(
        meta["run"]["order"]["lanes"],
        serde_json::json!([["local", "note10"]])
    );
}

#[test]
fn a_run_beside_another_on_this_machine_is_flagged() {
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
    let scenario = |name: &str, board: &str| {
        sb.write(
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\nboards: [{board}]\n\
                 benchmark:\n  command:\n    run: sh fake-bench.sh {{{{ iterations }}}} 1 {{{{ network }}}}\n    push: [fake-bench.sh]\n\
                 networks: [n1, n2]\niterations: 3\n"
            ),
        );
    };
    scenario("a", "local");
    scenario("b", "note10");
    // Two klo-spec runs at once, on two boards of this machine (each holds
    // its own board, so neither refuses the other).
    let other = sb
        .command(&["run", "b.yaml", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = sb.run(&["run", "a.yaml", "--quiet"]);
    let b = other.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(b.status.success());
    let rows = rounds_csv(&sb.out("a"));
    assert!(
        rows.iter()
            .any(|r| r["overlapped"].contains("note10/none/cpu-current/gpu-current/n")),
        "{rows:?}"
    );
    let summary = std::fs::read_to_string(sb.out("a").join("summary.csv")).unwrap();
    assert!(
        summary.contains("overlapped another run on this machine"),
        "{summary}"
    );
}

#[test]
fn plan_shows_runs_time_and_what_a_design_cannot_decide() {
    let sb = Sandbox::new();
    logged(
        &sb,
        "p",
        "rounds: 1\norder: random\nchecks:\n  - {id: C1, title: t, metric: latency, kind: lower, a: {strategy: {fixed: 1}}, b: {strategy: default}}\n",
    );
    let out = sb.run(&["plan", "p.yaml"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout)
            .contains("8 cells (local: 8) x 1 round(s) = 8 runs, each round in a random order"),
        "{}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("with rounds: 1 no check can ever decide"),
        "{err}"
    );
    // After a run, plan estimates the time from the runs on disk.
    let run = sb.run(&["run", "p.yaml", "--quiet"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let out = sb.run(&["plan", "p.yaml", "--rounds", "3"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("estimated time: ") && stdout.contains("for all 24 runs (16 still to run)"),
        "{stdout}"
    );
    let json_out = sb.run(&["plan", "p.yaml", "--json", "--rounds", "3"]);
    let j: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(j["runs"], 24);
    assert!(j["estimated_s"].as_f64().unwrap() > 0.0, "{j}");
}
