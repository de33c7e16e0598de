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

use std::io::Cursor;
use std::path::PathBuf;

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::error::UsageError;
use crate::output::Table;
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
    pub meta: Option<serde_json::Value>,
    pub scenario_text: Option<String>,
    /// The folder holding `cells/`, for a set read from disk.
    pub cells_root: Option<PathBuf>,
}

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
                let d = dir.clone();
                (
                    dir.display().to_string(),
                    // A table is read only when it is a regular file (no
                    // FIFO to hang on, no device to read without end).
                    Box::new(move |name: &str| {
                        match crate::untrusted::read_input(&d.join(name), TABLE_MAX) {
                            Ok((b, _)) => Ok(Some(b)),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                            Err(e) => Err(e)
                                .with_context(|| format!("cannot read {}", d.join(name).display())),
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
        let Some(summary) = read("summary.csv")? else {
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
        let checklist = table("checklist.csv")?;
        let rounds = table("rounds.csv")?;
        let sweeps = table("sweeps.csv")?;
        let kstrategy = table("kstrategy.csv")?;
        let meta = match read("meta.json")? {
            Some(b) => {
                Some(serde_json::from_slice(&b).with_context(|| format!("{label}/meta.json"))?)
            }
            None => None,
        };
        let scenario_text =
            read("scenario.yaml")?.map(|b| String::from_utf8_lossy(&b).into_owned());
        Ok(ResultSet {
            label,
            summary,
            rounds,
            checklist,
            sweeps,
            kstrategy,
            meta,
            scenario_text,
            cells_root: cells_root.filter(|d| d.join("cells").is_dir()),
        })
    }

    /// summary.csv's rows, typed.
    pub fn summary_rows(&self) -> Result<Vec<SummaryRow>> {
        self.typed(&self.summary, "summary.csv")
    }

    /// rounds.csv's rows, typed (none for a set without rounds.csv).
    pub fn round_rows(&self) -> Result<Vec<RoundRow>> {
        self.typed(&self.rounds, "rounds.csv")
    }

    /// checklist.csv's rows, typed.
    pub fn checklist_rows(&self) -> Result<Vec<ChecklistRow>> {
        self.typed(&self.checklist, "checklist.csv")
    }

    /// sweeps.csv's rows, typed.
    pub fn sweep_rows(&self) -> Result<Vec<SweepRow>> {
        self.typed(&self.sweeps, "sweeps.csv")
    }

    /// kstrategy.csv's rows, typed (none when the run wrote none).
    pub fn kstrategy_rows(&self) -> Result<Vec<KstrategyRow>> {
        self.typed(&self.kstrategy, "kstrategy.csv")
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

    /// The value of `column` in summary row `row`.
    pub fn summary_value(&self, row: usize, column: &str) -> Option<&str> {
        let c = self.summary.column(column)?;
        self.summary.rows.get(row).map(|r| r[c].as_str())
    }

    /// The value of `column` in summary row `row` as a finite number.
    pub fn summary_number(&self, row: usize, column: &str) -> Option<f64> {
        self.summary_value(row, column)?
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    }
}

/// Reads CSV text into a table of strings, exactly as written: every
/// column is read as text (no type inference), empty fields stay empty.
pub fn parse_csv(bytes: &[u8]) -> Result<Table> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Table::default());
    }
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
        .map_err(anyhow::Error::from)
        .context("not a valid CSV table")?;
    let mut t = frame_table(&df)?;
    // Cells the writer guarded against spreadsheet formulas, back to their
    // values.
    for r in &mut t.rows {
        for c in r.iter_mut() {
            if c.starts_with('\'') {
                *c = crate::text::csv_unguard(c).to_string();
            }
        }
    }
    Ok(t)
}

/// A frame's values as text: integers and booleans as written, floats in
/// their shortest exact form, strings as they are, nulls empty.
pub fn frame_table(df: &DataFrame) -> Result<Table> {
    let columns: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let mut rows = vec![Vec::with_capacity(columns.len()); df.height()];
    for c in df.columns() {
        let s = c.as_materialized_series();
        let text: Vec<String> = match s.dtype() {
            DataType::Float64 | DataType::Float32 => s
                .cast(&DataType::Float64)?
                .f64()?
                .iter()
                .map(|v| {
                    v.filter(|v| v.is_finite())
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                })
                .collect(),
            DataType::Boolean => s
                .bool()?
                .iter()
                .map(|v| v.map(|b| b.to_string()).unwrap_or_default())
                .collect(),
            DataType::String => s
                .str()?
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect(),
            _ => s
                .cast(&DataType::Int64)?
                .i64()?
                .iter()
                .map(|v| v.map(|v| v.to_string()).unwrap_or_default())
                .collect(),
        };
        for (row, v) in rows.iter_mut().zip(text) {
            row.push(v);
        }
    }
    Ok(Table { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_byte_for_byte() {
        let mut t = Table::new(&["id", "note", "p"]);
        t.rows
            .push(vec!["a/b".into(), "x, \"y\"".into(), "1.000".into()]);
        t.rows
            .push(vec!["c".into(), String::new(), "2.36e-1".into()]);
        let text = t.to_csv();
        let back = parse_csv(text.as_bytes()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.to_csv(), text);
    }

    #[test]
    fn a_folder_without_summary_is_bad_input() {
        let d = tempfile::tempdir().unwrap();
        let err = ResultSet::open(&Source::Dir(d.path().to_path_buf())).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        assert!(err.to_string().contains("no summary.csv"), "{err}");
    }
}
