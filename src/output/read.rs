//! Tables read back: CSV text as klo-spec wrote it, and polars frames,
//! into [`Table`]s of strings (the inverse of [`Table::to_csv`]).

use std::io::Cursor;

use anyhow::{Context, Result};
use polars::prelude::*;

use super::Table;

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
}
