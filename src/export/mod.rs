//! Exports: one writer per format behind one trait. CSV, Markdown and JSON
//! for every table; Parquet (and the text formats) for the kernels and
//! inferences frames, the large ones. Writers hold no state and read no
//! clock: the same table gives the same bytes. The result tables are
//! written from their typed rows (`crate::rows`): the row type names the
//! columns, formats the numbers and says which columns are numeric.

mod csv;
mod json;
mod markdown;
mod parquet;
pub mod stream;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::Result;
use polars::prelude::*;

use crate::error::UsageError;
use crate::output::{Table, atomic_write};
use crate::results::cells::Cells;
use crate::results::{ResultSet, Source, frame_table};
use crate::rows::{self, Row};

/// A table of a result set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableName {
    /// One row per cell (summary.csv).
    Summary,
    /// One row per check comparison (checklist.csv).
    Checklist,
    /// One row per K sweep and condition (sweeps.csv).
    Sweeps,
    /// K_opt against K_answer per condition (kstrategy.csv, where the run
    /// wrote one).
    Kstrategy,
    /// One row per kernel of every measured cell, from the raw cells.
    Kernels,
    /// One row per inference of every measured cell, from the raw cells.
    Inferences,
}

impl TableName {
    pub fn as_str(self) -> &'static str {
        match self {
            TableName::Summary => "summary",
            TableName::Checklist => "checklist",
            TableName::Sweeps => "sweeps",
            TableName::Kstrategy => "kstrategy",
            TableName::Kernels => "kernels",
            TableName::Inferences => "inferences",
        }
    }
}

/// A file format of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Md,
    Json,
    /// Only for the kernels and inferences frames.
    Parquet,
}

/// What `klo-spec export` writes (the command line's `export` arguments).
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The result set.
    pub dir: PathBuf,
    /// Read the tables at this git revision.
    pub rev: Option<String>,
    /// Tables to export; empty: all there are.
    pub table: Vec<TableName>,
    /// Formats; empty: csv, md and json for the tables, parquet for the
    /// frames.
    pub format: Vec<TableFormat>,
    /// Where the files go; `None`: DIR/export.
    pub output_dir: Option<PathBuf>,
}

/// The rows a writer of a text format consumes: their cells, formatted as
/// the table writes them, and which columns are numbers.
pub trait Rows {
    /// The column names and each row's cells.
    fn table(&self) -> Cow<'_, Table>;
    /// Per column, whether its cells are numbers (JSON writes them bare),
    /// as the row type (or the frame's column type) declares.
    fn numeric(&self) -> Vec<bool>;
}

/// A result table's typed rows: the row type's columns, numbers in each
/// column's fixed format.
impl<T: Row> Rows for Vec<T> {
    fn table(&self) -> Cow<'_, Table> {
        Cow::Owned(rows::table(self))
    }
    fn numeric(&self) -> Vec<bool> {
        rows::numeric::<T>()
    }
}

/// Cells already formatted, with their columns' kinds: a frame's, or some
/// columns of a result table (`show -c`).
#[derive(Debug, Clone, Default)]
pub struct Formatted {
    pub table: Table,
    pub numeric: Vec<bool>,
}

impl Formatted {
    /// A frame's values as text (see [`frame_table`]); its numeric columns
    /// are those of a numeric type.
    pub fn frame(df: &DataFrame) -> Result<Formatted> {
        Ok(Formatted {
            table: frame_table(df)?,
            numeric: frame_numeric(df),
        })
    }

    /// The columns at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Formatted {
        Formatted {
            table: self.table.select(idx),
            numeric: idx.iter().map(|&i| self.numeric[i]).collect(),
        }
    }
}

impl Rows for Formatted {
    fn table(&self) -> Cow<'_, Table> {
        Cow::Borrowed(&self.table)
    }
    fn numeric(&self) -> Vec<bool> {
        self.numeric.clone()
    }
}

/// Per column of a frame, whether its type is numeric.
pub(crate) fn frame_numeric(df: &DataFrame) -> Vec<bool> {
    df.dtypes()
        .iter()
        .map(|d| d.is_primitive_numeric())
        .collect()
}

