//! Speedup per strategy and condition: one panel per network, strategies
//! along x (default, fixed K, sweep K, in K order), one bar per condition.
//! The line at 1 is the condition's `default` cell (flush after every
//! kernel): bars above it are faster.

use plotters::prelude::*;

use super::tprod::category;
use super::{
    Area, Chart, Drawn, FONT, MAX_PANELS, MAX_POINTS, MAX_SERIES, Missing, Plot, colour,
    condition_name, distinct, drawing, finite, legend, ok_rows, svg, tick, varying, y_range,
};
use crate::rows::SummaryRow;

/// Strategy slugs in reading order: default, then fixed, sweep and the
/// rest, each by K.
fn strategy_order(rows: &[&SummaryRow]) -> Vec<String> {
    let mut s = distinct(rows, |r| &r.strategy);
    let rank = |slug: &str| match slug.split('-').next() {
        Some("default") => 0,
        Some("fixed") => 1,
        Some("sweep") => 2,
        _ => 3,
    };
    let k_of = |slug: &str| {
        rows.iter()
            .find(|r| r.strategy == slug)
            .and_then(|r| r.single_k())
            .map_or(0.0, f64::from)
    };
    s.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then(k_of(a).total_cmp(&k_of(b)))
            .then(a.cmp(b))
    });
    s
}

/// The conditions' names over `rows`, in first-seen order.
fn conditions(rows: &[&SummaryRow], axes: &[&str]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut c: Vec<String> = Vec::new();
    for &r in rows {
        let name = condition_name(r, axes);
        if seen.insert(name.clone()) {
            c.push(name);
        }
    }
    c
}

/// One network's panel: its rows (`mine`), strategies along x, a bar
/// group per strategy. Returns how many strategies are not drawn.
fn draw_panel(
    area: &Area,
    net: &str,
    mine: &[&SummaryRow],
    conditions: &[String],
    axes: &[&str],
) -> anyhow::Result<usize> {
    let mut strategies = strategy_order(mine);
    let more_strategies = strategies.len().saturating_sub(MAX_POINTS);
    strategies.truncate(MAX_POINTS);
    let y = y_range(
        mine.iter().filter_map(|r| finite(r.speedup)).chain([1.0]),
        0.3,
    );
    let n = strategies.len();
    let mut chart = drawing(
        ChartBuilder::on(area)
            .caption(net, (FONT, 17))
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y),
    )?;
    drawing(
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| category(&strategies, *x))
            .x_desc("strategy")
            .y_desc("speedup (latency of default / latency)")
            .y_label_formatter(&tick)
            .max_light_lines(4)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw(),
    )?;
    let width = 0.8 / conditions.len() as f64;
    for (ci, cond) in conditions.iter().enumerate() {
        let bars: Vec<(f64, f64)> = mine
            .iter()
            .filter(|r| condition_name(r, axes) == *cond)
            .filter_map(|r| {
                let x = strategies.iter().position(|x| *x == r.strategy)? as f64;
                Some((x - 0.4 + width * ci as f64, finite(r.speedup)?))
            })
            .collect();
        draw_bars(&mut chart, colour(ci), cond, &bars, width)?;
    }
    drawing(chart.draw_series(LineSeries::new(
        [(-0.5, 1.0), (n as f64 - 0.5, 1.0)],
        BLACK.stroke_width(1),
    )))?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(more_strategies)
}

/// One condition's bars (x of the bar's left edge, speedup), labelled
/// with its name; none when it has none.
fn draw_bars(
    chart: &mut Chart,
    c: RGBColor,
    cond: &str,
    bars: &[(f64, f64)],
    width: f64,
) -> anyhow::Result<()> {
    if bars.is_empty() {
        return Ok(());
    }
    drawing(chart.draw_series(bars.iter().map(|(x, v)| {
        Rectangle::new(
            [(*x + width * 0.08, 0.0), (*x + width * 0.92, *v)],
            c.filled(),
        )
    })))?
    .label(cond.to_string())
    .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], c.filled()));
    Ok(())
}

/// The caption, with the networks, conditions and strategies not drawn.
fn caption(more_networks: usize, more_conditions: usize, more_strategies: usize) -> String {
    format!(
        "Speedup of each strategy over its condition's default cell (mean latency of default / mean latency), per network; the line at 1 is the default.{}",
        if more_networks + more_conditions + more_strategies > 0 {
            format!(
                " A plot draws at most {MAX_PANELS} networks, {MAX_SERIES} conditions and {MAX_POINTS} strategies per network: {more_networks} networks, {more_conditions} conditions and {more_strategies} strategies more are not drawn."
            )
        } else {
            String::new()
        }
    )
}

pub(super) fn plot(summary: &[SummaryRow]) -> Drawn {
    let title = "Speedup over the default (K = 1) per strategy and condition".to_string();
    let rows: Vec<&SummaryRow> = ok_rows(summary)
        .into_iter()
        .filter(|r| finite(r.speedup).is_some())
        .collect();
    if rows.is_empty() {
        return Ok(Err(Missing {
            name: "speedup",
            title,
            reason: "no ok cell has a speedup (each condition needs an ok `default` cell)".into(),
        }));
    }
    let axes = varying(summary, &["load", "cpu_freq", "gpu_freq", "knobs"]);
    let mut networks = distinct(&rows, |r| &r.network);
    let more_networks = networks.len().saturating_sub(MAX_PANELS);
    networks.truncate(MAX_PANELS);
    let mut conditions = conditions(&rows, &axes);
    let more_conditions = conditions.len().saturating_sub(MAX_SERIES);
    conditions.truncate(MAX_SERIES);
    let mut more_strategies = 0;
    let panel = 360;
    let text = svg(40 + panel * networks.len() as u32, |root| {
        let root = drawing(root.titled(&title, (FONT, 22)))?;
        let panels = root.split_evenly((networks.len(), 1));
        for (area, net) in panels.iter().zip(&networks) {
            let mine: Vec<&SummaryRow> =
                rows.iter().copied().filter(|r| r.network == *net).collect();
            more_strategies += draw_panel(area, net, &mine, &conditions, &axes)?;
        }
        Ok(())
    })?;
    Ok(Ok(Plot {
        name: "speedup",
        title,
        caption: caption(more_networks, more_conditions, more_strategies),
        svg: text,
    }))
}
