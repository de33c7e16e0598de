//! Markdown: the table as a GitHub-flavoured pipe table, cells escaped so
//! they stay cells.

use anyhow::Result;

use super::Writer;
use crate::output::Table;

pub struct Markdown;

impl Writer for Markdown {
    fn extension(&self) -> &'static str {
        "md"
    }
    fn table(&self, t: &Table) -> Result<Vec<u8>> {
        Ok(t.to_markdown().into_bytes())
    }
}