/// Turns a table or a frame into the bytes of one file format.
pub trait Writer {
    /// The file extension, without the dot.
    fn extension(&self) -> &'static str;
    /// Rows of a table.
    fn rows(&self, r: &dyn Rows) -> Result<Vec<u8>>;
    /// A typed frame; by default formatted into text first.
    fn frame(&self, df: &DataFrame) -> Result<Vec<u8>> {
        self.rows(&Formatted::frame(df)?)
    }
}

/// The writer of a format.
pub fn writer(format: TableFormat) -> &'static dyn Writer {
    match format {
        TableFormat::Csv => &csv::Csv,
        TableFormat::Md => &markdown::Markdown,
        TableFormat::Json => &json::Json,
        TableFormat::Parquet => &parquet::Parquet,
    }
}

/// What one table of a result set is: typed rows, or a typed frame.
pub enum Data {
    Rows(Box<dyn Rows>),
    Frame(DataFrame),
}

impl Data {
    /// Its bytes in `format`; bad input when the format does not apply.
    pub fn write(&self, format: TableFormat) -> Result<Vec<u8>> {
        let w = writer(format);
        match self {
            Data::Rows(r) => w.rows(r.as_ref()),
            Data::Frame(df) => w.frame(df),
        }
    }

    /// Its cells as text, with their columns' kinds.
    pub fn formatted(self) -> Result<Formatted> {
        match self {
            Data::Rows(r) => Ok(Formatted {
                numeric: r.numeric(),
                table: r.table().into_owned(),
            }),
            Data::Frame(df) => Formatted::frame(&df),
        }
    }
}

/// The frames are read from the raw cells, which a set read from git
/// (or a copy without cells/) does not have.
fn no_cells(set: &ResultSet, name: TableName) -> anyhow::Error {
    UsageError::new(
        format!(
            "{}: the {} frame is built from the raw cells, and this result set has no cells/ folder",
            set.label,
            name.as_str()
        ),
        Some("cells/ is git-ignored: use the folder where the scenario ran (not --rev)".into()),
    )
    .into()
}

/// Rows of a frame `show` holds and prints; `export` writes them all.
pub const SHOW_ROWS: usize = 20_000;

/// Reads one table of a result set. `cells` is loaded on first need. A
/// frame is read up to its first [`SHOW_ROWS`] rows (stderr says how many
/// more there are).
pub fn table_data(
    set: &ResultSet,
    name: TableName,
    cells: &mut Option<Option<Cells>>,
) -> Result<Data> {
    Ok(match name {
        TableName::Summary => typed(set, name, &set.summary, set.summary_rows()?),
        TableName::Checklist => typed(set, name, &set.checklist, set.checklist_rows()?),
        TableName::Sweeps => typed(set, name, &set.sweeps, set.sweep_rows()?),
        TableName::Kstrategy => typed(set, name, &set.kstrategy, set.kstrategy_rows()?),
        TableName::Kernels | TableName::Inferences => {
            let c = frame_cells(set, name, cells)?;
            let (df, more) = stream::collect(c, name, SHOW_ROWS)?;
            if more > 0 {
                eprintln!(
                    "klo-spec: the first {SHOW_ROWS} rows of the {} frame are shown, {more} more are not: `klo-spec export -t {}` writes them all",
                    name.as_str(),
                    name.as_str()
                );
            }
            Data::Frame(df)
        }
    })
}

/// A result table's typed rows, formatted. A table the set does not have
/// (no file) has no columns, as before. One written by an older klo-spec is given
/// in today's columns: those it lacks empty, its own that are no longer
/// written left out (stderr names both).
fn typed<T: Row>(set: &ResultSet, name: TableName, raw: &Table, rows: Vec<T>) -> Data {
    if raw.columns.is_empty() {
        return Data::Rows(Box::new(Formatted::default()));
    }
    let lacks: Vec<&str> = T::COLUMNS
        .iter()
        .copied()
        .filter(|c| raw.column(c).is_none())
        .collect();
    let retired: Vec<&str> = raw
        .columns
        .iter()
        .map(String::as_str)
        .filter(|c| !T::COLUMNS.contains(c))
        .collect();
    let mut parts = Vec::new();
    if !lacks.is_empty() {
        parts.push(format!("empty: {}", lacks.join(", ")));
    }
    if !retired.is_empty() {
        parts.push(format!("left out: {}", retired.join(", ")));
    }
    if !parts.is_empty() {
        eprintln!(
            "klo-spec: {}/{}.csv is from an older klo-spec: shown in today's columns ({})",
            set.label,
            name.as_str(),
            parts.join("; ")
        );
    }
    // Formatted once here, not once per format written.
    Data::Rows(Box::new(Formatted {
        table: rows::table(&rows),
        numeric: rows::numeric::<T>(),
    }))
}

