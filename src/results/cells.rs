//! The raw runs of a result set on disk (`cells/<id>/r<round>/bench.log`
//! and `cell.json`): an index of the runs whose logs are behind the
//! summary, and their logs read a bounded batch at a time, as digests (the
//! plots) or record by record (the kernels and inferences frames of
//! `export`). Nothing holds every log at once: what a reader keeps is
//! bounded by what it asks for, whatever the logs' sizes.
//!
//! A round's log is used only when its `cell.json` has the hash of the
//! summary row and says `ok`: runs left from another definition must not be
//! read as the samples behind these tables.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use rayon::prelude::*;

use super::ResultSet;
use crate::ingest::digest::{Keep, KernelProfile};
use crate::ingest::{self, LogDigest, Records};
use crate::layout::{self, ResultDir};
use crate::record::{CellRecord, Status};
use crate::scenario::LogRegexes;
use crate::scenario::raw::RegexParser;

/// The runs of a result set whose logs the summary's measurements come
/// from: an index, no log held.
pub struct Cells {
    /// Per usable run: its summary row,
    pub rows: Vec<usize>,
    /// its cell id (shared by the rounds of a cell),
    pub ids: Vec<Arc<str>>,
    /// its round,
    pub rounds: Vec<u32>,
    /// and its log.
    logs: Vec<PathBuf>,
    /// Rows with measurements whose log could not be used, and why: the
    /// first [`UNUSABLE_KEPT`] of them,
    pub unusable: Vec<(String, String)>,
    /// and how many more.
    pub unusable_more: usize,
    /// What the cells' logs said about the device (cell.json
    /// `device_info`), per key its distinct values (at most
    /// [`DEVICE_VALUES_KEPT`], then a count of the others).
    pub devices: BTreeMap<String, (BTreeSet<String>, usize)>,
    parser: Option<LogRegexes>,
    limit: u64,
}

/// Unusable runs listed by name; the rest are counted.
pub const UNUSABLE_KEPT: usize = 100;
/// Distinct values of one `device_info` key kept; the rest are counted.
pub const DEVICE_VALUES_KEPT: usize = 16;
/// Logs read at a time (in parallel) by [`Cells::each_digest`].
const LOG_BATCH: usize = 64;

/// `device_info` keys that describe one cell's run, not the device.
const PER_CELL_INFO: [&str; 5] = ["k", "net", "iters", "kernels", "probe"];

/// The regex parser of a scenario's command benchmark, if it has one (the
/// KLO v1 contract otherwise). Read from the result set's scenario copy
/// without validating the rest: its pushed files are not next to it.
pub fn log_parser(scenario_text: Option<&str>) -> Result<Option<LogRegexes>> {
    let Some(text) = scenario_text else {
        return Ok(None);
    };
    let mut v = crate::yaml::parse_value(text)
        .map_err(|e| anyhow::anyhow!("the result set's scenario.yaml is not YAML: {e}"))?;
    v.apply_merge()
        .context("the result set's scenario.yaml has a bad merge key")?;
    let Some(re) = v
        .get("benchmark")
        .and_then(|b| b.get("command"))
        .and_then(|c| c.get("parser"))
        .and_then(|p| p.get("regex"))
    else {
        return Ok(None);
    };
    let raw: RegexParser = serde_yaml::from_value(re.clone())
        .context("the result set's scenario.yaml has a malformed regex parser")?;
    let compile = |src: &str| {
        regex::Regex::new(src).with_context(|| format!("the regex parser `{src}` does not compile"))
    };
    Ok(Some(LogRegexes {
        kernel: raw.kernel.as_deref().map(compile).transpose()?,
        inference: compile(&raw.inference)?,
        end: compile(&raw.end)?,
    }))
}

/// The most bytes of a log the result set's scenario let come back from a
/// board (`pull_limits.file_mib`, or its default): a larger `bench.log` was
/// not written by klo-spec and is not read.
pub fn file_limit(scenario_text: Option<&str>) -> u64 {
    let mib = scenario_text
        .and_then(|t| crate::yaml::parse_value(t).ok())
        .and_then(|v| v.get("pull_limits")?.get("file_mib")?.as_u64())
        .unwrap_or(crate::untrusted::DEFAULT_FILE_MIB as u64);
    mib.saturating_mul(crate::untrusted::MIB)
}

