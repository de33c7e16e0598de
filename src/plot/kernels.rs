//! T_prod, T_ker and T_idle along the kernel sequence of one cell: per
//! kernel index, the mean over the cell's measured inferences. Where the
//! host (T_prod) outruns the device (T_ker) the GPU idles (T_idle); the
//! flush period K decides where the batches start.

use plotters::prelude::*;

use super::{Drawn, FONT, MAX_POINTS, Missing, Plot, colour, drawing, legend, svg, tick, y_range};
use crate::error::{UsageError, suggest};
use crate::ingest::digest::KernelProfile;
use crate::results::ResultSet;
use crate::results::cells::Cells;
use crate::rows::SummaryRow;

/// The log position of the cell to draw: `wanted`, or the first ok
/// `default` cell, or the first ok cell with a log.
fn choose(
    set: &ResultSet,
    summary: &[SummaryRow],
    cells: &Cells,
    wanted: Option<&str>,
) -> anyhow::Result<Option<usize>> {
    if let Some(id) = wanted {
        return match cells.ids.iter().position(|x| &**x == id) {
            Some(p) => Ok(Some(p)),
            None => Err(UsageError::new(
                format!("{}: no raw log of cell `{id}` to plot", set.label),
                Some(match suggest(id, cells.ids.iter().map(|x| &**x)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "give the id of a measured cell (klo-spec show DIR)".into(),
                }),
            )
            .into()),
        };
    }
    let row = |p: usize| summary.get(cells.rows[p]);
    let ok = |p: &usize| row(*p).is_some_and(SummaryRow::is_ok);
    let all = 0..cells.ids.len();
    Ok(all
        .clone()
        .filter(ok)
        .find(|&p| row(p).is_some_and(|r| r.strategy == "default"))
        .or_else(|| all.clone().find(ok)))
}

/// The three series per point of a profile: T_prod, T_ker and T_idle.
type Series = [(&'static str, Vec<Option<f64>>); 3];

/// The points to draw of a (coarsened) profile: x at the middle of each
/// point's kernel indexes, and T_prod, T_ker and T_idle there.
fn series(m: &KernelProfile) -> (Vec<f64>, Series) {
    let x: Vec<f64> = m
        .ranges()
        .map(|(first, last, _)| (first as f64 + last as f64) / 2.0)
        .collect();
    let t_prod: Vec<Option<f64>> = m.buckets.iter().map(|b| b.t_prod.value()).collect();
    let t_ker: Vec<Option<f64>> = m
        .buckets
        .iter()
        .map(|b| (b.n > 0).then(|| b.t_ker / b.n as f64))
        .collect();
    let t_idle: Vec<Option<f64>> = m.buckets.iter().map(|b| b.t_idle.value()).collect();
    (
        x,
        [("T_prod", t_prod), ("T_ker", t_ker), ("T_idle", t_idle)],
    )
}

/// The plot's SVG: the series against the kernel index (cell `id`, its
/// K `k`), each point `width` kernel indexes wide.
fn draw(
    title: &str,
    id: &str,
    k: &str,
    width: u32,
    x: &[f64],
    series: &Series,
) -> anyhow::Result<String> {
    svg(440, |root| {
        let half = width.max(1) as f64 / 2.0;
        let (k0, k1) = (x[0] - half, x[x.len() - 1] + half);
        let y = y_range(
            series.iter().flat_map(|(_, v)| v.iter().flatten().copied()),
            0.15,
        );
        let mut chart = drawing(
            ChartBuilder::on(root)
                .caption(title, (FONT, 22))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(k0..k1, y),
        )?;
        drawing(
            chart
                .configure_mesh()
                .x_desc(format!("kernel index (cell {id}, K = {k})"))
                .y_desc("mean per kernel (µs)")
                .y_label_formatter(&tick)
                .max_light_lines(4)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .draw(),
        )?;
        for (i, (name, values)) in series.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<(f64, f64)> = x
                .iter()
                .zip(values.iter())
                .filter_map(|(k, v)| v.map(|v| (*k, v)))
                .collect();
            drawing(chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))))?
                .label(name.to_string())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                });
            drawing(chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled()))))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// The caption of cell `id`'s plot: `positions` kernel positions drawn
/// `width` to a point.
fn caption(id: &str, positions: u32, width: u32) -> String {
    let merged = if width > 1 {
        format!(
            " The cell has {positions} kernel positions and a plot draws at most {MAX_POINTS} points per series: each point is the mean over {width} neighbouring kernel indexes, at their middle."
        )
    } else {
        String::new()
    };
    format!(
        "Cell {id}: per kernel index, the mean over its measured inferences of T_prod (host time before the enqueue; the first kernel's is an outlier and not drawn), T_ker (device time) and T_idle (device gap before the kernel; undefined for the first).{merged}"
    )
}

/// Why there is no plot without the raw cells: bad input when a cell was
/// asked for.
fn without_cells(set: &ResultSet, title: String, wanted: Option<&str>) -> Drawn {
    if let Some(id) = wanted {
        return Err(UsageError::new(
            format!(
                "{}: no raw cells, so cell `{id}` cannot be plotted",
                set.label
            ),
            Some("cells/ is git-ignored: report from the folder where the scenario ran".into()),
        )
        .into());
    }
    Ok(Err(Missing {
        name: "kernels",
        title,
        reason: "it needs a cell's raw log, and this result set has no cells/ folder".into(),
    }))
}

pub(super) fn plot(
    set: &ResultSet,
    summary: &[SummaryRow],
    cells: Option<&Cells>,
    wanted: Option<&str>,
) -> Drawn {
    let title = "T_prod, T_ker and T_idle along the kernel sequence".to_string();
    let Some(cells) = cells else {
        return without_cells(set, title, wanted);
    };
    let Some(pos) = choose(set, summary, cells, wanted)? else {
        return Ok(Err(Missing {
            name: "kernels",
            title,
            reason: "no ok cell has a raw log".into(),
        }));
    };
    let id = cells.ids[pos].to_string();
    let k = summary
        .get(cells.rows[pos])
        .map_or("?", |r| r.k.as_str())
        .to_string();
    let full = cells.kernel_profile(pos)?;
    if full.buckets.is_empty() {
        return Ok(Err(Missing {
            name: "kernels",
            title,
            reason: format!("cell {id} has no kernel records"),
        }));
    }
    // At most MAX_POINTS per series: neighbouring kernels merged.
    let m = full.coarsened(MAX_POINTS);
    let positions = full
        .ranges()
        .last()
        .map_or(0, |(_, last, _)| last - full.start + 1);
    let (x, series) = series(&m);
    let text = draw(&title, &id, &k, m.width, &x, &series)?;
    Ok(Ok(Plot {
        name: "kernels",
        title,
        caption: caption(&id, positions, m.width),
        svg: text,
    }))
}
