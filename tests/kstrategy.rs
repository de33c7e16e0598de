//! End-to-end tests of the K strategies and the LUT on the `local` board
//! with the thread device: LUT provenance refusals, constant and dynamic K
//! chosen from a LUT (dynamic K changing within an inference, as the
//! kernels table shows), the K_answer search, and `lut build` / `lut
//! compare` on a measured result set.

use std::collections::BTreeMap;
use std::path::Path;

use klo_spec::kstrategy::lut::{Lut, Point};

mod common;
use common::*;

/// A network whose T_prod jumps within the inference: 15 kernels of about
/// 3 µs of host work, then 15 of about 160 µs (on this machine's thread
/// device; T_ker about 30 µs each).
const TWO_PHASES: &str = "synth-15-2000-20000+synth-15-100000-20000";

/// A LUT whose K depends on T_prod alone: 2 below about 32 µs (the log
/// midpoint of 1 and 1000), 8 above.
fn two_point_lut(identity: &str) -> String {
    let point = |t_prod_us, k_opt| Point {
        t_prod_us,
        t_ker_us: 30.0,
        k_opt,
        latency_us: None,
    };
    Lut {
        points: vec![point(1.0, 2), point(1000.0, 8)],
        provenance: vec![
            ("board".into(), "local".into()),
            ("board_identity".into(), identity.into()),
            ("helpers".into(), "written by a test".into()),
            ("device".into(), "a GPU".into()),
        ],
        hash: String::new(),
    }
    .to_text()
}

/// A scenario on `local` with the probe on the thread device; `rest` is the
/// YAML after `networks`.
fn thread_scenario(name: &str, networks: &str, iterations: u32, rest: &str) -> String {
    format!(
        "name: {name}\n\
         boards: [local]\n\
         benchmark:\n  probe: {{submit: deferred, device: thread}}\n\
         networks: {networks}\n\
         iterations: {iterations}\n{rest}"
    )
}

fn scenario(name: &str, lut: &str, strategies: &str) -> String {
    thread_scenario(
        name,
        &format!("['{TWO_PHASES}']"),
        4,
        &format!("lut: {lut}\nmatrix:\n  strategy: {strategies}\n"),
    )
}

fn text_of(sb: &Sandbox, name: &str) -> String {
    std::fs::read_to_string(sb.path().join(name)).unwrap()
}

fn summary(out: &Path) -> Vec<BTreeMap<String, String>> {
    let rows = csv_rows(&out.join("summary.csv"));
    rows[1..]
        .iter()
        .map(|r| rows[0].iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

fn row<'a>(rows: &'a [BTreeMap<String, String>], strategy: &str) -> &'a BTreeMap<String, String> {
    rows.iter()
        .find(|r| r["strategy"] == strategy)
        .unwrap_or_else(|| panic!("no {strategy} row in {rows:?}"))
}

