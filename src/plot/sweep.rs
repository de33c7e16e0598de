//! Latency against K for every sweep: one panel per network, one line per
//! condition, mean latency over rounds with a bar of its 95% interval, K on a
//! log2 axis. K_answer (the sweep's argmin, from sweeps.csv) is ringed;
//! K_opt, the LUT's answer for the condition (a `k_opt` column of
//! sweeps.csv or kstrategy.csv), is a dashed line, so the two can be
//! compared at a glance.

use plotters::prelude::*;

use super::tprod::category;
use super::{
    Area, Chart, Drawn, FONT, MAX_PANELS, MAX_POINTS, MAX_SERIES, Missing, Plot, colour,
    condition_name, drawing, finite, legend, svg, tick, varying, y_range,
};
use crate::results::ResultSet;
use crate::rows::SummaryRow;

/// One sweep: its condition's name and (K, mean, half the 95% interval
/// over rounds) per ok cell.
struct Line {
    network: String,
    name: String,
    points: Vec<(u32, f64, f64)>,
    k_answer: Option<u32>,
    k_opt: Option<u32>,
    /// Some of its K values are not drawn (more than `MAX_POINTS`).
    thinned: bool,
}

fn lines(set: &ResultSet, summary: &[SummaryRow]) -> anyhow::Result<Vec<Line>> {
    let sweeps = set.sweep_rows()?;
    let kstrategy = set.kstrategy_rows()?;
    let axes = varying(summary, &["load", "cpu_freq", "gpu_freq", "knobs"]);
    let row_of: std::collections::HashMap<&str, &SummaryRow> =
        summary.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut out = Vec::new();
    for r in &sweeps {
        let Some(condition) = r.condition() else {
            continue;
        };
        let mut points = Vec::new();
        let mut any_row = None;
        for k in r.ks() {
            let id = format!("{condition}/sweep-k{k}");
            let Some(&row) = row_of.get(id.as_str()) else {
                continue;
            };
            any_row = Some(row);
            if !row.is_ok() {
                continue;
            }
            if let Some(mean) = finite(row.latency_mean_us) {
                // Half the 95% interval over rounds (0 from one round).
                let half = finite(row.latency_ci_high_us)
                    .zip(finite(row.latency_ci_low_us))
                    .map_or(0.0, |(hi, lo)| (hi - lo) / 2.0);
                points.push((k, mean / 1000.0, half / 1000.0));
            }
        }
        let Some(row) = any_row else { continue };
        if points.is_empty() {
            continue;
        }
        let k_answer = r.k_answer;
        let thinned = points.len() > MAX_POINTS;
        if thinned {
            // Evenly thinned, K_answer kept.
            let step = points.len().div_ceil(MAX_POINTS);
            let mut i = 0;
            points.retain(|p| {
                i += 1;
                (i - 1) % step == 0 || Some(p.0) == k_answer
            });
        }
        out.push(Line {
            network: row.network.clone(),
            name: condition_name(row, &axes),
            points,
            k_answer,
            thinned,
            // K_opt of the condition: in sweeps.csv of older result sets,
            // else from kstrategy.csv (the LUT's K for the condition's
            // default cell), when the run wrote one.
            k_opt: r.k_opt.or_else(|| {
                kstrategy
                    .iter()
                    .find(|x| x.condition == condition)
                    .and_then(|x| x.k_opt)
            }),
        });
    }
    Ok(out)
}

/// The networks to draw, one panel each, in first-seen order (at most
/// [`MAX_PANELS`]), and how many more there are.
fn networks(lines: &[Line]) -> (Vec<&str>, usize) {
    let mut networks: Vec<&str> = Vec::new();
    let mut others: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for l in lines {
        if !networks.contains(&l.network.as_str()) {
            if networks.len() < MAX_PANELS {
                networks.push(&l.network);
            } else {
                others.insert(&l.network);
            }
        }
    }
    (networks, others.len())
}

