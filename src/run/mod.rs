//! Running a scenario: preflight (boards, cores, frequencies), helper
//! builds, resume, one worker per board (cells of a board run one at a
//! time), then the tables. Nothing is written under `outputs/` before the
//! scenario and the preflight have passed.

pub mod activity;
pub mod attempts;
mod board_ctx;
pub mod calibrate;
pub mod cell;
pub mod events;
mod judge;
pub mod kchoice;
mod lanes;
mod lock;
mod meta;
pub mod plan_cost;
mod preflight;
pub mod prepare;
pub mod progress;
pub mod rounds;
pub mod select;
mod status;
mod tables;
mod worker;

pub use lock::{OutputLock, wait_for};
pub use prepare::{Prepared, prepare, prepare_calibrating};
pub use tables::{analyze_only, checklist_markdown, print_tables, write_tables};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::analysis::Analysis;
use crate::board::Cancel;
use crate::error::{CellsFailed, Interrupted};
use crate::layout::{self, ResultDir};
use crate::matrix::Cell;
use crate::output::atomic_write;
use crate::record::{CellRecord, Status};
use crate::scenario::Scenario;
use events::Reporter;
use lock::{backoff, per_board};
use progress::Progress;

/// Options of `klo-spec run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub output_root: PathBuf,
    pub force: bool,
    pub progress: bool,
    /// Glob patterns on cell ids (`--only`): run only the cells they match.
    pub only: Vec<String>,
    /// Run only the cells whose result (same hash) is not `ok`.
    pub rerun_failed: bool,
    /// Wait for a busy board or output folder (`--wait`), at most this
    /// long, instead of refusing.
    pub wait: Option<Duration>,
}

/// Why a run stopped starting cells before it ran them all.
#[derive(Debug, Clone, PartialEq)]
pub enum HaltReason {
    /// `on_failure: bail`: this cell ended with this status.
    Bail { id: String, status: Status },
    /// The output folder could not take a result (full, read-only).
    Storage { id: String, error: String },
}

/// Shared by the board workers: once set, no further cell starts.
#[derive(Debug, Default)]
pub struct Halt {
    set: AtomicBool,
    reason: Mutex<Option<HaltReason>>,
}

impl Halt {
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Stops the run; the first reason is kept.
    pub fn stop(&self, why: HaltReason) {
        if let Ok(mut r) = self.reason.lock() {
            r.get_or_insert(why);
        }
        self.set.store(true, Ordering::SeqCst);
    }

    pub fn reason(&self) -> Option<HaltReason> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }
}

/// The folder of a scenario's results.
pub fn output_dir(root: &Path, s: &Scenario) -> PathBuf {
    ResultDir::of_scenario(root, &s.name).root().to_path_buf()
}

/// Reads the record of a cell from a result set when it matches the cell's
/// current definition (same hash).
pub fn current_record(out_dir: &Path, cell: &Cell) -> Option<CellRecord> {
    CellRecord::read(&layout::cell_json(&ResultDir::new(out_dir).cell(&cell.id)))
        .filter(|r| r.hash == cell.hash)
}

/// What a run did.
pub struct RunReport {
    pub analysis: Analysis,
    pub out_dir: PathBuf,
    pub cells_run: usize,
    /// Cells the run was asked for (all, or those `--only` and
    /// `--rerun-failed` select).
    pub selected: usize,
    /// Selected cells without an `ok` result after the run.
    pub not_ok: usize,
    /// Why the run stopped starting cells early (`on_failure: bail`).
    pub halted: Option<HaltReason>,
    /// What a forced stop left on boards.
    pub left_behind: Vec<cell::LeftBehind>,
}

impl RunReport {
    /// The error to exit with: interrupted (130), cells failed (1), or none.
    pub fn outcome(&self, cancel: &Cancel) -> Result<()> {
        if cancel.is_cancelled() {
            let mut boards: Vec<(&str, &str)> = self
                .left_behind
                .iter()
                .map(|l| (l.board.as_str(), l.reset.as_str()))
                .collect();
            boards.sort_unstable();
            boards.dedup();
            let reset: String = boards
                .iter()
                .map(|(b, cmd)| format!("\na forced stop cut a cell's cleanup short on board `{b}`: put it back with `{cmd}`"))
                .collect();
            return Err(Interrupted(format!(
                "stopped by {}: the tables of the {} finished cells are in {}; run the same command again to continue{reset}",
                cancel.cause(),
                self.selected - self.not_ok,
                self.out_dir.display()
            ))
            .into());
        }
        if self.not_ok > 0 {
            let err = anyhow::Error::from(CellsFailed {
                failed: self.not_ok,
                total: self.selected,
            });
            return Err(match &self.halted {
                Some(HaltReason::Bail { id, status }) => err.context(format!(
                    "on_failure: bail stopped the run after {id} ended {status}; the cells after it were not started"
                )),
                _ => err,
            });
        }
        Ok(())
    }
}

