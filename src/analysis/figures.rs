//! Per-round figures: what one run of a cell (one round) measured, reduced
//! as soon as its log is read, so that a result set's logs are never all
//! held at once.

use std::collections::{BTreeMap, BTreeSet};

use super::{CellStats, cell_statistics, kstrategy, stats};
use crate::ingest::LogDigest;
use crate::kstrategy::lut::Lut;
use crate::matrix::Cell;
use crate::record::{CellRecord, Status};
use crate::scenario::{Metric, Scenario};

/// What one round's run of a cell measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundFig {
    /// Means over the measured inferences (the warm-up excluded).
    pub stats: CellStats,
    /// What the noise checks need of the latencies of the measured
    /// inferences (not the values: a run holds a fixed size, however many
    /// inferences it ran).
    pub latency: LatencyFig,
    /// Smallest and largest per-kernel K.
    pub k_range: Option<(u32, u32)>,
    /// Mean host time of a flush (µs), when the log has it.
    pub t_flush: Option<f64>,
    /// The timing model's latency for this run's own profile.
    pub model_latency: Option<f64>,
}

/// What one run's measured latencies say about noise, reduced from them
/// as its log is read (see `noise.rs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyFig {
    /// Size, sum, mean and sum of squared deviations (ANOVA).
    pub group: stats::GroupSummary,
    /// Sample variance (0 below 2 values).
    pub variance: f64,
    /// Spearman's rho against the inference's index (5 values or more).
    pub rho: Option<f64>,
    /// Values beyond Tukey's 1.5-IQR and 3-IQR fences.
    pub outliers: (usize, usize),
}

impl LatencyFig {
    pub fn of(l: &[f64]) -> LatencyFig {
        let rho = (l.len() >= 5)
            .then(|| {
                let idx: Vec<f64> = (0..l.len()).map(|i| i as f64).collect();
                stats::spearman(&idx, l)
            })
            .flatten();
        LatencyFig {
            group: stats::GroupSummary::of(l),
            variance: stats::variance(l),
            rho,
            outliers: stats::tukey_outliers(l),
        }
    }
}

/// Reduces runs' logs to their figures: one polars pass over all of them
/// (called with a bounded batch at a time, so that memory stays bounded),
/// in the order given.
pub fn figures_of(
    s: &Scenario,
    runs: &[(&Cell, &CellRecord, &LogDigest)],
) -> anyhow::Result<Vec<RoundFig>> {
    let indexed: Vec<(u32, &LogDigest)> = runs
        .iter()
        .enumerate()
        .map(|(i, (_, _, log))| (i as u32, *log))
        .collect();
    let (mut stats, mut samples) = cell_statistics(&indexed)?;
    Ok(runs
        .iter()
        .enumerate()
        .map(|(i, (cell, rec, log))| {
            let means = log.model_means();
            RoundFig {
                stats: stats.remove(&(i as u32)).unwrap_or_default(),
                latency: LatencyFig::of(
                    &samples
                        .remove(&(i as u32))
                        .map(|s| s.latency)
                        .unwrap_or_default(),
                ),
                k_range: means.as_ref().and_then(|m| m.k_range),
                t_flush: means.as_ref().and_then(|m| m.flush_us),
                model_latency: means
                    .as_ref()
                    .and_then(|m| kstrategy::model_latency(s, cell, Some(rec), m)),
            }
        })
        .collect())
}

impl RoundFig {
    /// The round's figure of a metric (speedup is not a figure of one
    /// run: see `Inputs::per_round`).
    pub fn value(&self, m: Metric) -> Option<f64> {
        let s = &self.stats;
        match m {
            Metric::Latency => s.latency_mean,
            Metric::TProd => s.t_prod_mean,
            Metric::TKer => s.t_ker_mean,
            Metric::TIdle => s.t_idle_mean,
            Metric::K => s.k_mean,
            Metric::Speedup => None,
        }
        .filter(|v| v.is_finite())
    }
}

/// One round's run of a cell as found on disk: its record, and its
/// figures when it has measurements.
#[derive(Debug, Clone)]
pub struct RoundRun {
    pub round: u32,
    pub record: CellRecord,
    pub fig: Option<RoundFig>,
}

impl RoundRun {
    /// The figures of an `ok` run.
    pub fn ok_fig(&self) -> Option<&RoundFig> {
        self.fig
            .as_ref()
            .filter(|_| self.record.status == Status::Ok)
    }
}

/// Everything known about the cells of a plan, for the tables.
pub struct Inputs<'a> {
    pub scenario: &'a Scenario,
    pub cells: &'a [Cell],
    /// Per cell: its runs with the current definition (same hash), by
    /// round.
    pub runs: &'a [Vec<RoundRun>],
    /// Rounds the scenario asks for.
    pub rounds: u32,
    /// Per board: the LUT of its LUT-strategy cells.
    pub luts: &'a BTreeMap<String, Lut>,
    /// Boards whose frequency settings are played on a sysfs tree while the
    /// benchmark runs on this machine at its own speed (fixtures,
    /// `sysfs_root` boards of the local transport).
    pub played_freq: &'a BTreeSet<String>,
}

impl Inputs<'_> {
    /// A cell's status over its rounds: `ok` when every run on disk is ok;
    /// otherwise the status of its first run that is not (`not_run` when
    /// none ran).
    pub fn status(&self, i: usize) -> Status {
        let runs = &self.runs[i];
        if runs.is_empty() {
            return Status::NotRun;
        }
        runs.iter()
            .map(|r| r.record.status)
            .find(|s| *s != Status::Ok)
            .unwrap_or(Status::Ok)
    }

    /// Whether a cell has at least one ok round.
    pub fn any_ok(&self, i: usize) -> bool {
        self.runs[i].iter().any(|r| r.ok_fig().is_some())
    }

    /// The figure of `metric` of cell `i` in each of its ok rounds. For
    /// `speedup`, the round's latency of the condition's `default` cell
    /// (`base`) over the cell's own, in the rounds both are ok.
    pub fn per_round(&self, i: usize, metric: Metric, base: Option<usize>) -> BTreeMap<u32, f64> {
        let own = |i: usize, m: Metric| -> BTreeMap<u32, f64> {
            self.runs[i]
                .iter()
                .filter_map(|r| Some((r.round, r.ok_fig()?.value(m)?)))
                .collect()
        };
        match metric {
            Metric::Speedup => {
                let Some(b) = base else {
                    return BTreeMap::new();
                };
                let (lat, base) = (own(i, Metric::Latency), own(b, Metric::Latency));
                lat.iter()
                    .filter_map(|(r, l)| {
                        let d = base.get(r)?;
                        (*l > 0.0 && *d > 0.0).then(|| (*r, d / l))
                    })
                    .collect()
            }
            m => own(i, m),
        }
    }
}
