//! Running a scenario: preflight (boards, cores, frequencies), helper
//! builds, resume, one worker per board (cells of a board run one at a
//! time), then the tables. Nothing is written under `outputs/` before the
//! scenario and the preflight have passed.

pub mod activity;
pub mod attempts;
mod board_ctx;
pub mod calibrate;
pub mod cell;
pub mod kchoice;
pub mod plan_cost;
mod preflight;
pub mod prepare;
pub mod progress;
pub mod rounds;
pub mod select;
mod tables;
mod worker;

pub use prepare::{Prepared, prepare, prepare_calibrating};
pub use tables::{analyze_only, checklist_markdown, print_tables, write_tables};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::analysis::Analysis;
use crate::board::{Cancel, format_cores, helpers};
use crate::digest::hex_sha256;
use crate::error::{Busy, CellsFailed, Interrupted};
use crate::layout::{self, ResultDir};
use crate::matrix::Cell;
use crate::output::atomic_write;
use crate::record::{CellRecord, Status};
use crate::scenario::Scenario;
use cell::BoardRun;
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

/// Holds `outputs/<name>/.lock` for the run: a second run on the same
/// results is refused with the holder's PID and host.
pub struct OutputLock {
    _file: File,
}

impl OutputLock {
    pub fn acquire(dir: &Path) -> Result<OutputLock> {
        let unwritable = |e: std::io::Error, what: &Path| -> anyhow::Error {
            anyhow::anyhow!(
                "the output folder {} cannot be written ({what}: {e}): nothing was run; make it writable, or give another folder with --output-dir",
                dir.display(),
                what = what.display()
            )
        };
        std::fs::create_dir_all(dir).map_err(|e| unwritable(e, dir))?;
        let path = ResultDir::new(dir).lock();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| unwritable(e, &path))?;
        if file.try_lock().is_err() {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(Busy {
                message: format!("another klo-spec run holds {}", dir.display()),
                holder: holder.trim().to_string(),
                hint: "wait for it to finish, or run with --wait: two runs must not write one result set at the same time".into(),
            }
            .into());
        }
        file.set_len(0).map_err(|e| unwritable(e, &path))?;
        writeln!(file, "{}", crate::host::this_process()).map_err(|e| unwritable(e, &path))?;
        Ok(OutputLock { _file: file })
    }
}

