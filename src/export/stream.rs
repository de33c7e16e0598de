//! The kernels and inferences frames, written as the logs are read: each
//! run's log is read record by record into a chunk of at most
//! [`CHUNK_ROWS`] rows, and every full chunk goes to the files at once
//! (CSV, Markdown and JSON rows; a Parquet row group). What is held is a
//! chunk per frame, whatever the result set's size.
//!
//! Rows come in the order of the summary, then of the rounds, then of the
//! log. `first` marks the record of an inference at the log's first kernel
//! index: every inference of a log that was judged complete starts there.
//! In JSON, a column is written as numbers when its type is numeric (the
//! frames are typed; text columns stay text).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use polars::prelude::*;

use super::{TableFormat, TableName};
use crate::ingest::{InferenceRecord, KernelRecord, LogMeta, Records};
use crate::output::Table;
use crate::results::cells::Cells;
use crate::results::frame_table;

/// Rows of a frame held before they are written.
pub const CHUNK_ROWS: usize = 16_384;

/// One frame file being written: a temporary file in the target's folder,
/// renamed over it once complete (as `output::atomic_write` does).
pub struct FrameFile {
    format: TableFormat,
    path: PathBuf,
    tmp: PathBuf,
    out: Option<std::io::BufWriter<std::fs::File>>,
    parquet: Option<polars::io::parquet::write::BatchedWriter<std::fs::File>>,
    /// The Parquet writer's file, to flush it to disk at the end.
    synced: Option<std::fs::File>,
    rows: u64,
}

