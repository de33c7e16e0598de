//! The run's order and its workers: every planned run scheduled per lane
//! (boards on this machine one after the other, others in parallel), one
//! thread per lane running its schedule, what each board's cells share.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use super::cell::{self, BoardRun};
use super::events::{Event, Reporter};
use super::{Halt, HaltReason, Prepared, RunOptions, attempts, kchoice, rounds, select, worker};
use crate::board::{Cancel, HelperPaths};
use crate::matrix::Cell;
use crate::record::{CellRecord, Status};

/// What the run will run and in which order.
pub(super) struct Plan {
    pub rounds: u32,
    /// Runs a killed runner left in `.staging/`, now recorded.
    pub cut_off: Vec<attempts::CutOff>,
    pub resume: select::Resume,
    pub seed: u64,
    /// `order: random` (else plan order).
    pub random: bool,
    /// Per lane: its boards and the runs it runs, in order.
    pub schedules: Vec<(Vec<String>, rounds::Schedule)>,
    /// Runs to run per board.
    pub counts: Vec<(String, usize)>,
}

impl Plan {
    /// Every planned run (each cell once per round), what resume finds
    /// done, and each lane's schedule. `only`: the cells `--only` selects.
    pub fn new(p: &Prepared, opts: &RunOptions, out_dir: &Path, only: &[bool]) -> Plan {
        let s = &p.scenario;
        let rounds = s.rounds;
        let round_cells =
            |i: usize| (1..=rounds).map(move |r| rounds::round_cell(&p.cells[i], r, 0));
        // A run killed mid-cell left its attempt in .staging/: record it.
        let planned: Vec<Cell> = (0..p.cells.len()).flat_map(round_cells).collect();
        let cut_off = attempts::recover_cut_off(out_dir, &planned);
        drop(planned);
        let resume = select::Resume::plan(
            &p.cells,
            rounds,
            out_dir,
            only,
            opts.force,
            opts.rerun_failed,
        );
        let seed = s.seed.unwrap_or_else(rounds::fresh_seed);
        let random = s.order == crate::scenario::raw::RunOrder::Random;
        // Lanes: boards on this machine one after the other, others in
        // parallel. Each lane's schedule covers all its planned cells (so
        // that a seed gives the same order whatever is already done); the
        // runs already done are skipped.
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
        Plan {
            rounds,
            cut_off,
            resume,
            seed,
            random,
            schedules,
            counts: counts.into_iter().collect(),
        }
    }

    /// Says what the run found and will do: runs cut off before, what
    /// resume skips, the order.
    pub fn announce(&self, progress: &dyn Reporter, p: &Prepared, opts: &RunOptions) {
        let (seed, resume) = (self.seed, &self.resume);
        let (recorded, aside): (Vec<&attempts::CutOff>, Vec<&attempts::CutOff>) = self
            .cut_off
            .iter()
            .partition(|c| c.placed == cell::Placed::Result);
        if !recorded.is_empty() {
            let ids: Vec<&str> = recorded.iter().map(|c| c.id.as_str()).collect();
            progress.report(&Event::Note(&format!(
                "found {} run(s) cut off when an earlier run was killed, recorded as interrupted: {}",
                recorded.len(),
                ids.join(", ")
            )));
        }
        for c in aside {
            if let cell::Placed::Aside { earlier, folder } = &c.placed {
                progress.report(&Event::Note(&format!(
                    "found a run of {} cut off when an earlier run was killed: the earlier {earlier} result is kept, the cut-off run is in its {folder}",
                    c.id
                )));
            }
        }
        progress.report(&Event::Note(&resume.summary(
            &p.scenario.name,
            p.cells.len(),
            opts,
        )));
        if !resume.to_run.is_empty() {
            progress.report(&Event::Note(&if self.random {
                format!("order: random within each round, seed {seed} (--seed {seed} replays it)")
            } else {
                "order: plan (`order: plan`): the same every round, so time and drift line up with the matrix's axes; measure with `order: random`".to_string()
            }));
        }
    }
}

