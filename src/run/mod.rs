//! Running a scenario: preflight (boards, cores, frequencies), helper
//! builds, resume, one worker per board (cells of a board run one at a
//! time), then the tables. Nothing is written under `outputs/` before the
//! scenario and the preflight have passed.

mod board_ctx;
pub mod cell;
pub mod kchoice;
pub mod prepare;
pub mod progress;
mod tables;
mod worker;

pub use prepare::{Prepared, prepare};
pub use tables::{
    CHECKLIST_TERMINAL_COLUMNS, SUMMARY_TERMINAL_COLUMNS, analyze_only, checklist_markdown,
    print_tables, write_tables,
};

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;

use crate::analysis::Analysis;
use crate::board::{Cancel, format_cores, helpers};
use crate::digest::hex_sha256;
use crate::error::{CellsFailed, Interrupted, UsageError};
use crate::matrix::Cell;
use crate::output::atomic_write;
use crate::record::{CellRecord, Status};
use crate::scenario::Scenario;
use cell::{BoardRun, cell_path};
use progress::Progress;

/// Options of `klo-spec run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub output_root: PathBuf,
    pub force: bool,
    pub progress: bool,
}

/// The folder of a scenario's results.
pub fn output_dir(root: &Path, s: &Scenario) -> PathBuf {
    root.join(&s.name)
}

/// Holds `outputs/<name>/.lock` for the run: a second run on the same
/// results is refused with the holder's PID and host.
pub struct OutputLock {
    _file: File,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

impl OutputLock {
    pub fn acquire(dir: &Path) -> Result<OutputLock> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
        let path = dir.join(".lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if file.try_lock().is_err() {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(UsageError::new(
                format!(
                    "another klo-spec run holds {} ({})",
                    dir.display(),
                    holder.trim()
                ),
                Some("wait for it to finish; two runs must not write one result set".into()),
            )
            .into());
        }
        file.set_len(0)?;
        writeln!(file, "pid {} on {}", std::process::id(), hostname())?;
        Ok(OutputLock { _file: file })
    }
}

/// Reads the record of a cell from a result set when it matches the cell's
/// current definition (same hash).
pub fn current_record(out_dir: &Path, cell: &Cell) -> Option<CellRecord> {
    CellRecord::read(&cell_path(out_dir, &cell.id).join("cell.json"))
        .filter(|r| r.hash == cell.hash)
}

/// What a run did.
pub struct RunReport {
    pub analysis: Analysis,
    pub out_dir: PathBuf,
    pub cells_run: usize,
    /// Cells of the plan without an `ok` result after the run.
    pub not_ok: usize,
}

impl RunReport {
    /// The error to exit with: interrupted (130), cells failed (1), or none.
    pub fn outcome(&self, total: usize, cancel: &Cancel) -> Result<()> {
        if cancel.is_cancelled() {
            return Err(Interrupted(format!(
                "the tables of the {} finished cells are in {}; run the same command again to continue",
                total - self.not_ok,
                self.out_dir.display()
            ))
            .into());
        }
        if self.not_ok > 0 {
            return Err(CellsFailed {
                failed: self.not_ok,
                total,
            }
            .into());
        }
        Ok(())
    }
}

