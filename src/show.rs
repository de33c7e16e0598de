//! `klo-spec show`: one table of a result set on stdout. On a terminal it
//! is aligned with verdicts and statuses coloured; piped, it is the same
//! text without escape codes (or CSV, Markdown, JSON with `--format`).

use anyhow::Result;

use crate::error::{UsageError, suggest};
use crate::export::{Formatted, TableFormat, TableName, table_data, writer};
use crate::output::terminal;
use crate::results::{CHECKLIST_TERMINAL_COLUMNS, ResultSet, SUMMARY_TERMINAL_COLUMNS, Source};

/// How `show` prints a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowFormat {
    /// Aligned text, verdicts and statuses coloured on a terminal.
    Table,
    Csv,
    Md,
    Json,
}

/// What `klo-spec show` prints (the command line's `show` arguments).
#[derive(Debug, Clone)]
pub struct ShowOptions {
    /// The result set.
    pub dir: std::path::PathBuf,
    /// Which table.
    pub table: TableName,
    /// Read the table at this git revision instead of the working tree.
    pub rev: Option<String>,
    /// Columns to print; empty: the default for the format.
    pub columns: Vec<String>,
    /// Print every column.
    pub all: bool,
    pub format: ShowFormat,
}

/// Columns shown by default on the terminal: the ones `run` prints.
fn default_columns(name: TableName) -> &'static [&'static str] {
    match name {
        TableName::Summary => &SUMMARY_TERMINAL_COLUMNS,
        TableName::Checklist => &CHECKLIST_TERMINAL_COLUMNS,
        _ => &[],
    }
}

/// Keeps `columns` of `f`, in that order; bad input for an unknown name.
fn select(f: &Formatted, columns: &[String], name: TableName) -> Result<Formatted> {
    let t = &f.table;
    let mut idx = Vec::new();
    for c in columns {
        match t.column(c) {
            Some(i) => idx.push(i),
            None => {
                let hint = suggest(c, t.columns.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                return Err(UsageError::new(
                    format!("the {} table has no column `{c}`", name.as_str()),
                    Some(format!("{hint}columns: {}", t.columns.join(", "))),
                )
                .into());
            }
        }
    }
    Ok(f.select(&idx))
}

/// Prints the table.
pub fn command(a: &ShowOptions) -> Result<i32> {
    let set = ResultSet::open(&Source::new(&a.dir, a.rev.as_deref()))?;
    // The typed rows (or frame), as text with their columns' kinds.
    let rows = table_data(&set, a.table, &mut None)?.formatted()?;
    let columns: Vec<String> = if !a.columns.is_empty() {
        a.columns.clone()
    } else if a.format == ShowFormat::Table && !a.all {
        default_columns(a.table)
            .iter()
            .filter(|c| rows.table.column(c).is_some())
            .map(|c| c.to_string())
            .collect()
    } else {
        Vec::new()
    };
    let rows = if columns.is_empty() {
        rows
    } else {
        select(&rows, &columns, a.table)?
    };
    let write =
        |f: TableFormat| -> Result<String> { Ok(String::from_utf8(writer(f).rows(&rows)?)?) };
    let text = match a.format {
        ShowFormat::Table => {
            let table = &rows.table;
            if table.columns.is_empty() {
                format!("{}: the {} table is empty\n", set.label, a.table.as_str())
            } else {
                terminal::render(
                    table,
                    &[],
                    &["status", "verdict", "mark"],
                    terminal::stdout_colour(),
                ) + "\n"
            }
        }
        ShowFormat::Csv => crate::text::printable_lines(&write(TableFormat::Csv)?).into_owned(),
        ShowFormat::Md => write(TableFormat::Md)?,
        ShowFormat::Json => crate::text::json_safe(&write(TableFormat::Json)?).into_owned(),
    };
    print!("{text}");
    Ok(0)
}
