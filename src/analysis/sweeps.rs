//! K sweeps and searches: per sweep (or search) and condition, the K with
//! the lowest mean latency (K_answer), its speedup over the condition's
//! `default` cell, and the runs it took (a sweep: one per K; a search: its
//! runs against the K a sweep of 1..=k_max would run).

use std::collections::HashMap;

use super::{CellStats, Inputs};
use crate::matrix::coord::strategy_label;
use crate::matrix::groups::condition_key;
use crate::output::{Table, fmt_f};
use crate::record::Status;
use crate::scenario::Strategy;

pub const SWEEP_COLUMNS: [&str; 8] = [
    "sweep",
    "k_values",
    "k_answer",
    "latency_mean_us",
    "default_latency_mean_us",
    "speedup",
    "cells_ok",
    "runs",
];

/// One row per sweep and condition: the K with the lowest mean latency.
pub(super) fn sweeps(
    inp: &Inputs,
    stats: &HashMap<u32, CellStats>,
    baseline: &HashMap<String, f64>,
) -> Table {
    // Per sweep: its condition and (K, mean latency when ok).
    type Sweeps = std::collections::BTreeMap<String, (String, Vec<(u32, Option<f64>)>)>;
    let mut groups: Sweeps = Default::default();
    for (i, cell) in inp.cells.iter().enumerate() {
        let Strategy::Sweep(sw) = &cell.coord.strategy else {
            continue;
        };
        let key = format!(
            "{}/{}",
            condition_key(cell),
            strategy_label(&cell.coord.strategy)
        );
        let lat = (inp.status(i) == Status::Ok)
            .then(|| stats.get(&(i as u32)).and_then(|s| s.latency_mean))
            .flatten();
        let entry = groups
            .entry(key)
            .or_insert_with(|| (condition_key(cell), Vec::new()));
        entry.1.push((cell.k, lat));
        let _ = sw;
    }
    let mut t = Table::new(&SWEEP_COLUMNS);
    for (key, (condition, ks)) in groups {
        let best = ks
            .iter()
            .filter_map(|(k, l)| l.map(|l| (*k, l)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let base = baseline.get(&condition).copied();
        let ok = ks.iter().filter(|(_, l)| l.is_some()).count();
        t.rows.push(vec![
            key,
            ks.iter()
                .map(|(k, _)| k.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            best.map(|(k, _)| k.to_string()).unwrap_or_default(),
            fmt_f(best.map(|b| b.1), 1),
            fmt_f(base, 1),
            fmt_f(best.zip(base).map(|(b, d)| d / b.1), 3),
            format!("{ok}/{}", ks.len()),
            ks.len().to_string(),
        ]);
    }
    for (i, cell) in inp.cells.iter().enumerate() {
        let Strategy::Search(spec) = &cell.coord.strategy else {
            continue;
        };
        let Some(search) = inp.records[i].as_ref().and_then(|r| r.search.as_ref()) else {
            continue;
        };
        let ok = inp.status(i) == Status::Ok;
        let lat = search
            .means
            .get(&search.k_answer)
            .copied()
            .filter(|l| ok && l.is_finite());
        let base = baseline.get(&condition_key(cell)).copied();
        t.rows.push(vec![
            format!(
                "{}/{}",
                condition_key(cell),
                strategy_label(&cell.coord.strategy)
            ),
            search
                .means
                .keys()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            if ok {
                search.k_answer.to_string()
            } else {
                String::new()
            },
            fmt_f(lat, 1),
            fmt_f(base, 1),
            fmt_f(lat.zip(base).map(|(l, d)| d / l), 3),
            format!("{}/{}", usize::from(ok), 1),
            format!("{}/{}", search.runs, spec.k_max),
        ]);
    }
    t.rows.sort_by(|a, b| a[0].cmp(&b[0]));
    t
}
