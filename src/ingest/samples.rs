//! The sampler's file: `samples.csv`, written on the board by the cell
//! script while the benchmark runs (the scenario's `sampler`), pulled back
//! beside the benchmark's log. Its first line names the columns, each in
//! the unit the board reports it in; every other line is one sample:
//!
//! ```text
//! t_s,cpu_khz.little,cpu_khz.big,gpu_hz,gpu_busy,temp_mc.cpu-0-0
//! 1234.56,1804800,2419200,587000000,37,41200
//! ```
//!
//! `t_s` is the board's `/proc/uptime` (seconds since it booted: the cells
//! of one board share this time axis). The signals, after conversion:
//!
//! | column on the board | signal | unit |
//! |---|---|---|
//! | `cpu_khz.<cluster>` | `cpu_khz.<cluster>` | kHz |
//! | `gpu_hz` (kgsl, devfreq) or `gpu_khz` (Mali) | `gpu_khz` | kHz |
//! | `gpu_busy`: `37`, `37 %`, `37@587000000Hz`, or `busy/total` counters | `gpu_busy_pct` | % |
//! | `temp_mc.<zone type>` | `temp_c.<zone type>` | °C |
//!
//! The file comes from the board, so it is read as untrusted text: a line
//! with another number of fields than the header, or without a finite time,
//! is counted as malformed and skipped; a value that is not a finite number
//! is missing (null); a column of another name, or with a character outside
//! letters, digits, `_`, `.` and `-`, is ignored.

use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// Most columns of a samples file that are read (a board has tens of
/// thermal zones, not thousands).
pub const MAX_COLUMNS: usize = 512;

/// How a board column becomes a signal.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Conv {
    /// The number as it is.
    Same,
    /// Divided by this.
    Div(f64),
    /// A busy figure: `37`, `37 %`, `37%` or `busy/total`.
    Busy,
}

/// The signal a board column holds, and how to convert its values.
fn signal_of(column: &str) -> Option<(String, Conv)> {
    let ok = !column.is_empty()
        && column.len() <= 64
        && column
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return None;
    }
    if let Some(rest) = column.strip_prefix("cpu_khz.") {
        return (!rest.is_empty()).then(|| (column.to_string(), Conv::Same));
    }
    if let Some(rest) = column.strip_prefix("temp_mc.") {
        return (!rest.is_empty()).then(|| (format!("temp_c.{rest}"), Conv::Div(1000.0)));
    }
    match column {
        "gpu_hz" => Some(("gpu_khz".into(), Conv::Div(1000.0))),
        "gpu_khz" => Some(("gpu_khz".into(), Conv::Same)),
        "gpu_busy" => Some(("gpu_busy_pct".into(), Conv::Busy)),
        _ => None,
    }
}

fn finite(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn convert(v: &str, conv: Conv) -> Option<f64> {
    match conv {
        Conv::Same => finite(v),
        Conv::Div(d) => finite(v).map(|x| x / d),
        Conv::Busy => match v.split_once('/') {
            Some((busy, total)) => {
                let (b, t) = (finite(busy)?, finite(total)?);
                (t > 0.0 && b >= 0.0).then(|| 100.0 * b / t)
            }
            None => finite(v.trim().trim_end_matches('%')),
        },
    }
}

/// A samples file, parsed: the time of each sample and, per signal, its
/// values (None where the board could not read it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    pub t_s: Vec<f64>,
    /// Signal names (`cpu_khz.big`, `gpu_khz`, `gpu_busy_pct`,
    /// `temp_c.cpu-0-0`), in the file's column order.
    pub signals: Vec<String>,
    /// Per signal, one value per sample.
    pub values: Vec<Vec<Option<f64>>>,
    /// Lines skipped: another number of fields than the header, or no
    /// finite time.
    pub malformed: usize,
}