#[test]
fn a_lut_edited_after_it_was_built_is_refused_and_nothing_is_written() {
    let sb = Sandbox::new();
    let good = two_point_lut("elsewhere");
    // Change one K: the data no longer hashes to the recorded data_sha256.
    let edited = good.replace("1000.00,30.00,8,", "1000.00,30.00,6,");
    assert_ne!(good, edited);
    sb.write("lut.csv", &edited);
    sb.write(
        "s.yaml",
        &scenario(
            "edited",
            "{file: lut.csv, foreign: allow}",
            "[default, {constant: {profile: baseline}}]",
        ),
    );
    let out = sb.run(&["run", "s.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("s.yaml:"), "located in the scenario: {err}");
    assert!(err.contains("data_sha256"), "{err}");
    assert!(err.contains("klo-spec lut build"), "says what to do: {err}");
    assert!(!sb.path().join("outputs").exists(), "nothing written");
}

#[test]
fn a_lut_from_another_board_is_refused_unless_the_scenario_allows_it() {
    let sb = Sandbox::new();
    sb.write("lut.csv", &two_point_lut("a phone, not this machine"));
    let strategies = "[default, dynamic]";
    sb.write(
        "refuse.yaml",
        &scenario("refuse", "{file: lut.csv}", strategies),
    );
    let out = sb.run(&["plan", "refuse.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("was made on `a phone, not this machine`"),
        "{err}"
    );
    assert!(err.contains("foreign: allow"), "{err}");

    sb.write(
        "allow.yaml",
        &scenario("allow", "{file: lut.csv, foreign: allow}", strategies),
    );
    let out = sb.run(&["plan", "allow.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn constant_k_comes_from_the_profile_and_dynamic_k_changes_within_an_inference() {
    let sb = Sandbox::new();
    let lut_text = two_point_lut("elsewhere");
    sb.write("lut.csv", &lut_text);
    sb.write(
        "s.yaml",
        &scenario(
            "lutk",
            "{file: lut.csv, foreign: allow}",
            "[default, {constant: {profile: baseline}}, dynamic]",
        ),
    );
    let out = sb.run(&["run", "s.yaml", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lut = Lut::parse(&lut_text, "lut.csv").unwrap();
    let rows = summary(&sb.out("lutk"));
    // The grid has one T_ker (30 µs): the profile's is outside it, and the
    // run says so.
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: 1 cell(s) looked K up outside the LUT's grid"),
        "{err}"
    );
    assert!(err.contains("/constant-baseline"), "{err}");
    // The LUT names the device it was measured on; these cells ran on the
    // thread device.
    assert!(
        err.contains("warning: 2 cell(s) ran on `thread` with a LUT measured on `a GPU`"),
        "{err}"
    );

    // The profile (the default cell) has a mean T_prod between the phases,
    // above 32 µs: the LUT says 8, and the inputs are in the table.
    let default = row(&rows, "default");
    let constant = row(&rows, "constant-baseline");
    assert_eq!(constant["k"], "8", "{constant:?}");
    assert_eq!(constant["lut"], lut.hash);
    assert_eq!(constant["profile_t_prod_us"], default["t_prod_mean_us"]);
    assert_eq!(constant["profile_t_ker_us"], default["t_ker_mean_us"]);

    // Dynamic: K from the running mean of T_prod: 2 in the first phase,
    // 8 once the mean passes 32 µs.
    let dynamic = row(&rows, "dynamic");
    assert_eq!(dynamic["k"], "", "no single K");
    assert_eq!(dynamic["k_range"], "2-8", "{dynamic:?}");
    assert_eq!(dynamic["lut"], lut.hash);

    // The kernels table shows it kernel by kernel, in every measured
    // inference.
    let kernels = sb.run(&[
        "show",
        "outputs/lutk",
        "kernels",
        "-c",
        "cell,iter,kernel,k",
        "--format",
        "csv",
    ]);
    assert!(kernels.status.success(), "{}", text(&kernels.stderr));
    let mut per_iter: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for line in text(&kernels.stdout).lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[0].ends_with("/dynamic") && f[1] != "0" {
            per_iter
                .entry(f[1].to_string())
                .or_default()
                .push((f[2].parse().unwrap(), f[3].to_string()));
        }
    }
    assert_eq!(per_iter.len(), 3, "3 measured inferences: {per_iter:?}");
    for (iter, ks) in per_iter {
        assert_eq!(ks.len(), 30);
        // The first batch starts from the last inference's mean (K=8);
        // then the running mean of this inference's first phase says 2,
        // and once it passes 32 µs in the second phase, 8 again.
        assert!(
            ks[10..15].iter().all(|(_, k)| k == "2"),
            "first phase at K=2 in inference {iter}: {ks:?}"
        );
        assert!(
            ks[25..].iter().all(|(_, k)| k == "8"),
            "K=8 once the mean is past 32 µs in inference {iter}: {ks:?}"
        );
    }
}

#[test]
fn the_search_finds_k_answer_with_fewer_runs_than_the_sweep() {
    let sb = Sandbox::new();
    sb.write(
        "s.yaml",
        &thread_scenario(
            "search",
            "[synth-20-6000-20000]",
            3,
            "matrix:\n  strategy: [default, {search: {k_max: 32}}]\n",
        ),
    );
    let out = sb.run(&["run", "s.yaml", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = summary(&sb.out("search"));
    let search = row(&rows, "search-max32");
    let k: u32 = search["k"].parse().expect("K_answer in the k column");
    assert!((1..=32).contains(&k));
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sb.out("search").join(
            "cells/local/none/cpu-current/gpu-current/synth-20-6000-20000/search-max32/r1/cell.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let s = &rec["search"];
    assert_eq!(s["k_answer"], k);
    assert_eq!(s["sweep_runs"], 32);
    let runs = s["runs"].as_u64().unwrap();
    assert!(runs < 32, "fewer runs than the sweep: {s}");
    // K_answer is the K with the lowest measured mean.
    let means = s["means"].as_object().unwrap();
    let best = means
        .iter()
        .min_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
        .unwrap();
    assert_eq!(best.0, &k.to_string(), "{s}");
    // Every run is kept, one folder per K and repeat (k4, k4-r1, ...).
    let sub = sb
        .out("search")
        .join("cells/local/none/cpu-current/gpu-current/synth-20-6000-20000/search-max32/r1");
    let folders = std::fs::read_dir(&sub)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("cell.json").is_file())
        .count();
    assert_eq!(folders as u64, runs, "{s}");
}

#[test]
fn lut_build_takes_the_argmin_per_grid_point_and_compare_shows_differences() {
    let sb = Sandbox::new();
    sb.write(
        "lut.yaml",
        &thread_scenario(
            "lut",
            "[synth-10-2000-20000, synth-10-40000-20000]",
            3,
            "matrix:\n  strategy: [{sweep: {k: [1, 4]}}]\n",
        ),
    );
    let out = sb.run(&["run", "lut.yaml", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = sb.run(&["lut", "build", "outputs/lut", "-o", "luts/local.csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let built = Lut::read(&sb.path().join("luts/local.csv")).unwrap();
    assert_eq!(built.points.len(), 2);
    assert_eq!(built.get("board"), Some("local"));
    assert!(built.get("board_identity").is_some_and(|i| !i.is_empty()));
    assert!(built.get("data_sha256").is_some());
    // What K means: how the probe submitted and what a flush cost, and the
    // device it ran on.
    assert_eq!(
        built.get("probe"),
        Some("submit=deferred flush_units=12000")
    );
    assert_eq!(built.get("device"), Some("thread"));

    // Each point's K is the sweep's argmin of that network.
    let rows = summary(&sb.out("lut"));
    for p in &built.points {
        assert!([1, 4].contains(&p.k_opt), "{p:?}");
    }
    for net in ["synth-10-2000-20000", "synth-10-40000-20000"] {
        let of = |k: &str| -> f64 {
            rows.iter()
                .find(|r| r["network"] == net && r["k"] == k)
                .unwrap()["latency_mean_us"]
                .parse()
                .unwrap()
        };
        let best = if of("1") <= of("4") { 1 } else { 4 };
        let t_prod: f64 = rows
            .iter()
            .filter(|r| r["network"] == net)
            .map(|r| r["t_prod_mean_us"].parse::<f64>().unwrap())
            .sum::<f64>()
            / 2.0;
        let point = built
            .points
            .iter()
            .min_by(|a, b| {
                (a.t_prod_us - t_prod)
                    .abs()
                    .total_cmp(&(b.t_prod_us - t_prod).abs())
            })
            .unwrap();
        assert_eq!(point.k_opt, best, "{net}: {point:?}");
    }

    // A scenario whose probe submits otherwise gets another K from its
    // sweeps: the LUT is refused there.
    sb.write(
        "native.yaml",
        "name: native\n\
         boards: [local]\n\
         benchmark:\n  probe: {submit: native, device: thread}\n\
         networks: [tiny]\n\
         lut: {file: luts/local.csv}\n\
         matrix:\n  strategy: [default, dynamic]\n",
    );
    let out = sb.run(&["plan", "native.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("was measured with the probe at `submit=deferred flush_units=12000`; this scenario's probe runs at `submit=native flush_units=12000`"),
        "{err}"
    );
    sb.write(
        "deferred.yaml",
        &text_of(&sb, "native.yaml").replace("submit: native", "submit: deferred"),
    );
    let same = sb.run(&["plan", "deferred.yaml"]);
    assert!(same.status.success(), "{}", text(&same.stderr));

    // Against itself: no difference. Against a LUT that says otherwise
    // everywhere: every point differs, and the exit code is still 0.
    let same = sb.run(&["lut", "compare", "luts/local.csv", "luts/local.csv"]);
    assert!(same.status.success());
    assert!(
        text(&same.stdout).contains("0 of 2 grid points"),
        "{}",
        text(&same.stdout)
    );
    let mut other = built.clone();
    for p in &mut other.points {
        p.k_opt = if p.k_opt == 1 { 16 } else { 1 };
    }
    sb.write("other.csv", &other.to_text());
    let diff = sb.run(&["lut", "compare", "luts/local.csv", "other.csv"]);
    assert!(diff.status.success(), "{}", text(&diff.stderr));
    assert!(
        text(&diff.stdout).contains("2 of 2 grid points"),
        "{}",
        text(&diff.stdout)
    );
}

#[test]
fn with_leave_current_a_frequency_local_cannot_set_is_left_as_it_is_and_said_so() {
    let writable = std::fs::metadata("/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq")
        .is_ok_and(|m| !m.permissions().readonly())
        && unsafe { libc::geteuid() } == 0;
    if writable {
        eprintln!("skipped: this machine can set CPU frequencies (cpufreq, root)");
        return;
    }
    let sb = Sandbox::new();
    sb.write(
        "s.yaml",
        &thread_scenario(
            "freq",
            "[tiny]",
            3,
            "freq_unsupported: leave_current\n\
             matrix:\n  cpu_freq: [{all: min}, {all: max}]\n\
             checks:\n\
             - {id: F1, title: T_prod higher at F_min?, metric: t_prod, kind: higher, a: {cpu_freq: {all: min}}, b: {cpu_freq: {all: max}}}\n",
        ),
    );
    let out = sb.run(&["run", "s.yaml", "--quiet"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("note: cpu_freq {all: min} left at the current setting: board `local`"),
        "{err}"
    );
    let rows = summary(&sb.out("freq"));
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["status"], "ok");
        assert_eq!(r["cpu_khz"], "not set (left at current)", "{r:?}");
    }
    let checklist = csv_rows(&sb.out("freq").join("checklist.csv"));
    let verdict = column(&checklist, "verdict");
    assert_eq!(checklist[1][verdict], "INCONCLUSIVE");
    assert!(
        checklist[1]
            .join(",")
            .contains("cpu_freq was not applied on board `local`"),
        "{:?}",
        checklist[1]
    );
    let meta = std::fs::read_to_string(sb.out("freq").join("meta.json")).unwrap();
    assert!(meta.contains("left at the current setting"), "{meta}");
}

#[test]
fn a_lut_cell_takes_k_from_its_profiles_run_of_the_same_round() {
    let sb = Sandbox::new();
    sb.write("lut.csv", &two_point_lut("elsewhere"));
    let yaml = scenario(
        "perround",
        "{file: lut.csv, foreign: allow}",
        "[default, {constant: {profile: baseline}}, {static: {profile: baseline}}]",
    ) + "rounds: 3\norder: random\nseed: 5\n";
    sb.write("s.yaml", &yaml);
    let out = sb.run(&["run", "s.yaml", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cell = |strategy: &str, round: u32| -> serde_json::Value {
        let p = sb.out("perround").join(format!(
            "cells/local/none/cpu-current/gpu-current/{TWO_PHASES}/{strategy}/r{round}/cell.json"
        ));
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    for round in 1..=3 {
        let profile = cell("default", round);
        for strategy in ["constant-baseline", "static-baseline"] {
            let rec = cell(strategy, round);
            let choice = &rec["k_choice"];
            assert_eq!(
                choice["profile"].as_str().unwrap(),
                format!("local/none/cpu-current/gpu-current/{TWO_PHASES}/default/r{round}"),
                "{rec}"
            );
            // It ran after its profile in that round.
            assert!(
                rec["position"].as_u64() > profile["position"].as_u64(),
                "{strategy} ran before its profile in round {round}"
            );
        }
    }
}
