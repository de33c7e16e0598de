//! T_prod, T_ker and T_idle along the kernel sequence of one cell: per
//! kernel index, the mean over the cell's measured inferences. Where the
//! host (T_prod) outruns the device (T_ker) the GPU idles (T_idle); the
//! flush period K decides where the batches start.

use plotters::prelude::*;

use super::{Drawn, FONT, Missing, Plot, colour, drawing, legend, svg, tick, y_range};
use crate::error::{UsageError, suggest};
use crate::results::ResultSet;
use crate::results::cells::Cells;

/// The log position of the cell to draw: `wanted`, or the first ok
/// `default` cell, or the first ok cell with a log.
fn choose(set: &ResultSet, cells: &Cells, wanted: Option<&str>) -> anyhow::Result<Option<usize>> {
    if let Some(id) = wanted {
        return match cells.ids.iter().position(|x| x == id) {
            Some(p) => Ok(Some(p)),
            None => Err(UsageError::new(
                format!("{}: no raw log of cell `{id}` to plot", set.label),
                Some(match suggest(id, cells.ids.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "give the id of a measured cell (klo-spec show DIR)".into(),
                }),
            )
            .into()),
        };
    }
    let ok = |p: &usize| set.summary_value(cells.rows[*p], "status") == Some("ok");
    let all = 0..cells.ids.len();
    Ok(all
        .clone()
        .filter(ok)
        .find(|&p| set.summary_value(cells.rows[p], "strategy") == Some("default"))
        .or_else(|| all.clone().find(ok)))
}

pub(super) fn plot(set: &ResultSet, cells: Option<&Cells>, wanted: Option<&str>) -> Drawn {
    let title = "T_prod, T_ker and T_idle along the kernel sequence".to_string();
    let Some(cells) = cells else {
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
        return Ok(Err(Missing {
            name: "kernels",
            title,
            reason: "it needs a cell's raw log, and this result set has no cells/ folder".into(),
        }));
    };
    let Some(pos) = choose(set, cells, wanted)? else {
        return Ok(Err(Missing {
            name: "kernels",
            title,
            reason: "no ok cell has a raw log".into(),
        }));
    };
    let id = cells.ids[pos].clone();
    let k = set
        .summary_value(cells.rows[pos], "k")
        .unwrap_or("?")
        .to_string();
    let m = cells.kernel_means(pos)?;
    if m.kernel.is_empty() {
        return Ok(Err(Missing {
            name: "kernels",
            title,
            reason: format!("cell {id} has no kernel records"),
        }));
    }
    let series: [(&str, &Vec<Option<f64>>); 3] = [
        ("T_prod", &m.t_prod),
        ("T_ker", &m.t_ker),
        ("T_idle", &m.t_idle),
    ];
    let text = svg(440, |root| {
        let (k0, k1) = (m.kernel[0] as f64, m.kernel[m.kernel.len() - 1] as f64);
        let y = y_range(
            series.iter().flat_map(|(_, v)| v.iter().flatten().copied()),
            0.15,
        );
        let mut chart = drawing(
            ChartBuilder::on(root)
                .caption(&title, (FONT, 22))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(k0 - 0.5..k1 + 0.5, y),
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
            let pts: Vec<(f64, f64)> = m
                .kernel
                .iter()
                .zip(values.iter())
                .filter_map(|(k, v)| v.map(|v| (*k as f64, v)))
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
    })?;
    Ok(Ok(Plot {
        name: "kernels",
        title,
        caption: format!(
            "Cell {id}: per kernel index, the mean over its measured inferences of T_prod (host time before the enqueue; the first kernel's is an outlier and not drawn), T_ker (device time) and T_idle (device gap before the kernel; undefined for the first)."
        ),
        svg: text,
    }))
}
