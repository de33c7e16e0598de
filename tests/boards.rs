//! Frequencies, cores online and restore, on fixture boards: copies of the
//! sysfs trees under tests/fixtures/sysfs, written by the real cell scripts,
//! with klo-spec playing the kernel's part. Each test checks the files
//! during and after the cells, and that every file is byte-identical to the
//! fixture afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

mod common;
use common::fixture::{assert_same_tree, copy_tree, fixture, tree_differences};
use common::*;

/// Copies fixture trees into the sandbox and writes an inventory naming them
/// (`rb5` on qcom, `note10` on exynos). Returns the copies' roots.
fn fixture_boards(sb: &Sandbox) -> (PathBuf, PathBuf) {
    let (q, e) = (sb.path().join("sysfs-rb5"), sb.path().join("sysfs-note10"));
    copy_tree(&fixture("qcom"), &q);
    copy_tree(&fixture("exynos"), &e);
    sb.write(
        "boards.yaml",
        &format!(
            "boards:\n  rb5: {{sysfs_root: '{}', emulate_kernel: true}}\n  note10: {{sysfs_root: '{}', emulate_kernel: true}}\n",
            q.display(),
            e.display()
        ),
    );
    (q, e)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn pinning_pins_reads_back_and_restores_every_file() {
    let sb = Sandbox::new();
    let (q, e) = fixture_boards(&sb);
    let scenario = Path::new(ROOT).join("scenarios/pinning.yaml");
    let out = sb
        .command(&["run", "--boards", "boards.yaml", "--rounds", "1"])
        .arg(&scenario)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_same_tree(&q, "qcom");
    assert_same_tree(&e, "exynos");
    let records = find(&sb.out("pinning"), "cell.json");
    assert_eq!(records.len(), 2 * 2 * 2 * 3);
    for r in records {
        let j = json(&r);
        assert_eq!(j["status"], "ok", "{j}");
        // Every pinned frequency was read back, before and after.
        for pin in j["pins"]["cpu"].as_array().unwrap() {
            let name = pin["name"].as_str().unwrap();
            assert_eq!(j["freq_before"][name], pin["khz"], "{}", j["id"]);
            assert_eq!(j["freq_after"][name], pin["khz"], "{}", j["id"]);
        }
        assert_eq!(
            j["freq_before"]["gpu"], j["pins"]["gpu"]["khz"],
            "{}",
            j["id"]
        );
        let id = j["id"].as_str().unwrap();
        if id.starts_with("note10/heavy/") {
            assert_eq!(
                j["cores_onlined"],
                serde_json::json!([6]),
                "the offline core is brought online for a load on all cores"
            );
        }
        if id.contains("/cpu-min/") && id.starts_with("rb5/") {
            assert_eq!(j["freq_before"]["little"], 300000);
            assert_eq!(j["freq_before"]["prime"], 844800);
        }
    }
    let rows = csv_rows(&sb.out("pinning").join("summary.csv"));
    let col = column(&rows, "gpu_khz");
    assert!(
        rows[1..]
            .iter()
            .all(|r| r[col] == "702000" || r[col] == "587000"),
        "GPU at max on both boards"
    );
    assert!(
        load_pids(&sb.out("pinning"))
            .iter()
            .all(|p| !klo_load_running(*p))
    );
}

/// A command benchmark that copies board files into its output folder while
/// it runs, then prints a complete log.
fn spy_scenario(board: &str, cpu_freq: &str, gpu_freq: &str, files: &[PathBuf]) -> String {
    let cats: Vec<String> = files.iter().map(|f| format!("'{}'", f.display())).collect();
    format!(
        "name: spy\nboards: [{board}]\nbenchmark:\n  command:\n    run: |\n      for f in {}; do cat \"$f\"; done > seen.txt\n      sh fake-bench.sh 2 0 n\n    push: [fake-bench.sh]\nnetworks: [n]\niterations: 2\nload_settle_ms: 100\nloads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [light]\n  cpu_freq: [{cpu_freq}]\n  gpu_freq: [{gpu_freq}]\n",
        cats.join(" ")
    )
}

/// Gives a fixture copy three idle states on cpu7 (the prime cluster):
/// their `disable` files. The shared fixture has none (a file more would
/// change rb5's identity, which the committed LUT records).
fn idle_states(q: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (i, name) in ["WFI", "retention", "power-collapse"].iter().enumerate() {
        let s = q.join(format!("devices/system/cpu/cpu7/cpuidle/state{i}"));
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(s.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(s.join("disable"), "0\n").unwrap();
        files.push(s.join("disable"));
    }
    files
}

/// Gives a fixture copy a DDR bandwidth devfreq device (the shared
/// fixture has none): its folder.
fn ddr_device(q: &Path) -> PathBuf {
    let d = q.join("class/devfreq/soc:qcom,cpu-llcc-ddr-bw");
    std::fs::create_dir_all(&d).unwrap();
    for (f, v) in [
        (
            "available_frequencies",
            "762 1720 2086 2929 3879 5931 6515 7980",
        ),
        ("min_freq", "762"),
        ("max_freq", "7980"),
        ("cur_freq", "1720"),
        ("governor", "bw_hwmon"),
    ] {
        std::fs::write(d.join(f), format!("{v}\n")).unwrap();
    }
    d
}

fn seen(sb: &Sandbox) -> Vec<String> {
    let f = &find(&sb.out("spy"), "seen.txt")[0];
    std::fs::read_to_string(f)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn an_exynos_board_is_pinned_with_min_max_and_dvfs_locks_while_the_benchmark_runs() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let (_, e) = fixture_boards(&sb);
    let p4 = e.join("devices/system/cpu/cpufreq/policy4");
    let mali = e.join("class/misc/mali0/device");
    let files = [
        p4.join("scaling_min_freq"),
        p4.join("scaling_max_freq"),
        p4.join("scaling_cur_freq"),
        p4.join("scaling_governor"),
        e.join("devices/system/cpu/cpu6/online"),
        mali.join("dvfs_min_lock"),
        mali.join("dvfs_max_lock"),
    ];
    sb.write(
        "s.yaml",
        &spy_scenario("note10", "{big: 1144000, others: keep}", "50%", &files),
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // No userspace governor on this board: min = max, governor untouched.
    // 50% of 260000..702000 is 481000: the nearest available is 450000.
    assert_eq!(
        seen(&sb),
        [
            "1144000",
            "1144000",
            "1144000",
            "schedutil",
            "1",
            "450000",
            "450000"
        ]
    );
    assert_same_tree(&e, "exynos");
}

#[test]
fn a_qualcomm_board_uses_the_userspace_governor_and_locks_kgsl() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let (q, _) = fixture_boards(&sb);
    let p0 = q.join("devices/system/cpu/cpufreq/policy0");
    let k = q.join("class/kgsl/kgsl-3d0");
    let files = [
        p0.join("scaling_governor"),
        p0.join("scaling_setspeed"),
        p0.join("scaling_cur_freq"),
        k.join("devfreq/governor"),
        k.join("devfreq/min_freq"),
        k.join("devfreq/max_freq"),
        k.join("max_pwrlevel"),
        k.join("min_pwrlevel"),
        k.join("gpuclk"),
        q.join("devices/system/cpu/cpu4/core_ctl/min_cpus"),
    ];
    sb.write("s.yaml", &spy_scenario("rb5", "{all: min}", "min", &files));
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        seen(&sb),
        [
            "userspace",
            "300000",
            "300000",
            "performance",
            "305000000",
            "305000000",
            "5",
            "5",
            "305000000",
            "3"
        ]
    );
    assert_same_tree(&q, "qcom");
}

/// Starts a long cell pinning note10 at its minimum, then kills the cell
/// script and the runner with SIGKILL (as a crash or a lost board would):
/// nothing runs the cleanup, the board stays pinned and loaded.
fn kill_a_cell_mid_way(sb: &Sandbox) -> (Vec<i32>, i32) {
    copy_fake_bench(sb);
    sb.write(
        "s.yaml",
        &fake_bench_scenario("killed", &format!("boards: [note10]\nloads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [light]\n  cpu_freq: [{{all: min}}]\n"))
            .replace("{{ delay }}", "60"),
    );
    let mut child = sb
        .command(&["run", "s.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let loads = wait_for_loads(sb);
    wait_until("the benchmark to start", Duration::from_secs(10), || {
        !find_written(&sb.board_dir(), "bench.pid").is_empty()
    });
    let bench = bench_group(&sb.board_dir());
    // The cell script is the benchmark leader's parent.
    let stat = std::fs::read_to_string(format!("/proc/{bench}/stat")).unwrap();
    let script: i32 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // The runner is stopped first: otherwise it may see its script die and
    // clean up before it is killed itself (it does, when it can).
    unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
    unsafe { libc::kill(script, libc::SIGKILL) };
    child.kill().unwrap();
    child.wait().unwrap();
    (loads, bench)
}

#[test]
fn board_reset_puts_back_what_a_killed_cell_left() {
    let sb = Sandbox::new();
    let (_, e) = fixture_boards(&sb);
    let (loads, bench) = kill_a_cell_mid_way(&sb);
    let min = e.join("devices/system/cpu/cpufreq/policy0/scaling_max_freq");
    assert_eq!(
        std::fs::read_to_string(&min).unwrap().trim(),
        "455000",
        "the killed cell left the board pinned"
    );
    assert!(loads.iter().any(|p| klo_load_running(*p)), "and loaded");

    let out = sb.run(&["board", "reset", "note10", "--boards", "boards.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("restored=1"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        loads.iter().all(|p| !klo_load_running(*p)),
        "reset kills the loads the cell left"
    );
    assert!(
        !group_alive(bench),
        "reset stops the benchmark the cell left"
    );
    assert_same_tree(&e, "exynos");
    let again = sb.run(&["board", "reset", "note10", "--boards", "boards.yaml"]);
    assert!(text(&again.stdout).contains("nothing_to_restore=1"));
}

#[test]
fn the_next_run_puts_back_what_a_killed_cell_left_before_its_first_cell() {
    let sb = Sandbox::new();
    let (_, e) = fixture_boards(&sb);
    let (loads, _) = kill_a_cell_mid_way(&sb);
    // The same scenario with a quick benchmark: the next run restores the
    // board first, then pins it again for its own cell, then restores it.
    let text_in = std::fs::read_to_string(sb.path().join("s.yaml"))
        .unwrap()
        .replace(" 60 ", " 0 ");
    sb.write("s.yaml", &text_in);
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(loads.iter().all(|p| !klo_load_running(*p)));
    let j = json(&find(&sb.out("killed"), "cell.json")[0]);
    assert_eq!(j["stale_state_restored"], true, "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .contains("an earlier run's changes were found on the board and put back first")
    );
    assert_same_tree(&e, "exynos");
}

#[test]
fn settings_a_board_cannot_take_are_refused_before_anything_runs() {
    let sb = Sandbox::new();
    let (q, _) = fixture_boards(&sb);
    let cases = [
        (
            "{mid: max}",
            "board `rb5` has no cluster `mid`",
            "its clusters: little, big, prime, policy0, policy4, policy7",
        ),
        (
            "{big: 1000000, others: keep}",
            "1000000 kHz is not an available frequency of big (policy4)",
            "available (kHz): 710400, 825600",
        ),
        (
            "{big: max}",
            "this setting leaves little (policy0), prime (policy7) of board `rb5` at whatever the governor chooses",
            "add `others: keep`",
        ),
    ];
    for (setting, message, hint) in cases {
        sb.write(
            "s.yaml",
            &format!(
                "name: bad\nboards: [rb5]\nnetworks: [tiny]\nmatrix:\n  cpu_freq: [{setting}]\n"
            ),
        );
        let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{setting}: {err}");
        assert!(err.starts_with("error: s.yaml:5:14: "), "{setting}: {err}");
        assert!(
            err.contains(message) && err.contains(hint),
            "{setting}: {err}"
        );
        assert!(!sb.out("bad").exists());
    }
    assert_same_tree(&q, "qcom");

    // A board of the inventory without cpufreq or GPU control is refused
    // (only the built-in `local` leaves such a setting at its current value).
    let bare = sb.path().join("sysfs-bare");
    std::fs::create_dir_all(bare.join("devices/system/cpu")).unwrap();
    std::fs::write(bare.join("devices/system/cpu/online"), "0-1\n").unwrap();
    sb.write(
        "bare.yaml",
        &format!(
            "boards:\n  bare: {{sysfs_root: '{}', emulate_kernel: true}}\n",
            bare.display()
        ),
    );
    for (axis, setting, message) in [
        (
            "cpu_freq",
            "{all: min}",
            "board `bare` has no cpufreq policies",
        ),
        (
            "gpu_freq",
            "max",
            "board `bare` has no GPU frequency control",
        ),
    ] {
        sb.write(
            "s.yaml",
            &format!(
                "name: bad\nboards: [bare]\nnetworks: [tiny]\nmatrix:\n  {axis}: [{setting}]\n"
            ),
        );
        let out = sb.run(&["run", "s.yaml", "--boards", "bare.yaml"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{setting}: {err}");
        assert!(err.contains(message), "{err}");
        assert!(err.contains(&format!("use `{axis}: [current]`")), "{err}");
        assert!(!err.contains("note:"), "{err}");
        assert!(!sb.out("bad").exists());
    }
}

#[test]
fn a_board_in_use_is_refused() {
    let sb = Sandbox::new();
    fixture_boards(&sb);
    sb.write("s.yaml", "name: busy\nboards: [rb5]\nnetworks: [tiny]\niterations: 2\nbenchmark: {probe: {device: thread}}\n");
    let lock = sb.board_dir().join("rb5/state/lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .unwrap();
    f.lock().unwrap();
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("board `rb5` is in use by another klo-spec run"));
    assert!(!sb.out("busy").exists(), "a refused run writes nothing");
}

#[test]
fn a_written_topology_is_used_without_reaching_the_board() {
    let sb = Sandbox::new();
    let (q, _) = fixture_boards(&sb);
    let out = sb.run(&[
        "board",
        "probe",
        "rb5",
        "--boards",
        "boards.yaml",
        "--write",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let saved = sb.path().join("topology/rb5.json");
    let topo: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(topo["policies"][1]["name"], "big");
    // A saved reading that says `big` tops out at 1862400 kHz is what `plan`
    // checks settings against.
    let edited = std::fs::read_to_string(&saved)
        .unwrap()
        .replace("2419200", "1862400");
    std::fs::write(&saved, edited).unwrap();
    sb.write("s.yaml", "name: t\nboards: [rb5]\nnetworks: [tiny]\nmatrix:\n  cpu_freq: [{big: 2419200, others: keep}]\n");
    let plan = sb.run(&["plan", "s.yaml", "--boards", "boards.yaml"]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan.stderr));
    assert!(
        text(&plan.stderr).contains("2419200 kHz is not an available frequency"),
        "{}",
        text(&plan.stderr)
    );
    assert_same_tree(&q, "qcom");
}

#[test]
fn board_reset_stops_what_a_killed_cells_benchmark_started_outside_its_group() {
    let sb = Sandbox::new();
    fixture_boards(&sb);
    copy_fake_bench(&sb);
    // The benchmark leaves a daemon in a session of its own, then runs on.
    let daemon_file = sb.path().join("daemon");
    sb.write(
        "s.yaml",
        &format!(
            "name: esc\nboards: [note10]\nbenchmark:\n  command:\n    run: |\n      setsid sh -c 'echo $$ > {}; exec sleep 300' > /dev/null 2>&1 < /dev/null &\n      sh fake-bench.sh 3 60 n\n    push: [fake-bench.sh]\nnetworks: [n]\niterations: 3\nload_settle_ms: 100\n",
            daemon_file.display()
        ),
    );
    let mut child = sb
        .command(&["run", "s.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the daemon to start", Duration::from_secs(30), || {
        std::fs::read_to_string(&daemon_file).is_ok_and(|s| s.trim().parse::<i32>().is_ok())
    });
    let daemon: i32 = std::fs::read_to_string(&daemon_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let bench = bench_group(&sb.board_dir());
    let stat = std::fs::read_to_string(format!("/proc/{bench}/stat")).unwrap();
    let script: i32 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // Runner and cell script killed: nobody cleans up.
    unsafe { libc::kill(child.id() as i32, libc::SIGSTOP) };
    unsafe { libc::kill(script, libc::SIGKILL) };
    child.kill().unwrap();
    child.wait().unwrap();
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            let state = s[s.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap_or("Z");
            state != "Z" && state != "X"
        })
    };
    assert!(alive(daemon), "the daemon outlived its killed cell");
    let out = sb.run(&["board", "reset", "note10", "--boards", "boards.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_until("the daemon to be stopped", Duration::from_secs(10), || {
        !alive(daemon)
    });
    assert!(!group_alive(bench), "and the benchmark's group");
}

/// A kgsl GPU without `devfreq/` (older kernels): pinned through its power
/// levels, read back and restored byte for byte; a kgsl with neither
/// `devfreq/` nor power-level files is refused, naming what is missing.
#[test]
fn a_kgsl_without_devfreq_is_pinned_through_its_power_levels() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let t = sb.path().join("sysfs-old");
    copy_tree(&fixture("qcom-nodevfreq"), &t);
    sb.write(
        "boards.yaml",
        &format!(
            "boards:\n  old: {{sysfs_root: '{}', emulate_kernel: true}}\n",
            t.display()
        ),
    );
    let probe = sb.run(&["board", "probe", "old", "--boards", "boards.yaml"]);
    assert!(probe.status.success(), "{}", text(&probe.stderr));
    assert!(
        text(&probe.stdout).contains("pinned through max_pwrlevel/min_pwrlevel (levels 0-6"),
        "{}",
        text(&probe.stdout)
    );
    let k = t.join("class/kgsl/kgsl-3d0");
    let files = [
        k.join("max_pwrlevel"),
        k.join("min_pwrlevel"),
        k.join("gpuclk"),
    ];
    // 50% of 133300..650000 kHz is 391650: the nearest level is 400000 (3).
    for (setting, level, hz) in [
        ("min", "6", "133300000"),
        ("50%", "3", "400000000"),
        ("max", "0", "650000000"),
    ] {
        sb.write("s.yaml", &spy_scenario("old", "current", setting, &files));
        let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
        assert!(out.status.success(), "{setting}: {}", text(&out.stderr));
        assert_eq!(seen(&sb), [level, level, hz], "{setting}");
        let j = json(&find(&sb.out("spy"), "cell.json")[0]);
        assert_eq!(j["status"], "ok", "{j}");
        assert_eq!(j["pins"]["gpu"]["level"], level.parse::<u32>().unwrap());
        assert_eq!(j["freq_before"]["gpu"], j["pins"]["gpu"]["khz"], "{j}");
        assert_eq!(j["freq_after"]["gpu"], j["pins"]["gpu"]["khz"], "{j}");
        assert_same_tree(&t, "qcom-nodevfreq");
        std::fs::remove_dir_all(sb.out("spy")).unwrap();
    }

    // Neither devfreq/ nor max_pwrlevel: refused before anything runs, the
    // missing files named (not "not root?").
    std::fs::remove_file(k.join("max_pwrlevel")).unwrap();
    let probe = sb.run(&["board", "probe", "old", "--boards", "boards.yaml"]);
    assert!(probe.status.success(), "{}", text(&probe.stderr));
    assert!(
        text(&probe.stdout).contains(&format!(
            "kgsl GPU without devfreq/ or power-level files (missing {}/devfreq/, {0}/max_pwrlevel)",
            k.display()
        )),
        "{}",
        text(&probe.stdout)
    );
    sb.write("s.yaml", &spy_scenario("old", "current", "max", &files));
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: s.yaml:"), "{err}");
    assert!(
        err.contains(&format!(
            "missing {}/devfreq/, {0}/max_pwrlevel",
            k.display()
        )),
        "{err}"
    );
    assert!(!err.contains("not root"), "{err}");
    assert!(!sb.out("spy").exists(), "nothing written");
    assert_eq!(
        std::fs::read_to_string(k.join("min_pwrlevel")).unwrap(),
        "6\n",
        "nothing touched"
    );
}

/// The `qcom-nodevfreq` fixture as board `old` (thermal zones cpu-0-0 at
/// 38 °C, cpu-1-0 at 39 °C, gpu, battery), with a scenario whose cells each
/// run a 1 s benchmark: the emulation heats the zones 10 °C/s under load and
/// cools them 5 °C/s while idle.
fn thermal_board(sb: &Sandbox, thermal: &str, networks: &str) -> PathBuf {
    thermal_board_with(sb, thermal, networks, 1)
}

/// The fake benchmark, a copy of the qcom-nodevfreq tree, and an inventory
/// naming it board `old` (emulated); the copy's root.
fn old_board(sb: &Sandbox) -> PathBuf {
    copy_fake_bench(sb);
    let t = sb.path().join("sysfs-old");
    copy_tree(&fixture("qcom-nodevfreq"), &t);
    sb.write(
        "boards.yaml",
        &format!(
            "boards:\n  old: {{sysfs_root: '{}', emulate_kernel: true}}\n",
            t.display()
        ),
    );
    t
}

/// The same with a benchmark of `bench_s` seconds.
fn thermal_board_with(sb: &Sandbox, thermal: &str, networks: &str, bench_s: u32) -> PathBuf {
    let t = old_board(sb);
    sb.write(
        "s.yaml",
        &format!(
            "name: hot\nboards: [old]\nbenchmark:\n  command:\n    run: sh fake-bench.sh {{{{ iterations }}}} {bench_s} {{{{ network }}}}\n    push: [fake-bench.sh]\nnetworks: [{networks}]\niterations: 2\nload_settle_ms: 100\nrounds: 1\norder: plan\nthermal: {thermal}\n"
        ),
    );
    t
}

fn cell_json(sb: &Sandbox, id: &str) -> serde_json::Value {
    json(&sb.out("hot").join("cells").join(id).join("r1/cell.json"))
}

#[test]
fn the_thermal_gate_waits_records_temperatures_and_marks_throttled_cells() {
    let sb = Sandbox::new();
    // A 3 s benchmark heats the zones by some 30 °C: cooling back below
    // 45 °C takes seconds, longer than the runner takes between cells.
    let t = thermal_board_with(
        &sb,
        "{zones: 'cpu*', below_c: 45, poll_s: 0.1, timeout_s: 30}",
        "a, b",
        3,
    );
    let probe = sb.run(&["board", "probe", "old", "--boards", "boards.yaml"]);
    let listing = text(&probe.stdout);
    assert!(
        listing.contains("thermal_zone0")
            && listing.contains("cpu-0-0")
            && listing.contains("38.0"),
        "{listing}"
    );
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let (a, b) = (
        cell_json(&sb, "old/none/cpu-current/gpu-current/a/default"),
        cell_json(&sb, "old/none/cpu-current/gpu-current/b/default"),
    );
    // The first cell starts cool: no wait. Its benchmark heats the zones
    // past 45 °C: throttled. The second waits for them to cool first.
    let wait = |j: &serde_json::Value| j["thermal"]["wait_s"].as_f64().unwrap();
    assert!(wait(&a) < 0.5, "{a}");
    assert!(wait(&b) > 1.0, "{b}");
    for j in [&a, &b] {
        assert_eq!(j["status"], "throttled", "{j}");
        assert!(
            j["reason"]
                .as_str()
                .unwrap()
                .contains("above its limit 45.0 °C"),
            "{j}"
        );
        let zones = j["thermal"]["zones"].as_array().unwrap();
        assert_eq!(zones.len(), 2, "cpu-0-0 and cpu-1-0: {j}");
        for z in zones {
            let (gate, start, end) = (
                z["gate_c"].as_f64().unwrap(),
                z["start_c"].as_f64().unwrap(),
                z["end_c"].as_f64().unwrap(),
            );
            assert!(gate < 45.0 && start < 45.0 && end > start + 15.0, "{z}");
        }
    }
    let rows = csv_rows(&sb.out("hot").join("summary.csv"));
    let n = rows[0].len();
    assert_eq!(
        rows[0][n - 3..],
        ["thermal_wait_s", "temp_start_c", "temp_end_c"],
        "appended after the existing columns"
    );
    assert!(rows[1..].iter().all(|r| !r[n - 1].is_empty()));
    assert_same_tree(&t, "qcom-nodevfreq");
}

#[test]
fn a_board_that_stays_hot_makes_cells_too_hot_and_throttled_cells_are_redone() {
    let sb = Sandbox::new();
    // 3 s benchmarks: the zones need seconds to cool back, more than the
    // runner takes between cells.
    thermal_board_with(
        &sb,
        "{zones: 'cpu*', below_c: 45, poll_s: 0.1, timeout_s: 0.3}",
        "a, b",
        3,
    );
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let b = cell_json(&sb, "old/none/cpu-current/gpu-current/b/default");
    assert_eq!(b["status"], "too_hot", "{b}");
    let why = b["reason"].as_str().unwrap();
    assert!(
        why.contains("the board stayed too hot for 0.3 s")
            && why.contains("limit 45.0 °C")
            && why.contains("not run"),
        "{why}"
    );
    assert!(b["bench_exit"].is_null(), "not run: {b}");

    // run_flagged: the second cell runs although the board is still hot,
    // and says so.
    let sb = Sandbox::new();
    thermal_board_with(
        &sb,
        "{zones: 'cpu*', below_c: 45, poll_s: 0.1, timeout_s: 0.3, on_timeout: run_flagged}",
        "a, b",
        3,
    );
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let b = cell_json(&sb, "old/none/cpu-current/gpu-current/b/default");
    assert_eq!(b["status"], "throttled", "{b}");
    assert_eq!(b["bench_exit"], 0, "{b}");
    assert_eq!(b["thermal"]["flagged"], true, "{b}");
    assert!(
        b["reason"].as_str().unwrap().contains("started too hot"),
        "{b}"
    );

    // within_c: the limit follows the run's first reading (38 and 39 °C);
    // a throttled cell is run again after the cool-down.
    let sb = Sandbox::new();
    thermal_board_with(
        &sb,
        "{zones: 'cpu-0-*', within_c: 3, poll_s: 0.1, timeout_s: 30, redo_throttled: 1}",
        "a",
        3,
    );
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let a = cell_json(&sb, "old/none/cpu-current/gpu-current/a/default");
    assert_eq!(a["status"], "throttled", "{a}");
    assert_eq!(a["attempt"], 2, "{a}");
    assert_eq!(
        a["earlier_attempts"][0]["retried_by"], "redo_throttled",
        "{a}"
    );
    assert_eq!(a["thermal"]["zones"][0]["limit_c"], 41.0, "{a}");
    assert!(a["thermal"]["wait_s"].as_f64().unwrap() > 1.0, "{a}");
}

#[test]
fn a_thermal_setting_a_board_cannot_take_is_refused_before_anything_runs() {
    let sb = Sandbox::new();
    for (thermal, message, hint) in [
        (
            "{zones: 'skin*', below_c: 45}",
            "s.yaml:12:18: board `old` has no thermal zone whose type matches `skin*`",
            "its zones' types: cpu-0-0, cpu-1-0, gpu, battery",
        ),
        (
            "{zones: 'cpu*', below_c: 45, within_c: 2}",
            "s.yaml:12:39: `thermal` gives both `below_c` and `within_c`",
            "keep one",
        ),
        (
            "{zones: 'cpu[', below_c: 45}",
            "s.yaml:12:18: `cpu[` is not a valid glob",
            "`*` matches any text",
        ),
    ] {
        let t = thermal_board(&sb, thermal, "a");
        let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{thermal}: {err}");
        assert!(
            err.contains(message) && err.contains(hint),
            "{thermal}: {err}"
        );
        assert!(!sb.out("hot").exists(), "nothing written");
        assert_same_tree(&t, "qcom-nodevfreq");
    }
}

/// `cpuidle` disables a cluster's deeper idle states for the cell (their
/// `disable` files), reads them back, and puts them back; a board or
/// cluster that cannot take it is refused before anything runs, located.
#[test]
fn cpu_idle_states_are_disabled_for_the_cell_read_back_and_restored() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let (q, _) = fixture_boards(&sb);
    let files = idle_states(&q);
    let spy = spy_scenario("rb5", "current", "current", &files);
    sb.write("s.yaml", &(spy.clone() + "cpuidle: {prime: 0}\n"));
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        seen(&sb),
        ["0", "1", "1"],
        "state0 kept, the deeper ones off"
    );
    let j = json(&find(&sb.out("spy"), "cell.json")[0]);
    assert_eq!(j["status"], "ok", "{j}");
    assert_eq!(
        j["pins"]["knobs"],
        serde_json::json!([
            {"name": "cpuidle.cpu7.state1", "value": 1, "file": "devices/system/cpu/cpu7/cpuidle/state1/disable"},
            {"name": "cpuidle.cpu7.state2", "value": 1, "file": "devices/system/cpu/cpu7/cpuidle/state2/disable"}
        ])
    );
    for f in &files {
        assert_eq!(
            std::fs::read_to_string(f).unwrap(),
            "0\n",
            "{} put back",
            f.display()
        );
    }

    for (setting, message) in [
        ("{big: 0}", "board `rb5` shows no idle states for cpu4"),
        ("{huge: 0}", "`huge` is not a cluster"),
        (
            "{prime: 5}",
            "cpu7 has idle states 0-2: state5 is not one of them",
        ),
    ] {
        sb.write("s.yaml", &format!("{spy}cpuidle: {setting}\n"));
        let out = sb.run(&["run", "s.yaml", "--output-dir", "refused"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{setting}: {err}");
        assert!(
            err.contains(message) && err.contains("s.yaml:"),
            "{setting}: {err}"
        );
        assert!(!sb.path().join("refused").exists(), "nothing written");
    }
    for f in &files {
        assert_eq!(std::fs::read_to_string(f).unwrap(), "0\n");
    }
}

/// `devfreq` pins a memory-bus devfreq device (min = max) for the cell,
/// reads it back and puts it back; a glob that matches nothing is refused,
/// located, naming the devices the board has.
#[test]
fn a_memory_bus_devfreq_is_pinned_for_the_cell_and_put_back() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let (q, _) = fixture_boards(&sb);
    let d = ddr_device(&q);
    let files = [d.join("min_freq"), d.join("max_freq"), d.join("cur_freq")];
    let spy = spy_scenario("rb5", "current", "current", &files);
    sb.write("s.yaml", &(spy.clone() + "devfreq: {'*ddr*': 50%}\n"));
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // 50% of 762-7980 is nearest 3879; the emulated kernel follows.
    assert_eq!(seen(&sb), ["3879", "3879", "3879"]);
    let j = json(&find(&sb.out("spy"), "cell.json")[0]);
    assert_eq!(j["status"], "ok", "{j}");
    let knobs: Vec<&str> = j["pins"]["knobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        knobs,
        [
            "devfreq.soc_qcom_cpu-llcc-ddr-bw.min_freq",
            "devfreq.soc_qcom_cpu-llcc-ddr-bw.max_freq"
        ]
    );
    wait_until(
        "the emulated cur_freq to follow",
        Duration::from_secs(5),
        || std::fs::read_to_string(d.join("cur_freq")).unwrap() == "1720\n",
    );
    for (f, v) in [("min_freq", "762\n"), ("max_freq", "7980\n")] {
        assert_eq!(
            std::fs::read_to_string(d.join(f)).unwrap(),
            v,
            "{f} put back"
        );
    }

    sb.write("s.yaml", &(spy + "devfreq: {'*dmc*': max}\n"));
    let out = sb.run(&[
        "run",
        "s.yaml",
        "--boards",
        "boards.yaml",
        "--output-dir",
        "refused",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("board `rb5` has no devfreq device matching `*dmc*`")
            && err.contains("its devfreq devices: soc:qcom,cpu-llcc-ddr-bw")
            && err.contains("s.yaml:"),
        "{err}"
    );
    assert!(!sb.path().join("refused").exists());
}

/// `mali.power_policy` selects a Mali power policy for the cell (the file
/// reads `coarse_demand [always_on]` meanwhile, as a kernel shows it), reads
/// it back and puts the board's own back; boards that cannot take it are
/// refused, located.
#[test]
fn a_mali_power_policy_is_selected_for_the_cell_and_put_back() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let (_, e) = fixture_boards(&sb);
    let file = e.join("class/misc/mali0/device/power_policy");
    let spy = spy_scenario("note10", "current", "current", std::slice::from_ref(&file));
    sb.write(
        "s.yaml",
        &(spy.clone() + "mali: {power_policy: always_on}\n"),
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(seen(&sb), ["coarse_demand [always_on]"]);
    let j = json(&find(&sb.out("spy"), "cell.json")[0]);
    assert_eq!(j["status"], "ok", "{j}");
    assert_eq!(
        j["pins"]["knobs"],
        serde_json::json!([{"name": "power_policy", "value": "always_on", "file": "class/misc/mali0/device/power_policy"}])
    );
    assert_same_tree(&e, "exynos");

    for (board, setting, message) in [
        (
            "note10",
            "{power_policy: turbo}",
            "board `note10` offers no power policy `turbo`",
        ),
        (
            "rb5",
            "{power_policy: always_on}",
            "board `rb5` has no Mali GPU",
        ),
        (
            "note10",
            "{power_policy: 'a b'}",
            "`a b` is not a power policy name",
        ),
    ] {
        let spy = spy_scenario(board, "current", "current", std::slice::from_ref(&file));
        sb.write("s.yaml", &format!("{spy}mali: {setting}\n"));
        let out = sb.run(&["run", "s.yaml", "--output-dir", "refused"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{setting}: {err}");
        assert!(
            err.contains(message) && err.contains("s.yaml:"),
            "{setting}: {err}"
        );
        assert!(!sb.path().join("refused").exists());
    }
    assert_same_tree(&e, "exynos");
}

/// The scenario's `kgsl` knobs are set for the cell (instead of the GPU
/// pin's own `force_clk_on: 1`, `idle_timer: 10000`), read back and put
/// back; a board without them is refused, located at the knob.
#[test]
fn kgsl_knobs_are_set_read_back_and_restored() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let (q, _) = fixture_boards(&sb);
    let k = q.join("class/kgsl/kgsl-3d0");
    // The shared fixture has no bus_split (a file more would change rb5's
    // identity, which the committed LUT records): this copy gets one.
    std::fs::write(k.join("bus_split"), "1\n").unwrap();
    let files = [
        k.join("force_clk_on"),
        k.join("idle_timer"),
        k.join("bus_split"),
    ];
    let knobs = "kgsl: {force_clk_on: 0, idle_timer: 64, bus_split: 0}\n";
    sb.write(
        "s.yaml",
        &(spy_scenario("rb5", "current", "max", &files) + knobs),
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(seen(&sb), ["0", "64", "0"]);
    let j = json(&find(&sb.out("spy"), "cell.json")[0]);
    assert_eq!(j["status"], "ok", "{j}");
    assert_eq!(
        j["pins"]["knobs"],
        serde_json::json!([
            {"name": "force_clk_on", "value": 0},
            {"name": "idle_timer", "value": 64},
            {"name": "bus_split", "value": 0}
        ])
    );
    let differ = tree_differences(&q, "qcom", &|p| {
        p.starts_with("class/thermal") && p.file_name().is_some_and(|n| n == "temp")
            || p.ends_with("bus_split")
    });
    assert!(differ.is_empty(), "{differ:?}");
    assert_eq!(std::fs::read_to_string(k.join("bus_split")).unwrap(), "1\n");

    // Without a GPU pin too; a board without the file, or without kgsl,
    // is refused before anything runs.
    let t = sb.path().join("sysfs-old");
    copy_tree(&fixture("qcom-nodevfreq"), &t);
    sb.write(
        "more.yaml",
        &format!(
            "boards:\n  old: {{sysfs_root: '{}', emulate_kernel: true}}\n  note10: {{sysfs_root: '{}', emulate_kernel: true}}\n",
            t.display(),
            sb.path().join("sysfs-note10").display()
        ),
    );
    for (board, message) in [
        (
            "old",
            format!(
                "board `old` has no {}/class/kgsl/kgsl-3d0/force_clk_on",
                t.display()
            ),
        ),
        (
            "note10",
            "board `note10` has no kgsl GPU: `kgsl.force_clk_on` cannot be set there".to_string(),
        ),
    ] {
        sb.write(
            "s.yaml",
            &format!(
                "name: knob\nboards: [{board}]\nnetworks: [tiny]\nkgsl: {{force_clk_on: 1}}\n"
            ),
        );
        let out = sb.run(&["run", "s.yaml", "--boards", "more.yaml"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.starts_with("error: s.yaml:4:"), "{err}");
        assert!(
            err.contains(&message) && err.contains("(at `kgsl.force_clk_on`)"),
            "{err}"
        );
        assert!(!sb.out("knob").exists());
    }
    assert_same_tree(&t, "qcom-nodevfreq");
}

/// With a thermal gate, a pinned frequency that moves during the benchmark
/// (here the benchmark lowers a limit, as a thermal driver would) makes the
/// cell `throttled`; the board is put back all the same.
#[test]
fn a_pinned_frequency_that_moves_during_the_benchmark_makes_the_cell_throttled() {
    let sb = Sandbox::new();
    let t = thermal_board(&sb, "{zones: 'cpu*', below_c: 90}", "a");
    let max = t.join("devices/system/cpu/cpufreq/policy0/scaling_max_freq");
    let text_in = std::fs::read_to_string(sb.path().join("s.yaml"))
        .unwrap()
        .replace(
            "run: sh fake-bench.sh",
            &format!("run: echo 652800 > '{}'; sh fake-bench.sh", max.display()),
        )
        + "matrix:\n  cpu_freq: [{all: max}]\n";
    sb.write("s.yaml", &text_in);
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    let records = find(&sb.out("hot"), "cell.json");
    assert!(
        out.status.code() != Some(2) && records.len() == 1,
        "{}",
        text(&out.stderr)
    );
    let j = json(&records[0]);
    assert_eq!(j["status"], "throttled", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .contains("pinned frequency moved: little 2016000 -> 652800 kHz"),
        "{j}"
    );
    assert_same_tree(&t, "qcom-nodevfreq");
}

/// A zone whose type changed since the board was probed (zone numbers can
/// move with the kernel) stops the cell before it changes anything.
#[test]
fn a_thermal_zone_that_is_not_the_one_probed_stops_the_cell() {
    let sb = Sandbox::new();
    let t = thermal_board(&sb, "{zones: 'cpu-0-*', below_c: 90}", "a");
    let probe = sb.run(&["board", "probe", "old", "--boards", "boards.yaml"]);
    assert!(probe.status.success(), "{}", text(&probe.stderr));
    let ty = t.join("class/thermal/thermal_zone0/type");
    std::fs::write(&ty, "skin\n").unwrap();
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let j = json(&find(&sb.out("hot"), "cell.json")[0]);
    assert_eq!(j["status"], "setup_failed", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .starts_with("thermal_zone0 is now of type 'skin', not 'cpu-0-0'"),
        "{j}"
    );
    std::fs::write(&ty, "cpu-0-0\n").unwrap();
    assert_same_tree(&t, "qcom-nodevfreq");
}

/// Live processes (not zombies) whose working folder is under `dir`: a cell
/// script, its sampler and their `sleep`s run in the cell's folder.
fn alive_in(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name().to_str()?.parse::<i32>().ok()?;
            let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let state = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .next()?
                .to_string();
            (cwd.starts_with(&dir) && state != "Z" && state != "X").then_some(stat)
        })
        .collect()
}

/// The `qcom-nodevfreq` fixture as board `old`, with a busy figure (the
/// shipped tree has none: a new file would change rb5-like identities),
/// and a scenario of 2 s benchmarks with the sampler at 20 Hz.
fn sampler_board(sb: &Sandbox, sampler: &str, networks: &str, bench_s: u32) -> PathBuf {
    let t = old_board(sb);
    std::fs::write(t.join("class/kgsl/kgsl-3d0/gpu_busy_percentage"), "37 %\n").unwrap();
    sb.write(
        "s.yaml",
        &format!(
            "name: sampled\nboards: [old]\nbenchmark:\n  command:\n    run: sh fake-bench.sh {{{{ iterations }}}} {bench_s} {{{{ network }}}}\n    push: [fake-bench.sh]\nnetworks: [{networks}]\niterations: 2\nload_settle_ms: 100\nsampler: {sampler}\n"
        ),
    );
    t
}

#[test]
fn the_sampler_records_frequencies_busy_and_rising_temperatures_and_leaves_nothing() {
    let sb = Sandbox::new();
    let t = sampler_board(&sb, "{rate_hz: 20}", "a, b", 2);
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(alive_in(sb.path()).is_empty(), "{:?}", alive_in(sb.path()));
    let cells = sb.out("sampled").join("cells");
    let file = |net: &str| {
        let p = cells.join(format!(
            "old/none/cpu-current/gpu-current/{net}/default/r1/samples.csv"
        ));
        csv_rows(&p)
    };
    let (a, b) = (file("a"), file("b"));
    assert_eq!(
        a[0],
        [
            "t_s",
            "cpu_khz.little",
            "cpu_khz.big",
            "gpu_hz",
            "gpu_busy",
            "temp_mc.cpu-0-0",
            "temp_mc.cpu-1-0",
            "temp_mc.gpu",
            "temp_mc.battery"
        ]
    );
    // 2 s at 20 Hz: some 40 samples (fewer on a busy machine: each period
    // is a sleep plus the reads).
    assert!(a.len() > 15 && b.len() > 15, "{} {}", a.len(), b.len());
    let num = |r: &Vec<String>, i: usize| r[i].parse::<f64>().unwrap();
    for rows in [&a, &b] {
        for w in rows[1..].windows(2) {
            assert!(num(&w[1], 0) >= num(&w[0], 0), "time goes forward: {w:?}");
        }
        for r in &rows[1..] {
            assert_eq!(r[4], "37", "{r:?}");
            assert!(num(r, 1) > 0.0 && num(r, 3) > 0.0, "{r:?}");
        }
        // The emulation heats the zones 10 °C/s while the benchmark runs.
        let (first, last) = (&rows[1], &rows[rows.len() - 1]);
        assert!(num(last, 5) > num(first, 5) + 5000.0, "{first:?} {last:?}");
    }
    // One board, one clock: b ran after a.
    assert!(num(&b[1], 0) > num(&a[a.len() - 1], 0));

    // cell.json: per signal, converted.
    let j = json(&cells.join("old/none/cpu-current/gpu-current/a/default/r1/cell.json"));
    let s = &j["samples"];
    assert_eq!(s["samples"].as_u64().unwrap() as usize, a.len() - 1, "{s}");
    let sig = |name: &str| {
        s["signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["signal"] == name)
            .unwrap_or_else(|| panic!("{name} in {s}"))
            .clone()
    };
    assert_eq!(sig("gpu_busy_pct")["mean"], 37.0);
    assert_eq!(sig("gpu_khz")["min"], num(&a[1], 3) / 1000.0);
    let temp = sig("temp_c.cpu-0-0");
    assert!(
        temp["max"].as_f64().unwrap() > temp["min"].as_f64().unwrap() + 5.0,
        "{temp}"
    );

    // The result set's table: per cell, round and signal.
    let rows = csv_rows(&sb.out("sampled").join("samples.csv"));
    assert_eq!(
        rows[0],
        ["id", "round", "signal", "n", "min", "mean", "max"]
    );
    assert_eq!(rows.len(), 1 + 2 * 8, "{rows:?}");
    assert!(rows.iter().any(|r| r[0].ends_with("/a/default")
        && r[2] == "temp_c.cpu-0-0"
        && r[3] == (a.len() - 1).to_string()));

    // The report draws them against the board's clock.
    let out = sb.run(&["report", "outputs/sampled"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let svg = std::fs::read_to_string(sb.out("sampled").join("plots/samples.svg")).unwrap();
    for label in [
        "old: frequency (MHz)",
        "old: temperature (°C)",
        "cpu-0-0",
        "little",
        "gpu",
    ] {
        assert!(svg.contains(label), "{label}: {svg}");
    }
    let md = std::fs::read_to_string(sb.out("sampled").join("report.md")).unwrap();
    assert!(md.contains("(plots/samples.svg)"), "{md}");
    let differ = tree_differences(&t, "qcom-nodevfreq", &|p| {
        p.ends_with("gpu_busy_percentage")
            || (p.starts_with("class/thermal") && p.file_name().is_some_and(|n| n == "temp"))
    });
    assert!(differ.is_empty(), "{differ:?}");
}

#[test]
fn an_interrupted_cell_stops_its_sampler_and_sampler_off_samples_nothing() {
    let sb = Sandbox::new();
    sampler_board(&sb, "{rate_hz: 20, zones: 'cpu*'}", "a", 20);
    let child = sb
        .command(&["run", "s.yaml", "--boards", "boards.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the sampler has written a few lines, Ctrl-C.
    wait_until("the sampler", Duration::from_secs(30), || {
        find(&sb.board_dir(), "samples.csv")
            .iter()
            .chain(find(sb.path(), "samples.csv").iter())
            .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.lines().count() > 3))
    });
    let header = find(sb.path(), "samples.csv")
        .into_iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap();
    assert!(
        header.starts_with(
            "t_s,cpu_khz.little,cpu_khz.big,gpu_hz,gpu_busy,temp_mc.cpu-0-0,temp_mc.cpu-1-0\n"
        ),
        "only the zones of `zones`: {header}"
    );
    assert!(!alive_in(sb.path()).is_empty());
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(alive_in(sb.path()).is_empty(), "{:?}", alive_in(sb.path()));

    // `sampler: off`: no file, no summary, and the tables still come.
    let sb = Sandbox::new();
    sampler_board(&sb, "off", "a", 0);
    let out = sb.run(&["run", "s.yaml", "--boards", "boards.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        find(sb.path(), "samples.csv")
            .iter()
            .all(|p| p == &sb.out("sampled").join("samples.csv"))
    );
    let rows = csv_rows(&sb.out("sampled").join("samples.csv"));
    assert_eq!(rows.len(), 1, "a header only: {rows:?}");
    let j = json(
        &sb.out("sampled")
            .join("cells/old/none/cpu-current/gpu-current/a/default/r1/cell.json"),
    );
    assert!(j.get("samples").is_none(), "{j}");
}

#[test]
fn the_sampler_runs_under_each_shell_boards_have() {
    // dash (Debian's sh), bash, mksh (Android's shell), busybox sh.
    for shell in ["sh", "bash", "mksh", "busybox sh"] {
        let probe = shell.split(' ').next().unwrap();
        if std::process::Command::new(probe)
            .arg("-c")
            .arg("true")
            .output()
            .is_err()
        {
            eprintln!("{probe} is not installed: skipped (tests/run.sh installs it)");
            continue;
        }
        let sb = Sandbox::new();
        sampler_board(&sb, "{rate_hz: 20}", "a", 1);
        let out = sb
            .command(&["run", "s.yaml", "--boards", "boards.yaml"])
            .env("KLO_SPEC_SHELL", shell)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        assert!(
            alive_in(sb.path()).is_empty(),
            "{shell}: {:?}",
            alive_in(sb.path())
        );
        let rows = csv_rows(
            &sb.out("sampled")
                .join("cells/old/none/cpu-current/gpu-current/a/default/r1/samples.csv"),
        );
        assert!(rows.len() > 5, "{shell}: {rows:?}");
        for r in &rows[1..] {
            assert_eq!(r.len(), rows[0].len(), "{shell}: {r:?}");
            assert!(
                r.iter().all(|v| v.parse::<f64>().is_ok()),
                "{shell}: every value read: {r:?}"
            );
        }
    }
}

/// `knob_sets` and the `knobs` axis: each cell sets its own set's knobs
/// over the scenario's (an idle cluster, a devfreq glob), reads them back
/// and puts the board back; a `stock` cell keeps its id and hash from
/// before the axis (so adding the axis runs only the new cells); checks
/// compare across sets; names and settings a board cannot take are
/// refused, located in the set.
#[test]
fn knob_sets_are_a_matrix_axis_each_cell_sets_its_own_and_the_board_is_put_back() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let (q, _) = fixture_boards(&sb);
    // state1 and state2 (state0 is never disabled).
    let mut files = idle_states(&q)[1..].to_vec();
    let d = ddr_device(&q);
    files.push(d.join("min_freq"));
    let spy =
        spy_scenario("rb5", "current", "current", &files) + "rounds: 1\ndevfreq: {'*ddr*': 1720}\n";
    sb.write("s.yaml", &spy);
    let plan_hash = |sb: &Sandbox| {
        let out = sb.run(&["plan", "s.yaml", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        j["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_string(), c["hash"].clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let without_axis = plan_hash(&sb);
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let axis = format!(
        "{spy}knob_sets:\n  no_deep_idle: {{cpuidle: {{prime: 0}}}}\n  ddr_max: {{devfreq: {{'*ddr*': max}}}}\n\
         checks:\n  - id: KN\n    title: idle states off against stock\n    metric: latency\n    kind: similar\n    a: {{knobs: no_deep_idle}}\n    b: {{knobs: stock}}\n"
    )
    .replace(
        "  gpu_freq: [current]\n",
        "  gpu_freq: [current]\n  knobs: [stock, no_deep_idle, ddr_max]\n",
    );
    sb.write("s.yaml", &axis);
    let with_axis = plan_hash(&sb);
    let stock = "rb5/light/cpu-current/gpu-current/n/default";
    assert_eq!(without_axis.keys().collect::<Vec<_>>(), [stock]);
    assert_eq!(
        with_axis.keys().collect::<Vec<_>>(),
        [
            "rb5/light/cpu-current/gpu-current/knobs-ddr_max/n/default",
            "rb5/light/cpu-current/gpu-current/knobs-no_deep_idle/n/default",
            stock,
        ]
    );
    assert_eq!(
        with_axis[stock], without_axis[stock],
        "stock keeps its hash"
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("1 done"),
        "the stock cell is not run again: {err}"
    );

    let cells = sb
        .out("spy")
        .join("cells/rb5/light/cpu-current/gpu-current");
    let seen_in = |dir: PathBuf| -> Vec<String> {
        let f = &find(&dir, "seen.txt")[0];
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    // state1, state2 disable; the DDR device's min_freq.
    assert_eq!(seen_in(cells.join("n")), ["0", "0", "1720"], "stock");
    assert_eq!(
        seen_in(cells.join("knobs-no_deep_idle")),
        ["1", "1", "1720"],
        "the set's idle cluster, the scenario's DDR pin"
    );
    assert_eq!(
        seen_in(cells.join("knobs-ddr_max")),
        ["0", "0", "7980"],
        "the set's DDR glob in place of the scenario's"
    );
    wait_until(
        "the emulated cur_freq to follow",
        Duration::from_secs(5),
        || std::fs::read_to_string(d.join("cur_freq")).unwrap() == "1720\n",
    );
    for (f, v) in [
        (files[0].clone(), "0\n"),
        (files[1].clone(), "0\n"),
        (d.join("min_freq"), "762\n"),
        (d.join("max_freq"), "7980\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            v,
            "{} put back",
            f.display()
        );
    }
    let checklist = std::fs::read_to_string(sb.out("spy").join("checklist.csv")).unwrap();
    assert!(
        checklist.contains("KN,") && checklist.contains("knobs-no_deep_idle"),
        "{checklist}"
    );

    for (setting, message, at) in [
        (
            axis.replace(
                "knobs: [stock, no_deep_idle, ddr_max]",
                "knobs: [stock, no_deep_idl]",
            ),
            "unknown knob set `no_deep_idl`",
            "did you mean `no_deep_idle`?",
        ),
        (
            axis.replace("  ddr_max: {devfreq", "  stock: {devfreq")
                .replace(", ddr_max]", "]"),
            "`stock` is the built-in knob set",
            "knob_sets",
        ),
        (
            axis.replace("{prime: 0}", "{huge: 0}"),
            "`huge` is not a cluster",
            "s.yaml:",
        ),
        (
            axis.replace("{prime: 0}", "{big: 0}"),
            "board `rb5` shows no idle states for cpu4",
            "s.yaml:",
        ),
        (
            axis.replace("no_deep_idle: {cpuidle: {prime: 0}}", "no_deep_idle: {}"),
            "knob set `no_deep_idle` sets nothing",
            "s.yaml:",
        ),
    ] {
        sb.write("s.yaml", &setting);
        let out = sb.run(&["run", "s.yaml", "--output-dir", "refused"]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{message}: {err}");
        assert!(
            err.contains(message) && err.contains(at),
            "{message}: {err}"
        );
        assert!(!sb.path().join("refused").exists(), "nothing written");
    }
    // The located line is the set's, not the top-level `devfreq`.
    sb.write("s.yaml", &axis.replace("{prime: 0}", "{big: 0}"));
    let out = sb.run(&["plan", "s.yaml"]);
    let line = axis
        .lines()
        .position(|l| l.contains("no_deep_idle: {cpuidle"))
        .unwrap()
        + 1;
    assert!(
        text(&out.stderr).contains(&format!("s.yaml:{line}:")),
        "line {line}: {}",
        text(&out.stderr)
    );
}
