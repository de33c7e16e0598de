//! From cell logs to result tables: per-cell statistics (polars), speedups,
//! K sweeps and the checklist.
//!
//! Measurement rules (KLO.md): the first inference of a cell is a warm-up
//! and is excluded everywhere; the T_prod of each inference's first kernel
//! (its lowest kernel index) is excluded from means (divide by n - 1); the
//! first T_idle is undefined, not zero. Only `ok` cells count in speedups
//! and checks.

pub mod checks;
pub mod kstrategy;
pub mod stats;
mod sweeps;

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::ingest::{CellLog, frames};
use crate::matrix::Cell;
use crate::matrix::groups::condition_key;
use crate::output::{Table, fmt_f};
use crate::record::{CellRecord, Status};
use crate::scenario::{Scenario, Strategy};

/// Per-cell statistics over measured inferences.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellStats {
    pub n: u32,
    pub latency_mean: Option<f64>,
    pub latency_median: Option<f64>,
    pub latency_p95: Option<f64>,
    pub latency_std: Option<f64>,
    pub flushes_mean: Option<f64>,
    pub k_mean: Option<f64>,
    pub t_prod_mean: Option<f64>,
    pub t_ker_mean: Option<f64>,
    pub t_idle_mean: Option<f64>,
}

/// Per-inference values of one cell (measured inferences only).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    pub latency: Vec<f64>,
    pub t_prod: Vec<f64>,
    pub t_ker: Vec<f64>,
    pub t_idle: Vec<f64>,
    pub k: Vec<f64>,
}

/// The tables of a result set.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub summary: Table,
    pub checklist: Table,
    /// Per check: (id, title, PASS, FAIL, INCONCLUSIVE).
    pub check_totals: Vec<(String, String, usize, usize, usize)>,
    pub sweeps: Table,
    /// K_opt vs K_answer per condition (kstrategy.csv).
    pub kstrategy: Table,
    /// What the reader should know about the results (a LUT lookup outside
    /// the LUT's grid), printed after the tables.
    pub warnings: Vec<String>,
}

fn f64s(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().collect())
}

fn u32s(df: &DataFrame, name: &str) -> Result<Vec<Option<u32>>> {
    let c = df.column(name)?.cast(&DataType::UInt32)?;
    Ok(c.u32()?.iter().collect())
}

/// Sums and counts of one inference's kernel records.
#[derive(Clone, Copy, Default)]
struct IterSums {
    seen: bool,
    t_prod: (f64, u32),
    t_ker: (f64, u32),
    t_idle: (f64, u32),
}

impl IterSums {
    fn add(&mut self, t_prod: Option<f64>, t_ker: f64, t_idle: Option<f64>) {
        self.seen = true;
        if let Some(x) = t_prod {
            self.t_prod.0 += x;
            self.t_prod.1 += 1;
        }
        self.t_ker.0 += t_ker;
        self.t_ker.1 += 1;
        if let Some(x) = t_idle {
            self.t_idle.0 += x;
            self.t_idle.1 += 1;
        }
    }
}

