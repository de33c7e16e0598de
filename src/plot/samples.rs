//! What the sampler saw, against time: per board, the CPU clusters' and
//! the GPU's current frequencies (MHz) and the thermal zones' temperatures
//! (°C) during each run's benchmark, on the board's own clock
//! (`/proc/uptime`, so the cells of one board line up in the order they
//! ran), a dashed line at each run's start. Read from the runs'
//! `samples.csv` (the scenario's `sampler`), so it needs the raw cells.

use plotters::prelude::*;

use super::{
    Area, Chart, Drawn, FONT, MAX_PANELS, MAX_POINTS, MAX_SERIES, Missing, Plot, colour, drawing,
    legend, svg, tick,
};
use crate::ingest::samples::Samples;
use crate::results::ResultSet;
use crate::results::cells::Cells;

/// Points drawn per signal and board, over all its runs: a longer series
/// is drawn at every n-th sample (the caption says so).
const MAX_BOARD_POINTS: usize = 5 * MAX_POINTS;

/// One run's samples.
struct Run {
    samples: Samples,
}

impl Run {
    fn start(&self) -> f64 {
        self.samples.t_s.first().copied().unwrap_or(0.0)
    }
}

/// One panel's series: (signal, unit divisor) among those of `prefixes`.
fn panel_signals(runs: &[Run], prefixes: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in runs {
        for s in &r.samples.signals {
            if prefixes.iter().any(|p| s.starts_with(p)) && !out.contains(s) {
                out.push(s.clone());
            }
        }
    }
    out
}

/// The name a legend shows: `big`, `gpu`, `cpu-0-0`.
fn short(signal: &str) -> String {
    match signal {
        "gpu_khz" => "gpu".into(),
        s => s.split_once('.').map_or(s, |(_, r)| r).to_string(),
    }
}

/// The value a panel draws (MHz for frequencies, °C as they are).
fn scaled(signal: &str, v: f64) -> f64 {
    if signal.contains("_khz") {
        v / 1000.0
    } else {
        v
    }
}

/// Per board (the id's first segment), its runs with samples, boards by
/// name and runs by start.
fn boards(cells: &Cells, limit: u64) -> Vec<(String, Vec<Run>)> {
    let mut boards: Vec<(String, Vec<Run>)> = Vec::new();
    for pos in 0..cells.len() {
        let Some(dir) = cells.log_path(pos).parent() else {
            continue;
        };
        let Some(samples) = Samples::read(&crate::layout::samples_csv(dir), limit) else {
            continue;
        };
        if samples.t_s.is_empty() {
            continue;
        }
        let board = cells.ids[pos].split('/').next().unwrap_or("").to_string();
        match boards.iter_mut().find(|b| b.0 == board) {
            Some(b) => b.1.push(Run { samples }),
            None => boards.push((board, vec![Run { samples }])),
        }
    }
    boards.sort_by(|a, b| a.0.cmp(&b.0));
    boards
}

/// The two panels of a board: what they show, and the signals' prefixes.
const PANELS: [(&str, &[&str]); 2] = [
    ("frequency (MHz)", &["cpu_khz.", "gpu_khz"]),
    ("temperature (°C)", &["temp_c."]),
];

/// What the caption says is not drawn: some boards drawn at every n-th
/// sample, and the lines of panels beyond [`MAX_SERIES`].
#[derive(Default)]
struct Cut {
    thinned: bool,
    more_series: usize,
}

