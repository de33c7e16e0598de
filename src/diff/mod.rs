//! `klo-spec diff`: what changed between two result sets. Cells are joined
//! by id; per cell and metric the old and new value, their ratio and a
//! mark. Checklist verdicts that flipped are listed first.
//!
//! Marks: `new` and `gone` for cells on one side only; `not comparable` when
//! the cell's content hash changed (its definition did: benchmark, load,
//! helpers, board...), or when a value exists on one side only; otherwise
//! `better` or `worse` when the change is above the threshold and not noise
//! (see `noise.rs`), else `unchanged`. A cell whose status changed to or from
//! `ok` has one `status` row instead of its metrics.

mod compare;
pub mod noise;
mod render;

use anyhow::Result;

use crate::error::UsageError;
use crate::output::fmt_f;
use crate::results::{ResultSet, Source};
use crate::rows::{RoundRow, SummaryRow, Verdict};
pub use compare::compare;
use noise::Basis;
pub use render::{render_json, render_markdown, render_table};

/// A metric `diff` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffMetric {
    /// Mean latency per inference (lower is better).
    Latency,
    /// Mean T_prod, host time per kernel (lower is better).
    TProd,
    /// Mean T_ker, device time per kernel (lower is better).
    TKer,
    /// Mean T_idle, device idle gap per kernel (lower is better).
    TIdle,
    /// Speedup over the condition's default cell (higher is better).
    Speedup,
}

/// How `diff` orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffSort {
    /// By cell id, then metric.
    Id,
    /// Largest relative change first.
    Ratio,
    /// Worse first, then better, not comparable, gone, new, unchanged.
    Mark,
}

/// How `diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    /// Aligned text, marks coloured on a terminal.
    Table,
    /// Markdown (for a pull request or an issue).
    Md,
    /// JSON (for scripts).
    Json,
}

/// What `klo-spec diff` compares and how it prints (the command line's
/// `diff` arguments).
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// The old result set; with `rev`, the folder read at the revision(s).
    pub old: std::path::PathBuf,
    /// The new result set. Not with `rev`.
    pub new: Option<std::path::PathBuf>,
    /// One revision (compared with the working tree) or two.
    pub rev: Vec<String>,
    /// Metrics to compare; empty: all.
    pub metric: Vec<DiffMetric>,
    /// Smallest relative change, in percent, that can be better or worse.
    pub threshold: f64,
    /// Significance level of the noise tests.
    pub alpha: f64,
    /// Leave out rows marked unchanged.
    pub only_changed: bool,
    pub sort: DiffSort,
    pub format: DiffFormat,
}

/// Every metric, in the order rows show them.
pub const ALL_METRICS: [DiffMetric; 5] = [
    DiffMetric::Latency,
    DiffMetric::TProd,
    DiffMetric::TKer,
    DiffMetric::TIdle,
    DiffMetric::Speedup,
];

struct MetricInfo {
    name: &'static str,
    /// Its value in summary.csv (the mean over rounds).
    value: fn(&SummaryRow) -> Option<f64>,
    /// The decimals summary.csv writes it with.
    decimals: usize,
    /// Its column in rounds.csv (the figure of each round).
    rounds_column: &'static str,
    /// That column's value in a row of rounds.csv.
    round_value: fn(&RoundRow) -> Option<f64>,
    higher_is_better: bool,
}

impl MetricInfo {
    /// A cell's value, where it is a finite number.
    fn number(&self, row: &SummaryRow) -> Option<f64> {
        (self.value)(row).filter(|v| v.is_finite())
    }

    /// A cell's value as summary.csv writes it ("" when absent).
    fn text(&self, row: &SummaryRow) -> String {
        fmt_f((self.value)(row), self.decimals)
    }
}

