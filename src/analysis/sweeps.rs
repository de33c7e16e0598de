//! K sweeps and searches: per sweep (or search) and condition, the K with
//! the lowest mean latency over rounds (K_answer), in how many rounds that
//! K was also the round's own best, its speedup over the condition's
//! `default` cell (geometric mean of per-round speedups), and the runs it
//! took (a sweep: one per K and round; a search: its runs against those a
//! sweep of 1..=k_max would make).

use std::collections::BTreeMap;

use super::Inputs;
use super::stats;
use crate::axes::strategy_label;
use crate::matrix::groups::condition_key;
use crate::rows::SweepRow;
use crate::scenario::Strategy;

/// The geometric mean of a default cell's latency over a cell's, in the
/// rounds both have.
fn speedup(base: Option<&BTreeMap<u32, f64>>, lat: &BTreeMap<u32, f64>) -> Option<f64> {
    let base = base?;
    let logs: Vec<f64> = lat
        .iter()
        .filter_map(|(r, l)| Some((base.get(r)? / l).ln()))
        .filter(|v| v.is_finite())
        .collect();
    (!logs.is_empty()).then(|| stats::mean(&logs).exp())
}

fn mean(m: &BTreeMap<u32, f64>) -> Option<f64> {
    (!m.is_empty()).then(|| stats::mean(&m.values().copied().collect::<Vec<_>>()))
}

/// One row per sweep and condition: the K with the lowest mean latency.
/// `latency[i]`: cell i's latency by ok round; `base(i)`: its condition's
/// `default` cell.
pub(super) fn sweeps(
    inp: &Inputs,
    latency: &[BTreeMap<u32, f64>],
    base: &dyn Fn(usize) -> Option<usize>,
) -> Vec<SweepRow> {
    // Per sweep: its condition's default cell and its cells (K, index).
    type Sweeps = BTreeMap<String, (Option<usize>, Vec<(u32, usize)>)>;
    let mut groups: Sweeps = Default::default();
    for (i, cell) in inp.cells.iter().enumerate() {
        if !matches!(cell.coord.strategy, Strategy::Sweep(_)) {
            continue;
        }
        let key = format!(
            "{}/{}",
            condition_key(cell),
            strategy_label(&cell.coord.strategy)
        );
        let entry = groups.entry(key).or_insert_with(|| (base(i), Vec::new()));
        entry.1.push((cell.k, i));
    }
    let mut rows: Vec<SweepRow> = groups
        .into_iter()
        .map(|(key, (def, ks))| sweep_row(inp, latency, key, def, &ks))
        .collect();
    for (i, cell) in inp.cells.iter().enumerate() {
        if let Strategy::Search(spec) = &cell.coord.strategy {
            rows.push(search_row(inp, latency, base, i, spec.k_max));
        }
    }
    rows.sort_by(|a, b| a.sweep.cmp(&b.sweep));
    rows
}

/// The row of one sweep: `ks` its cells (K, index), `def` its condition's
/// default cell.
fn sweep_row(
    inp: &Inputs,
    latency: &[BTreeMap<u32, f64>],
    key: String,
    def: Option<usize>,
    ks: &[(u32, usize)],
) -> SweepRow {
    let means: Vec<(u32, usize, Option<f64>)> =
        ks.iter().map(|&(k, i)| (k, i, mean(&latency[i]))).collect();
    let best = means
        .iter()
        .filter_map(|(k, i, l)| l.map(|l| (*k, *i, l)))
        .min_by(|a, b| a.2.total_cmp(&b.2));
    // Each round's own best K, over the K measured ok in that round.
    let mut per_round: BTreeMap<u32, (u32, f64)> = BTreeMap::new();
    for &(k, i) in ks {
        for (&r, &l) in &latency[i] {
            let e = per_round.entry(r).or_insert((k, l));
            if l < e.1 {
                *e = (k, l);
            }
        }
    }
    let agree = best.map(|(k, _, _)| per_round.values().filter(|(b, _)| *b == k).count());
    let base_lat = def.map(|d| &latency[d]);
    let ok = means.iter().filter(|(_, _, l)| l.is_some()).count();
    let runs: usize = ks.iter().map(|&(_, i)| inp.runs[i].len()).sum();
    SweepRow {
        sweep: key,
        k_values: ks
            .iter()
            .map(|(k, _)| k.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        k_answer: best.map(|(k, _, _)| k),
        k_answer_rounds: agree
            .map(|a| format!("{a}/{}", per_round.len()))
            .unwrap_or_default(),
        latency_mean_us: best.map(|b| b.2),
        default_latency_mean_us: base_lat.and_then(mean),
        speedup: best.and_then(|(_, i, _)| speedup(base_lat, &latency[i])),
        cells_ok: format!("{ok}/{}", ks.len()),
        runs: runs.to_string(),
        k_opt: None,
    }
}

/// The row of the search cell `i` (searching K up to `k_max`).
fn search_row(
    inp: &Inputs,
    latency: &[BTreeMap<u32, f64>],
    base: &dyn Fn(usize) -> Option<usize>,
    i: usize,
    k_max: u32,
) -> SweepRow {
    let cell = &inp.cells[i];
    // Each ok round's search found its own K_answer.
    let answers: Vec<(u32, u32)> = inp.runs[i]
        .iter()
        .filter(|r| r.ok_fig().is_some())
        .filter_map(|r| Some((r.round, r.record.search.as_ref()?.k_answer)))
        .collect();
    let searched: BTreeMap<u32, ()> = inp.runs[i]
        .iter()
        .filter_map(|r| r.record.search.as_ref())
        .flat_map(|s| s.means.keys().map(|k| (*k, ())))
        .collect();
    let mut count: BTreeMap<u32, usize> = BTreeMap::new();
    for (_, k) in &answers {
        *count.entry(*k).or_default() += 1;
    }
    // The most frequent answer (the smallest K on a tie).
    let mode = count
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(k, n)| (*k, *n));
    let (runs, sweep_runs) = inp.runs[i]
        .iter()
        .filter_map(|r| r.record.search.as_ref())
        .fold((0, 0), |acc, s| {
            (acc.0 + s.runs, acc.1 + s.sweep_runs.max(k_max as usize))
        });
    let base_lat = base(i).map(|d| &latency[d]);
    SweepRow {
        sweep: format!(
            "{}/{}",
            condition_key(cell),
            strategy_label(&cell.coord.strategy)
        ),
        k_values: searched
            .keys()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        k_answer: mode.map(|(k, _)| k),
        k_answer_rounds: mode
            .map(|(_, n)| format!("{n}/{}", answers.len()))
            .unwrap_or_default(),
        latency_mean_us: mean(&latency[i]),
        default_latency_mean_us: base_lat.and_then(mean),
        speedup: speedup(base_lat, &latency[i]),
        cells_ok: format!("{}/{}", answers.len(), inp.runs[i].len()),
        runs: format!("{runs}/{sweep_runs}"),
        k_opt: None,
    }
}
