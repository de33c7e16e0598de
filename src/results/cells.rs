//! The raw runs of a result set on disk (`cells/<id>/r<round>/bench.log`
//! and `cell.json`): the kernels and inferences frames for `export`, and
//! per-kernel data for the plots.
//!
//! A round's log is used only when its `cell.json` has the hash of the
//! summary row and says `ok`: runs left from another definition must not be
//! read as the samples behind these tables.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use polars::prelude::*;
use rayon::prelude::*;

use super::ResultSet;
use crate::ingest::{self, CellLog, frames};
use crate::record::{CellRecord, Status};
use crate::run::cell::cell_path;
use crate::scenario::LogRegexes;
use crate::scenario::raw::RegexParser;

/// The logs of the cells whose measurements the summary shows.
pub struct Cells {
    /// Per log: its summary row.
    pub rows: Vec<usize>,
    /// Per log: its cell id.
    pub ids: Vec<String>,
    /// Per log: its round.
    pub rounds: Vec<u32>,
    pub logs: Vec<CellLog>,
    /// Rows with measurements whose log could not be used, and why.
    pub unusable: Vec<(String, String)>,
    /// What the cells' logs said about the device (cell.json
    /// `device_info`), per key its distinct values.
    pub devices: BTreeMap<String, BTreeSet<String>>,
}

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
        .unwrap_or(crate::board::pull::DEFAULT_FILE_MIB as u64);
    mib.saturating_mul(crate::untrusted::MIB)
}

