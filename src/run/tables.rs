//! The tables of a result set: read every cell of the plan from disk,
//! analyze, write summary.csv, checklist.csv/.md, sweeps.csv and the
//! scenario copy atomically, and print them.

use std::path::Path;

use anyhow::Result;

use std::collections::BTreeSet;

use super::cell;
use super::{OutputLock, Prepared, current_record, output_dir, rounds};
use crate::analysis::{self, Analysis, Inputs, RoundRun};
use crate::error::UsageError;
use crate::ingest::LogDigest;
use crate::layout::{self, ResultDir};
use crate::output::atomic_write;
use crate::results::{CHECKLIST_TERMINAL_COLUMNS, SUMMARY_TERMINAL_COLUMNS};
use crate::rows::{self, SampleRow};
use crate::scenario::Scenario;

/// Logs read and reduced at a time by `write_tables`.
const LOG_BATCH: usize = 256;

/// A sampler's summary of one run: (cell index, round, summary).
type Sampled = (usize, u32, crate::ingest::samples::SamplesSummary);

/// Reads every run of every cell of the plan from `out_dir`, each round's
/// log reduced to its figures as soon as it is read: per cell, its runs
/// in round order, and the sampler's summaries, taken out of the records
/// before they are slimmed.
fn read_runs(p: &Prepared, out_dir: &Path) -> Result<(Vec<Vec<RoundRun>>, Vec<Sampled>)> {
    use rayon::prelude::*;
    let units: Vec<(usize, u32)> = p
        .cells
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, c)| {
            ResultDir::new(out_dir)
                .rounds(&c.id)
                .into_iter()
                .map(move |r| (i, r))
        })
        .collect();
    // In batches: the logs of a batch are read in parallel, reduced in one
    // polars pass, and dropped before the next batch is read.
    let mut runs: Vec<Vec<RoundRun>> = vec![Vec::new(); p.cells.len()];
    let mut sampled: Vec<Sampled> = Vec::new();
    for batch in units.chunks(LOG_BATCH) {
        let read: Vec<(usize, RoundRun, Option<LogDigest>)> = batch
            .par_iter()
            .filter_map(|&(i, round)| read_run(p, out_dir, i, round))
            .collect();
        let with_log: Vec<(&crate::matrix::Cell, &crate::record::CellRecord, &LogDigest)> = read
            .iter()
            .filter_map(|(i, r, log)| Some((&p.cells[*i], &r.record, log.as_ref()?)))
            .collect();
        let mut figs = analysis::figures::figures_of(&p.scenario, &with_log)?.into_iter();
        for (i, mut r, log) in read {
            if log.is_some() {
                r.fig = figs.next();
            }
            if let Some(sm) = r.record.samples.take() {
                sampled.push((i, r.round, sm));
            }
            // Its log is reduced to figures and dropped; its record kept
            // with only what the tables read.
            r.record.slim();
            runs[i].push(r);
        }
    }
    for r in &mut runs {
        r.sort_by_key(|x| x.round);
    }
    Ok((runs, sampled))
}

/// The run of cell `i` in `round`: its current record and, when it has
/// measurements, its log reduced.
fn read_run(
    p: &Prepared,
    out_dir: &Path,
    i: usize,
    round: u32,
) -> Option<(usize, RoundRun, Option<LogDigest>)> {
    let c = rounds::round_cell(&p.cells[i], round, 0);
    let record = current_record(out_dir, &c)?;
    let log = record
        .status
        .has_measurements()
        .then(|| {
            // A search's log is its K_answer run's.
            let dir = ResultDir::new(out_dir).cell(&c.id);
            cell::parse_log(
                &p.scenario,
                &record.log_dir.as_ref().map_or(dir.clone(), |d| dir.join(d)),
            )
        })
        .flatten();
    Some((
        i,
        RoundRun {
            round,
            record,
            fig: None,
        },
        log,
    ))
}

/// The boards that play frequencies on a sysfs tree while the benchmark
/// runs at this machine's speed (`local` with another `sysfs_root`).
fn played_freq(p: &Prepared) -> BTreeSet<String> {
    p.boards
        .iter()
        .filter(|(_, b)| {
            let c = b.config();
            c.transport == crate::board::inventory::TransportKind::Local
                && c.sysfs_root != Path::new("/sys")
        })
        .map(|(n, _)| n.clone())
        .collect()
}

/// Reads every run of every cell of the plan from `out_dir` (each round's
/// log reduced to its figures as soon as it is read) and writes the
/// tables.
pub fn write_tables(p: &Prepared, out_dir: &Path) -> Result<Analysis> {
    let (runs, sampled) = read_runs(p, out_dir)?;
    let analysis = analysis::analyze(&Inputs {
        scenario: &p.scenario,
        cells: &p.cells,
        runs: &runs,
        rounds: p.scenario.rounds,
        luts: &p.luts,
        played_freq: &played_freq(p),
    })?;
    let set = ResultDir::new(out_dir);
    for (name, table) in [
        (layout::SUMMARY_CSV, rows::table(&analysis.summary)),
        (layout::ROUNDS_CSV, rows::table(&analysis.rounds)),
        (layout::KSTRATEGY_CSV, rows::table(&analysis.kstrategy)),
        (layout::CHECKLIST_CSV, rows::table(&analysis.checklist)),
        (layout::SWEEPS_CSV, rows::table(&analysis.sweeps)),
        (layout::SAMPLES_CSV, rows::table(&sample_rows(p, sampled))),
    ] {
        atomic_write(&set.file(name), table.to_csv().as_bytes())?;
    }
    atomic_write(
        &set.file(layout::CHECKLIST_MD),
        checklist_markdown(&p.scenario, &analysis).as_bytes(),
    )?;
    atomic_write(&set.file(layout::SCENARIO_YAML), p.scenario.text.as_bytes())?;
    Ok(analysis)
}