fn info(m: DiffMetric) -> MetricInfo {
    type Summary = fn(&SummaryRow) -> Option<f64>;
    type Round = fn(&RoundRow) -> Option<f64>;
    let (name, value, decimals, rounds_column, round_value, higher_is_better): (
        _,
        Summary,
        _,
        _,
        Round,
        _,
    ) = match m {
        DiffMetric::Latency => (
            "latency",
            |r| r.latency_mean_us,
            1,
            "latency_us",
            |r| r.latency_us,
            false,
        ),
        DiffMetric::TProd => (
            "t_prod",
            |r| r.t_prod_mean_us,
            2,
            "t_prod_us",
            |r| r.t_prod_us,
            false,
        ),
        DiffMetric::TKer => (
            "t_ker",
            |r| r.t_ker_mean_us,
            2,
            "t_ker_us",
            |r| r.t_ker_us,
            false,
        ),
        DiffMetric::TIdle => (
            "t_idle",
            |r| r.t_idle_mean_us,
            2,
            "t_idle_us",
            |r| r.t_idle_us,
            false,
        ),
        DiffMetric::Speedup => ("speedup", |r| r.speedup, 3, "speedup", |r| r.speedup, true),
    };
    MetricInfo {
        name,
        value,
        decimals,
        rounds_column,
        round_value,
        higher_is_better,
    }
}

/// The mark of a row. The order is `--sort mark`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mark {
    Worse,
    Better,
    NotComparable,
    Gone,
    New,
    Unchanged,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Worse => "worse",
            Mark::Better => "better",
            Mark::NotComparable => "not comparable",
            Mark::Gone => "gone",
            Mark::New => "new",
            Mark::Unchanged => "unchanged",
        }
    }
}

/// One metric of one cell (or its status).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub metric: &'static str,
    /// The values as the tables write them ("" when absent).
    pub old: String,
    pub new: String,
    pub ratio: Option<f64>,
    pub mark: Mark,
    /// Holm-adjusted p-value of the noise test, when there was one.
    pub p: Option<f64>,
    pub basis: Option<Basis>,
    pub note: String,
}

/// A checklist comparison whose verdict differs (or that exists on one
/// side only).
#[derive(Debug, Clone, PartialEq)]
pub struct Flip {
    pub check: String,
    pub group: String,
    /// The verdict on each side; `None` where the comparison is absent.
    pub old: Option<Verdict>,
    pub new: Option<Verdict>,
    pub old_p: String,
    pub new_p: String,
}

/// A side's verdict as the diff shows it: `(none)` where it is absent.
pub fn verdict_text(v: Option<Verdict>) -> &'static str {
    v.map_or("(none)", Verdict::as_str)
}

/// What `diff` found.
#[derive(Debug, Clone)]
pub struct Diff {
    pub old: String,
    pub new: String,
    pub threshold: f64,
    pub alpha: f64,
    pub flips: Vec<Flip>,
    pub rows: Vec<Row>,
    /// Per cell id, its most telling mark (worse over better over the rest).
    pub cells: Vec<(String, Mark)>,
    /// Where the two result sets' boards were measured in different
    /// environments (kernel, Android build, GPU driver, governors, ...;
    /// meta.json's `environment`), board by board.
    pub environment: Vec<crate::preflight::EnvChange>,
}

impl Diff {
    /// Whether anything got worse (the exit code says so).
    pub fn any_worse(&self) -> bool {
        self.rows.iter().any(|r| r.mark == Mark::Worse)
    }

    /// Cells per mark (worse, better, unchanged, new, gone, not comparable).
    pub fn counts(&self) -> Vec<(Mark, usize)> {
        [
            Mark::Worse,
            Mark::Better,
            Mark::Unchanged,
            Mark::New,
            Mark::Gone,
            Mark::NotComparable,
        ]
        .iter()
        .map(|m| (*m, self.cells.iter().filter(|(_, c)| c == m).count()))
        .collect()
    }
}

/// Comparison settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub metrics: Vec<DiffMetric>,
    /// Relative change below which nothing is better or worse (0.05 = 5%).
    pub threshold: f64,
    pub alpha: f64,
}