/// Per signal, per run, its points from `t0` (every `step`-th sample).
fn signal_lines(
    runs: &[Run],
    signals: &[String],
    t0: f64,
    step: usize,
) -> Vec<Vec<Vec<(f64, f64)>>> {
    signals
        .iter()
        .map(|s| {
            runs.iter()
                .map(|r| {
                    let Some(i) = r.samples.signals.iter().position(|x| x == s) else {
                        return Vec::new();
                    };
                    r.samples
                        .t_s
                        .iter()
                        .zip(&r.samples.values[i])
                        .step_by(step)
                        .filter_map(|(t, v)| Some((t - t0, scaled(s, (*v)?))))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// A panel's y range: the lines' with some air, and room above them for
/// the legend of `signals` lines.
fn y_bounds(lines: &[Vec<Vec<(f64, f64)>>], signals: usize) -> (f64, f64) {
    let ys = lines.iter().flatten().flatten().map(|p| p.1);
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if lo.is_finite() {
        let pad = ((hi - lo) * 0.1).max(1.0);
        let (lo, hi) = (lo - pad, hi + pad);
        // Room above the lines for the legend: some 17 px a
        // line of a plot area some 180 px high.
        let f = ((signals * 17 + 16) as f64 / 180.0).min(0.6);
        (lo, hi + (hi - lo) * f / (1.0 - f))
    } else {
        (0.0, 1.0)
    }
}

/// One panel of a board: the signals of `prefixes` against time, from its
/// first run's start.
fn draw_panel(
    area: &Area,
    board: &str,
    (what, prefixes): (&str, &[&str]),
    runs: &[Run],
    cut: &mut Cut,
) -> anyhow::Result<()> {
    let t0 = runs[0].start();
    let t1 = runs
        .iter()
        .filter_map(|r| r.samples.t_s.last())
        .fold(t0, |a, b| a.max(*b));
    let x = 0.0..(t1 - t0).max(0.001) * 1.02;
    let mut signals = panel_signals(runs, prefixes);
    cut.more_series += signals.len().saturating_sub(MAX_SERIES);
    signals.truncate(MAX_SERIES);
    let total: usize = runs.iter().map(|r| r.samples.t_s.len()).sum();
    let step = total.div_ceil(MAX_BOARD_POINTS).max(1);
    cut.thinned |= step > 1;
    let lines = signal_lines(runs, &signals, t0, step);
    let (lo, hi) = y_bounds(&lines, signals.len());
    let mut chart = drawing(
        ChartBuilder::on(area)
            .caption(format!("{board}: {what}"), (FONT, 15))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(x, lo..hi),
    )?;
    drawing(
        chart
            .configure_mesh()
            .x_desc(format!(
                "s on the board's clock from its first sample ({t0:.2} s since boot)"
            ))
            .y_desc(what)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .max_light_lines(4)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 12))
            .draw(),
    )?;
    // Each run's start: where one cell's benchmark began.
    for r in runs.iter().skip(1) {
        let xs = r.start() - t0;
        drawing(chart.draw_series(DashedLineSeries::new(
            [(xs, lo), (xs, hi)],
            4,
            4,
            BLACK.mix(0.35).stroke_width(1),
        )))?;
    }
    draw_signals(&mut chart, &signals, &lines)
}

/// A panel's lines, one colour and legend entry per signal.
fn draw_signals<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    signals: &[String],
    lines: &[Vec<Vec<(f64, f64)>>],
) -> anyhow::Result<()> {
    for (i, (s, per_run)) in signals.iter().zip(lines).enumerate() {
        let c = colour(i);
        let mut labelled = false;
        for pts in per_run.iter().filter(|p| !p.is_empty()) {
            let drawn =
                drawing(chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2))))?;
            if !labelled {
                drawn.label(short(s)).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                });
                labelled = true;
            }
        }
    }
    if !signals.is_empty() {
        legend(chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// The caption: what is drawn, and what is thinned or left out.
fn caption(cut: &Cut, more_boards: usize) -> String {
    let mut caption = "Per board, what its sampler read while each run's benchmark ran: the CPU clusters' and the GPU's current frequency (MHz) and the thermal zones' temperatures (°C), on the board's clock (seconds since it booted: runs of one board line up in the order they ran, and the time between runs is left as it was). A dashed line marks where a run began; a run's line ends where its benchmark ended.".to_string();
    if cut.thinned {
        caption.push_str(&format!(
            " A board with more than {MAX_BOARD_POINTS} samples is drawn at every n-th one."
        ));
    }
    let more_series = cut.more_series;
    if more_boards > 0 || more_series > 0 {
        caption.push_str(&format!(
            " A plot draws at most {MAX_PANELS} boards and {MAX_SERIES} lines per panel: {more_boards} more boards and {more_series} more lines are not drawn."
        ));
    }
    caption
}

pub(super) fn plot(set: &ResultSet, cells: Option<&Cells>) -> Drawn {
    let title = "Frequencies and temperatures during the benchmarks, per board".to_string();
    let missing = |reason: String| {
        Ok(Err(Missing {
            name: "samples",
            title: title.clone(),
            reason,
        }))
    };
    let Some(cells) = cells.filter(|_| set.cells_root.is_some()) else {
        return missing(
            "it needs the runs' samples.csv files, and this result set has no cells/ folder".into(),
        );
    };
    let limit = crate::results::cells::file_limit(set.scenario_text.as_deref());
    let mut boards = boards(cells, limit);
    if boards.is_empty() {
        return missing("no run of this result set has samples (`sampler: off`, boards with nothing to sample, or runs from before the sampler)".into());
    }
    let more_boards = boards.len().saturating_sub(MAX_PANELS);
    boards.truncate(MAX_PANELS);
    for b in &mut boards {
        b.1.sort_by(|x, y| x.start().total_cmp(&y.start()));
    }
    let mut cut = Cut::default();
    let height = 60 + 520 * boards.len() as u32;
    let text = svg(height, |root| {
        let (head, body) = root.split_vertically(50);
        drawing(head.titled(&title, (FONT, 22)))?;
        let areas = body.split_evenly((boards.len() * PANELS.len(), 1));
        for (b, (board, runs)) in boards.iter().enumerate() {
            for (p, panel) in PANELS.iter().enumerate() {
                let area = &areas[b * PANELS.len() + p];
                draw_panel(area, board, *panel, runs, &mut cut)?;
            }
        }
        Ok(())
    })?;
    Ok(Ok(Plot {
        name: "samples",
        title,
        caption: caption(&cut, more_boards),
        svg: text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legends_and_units() {
        assert_eq!(short("cpu_khz.big"), "big");
        assert_eq!(short("gpu_khz"), "gpu");
        assert_eq!(short("temp_c.cpu-0-0"), "cpu-0-0");
        assert_eq!(scaled("cpu_khz.big", 2_419_200.0), 2419.2);
        assert_eq!(scaled("temp_c.gpu", 41.5), 41.5);
    }
}