/// `samples.csv`: per cell, round and sampled signal, the sampler's count,
/// min, mean and max during the benchmark (kHz, %, °C: the signal's name
/// says). Sorted by cell id and round, signals in the board's column
/// order; only a header when no run sampled anything.
pub fn sample_rows(p: &Prepared, mut sampled: Vec<Sampled>) -> Vec<SampleRow> {
    sampled.sort_by(|a, b| p.cells[a.0].id.cmp(&p.cells[b.0].id).then(a.1.cmp(&b.1)));
    sampled
        .into_iter()
        .flat_map(|(i, round, sm)| {
            sm.signals.into_iter().map(move |s| SampleRow {
                id: p.cells[i].id.clone(),
                round,
                signal: s.signal,
                n: s.n,
                min: s.min,
                mean: s.mean,
                max: s.max,
            })
        })
        .collect()
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
    for t in &a.check_totals {
        let (id, title) = (crate::text::md_cell(&t.id), crate::text::md_cell(&t.title));
        let (p, f, i) = (t.pass, t.fail, t.inconclusive);
        out.push_str(&format!("| {id} | {title} | {p} | {f} | {i} |\n"));
    }
    out.push_str(&format!("\n{METHOD}\n\n"));
    if let Some(floor) = &a.noise_floor {
        out.push_str(&format!("**Noise floor.** {floor}\n\n"));
    }
    out.push_str(&rows::table(&a.checklist).to_markdown());
    if !a.design.is_empty() {
        out.push('\n');
        for line in &a.design {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out
}

/// How the checklist decides, as its Markdown page says.
pub const METHOD: &str = "Each row compares cell `a` with cell `b` of one group (cells that agree on every axis the check does not name) on per-round figures: each round's run gives one value per metric, the mean over its measured inferences; inferences of one run are not independent samples. Test: Student's t on the log of the figures, paired by round when both cells ran ok in the same rounds (else Welch, Welch-Satterthwaite degrees of freedom); speedups are taken per round against the condition's `default` cell. `ratio` is the ratio tested, exp(mean log difference), with its 95% interval; `mean_a` and `mean_b` are geometric means over the rounds tested; `hl_ratio` the Hodges-Lehmann estimate. Verdicts use `p_holm` (Holm over the groups of a check); `q_bh` is the Benjamini-Hochberg q over the checklist. PASS: the check's hypothesis at alpha (differ: two-sided; lower/higher: one-sided; similar: the (1 - 2 alpha) interval inside the tolerance, TOST). FAIL: the (1 - 2 alpha) interval inside the tolerance (differ, lower, higher), significantly the other way (lower, higher), or entirely outside the tolerance (similar). INCONCLUSIVE rows give the minimum detectable effect at power 0.8 (`mde_pct`) and the rounds that would detect the observed effect (`rounds_needed`).";

/// Prints the checklist (and where the tables are) on stdout.
pub fn print_tables(a: &Analysis) {
    println!(
        "{}",
        rows::table(&a.summary).to_terminal(&SUMMARY_TERMINAL_COLUMNS)
    );
    if !a.sweeps.is_empty() {
        println!();
        println!(
            "{}",
            rows::table(&a.sweeps).to_terminal(&[
                "sweep",
                "k_answer",
                "k_answer_rounds",
                "latency_mean_us",
                "speedup",
                "cells_ok"
            ])
        );
    }
    if !a.kstrategy.is_empty() {
        println!();
        println!(
            "{}",
            rows::table(&a.kstrategy).to_terminal(&[
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
    if !a.noisy.is_empty() {
        println!(
            "\nnoisy cells ({}; summary.csv's noise column):\n  {}",
            a.noisy.len(),
            a.noisy.join("\n  ")
        );
    }
    println!();
    if a.check_totals.is_empty() {
        println!("no checks defined");
        return;
    }
    println!(
        "{}",
        rows::table(&a.checklist).to_terminal(&CHECKLIST_TERMINAL_COLUMNS)
    );
    println!();
    if let Some(floor) = &a.noise_floor {
        println!("{floor}");
    }
    for t in &a.check_totals {
        let title = crate::text::printable(&t.title);
        println!(
            "{}: {title}: {} PASS, {} FAIL, {} INCONCLUSIVE",
            t.id, t.pass, t.fail, t.inconclusive
        );
    }
    for line in &a.design {
        println!("{line}");
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
