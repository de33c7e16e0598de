//! From cell logs to result tables: per-round figures (polars), their
//! summaries over rounds, speedups, K sweeps and the checklist.
//!
//! Measurement rules (docs/statistics.md): the first inference of a run is
//! a warm-up and is excluded everywhere; the T_prod of each inference's
//! first kernel (its lowest kernel index) is excluded from means (divide by
//! n - 1); the first T_idle is undefined, not zero. A cell runs once per
//! round; each round's run gives one figure per metric (the mean over its
//! measured inferences), and everything across rounds (means, intervals,
//! speedups, checks) works on those figures. Only `ok` rounds count.

pub mod checks;
pub mod figures;
pub mod kstrategy;
pub mod noise;
pub mod stats;
mod summary;
mod sweeps;

pub use figures::{Inputs, RoundFig, RoundRun};
pub use summary::analyze;

use std::collections::HashMap;

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::ingest::digest::{IterSums, Mean};
use crate::ingest::{LogDigest, frames};
use crate::rows::{ChecklistRow, KstrategyRow, RoundRow, SummaryRow, SweepRow};

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

/// The tables of a result set, as typed rows ([`crate::rows::table`]
/// gives their text).
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Per cell: its figures over rounds (summary.csv), by id.
    pub summary: Vec<SummaryRow>,
    /// Per cell and round: the round's figures (rounds.csv).
    pub rounds: Vec<RoundRow>,
    pub checklist: Vec<ChecklistRow>,
    /// Per check of the scenario (and the A/A check), its verdict counts.
    pub check_totals: Vec<checks::CheckTotal>,
    pub sweeps: Vec<SweepRow>,
    /// K_opt vs K_answer per condition (kstrategy.csv).
    pub kstrategy: Vec<KstrategyRow>,
    /// What the reader should know about the results (a LUT lookup outside
    /// the LUT's grid), printed after the tables.
    pub warnings: Vec<String>,
    /// The cells whose noise flags are set, with their flags (summary.csv's
    /// `noise` column), printed with the tables.
    pub noisy: Vec<String>,
    /// The A/A check's conclusion, when the checklist has one: the
    /// environment's noise floor, shown first.
    pub noise_floor: Option<String>,
    /// What a next run should do about rounds and inferences, from the
    /// variance components of this one.
    pub design: Vec<String>,
}

fn f64s(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().collect())
}

fn u32s(df: &DataFrame, name: &str) -> Result<Vec<Option<u32>>> {
    let c = df.column(name)?.cast(&DataType::UInt32)?;
    Ok(c.u32()?.iter().collect())
}

/// The kernel records reduced per (cell, measured inference), in that
/// order: `cell`, `iter`, and per time (T_prod, T_ker, T_idle) the sum and
/// the count of its values, `{name}_sum` and `{name}_n`. The warm-up
/// inference is left out, and so are the first kernel's T_prod and T_idle
/// of each inference and undefined idle times. Each log was reduced while
/// it was read ([`LogDigest`], in record order, so the sums are the same
/// on every run): a campaign's millions of kernel records never become a
/// frame, only their thousands of inferences do.
fn per_inference_sums(logs: &[(u32, &LogDigest)]) -> PolarsResult<DataFrame> {
    let mut rows: Vec<(u32, u32, IterSums)> = logs
        .iter()
        .flat_map(|(cell, d)| d.measured_iters().map(move |(it, s)| (*cell, it, *s)))
        .collect();
    rows.sort_by_key(|(cell, it, _)| (*cell, *it));
    let col_of = |f: &dyn Fn(&IterSums) -> Mean, name: &str| {
        [
            Column::new(
                format!("{name}_sum").into(),
                rows.iter().map(|r| f(&r.2).sum).collect::<Vec<f64>>(),
            ),
            Column::new(
                format!("{name}_n").into(),
                rows.iter().map(|r| f(&r.2).n).collect::<Vec<u32>>(),
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

/// Per cell, its statistics: a row of the per-cell frame.
fn stats_by_cell(per_cell: &DataFrame) -> Result<HashMap<u32, CellStats>> {
    let cells = u32s(per_cell, "cell")?;
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
    .map(|c| f64s(per_cell, c))
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
    Ok(stats)
}

/// Per cell, its measured inferences' values: rows of the per-inference
/// frame, in (cell, inference) order.
fn samples_by_cell(per_inference: &DataFrame) -> Result<HashMap<u32, Samples>> {
    let cells = u32s(per_inference, "cell")?;
    let latency = f64s(per_inference, "latency_us")?;
    let t_prod = f64s(per_inference, "t_prod")?;
    let t_ker = f64s(per_inference, "t_ker")?;
    let t_idle = f64s(per_inference, "t_idle")?;
    let k_mean = f64s(per_inference, "k_mean")?;
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
    Ok(samples)
}

/// Per-cell statistics and per-inference samples, computed with polars.
///
/// The kernel records are reduced once, per (cell, inference), to sums and
/// counts of T_prod, T_ker and T_idle ([`per_inference_sums`]). A cell's
/// mean is then the sum of its inferences' sums over the sum of their
/// counts: the mean over all its kernel records, as a direct per-cell mean
/// gives.
pub fn cell_statistics(
    logs: &[(u32, &LogDigest)],
) -> Result<(HashMap<u32, CellStats>, HashMap<u32, Samples>)> {
    let per_iter = per_inference_sums(logs)
        .map_err(anyhow::Error::from)
        .context("building the per-inference kernel sums")?;
    let rows: Vec<(u32, &crate::ingest::InferenceRows)> =
        logs.iter().map(|(c, d)| (*c, &d.inferences)).collect();
    let inferences = frames::inferences(&rows)
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

    let stats = stats_by_cell(&per_cell)?;

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
    let samples = samples_by_cell(&per_inference)?;
    Ok((stats, samples))
}

#[cfg(test)]
mod tests;