impl Samples {
    /// Parses a samples file's text. None when its first line does not
    /// start with `t_s` (not a samples file).
    pub fn parse(text: &str) -> Option<Samples> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next()?.trim_end_matches('\r').split(',').collect();
        if header.first() != Some(&"t_s") || header.len() > MAX_COLUMNS {
            return None;
        }
        // Per column after the time: (signal index, conversion).
        let mut out = Samples::default();
        let mut map: Vec<Option<(usize, Conv)>> = Vec::with_capacity(header.len() - 1);
        for col in &header[1..] {
            match signal_of(col) {
                Some((name, conv)) if !out.signals.contains(&name) => {
                    map.push(Some((out.signals.len(), conv)));
                    out.signals.push(name);
                }
                _ => map.push(None),
            }
        }
        out.values = vec![Vec::new(); out.signals.len()];
        for line in lines {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(',').collect();
            let t = fields.first().and_then(|t| finite(t));
            let (Some(t), true) = (t, fields.len() == header.len()) else {
                out.malformed += 1;
                continue;
            };
            out.t_s.push(t);
            for (f, m) in fields[1..].iter().zip(&map) {
                if let Some((i, conv)) = m {
                    out.values[*i].push(convert(f, *conv));
                }
            }
        }
        Some(out)
    }

    /// Reads a cell's `samples.csv` as data (no link followed, at most
    /// `limit` bytes). None when there is none, or it cannot be read.
    pub fn read(path: &Path, limit: u64) -> Option<Samples> {
        let text = crate::untrusted::read_lossy(path, limit).ok()?;
        Samples::parse(&text)
    }

    /// The samples as a polars frame: `t_s`, then one Float64 column per
    /// signal (null where the board could not read it).
    pub fn frame(&self) -> PolarsResult<DataFrame> {
        let mut columns = vec![Column::new("t_s".into(), &self.t_s)];
        for (name, v) in self.signals.iter().zip(&self.values) {
            columns.push(Column::new(name.as_str().into(), v));
        }
        DataFrame::new(self.t_s.len(), columns)
    }

    /// Per signal with at least one value: its count, min, mean and max
    /// (one polars pass over the frame), in the file's column order.
    pub fn summary(&self) -> PolarsResult<SamplesSummary> {
        let df = self.frame()?;
        let mut exprs = Vec::with_capacity(4 * self.signals.len());
        for (i, s) in self.signals.iter().enumerate() {
            let c = || col(s.as_str());
            exprs.push(c().count().cast(DataType::Float64).alias(format!("n{i}")));
            exprs.push(c().min().alias(format!("min{i}")));
            exprs.push(c().mean().alias(format!("mean{i}")));
            exprs.push(c().max().alias(format!("max{i}")));
        }
        let mut signals = Vec::new();
        if !exprs.is_empty() {
            let agg = df.lazy().select(exprs).collect()?;
            let get = |name: String| -> PolarsResult<Option<f64>> {
                Ok(agg.column(&name)?.cast(&DataType::Float64)?.f64()?.get(0))
            };
            for (i, s) in self.signals.iter().enumerate() {
                let n = get(format!("n{i}"))?.unwrap_or(0.0) as u64;
                if let (true, Some(min), Some(mean), Some(max)) = (
                    n > 0,
                    get(format!("min{i}"))?,
                    get(format!("mean{i}"))?,
                    get(format!("max{i}"))?,
                ) {
                    signals.push(SignalSummary {
                        signal: s.clone(),
                        n,
                        min,
                        mean,
                        max,
                    });
                }
            }
        }
        let (t_first_s, t_last_s) = match (self.t_s.first(), self.t_s.last()) {
            (Some(a), Some(b)) => (Some(*a), Some(*b)),
            _ => (None, None),
        };
        Ok(SamplesSummary {
            samples: self.t_s.len() as u64,
            t_first_s,
            t_last_s,
            malformed: self.malformed as u64,
            signals,
        })
    }
}

/// One signal of a run, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalSummary {
    pub signal: String,
    /// Samples with a value.
    pub n: u64,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
}

