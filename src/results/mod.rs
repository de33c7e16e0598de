//! A result set read back: the committed tables of `outputs/<scenario>/`
//! (summary, rounds, checklist, sweeps, kstrategy when written, meta.json,
//! scenario.yaml), from a folder or
//! from a git revision of it, and, when read from a folder that has them,
//! the raw cells (`cells/`, git-ignored) for per-inference samples and the
//! kernels frame. `diff`, `show`, `export` and `report` all start here.

pub mod cells;
#[cfg(test)]
pub mod fixture;
pub mod git;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::error::UsageError;
use crate::layout::{self, ResultDir};
use crate::output::Table;
pub use crate::output::read::{frame_table, parse_csv};
use crate::record::RunMeta;
use crate::rows::{self, ChecklistRow, KstrategyRow, RoundRow, Row, SummaryRow, SweepRow};

/// Where a result set is read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A folder on disk (the working tree, or anywhere).
    Dir(PathBuf),
    /// The folder's committed files at a git revision.
    Rev { dir: PathBuf, rev: String },
}

impl Source {
    /// `dir` itself, or `dir` at git revision `rev`.
    pub fn new(dir: &std::path::Path, rev: Option<&str>) -> Source {
        match rev {
            Some(rev) => Source::Rev {
                dir: dir.to_path_buf(),
                rev: rev.to_string(),
            },
            None => Source::Dir(dir.to_path_buf()),
        }
    }
}

/// The committed tables of a result set, and where its cells are.
#[derive(Debug, Clone)]
pub struct ResultSet {
    /// How to name it to a person: `outputs/q` or `outputs/q@HEAD~1 (1a2b3c4)`.
    pub label: String,
    pub summary: Table,
    /// Per cell and round, the round's figures (rounds.csv; empty for a
    /// set written before rounds existed).
    pub rounds: Table,
    pub checklist: Table,
    pub sweeps: Table,
    /// K_opt (from a LUT) against K_answer per condition, when the run
    /// wrote kstrategy.csv (empty otherwise).
    pub kstrategy: Table,
    pub meta: Option<RunMeta>,
    pub scenario_text: Option<String>,
    /// The folder holding `cells/`, for a set read from disk.
    pub cells_root: Option<PathBuf>,
}

/// The summary columns printed on a terminal (`run`, `show`).
pub const SUMMARY_TERMINAL_COLUMNS: [&str; 11] = [
    "id",
    "status",
    "rounds",
    "latency_mean_us",
    "latency_cv_between_pct",
    "t_prod_mean_us",
    "t_ker_mean_us",
    "t_idle_mean_us",
    "speedup",
    "cpu_util_pct",
    "loads_alive",
];

/// The checklist columns printed on a terminal (`run`, `show`).
pub const CHECKLIST_TERMINAL_COLUMNS: [&str; 10] = [
    "check",
    "group",
    "metric",
    "kind",
    "rounds",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_holm",
    "verdict",
];

/// Most bytes of one table or meta file of a result set.
const TABLE_MAX: u64 = 1 << 30;

/// Reads one file of a source: its bytes, or `None` when absent.
type Reader<'a> = Box<dyn Fn(&str) -> Result<Option<Vec<u8>>> + 'a>;