/// One network's panel: its lines (`mine`) against K on a log2 axis.
fn draw_panel(area: &Area, net: &str, mine: &[&Line]) -> anyhow::Result<()> {
    let ks = mine.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (kmin, kmax) = ks.fold((u32::MAX, 0), |(a, b), k| (a.min(k), b.max(k)));
    let (x0, x1) = (
        (kmin.max(1) as f64).log2() - 0.4,
        (kmax.max(1) as f64).log2() + 0.4,
    );
    let y = y_range(
        mine.iter().flat_map(|l| l.points.iter().map(|p| p.1 + p.2)),
        0.3,
    );
    let ticks: Vec<String> = (0..=x1.ceil() as u32)
        .map(|e| (1u64 << e).to_string())
        .collect();
    let mut chart = drawing(
        ChartBuilder::on(area)
            .caption(net, (FONT, 17))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y),
    )?;
    drawing(
        chart
            .configure_mesh()
            .x_labels(((x1 - x0).ceil() as usize).max(2))
            .x_label_formatter(&|x| category(&ticks, *x))
            .x_desc("K, kernels per flush (log2 scale)")
            .y_desc("mean latency per inference (ms)")
            .y_label_formatter(&tick)
            .max_light_lines(4)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw(),
    )?;
    for (i, l) in mine.iter().enumerate() {
        draw_line(&mut chart, colour(i), l)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// One sweep's line: its points with their intervals, K_answer ringed and
/// K_opt dashed.
fn draw_line(chart: &mut Chart, c: RGBColor, l: &Line) -> anyhow::Result<()> {
    let xy: Vec<(f64, f64)> = l
        .points
        .iter()
        .map(|p| ((p.0 as f64).log2(), p.1))
        .collect();
    let mut label = l.name.clone();
    if let Some(k) = l.k_answer {
        label.push_str(&format!(": K_answer {k}"));
    }
    if let Some(k) = l.k_opt {
        label.push_str(&format!(", K_opt {k}"));
    }
    drawing(chart.draw_series(LineSeries::new(xy.clone(), c.stroke_width(2))))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
    drawing(chart.draw_series(l.points.iter().map(|p| {
        ErrorBar::new_vertical(
            (p.0 as f64).log2(),
            p.1 - p.2,
            p.1,
            p.1 + p.2,
            c.stroke_width(1),
            8,
        )
    })))?;
    drawing(chart.draw_series(xy.iter().map(|p| Circle::new(*p, 3, c.filled()))))?;
    if let Some(best) = l.k_answer.and_then(|k| l.points.iter().find(|p| p.0 == k)) {
        drawing(chart.draw_series([Circle::new(
            ((best.0 as f64).log2(), best.1),
            9,
            c.stroke_width(3),
        )]))?;
    }
    if let Some(k) = l.k_opt.filter(|k| *k > 0) {
        let x = (k as f64).log2();
        let (ylo, yhi) = (chart.y_range().start, chart.y_range().end);
        drawing(chart.draw_series(DashedLineSeries::new(
            [(x, ylo), (x, yhi)],
            6,
            4,
            c.stroke_width(2),
        )))?;
    }
    Ok(())
}

/// The caption, with what is not drawn.
fn caption(more_networks: usize, more_lines: usize, thinned: bool) -> String {
    format!(
        "Mean latency over rounds against K, one line per condition, bars of its 95% interval over rounds; the ringed point is K_answer, the K with the lowest mean latency; a dashed line marks K_opt, the LUT's K, where the result set has one.{}{}",
        if more_networks > 0 || more_lines > 0 {
            format!(
                " A plot draws at most {MAX_PANELS} networks and {MAX_SERIES} lines each: {more_networks} more networks and {more_lines} more lines are not drawn."
            )
        } else {
            String::new()
        },
        if thinned {
            format!(
                " A sweep of more than {MAX_POINTS} K values is drawn at evenly spaced ones (K_answer kept)."
            )
        } else {
            String::new()
        }
    )
}

pub(super) fn plot(set: &ResultSet, summary: &[SummaryRow]) -> Drawn {
    let title = "Latency vs K (flush period) per sweep".to_string();
    let lines = lines(set, summary)?;
    if lines.is_empty() {
        return Ok(Err(Missing {
            name: "sweep",
            title,
            reason: "the scenario has no K sweep with an ok cell".into(),
        }));
    }
    let (networks, more_networks) = networks(&lines);
    let mut more_lines = 0;
    let panel = 380;
    let text = svg(40 + panel * networks.len() as u32, |root| {
        let root = drawing(root.titled(&title, (FONT, 22)))?;
        let panels = root.split_evenly((networks.len(), 1));
        for (area, net) in panels.iter().zip(&networks) {
            let all: Vec<&Line> = lines.iter().filter(|l| l.network == *net).collect();
            more_lines += all.len().saturating_sub(MAX_SERIES);
            let mine: Vec<&Line> = all.into_iter().take(MAX_SERIES).collect();
            draw_panel(area, net, &mine)?;
        }
        Ok(())
    })?;
    Ok(Ok(Plot {
        name: "sweep",
        title,
        caption: caption(more_networks, more_lines, lines.iter().any(|l| l.thinned)),
        svg: text,
    }))
}