impl Cells {
    /// Reads the logs behind the summary rows with measurements; `None`
    /// when the set has no cells (read from git, or cells/ removed).
    pub fn load(set: &ResultSet) -> Result<Option<Cells>> {
        let Some(root) = &set.cells_root else {
            return Ok(None);
        };
        let parser = log_parser(set.scenario_text.as_deref())?;
        let limit = file_limit(set.scenario_text.as_deref());
        let t = &set.summary;
        let (id_c, status_c, hash_c) = match (t.column("id"), t.column("status"), t.column("hash"))
        {
            (Some(i), Some(s), Some(h)) => (i, s, h),
            _ => anyhow::bail!("{}: summary.csv lacks id, status or hash", set.label),
        };
        type Read = Result<(CellLog, BTreeMap<String, String>), String>;
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
            .iter()
            .enumerate()
            .filter(|(_, r)| measured(r))
            .flat_map(|(i, r)| {
                round_folders(&cell_path(root, &r[id_c]))
                    .into_iter()
                    .map(move |round| (i, round))
            })
            .collect();
        let read: Vec<(usize, u32, Option<Read>)> = runs
            .par_iter()
            .map(|&(i, round)| {
                let r = &t.rows[i];
                let dir = cell_path(root, &r[id_c]).join(format!("r{round}"));
                let log = match CellRecord::read(&dir.join("cell.json")) {
                    None => Some(Err(format!("round {round}: no readable cell.json"))),
                    Some(rec) if rec.hash != r[hash_c] => Some(Err(format!(
                        "round {round}: cell.json has hash {}, the table {}",
                        rec.hash, r[hash_c]
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
                    Some(rec) => Some(
                        match ingest::read_log(
                            &rec.log_dir
                                .as_ref()
                                .map_or(dir.clone(), |d| dir.join(d))
                                .join("bench.log"),
                            parser.as_ref(),
                            limit,
                        ) {
                            Ok(log) => Ok((log, rec.device_info)),
                            Err(e) => Err(format!("round {round}: bench.log: {e}")),
                        },
                    ),
                };
                (i, round, log)
            })
            .collect();
        let mut cells = Cells {
            rows: Vec::new(),
            ids: Vec::new(),
            rounds: Vec::new(),
            logs: Vec::new(),
            unusable: Vec::new(),
            devices: BTreeMap::new(),
        };
        for (i, round, log) in read {
            let id = t.rows[i][id_c].clone();
            match log {
                None => {}
                Some(Ok((log, info))) => {
                    cells.rows.push(i);
                    cells.ids.push(id);
                    cells.rounds.push(round);
                    cells.logs.push(log);
                    for (k, v) in info {
                        if !PER_CELL_INFO.contains(&k.as_str()) {
                            cells.devices.entry(k).or_default().insert(v);
                        }
                    }
                }
                Some(Err(why)) => cells.unusable.push((id, why)),
            }
        }
        Ok(Some(cells))
    }

    fn indexed(&self) -> Vec<(u32, &CellLog)> {
        self.logs
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u32, l))
            .collect()
    }

    /// The kernels and inferences frames (see `ingest::frames`), with the
    /// cell named by its id instead of an index and a `round` column after
    /// it, in summary order, then round order.
    pub fn frames(&self) -> Result<(DataFrame, DataFrame)> {
        let (mut kernels, mut inferences) = frames::build(&self.indexed())?;
        for df in [&mut kernels, &mut inferences] {
            let idx = df.column("cell")?.u32()?.clone();
            let ids: Vec<&str> = idx
                .iter()
                .map(|i| i.map(|i| self.ids[i as usize].as_str()).unwrap_or_default())
                .collect();
            let rounds: Vec<u32> = idx
                .iter()
                .map(|i| i.map(|i| self.rounds[i as usize]).unwrap_or_default())
                .collect();
            df.replace("cell", Column::new("cell".into(), ids))?;
            df.insert_column(1, Column::new("round".into(), rounds))?;
        }
        Ok((kernels, inferences))
    }

    /// What the logs said about the device: per key, its values joined.
    pub fn device_info(&self) -> Vec<(String, String)> {
        self.devices
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().cloned().collect::<Vec<_>>().join(", ")))
            .collect()
    }

    /// Per kernel index of one cell (the cell of log `position`), over the
    /// measured inferences of all its rounds: mean T_prod (the inference's
    /// first kernel excluded: an outlier by rule), mean T_ker and mean
    /// T_idle (undefined for the first kernel).
    pub fn kernel_means(&self, position: usize) -> Result<KernelMeans> {
        let logs: Vec<(u32, &CellLog)> = (0..self.logs.len())
            .filter(|&p| self.ids[p] == self.ids[position])
            .map(|p| (p as u32, &self.logs[p]))
            .collect();
        let (kernels, _) = frames::build(&logs)?;
        let not_first = col("first").not();
        let df = kernels
            .lazy()
            .filter(col("iter").gt(lit(0)))
            .group_by([col("kernel")])
            .agg([
                col("t_prod_us")
                    .filter(not_first.clone())
                    .mean()
                    .alias("t_prod"),
                col("t_ker_us").mean().alias("t_ker"),
                col("t_idle_us").filter(not_first).mean().alias("t_idle"),
            ])
            .sort(["kernel"], SortMultipleOptions::default())
            .collect()?;
        let f = |name: &str| -> Result<Vec<Option<f64>>> {
            Ok(df
                .column(name)?
                .cast(&DataType::Float64)?
                .f64()?
                .iter()
                .collect())
        };
        Ok(KernelMeans {
            kernel: df
                .column("kernel")?
                .cast(&DataType::UInt32)?
                .u32()?
                .iter()
                .map(|k| k.unwrap_or_default())
                .collect(),
            t_prod: f("t_prod")?,
            t_ker: f("t_ker")?,
            t_idle: f("t_idle")?,
        })
    }

    /// Per log: the T_prod of every measured kernel that counts in means
    /// (warm-up inference and each inference's first kernel excluded).
    pub fn t_prod_values(&self) -> Vec<Vec<f64>> {
        self.logs
            .iter()
            .map(|log| {
                let first = log.first_kernel_flags();
                let k = &log.kernels;
                (0..k.iter.len())
                    .filter(|&i| k.iter[i] > 0 && !first[i])
                    .map(|i| k.t_prod_us[i])
                    .filter(|v| v.is_finite())
                    .collect()
            })
            .collect()
    }
}

/// The rounds of a cell folder (`r<N>` subfolders), sorted.
pub fn round_folders(dir: &std::path::Path) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name();
                    let name = name.to_str()?;
                    let n: u32 = name.strip_prefix('r')?.parse().ok()?;
                    (n >= 1 && name == format!("r{n}")).then_some(n)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Per-kernel means of one cell, by kernel index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelMeans {
    pub kernel: Vec<u32>,
    pub t_prod: Vec<Option<f64>>,
    pub t_ker: Vec<Option<f64>>,
    pub t_idle: Vec<Option<f64>>,
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
