//! The tables of a result set: read every cell of the plan from disk,
//! analyze, write summary.csv, checklist.csv/.md, sweeps.csv and the
//! scenario copy atomically, and print them.

use std::path::Path;

use anyhow::Result;

use super::cell::{self, cell_path};
use super::{OutputLock, Prepared, current_record, output_dir};
use crate::analysis::{self, Analysis, Inputs};
use crate::error::UsageError;
use crate::ingest::CellLog;
use crate::output::atomic_write;
use crate::record::CellRecord;
use crate::scenario::Scenario;

/// Reads every cell of the plan from `out_dir` and writes the tables.
pub fn write_tables(p: &Prepared, out_dir: &Path) -> Result<Analysis> {
    let records: Vec<Option<CellRecord>> =
        p.cells.iter().map(|c| current_record(out_dir, c)).collect();
    let logs: Vec<Option<CellLog>> = {
        use rayon::prelude::*;
        p.cells
            .par_iter()
            .zip(records.par_iter())
            .map(|(c, r)| {
                r.as_ref()
                    .filter(|r| r.status.has_measurements())
                    .and_then(|r| {
                        // A search's log is its K_answer run's.
                        let dir = cell_path(out_dir, &c.id);
                        cell::parse_log(
                            &p.scenario,
                            &r.log_dir.as_ref().map_or(dir.clone(), |d| dir.join(d)),
                        )
                    })
            })
            .collect()
    };
    let analysis = analysis::analyze(&Inputs {
        scenario: &p.scenario,
        cells: &p.cells,
        records: &records,
        logs: &logs,
        luts: &p.luts,
    })?;
    atomic_write(
        &out_dir.join("summary.csv"),
        analysis.summary.to_csv().as_bytes(),
    )?;
    atomic_write(
        &out_dir.join("kstrategy.csv"),
        analysis.kstrategy.to_csv().as_bytes(),
    )?;
    atomic_write(
        &out_dir.join("checklist.csv"),
        analysis.checklist.to_csv().as_bytes(),
    )?;
    atomic_write(
        &out_dir.join("checklist.md"),
        checklist_markdown(&p.scenario, &analysis).as_bytes(),
    )?;
    atomic_write(
        &out_dir.join("sweeps.csv"),
        analysis.sweeps.to_csv().as_bytes(),
    )?;
    atomic_write(&out_dir.join("scenario.yaml"), p.scenario.text.as_bytes())?;
    Ok(analysis)
}

/// `checklist.md`: per check, its verdict counts, then every comparison.
pub fn checklist_markdown(s: &Scenario, a: &Analysis) -> String {
    let mut out = format!("# Checklist: {}\n\n", s.name);
    if let Some(d) = &s.description {
        out.push_str(&format!("{}\n\n", crate::text::printable_lines(d.trim())));
    }
    if a.check_totals.is_empty() {
        out.push_str("The scenario defines no checks.\n");
        return out;
    }
    out.push_str("| check | question | PASS | FAIL | INCONCLUSIVE |\n|---|---|---|---|---|\n");
    for (id, title, p, f, i) in &a.check_totals {
        let (id, title) = (crate::text::md_cell(id), crate::text::md_cell(title));
        out.push_str(&format!("| {id} | {title} | {p} | {f} | {i} |\n"));
    }
    out.push_str("\nEach row compares the per-inference samples of cell `a` and cell `b` of one group (cells that agree on every axis the check does not name). Tests: Mann-Whitney U (exact without ties up to 50 samples a side, else normal with tie correction) for differ/lower/higher, two one-sided Welch t-tests (TOST) for equivalence within the tolerance. Effect: Cliff's delta, P(a > b) - P(a < b).\n\n");
    out.push_str(&a.checklist.to_markdown());
    out
}

/// The summary columns printed on a terminal (`run`, `show`).
pub const SUMMARY_TERMINAL_COLUMNS: [&str; 9] = [
    "id",
    "status",
    "latency_mean_us",
    "t_prod_mean_us",
    "t_ker_mean_us",
    "t_idle_mean_us",
    "speedup",
    "cpu_util_pct",
    "loads_alive",
];

/// The checklist columns printed on a terminal (`run`, `show`).
pub const CHECKLIST_TERMINAL_COLUMNS: [&str; 8] = [
    "check", "group", "metric", "kind", "ratio", "p_value", "effect", "verdict",
];

/// Prints the checklist (and where the tables are) on stdout.
pub fn print_tables(a: &Analysis) {
    println!("{}", a.summary.to_terminal(&SUMMARY_TERMINAL_COLUMNS));
    if !a.sweeps.rows.is_empty() {
        println!();
        println!(
            "{}",
            a.sweeps.to_terminal(&[
                "sweep",
                "k_answer",
                "latency_mean_us",
                "speedup",
                "cells_ok"
            ])
        );
    }
    if !a.kstrategy.rows.is_empty() {
        println!();
        println!(
            "{}",
            a.kstrategy.to_terminal(&[
                "condition",
                "k_opt",
                "latency_k_opt_us",
                "k_answer",
                "latency_k_answer_us",
                "gap_pct",
                "k_opt_close",
            ])
        );
    }
    for w in &a.warnings {
        eprintln!("warning: {}", crate::text::printable_lines(w));
    }
    println!();
    if a.check_totals.is_empty() {
        println!("no checks defined");
        return;
    }
    println!("{}", a.checklist.to_terminal(&CHECKLIST_TERMINAL_COLUMNS));
    println!();
    for (id, title, p, f, i) in &a.check_totals {
        let title = crate::text::printable(title);
        println!("{id}: {title}: {p} PASS, {f} FAIL, {i} INCONCLUSIVE");
    }
}

/// Rebuilds the tables from what is on disk (`klo-spec analyze`).
pub fn analyze_only(p: &Prepared, output_root: &Path) -> Result<Analysis> {
    let out_dir = output_dir(output_root, &p.scenario);
    if !out_dir.is_dir() {
        return Err(UsageError::new(
            format!("{} does not exist: nothing to analyze", out_dir.display()),
            Some(format!(
                "run the scenario first: klo-spec run {}",
                p.scenario.file.display()
            )),
        )
        .into());
    }
    let _lock = OutputLock::acquire(&out_dir)?;
    write_tables(p, &out_dir)
}