impl ResultSet {
    /// Reads a result set; bad input (exit 2) when it is not one.
    pub fn open(source: &Source) -> Result<ResultSet> {
        let (label, read, cells_root): (String, Reader, Option<PathBuf>) = match source {
            Source::Dir(dir) => {
                if !dir.is_dir() {
                    return Err(UsageError::new(
                        format!("{} is not a folder", dir.display()),
                        Some("give a result set, e.g. outputs/quickstart".into()),
                    )
                    .into());
                }
                let d = ResultDir::new(dir);
                (
                    dir.display().to_string(),
                    // A table is read only when it is a regular file (no
                    // FIFO to hang on, no device to read without end).
                    Box::new(move |name: &str| {
                        match crate::untrusted::read_input(&d.file(name), TABLE_MAX) {
                            Ok((b, _)) => Ok(Some(b)),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                            Err(e) => Err(e)
                                .with_context(|| format!("cannot read {}", d.file(name).display())),
                        }
                    }),
                    Some(dir.clone()),
                )
            }
            Source::Rev { dir, rev } => {
                let repo = git::locate(dir)?;
                let commit = git::resolve(&repo, rev)?;
                let label = format!("{}@{rev} ({commit})", dir.display());
                (
                    label,
                    Box::new(move |name: &str| git::read(&repo, &commit, name)),
                    None,
                )
            }
        };
        let Some(summary) = read(layout::SUMMARY_CSV)? else {
            return Err(UsageError::new(
                format!("{label} has no summary.csv: it is not a result set"),
                Some("give a folder written by `klo-spec run`, e.g. outputs/quickstart".into()),
            )
            .into());
        };
        let summary = parse_csv(&summary).with_context(|| format!("{label}/summary.csv"))?;
        for required in ["id", "status", "hash"] {
            if summary.column(required).is_none() {
                return Err(UsageError::new(
                    format!("{label}/summary.csv has no `{required}` column"),
                    Some("was it written by klo-spec run?".into()),
                )
                .into());
            }
        }
        let table = |name: &str| -> Result<Table> {
            match read(name)? {
                Some(b) => parse_csv(&b).with_context(|| format!("{label}/{name}")),
                None => Ok(Table::default()),
            }
        };
        let checklist = table(layout::CHECKLIST_CSV)?;
        let rounds = table(layout::ROUNDS_CSV)?;
        let sweeps = table(layout::SWEEPS_CSV)?;
        let kstrategy = table(layout::KSTRATEGY_CSV)?;
        let meta = match read(layout::META_JSON)? {
            Some(b) => Some(RunMeta::from_slice(&b).with_context(|| format!("{label}/meta.json"))?),
            None => None,
        };
        let scenario_text =
            read(layout::SCENARIO_YAML)?.map(|b| String::from_utf8_lossy(&b).into_owned());
        Ok(ResultSet {
            label,
            summary,
            rounds,
            checklist,
            sweeps,
            kstrategy,
            meta,
            scenario_text,
            cells_root: cells_root.filter(|d| ResultDir::new(d).cells().is_dir()),
        })
    }

    /// summary.csv's rows, typed.
    pub fn summary_rows(&self) -> Result<Vec<SummaryRow>> {
        self.typed(&self.summary, layout::SUMMARY_CSV)
    }

    /// rounds.csv's rows, typed (none for a set without rounds.csv).
    pub fn round_rows(&self) -> Result<Vec<RoundRow>> {
        self.typed(&self.rounds, layout::ROUNDS_CSV)
    }

    /// checklist.csv's rows, typed.
    pub fn checklist_rows(&self) -> Result<Vec<ChecklistRow>> {
        self.typed(&self.checklist, layout::CHECKLIST_CSV)
    }

    /// sweeps.csv's rows, typed.
    pub fn sweep_rows(&self) -> Result<Vec<SweepRow>> {
        self.typed(&self.sweeps, layout::SWEEPS_CSV)
    }

    /// kstrategy.csv's rows, typed (none when the run wrote none).
    pub fn kstrategy_rows(&self) -> Result<Vec<KstrategyRow>> {
        self.typed(&self.kstrategy, layout::KSTRATEGY_CSV)
    }

    /// A table's rows, typed; bad input when a cell is not its column's
    /// type.
    fn typed<T: Row>(&self, t: &Table, name: &str) -> Result<Vec<T>> {
        rows::read(t).map_err(|e| {
            UsageError::new(
                format!("{}/{name}: {e:#}", self.label),
                Some("was it written by klo-spec run, and not edited since?".into()),
            )
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_summary_is_bad_input() {
        let d = tempfile::tempdir().unwrap();
        let err = ResultSet::open(&Source::Dir(d.path().to_path_buf())).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        assert!(err.to_string().contains("no summary.csv"), "{err}");
    }
}
