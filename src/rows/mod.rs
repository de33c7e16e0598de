//! The rows of the result tables, typed: what `analysis` computes, what
//! `run` writes as CSV and Markdown, and what `results` reads back for
//! `diff`, `plot` and `report`. A table's text is generated from its rows
//! ([`table`]; the column names are the fields' serde names, numbers in
//! each column's fixed format) and read back into them ([`read`]), so
//! every writer and reader agrees on one definition.

pub mod cell;
mod checklist;
mod kstrategy;
mod samples;
mod summary;
mod sweeps;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::output::Table;

pub use crate::verdict::{CheckTotal, NotAVerdict, Verdict};
pub use checklist::ChecklistRow;
pub use kstrategy::KstrategyRow;
pub use samples::SampleRow;
pub use summary::{RoundRow, SummaryRow};
pub use sweeps::SweepRow;

/// A row of one result table.
pub trait Row: Serialize + DeserializeOwned {
    /// The table's columns, in order: the serialized fields' names.
    const COLUMNS: &'static [&'static str];
    /// The columns whose cells are numbers (or empty): the fields of a
    /// numeric type. Every other column is text, even where its cells
    /// happen to hold only digits (`k` is `4` or `12/8`, `hash` is hex).
    const NUMERIC: &'static [&'static str];
}

/// Per column of `T`, whether it holds numbers (see [`Row::NUMERIC`]).
pub fn numeric<T: Row>() -> Vec<bool> {
    T::COLUMNS.iter().map(|c| T::NUMERIC.contains(c)).collect()
}

/// A serialized field as the text of its cell.
fn cell_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The table of `rows`: the text every format (CSV, Markdown, terminal)
/// shows.
pub fn table<T: Row>(rows: &[T]) -> Table {
    let mut t = Table::new(T::COLUMNS);
    t.rows = rows
        .iter()
        .map(|r| match serde_json::to_value(r) {
            Ok(Value::Object(m)) => {
                debug_assert!(m.keys().map(String::as_str).eq(T::COLUMNS.iter().copied()));
                m.into_iter().map(|(_, v)| cell_text(v)).collect()
            }
            other => unreachable!("a row serializes to a map of its cells: {other:?}"),
        })
        .collect();
    t
}

/// The rows of a table read back. A column the table lacks (a result set
/// written by an older klo-spec) reads as an empty cell; a column it has
/// and the row does not is ignored.
pub fn read<T: Row>(t: &Table) -> Result<Vec<T>> {
    if t.columns.is_empty() {
        return Ok(Vec::new());
    }
    let missing: Vec<&str> = T::COLUMNS
        .iter()
        .copied()
        .filter(|c| t.column(c).is_none())
        .collect();
    t.rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.len() != t.columns.len() {
                bail!(
                    "row {}: {} cells for {} columns",
                    i + 1,
                    r.len(),
                    t.columns.len()
                );
            }
            let mut m: Map<String, Value> = t
                .columns
                .iter()
                .zip(r)
                .map(|(c, v)| (c.clone(), Value::String(v.clone())))
                .collect();
            for c in &missing {
                m.insert(c.to_string(), Value::String(String::new()));
            }
            serde_json::from_value(Value::Object(m)).with_context(|| format!("row {}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests;
