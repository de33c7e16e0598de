//! The pre-flight end to end: checks on `local` and on a fixture phone
//! left in a bad state, refusal before anything is written, `--allow` and
//! `preflight: {allow}`, the record in meta.json, and `diff`'s warning
//! about different environments.

use std::path::{Path, PathBuf};

mod common;
use common::fixture::{copy_tree, fixture};
use common::*;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The qcom fixture as a phone with a low battery and an idle state that
/// someone disabled.
fn tired_phone(sb: &Sandbox) -> PathBuf {
    let q = sb.path().join("sysfs-rb5");
    copy_tree(&fixture("qcom"), &q);
    let b = q.join("class/power_supply/battery");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("type"), "Battery\n").unwrap();
    std::fs::write(b.join("capacity"), "12\n").unwrap();
    std::fs::write(b.join("status"), "Discharging\n").unwrap();
    for (state, name, disabled) in [(0, "WFI", 0), (1, "pc", 1)] {
        let s = q.join(format!("devices/system/cpu/cpu0/cpuidle/state{state}"));
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(s.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(s.join("latency"), "100\n").unwrap();
        std::fs::write(s.join("disable"), format!("{disabled}\n")).unwrap();
    }
    sb.write(
        "boards.yaml",
        &format!(
            "boards:\n  rb5: {{sysfs_root: '{}', emulate_kernel: true}}\n",
            q.display()
        ),
    );
    q
}

fn scenario(board: &str, extra: &str) -> String {
    fake_bench_scenario("pf", &format!("boards: [{board}]\n{extra}")).replace("{{ delay }}", "0")
}

#[test]
fn local_reports_what_applies_and_meta_records_checks_and_environment() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    sb.write("s.yaml", &scenario("local", ""));
    let out = sb.run(&["run", "s.yaml"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("pre-flight on board `local`: "), "{err}");
    let meta = json(&sb.out("pf").join("meta.json"));
    let checks = meta["preflight"]["local"]["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "battery",
            "screen",
            "build",
            "governors",
            "daemons",
            "idle_states",
            "selinux",
            "free_space"
        ]
    );
    let free = &checks[7];
    assert_eq!(free["outcome"], "ok", "{free}");
    assert!(
        free["value"].as_str().unwrap().contains(" free in "),
        "{free}"
    );
    // Not Android: no screen or build to check.
    assert_eq!(checks[1]["outcome"], "not_applicable");
    assert_eq!(checks[2]["outcome"], "not_applicable");
    let env = &meta["environment"]["local"];
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(env["kernel.release"], release.trim(), "{env}");
    assert!(env["kernel.machine"].as_str().is_some(), "{env}");
    assert_eq!(meta["run"]["environment_changed"], serde_json::json!([]));
}