/// Runs the cells of a prepared scenario and writes the tables.
pub fn run(p: &Prepared, opts: &RunOptions, cancel: &Cancel) -> Result<RunReport> {
    let s = &p.scenario;
    // Helpers first: a compiler failure writes nothing under outputs/.
    let mut helper_paths = BTreeMap::new();
    for (name, b) in &p.boards {
        helper_paths.insert(
            name.clone(),
            b.ensure_helpers()
                .with_context(|| format!("preparing board `{name}`"))?,
        );
    }
    let out_dir = output_dir(&opts.output_root, s);
    // The boards first: refusing a busy board must write nothing.
    let _board_locks = p
        .boards
        .values()
        .map(|b| b.lock())
        .collect::<Result<Vec<_>>>()?;
    let _lock = OutputLock::acquire(&out_dir)?;
    let started_at = cell::now_rfc3339();
    let t0 = Instant::now();

    let mut to_run: Vec<usize> = Vec::new();
    let mut skipped = 0;
    for (i, cell) in p.cells.iter().enumerate() {
        let done =
            !opts.force && current_record(&out_dir, cell).is_some_and(|r| r.status == Status::Ok);
        if done {
            skipped += 1;
        } else {
            to_run.push(i);
        }
    }
    let progress = Progress::new(to_run.len(), opts.progress);
    if opts.progress {
        progress.note(&format!(
            "{}: {} cells, {} to run, {} already done (same hash; --force reruns them)",
            s.name,
            p.cells.len(),
            to_run.len(),
            skipped
        ));
    }

    // One worker per board; its cells run one at a time: `default` cells
    // first (the profiles), then in plan order, searches last.
    let mut per_board: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &i in &to_run {
        per_board
            .entry(p.cells[i].coord.board.as_str())
            .or_default()
            .push(i);
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(usize, CellRecord)> = std::thread::scope(|scope| {
        let handles: Vec<_> = per_board
            .into_iter()
            .map(|(board, mut indexes)| {
                worker::order(p, &mut indexes);
                let r = BoardRun {
                    transport: p.boards[board].as_ref(),
                    topology: &p.topologies[board],
                    helpers: helper_paths[board].clone(),
                    cores: p.cores[board].clone(),
                    scenario: s,
                    templates: &p.templates,
                    out_dir: &out_dir,
                    cancel: cancel.clone(),
                };
                let (progress, done) = (&progress, &done);
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for i in indexes {
                        if r.cancel.is_cancelled() {
                            break;
                        }
                        let c = &p.cells[i];
                        progress.started(&c.id);
                        let (record, latency) = worker::run(&r, p, i);
                        let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        progress.finished(n, &record, latency);
                        out.push((i, record));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    progress.finish();
    let _ = std::fs::remove_dir_all(out_dir.join(".staging"));
    let _ = std::fs::remove_dir_all(out_dir.join(".trash"));

    let analysis = write_tables(p, &out_dir)?;
    let by_status = status_counts(p, &out_dir);
    let meta = json!({
        "scenario": {"name": s.name, "file": s.file.display().to_string(), "sha256": hex_sha256(s.text.as_bytes())},
        "klo_spec": {"version": env!("CARGO_PKG_VERSION")},
        "host": {
            "hostname": hostname(),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|k| k.trim().to_string()).unwrap_or_default(),
        },
        "boards": p.boards.keys().map(|b| (b.clone(), json!({
            "identity": p.identities[b],
            "cores": format_cores(&p.cores[b]),
            "helpers": helper_paths[b],
        }))).collect::<serde_json::Map<_, _>>(),
        "helpers_source_sha256": helpers::source_hash(),
        "notes": p.notes,
        "templates": p.templates.overrides().iter().map(|o| o.display().to_string()).collect::<Vec<_>>(),
        "run": {
            "started_at": started_at,
            "finished_at": cell::now_rfc3339(),
            "wall_s": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "cells_total": p.cells.len(),
            "cells_run": results.len(),
            "cells_skipped": skipped,
            "interrupted": cancel.is_cancelled(),
            "by_status": by_status,
        },
    });
    atomic_write(
        &out_dir.join("meta.json"),
        (serde_json::to_string_pretty(&meta)? + "\n").as_bytes(),
    )?;

    let not_ok = p
        .cells
        .iter()
        .filter(|c| current_record(&out_dir, c).is_none_or(|r| r.status != Status::Ok))
        .count();
    Ok(RunReport {
        analysis,
        out_dir,
        cells_run: results.len(),
        not_ok,
    })
}

fn status_counts(p: &Prepared, out_dir: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in &p.cells {
        let s = current_record(out_dir, c)
            .map(|r| r.status)
            .unwrap_or(Status::NotRun);
        *m.entry(s.to_string()).or_insert(0) += 1;
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
