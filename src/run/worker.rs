//! What a board's worker does with one planned cell: choose its K (LUT
//! strategies, from the profiles that ran before it in its round), run
//! it, or, for a search, run the K the search asks for one at a time.

use super::attempts::{self, RetriedBy};
use super::cell::{self, BoardRun};
use super::kchoice::{self, Choice};
use super::{Prepared, current_record};
use crate::ingest::LogDigest;
use crate::kstrategy::search;
use crate::layout::{self, ResultDir};
use crate::matrix::Cell;
use crate::record::{CellRecord, SearchRecord, Status};
use crate::scenario::Strategy;

/// Mean latency of the measured inferences of a log.
pub fn mean_latency(log: &LogDigest) -> Option<f64> {
    let v: Vec<f64> = log
        .inferences
        .iter
        .iter()
        .zip(&log.inferences.latency_us)
        .filter(|(it, _)| **it > 0)
        .map(|(_, l)| *l)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// What running one planned cell gave.
pub struct Ran {
    pub record: CellRecord,
    /// Mean latency of its measured inferences.
    pub latency: Option<f64>,
    /// The board was lost while it ran (after its retries): why.
    pub unreachable: Option<String>,
    /// Its result could not be stored (a full or read-only output folder).
    pub storage: Option<String>,
    /// A forced stop cut its cleanup short: what its board may still have.
    pub left: Option<cell::LeftBehind>,
}

/// Runs a cell until one attempt counts (see `attempts.rs`): a dropped
/// connection is sent again up to the board's `retries`, after a backoff;
/// an attempt that failed in a way the scenario's `retry_on` names is run
/// again up to the scenario's `retries`. `note` tells the user.
fn execute(
    r: &BoardRun,
    c: &Cell,
    plan: &crate::board::freqplan::FreqPlan,
    choice: &Choice,
    note: &dyn Fn(&str),
) -> cell::Outcome {
    let board_retries = r.transport.config().retries;
    let s = r.scenario;
    let mut earlier: Vec<(cell::Attempt, RetriedBy)> = Vec::new();
    let mut lost_before: Vec<String> = Vec::new();
    let mut scenario_retries = 0;
    let mut redos = 0;
    let redo_throttled = s.thermal.as_ref().map_or(0, |t| t.redo_throttled);
    loop {
        let n = earlier.len() as u32 + 1;
        let a = cell::attempt(r, c, plan, choice, n, &lost_before);
        if a.storage.is_some() || r.cancel.is_cancelled() {
            return attempts::keep(r.out_dir, c, a, earlier);
        }
        if let Some(why) = a.unreachable.clone()
            && (lost_before.len() as u32) < board_retries
        {
            lost_before.push(why.clone());
            note(&format!(
                "connection lost ({why}); trying {} again ({}/{board_retries})",
                c.id,
                lost_before.len()
            ));
            earlier.push((a, RetriedBy::Transport));
            super::backoff(lost_before.len() as u32, &r.cancel);
            continue;
        }
        if a.record.status == crate::record::Status::Throttled && redos < redo_throttled {
            redos += 1;
            note(&format!(
                "{} is throttled ({}); run again after the thermal gate's cool-down ({redos} of {redo_throttled}, thermal.redo_throttled)",
                c.id,
                a.record.reason.as_deref().unwrap_or("")
            ));
            earlier.push((a, RetriedBy::Throttled));
            continue;
        }
        match attempts::failure_kind(&a) {
            Some(kind) if s.retry_on.contains(&kind) && scenario_retries < s.retries => {
                scenario_retries += 1;
                note(&format!(
                    "{} is {} (retry_on: {}); attempt {} of {} (retries: {})",
                    c.id,
                    a.record.status,
                    kind.as_str(),
                    n + 1,
                    n + 1 + s.retries - scenario_retries,
                    s.retries
                ));
                if kind == crate::scenario::RetryOn::Lost {
                    // The board's own retries are used up: give it longer.
                    super::backoff(board_retries + scenario_retries, &r.cancel);
                }
                lost_before.clear();
                earlier.push((a, RetriedBy::Scenario));
            }
            _ => return attempts::keep(r.out_dir, c, a, earlier),
        }
    }
}

/// Runs `c`, the copy of planned cell `i` for one round: its record, its
/// mean latency, and whether the board was lost.
pub fn run(r: &BoardRun, p: &Prepared, i: usize, c: &Cell, note: &dyn Fn(&str)) -> Ran {
    if let Strategy::Search(spec) = &c.coord.strategy {
        return run_search(r, p, i, c, spec.k_max, note);
    }
    let choice = match kchoice::choose(
        &p.scenario,
        r.out_dir,
        &p.cells,
        c,
        p.luts.get(&c.coord.board),
    ) {
        Ok(ch) => ch,
        Err(why) => {
            return Ran {
                record: cell::refuse(
                    r,
                    c,
                    &p.plans[i],
                    Status::SetupFailed,
                    format!("cannot choose K: {why}"),
                ),
                latency: None,
                unreachable: None,
                storage: None,
                left: None,
            };
        }
    };
    let o = execute(r, c, &p.plans[i], &choice, note);
    let latency = o
        .log
        .as_ref()
        .filter(|_| o.record.status.has_measurements())
        .and_then(mean_latency);
    Ran {
        record: o.record,
        latency,
        unreachable: o.unreachable,
        storage: o.storage,
        left: o.left,
    }
}

/// A search's run of one K: a cell of its own, `<search id>/k<K>`, inside
/// the search's folder.
fn sub_cell(c: &Cell, k: u32) -> Cell {
    let mut sub = c.clone();
    sub.id = format!("{}/k{k}", c.id);
    sub.k = k;
    sub.strategy_slug = format!("search-k{k}");
    sub.hash = crate::digest::hex_sha256(format!("{}\0{k}", c.hash).as_bytes())[..16].to_string();
    sub
}

/// Runs a search: each K it asks for is a cell run (or a result kept from
/// an earlier run with the same hash, so an interrupted search resumes).
fn run_search(
    r: &BoardRun,
    p: &Prepared,
    i: usize,
    c: &Cell,
    k_max: u32,
    note: &dyn Fn(&str),
) -> Ran {
    let mut state = SearchRuns::default();
    let outcome = search::search(k_max, |k| state.run_k(r, p, i, c, k, note));
    let SearchRuns {
        failure,
        unreachable,
        mut storage,
        left,
        ..
    } = state;
    let answer = sub_cell(c, outcome.k_answer);
    let mut record = match (failure, current_record(r.out_dir, &answer)) {
        (Some(mut failed), _) => {
            failed.reason = Some(format!(
                "the search stopped: its run of K = {} is {}: {}",
                failed.k,
                failed.status,
                failed.reason.clone().unwrap_or_default()
            ));
            failed
        }
        (None, Some(rec)) => rec,
        (None, None) => {
            let status = if r.cancel.is_cancelled() {
                Status::Interrupted
            } else {
                Status::Error
            };
            let mut rec = cell::refuse(
                r,
                &answer,
                &p.plans[i],
                status,
                "the search made no run".into(),
            );
            rec.status = status;
            rec
        }
    };
    record.id = c.id.clone();
    record.hash = c.hash.clone();
    record.log_dir = Some(format!("k{}", outcome.k_answer));
    record.search = Some(SearchRecord {
        k_answer: outcome.k_answer,
        means: outcome.means.clone(),
        runs: outcome.runs,
        sweep_runs: outcome.sweep_runs,
    });
    if (r.cancel.is_cancelled() || r.halt.is_set()) && record.status == Status::Ok {
        record.status = Status::Interrupted;
        record.reason = Some("the search was stopped before it finished".into());
    }
    // A search stopped part-way never replaces a finished search's record.
    let earlier = CellRecord::read(&layout::cell_json(&ResultDir::new(r.out_dir).cell(&c.id)))
        .filter(|_| record.status == Status::Interrupted)
        .filter(|e| !matches!(e.status, Status::Interrupted | Status::NotRun));
    if let Some(e) = earlier {
        record.reason = Some(format!(
            "{}; the earlier {} search result is kept",
            record.reason.take().unwrap_or_default(),
            e.status
        ));
    } else if storage.is_none()
        && let Err(e) = cell::write_record(&ResultDir::new(r.out_dir).cell(&c.id), &record)
    {
        record.status = Status::Error;
        record.reason = Some(format!("{e:#}"));
        storage = Some(format!("{e:#}"));
    }
    let latency = outcome
        .means
        .get(&outcome.k_answer)
        .copied()
        .filter(|l| l.is_finite());
    Ran {
        record,
        latency,
        unreachable,
        storage,
        left,
    }
}

/// What a search's runs left behind: the first failed run, the last
/// connection or storage problem, what a forced stop left on the board,
/// and how often each K ran.
#[derive(Default)]
struct SearchRuns {
    failure: Option<CellRecord>,
    unreachable: Option<String>,
    storage: Option<String>,
    left: Option<cell::LeftBehind>,
    repeats: std::collections::BTreeMap<u32, u32>,
}

impl SearchRuns {
    /// The search's run of K: its mean latency, infinite once a run failed
    /// or the run is stopping.
    fn run_k(
        &mut self,
        r: &BoardRun,
        p: &Prepared,
        i: usize,
        c: &Cell,
        k: u32,
        note: &dyn Fn(&str),
    ) -> f64 {
        if self.failure.is_some() || r.cancel.is_cancelled() || r.halt.is_set() {
            return f64::INFINITY;
        }
        let sub = sub_cell(c, k);
        // A repeat of the same K is another run, in its own folder.
        let n = self.repeats.entry(k).and_modify(|n| *n += 1).or_insert(0);
        let sub = if *n == 0 {
            sub
        } else {
            Cell {
                id: format!("{}-r{n}", sub.id),
                hash: format!("{}{n}", &sub.hash[..15]),
                ..sub
            }
        };
        if current_record(r.out_dir, &sub).is_some_and(|r| r.status == Status::Ok)
            && let Some(lat) =
                cell::parse_log(&p.scenario, &ResultDir::new(r.out_dir).cell(&sub.id))
                    .as_ref()
                    .and_then(mean_latency)
        {
            return lat;
        }
        let o = execute(
            r,
            &sub,
            &p.plans[i],
            &Choice {
                k,
                ..Choice::default()
            },
            note,
        );
        self.unreachable = o.unreachable.clone();
        self.storage = o.storage.clone();
        if o.left.is_some() {
            self.left = o.left.clone();
        }
        match o
            .log
            .as_ref()
            .filter(|_| o.record.status == Status::Ok)
            .and_then(mean_latency)
        {
            Some(l) => l,
            None => {
                self.failure = Some(o.record);
                f64::INFINITY
            }
        }
    }
}
