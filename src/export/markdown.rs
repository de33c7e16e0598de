//! Markdown: the table as a GitHub-flavoured pipe table, cells escaped so
//! they stay cells.

use anyhow::Result;

use super::{Rows, Writer};

pub struct Markdown;

impl Writer for Markdown {
    fn extension(&self) -> &'static str {
        "md"
    }
    fn rows(&self, r: &dyn Rows) -> Result<Vec<u8>> {
        Ok(r.table().to_markdown().into_bytes())
    }
}