/// The kernel records reduced per (cell, measured inference), in that
/// order: `cell`, `iter`, and per time (T_prod, T_ker, T_idle) the sum and
/// the count of its values, `{name}_sum` and `{name}_n`. The warm-up
/// inference is left out, and so are the first kernel's T_prod and T_idle
/// of each inference and undefined idle times. Each log is reduced while
/// it is read (in parallel, in record order, so the sums are the same on
/// every run): a campaign's millions of kernel records never become a
/// frame, only their thousands of inferences do.
fn per_inference_sums(logs: &[(u32, &CellLog)]) -> PolarsResult<DataFrame> {
    use rayon::prelude::*;
    let parts: Vec<Vec<(u32, u32, IterSums)>> = logs
        .par_iter()
        .map(|(cell, log)| {
            let k = &log.kernels;
            let first = log.first_kernel_flags();
            let add = |s: &mut IterSums, r: usize| {
                let first = first[r];
                s.add(
                    (!first).then_some(k.t_prod_us[r]),
                    k.t_ker_us[r],
                    if first { None } else { k.t_idle_us[r] },
                )
            };
            let max_iter = k.iter.iter().copied().max().unwrap_or(0) as usize;
            if max_iter < 4 * k.iter.len() + 1024 {
                // Inference numbers are small: a table indexed by them.
                let mut sums = vec![IterSums::default(); max_iter + 1];
                for (r, &it) in k.iter.iter().enumerate() {
                    if it > 0 {
                        add(&mut sums[it as usize], r);
                    }
                }
                sums.into_iter()
                    .enumerate()
                    .filter(|(_, s)| s.seen)
                    .map(|(it, s)| (*cell, it as u32, s))
                    .collect()
            } else {
                let mut sums: BTreeMap<u32, IterSums> = BTreeMap::new();
                for (r, &it) in k.iter.iter().enumerate() {
                    if it > 0 {
                        add(sums.entry(it).or_default(), r);
                    }
                }
                sums.into_iter().map(|(it, s)| (*cell, it, s)).collect()
            }
        })
        .collect();
    let mut rows: Vec<(u32, u32, IterSums)> = parts.into_iter().flatten().collect();
    rows.sort_by_key(|(cell, it, _)| (*cell, *it));
    let col_of = |f: &dyn Fn(&IterSums) -> (f64, u32), name: &str| {
        [
            Column::new(
                format!("{name}_sum").into(),
                rows.iter().map(|r| f(&r.2).0).collect::<Vec<f64>>(),
            ),
            Column::new(
                format!("{name}_n").into(),
                rows.iter().map(|r| f(&r.2).1).collect::<Vec<u32>>(),
            ),
        ]
    };
    let mut columns = vec![
        Column::new(
            "cell".into(),
            rows.iter().map(|r| r.0).collect::<Vec<u32>>(),
        ),
        Column::new(
            "iter".into(),
            rows.iter().map(|r| r.1).collect::<Vec<u32>>(),
        ),
    ];
    columns.extend(col_of(&|s| s.t_prod, "t_prod_us"));
    columns.extend(col_of(&|s| s.t_ker, "t_ker_us"));
    columns.extend(col_of(&|s| s.t_idle, "t_idle_us"));
    DataFrame::new(rows.len(), columns)
}

