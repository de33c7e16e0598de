//! CSV: the table as written (numbers in their column's fixed format,
//! formula-looking cells guarded), one file per table.

use anyhow::Result;

use super::Writer;
use crate::output::Table;

pub struct Csv;

impl Writer for Csv {
    fn extension(&self) -> &'static str {
        "csv"
    }
    fn table(&self, t: &Table) -> Result<Vec<u8>> {
        Ok(t.to_csv().into_bytes())
    }
}
