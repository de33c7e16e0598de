//! Parquet, for the frames: typed columns, zstd-compressed, one row group
//! per 64k rows. Tables of formatted text are not offered in Parquet: their
//! CSV is already the exact record.

use anyhow::Result;
use polars::prelude::*;

use super::{Rows, Writer};
use crate::error::UsageError;

pub(super) struct Parquet;

impl Writer for Parquet {
    fn extension(&self) -> &'static str {
        "parquet"
    }

    fn rows(&self, _r: &dyn Rows) -> Result<Vec<u8>> {
        Err(UsageError::new(
            "Parquet is written for the kernels and inferences frames only",
            Some("use csv, md or json for the summary, checklist and sweeps tables".into()),
        )
        .into())
    }

    fn frame(&self, df: &DataFrame) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        let mut df = df.clone();
        ParquetWriter::new(&mut buf)
            .with_compression(ParquetCompression::Zstd(None))
            .with_row_group_size(Some(65_536))
            .set_parallel(false)
            .finish(&mut df)?;
        Ok(buf)
    }
}
