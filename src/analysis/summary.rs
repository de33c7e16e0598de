//! summary.csv (one row per cell, its figures over rounds) and rounds.csv
//! (one row per cell and round), then the other tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;

use super::figures::Inputs;
use super::noise::{self, CellNoise};
use super::stats::{self, TTest};
use super::{Analysis, checks, kstrategy, sweeps};
use crate::matrix::groups::condition_key;
use crate::output::{Table, fmt_f};
use crate::record::Status;
use crate::scenario::{Metric, Strategy};

/// cpu_khz or gpu_khz of a cell whose setting the board could not apply
/// (`local` without cpufreq or GPU control).
pub const NOT_SET: &str = "not set (left at current)";

pub const SUMMARY_COLUMNS: [&str; 40] = [
    "id",
    "board",
    "load",
    "cpu_freq",
    "gpu_freq",
    "network",
    "strategy",
    "k",
    "status",
    "rounds",
    "inferences",
    "latency_mean_us",
    "latency_ci_low_us",
    "latency_ci_high_us",
    "latency_cv_between_pct",
    "latency_cv_within_pct",
    "t_prod_mean_us",
    "t_ker_mean_us",
    "t_idle_mean_us",
    "t_flush_mean_us",
    "flushes_mean",
    "k_mean",
    "speedup",
    "speedup_ci_low",
    "speedup_ci_high",
    "cpu_util_pct",
    "loads_alive",
    "cpu_khz",
    "gpu_khz",
    "k_range",
    "lut",
    "profile_t_prod_us",
    "profile_t_ker_us",
    "model_latency_us",
    "device",
    "noise",
    "hash",
    "thermal_wait_s",
    "temp_start_c",
    "temp_end_c",
];