/// The cells a frame is read from, loaded on first need.
fn frame_cells<'c>(
    set: &ResultSet,
    name: TableName,
    cells: &'c mut Option<Option<Cells>>,
) -> Result<&'c Cells> {
    if cells.is_none() {
        *cells = Some(Cells::load(set)?);
    }
    match cells.as_ref() {
        Some(Some(c)) => Ok(c),
        _ => Err(no_cells(set, name)),
    }
}

/// Whether `format` is offered for `name` by default (text formats for
/// tables, Parquet for frames) and at all (Parquet only for frames).
fn applies(name: TableName, format: TableFormat, explicit: bool) -> bool {
    let frame = matches!(name, TableName::Kernels | TableName::Inferences);
    match format {
        TableFormat::Parquet => frame,
        _ => explicit || !frame,
    }
}

/// `klo-spec export`: writes the chosen tables in the chosen formats.
pub fn command(a: &ExportOptions) -> Result<i32> {
    let set = ResultSet::open(&Source::new(&a.dir, a.rev.as_deref()))?;
    let mut cells = None;
    let explicit_tables = !a.table.is_empty();
    let tables: Vec<TableName> = if explicit_tables {
        a.table.clone()
    } else {
        cells = Some(Cells::load(&set)?);
        let mut all = vec![TableName::Summary, TableName::Checklist, TableName::Sweeps];
        if !set.kstrategy.columns.is_empty() {
            all.push(TableName::Kstrategy);
        }
        if matches!(cells, Some(Some(_))) {
            all.extend([TableName::Kernels, TableName::Inferences]);
        } else {
            eprintln!(
                "klo-spec: {} has no cells/: the kernels and inferences frames are not exported",
                set.label
            );
        }
        all
    };
    let explicit_formats = !a.format.is_empty();
    let formats: Vec<TableFormat> = if explicit_formats {
        a.format.clone()
    } else {
        vec![
            TableFormat::Csv,
            TableFormat::Md,
            TableFormat::Json,
            TableFormat::Parquet,
        ]
    };
    for f in &formats {
        if !tables.iter().any(|t| applies(*t, *f, explicit_formats)) {
            return Err(UsageError::new(
                format!(
                    "no table asked for can be written as {}",
                    writer(*f).extension()
                ),
                Some("Parquet is for the frames: --table kernels or --table inferences".into()),
            )
            .into());
        }
    }
    let out_dir: PathBuf = a.output_dir.clone().unwrap_or_else(|| a.dir.join("export"));
    let path = |name: TableName, f: TableFormat| {
        out_dir.join(format!("{}.{}", name.as_str(), writer(f).extension()))
    };
    let mut frames: Vec<TableName> = Vec::new();
    for name in tables {
        if matches!(name, TableName::Kernels | TableName::Inferences) {
            if !frames.contains(&name) {
                frames.push(name);
            }
            continue;
        }
        let data = table_data(&set, name, &mut cells)?;
        for f in &formats {
            if applies(name, *f, explicit_formats) {
                write(&path(name, *f), &data.write(*f)?)?;
            }
        }
    }
    if !frames.is_empty() {
        // Both frames from one pass over the logs, written as they are
        // read.
        let c = frame_cells(&set, frames[0], &mut cells)?;
        let mut written = Vec::new();
        let mut outputs = [None, None];
        for (i, name) in [TableName::Kernels, TableName::Inferences]
            .into_iter()
            .enumerate()
        {
            if !frames.contains(&name) {
                continue;
            }
            let mut files = Vec::new();
            for f in formats
                .iter()
                .filter(|f| applies(name, **f, explicit_formats))
            {
                files.push(stream::FrameFile::create(&path(name, *f), *f)?);
                written.push(path(name, *f));
            }
            outputs[i] = Some(stream::Output::Files(files));
        }
        let [k, i] = outputs;
        stream::write(c, k, i)?;
        for p in written {
            println!("{}", p.display());
        }
    }
    Ok(0)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write(path, bytes)?;
    println!("{}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests;