#[test]
fn a_failing_check_stops_the_run_before_anything_is_written_unless_allowed() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let q = tired_phone(&sb);
    sb.write("s.yaml", &scenario("rb5", ""));
    let before = common::fixture::snapshot(&q);
    let out = sb.run(&["run", "s.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("FAIL battery: battery: 12% Discharging (battery is at 12% and discharging"),
        "{err}"
    );
    assert!(
        err.contains("FAIL idle_states: 1 CPUs, up to 2 states each (1 idle state(s) already disabled (cpu0 state1 (pc))"),
        "{err}"
    );
    assert!(
        err.contains("the pre-flight failed: `battery` on board `rb5`, `idle_states` on board `rb5` (nothing was run or written)"),
        "{err}"
    );
    assert!(
        err.contains("--allow battery --allow idle_states")
            && err.contains("`preflight: {allow: [battery, idle_states]}`"),
        "{err}"
    );
    assert!(!sb.path().join("outputs").exists(), "nothing written");
    assert_eq!(common::fixture::snapshot(&q), before, "the board untouched");

    // One accepted on the command line, the other in the scenario.
    sb.write(
        "s.yaml",
        &scenario("rb5", "preflight: {allow: [idle_states]}\n"),
    );
    let out = sb.run(&["run", "s.yaml", "--allow", "battery"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("allowed battery: "), "{err}");
    let meta = json(&sb.out("pf").join("meta.json"));
    let checks = meta["preflight"]["rb5"]["checks"].as_array().unwrap();
    let by_name = |n: &str| checks.iter().find(|c| c["name"] == n).unwrap().clone();
    assert_eq!(by_name("battery")["outcome"], "allowed");
    assert!(
        by_name("battery")["detail"]
            .as_str()
            .unwrap()
            .contains("12%")
    );
    assert_eq!(by_name("idle_states")["outcome"], "allowed");
    assert_eq!(by_name("governors")["outcome"], "ok");
    assert_eq!(
        by_name("governors")["value"],
        "policy0 schedutil, policy4 schedutil, policy7 schedutil"
    );
    let env = &meta["environment"]["rb5"];
    assert_eq!(env["idle.cpu0"], "WFI:100us pc:100us", "{env}");
    assert_eq!(env["governor.policy7"], "schedutil", "{env}");
}

#[test]
fn settings_and_names_are_checked_before_anything_runs() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    sb.write(
        "s.yaml",
        &scenario(
            "local",
            "preflight:\n  allow: [batery]\n  battery_min_pct: 120\n  daemons: ['/usr/bin/thermald']\n",
        ),
    );
    let out = sb.run(&["run", "s.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`batery` is not a pre-flight check"), "{err}");
    assert!(err.contains("did you mean `battery`?"), "{err}");
    assert!(err.contains("s.yaml:"), "located: {err}");
    assert!(err.contains("`battery_min_pct`"), "{err}");
    assert!(
        err.contains("`/usr/bin/thermald` is not a process name"),
        "{err}"
    );
    let out = sb.run(&["run", "s.yaml", "--allow", "nothing"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("battery"),
        "the choices are listed"
    );
    assert!(!sb.path().join("outputs").exists());
}

#[test]
fn diff_warns_when_two_result_sets_were_measured_in_different_environments() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    sb.write("s.yaml", &scenario("local", ""));
    for dir in ["a", "b"] {
        let out = sb.run(&["run", "s.yaml", "--output-dir", dir]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let same = sb.run(&["diff", "a/pf", "b/pf"]);
    assert!(
        !text(&same.stdout).contains("different environments"),
        "{}",
        text(&same.stdout)
    );
    // b's board got another kernel.
    let meta_b = sb.path().join("b/pf/meta.json");
    let mut m = json(&meta_b);
    m["environment"]["local"]["kernel.release"] = "9.9.9-other".into();
    std::fs::write(&meta_b, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let out = sb.run(&["diff", "a/pf", "b/pf"]);
    let stdout = text(&out.stdout);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert!(
        stdout.contains("warning: measured in different environments (1)")
            && stdout.contains(&format!(
                "board `local`: kernel.release {} -> 9.9.9-other",
                release.trim()
            )),
        "{stdout}"
    );
    let out = sb.run(&["diff", "a/pf", "b/pf", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["environment_changed"][0]["new"], "9.9.9-other", "{j}");
    assert_eq!(j["environment_changed"][0]["key"], "kernel.release", "{j}");

    // A run that adds to a result set measured elsewhere says so.
    let out = sb.run(&["run", "s.yaml", "--output-dir", "b", "--rounds", "2"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: the environment changed since the earlier runs in"),
        "{err}"
    );
    let m = json(&meta_b);
    assert_eq!(
        m["run"]["environment_changed"][0]["old"], "9.9.9-other",
        "{m}"
    );
}

/// `stop_daemons` stops a running daemon for each cell and starts it again
/// after (through `stop`/`start`, as Android's init has them), and the
/// pre-flight's `daemons` check does not fail on it; without it, the
/// pre-flight stops the run naming the daemon.
#[test]
fn a_daemon_is_stopped_for_each_cell_and_started_again() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    // A daemon of a name no other test looks for: a copy of `sleep`.
    let name = format!("klod{}", std::process::id());
    let bin = sb.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sleep = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v sleep"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::copy(sleep.trim(), bin.join(&name)).unwrap();
    let log = sb.path().join("svc.log");
    // `stop`/`start` as init's: `start` launches the service outside the
    // caller's session and environment.
    for (verb, body) in [
        ("stop", "pkill -x \"$1\"".to_string()),
        (
            "start",
            format!(
                "env -i setsid {}/\"$1\" 300 </dev/null >/dev/null 2>&1 &",
                bin.display()
            ),
        ),
    ] {
        let f = bin.join(verb);
        std::fs::write(
            &f,
            format!(
                "#!/bin/sh\necho \"{verb} $1\" >> '{}'\n{body}\n",
                log.display()
            ),
        )
        .unwrap();
        let mut p = std::fs::metadata(&f).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
        std::fs::set_permissions(&f, p).unwrap();
    }
    // Started as init starts a service, not as this test's child. `pgrep
    // -r R,S,D` leaves zombies out: a stopped daemon whose parent does not
    // reap it would still be listed by name.
    let started = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("'{}/start' {name}", bin.display()))
        .status()
        .unwrap();
    assert!(started.success());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let pid = || {
        String::from_utf8(
            std::process::Command::new("pgrep")
                .args(["-r", "R,S,D", "-x", &name])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_string()
    };
    wait_until(
        "the daemon to start",
        std::time::Duration::from_secs(10),
        || !pid().is_empty(),
    );
    let daemon_pid = pid();
    let running = || {
        std::process::Command::new("pgrep")
            .args(["-r", "R,S,D", "-x", &name])
            .output()
            .unwrap()
            .status
            .success()
    };
    let spy = fake_bench_scenario(
        "pf",
        &format!("boards: [local]\npreflight: {{daemons: [{name}]}}\n"),
    )
    .replace(
        "run: sh fake-bench.sh {{ iterations }} {{ delay }} {{ network }}",
        &format!("run: (pgrep -r R,S,D -x {name} || echo none) > seen.txt; sh fake-bench.sh {{{{ iterations }}}} 0 {{{{ network }}}}"),
    );

    // Not stopped: the pre-flight refuses the run, naming it.
    sb.write("s.yaml", &spy);
    let out = sb
        .command(&["run", "s.yaml"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("FAIL daemons: {name} (pid {daemon_pid})")),
        "{err}"
    );
    assert!(err.contains("`stop_daemons: [NAME]`"), "{err}");

    sb.write("s.yaml", &format!("{spy}stop_daemons: [{name}]\n"));
    let out = sb
        .command(&["run", "s.yaml"])
        .env("PATH", &path)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let seen = std::fs::read_to_string(&find(&sb.out("pf"), "seen.txt")[0]).unwrap();
    assert_eq!(
        seen.trim(),
        "none",
        "the daemon was not running during the benchmark"
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("start {name}\nstop {name}\nstart {name}\n"),
        "started by the test, then stopped and started by the cell"
    );
    let j = json(&find(&sb.out("pf"), "cell.json")[0]);
    assert_eq!(j["daemons_stopped"], serde_json::json!([name]), "{j}");
    assert_eq!(j["pins"]["stopped"], serde_json::json!([name]), "{j}");
    let meta = json(&sb.out("pf").join("meta.json"));
    let checks = meta["preflight"]["local"]["checks"].as_array().unwrap();
    let d = checks.iter().find(|c| c["name"] == "daemons").unwrap();
    assert_eq!(d["outcome"], "ok", "{d}");
    assert!(
        d["value"]
            .as_str()
            .unwrap()
            .contains("stopped for each cell"),
        "{d}"
    );
    wait_until(
        "the daemon to run again",
        std::time::Duration::from_secs(10),
        running,
    );
    let _ = std::process::Command::new("pkill")
        .args(["-r", "R,S,D", "-x", &name])
        .status();
}
