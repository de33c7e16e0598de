//! CSV: the table as written (numbers in their column's fixed format,
//! formula-looking cells guarded), one file per table.

use anyhow::Result;

use super::{Rows, Writer};

pub struct Csv;

impl Writer for Csv {
    fn extension(&self) -> &'static str {
        "csv"
    }
    fn rows(&self, r: &dyn Rows) -> Result<Vec<u8>> {
        Ok(r.table().to_csv().into_bytes())
    }
}
