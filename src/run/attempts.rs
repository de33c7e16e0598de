//! Attempts of a cell: which failures are tried again, where failed
//! attempts are kept, what a full or read-only output folder does, and what
//! a runner killed mid-cell left behind.
//!
//! Two layers retry. Inside one attempt, a dropped connection is re-sent up
//! to the board inventory's `retries` (the transport's layer). Across
//! attempts, a cell that ended in a way the scenario's `retry_on` names is
//! run again up to the scenario's `retries`. Every try that is not the
//! cell's last is kept in `cells/<id>/attempts/<n>/` with its own
//! `cell.json`, moved there together with the last one, in one step.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::cell::{self, Attempt, Outcome, Placed};
use crate::layout::{self, ResultDir};
use crate::matrix::Cell;
use crate::record::{AttemptSummary, CellRecord, Status};
use crate::scenario::RetryOn;

/// Which layer tried an attempt again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetriedBy {
    /// The board inventory's `retries`: the connection dropped.
    Transport,
    /// The scenario's `retries` and `retry_on`.
    Scenario,
    /// The scenario's `thermal.redo_throttled`.
    Throttled,
}

impl RetriedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            RetriedBy::Transport => "transport",
            RetriedBy::Scenario => "scenario",
            RetriedBy::Throttled => "redo_throttled",
        }
    }
}

/// True when `e` comes from a file system that cannot take more: full
/// (ENOSPC, EDQUOT) or read-only (EROFS). Trying more cells then only
/// wastes board time, so the run stops.
pub fn is_storage_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|n| matches!(n, libc::ENOSPC | libc::EDQUOT | libc::EROFS))
    })
}

/// How an attempt failed, in `retry_on`'s words; `None` for an attempt that
/// is not retried whatever the scenario says (ok, interrupted, setup
/// failures, dying loads, frequency mismatches, runner errors).
pub fn failure_kind(a: &Attempt) -> Option<RetryOn> {
    if a.unreachable.is_some() {
        return Some(RetryOn::Lost);
    }
    match a.record.status {
        Status::Timeout => Some(RetryOn::Timeout),
        Status::Failed => Some(RetryOn::Crash),
        Status::Incomplete => Some(RetryOn::Incomplete),
        _ => None,
    }
}

/// Puts a cell's last attempt in place as `cells/<id>`, with the earlier
/// ones of this run in its `attempts/<n>/` and listed in its record. An
/// interrupted last attempt never replaces a finished result: it goes into
/// that result's `attempts/` ([`cell::place`]).
pub fn keep(
    out_dir: &Path,
    cell: &Cell,
    last: Attempt,
    earlier: Vec<(Attempt, RetriedBy)>,
) -> Outcome {
    let Attempt {
        mut record,
        log,
        unreachable,
        mut storage,
        staging,
        left,
    } = last;
    let mut kept = None;
    if storage.is_none() {
        let result = (|| -> Result<Placed> {
            let dir = layout::attempts(&staging);
            for (a, by) in &earlier {
                let n = a.record.attempt;
                std::fs::create_dir_all(&dir)?;
                std::fs::rename(&a.staging, dir.join(n.to_string()))?;
                record.earlier_attempts.push(AttemptSummary {
                    attempt: n,
                    status: a.record.status,
                    reason: a.record.reason.clone(),
                    retried_by: by.as_str().to_string(),
                    folder: layout::attempt_folder(&n.to_string()),
                });
            }
            cell::finalize(out_dir, cell, &staging, &record)
        })();
        match result {
            Ok(Placed::Result) => {}
            Ok(Placed::Aside { earlier, folder }) => {
                record.reason = Some(format!(
                    "{}; the earlier {earlier} result is kept, this run is in {folder}",
                    record.reason.take().unwrap_or_else(|| "interrupted".into())
                ));
                kept = Some((earlier, folder));
            }
            Err(e) => storage = Some(format!("{e:#}")),
        }
    }
    if let Some(why) = &storage {
        record.status = Status::Error;
        record.reason = Some(format!("the result could not be stored: {why}"));
    }
    Outcome {
        record,
        log,
        unreachable,
        storage,
        left,
        kept,
    }
}

/// A run that a killed runner left in `.staging/`, as the next run found
/// it: the cell's id, the status it recorded, and where it went.
pub struct CutOff {
    pub id: String,
    pub status: Status,
    pub placed: Placed,
}

/// What a runner that was killed left in `.staging/`: for each planned cell
/// (same id and hash), its latest leftover attempt becomes its record (the
/// attempt that was running says `interrupted`, see
/// [`cell::cut_off_reason`]), unless a finished result is in place: then
/// it is kept in that result's `attempts/`. The rest of `.staging/` is
/// removed at the end of the run.
pub fn recover_cut_off(out_dir: &Path, cells: &[Cell]) -> Vec<CutOff> {
    let Ok(entries) = std::fs::read_dir(ResultDir::new(out_dir).staging()) else {
        return Vec::new();
    };
    let planned: HashMap<&str, &Cell> = cells.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut latest: BTreeMap<String, (u32, PathBuf, CellRecord)> = BTreeMap::new();
    for e in entries.flatten() {
        let Some(rec) = CellRecord::read(&layout::cell_json(&e.path())) else {
            continue;
        };
        let Some(cell) = planned.get(rec.id.as_str()) else {
            continue;
        };
        // A finished attempt that was never put in place (the runner was
        // killed just after it) does not replace an ok result: it may have
        // been about to be retried.
        if cell.hash != rec.hash
            || (!matches!(rec.status, Status::Ok | Status::Interrupted)
                && super::current_record(out_dir, cell).is_some_and(|r| r.status == Status::Ok))
        {
            continue;
        }
        if latest
            .get(&rec.id)
            .is_none_or(|(n, _, r)| (rec.attempt, &rec.started_at) > (*n, &r.started_at))
        {
            latest.insert(rec.id.clone(), (rec.attempt, e.path(), rec));
        }
    }
    latest
        .into_iter()
        .filter_map(|(id, (_, path, rec))| {
            cell::place(out_dir, &id, &path).ok().map(|placed| CutOff {
                id,
                status: rec.status,
                placed,
            })
        })
        .collect()
}
