//! K_answer search cost on measured runs (issue 8, item 3; the model-based
//! half is benches/k_search.rs): klo-spec runs, on the `local` board with
//! the probe's thread device, an exhaustive `{sweep: {k: [1..32]}}` and a
//! `{search: {k_max: 32}}` over the same synthetic networks. The scenario
//! runs `KLO_BENCH_KSEARCH_ROUNDS` times (default 3, `--force`), each round
//! a new set of measurements, `KLO_BENCH_KSEARCH_ITERS` inferences per run
//! (default 20). Two comparisons:
//!
//! - live: per round, the runs each strategy made and the K_answer each
//!   found (`sweeps.csv`);
//! - replayed: every network's measured profile (the sweep cells of all
//!   rounds: its latency at each K, once per round) is the board, and the
//!   search klo-spec runs (`kstrategy::search::search`, the same function)
//!   is replayed on it, once per round (its n-th run of a K gets the K's
//!   measurement of round r + n). Its answer is judged against the
//!   reference, the mean over the rounds at each K, and so is each round's
//!   sweep: on a measured board the sweep's own answer moves with the
//!   noise, so "the same answer" is a K whose reference latency is within
//!   the profile's noise (`TOLERANCE`) of the reference best.
//!
//! Run: `cargo bench --bench k_search_local` (or `just bench`). Goal: at
//! most 40% of the sweep's runs, the same answer in at least 95% of cases.

mod common;

use std::collections::BTreeMap;

use klo_spec::kstrategy::search::search;
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

