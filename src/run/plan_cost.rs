//! What `plan` says about cost and power before anything runs: the runs a
//! scenario makes (cells x rounds), how long they should take when earlier
//! results of the scenario exist (their runs' wall times), what differences
//! its rounds can detect at the noise those results showed, and checks its
//! design can never decide.

use std::path::Path;

use super::{Prepared, rounds};
use crate::analysis::checks::POWER;
use crate::analysis::stats;
use crate::layout::{self, ResultDir};
use crate::record::{CellRecord, Status};

/// The plan's cost and what it can decide.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanCost {
    /// Seconds the whole plan should take (the slowest lane), when earlier
    /// results give run times.
    pub estimated_s: Option<f64>,
    /// Lines for the terminal.
    pub lines: Vec<String>,
    /// Designs that cannot decide their checks.
    pub warnings: Vec<String>,
}

fn human(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// Estimates the plan `p` from the results in `out_dir` (its output
/// folder), if any.
pub fn estimate(p: &Prepared, out_dir: &Path) -> PlanCost {
    let s = &p.scenario;
    let mut cost = PlanCost::default();
    let checks = s.checks.len();
    if s.rounds < 2 && (checks > 0 || s.noise_floor == crate::scenario::raw::NoiseFloor::Auto) {
        cost.warnings.push(format!(
            "with rounds: {} no check can ever decide: a check tests per-round figures and needs 2 rounds a side (its verdicts will all be INCONCLUSIVE); set `rounds:` to 2 or more (default {}) or pass --rounds",
            s.rounds,
            crate::scenario::raw::DEFAULT_ROUNDS
        ));
    }
    // Earlier runs of each cell (any definition: a run time is a run time).
    let mut per_cell: Vec<Option<f64>> = Vec::with_capacity(p.cells.len());
    let mut done = 0usize;
    for c in &p.cells {
        let set = ResultDir::new(out_dir);
        let mut walls = Vec::new();
        for r in set.rounds(&c.id) {
            let Some(rec) = CellRecord::read(&layout::cell_json(&set.run(&c.id, r))) else {
                continue;
            };
            if rec.hash == c.hash && rec.status == Status::Ok && r <= s.rounds {
                done += 1;
            }
            if rec.status != Status::Interrupted && rec.wall_s > 0.0 {
                walls.push(rec.wall_s);
            }
        }
        per_cell.push((!walls.is_empty()).then(|| stats::mean(&walls)));
    }
    let known: Vec<f64> = per_cell.iter().flatten().copied().collect();
    if !known.is_empty() {
        let typical = stats::median(&known);
        let lanes = rounds::lanes(p.boards.values().map(|b| b.config()));
        let lane_s = |lane: &Vec<String>| -> f64 {
            p.cells
                .iter()
                .zip(&per_cell)
                .filter(|(c, _)| lane.contains(&c.coord.board))
                .map(|(_, w)| w.unwrap_or(typical) * s.rounds as f64)
                .sum()
        };
        let total = lanes.iter().map(lane_s).fold(0.0, f64::max);
        cost.estimated_s = Some(total);
        let runs = p.cells.len() * s.rounds as usize;
        cost.lines.push(format!(
            "estimated time: {} for all {runs} runs ({} still to run), from {} earlier run(s) of {} of these cells in {} (a run takes {:.2} s typically); boards on this machine run one after the other",
            human(total),
            runs.saturating_sub(done),
            known.len(),
            per_cell.iter().filter(|w| w.is_some()).count(),
            out_dir.display(),
            typical
        ));
    }
    // What the rounds can detect, at the noise of the earlier results.
    let cv: Vec<f64> = std::fs::read(ResultDir::new(out_dir).file(layout::SUMMARY_CSV))
        .ok()
        .and_then(|b| crate::results::parse_csv(&b).ok())
        .map(|t| {
            let c = t.column("latency_cv_between_pct");
            t.rows
                .iter()
                .filter_map(|r| r[c?].parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .collect()
        })
        .unwrap_or_default();
    if !cv.is_empty() && s.rounds >= 2 {
        let cv = stats::median(&cv) / 100.0;
        // A paired difference of two cells: twice one cell's variance.
        let sd_d = (2.0f64).sqrt() * cv;
        let df = (s.rounds - 1) as f64;
        let alpha = s.checks.first().map_or(0.05, |c| c.alpha);
        let mde = (stats::t_quantile(df, 1.0 - alpha / 2.0) + stats::t_quantile(df, POWER)) * sd_d
            / (s.rounds as f64).sqrt();
        cost.lines.push(format!(
            "power: at the between-round noise of the earlier results (median CV {:.1}% of latency), {} rounds detect a latency difference of about {:.0}% (power {POWER}, alpha {alpha}, two-sided); smaller effects come out INCONCLUSIVE",
            100.0 * cv,
            s.rounds,
            100.0 * (mde.exp() - 1.0)
        ));
    }
    cost
}
