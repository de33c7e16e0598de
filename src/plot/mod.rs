//! Plots of a result set, as SVG text (plotters' SVG backend: no external
//! program, no font files; the browser or viewer draws the text). Each plot
//! says what it shows and why it is missing when the data is not there.
//!
//! - `tprod`: T_prod distribution per load and frequency setting;
//! - `sweep`: mean latency against K for every sweep, K_answer marked (and
//!   K_opt when the sweeps table has one);
//! - `speedup`: speedup per strategy and condition;
//! - `kernels`: T_prod, T_ker and T_idle along the kernel sequence of one
//!   cell;
//! - `timeline`: one inference of K = 1 and of K_answer per load, host and
//!   device lanes on one time axis;
//! - `samples`: per board, the frequencies and temperatures the sampler
//!   read during the benchmarks, on the board's clock.

mod kernels;
mod samples;
mod speedup;
mod sweep;
pub mod timeline;
mod tprod;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::results::ResultSet;
use crate::results::cells::Cells;
use crate::rows::SummaryRow;

/// One plot, ready to inline or to write as `<name>.svg`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// File stem and anchor: `tprod`, `sweep`, `speedup`, `kernels`.
    pub name: &'static str,
    pub title: String,
    /// What is drawn and how to read it, in one or two sentences.
    pub caption: String,
    pub svg: String,
}

/// A plot that could not be drawn, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub name: &'static str,
    pub title: String,
    pub reason: String,
}

/// Every plot of a result set. `cells`: its raw cells when on disk;
/// `cell`: the id whose kernel sequence is drawn (default: the first ok
/// `default` cell with a log).
pub fn all(
    set: &ResultSet,
    cells: Option<&Cells>,
    cell: Option<&str>,
) -> Result<(Vec<Plot>, Vec<Missing>)> {
    let summary = set.summary_rows()?;
    let mut plots = Vec::new();
    let mut missing = Vec::new();
    for result in [
        tprod::plot(&summary, cells),
        sweep::plot(set, &summary),
        speedup::plot(&summary),
        kernels::plot(set, &summary, cells, cell),
        timeline::plot(set, cells),
        samples::plot(set, cells),
    ] {
        match result? {
            Ok(p) => plots.push(p),
            Err(m) => missing.push(m),
        }
    }
    Ok((plots, missing))
}

/// What a plot function returns: the plot, or why there is none.
type Drawn = Result<std::result::Result<Plot, Missing>>;

/// Colours that stay apart on white and for common colour blindness
/// (Okabe-Ito).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Most points a plot draws per series (a line of means, the kernels of
/// one inference): a longer series is thinned (neighbours merged, or the
/// first ones kept) and the caption says so. Plots are built from digests
/// and tables, so what a plot holds is bounded too.
pub const MAX_POINTS: usize = 1000;
/// Most values one box of the T_prod plot is drawn from: a larger
/// condition is a random sample of its values (the caption says so).
pub const MAX_BOX_SAMPLE: usize = 20_000;
/// Most boxes (conditions) of the T_prod plot, panels (networks) and lines
/// or bar groups (conditions) per panel of the sweep and speedup plots;
/// the others are counted in the caption.
pub const MAX_BOXES: usize = 40;
pub const MAX_PANELS: usize = 12;
pub const MAX_SERIES: usize = 16;

const FONT: &str = "sans-serif";
/// Width of every plot, in SVG user units (pixels at 100%).
pub const WIDTH: u32 = 900;

/// Draws into an SVG of `WIDTH` x `height` and returns its text.
fn svg(
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("drawing: {e}"))?;
        draw(&root)?;
        root.present().map_err(|e| anyhow!("drawing: {e}"))?;
    }
    Ok(buf)
}

/// Converts a plotters error (its backend error is not `Sync`-bound in
/// every version) into anyhow.
fn drawing<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| anyhow!("drawing: {e}"))
}

/// A part of a plot's SVG: a panel, or the whole.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The charts of these plots: two f64 axes, drawn as SVG.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The series legend, in one style for every plot.
fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) -> Result<()> {
    drawing(
        chart
            .configure_series_labels()
            .position(position)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FONT, 13))
            .draw(),
    )
}

/// A y range starting at zero for values that are all positive (times and
/// speedups are read against zero), with `air` (a fraction) above the top
/// value for the legend.
fn y_range(values: impl Iterator<Item = f64>, air: f64) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let lo = lo.min(0.0);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    lo..hi + (hi - lo) * air
}

/// An axis tick without trailing noise: 1400, 12.5, 0.25.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}").trim_end_matches(".0").to_string()
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The axes that differ between the rows of a result set, among load,
/// cpu_freq and gpu_freq: conditions are named by those only.
fn varying(rows: &[SummaryRow], axes: &[&'static str]) -> Vec<&'static str> {
    axes.iter()
        .copied()
        .filter(|a| {
            let mut seen = std::collections::BTreeSet::new();
            for r in rows {
                seen.insert(r.axis(a));
            }
            seen.len() > 1
        })
        .collect()
}

/// A short name for a row's condition on `axes` ("heavy, cpu min").
fn condition_name(row: &SummaryRow, axes: &[&str]) -> String {
    let parts: Vec<String> = axes
        .iter()
        .map(|a| {
            let v = row.axis(a);
            match *a {
                "cpu_freq" => format!("cpu {v}"),
                "gpu_freq" => format!("gpu {v}"),
                "knobs" => format!("knobs {v}"),
                "load" => format!("load {v}"),
                _ => v.to_string(),
            }
        })
        .collect();
    if parts.is_empty() {
        "all cells".into()
    } else {
        parts.join(", ")
    }
}

/// Rows whose status is `ok`.
fn ok_rows(rows: &[SummaryRow]) -> Vec<&SummaryRow> {
    rows.iter().filter(|r| r.is_ok()).collect()
}

/// Distinct values of a field over `rows`, in first-seen order.
fn distinct(rows: &[&SummaryRow], field: impl Fn(&SummaryRow) -> &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for r in rows {
        let v = field(r);
        if seen.insert(v) {
            out.push(v.to_string());
        }
    }
    out
}

/// A value that is there and finite (as summary.csv's numbers are read
/// for a plot).
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests;