/// A usable run's log and `device_info`, or why the run is not usable.
type Found = Result<(PathBuf, BTreeMap<String, String>), String>;

/// A run's log as the summary row may use it: `None` for a run that is
/// not `ok`; why not, for a run whose record or log is not usable;
/// otherwise the log's path (a regular file within `limit` bytes, not
/// read) and the record's `device_info`.
fn run_log(dir: &std::path::Path, hash: &str, round: u32, limit: u64) -> Option<Found> {
    match CellRecord::read(&layout::cell_json(dir)) {
        None => Some(Err(format!("round {round}: no readable cell.json"))),
        Some(rec) if rec.hash != hash => Some(Err(format!(
            "round {round}: cell.json has hash {}, the table {}",
            rec.hash, hash
        ))),
        Some(rec) if rec.status != Status::Ok => None,
        Some(rec)
            if rec.log_dir.as_ref().is_some_and(|d| {
                !std::path::Path::new(d)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            }) =>
        {
            Some(Err(format!(
                "round {round}: cell.json names a log folder outside the cell"
            )))
        }
        Some(rec) => {
            let path = layout::bench_log(
                &rec.log_dir
                    .as_ref()
                    .map_or(dir.to_path_buf(), |d| dir.join(d)),
            );
            // Readable as a log is read: a regular file, no
            // link followed, within the budget.
            let checked = crate::untrusted::open_regular(&path).and_then(|(_, size)| {
                if size > limit {
                    Err(crate::untrusted::too_large(size, limit))
                } else {
                    Ok(())
                }
            });
            Some(match checked {
                Ok(()) => Ok((path, rec.device_info)),
                Err(e) => Err(format!("round {round}: bench.log: {e}")),
            })
        }
    }
}

