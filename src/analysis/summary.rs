//! summary.csv (one row per cell, its figures over rounds) and rounds.csv
//! (one row per cell and round), then the other tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;

use super::figures::{Inputs, RoundFig, RoundRun};
use super::noise::{self, CellNoise};
use super::stats::{self, TTest};
use super::{Analysis, checks, kstrategy, sweeps};
use crate::matrix::groups::condition_key;
use crate::record::Status;
use crate::rows::{RoundRow, SummaryRow};
use crate::scenario::{Metric, Strategy};

/// cpu_khz or gpu_khz of a cell whose setting the board could not apply
/// (`local` without cpufreq or GPU control).
pub const NOT_SET: &str = "not set (left at current)";

/// The mean of per-round figures and its 95% interval (Student's t over
/// rounds; no interval from one round).
fn over_rounds(v: &[f64]) -> (Option<f64>, Option<(f64, f64)>) {
    if v.is_empty() {
        return (None, None);
    }
    let m = stats::mean(v);
    let ci = TTest::paired(v).map(|t| t.ci(0.95));
    (Some(m), ci)
}

/// A speedup over rounds: the geometric mean of per-round speedups and
/// its 95% interval (a t interval of their logs).
fn speedup_over_rounds(s: &[f64]) -> (Option<f64>, Option<(f64, f64)>) {
    let logs: Vec<f64> = s.iter().filter(|v| **v > 0.0).map(|v| v.ln()).collect();
    if logs.is_empty() {
        return (None, None);
    }
    let m = stats::mean(&logs).exp();
    let ci = TTest::paired(&logs).map(|t| {
        let (lo, hi) = t.ci(0.95);
        (lo.exp(), hi.exp())
    });
    (Some(m), ci)
}

/// The distinct values of a list, `/`-joined in order of first sight.
fn distinct(values: impl IntoIterator<Item = String>) -> String {
    let mut seen = Vec::new();
    for v in values {
        if !v.is_empty() && !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join("/")
}

/// The mean over a cell's rounds of a thermal figure (rounds without one
/// left out).
fn thermal_mean(
    runs: &[RoundRun],
    f: impl Fn(&crate::record::ThermalRecord) -> Option<f64>,
) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.record.thermal.as_ref().and_then(&f))
        .collect();
    (!v.is_empty()).then(|| stats::mean(&v))
}

/// The K values a cell ran with, `/`-joined: the plan's, then each round's.
fn k_values(inp: &Inputs, i: usize) -> String {
    let cell = &inp.cells[i];
    distinct(
        std::iter::once(cell)
            .filter(|c| c.k > 0)
            .map(|c| c.k.to_string())
            .chain(
                inp.runs[i].iter().filter_map(|r| {
                    kstrategy::k_used(cell, Some(&r.record)).map(|k| k.to_string())
                }),
            ),
    )
}

/// Loads alive over loads started, in the worst round: `3/4`.
fn loads_alive(runs: &[RoundRun]) -> String {
    runs.iter()
        .filter(|r| r.record.loads.started > 0)
        .map(|r| (r.record.loads.alive_after, r.record.loads.started))
        .min_by_key(|(a, s)| (a.unwrap_or(0), *s))
        .map(|(a, s)| {
            format!(
                "{}/{s}",
                a.map(|a| a.to_string()).unwrap_or_else(|| "?".into())
            )
        })
        .unwrap_or_default()
}

/// The smallest and largest per-kernel K over the ok rounds: `4` or `2-8`.
fn k_range(ok: &[&RoundFig]) -> String {
    let r: Vec<(u32, u32)> = ok.iter().filter_map(|f| f.k_range).collect();
    r.iter()
        .map(|x| x.0)
        .min()
        .zip(r.iter().map(|x| x.1).max())
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .unwrap_or_default()
}