/// Per-cell statistics and per-inference samples, computed with polars.
///
/// The kernel records are reduced once, per (cell, inference), to sums and
/// counts of T_prod, T_ker and T_idle ([`per_inference_sums`]). A cell's
/// mean is then the sum of its inferences' sums over the sum of their
/// counts: the mean over all its kernel records, as a direct per-cell mean
/// gives.
pub fn cell_statistics(
    logs: &[(u32, &CellLog)],
) -> Result<(HashMap<u32, CellStats>, HashMap<u32, Samples>)> {
    let per_iter = per_inference_sums(logs)
        .map_err(anyhow::Error::from)
        .context("building the per-inference kernel sums")?;
    let inferences = frames::inferences(logs)
        .map_err(anyhow::Error::from)
        .context("building the inference frame")?;
    let measured_inf = inferences.lazy().filter(col("iter").gt(lit(0)));

    // A mean over no value is null, never 0/0.
    let ratio = |sum: Expr, n: Expr| {
        when(n.clone().gt(lit(0)))
            .then(sum.cast(DataType::Float64) / n.cast(DataType::Float64))
            .otherwise(lit(NULL).cast(DataType::Float64))
    };
    let mean_of = |name: &str, alias: &str| {
        ratio(
            col(format!("{name}_sum")).sum(),
            col(format!("{name}_n")).sum(),
        )
        .alias(alias)
    };
    let per_inf_of = |name: &str, alias: &str| {
        ratio(col(format!("{name}_sum")), col(format!("{name}_n"))).alias(alias)
    };

    let per_cell = measured_inf
        .clone()
        .group_by([col("cell")])
        .agg([
            col("latency_us").count().alias("n"),
            col("latency_us").mean().alias("latency_mean"),
            col("latency_us").median().alias("latency_median"),
            col("latency_us")
                .quantile(lit(0.95), QuantileMethod::Linear)
                .alias("latency_p95"),
            col("latency_us").std(1).alias("latency_std"),
            col("flushes")
                .cast(DataType::Float64)
                .mean()
                .alias("flushes_mean"),
            col("k_mean").mean().alias("k_mean"),
        ])
        .left_join(
            per_iter.clone().lazy().group_by([col("cell")]).agg([
                mean_of("t_prod_us", "t_prod_mean"),
                mean_of("t_ker_us", "t_ker_mean"),
                mean_of("t_idle_us", "t_idle_mean"),
            ]),
            col("cell"),
            col("cell"),
        )
        .collect()?;

    let cells = u32s(&per_cell, "cell")?;
    let cols: Vec<Vec<Option<f64>>> = [
        "n",
        "latency_mean",
        "latency_median",
        "latency_p95",
        "latency_std",
        "flushes_mean",
        "k_mean",
        "t_prod_mean",
        "t_ker_mean",
        "t_idle_mean",
    ]
    .iter()
    .map(|c| f64s(&per_cell, c))
    .collect::<Result<_>>()?;
    let mut stats = HashMap::new();
    for (row, cell) in cells.iter().enumerate() {
        let Some(cell) = cell else { continue };
        let v = |i: usize| cols[i][row];
        stats.insert(
            *cell,
            CellStats {
                n: v(0).unwrap_or(0.0) as u32,
                latency_mean: v(1),
                latency_median: v(2),
                latency_p95: v(3),
                latency_std: v(4),
                flushes_mean: v(5),
                k_mean: v(6),
                t_prod_mean: v(7),
                t_ker_mean: v(8),
                t_idle_mean: v(9),
            },
        );
    }

    let per_inference = measured_inf
        .join(
            per_iter.lazy().select([
                col("cell"),
                col("iter"),
                per_inf_of("t_prod_us", "t_prod"),
                per_inf_of("t_ker_us", "t_ker"),
                per_inf_of("t_idle_us", "t_idle"),
            ]),
            [col("cell"), col("iter")],
            [col("cell"), col("iter")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["cell", "iter"], SortMultipleOptions::default())
        .collect()?;
    let cells = u32s(&per_inference, "cell")?;
    let latency = f64s(&per_inference, "latency_us")?;
    let t_prod = f64s(&per_inference, "t_prod")?;
    let t_ker = f64s(&per_inference, "t_ker")?;
    let t_idle = f64s(&per_inference, "t_idle")?;
    let k_mean = f64s(&per_inference, "k_mean")?;
    let mut samples: HashMap<u32, Samples> = HashMap::new();
    for row in 0..cells.len() {
        let Some(cell) = cells[row] else { continue };
        let s = samples.entry(cell).or_default();
        let push = |v: &mut Vec<f64>, x: Option<f64>| {
            if let Some(x) = x.filter(|x| x.is_finite()) {
                v.push(x);
            }
        };
        push(&mut s.latency, latency[row]);
        push(&mut s.t_prod, t_prod[row]);
        push(&mut s.t_ker, t_ker[row]);
        push(&mut s.t_idle, t_idle[row]);
        push(&mut s.k, k_mean[row]);
    }
    Ok((stats, samples))
}

/// Everything known about the cells of a plan, for the tables.
pub struct Inputs<'a> {
    pub scenario: &'a Scenario,
    pub cells: &'a [Cell],
    /// Per cell: its record, when it ran with the current definition.
    pub records: &'a [Option<CellRecord>],
    /// Per cell: its parsed log, when it has measurements.
    pub logs: &'a [Option<CellLog>],
    /// Per board: the LUT of its LUT-strategy cells.
    pub luts: &'a std::collections::BTreeMap<String, crate::kstrategy::lut::Lut>,
}