/// Runs the cells of a prepared scenario and writes the tables.
pub fn run(p: &Prepared, opts: &RunOptions, cancel: &Cancel) -> Result<RunReport> {
    let s = &p.scenario;
    let out_dir = output_dir(&opts.output_root, s);
    // Bad patterns are bad input: refused before anything is touched.
    let only = select::matching(&p.cells, &opts.only)?;
    // The boards first: refusing a busy board must write nothing.
    let (board_locks, mut lost) = lock::lock_boards(p, opts, cancel)?;
    // The pre-flight next: a failing check writes nothing under outputs/.
    let preflights = preflight::boards(p, &mut lost, cancel, opts.progress)?;
    // Helpers next: a compiler failure writes nothing under outputs/.
    let helper_paths = per_board(
        p,
        &mut lost,
        cancel,
        "preparing board",
        opts.progress,
        |b| b.ensure_helpers(),
    )?;
    let _lock = wait_for(opts.wait, cancel, opts.progress, || {
        OutputLock::acquire(&out_dir)
    })?;
    let started_at = crate::host::now_rfc3339();
    let t0 = Instant::now();

    let plan = lanes::Plan::new(p, opts, &out_dir, &only);
    // The run's events go to the terminal (or nowhere but warnings under
    // `--quiet`) and to the log meta.json takes its runs and lost boards
    // from.
    let terminal: Box<dyn Reporter> = if opts.progress {
        Box::new(Progress::new(&plan.counts, true))
    } else {
        Box::new(events::Quiet)
    };
    let run_log = events::RunLog::default();
    let progress = events::Fanout(vec![terminal.as_ref(), &run_log]);
    plan.announce(&progress, p, opts);
    let halt = Halt::default();
    let left_behind: Mutex<Vec<cell::LeftBehind>> = Mutex::new(Vec::new());
    let board_runs = lanes::board_runs(p, &out_dir, &helper_paths, &halt, cancel, &plan);
    let results = lanes::run_lanes(
        p,
        &board_runs,
        &plan.schedules,
        &lost,
        &progress,
        &left_behind,
    );
    drop(board_runs);
    drop(board_locks);
    progress.finish();
    let logged = run_log.logged();
    for (board, why) in logged.lost {
        lost.entry(board).or_insert(why);
    }
    let set = ResultDir::new(&out_dir);
    let _ = std::fs::remove_dir_all(set.staging());
    let _ = std::fs::remove_dir_all(set.trash());
    if let Some(HaltReason::Storage { id, error }) = halt.reason() {
        return Err(storage_stop(p, &out_dir, plan.rounds, &id, &error));
    }

    let analysis = write_tables(p, &out_dir).with_context(|| {
        format!(
            "the cells are on disk in {}, the tables could not be written: fix that, then `klo-spec analyze` writes them",
            out_dir.display()
        )
    })?;
    let by_status = status_counts(p, &out_dir);
    let halted = halt.reason();
    let (environment, env_changes) = meta::environments(p, &out_dir, &preflights, &results);
    let facts = meta::Facts {
        helper_paths: &helper_paths,
        lost: &lost,
        preflights: &preflights,
        environment,
        env_changes,
        plan: &plan,
        started_at,
        t0,
        runs_run: logged.runs,
        halted: &halted,
        by_status,
    };
    let meta = meta::build(p, opts, cancel, facts);
    atomic_write(&set.meta_json(), meta.to_text()?.as_bytes())?;

    let resume = &plan.resume;
    let not_ok = not_ok_runs(p, &out_dir, &plan);
    Ok(RunReport {
        analysis,
        out_dir,
        cells_run: results.len(),
        selected: resume.selected,
        not_ok,
        halted,
        left_behind: left_behind.into_inner().unwrap_or_else(|e| e.into_inner()),
    })
}

/// The error of a run stopped because a result could not be stored.
fn storage_stop(p: &Prepared, out_dir: &Path, rounds: u32, id: &str, error: &str) -> anyhow::Error {
    // Runs live per round (`cells/<id>/r<round>/`).
    let kept = p
        .cells
        .iter()
        .flat_map(|c| (1..=rounds).map(move |r| rounds::round_cell(c, r, 0)))
        .filter(|c| current_record(out_dir, c).is_some_and(|r| r.status == Status::Ok))
        .count();
    anyhow::anyhow!(
        "the result of {id} could not be stored in {}: {error}\nthe run stopped there: no further cell was started, the boards were cleaned up, and the {kept} finished runs on disk are intact (the tables were not rewritten); free space or make the folder writable, then run the same command again to continue",
        out_dir.display()
    )
}

/// The runs this run selected whose current result is not `ok`.
fn not_ok_runs(p: &Prepared, out_dir: &Path, plan: &lanes::Plan) -> usize {
    (0..p.cells.len())
        .flat_map(|cell| (1..=plan.rounds).map(move |round| rounds::Unit { cell, round }))
        .filter(|u| {
            plan.resume.counts(*u)
                && current_record(out_dir, &rounds::round_cell(&p.cells[u.cell], u.round, 0))
                    .is_none_or(|r| r.status != Status::Ok)
        })
        .count()
}

/// Runs (cell and round) per status.
fn status_counts(p: &Prepared, out_dir: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in &p.cells {
        for round in 1..=p.scenario.rounds {
            let s = current_record(out_dir, &rounds::round_cell(c, round, 0))
                .map(|r| r.status)
                .unwrap_or(Status::NotRun);
            *m.entry(s.to_string()).or_insert(0) += 1;
        }
    }
    m
}

/// Counts of cells per board, for `plan`.
pub fn cells_per_board(cells: &[Cell]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for c in cells {
        *m.entry(c.coord.board.as_str()).or_insert(0) += 1;
    }
    m
}