/// Runs `op` (taking a lock) until it does not say `Busy`, when `wait`
/// allows: a first `Busy` is an error without `--wait`; with it, klo-spec
/// says whom it waits for (again when the holder changes) and tries every
/// half second until `wait` has passed or the run is cancelled.
pub fn wait_for<T>(
    wait: Option<Duration>,
    cancel: &Cancel,
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    let Some(limit) = wait else { return op() };
    let t0 = Instant::now();
    let mut told = String::new();
    loop {
        let e = match op() {
            Err(e) if e.is::<Busy>() => e,
            other => return other,
        };
        let busy = e.downcast_ref::<Busy>().cloned().unwrap_or_else(|| Busy {
            message: e.to_string(),
            holder: String::new(),
            hint: String::new(),
        });
        if t0.elapsed() >= limit {
            return Err(e.context(format!(
                "gave up after waiting {} s (--wait-timeout)",
                t0.elapsed().as_secs()
            )));
        }
        if cancel.is_cancelled() {
            return Err(Interrupted(format!("while waiting: {}", busy.message)).into());
        }
        if told != busy.holder {
            eprintln!(
                "klo-spec: {} ({}); waiting for it to finish (--wait)",
                busy.message, busy.holder
            );
            told = busy.holder.clone();
        }
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until && !cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
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

/// Runs `op` and tries it again (up to `retries` times, a little later each
/// time) while the board cannot be reached; the last error otherwise.
fn with_retries<T>(
    retries: u32,
    cancel: &Cancel,
    mut on_retry: impl FnMut(u32, &str),
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        match op() {
            Err(e) if attempt < retries && !cancel.is_cancelled() && unreachable(&e).is_some() => {
                attempt += 1;
                on_retry(attempt, &unreachable(&e).unwrap_or_default());
                backoff(attempt, cancel);
            }
            other => return other,
        }
    }
}

/// What the client said when `e` is a lost board.
fn unreachable(e: &anyhow::Error) -> Option<String> {
    e.downcast_ref::<crate::board::Unreachable>()
        .map(|u| u.detail.clone())
}

/// Waits 2 s per attempt before trying a lost board again (its board-side
/// cleanup of the cut-off cell takes a few seconds); a cancellation ends
/// the wait.
pub(super) fn backoff(attempt: u32, cancel: &Cancel) {
    let until = Instant::now() + std::time::Duration::from_secs(2 * attempt as u64);
    while Instant::now() < until && !cancel.is_cancelled() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs the cells of a prepared scenario and writes the tables.
pub fn run(p: &Prepared, opts: &RunOptions, cancel: &Cancel) -> Result<RunReport> {
    let s = &p.scenario;
    let out_dir = output_dir(&opts.output_root, s);
    // Bad patterns are bad input: refused before anything is touched.
    let only = select::matching(&p.cells, &opts.only)?;
    // The boards first: refusing a busy board must write nothing. A board
    // that cannot be reached loses its cells; the others go on. Boards are
    // taken in name order, the output folder last, so two waiting runs
    // cannot hold what the other waits for.
    let mut lost: BTreeMap<String, String> = BTreeMap::new();
    let mut board_locks = Vec::new();
    for (name, b) in &p.boards {
        let retries = b.config().retries;
        let note = |n: u32, why: &str| {
            eprintln!(
                "klo-spec: board `{name}` is unreachable ({why}); trying again ({n}/{retries})"
            )
        };
        match wait_for(opts.wait, cancel, || {
            with_retries(retries, cancel, note, || b.lock())
        }) {
            Ok(l) => board_locks.push(l),
            Err(e) => match unreachable(&e) {
                Some(why) => {
                    lost.insert(name.clone(), why);
                }
                None => return Err(e),
            },
        }
    }
    // The pre-flight next: a failing check writes nothing under outputs/.
    let preflights = preflight::boards(p, &mut lost, cancel, opts.progress)?;
    // Helpers next: a compiler failure writes nothing under outputs/.
    let helper_paths = per_board(p, &mut lost, cancel, "preparing board", |b| {
        b.ensure_helpers()
    })?;
    let _lock = wait_for(opts.wait, cancel, || OutputLock::acquire(&out_dir))?;
    let started_at = crate::host::now_rfc3339();
    let t0 = Instant::now();

    // Every planned run: each cell once per round.
    let rounds = s.rounds;
    let round_cells = |i: usize| (1..=rounds).map(move |r| rounds::round_cell(&p.cells[i], r, 0));
    // A run killed mid-cell left its attempt in .staging/: record it.
    let planned: Vec<Cell> = (0..p.cells.len()).flat_map(round_cells).collect();
    let cut_off = attempts::recover_cut_off(&out_dir, &planned);
    drop(planned);
    let resume = select::Resume::plan(
        &p.cells,
        rounds,
        &out_dir,
        &only,
        opts.force,
        opts.rerun_failed,
    );
    let seed = s.seed.unwrap_or_else(rounds::fresh_seed);
    let random = s.order == crate::scenario::raw::RunOrder::Random;
    // Lanes: boards on this machine one after the other, others in
    // parallel. Each lane's schedule covers all its planned cells (so that
    // a seed gives the same order whatever is already done); the runs
    // already done are skipped.
    let lanes = rounds::lanes(p.boards.values().map(|b| b.config()));
    let to_run: HashSet<rounds::Unit> = resume.to_run.iter().copied().collect();
    let profiles = kchoice::Profiles::new(&p.cells);
    let profile_of = |i: usize| profiles.index_of(&p.cells[i]);
    let schedules: Vec<(Vec<String>, rounds::Schedule)> = lanes
        .iter()
        .map(|lane| {
            let cells: Vec<usize> = (0..p.cells.len())
                .filter(|&i| lane.contains(&p.cells[i].coord.board))
                .collect();
            let units: Vec<(rounds::Unit, u32)> =
                rounds::schedule(&cells, rounds, random.then_some(seed), &profile_of)
                    .into_iter()
                    .filter(|(u, _)| to_run.contains(u))
                    .collect();
            (lane.clone(), units)
        })
        .filter(|(_, units)| !units.is_empty())
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for u in &resume.to_run {
        *counts
            .entry(p.cells[u.cell].coord.board.clone())
            .or_default() += 1;
    }
    let counts: Vec<(String, usize)> = counts.into_iter().collect();
    let progress = Progress::new(&counts, opts.progress);
    if opts.progress {
        let (recorded, aside): (Vec<&attempts::CutOff>, Vec<&attempts::CutOff>) = cut_off
            .iter()
            .partition(|c| c.placed == cell::Placed::Result);
        if !recorded.is_empty() {
            let ids: Vec<&str> = recorded.iter().map(|c| c.id.as_str()).collect();
            progress.note(&format!(
                "found {} run(s) cut off when an earlier run was killed, recorded as interrupted: {}",
                recorded.len(),
                ids.join(", ")
            ));
        }
        for c in aside {
            if let cell::Placed::Aside { earlier, folder } = &c.placed {
                progress.note(&format!(
                    "found a run of {} cut off when an earlier run was killed: the earlier {earlier} result is kept, the cut-off run is in its {folder}",
                    c.id
                ));
            }
        }
        progress.note(&resume.summary(&s.name, p.cells.len(), opts));
        if !resume.to_run.is_empty() {
            progress.note(&if random {
                format!("order: random within each round, seed {seed} (--seed {seed} replays it)")
            } else {
                "order: plan (`order: plan`): the same every round, so time and drift line up with the matrix's axes; measure with `order: random`".to_string()
            });
        }
    }
    let halt = Halt::default();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let left_behind: Mutex<Vec<cell::LeftBehind>> = Mutex::new(Vec::new());
    let activity = activity::Activity::for_this_machine();
    // This run, as the boards know it (the thermal gate's baseline).
    let run_token = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let board_runs: BTreeMap<&str, BoardRun> =
        p.boards
            .keys()
            .map(|board| {
                let b = board.as_str();
                (
                    b,
                    BoardRun {
                        transport: p.boards[b].as_ref(),
                        topology: &p.topologies[b],
                        helpers: helper_paths.get(b).cloned().unwrap_or(
                            crate::board::HelperPaths {
                                load: String::new(),
                                probe: String::new(),
                            },
                        ),
                        cores: p.cores[b].clone(),
                        scenario: s,
                        templates: &p.templates,
                        out_dir: &out_dir,
                        cancel: cancel.clone(),
                        halt: &halt,
                        seed: random.then_some(seed),
                        regimes: &p.regimes,
                        activity: activity
                            .clone()
                            .filter(|_| rounds::on_this_host(p.boards[b].config())),
                        reset_command: p.inventory.reset_command(b),
                        run_token: run_token.clone(),
                    },
                )
            })
            .collect();
    let per_board_results: Vec<BoardResults> = std::thread::scope(|scope| {
        let handles: Vec<_> = schedules
            .iter()
            .map(|(lane, units)| {
                let (progress, done, board_runs, lost, left) =
                    (&progress, &done, &board_runs, &lost, &left_behind);
                scope.spawn(move || {
                    lane_worker(p, board_runs, lane, units, lost, progress, done, left)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .flatten()
            .collect()
    });
    for (board, _, why) in &per_board_results {
        if let Some(why) = why {
            lost.entry(board.clone()).or_insert_with(|| why.clone());
        }
    }
    let results: Vec<(usize, CellRecord)> = per_board_results
        .into_iter()
        .flat_map(|(_, r, _)| r)
        .collect();
    drop(board_locks);
    progress.finish();
    let _ = std::fs::remove_dir_all(ResultDir::new(&out_dir).staging());
    let _ = std::fs::remove_dir_all(ResultDir::new(&out_dir).trash());
    if let Some(HaltReason::Storage { id, error }) = halt.reason() {
        // Runs live per round (`cells/<id>/r<round>/`).
        let kept = p
            .cells
            .iter()
            .flat_map(|c| (1..=rounds).map(move |r| rounds::round_cell(c, r, 0)))
            .filter(|c| current_record(&out_dir, c).is_some_and(|r| r.status == Status::Ok))
            .count();
        anyhow::bail!(
            "the result of {id} could not be stored in {}: {error}\nthe run stopped there: no further cell was started, the boards were cleaned up, and the {kept} finished runs on disk are intact (the tables were not rewritten); free space or make the folder writable, then run the same command again to continue",
            out_dir.display()
        );
    }

    let analysis = write_tables(p, &out_dir).with_context(|| {
        format!(
            "the cells are on disk in {}, the tables could not be written: fix that, then `klo-spec analyze` writes them",
            out_dir.display()
        )
    })?;
    let by_status = status_counts(p, &out_dir);
    let halted = halt.reason();
    // The environment of each board: the pre-flight's reading, and what
    // the benchmark said of the device (from this run's cells, else as
    // the result set recorded it before).
    let earlier_meta: Option<serde_json::Value> =
        std::fs::read(ResultDir::new(&out_dir).meta_json())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    let earlier_env = earlier_meta
        .as_ref()
        .map(crate::preflight::environment_of)
        .unwrap_or_default();
    let mut environment: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (board, pf) in &preflights {
        let mut env = pf.environment.clone();
        let device = results
            .iter()
            .filter(|(i, _)| p.cells[*i].coord.board == *board)
            .map(|(_, r)| &r.device_info)
            .find(|d| {
                d.keys()
                    .any(|k| crate::preflight::DEVICE_ENVIRONMENT.contains(&k.as_str()))
            });
        match device {
            Some(d) => {
                for k in crate::preflight::DEVICE_ENVIRONMENT {
                    if let Some(v) = d.get(k) {
                        env.insert(format!("device.{k}"), v.clone());
                    }
                }
            }
            None => {
                if let Some(old) = earlier_env.get(board) {
                    env.extend(
                        old.iter()
                            .filter(|(k, _)| k.starts_with("device."))
                            .map(|(k, v)| (k.clone(), v.clone())),
                    );
                }
            }
        }
        environment.insert(board.clone(), env);
    }
    // A result set whose earlier runs were measured in another environment
    // (a kernel update between two sessions) says so.
    let env_changes = crate::preflight::compare_environments(&earlier_env, &environment);
    if !env_changes.is_empty() {
        eprintln!(
            "klo-spec: warning: the environment changed since the earlier runs in {} (their results are mixed with this run's in the tables; `--force` measures everything again):",
            out_dir.display()
        );
        for line in crate::preflight::describe_changes(&env_changes) {
            eprintln!("  {}", crate::text::printable_lines(&line));
        }
    }
    let meta = json!({
        "scenario": {"name": s.name, "file": s.file.display().to_string(), "sha256": hex_sha256(s.text.as_bytes())},
        "klo_spec": {"version": env!("CARGO_PKG_VERSION")},
        "host": {
            "hostname": crate::host::hostname(),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "kernel": crate::host::kernel_release(),
        },
        "boards": p.boards.keys().map(|b| (b.clone(), json!({
            "identity": p.identities[b],
            "cores": format_cores(&p.cores[b]),
            "helpers": helper_paths.get(b),
            "transport": p.boards[b].config().describe(),
            "lost": lost.get(b),
        }))).collect::<serde_json::Map<_, _>>(),
        "helpers_source_sha256": helpers::source_hash(),
        "regimes": p.regimes.iter().map(|((b, n), r)| json!({"board": b, "network": n, "regime": r.regime, "ratio": r.ratio, "ker_scale": r.ker_scale, "calibration": r.calibration})).collect::<Vec<_>>(),
        "notes": p.notes,
        "preflight": preflights.iter().map(|(b, pf)| (b.clone(), json!({
            "checks": pf.checks,
            "allowed_by": {"scenario": s.preflight.allow, "battery_min_pct": s.preflight.battery_min_pct, "free_mib": s.preflight.free_mib},
        }))).collect::<serde_json::Map<_, _>>(),
        "environment": environment,
        "templates": p.templates.overrides().iter().map(|o| o.display().to_string()).collect::<Vec<_>>(),
        "run": {
            "started_at": started_at,
            "finished_at": crate::host::now_rfc3339(),
            "wall_s": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "cells_total": p.cells.len(),
            "order": {
                "rounds": rounds,
                "seed": random.then_some(seed),
                "order": if random { "random" } else { "plan" },
                "how": "every cell once per round; within a round, a random order drawn from the seed (ChaCha8, one stream per round); profiles before the cells that take K from them",
                "lanes": schedules.iter().map(|(lane, _)| lane.clone()).collect::<Vec<_>>(),
            },
            "runs_total": p.cells.len() * rounds as usize,
            "runs_selected": resume.selected,
            "runs_run": results.len(),
            "runs_skipped": if opts.force { 0 } else { resume.done },
            "resume": {
                "done": resume.done,
                "missing": resume.missing,
                "changed": resume.changed,
                "failed_before": resume.failed,
                "cut_off": cut_off.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
                "profiles_added": resume.profiles_added,
            },
            "only": opts.only,
            "rerun_failed": opts.rerun_failed,
            "force": opts.force,
            "on_failure": match s.on_failure { crate::scenario::OnFailure::KeepGoing => "keep_going", crate::scenario::OnFailure::Bail => "bail" },
            "bailed_after": match &halted { Some(HaltReason::Bail { id, status }) => Some(json!({"id": id, "status": status})), _ => None },
            "interrupted": cancel.is_cancelled(),
            "environment_changed": env_changes,
            "by_status": by_status,
        },
    });
    atomic_write(
        &ResultDir::new(&out_dir).meta_json(),
        (serde_json::to_string_pretty(&meta)? + "\n").as_bytes(),
    )?;

    let not_ok = (0..p.cells.len())
        .flat_map(|cell| (1..=rounds).map(move |round| rounds::Unit { cell, round }))
        .filter(|u| {
            resume.counts(*u)
                && current_record(&out_dir, &rounds::round_cell(&p.cells[u.cell], u.round, 0))
                    .is_none_or(|r| r.status != Status::Ok)
        })
        .count();
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

/// Runs `op` on every board not lost, trying again while a board cannot
/// be reached (its `retries`); a board that stays unreachable is lost, any
/// other error stops the run (with `what` and the board's name).
pub(super) fn per_board<T>(
    p: &Prepared,
    lost: &mut BTreeMap<String, String>,
    cancel: &Cancel,
    what: &str,
    op: impl Fn(&dyn crate::board::Transport) -> Result<T>,
) -> Result<BTreeMap<String, T>> {
    let mut out = BTreeMap::new();
    for (name, b) in &p.boards {
        if lost.contains_key(name) {
            continue;
        }
        let retries = b.config().retries;
        let note = |n: u32, why: &str| {
            eprintln!(
                "klo-spec: board `{name}` is unreachable ({why}); trying again ({n}/{retries})"
            )
        };
        match with_retries(retries, cancel, note, || op(b.as_ref())) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(e) => match unreachable(&e) {
                Some(why) => {
                    lost.insert(name.clone(), why);
                }
                None => return Err(e.context(format!("{what} `{name}`"))),
            },
        }
    }
    Ok(out)
}

/// A board's records (by cell index) and why it was lost, if it was.
type BoardResults = (String, Vec<(usize, CellRecord)>, Option<String>);

/// Runs one lane's schedule in order (its boards share a machine, or it is
/// one board). A run whose board cannot be reached is tried again up to
/// the board's `retries` (`worker::execute`); after that the board is
/// lost: its remaining runs are not run, the lane's other boards go on.
/// Returns, per board of the lane, the records and why it was lost; what a
/// forced stop left on a board is printed at once and added to `left`.
#[allow(clippy::too_many_arguments)]
fn lane_worker(
    p: &Prepared,
    runs: &BTreeMap<&str, BoardRun>,
    lane: &[String],
    units: &[(rounds::Unit, u32)],
    lost_at_start: &BTreeMap<String, String>,
    progress: &Progress,
    done: &std::sync::atomic::AtomicUsize,
    left: &Mutex<Vec<cell::LeftBehind>>,
) -> Vec<BoardResults> {
    use std::sync::atomic::Ordering::SeqCst;
    let mut out: BTreeMap<&str, Vec<(usize, CellRecord)>> = BTreeMap::new();
    let mut lost: BTreeMap<&str, String> = BTreeMap::new();
    for board in lane {
        if let Some(why) = lost_at_start.get(board) {
            progress.board_note(board, &format!("unreachable, its cells are not run: {why}"));
            lost.insert(board, why.clone());
        }
    }
    for (u, position) in units {
        let base = &p.cells[u.cell];
        let board = base.coord.board.as_str();
        let r = &runs[board];
        if r.cancel.is_cancelled() || r.halt.is_set() {
            break;
        }
        let c = rounds::round_cell(base, u.round, *position);
        if let Some(why) = lost.get(board) {
            progress.skipped(board, done.fetch_add(1, SeqCst) + 1, &c.id, why);
            continue;
        }
        progress.started(board, &c.id);
        let note = |msg: &str| progress.board_note(board, msg);
        let res = worker::run(r, p, u.cell, &c, &note);
        if let Some(why) = &res.unreachable {
            progress.board_note(board, &format!("lost: {why}"));
            lost.insert(board, why.clone());
        }
        if let Some(error) = &res.storage {
            r.halt.stop(HaltReason::Storage {
                id: c.id.clone(),
                error: error.clone(),
            });
        } else if res.record.status != Status::Ok
            && r.scenario.on_failure == crate::scenario::OnFailure::Bail
            && !r.cancel.is_cancelled()
        {
            r.halt.stop(HaltReason::Bail {
                id: c.id.clone(),
                status: res.record.status,
            });
            progress.board_note(
                board,
                &format!(
                    "{} ended {}: on_failure: bail, no further cell starts",
                    c.id, res.record.status
                ),
            );
        }
        progress.finished(
            board,
            done.fetch_add(1, SeqCst) + 1,
            &res.record,
            res.latency,
        );
        if let Some(l) = res.left {
            progress.note(&l.message());
            if let Ok(mut v) = left.lock() {
                v.push(l);
            }
        }
        out.entry(board).or_default().push((u.cell, res.record));
    }
    lane.iter()
        .map(|b| {
            (
                b.clone(),
                out.remove(b.as_str()).unwrap_or_default(),
                lost.get(b.as_str()).cloned(),
            )
        })
        .collect()
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
