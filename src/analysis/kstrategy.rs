//! The K columns of summary.csv and the research table kstrategy.csv.
//!
//! - `k`: the K a cell ran with: the plan's (default, fixed, sweep), the one
//!   chosen from the LUT (constant), or K_answer (search); empty when K
//!   varies within an inference (static, dynamic: see `k_range`).
//! - `k_range`: the smallest and largest per-kernel K over the measured
//!   inferences (a dynamic cell shows K changing here).
//! - `model_latency_us`: the timing model's latency for the cell's own
//!   per-kernel mean T_prod and T_ker, its mean flush time (f), the probe's
//!   submission latency (L, thread device; 0 on OpenCL, whose own latency
//!   the model does not know) and its schedule (fixed K or the static
//!   schedule; none for dynamic).
//! - kstrategy.csv: per board, load, frequencies and network: K_opt (the
//!   LUT's K for the condition's own `default` cell), K_answer (the sweep's
//!   or search's best), their latencies, and the gap.

use std::collections::BTreeMap;

use super::checks::{Comparison, Verdict};
use crate::kstrategy::model::{self, Costs, Profile};
use crate::matrix::Cell;
use crate::matrix::groups::condition_key;
use crate::record::CellRecord;
use crate::rows::KstrategyRow;
use crate::scenario::CheckKind;
use crate::scenario::raw::ProfileKind;
use crate::scenario::{Benchmark, Scenario, Strategy};

/// Per-kernel means over the measured inferences, the mean flush time and
/// the range of K: [`crate::ingest::digest::LogDigest::model_means`].
pub use crate::ingest::digest::ModelMeans as KernelMeans;

/// The K a cell ran with, for the `k` column (see the module docs).
pub fn k_used(cell: &Cell, rec: Option<&CellRecord>) -> Option<u32> {
    if cell.k > 0 {
        return Some(cell.k);
    }
    let rec = rec?;
    match &cell.coord.strategy {
        Strategy::Search(_) => rec.search.as_ref().map(|s| s.k_answer),
        Strategy::Constant(_) => rec.k_choice.as_ref().and_then(|c| c.k),
        _ => None,
    }
}

/// The model's latency for a cell (see the module docs).
pub fn model_latency(
    s: &Scenario,
    cell: &Cell,
    rec: Option<&CellRecord>,
    means: &KernelMeans,
) -> Option<f64> {
    let submit_us = match &s.benchmark {
        Benchmark::Probe(p) if rec.and_then(|r| r.device.as_deref()) == Some("thread") => {
            p.submit_us as f64
        }
        _ => 0.0,
    };
    let costs = Costs {
        flush_us: means.flush_us.unwrap_or(0.0),
        submit_us,
    };
    let profile = Profile {
        t_prod: means.prod.clone(),
        t_ker: means.ker.clone(),
    };
    let flush = match (&cell.coord.strategy, rec) {
        (Strategy::Static(_), Some(r)) => {
            let mut f = vec![false; means.prod.len()];
            let mut at = 0usize;
            for b in r
                .k_choice
                .as_ref()
                .map(|c| c.batches.clone())
                .unwrap_or_default()
            {
                at += b as usize;
                if let Some(x) = f.get_mut(at.wrapping_sub(1)) {
                    *x = true;
                }
            }
            f
        }
        (Strategy::Dynamic, _) => return None,
        _ => model::fixed_schedule(means.prod.len(), k_used(cell, rec)?),
    };
    Some(model::latency(&profile, &flush, costs))
}

/// Within this relative latency difference, K_opt counts as close to
/// K_answer (`k_opt_close`: an equivalence test on the per-round
/// latencies of the two cells, at `CLOSE_ALPHA`).
pub const CLOSE_TOLERANCE: f64 = 0.05;
pub const CLOSE_ALPHA: f64 = 0.05;

/// (K, mean latency, cell index).
type Run = (u32, f64, usize);

/// One condition's cells, as kstrategy.csv needs them.
#[derive(Default)]
struct Condition {
    k_answer: Option<Run>,
    default: Option<usize>,
    /// The `{constant: {profile: baseline}}` cell: it ran K_opt.
    constant: Option<usize>,
    by_k: BTreeMap<u32, (f64, usize)>,
}

/// What kstrategy.csv reads of the cells: per cell, its latency by ok
/// round and the K it ran with in all its rounds.
struct Latencies<'a> {
    inp: &'a super::Inputs<'a>,
    latency: &'a [BTreeMap<u32, f64>],
}