/// A K whose reference latency is within this fraction of the best is the
/// same answer (about the run-to-run spread of one K here; printed).
const TOLERANCE: f64 = 0.02;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    println!("{}", common::machine());
    let rounds = env_or("KLO_BENCH_KSEARCH_ROUNDS", 3).max(2);
    let iters = env_or("KLO_BENCH_KSEARCH_ITERS", 20).max(2);
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let scenario = tmp.path().join("ksearch.yaml");
    let ks: Vec<String> = (1..=32).map(|k| k.to_string()).collect();
    std::fs::write(
        &scenario,
        format!(
            "name: ksearch\nboards: [local]\nbenchmark:\n  probe: {{submit: deferred, device: thread}}\niterations: {iters}\nnetworks: [{}]\nmatrix:\n  strategy:\n    - {{sweep: {{k: [{}]}}}}\n    - {{search: {{k_max: 32}}}}\n",
            NETWORKS.join(", "),
            ks.join(", ")
        ),
    )
    .unwrap();
    println!(
        "{} synthetic networks x {rounds} rounds on `local` (thread device, {iters} inferences per run): sweep K = 1..32 vs search k_max 32",
        NETWORKS.len()
    );
    println!(
        "live, per round: {:<44} {:>5} {:>8} {:>5} {:>8} {:>12} {:>10}",
        "network", "round", "sweep K", "runs", "search K", "search runs", "gap"
    );
    let (mut cases, mut exact, mut same, mut sweep_runs, mut search_runs) =
        (0, 0, 0, 0usize, 0usize);
    // (network, K) -> the sweep's latency at K, per round.
    let mut profile: BTreeMap<(String, u32), Vec<f64>> = BTreeMap::new();
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
        for (key, v) in &latency {
            profile.entry(key.clone()).or_default().push(*v);
        }
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
            same += usize::from(k_sweep == k_search || gap <= TOLERANCE);
            sweep_runs += runs_sweep;
            search_runs += runs_search;
            println!(
                "                 {net:<44} {round:>5} {k_sweep:>8} {runs_sweep:>5} {k_search:>8} {runs_search:>12} {:>9.2}%",
                gap * 100.0
            );
        }
    }
    let live_runs_pct = 100.0 * search_runs as f64 / sweep_runs as f64;
    println!(
        "live ({:.0} s): search {search_runs} runs, sweep {sweep_runs} runs: {live_runs_pct:.1}% of the sweep's runs; the search's K within {:.0}% of the same round's sweep best: {same}/{cases} (exactly its K: {exact}/{cases})",
        t.elapsed().as_secs_f64(),
        TOLERANCE * 100.0
    );

    // Replayed on the measured profiles, judged against their mean.
    println!(
        "replayed on the measured profiles, judged against the mean over {rounds} rounds (same answer: within {:.0}% of the reference best):",
        TOLERANCE * 100.0
    );
    println!(
        "  {:<44} {:>6} {:>7} {:>10} {:>13} {:>12}",
        "network", "ref K", "spread", "sweep same", "search same", "search runs"
    );
    let (mut r_cases, mut r_same, mut r_exact, mut r_runs, mut r_sweep_runs) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut sweep_same = 0usize;
    let mut spreads = Vec::new();
    for net in NETWORKS {
        let samples: BTreeMap<u32, &Vec<f64>> = (1..=32u32)
            .map(|k| (k, &profile[&(net.to_string(), k)]))
            .collect();
        let reference: BTreeMap<u32, f64> = samples
            .iter()
            .map(|(k, v)| (*k, v.iter().sum::<f64>() / v.len() as f64))
            .collect();
        let (ref_k, ref_best) = reference
            .iter()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(k, v)| (*k, *v))
            .unwrap();
        let good = |k: u32| reference[&k] <= ref_best * (1.0 + TOLERANCE);
        // Run-to-run spread: the mean relative deviation from the K's mean.
        let spread = samples
            .iter()
            .map(|(k, v)| {
                v.iter()
                    .map(|x| (x / reference[k] - 1.0).abs())
                    .sum::<f64>()
                    / v.len() as f64
            })
            .sum::<f64>()
            / samples.len() as f64;
        spreads.push(spread);
        let (mut net_sweep, mut net_search, mut net_runs) = (0, 0, 0);
        for r in 0..rounds {
            // This round's sweep: the K it measured fastest.
            let k_sweep = samples
                .iter()
                .min_by(|a, b| a.1[r].total_cmp(&b.1[r]))
                .map(|(k, _)| *k)
                .unwrap();
            net_sweep += usize::from(good(k_sweep));
            let mut next: BTreeMap<u32, usize> = BTreeMap::new();
            let out = search(32, |k| {
                let n = next.entry(k).or_insert(0);
                let v = samples[&k][(r + *n) % rounds];
                *n += 1;
                v
            });
            net_search += usize::from(good(out.k_answer));
            r_exact += usize::from(out.k_answer == ref_k);
            net_runs += out.runs;
            r_sweep_runs += out.sweep_runs;
        }
        r_cases += rounds;
        r_same += net_search;
        sweep_same += net_sweep;
        r_runs += net_runs;
        println!(
            "  {net:<44} {ref_k:>6} {:>6.1}% {:>7}/{rounds} {:>10}/{rounds} {:>12.1}",
            spread * 100.0,
            net_sweep,
            net_search,
            net_runs as f64 / rounds as f64
        );
    }
    let runs_pct = 100.0 * r_runs as f64 / r_sweep_runs as f64;
    let same_pct = 100.0 * r_same as f64 / r_cases as f64;
    println!(
        "  run-to-run spread of a K's latency: mean {:.1}% (max over networks {:.1}%)",
        100.0 * spreads.iter().sum::<f64>() / spreads.len() as f64,
        100.0 * spreads.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "  one round's sweep gives the same answer in {sweep_same}/{r_cases} ({:.0}%)",
        100.0 * sweep_same as f64 / r_cases as f64
    );
    println!(
        "search runs: {r_runs} of the sweeps' {r_sweep_runs}: {runs_pct:.1}% of the sweep's runs (ratio {:.1}x; live {live_runs_pct:.1}%)  goal <= 40%: {}",
        r_sweep_runs as f64 / r_runs as f64,
        if runs_pct <= 40.0 && live_runs_pct <= 40.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "same answer: {r_same}/{r_cases} ({same_pct:.0}%; exactly the reference K: {r_exact}/{r_cases})  goal >= 95%: {}",
        if same_pct >= 95.0 { "met" } else { "MISSED" }
    );
}