impl Cells {
    /// Indexes the runs behind the summary rows with measurements: reads
    /// their `cell.json` files and checks that each log is a regular file
    /// within the scenario's file budget, without reading it. `None` when
    /// the set has no cells (read from git, or cells/ removed).
    pub fn load(set: &ResultSet) -> Result<Option<Cells>> {
        let Some(root) = &set.cells_root else {
            return Ok(None);
        };
        let parser = log_parser(set.scenario_text.as_deref())?;
        let limit = file_limit(set.scenario_text.as_deref());
        let t = &set.summary;
        let set_dir = ResultDir::new(root);
        let (id_c, status_c, hash_c) = match (t.column("id"), t.column("status"), t.column("hash"))
        {
            (Some(i), Some(s), Some(h)) => (i, s, h),
            _ => anyhow::bail!("{}: summary.csv lacks id, status or hash", set.label),
        };
        let rounds_c = t.column("rounds");
        // A row has measurements when one of its rounds is ok (or, for a
        // set without a rounds column, when its status says so).
        let measured = |r: &Vec<String>| match rounds_c {
            Some(c) => r[c]
                .split('/')
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n > 0),
            None => r[status_c] == Status::Ok.as_str() || r[status_c] == Status::LoadDied.as_str(),
        };
        let runs: Vec<(usize, u32)> = t
            .rows
            .par_iter()
            .enumerate()
            .filter(|(_, r)| measured(r))
            .flat_map_iter(|(i, r)| {
                set_dir
                    .rounds(&r[id_c])
                    .into_iter()
                    .map(move |round| (i, round))
            })
            .collect();
        let found: Vec<(usize, u32, Option<Found>)> = runs
            .par_iter()
            .map(|&(i, round)| {
                let r = &t.rows[i];
                let log = run_log(&set_dir.run(&r[id_c], round), &r[hash_c], round, limit);
                (i, round, log)
            })
            .collect();
        let mut cells = Cells {
            rows: Vec::new(),
            ids: Vec::new(),
            rounds: Vec::new(),
            logs: Vec::new(),
            unusable: Vec::new(),
            unusable_more: 0,
            devices: BTreeMap::new(),
            parser,
            limit,
        };
        let mut last: Option<(usize, Arc<str>)> = None;
        for (i, round, log) in found {
            let id = match &last {
                Some((row, id)) if *row == i => id.clone(),
                _ => {
                    let id: Arc<str> = Arc::from(t.rows[i][id_c].as_str());
                    last = Some((i, id.clone()));
                    id
                }
            };
            match log {
                None => {}
                Some(Ok((path, info))) => {
                    cells.rows.push(i);
                    cells.ids.push(id);
                    cells.rounds.push(round);
                    cells.logs.push(path);
                    for (k, v) in info {
                        if PER_CELL_INFO.contains(&k.as_str()) {
                            continue;
                        }
                        let (values, more) = cells.devices.entry(k).or_default();
                        if values.len() < DEVICE_VALUES_KEPT || values.contains(&v) {
                            values.insert(v);
                        } else {
                            *more += 1;
                        }
                    }
                }
                Some(Err(why)) => {
                    if cells.unusable.len() < UNUSABLE_KEPT {
                        cells.unusable.push((id.to_string(), why));
                    } else {
                        cells.unusable_more += 1;
                    }
                }
            }
        }
        Ok(Some(cells))
    }

    /// True when no run's log can be read.
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }

    /// Runs indexed.
    pub fn len(&self) -> usize {
        self.logs.len()
    }

    /// Reads the logs of runs `positions` as digests, [`LOG_BATCH`] at a
    /// time in parallel, and hands each to `f` in the order given: at most
    /// a batch of digests is held.
    pub fn each_digest(
        &self,
        positions: &[usize],
        keep: Keep,
        mut f: impl FnMut(usize, std::io::Result<LogDigest>),
    ) {
        for batch in positions.chunks(LOG_BATCH) {
            let read: Vec<std::io::Result<LogDigest>> = batch
                .par_iter()
                .map(|&p| {
                    ingest::read_digest(&self.logs[p], self.parser.as_ref(), self.limit, keep)
                })
                .collect();
            for (&p, d) in batch.iter().zip(read) {
                f(p, d);
            }
        }
    }

    /// Reads the log of run `position` record by record into `sink`.
    pub fn read_into<S: Records>(&self, position: usize, sink: S) -> std::io::Result<S> {
        ingest::read_into(&self.logs[position], self.parser.as_ref(), self.limit, sink)
    }

    /// The log of run `position`.
    pub fn log_path(&self, position: usize) -> &std::path::Path {
        &self.logs[position]
    }

    /// What the logs said about the device: per key, its values joined.
    pub fn device_info(&self) -> Vec<(String, String)> {
        self.devices
            .iter()
            .map(|(k, (v, more))| {
                let mut text = v.iter().cloned().collect::<Vec<_>>().join(", ");
                if *more > 0 {
                    text.push_str(&format!(" and {more} more"));
                }
                (k.clone(), text)
            })
            .collect()
    }

    /// Per kernel position of one cell (the cell of run `position`), over
    /// the measured inferences of all its rounds: see
    /// [`KernelProfile`] (at most `ingest::digest::PROFILE_MAX` buckets,
    /// whatever the logs hold).
    pub fn kernel_profile(&self, position: usize) -> Result<KernelProfile> {
        let id = &self.ids[position];
        let of_cell: Vec<usize> = (0..self.logs.len())
            .filter(|&p| self.ids[p] == *id)
            .collect();
        let mut profile = KernelProfile::default();
        let mut failed = None;
        self.each_digest(&of_cell, Keep::default(), |p, d| match d {
            Ok(d) => profile.merge(&d.profile),
            Err(e) => {
                failed.get_or_insert(format!("{}: {e}", self.logs[p].display()));
            }
        });
        match failed {
            Some(why) => Err(anyhow::anyhow!("cannot read {why}")),
            None => Ok(profile),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regex_parser_is_read_from_the_scenario_copy() {
        let text = "name: x\nbenchmark:\n  command:\n    run: ./b\n    push: [b]\n    parser:\n      regex: {inference: 'it=(?P<iter>\\d+) (?P<latency_us>[0-9.]+)', end: done}\n";
        let re = log_parser(Some(text)).unwrap().unwrap();
        assert!(re.kernel.is_none());
        assert!(re.inference.is_match("it=3 12.5"));
        assert!(log_parser(Some("name: x\n")).unwrap().is_none());
        assert!(log_parser(None).unwrap().is_none());
    }
}