/// What the cells of each board share during the run.
pub(super) fn board_runs<'a>(
    p: &'a Prepared,
    out_dir: &'a Path,
    helper_paths: &BTreeMap<String, HelperPaths>,
    halt: &'a Halt,
    cancel: &Cancel,
    plan: &Plan,
) -> BTreeMap<&'a str, BoardRun<'a>> {
    let s = &p.scenario;
    let activity = super::activity::Activity::for_this_machine();
    // This run, as the boards know it (the thermal gate's baseline).
    let run_token = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    p.boards
        .keys()
        .map(|board| {
            let b = board.as_str();
            (
                b,
                BoardRun {
                    transport: p.boards[b].as_ref(),
                    topology: &p.topologies[b],
                    helpers: helper_paths.get(b).cloned().unwrap_or(HelperPaths {
                        load: String::new(),
                        probe: String::new(),
                    }),
                    cores: p.cores[b].clone(),
                    scenario: s,
                    templates: &p.templates,
                    out_dir,
                    cancel: cancel.clone(),
                    halt,
                    seed: plan.random.then_some(plan.seed),
                    regimes: &p.regimes,
                    activity: activity
                        .clone()
                        .filter(|_| rounds::on_this_host(p.boards[b].config())),
                    reset_command: p.inventory.reset_command(b),
                    run_token: run_token.clone(),
                },
            )
        })
        .collect()
}

/// Runs every lane's schedule, a thread per lane: the records of the
/// runs (by cell index). The boards in `lost` (lost before the lanes
/// start) run nothing; a board lost on the way is reported
/// ([`Event::Lost`]); what a forced stop left on a board is added to
/// `left`.
pub(super) fn run_lanes(
    p: &Prepared,
    board_runs: &BTreeMap<&str, BoardRun>,
    schedules: &[(Vec<String>, rounds::Schedule)],
    lost: &BTreeMap<String, String>,
    progress: &dyn Reporter,
    left: &Mutex<Vec<cell::LeftBehind>>,
) -> Vec<(usize, CellRecord)> {
    let done = std::sync::atomic::AtomicUsize::new(0);
    let per_board_results: Vec<BoardResults> = std::thread::scope(|scope| {
        let handles: Vec<_> = schedules
            .iter()
            .map(|(lane, units)| {
                let done = &done;
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
    per_board_results.into_iter().flatten().collect()
}

/// A board's records (by cell index).
pub(super) type BoardResults = Vec<(usize, CellRecord)>;

/// Runs one lane's schedule in order (its boards share a machine, or it is
/// one board). A run whose board cannot be reached is tried again up to
/// the board's `retries` (`worker::execute`); after that the board is
/// lost: its remaining runs are not run, the lane's other boards go on.
/// Returns, per board of the lane, the records; what a forced stop left on
/// a board is printed at once and added to `left`.
#[allow(clippy::too_many_arguments)]
fn lane_worker(
    p: &Prepared,
    runs: &BTreeMap<&str, BoardRun>,
    lane: &[String],
    units: &[(rounds::Unit, u32)],
    lost_at_start: &BTreeMap<String, String>,
    progress: &dyn Reporter,
    done: &std::sync::atomic::AtomicUsize,
    left: &Mutex<Vec<cell::LeftBehind>>,
) -> Vec<BoardResults> {
    use std::sync::atomic::Ordering::SeqCst;
    let mut out: BTreeMap<&str, Vec<(usize, CellRecord)>> = BTreeMap::new();
    let mut lost: BTreeMap<&str, String> = BTreeMap::new();
    for board in lane {
        if let Some(why) = lost_at_start.get(board) {
            progress.report(&Event::BoardNote {
                board,
                msg: &format!("unreachable, its cells are not run: {why}"),
            });
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
            progress.report(&Event::Skipped {
                board,
                done: done.fetch_add(1, SeqCst) + 1,
                id: &c.id,
                why,
            });
            continue;
        }
        progress.report(&Event::Started { board, id: &c.id });
        let note = |msg: &str| progress.report(&Event::BoardNote { board, msg });
        let res = worker::run(r, p, u.cell, &c, &note);
        if let Some(why) = &res.unreachable {
            progress.report(&Event::Lost { board, why });
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
            progress.report(&Event::Bailed {
                board,
                id: &c.id,
                status: res.record.status,
            });
        }
        progress.report(&Event::Finished {
            board,
            done: done.fetch_add(1, SeqCst) + 1,
            record: &res.record,
            latency_us: res.latency,
        });
        if let Some(l) = res.left {
            progress.report(&Event::Warning(&l.message()));
            if let Ok(mut v) = left.lock() {
                v.push(l);
            }
        }
        out.entry(board).or_default().push((u.cell, res.record));
    }
    lane.iter()
        .map(|b| out.remove(b.as_str()).unwrap_or_default())
        .collect()
}
