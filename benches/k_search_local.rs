//! K_answer search cost on measured runs (issue 8, item 3; the model-based
//! half is benches/k_search.rs): klo-spec runs, on the `local` board with
//! the probe's thread device, an exhaustive `{sweep: {k: [1..32]}}` and a
//! `{search: {k_max: 32}}` over the same synthetic networks, and compares
//! the runs each made and the K_answer each found (from `sweeps.csv`). The
//! scenario runs `KLO_BENCH_KSEARCH_ROUNDS` times (default 2, `--force`),
//! each round a new set of measurements.
//!
//! "Same answer": the search's K is the sweep's K_answer; or, since on a
//! noisy machine a flat optimum has several K within noise of each other,
//! the sweep measured the search's K within 2% of its best latency.
//!
//! Run: `cargo bench --bench k_search_local` (or `just bench`). Goal: at
//! most 40% of the sweep's runs, the same answer in at least 95% of cases.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

const NETWORKS: [&str; 9] = [
    "synth-30-6000-12000",
    "synth-30-6000-200000",
    "synth-30-12000-800000",
    "synth-30-25000-50000",
    "synth-30-25000-800000",
    "synth-30-50000-25000",
    "synth-30-50000-400000",
    "synth-30-100000-100000",
    "synth-15-2000-20000+synth-15-100000-20000",
];

/// A result table as rows of (column name -> value), read as klo-spec
/// reads its own tables (quoted fields hold commas: sweep ids list K).
fn read_csv(path: &std::path::Path) -> Vec<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t = klo_spec::results::parse_csv(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    t.rows
        .into_iter()
        .map(|r| t.columns.iter().cloned().zip(r).collect())
        .collect()
}

fn main() {
    println!("{}", common::machine());
    let rounds: usize = std::env::var("KLO_BENCH_KSEARCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let scenario = tmp.path().join("ksearch.yaml");
    let ks: Vec<String> = (1..=32).map(|k| k.to_string()).collect();
    std::fs::write(
        &scenario,
        format!(
            "name: ksearch\nboards: [local]\nbenchmark:\n  probe: {{submit: deferred, device: thread}}\niterations: 6\nnetworks: [{}]\nmatrix:\n  strategy:\n    - {{sweep: {{k: [{}]}}}}\n    - {{search: {{k_max: 32}}}}\n",
            NETWORKS.join(", "),
            ks.join(", ")
        ),
    )
    .unwrap();
    println!(
        "{} synthetic networks x {rounds} rounds on `local` (thread device, 6 inferences per run): sweep K = 1..32 vs search k_max 32",
        NETWORKS.len()
    );
    println!(
        "{:<44} {:>5} {:>8} {:>5} {:>8} {:>12} {:>10}",
        "network", "round", "sweep K", "runs", "search K", "search runs", "gap"
    );
    let (mut cases, mut exact, mut same, mut sweep_runs, mut search_runs) =
        (0, 0, 0, 0usize, 0usize);
    let t = Instant::now();
    for round in 1..=rounds {
        let out = Command::new(common::klo_spec())
            .arg("run")
            .arg(&scenario)
            .arg("--output-dir")
            .arg(tmp.path().join("out"))
            .args(["--quiet", "--force"])
            .env("KLO_SPEC_CACHE", tmp.path().join("cache"))
            .env("NO_COLOR", "1")
            .output()
            .expect("klo-spec runs");
        assert!(
            out.status.success(),
            "klo-spec run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = read_csv(&tmp.path().join("out/ksearch/summary.csv"));
        let latency: BTreeMap<(String, u32), f64> = summary
            .iter()
            .filter(|r| r["strategy"].starts_with("sweep-k"))
            .filter_map(|r| {
                Some((
                    (r["network"].clone(), r["k"].parse().ok()?),
                    r["latency_mean_us"].parse().ok()?,
                ))
            })
            .collect();
        let sweeps = read_csv(&tmp.path().join("out/ksearch/sweeps.csv"));
        for net in NETWORKS {
            let find = |kind: &str| {
                sweeps
                    .iter()
                    .find(|r| r["sweep"].contains(&format!("/{net}/")) && r["sweep"].contains(kind))
                    .unwrap_or_else(|| panic!("no {kind} row for {net}"))
            };
            let (sw, se) = (find("/sweep"), find("/search"));
            let k_sweep: u32 = sw["k_answer"].parse().expect("the sweep found K");
            let k_search: u32 = se["k_answer"].parse().expect("the search found K");
            let runs_sweep: usize = sw["runs"].parse().unwrap();
            let runs_search: usize = se["runs"]
                .split('/')
                .next()
                .and_then(|r| r.parse().ok())
                .unwrap();
            let best = latency[&(net.to_string(), k_sweep)];
            let gap = latency[&(net.to_string(), k_search)] / best - 1.0;
            cases += 1;
            exact += usize::from(k_sweep == k_search);
            same += usize::from(k_sweep == k_search || gap <= 0.02);
            sweep_runs += runs_sweep;
            search_runs += runs_search;
            println!(
                "{net:<44} {round:>5} {k_sweep:>8} {runs_sweep:>5} {k_search:>8} {runs_search:>12} {:>9.2}%",
                gap * 100.0
            );
        }
    }
    let runs_pct = 100.0 * search_runs as f64 / sweep_runs as f64;
    let same_pct = 100.0 * same as f64 / cases as f64;
    println!(
        "measured ({:.0} s): search {search_runs} runs, sweep {sweep_runs} runs: {runs_pct:.1}% of the sweep's runs (ratio {:.1}x)  goal <= 40%: {}",
        t.elapsed().as_secs_f64(),
        sweep_runs as f64 / search_runs as f64,
        if runs_pct <= 40.0 { "met" } else { "MISSED" }
    );
    println!(
        "same answer: {same}/{cases} ({same_pct:.0}%; exactly the sweep's K: {exact}/{cases})  goal >= 95%: {}",
        if same_pct >= 95.0 { "met" } else { "MISSED" }
    );
}