/// The CPU and the GPU frequencies read just before the first round's
/// benchmark (kHz), or [`NOT_SET`].
fn frequencies_read(first: Option<&crate::record::CellRecord>) -> (String, String) {
    let cpu = first
        .map(|r| {
            if r.pins.left_unset("cpu_freq") {
                return NOT_SET.to_string();
            }
            r.freq_before
                .iter()
                .filter(|(k, _)| *k != "gpu")
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let gpu = first
        .and_then(|r| {
            if r.pins.left_unset("gpu_freq") {
                return Some(NOT_SET.to_string());
            }
            r.freq_before.get("gpu").map(|g| g.to_string())
        })
        .unwrap_or_default();
    (cpu, gpu)
}

/// The mean of some values, none without one.
fn mean_opt(v: impl IntoIterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.into_iter().collect();
    (!v.is_empty()).then(|| stats::mean(&v))
}

/// Cell `i`'s row of summary.csv: its figures over rounds.
fn summary_row(
    inp: &Inputs,
    i: usize,
    latency: &BTreeMap<u32, f64>,
    speedups: &BTreeMap<u32, f64>,
    noise: &CellNoise,
) -> SummaryRow {
    let cell = &inp.cells[i];
    let c = &cell.coord;
    let runs = &inp.runs[i];
    let ok: Vec<&RoundFig> = runs.iter().filter_map(|r| r.ok_fig()).collect();
    let mean_of = |m: Metric| mean_opt(ok.iter().filter_map(|f| f.value(m)));
    let lat: Vec<f64> = latency.values().copied().collect();
    let (lat_mean, lat_ci) = over_rounds(&lat);
    let sp: Vec<f64> = speedups.values().copied().collect();
    let (sp_mean, sp_ci) = speedup_over_rounds(&sp);
    let choice_mean = |f: &dyn Fn(&crate::record::KChoice) -> Option<f64>| {
        mean_opt(
            runs.iter()
                .filter_map(|r| r.record.k_choice.as_ref().and_then(f)),
        )
    };
    let (cpu_khz, gpu_khz) = frequencies_read(runs.first().map(|r| &r.record));
    SummaryRow {
        id: cell.id.clone(),
        board: c.board.clone(),
        load: c.load.clone(),
        cpu_freq: c.cpu_freq.slug().trim_start_matches("cpu-").to_string(),
        gpu_freq: c.gpu_freq.slug().trim_start_matches("gpu-").to_string(),
        knobs: c.knobs.clone(),
        network: c.network.clone(),
        strategy: cell.strategy_slug.clone(),
        k: k_values(inp, i),
        status: inp.status(i),
        rounds: format!("{}/{}", ok.len(), inp.rounds.max(runs.len() as u32)),
        inferences: (!ok.is_empty()).then(|| ok.iter().map(|f| f.stats.n).sum::<u32>()),
        latency_mean_us: lat_mean,
        latency_ci_low_us: lat_ci.map(|c| c.0),
        latency_ci_high_us: lat_ci.map(|c| c.1),
        latency_cv_between_pct: noise.cv_between_pct,
        latency_cv_within_pct: noise.cv_within_pct,
        t_prod_mean_us: mean_of(Metric::TProd),
        t_ker_mean_us: mean_of(Metric::TKer),
        t_idle_mean_us: mean_of(Metric::TIdle),
        t_flush_mean_us: mean_opt(ok.iter().filter_map(|f| f.t_flush)),
        flushes_mean: mean_opt(ok.iter().filter_map(|f| f.stats.flushes_mean)),
        k_mean: mean_of(Metric::K),
        speedup: sp_mean,
        speedup_ci_low: sp_ci.map(|c| c.0),
        speedup_ci_high: sp_ci.map(|c| c.1),
        cpu_util_pct: mean_opt(
            runs.iter()
                .filter(|r| r.record.status == Status::Ok)
                .filter_map(|r| r.record.cpu_util_pct),
        ),
        loads_alive: loads_alive(runs),
        cpu_khz,
        gpu_khz,
        k_range: k_range(&ok),
        lut: distinct(
            runs.iter()
                .filter_map(|r| r.record.k_choice.as_ref().and_then(|c| c.lut.clone())),
        ),
        profile_t_prod_us: choice_mean(&|c| c.t_prod_us),
        profile_t_ker_us: choice_mean(&|c| c.t_ker_us),
        model_latency_us: mean_opt(ok.iter().filter_map(|f| f.model_latency)),
        device: distinct(runs.iter().filter_map(|r| r.record.device.clone())),
        noise: noise.flags(),
        hash: cell.hash.clone(),
        // The thermal gate (scenarios with `thermal`): mean over rounds of
        // the wait and of the hottest zone at the benchmark's start and end.
        thermal_wait_s: thermal_mean(runs, |t| t.wait_s),
        temp_start_c: thermal_mean(runs, |t| t.max_start_c()),
        temp_end_c: thermal_mean(runs, |t| t.max_end_c()),
    }
}

/// Cell `i`'s rows of rounds.csv: one per run, in round order.
fn round_rows(inp: &Inputs, i: usize, speedups: &BTreeMap<u32, f64>) -> Vec<RoundRow> {
    let cell = &inp.cells[i];
    inp.runs[i]
        .iter()
        .map(|r| {
            let f = r
                .ok_fig()
                .or(r.fig.as_ref())
                .filter(|_| r.record.status.has_measurements());
            let v = |m: Metric| f.and_then(|f| f.value(m));
            let thermal = r.record.thermal.as_ref();
            RoundRow {
                id: cell.id.clone(),
                round: r.round,
                position: r.record.position,
                status: r.record.status,
                inferences: f.map(|f| f.stats.n),
                latency_us: v(Metric::Latency),
                t_prod_us: v(Metric::TProd),
                t_ker_us: v(Metric::TKer),
                t_idle_us: v(Metric::TIdle),
                t_flush_us: f.and_then(|f| f.t_flush),
                flushes_mean: f.and_then(|f| f.stats.flushes_mean),
                k_mean: v(Metric::K),
                k: kstrategy::k_used(cell, Some(&r.record)),
                speedup: speedups.get(&r.round).copied(),
                cpu_util_pct: r.record.cpu_util_pct,
                foreign_cpu_pct: r.record.foreign_cpu_pct,
                overlapped: r.record.overlapped.join(" "),
                thermal_wait_s: thermal.and_then(|t| t.wait_s),
                temp_start_c: thermal.and_then(|t| t.max_start_c()),
                temp_end_c: thermal.and_then(|t| t.max_end_c()),
            }
        })
        .collect()
}

/// What the reader should know about the K choices: a LUT measured on
/// another device than the one its cells ran on (the board identity of
/// `local` does not name its GPU), lookups outside the LUT's grid.
fn lut_warnings(inp: &Inputs) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut other_device: BTreeMap<(String, String), BTreeSet<&str>> = BTreeMap::new();
    let mut clamped: BTreeSet<&str> = BTreeSet::new();
    for (i, runs) in inp.runs.iter().enumerate() {
        let cell = &inp.cells[i];
        for r in runs.iter().filter(|r| r.record.k_choice.is_some()) {
            if r.record.k_choice.as_ref().is_some_and(|c| c.clamped) {
                clamped.insert(cell.id.as_str());
            }
            let made_on = inp
                .luts
                .get(&cell.coord.board)
                .and_then(|l| l.get("device"));
            if let (Some(made_on), Some(ran_on)) =
                (made_on, crate::kstrategy::build::device_of(&r.record))
                && made_on != ran_on
            {
                other_device
                    .entry((made_on.to_string(), ran_on))
                    .or_default()
                    .insert(cell.id.as_str());
            }
        }
    }
    for ((made_on, ran_on), ids) in other_device {
        warnings.push(format!(
            "{} cell(s) ran on `{ran_on}` with a LUT measured on `{made_on}`: {}",
            ids.len(),
            ids.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !clamped.is_empty() {
        warnings.push(format!(
            "{} cell(s) looked K up outside the LUT's grid (the nearest grid point was used; extend the LUT's grid to cover them): {}",
            clamped.len(),
            clamped.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    warnings
}

/// Per cell with ok rounds, its mean T_prod and T_ker over rounds.
fn profiles(inp: &Inputs) -> BTreeMap<usize, (f64, f64)> {
    (0..inp.cells.len())
        .filter_map(|i| {
            let ok: Vec<&RoundFig> = inp.runs[i].iter().filter_map(|r| r.ok_fig()).collect();
            let p: Vec<f64> = ok.iter().filter_map(|f| f.value(Metric::TProd)).collect();
            let k: Vec<f64> = ok.iter().filter_map(|f| f.value(Metric::TKer)).collect();
            (!p.is_empty() && !k.is_empty()).then(|| (i, (stats::mean(&p), stats::mean(&k))))
        })
        .collect()
}

/// What a next run should do about rounds and inferences, from the
/// variance components of the cells with two ok rounds or more.
fn design(inp: &Inputs, noise: &[CellNoise]) -> Vec<String> {
    let cells_design: Vec<(CellNoise, f64, f64)> = (0..inp.cells.len())
        .filter_map(|i| {
            let ok: Vec<&RoundRun> = inp.runs[i]
                .iter()
                .filter(|r| r.ok_fig().is_some())
                .collect();
            if ok.len() < 2 {
                return None;
            }
            let wall = stats::mean(&ok.iter().map(|r| r.record.wall_s).collect::<Vec<_>>());
            let inf = stats::mean(
                &ok.iter()
                    .filter_map(|r| r.ok_fig().map(|f| f.stats.n as f64))
                    .collect::<Vec<_>>(),
            );
            // Searches run many K per round: their wall time is not one run's.
            (!matches!(inp.cells[i].coord.strategy, Strategy::Search(_)))
                .then(|| (noise[i].clone(), wall, inf))
        })
        .collect();
    noise::design(&cells_design, 0.05)
}

pub fn analyze(inp: &Inputs) -> Result<Analysis> {
    let n = inp.cells.len();
    // The `default` cell of each condition with an ok round: the speedup
    // baseline of the condition's cells, round by round.
    let default_of: HashMap<String, usize> = (0..n)
        .filter(|&i| inp.cells[i].coord.strategy == Strategy::Default && inp.any_ok(i))
        .map(|i| (condition_key(&inp.cells[i]), i))
        .collect();
    let base = |i: usize| default_of.get(&condition_key(&inp.cells[i])).copied();
    let latency: Vec<BTreeMap<u32, f64>> = (0..n)
        .map(|i| inp.per_round(i, Metric::Latency, None))
        .collect();
    let speedups: Vec<BTreeMap<u32, f64>> = (0..n)
        .map(|i| inp.per_round(i, Metric::Speedup, base(i)))
        .collect();
    let noise: Vec<CellNoise> = inp.runs.iter().map(|r| CellNoise::of(r)).collect();

    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| inp.cells[a].id.cmp(&inp.cells[b].id));
    let summary = order
        .iter()
        .map(|&i| summary_row(inp, i, &latency[i], &speedups[i], &noise[i]))
        .collect();
    let rounds = order
        .iter()
        .flat_map(|&i| round_rows(inp, i, &speedups[i]))
        .collect();

    let (checklist, check_totals, noise_floor) = checks::checklist(inp)?;
    let sweeps = sweeps::sweeps(inp, &latency, &base);
    let kstrategy = kstrategy::table(inp, &latency, &profiles(inp));
    let noisy: Vec<String> = order
        .iter()
        .filter(|&&i| !noise[i].flags().is_empty())
        .map(|&i| format!("{}: {}", inp.cells[i].id, noise[i].flags()))
        .collect();
    Ok(Analysis {
        warnings: lut_warnings(inp),
        noisy,
        summary,
        rounds,
        checklist,
        check_totals,
        sweeps,
        kstrategy,
        noise_floor,
        design: design(inp, &noise),
    })
}