pub const ROUNDS_COLUMNS: [&str; 20] = [
    "id",
    "round",
    "position",
    "status",
    "inferences",
    "latency_us",
    "t_prod_us",
    "t_ker_us",
    "t_idle_us",
    "t_flush_us",
    "flushes_mean",
    "k_mean",
    "k",
    "speedup",
    "cpu_util_pct",
    "foreign_cpu_pct",
    "overlapped",
    "thermal_wait_s",
    "temp_start_c",
    "temp_end_c",
];

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
    runs: &[super::RoundRun],
    f: impl Fn(&crate::record::ThermalRecord) -> Option<f64>,
) -> Option<f64> {
    let v: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.record.thermal.as_ref().and_then(&f))
        .collect();
    (!v.is_empty()).then(|| stats::mean(&v))
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

    let mut summary = Table::new(&SUMMARY_COLUMNS);
    let mut rounds = Table::new(&ROUNDS_COLUMNS);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| inp.cells[a].id.cmp(&inp.cells[b].id));
    for &i in &order {
        let cell = &inp.cells[i];
        let c = &cell.coord;
        let runs = &inp.runs[i];
        let status = inp.status(i);
        let ok: Vec<&super::RoundFig> = runs.iter().filter_map(|r| r.ok_fig()).collect();
        let mean_of = |m: Metric| {
            let v: Vec<f64> = ok.iter().filter_map(|f| f.value(m)).collect();
            (!v.is_empty()).then(|| stats::mean(&v))
        };
        let lat: Vec<f64> = latency[i].values().copied().collect();
        let (lat_mean, lat_ci) = over_rounds(&lat);
        let sp: Vec<f64> = speedups[i].values().copied().collect();
        let (sp_mean, sp_ci) = speedup_over_rounds(&sp);
        let first = runs.first().map(|r| &r.record);
        let loads = runs
            .iter()
            .filter(|r| r.record.loads.started > 0)
            .map(|r| (r.record.loads.alive_after, r.record.loads.started))
            .min_by_key(|(a, s)| (a.unwrap_or(0), *s))
            .map(|(a, s)| {
                format!(
                    "{}/{s}",
                    a.map(|a| a.to_string()).unwrap_or_else(|| "?".into())
                )
            })
            .unwrap_or_default();
        let utils: Vec<f64> = runs
            .iter()
            .filter(|r| r.record.status == Status::Ok)
            .filter_map(|r| r.record.cpu_util_pct)
            .collect();
        let choice_mean = |f: &dyn Fn(&crate::record::KChoice) -> Option<f64>| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.record.k_choice.as_ref().and_then(f))
                .collect();
            (!v.is_empty()).then(|| stats::mean(&v))
        };
        let k_range = {
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
        };
        let models: Vec<f64> = ok.iter().filter_map(|f| f.model_latency).collect();
        let any = !ok.is_empty();
        summary.rows.push(vec![
            cell.id.clone(),
            c.board.clone(),
            c.load.clone(),
            c.cpu_freq.slug().trim_start_matches("cpu-").to_string(),
            c.gpu_freq.slug().trim_start_matches("gpu-").to_string(),
            c.network.clone(),
            cell.strategy_slug.clone(),
            distinct(
                std::iter::once(cell)
                    .filter(|c| c.k > 0)
                    .map(|c| c.k.to_string())
                    .chain(runs.iter().filter_map(|r| {
                        kstrategy::k_used(cell, Some(&r.record)).map(|k| k.to_string())
                    })),
            ),
            status.to_string(),
            format!("{}/{}", ok.len(), inp.rounds.max(runs.len() as u32)),
            if any {
                ok.iter().map(|f| f.stats.n).sum::<u32>().to_string()
            } else {
                String::new()
            },
            fmt_f(lat_mean, 1),
            fmt_f(lat_ci.map(|c| c.0), 1),
            fmt_f(lat_ci.map(|c| c.1), 1),
            fmt_f(noise[i].cv_between_pct, 1),
            fmt_f(noise[i].cv_within_pct, 1),
            fmt_f(mean_of(Metric::TProd), 2),
            fmt_f(mean_of(Metric::TKer), 2),
            fmt_f(mean_of(Metric::TIdle), 2),
            fmt_f(
                {
                    let v: Vec<f64> = ok.iter().filter_map(|f| f.t_flush).collect();
                    (!v.is_empty()).then(|| stats::mean(&v))
                },
                2,
            ),
            fmt_f(
                {
                    let v: Vec<f64> = ok.iter().filter_map(|f| f.stats.flushes_mean).collect();
                    (!v.is_empty()).then(|| stats::mean(&v))
                },
                2,
            ),
            fmt_f(mean_of(Metric::K), 2),
            fmt_f(sp_mean, 3),
            fmt_f(sp_ci.map(|c| c.0), 3),
            fmt_f(sp_ci.map(|c| c.1), 3),
            fmt_f((!utils.is_empty()).then(|| stats::mean(&utils)), 1),
            loads,
            // The frequencies read just before the benchmark, kHz.
            first
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
                .unwrap_or_default(),
            first
                .and_then(|r| {
                    if r.pins.left_unset("gpu_freq") {
                        return Some(NOT_SET.to_string());
                    }
                    r.freq_before.get("gpu").map(|g| g.to_string())
                })
                .unwrap_or_default(),
            k_range,
            distinct(
                runs.iter()
                    .filter_map(|r| r.record.k_choice.as_ref().and_then(|c| c.lut.clone())),
            ),
            fmt_f(choice_mean(&|c| c.t_prod_us), 2),
            fmt_f(choice_mean(&|c| c.t_ker_us), 2),
            fmt_f((!models.is_empty()).then(|| stats::mean(&models)), 1),
            distinct(runs.iter().filter_map(|r| r.record.device.clone())),
            noise[i].flags(),
            cell.hash.clone(),
            // The thermal gate (scenarios with `thermal`): mean over rounds
            // of the wait and of the hottest zone at the benchmark's start
            // and end.
            fmt_f(thermal_mean(runs, |t| t.wait_s), 2),
            fmt_f(thermal_mean(runs, |t| t.max_start_c()), 1),
            fmt_f(thermal_mean(runs, |t| t.max_end_c()), 1),
        ]);
        for r in runs {
            let f = r
                .ok_fig()
                .or(r.fig.as_ref())
                .filter(|_| r.record.status.has_measurements());
            let v = |m: Metric| f.and_then(|f| f.value(m));
            rounds.rows.push(vec![
                cell.id.clone(),
                r.round.to_string(),
                r.record.position.map(|p| p.to_string()).unwrap_or_default(),
                r.record.status.to_string(),
                f.map(|f| f.stats.n.to_string()).unwrap_or_default(),
                fmt_f(v(Metric::Latency), 1),
                fmt_f(v(Metric::TProd), 2),
                fmt_f(v(Metric::TKer), 2),
                fmt_f(v(Metric::TIdle), 2),
                fmt_f(f.and_then(|f| f.t_flush), 2),
                fmt_f(f.and_then(|f| f.stats.flushes_mean), 2),
                fmt_f(v(Metric::K), 2),
                kstrategy::k_used(cell, Some(&r.record))
                    .map(|k| k.to_string())
                    .unwrap_or_default(),
                fmt_f(speedups[i].get(&r.round).copied(), 3),
                fmt_f(r.record.cpu_util_pct, 1),
                fmt_f(r.record.foreign_cpu_pct, 1),
                r.record.overlapped.join(" "),
                fmt_f(r.record.thermal.as_ref().and_then(|t| t.wait_s), 2),
                fmt_f(r.record.thermal.as_ref().and_then(|t| t.max_start_c()), 1),
                fmt_f(r.record.thermal.as_ref().and_then(|t| t.max_end_c()), 1),
            ]);
        }
    }

    let (checklist, check_totals, noise_floor) = checks::checklist(inp)?;
    let sweeps = sweeps::sweeps(inp, &latency, &base);
    let profile: BTreeMap<usize, (f64, f64)> = (0..n)
        .filter_map(|i| {
            let ok: Vec<&super::RoundFig> = inp.runs[i].iter().filter_map(|r| r.ok_fig()).collect();
            let p: Vec<f64> = ok.iter().filter_map(|f| f.value(Metric::TProd)).collect();
            let k: Vec<f64> = ok.iter().filter_map(|f| f.value(Metric::TKer)).collect();
            (!p.is_empty() && !k.is_empty()).then(|| (i, (stats::mean(&p), stats::mean(&k))))
        })
        .collect();
    let kstrategy = kstrategy::table(inp, &latency, &profile);

    let mut warnings = Vec::new();
    // A LUT measured on another device than the one its cells ran on (the
    // board identity of `local` does not name its GPU).
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
    let noisy: Vec<String> = order
        .iter()
        .filter(|&&i| !noise[i].flags().is_empty())
        .map(|&i| format!("{}: {}", inp.cells[i].id, noise[i].flags()))
        .collect();

    let cells_design: Vec<(CellNoise, f64, f64)> = (0..n)
        .filter_map(|i| {
            let ok: Vec<&super::RoundRun> = inp.runs[i]
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
    let design = noise::design(&cells_design, 0.05);
    Ok(Analysis {
        warnings,
        noisy,
        summary,
        rounds,
        checklist,
        check_totals,
        sweeps,
        kstrategy,
        noise_floor,
        design,
    })
}