/// Orders rows for `--sort`.
pub fn sort_rows(rows: &mut [Row], sort: DiffSort) {
    let metric_rank = |m: &str| {
        ALL_METRICS
            .iter()
            .position(|x| info(*x).name == m)
            .unwrap_or(0)
    };
    match sort {
        DiffSort::Id => rows.sort_by(|a, b| {
            a.id.cmp(&b.id)
                .then(metric_rank(a.metric).cmp(&metric_rank(b.metric)))
        }),
        DiffSort::Ratio => {
            let size = |r: &Row| r.ratio.filter(|x| *x > 0.0).map(|x| x.ln().abs());
            rows.sort_by(|a, b| {
                size(b)
                    .unwrap_or(-1.0)
                    .total_cmp(&size(a).unwrap_or(-1.0))
                    .then(a.id.cmp(&b.id))
            })
        }
        DiffSort::Mark => rows.sort_by(|a, b| a.mark.cmp(&b.mark).then(a.id.cmp(&b.id))),
    }
}

fn sources(a: &DiffOptions) -> Result<(Source, Source)> {
    let dir = a.old.clone();
    match (a.rev.as_slice(), &a.new) {
        ([], Some(new)) => Ok((Source::Dir(dir), Source::Dir(new.clone()))),
        ([], None) => Err(UsageError::new(
            "diff needs two result sets",
            Some("give a second folder (klo-spec diff OLD NEW) or a revision (klo-spec diff outputs/x --rev HEAD~1)".into()),
        )
        .into()),
        ([rev], None) => Ok((
            Source::Rev { dir: dir.clone(), rev: rev.clone() },
            Source::Dir(dir),
        )),
        ([r1, r2], None) => Ok((
            Source::Rev { dir: dir.clone(), rev: r1.clone() },
            Source::Rev { dir, rev: r2.clone() },
        )),
        (_, Some(_)) => Err(UsageError::new(
            "--rev reads one folder at revisions: give one folder with --rev, or two folders without",
            None,
        )
        .into()),
        (_, None) => Err(UsageError::new(
            "--rev is given at most twice (--rev OLD --rev NEW)",
            None,
        )
        .into()),
    }
}

/// `klo-spec diff`: prints the comparison; exit code 1 when anything got
/// worse.
pub fn command(a: &DiffOptions) -> Result<i32> {
    if !(a.threshold.is_finite() && a.threshold >= 0.0) {
        return Err(UsageError::new(
            format!("--threshold {} is not a percentage >= 0", a.threshold),
            None,
        )
        .into());
    }
    if !(a.alpha > 0.0 && a.alpha < 1.0) {
        return Err(UsageError::new(
            format!("--alpha {} is not between 0 and 1", a.alpha),
            Some("the usual values are 0.01 and 0.05".into()),
        )
        .into());
    }
    let (so, sn) = sources(a)?;
    let (old, new) = (ResultSet::open(&so)?, ResultSet::open(&sn)?);
    let mut metrics: Vec<DiffMetric> = Vec::new();
    for m in if a.metric.is_empty() {
        &ALL_METRICS[..]
    } else {
        &a.metric[..]
    } {
        if !metrics.contains(m) {
            metrics.push(*m);
        }
    }
    let mut diff = compare(
        &old,
        &new,
        &Options {
            metrics,
            threshold: a.threshold / 100.0,
            alpha: a.alpha,
        },
    )?;
    if a.only_changed {
        diff.rows.retain(|r| r.mark != Mark::Unchanged);
    }
    sort_rows(&mut diff.rows, a.sort);
    let text = match a.format {
        DiffFormat::Table => render_table(&diff, crate::output::terminal::stdout_colour()),
        DiffFormat::Md => render_markdown(&diff),
        DiffFormat::Json => crate::text::json_safe(&render_json(&diff)?).into_owned(),
    };
    // Cell ids, titles and values come from result sets: shown, never
    // acted on by the terminal (the table's cells are made printable
    // already; its colours are klo-spec's own).
    print!("{text}");
    Ok(if diff.any_worse() { 1 } else { 0 })
}

#[cfg(test)]
mod tests;