impl Latencies<'_> {
    /// The K cell `i` ran with in all its rounds (a constant cell may
    /// choose another K in another round: then it has none).
    fn k_of(&self, i: usize) -> Option<u32> {
        let ks: std::collections::BTreeSet<u32> = self.inp.runs[i]
            .iter()
            .filter_map(|r| k_used(&self.inp.cells[i], Some(&r.record)))
            .collect();
        (ks.len() == 1).then(|| *ks.iter().next().unwrap_or(&0))
    }

    fn mean_of(&self, i: usize) -> Option<f64> {
        let v: Vec<f64> = self.latency[i].values().copied().collect();
        (!v.is_empty()).then(|| super::stats::mean(&v))
    }

    /// The cells grouped by condition.
    fn conditions(&self) -> BTreeMap<String, Condition> {
        let mut rows: BTreeMap<String, Condition> = BTreeMap::new();
        for (i, cell) in self.inp.cells.iter().enumerate() {
            let row = rows.entry(condition_key(cell)).or_default();
            let Some(lat) = self.mean_of(i) else {
                continue;
            };
            match &cell.coord.strategy {
                Strategy::Default => row.default = Some(i),
                Strategy::Constant(f)
                    if f.profile == ProfileKind::Baseline
                        && f.cpu_freq.is_none()
                        && f.gpu_freq.is_none() =>
                {
                    row.constant = Some(i)
                }
                _ => {}
            }
            if let Some(k) = self.k_of(i) {
                row.by_k.entry(k).or_insert((lat, i));
                let answers = matches!(
                    cell.coord.strategy,
                    Strategy::Sweep(_) | Strategy::Search(_)
                );
                if answers && row.k_answer.is_none_or(|(_, best, _)| lat < best) {
                    row.k_answer = Some((k, lat, i));
                }
            }
        }
        rows
    }

    /// Is K_opt close to K_answer? The same K is; otherwise the two cells'
    /// per-round latencies are tested for equivalence. The verdict, the
    /// test and its p-value.
    fn close(
        &self,
        k_opt: Option<u32>,
        opt: Option<(f64, usize)>,
        k_answer: Option<Run>,
    ) -> (Option<Verdict>, String, Option<f64>) {
        match (k_opt, opt, k_answer) {
            (Some(ko), _, Some((ka, _, _))) if ko == ka => {
                (Some(Verdict::Pass), "same K".to_string(), None)
            }
            (_, Some((_, oi)), Some((_, _, ai))) => {
                match Comparison::new(&self.latency[oi], &self.latency[ai]) {
                    Some(c) => {
                        let (p, _) = c.p_values(CheckKind::Similar, CLOSE_TOLERANCE);
                        let (v, _) = c.decide(
                            CheckKind::Similar,
                            CLOSE_TOLERANCE,
                            CLOSE_ALPHA,
                            p,
                            f64::NAN,
                        );
                        (Some(v), format!("tost, {}", c.name()), Some(p))
                    }
                    None => (
                        Some(Verdict::Inconclusive),
                        "too few rounds".to_string(),
                        None,
                    ),
                }
            }
            _ => (None, String::new(), None),
        }
    }
}

/// kstrategy.csv: one row per condition that has a K_answer or a K_opt.
/// `latency[i]` is cell i's latency by ok round, `profile[i]` its mean
/// T_prod and T_ker over rounds.
pub fn table(
    inp: &super::Inputs,
    latency: &[BTreeMap<u32, f64>],
    profile: &BTreeMap<usize, (f64, f64)>,
) -> Vec<KstrategyRow> {
    let cells = Latencies { inp, latency };
    let mut out = Vec::new();
    for (condition, row) in cells.conditions() {
        let stats = row.default.and_then(|d| profile.get(&d).copied());
        let board = condition.split('/').next().unwrap_or("");
        let lut = inp.luts.get(board);
        let k_opt = stats.zip(lut).map(|((p, k), l)| l.lookup(p, k).k);
        if k_opt.is_none() && row.k_answer.is_none() {
            continue;
        }
        // The cell that ran K_opt: the constant-K cell when it did (its
        // profile is the default cell), else any cell with that K.
        let opt = k_opt.and_then(|k| {
            row.constant
                .filter(|&c| cells.k_of(c) == Some(k))
                .and_then(|c| cells.mean_of(c).map(|l| (l, c)))
                .or_else(|| row.by_k.get(&k).copied())
        });
        let lat_opt = opt.map(|o| o.0);
        let gap = lat_opt
            .zip(row.k_answer)
            .map(|(o, (_, a, _))| 100.0 * (o / a - 1.0));
        let (verdict, test, p) = cells.close(k_opt, opt, row.k_answer);
        out.push(KstrategyRow {
            condition,
            k_opt,
            lut: lut.map(|l| l.hash.clone()).unwrap_or_default(),
            latency_k_opt_us: lat_opt,
            k_answer: row.k_answer.map(|(k, _, _)| k),
            latency_k_answer_us: row.k_answer.map(|(_, l, _)| l),
            gap_pct: gap,
            k_opt_close: verdict,
            test,
            p_value: p,
            t_prod_mean_us: stats.map(|s| s.0),
            t_ker_mean_us: stats.map(|s| s.1),
        });
    }
    out
}