impl FrameFile {
    pub fn create(path: &Path, format: TableFormat) -> Result<FrameFile> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        Ok(FrameFile {
            format,
            path: path.to_path_buf(),
            tmp,
            out: Some(std::io::BufWriter::new(file)),
            parquet: None,
            synced: None,
            rows: 0,
        })
    }

    /// Writes one chunk (the first one writes the header).
    fn chunk(&mut self, df: &DataFrame) -> Result<()> {
        let first = self.rows == 0 && self.parquet.is_none();
        match self.format {
            TableFormat::Parquet => {
                if self.parquet.is_none() {
                    let file = self
                        .out
                        .take()
                        .context("the frame file is open")?
                        .into_inner()
                        .map_err(|e| e.into_error())?;
                    self.synced = Some(file.try_clone()?);
                    self.parquet = Some(
                        ParquetWriter::new(file)
                            .with_compression(ParquetCompression::Zstd(None))
                            .with_row_group_size(Some(CHUNK_ROWS))
                            .set_parallel(false)
                            .batched(df.schema().as_ref())?,
                    );
                }
                if df.height() > 0
                    && let Some(w) = &mut self.parquet
                {
                    w.write_batch(df)?;
                }
            }
            format => {
                let t = frame_table(df)?;
                let out = self.out.as_mut().context("the frame file is open")?;
                let text = match format {
                    TableFormat::Csv => csv_rows(&t, first),
                    TableFormat::Md => md_rows(&t, first),
                    _ => json_rows(&t, df, first, self.rows),
                };
                out.write_all(text.as_bytes())?;
            }
        }
        self.rows += df.height() as u64;
        Ok(())
    }

    /// Ends the file (`empty`: a frame of no row, for the header) and puts
    /// it in place.
    fn finish(mut self, empty: &DataFrame) -> Result<()> {
        let result = (|| -> Result<()> {
            if self.rows == 0 && self.parquet.is_none() {
                self.chunk(empty)?;
            }
            let file = match (self.parquet.take(), self.out.take()) {
                (Some(w), _) => {
                    w.finish()?;
                    drop(w);
                    self.synced.take()
                }
                (None, Some(mut out)) => {
                    if self.format == TableFormat::Json {
                        out.write_all(if self.rows == 0 { b"]\n" } else { b"\n]\n" })?;
                    }
                    Some(out.into_inner().map_err(|e| e.into_error())?)
                }
                (None, None) => None,
            };
            if let Some(f) = file {
                f.sync_all()?;
            }
            std::fs::rename(&self.tmp, &self.path)?;
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result.with_context(|| format!("cannot write {}", self.path.display()))
    }
}

impl Drop for FrameFile {
    fn drop(&mut self) {
        // Not finished (an error on the way): no temporary file is left.
        if self.tmp.exists() && !self.path.exists() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn csv_rows(t: &Table, header: bool) -> String {
    let text = t.to_csv();
    if header {
        text
    } else {
        // The header is the first line (column names hold no line break).
        text.split_once('\n')
            .map(|x| x.1.to_string())
            .unwrap_or_default()
    }
}

fn md_rows(t: &Table, header: bool) -> String {
    let text = t.to_markdown();
    if header {
        text
    } else {
        // Header and separator: the first two lines.
        let mut lines = text.splitn(3, '\n');
        lines.next();
        lines.next();
        lines.next().unwrap_or_default().to_string()
    }
}

/// JSON rows of a chunk; `written` rows came before it.
fn json_rows(t: &Table, df: &DataFrame, header: bool, written: u64) -> String {
    let numeric = super::frame_numeric(df);
    let keys: Vec<String> = t
        .columns
        .iter()
        .map(|c| serde_json::to_string(c).unwrap_or_default())
        .collect();
    let mut out = String::new();
    if header {
        out.push('[');
    }
    for (n, r) in t.rows.iter().enumerate() {
        out.push_str(if written == 0 && n == 0 {
            "\n  {"
        } else {
            ",\n  {"
        });
        super::json::push_row(&mut out, &keys, &numeric, r);
    }
    out
}

/// The rows of one frame, as columns, until they are written.
#[derive(Default)]
struct KernelChunk {
    cell: Vec<String>,
    round: Vec<u32>,
    iter: Vec<u32>,
    kernel: Vec<u32>,
    first: Vec<bool>,
    name: Vec<String>,
    t_prod: Vec<f64>,
    t_ker: Vec<f64>,
    t_idle: Vec<Option<f64>>,
    flush: Vec<bool>,
    k: Vec<Option<u32>>,
    t_flush: Vec<Option<f64>>,
}

impl KernelChunk {
    fn frame(&mut self) -> PolarsResult<DataFrame> {
        let c = std::mem::take(self);
        DataFrame::new(
            c.iter.len(),
            vec![
                Column::new("cell".into(), c.cell),
                Column::new("round".into(), c.round),
                Column::new("iter".into(), c.iter),
                Column::new("kernel".into(), c.kernel),
                Column::new("first".into(), c.first),
                Column::new("name".into(), c.name),
                Column::new("t_prod_us".into(), c.t_prod),
                Column::new("t_ker_us".into(), c.t_ker),
                Column::new("t_idle_us".into(), c.t_idle),
                Column::new("flush".into(), c.flush),
                Column::new("k".into(), c.k),
                Column::new("t_flush_us".into(), c.t_flush),
            ],
        )
    }
}

#[derive(Default)]
struct InferenceChunk {
    cell: Vec<String>,
    round: Vec<u32>,
    iter: Vec<u32>,
    latency: Vec<f64>,
    flushes: Vec<Option<u32>>,
    k_mean: Vec<Option<f64>>,
}

impl InferenceChunk {
    fn frame(&mut self) -> PolarsResult<DataFrame> {
        let c = std::mem::take(self);
        DataFrame::new(
            c.iter.len(),
            vec![
                Column::new("cell".into(), c.cell),
                Column::new("round".into(), c.round),
                Column::new("iter".into(), c.iter),
                Column::new("latency_us".into(), c.latency),
                Column::new("flushes".into(), c.flushes),
                Column::new("k_mean".into(), c.k_mean),
            ],
        )
    }
}

/// Where the rows of one frame go: files, or a frame kept in memory up to a
/// number of rows (`show`).
pub enum Output {
    Files(Vec<FrameFile>),
    Kept {
        frame: Option<DataFrame>,
        limit: usize,
        /// Rows past the limit, counted.
        more: u64,
    },
}

impl Output {
    fn chunk(&mut self, df: &DataFrame) -> Result<()> {
        match self {
            Output::Files(files) => {
                for f in files {
                    f.chunk(df)?;
                }
            }
            Output::Kept { frame, limit, more } => {
                let have = frame.as_ref().map_or(0, |f| f.height());
                let take = (*limit - have.min(*limit)).min(df.height());
                *more += (df.height() - take) as u64;
                let part = df.slice(0, take);
                match frame {
                    Some(f) => {
                        f.vstack_mut(&part)?;
                    }
                    None => *frame = Some(part),
                }
            }
        }
        Ok(())
    }

    fn finish(self, empty: &DataFrame) -> Result<Option<(DataFrame, u64)>> {
        match self {
            Output::Files(files) => {
                for f in files {
                    f.finish(empty)?;
                }
                Ok(None)
            }
            Output::Kept { frame, more, .. } => {
                Ok(Some((frame.unwrap_or_else(|| empty.clone()), more)))
            }
        }
    }
}

/// The records of one run, into the chunks; full chunks go out at once.
struct Rows<'o> {
    id: String,
    round: u32,
    base: Option<u32>,
    kernels: Option<(&'o mut KernelChunk, &'o mut Output)>,
    inferences: Option<(&'o mut InferenceChunk, &'o mut Output)>,
    error: Option<anyhow::Error>,
}

impl Records for Rows<'_> {
    fn kernel(&mut self, r: &KernelRecord<'_>) {
        let base = *self.base.get_or_insert(r.kernel);
        let Some((c, out)) = &mut self.kernels else {
            return;
        };
        if self.error.is_some() {
            return;
        }
        c.cell.push(self.id.clone());
        c.round.push(self.round);
        c.iter.push(r.iter);
        c.kernel.push(r.kernel);
        c.first.push(r.kernel == base);
        c.name.push(r.name.to_string());
        c.t_prod.push(r.t_prod);
        c.t_ker.push(r.t_ker);
        c.t_idle.push(r.t_idle);
        c.flush.push(r.flush);
        c.k.push(r.k);
        c.t_flush.push(r.t_flush);
        if c.iter.len() >= CHUNK_ROWS
            && let Err(e) = c
                .frame()
                .map_err(anyhow::Error::from)
                .and_then(|df| out.chunk(&df))
        {
            self.error = Some(e);
        }
    }

    fn inference(&mut self, r: &InferenceRecord) {
        let Some((c, out)) = &mut self.inferences else {
            return;
        };
        if self.error.is_some() {
            return;
        }
        c.cell.push(self.id.clone());
        c.round.push(self.round);
        c.iter.push(r.iter);
        c.latency.push(r.latency);
        c.flushes.push(r.flushes);
        c.k_mean.push(r.k_mean);
        if c.iter.len() >= CHUNK_ROWS
            && let Err(e) = c
                .frame()
                .map_err(anyhow::Error::from)
                .and_then(|df| out.chunk(&df))
        {
            self.error = Some(e);
        }
    }

    fn finish(&mut self, _meta: LogMeta) {}
}

/// Reads every run of `cells` once and sends its records to the frames
/// asked for: `kernels` and `inferences` (each `None` when not asked).
/// Returns what each output kept (for `Output::Kept`).
pub fn write(
    cells: &Cells,
    mut kernels: Option<Output>,
    mut inferences: Option<Output>,
) -> Result<[Option<(DataFrame, u64)>; 2]> {
    let mut kc = KernelChunk::default();
    let mut ic = InferenceChunk::default();
    for p in 0..cells.len() {
        let rows = Rows {
            id: cells.ids[p].to_string(),
            round: cells.rounds[p],
            base: None,
            kernels: kernels.as_mut().map(|o| (&mut kc, o)),
            inferences: inferences.as_mut().map(|o| (&mut ic, o)),
            error: None,
        };
        let rows = cells
            .read_into(p, rows)
            .with_context(|| format!("cannot read {}", cells.log_path(p).display()))?;
        if let Some(e) = rows.error {
            return Err(e);
        }
    }
    let mut kept = [None, None];
    if let Some(mut out) = kernels {
        if !kc.iter.is_empty() {
            out.chunk(&kc.frame()?)?;
        }
        kept[0] = out.finish(&KernelChunk::default().frame()?)?;
    }
    if let Some(mut out) = inferences {
        if !ic.iter.is_empty() {
            out.chunk(&ic.frame()?)?;
        }
        kept[1] = out.finish(&InferenceChunk::default().frame()?)?;
    }
    Ok(kept)
}

/// A frame kept in memory up to `limit` rows (`show`), and how many rows
/// it left out.
pub fn collect(cells: &Cells, name: TableName, limit: usize) -> Result<(DataFrame, u64)> {
    let out = || Output::Kept {
        frame: None,
        limit,
        more: 0,
    };
    let [k, i] = if name == TableName::Kernels {
        write(cells, Some(out()), None)?
    } else {
        write(cells, None, Some(out()))?
    };
    k.or(i).context("the frame was asked for")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::Data;

    fn frame() -> DataFrame {
        let text = "KLO v1 net=x iter=0 kernel=0 name=a t_prod_us=12.5 t_ker_us=20 t_idle_us=nan flush=0 k=2\n\
                    KLO v1 net=x iter=0 kernel=1 name=\"b, \\\"c\\\"|d\" t_prod_us=0.1 t_ker_us=20.25 t_idle_us=1.5 flush=1 k=2 t_flush_us=3\n\
                    KLO v1 net=x iter=1 kernel=0 name=7 t_prod_us=11 t_ker_us=20 t_idle_us=nan flush=0 k=2\n\
                    KLO v1 net=x iter=0 latency_us=100.0 flushes=1 k_mean=2.00\nKLO v1 end iters=1\n";
        let log = crate::ingest::parse_klo(text);
        crate::ingest::frames::build(&[(0, &log)]).unwrap().0
    }

    #[test]
    fn a_frame_written_in_chunks_is_the_frame_written_whole() {
        let df = frame();
        let dir = tempfile::tempdir().unwrap();
        for format in [TableFormat::Csv, TableFormat::Md, TableFormat::Json] {
            let path = dir.path().join(format!("k.{format:?}"));
            let mut f = FrameFile::create(&path, format).unwrap();
            for row in 0..df.height() {
                f.chunk(&df.slice(row as i64, 1)).unwrap();
            }
            f.finish(&df.clear()).unwrap();
            let whole = Data::Frame(df.clone()).write(format).unwrap();
            let chunked = std::fs::read(&path).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&chunked),
                String::from_utf8_lossy(&whole),
                "{format:?}"
            );
            // An empty frame: the header only, as whole.
            let empty = dir.path().join(format!("e.{format:?}"));
            FrameFile::create(&empty, format)
                .unwrap()
                .finish(&df.clear())
                .unwrap();
            assert_eq!(
                std::fs::read(&empty).unwrap(),
                Data::Frame(df.clear()).write(format).unwrap(),
                "{format:?}"
            );
        }
        // Parquet in row groups reads back as the frame.
        let path = dir.path().join("k.parquet");
        let mut f = FrameFile::create(&path, TableFormat::Parquet).unwrap();
        f.chunk(&df.slice(0, 2)).unwrap();
        f.chunk(&df.slice(2, 1)).unwrap();
        f.finish(&df.clear()).unwrap();
        let back = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert!(back.equals_missing(&df), "{back}\n{df}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