impl Inputs<'_> {
    fn status(&self, i: usize) -> Status {
        self.records[i]
            .as_ref()
            .map(|r| r.status)
            .unwrap_or(Status::NotRun)
    }
}

/// cpu_khz or gpu_khz of a cell whose setting the board could not apply
/// (`local` without cpufreq or GPU control).
pub const NOT_SET: &str = "not set (left at current)";

pub const SUMMARY_COLUMNS: [&str; 31] = [
    "id",
    "board",
    "load",
    "cpu_freq",
    "gpu_freq",
    "network",
    "strategy",
    "k",
    "status",
    "n",
    "latency_mean_us",
    "latency_median_us",
    "latency_p95_us",
    "latency_std_us",
    "t_prod_mean_us",
    "t_ker_mean_us",
    "t_idle_mean_us",
    "flushes_mean",
    "k_mean",
    "speedup",
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
    "hash",
];

pub fn analyze(inp: &Inputs) -> Result<Analysis> {
    let logs: Vec<(u32, &CellLog)> = inp
        .logs
        .iter()
        .enumerate()
        .filter(|(i, _)| inp.status(*i).has_measurements())
        .filter_map(|(i, l)| l.as_ref().map(|l| (i as u32, l)))
        .collect();
    let (stats, samples) = cell_statistics(&logs)?;

    // Speedup baselines: the `ok` default cell of each condition.
    let mut baseline: HashMap<String, f64> = HashMap::new();
    for (i, cell) in inp.cells.iter().enumerate() {
        if cell.coord.strategy == Strategy::Default
            && inp.status(i) == Status::Ok
            && let Some(m) = stats.get(&(i as u32)).and_then(|s| s.latency_mean)
        {
            baseline.insert(condition_key(cell), m);
        }
    }
    let speedup = |i: usize| -> Option<f64> {
        let lat = stats.get(&(i as u32))?.latency_mean?;
        Some(baseline.get(&condition_key(&inp.cells[i]))? / lat)
    };

    let mut summary = Table::new(&SUMMARY_COLUMNS);
    let mut order: Vec<usize> = (0..inp.cells.len()).collect();
    order.sort_by(|&a, &b| inp.cells[a].id.cmp(&inp.cells[b].id));
    for &i in &order {
        let cell = &inp.cells[i];
        let c = &cell.coord;
        let status = inp.status(i);
        let rec = inp.records[i].as_ref();
        let st = if status.has_measurements() {
            stats.get(&(i as u32)).cloned().unwrap_or_default()
        } else {
            CellStats::default()
        };
        let loads = match rec {
            Some(r) if r.loads.started > 0 => {
                format!(
                    "{}/{}",
                    r.loads
                        .alive_after
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "?".into()),
                    r.loads.started
                )
            }
            _ => String::new(),
        };
        let choice = rec.and_then(|r| r.k_choice.as_ref());
        let means = if status.has_measurements() {
            inp.logs[i].as_ref().and_then(kstrategy::kernel_means)
        } else {
            None
        };
        summary.rows.push(vec![
            cell.id.clone(),
            c.board.clone(),
            c.load.clone(),
            c.cpu_freq.slug().trim_start_matches("cpu-").to_string(),
            c.gpu_freq.slug().trim_start_matches("gpu-").to_string(),
            c.network.clone(),
            cell.strategy_slug.clone(),
            kstrategy::k_used(cell, rec)
                .map(|k| k.to_string())
                .unwrap_or_default(),
            status.to_string(),
            if status.has_measurements() {
                st.n.to_string()
            } else {
                String::new()
            },
            fmt_f(st.latency_mean, 1),
            fmt_f(st.latency_median, 1),
            fmt_f(st.latency_p95, 1),
            fmt_f(st.latency_std, 1),
            fmt_f(st.t_prod_mean, 2),
            fmt_f(st.t_ker_mean, 2),
            fmt_f(st.t_idle_mean, 2),
            fmt_f(st.flushes_mean, 2),
            fmt_f(st.k_mean, 2),
            fmt_f(
                // A cell whose conditions were not met gets no speedup.
                if status == Status::Ok {
                    speedup(i)
                } else {
                    None
                },
                3,
            ),
            fmt_f(rec.and_then(|r| r.cpu_util_pct), 1),
            loads,
            // The frequencies read just before the benchmark, kHz.
            rec.map(|r| {
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
            rec.and_then(|r| {
                if r.pins.left_unset("gpu_freq") {
                    return Some(NOT_SET.to_string());
                }
                r.freq_before.get("gpu").map(|g| g.to_string())
            })
            .unwrap_or_default(),
            means
                .as_ref()
                .and_then(|m| m.k_range)
                .map(|(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .unwrap_or_default(),
            choice.and_then(|c| c.lut.clone()).unwrap_or_default(),
            fmt_f(choice.and_then(|c| c.t_prod_us), 2),
            fmt_f(choice.and_then(|c| c.t_ker_us), 2),
            fmt_f(
                means
                    .as_ref()
                    .and_then(|m| kstrategy::model_latency(inp.scenario, cell, rec, m)),
                1,
            ),
            rec.and_then(|r| r.device.clone()).unwrap_or_default(),
            cell.hash.clone(),
        ]);
    }

    let (checklist, check_totals) = checks::checklist(inp, &samples, &baseline)?;
    let sweeps = sweeps::sweeps(inp, &stats, &baseline);
    let latency: std::collections::BTreeMap<usize, f64> = (0..inp.cells.len())
        .filter_map(|i| {
            stats
                .get(&(i as u32))
                .and_then(|s| s.latency_mean)
                .map(|l| (i, l))
        })
        .collect();
    let profile: std::collections::BTreeMap<usize, (f64, f64)> = (0..inp.cells.len())
        .filter_map(|i| {
            stats
                .get(&(i as u32))
                .and_then(|s| s.t_prod_mean.zip(s.t_ker_mean))
                .map(|p| (i, p))
        })
        .collect();
    let kstrategy = kstrategy::table(
        inp.cells,
        inp.records,
        &latency,
        &samples,
        &profile,
        inp.luts,
    );
    let clamped: Vec<&str> = inp
        .records
        .iter()
        .flatten()
        .filter(|r| r.k_choice.as_ref().is_some_and(|c| c.clamped))
        .map(|r| r.id.as_str())
        .collect();
    let mut warnings = Vec::new();
    // A LUT measured on another device than the one its cells ran on (the
    // board identity of `local` does not name its GPU).
    let mut other_device: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for (i, rec) in inp.records.iter().enumerate() {
        let Some(rec) = rec.as_ref().filter(|r| r.k_choice.is_some()) else {
            continue;
        };
        let cell = &inp.cells[i];
        let made_on = inp
            .luts
            .get(&cell.coord.board)
            .and_then(|l| l.get("device"));
        if let (Some(made_on), Some(ran_on)) = (made_on, crate::kstrategy::build::device_of(rec))
            && made_on != ran_on
        {
            other_device
                .entry((made_on.to_string(), ran_on))
                .or_default()
                .push(cell.id.as_str());
        }
    }
    for ((made_on, ran_on), ids) in other_device {
        warnings.push(format!(
            "{} cell(s) ran on `{ran_on}` with a LUT measured on `{made_on}`: {}",
            ids.len(),
            ids.join(", ")
        ));
    }
    if !clamped.is_empty() {
        warnings.push(format!(
            "{} cell(s) looked K up outside the LUT's grid (the nearest grid point was used; extend the LUT's grid to cover them): {}",
            clamped.len(),
            clamped.join(", ")
        ));
    }
    Ok(Analysis {
        warnings,
        summary,
        checklist,
        check_totals,
        sweeps,
        kstrategy,
    })
}

#[cfg(test)]
mod tests;