/// What a run's sampler saw (cell.json `samples`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplesSummary {
    /// Samples taken.
    pub samples: u64,
    /// The first and last sample's time on the board's clock (s since boot).
    pub t_first_s: Option<f64>,
    pub t_last_s: Option<f64>,
    /// Lines of the file that were skipped (see the module's notes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub malformed: u64,
    pub signals: Vec<SignalSummary>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_samples_file_is_converted_to_signals_in_their_units() {
        let text = "t_s,cpu_khz.little,cpu_khz.big,gpu_hz,gpu_busy,temp_mc.cpu-0-0\n\
                    100.00,300000,800000,305000000,25 %,40000\n\
                    100.10,300000,,587000000,75,41000\n\
                    100.20,576000,800000,587000000,,42500\n";
        let s = Samples::parse(text).unwrap();
        assert_eq!(
            s.signals,
            [
                "cpu_khz.little",
                "cpu_khz.big",
                "gpu_khz",
                "gpu_busy_pct",
                "temp_c.cpu-0-0"
            ]
        );
        assert_eq!(s.t_s, [100.0, 100.1, 100.2]);
        assert_eq!(s.values[1], [Some(800000.0), None, Some(800000.0)]);
        assert_eq!(s.values[2][0], Some(305000.0));
        assert_eq!(s.values[3], [Some(25.0), Some(75.0), None]);
        assert_eq!(s.values[4][2], Some(42.5));
        assert_eq!(s.malformed, 0);

        let sum = s.summary().unwrap();
        assert_eq!(sum.samples, 3);
        assert_eq!((sum.t_first_s, sum.t_last_s), (Some(100.0), Some(100.2)));
        let by = |n: &str| sum.signals.iter().find(|x| x.signal == n).unwrap().clone();
        let little = by("cpu_khz.little");
        assert_eq!((little.n, little.min, little.max), (3, 300000.0, 576000.0));
        assert_eq!(little.mean, 392000.0);
        // A missing value is not a zero: n counts the values read.
        let big = by("cpu_khz.big");
        assert_eq!((big.n, big.mean), (2, 800000.0));
        let busy = by("gpu_busy_pct");
        assert_eq!((busy.n, busy.mean), (2, 50.0));
        let t = by("temp_c.cpu-0-0");
        assert_eq!((t.min, t.max), (40.0, 42.5));
        assert!((t.mean - 41.1666).abs() < 1e-3);
    }

    #[test]
    fn busy_figures_in_every_format_the_kernels_write() {
        assert_eq!(convert("37", Conv::Busy), Some(37.0));
        assert_eq!(convert("37 %", Conv::Busy), Some(37.0));
        assert_eq!(convert("37%", Conv::Busy), Some(37.0));
        assert_eq!(convert("250/1000", Conv::Busy), Some(25.0));
        // No time elapsed: no figure, not a division by zero.
        assert_eq!(convert("0/0", Conv::Busy), None);
        assert_eq!(convert("/", Conv::Busy), None);
        assert_eq!(convert("", Conv::Busy), None);
    }

    #[test]
    fn a_hostile_or_broken_file_is_read_as_data() {
        // Not a samples file at all.
        assert_eq!(Samples::parse(""), None);
        assert_eq!(Samples::parse("time,x\n1,2\n"), None);
        // Lines of the wrong width or without a time are skipped and
        // counted; a value that is not a finite number is missing; columns
        // of unknown names or odd characters are ignored; a repeated
        // signal is read once.
        let text = "t_s,cpu_khz.big,rm -rf,other,cpu_khz.big,temp_mc.a\n\
                    1.0,100,x,y,200,nan\n\
                    2.0,inf,x,y,200\n\
                    nope,1,2,3,4,5\n\
                    3.0,<unsupported>,x,y,200,5000\n";
        let s = Samples::parse(text).unwrap();
        assert_eq!(s.signals, ["cpu_khz.big", "temp_c.a"]);
        assert_eq!(s.t_s, [1.0, 3.0]);
        assert_eq!(s.values[0], [Some(100.0), None]);
        assert_eq!(s.values[1], [None, Some(5.0)]);
        assert_eq!(s.malformed, 2);
        let sum = s.summary().unwrap();
        assert_eq!(sum.malformed, 2);
        // A signal never read is left out of the summary.
        let text = "t_s,gpu_busy\n1.0,\n2.0,\n";
        let sum = Samples::parse(text).unwrap().summary().unwrap();
        assert_eq!(sum.samples, 2);
        assert!(sum.signals.is_empty());
        // A header only: no samples.
        let sum = Samples::parse("t_s,cpu_khz.big\n")
            .unwrap()
            .summary()
            .unwrap();
        assert_eq!((sum.samples, sum.t_first_s), (0, None));
    }
}
