//! One measured inference of chosen cells on one time axis: a host lane
//! (each kernel's production, T_prod, then its flush when it has one) and a
//! device lane (each kernel's execution, T_ker; the gaps are T_idle), drawn
//! from the timestamps klo-probe logs with each kernel (`t_enq_us`,
//! `t_start_us`, `t_end_us`, from the inference's start on the host clock).
//! The cells: per load of the first network with a K sweep, K = 1 and the
//! sweep's K_answer; so a reader sees where the device waits for the host
//! and why a larger K helps or hurts.

use plotters::prelude::*;

use super::{Area, Drawn, FONT, MAX_POINTS, Missing, Plot, colour, drawing, svg, tick};
use crate::ingest::digest::Keep;
use crate::results::ResultSet;
use crate::results::cells::Cells;

/// One kernel's times in an inference (µs from its start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelSpan {
    /// Production: from `enq - prod` to `enq`.
    pub prod: f64,
    pub enq: f64,
    /// The flush after it, when there is one: from `enq` to `enq + flush`.
    pub flush: Option<f64>,
    pub start: f64,
    pub end: f64,
}

/// The timeline of inference `iter` in a log's text, when its kernel
/// records carry the timeline fields. Only `KLO v1` kernel records of that
/// inference are read; anything else is passed over.
pub fn inference_spans(log: &str, iter: u32) -> Vec<KernelSpan> {
    let mut scan = SpanScan::new(iter, usize::MAX);
    for line in log.lines() {
        scan.line(line);
    }
    scan.spans
}

/// The kernels of one inference, read a line at a time: the first `cap`
/// spans, and how many more there were.
struct SpanScan {
    want: String,
    cap: usize,
    spans: Vec<KernelSpan>,
    more: usize,
}

impl SpanScan {
    fn new(iter: u32, cap: usize) -> SpanScan {
        SpanScan {
            want: format!("iter={iter}"),
            cap,
            spans: Vec::new(),
            more: 0,
        }
    }

    fn line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("KLO v1 ") else {
            return;
        };
        let mut it_ok = false;
        let (mut kernel, mut prod, mut enq, mut flush, mut start, mut end) =
            (false, None, None, None, None, None);
        for f in rest.split_whitespace() {
            if f == self.want {
                it_ok = true;
                continue;
            }
            let Some((k, v)) = f.split_once('=') else {
                continue;
            };
            let num = || v.parse::<f64>().ok().filter(|x| x.is_finite());
            match k {
                "kernel" => kernel = true,
                "t_prod_us" => prod = num(),
                "t_enq_us" => enq = num(),
                "t_flush_us" => flush = num(),
                "t_start_us" => start = num(),
                "t_end_us" => end = num(),
                _ => {}
            }
        }
        if !(it_ok && kernel) {
            return;
        }
        if let (Some(prod), Some(enq), Some(start), Some(end)) = (prod, enq, start, end) {
            if self.spans.len() < self.cap {
                self.spans.push(KernelSpan {
                    prod,
                    enq,
                    flush,
                    start,
                    end,
                });
            } else {
                self.more += 1;
            }
        }
    }
}

/// The first [`MAX_POINTS`] kernels of inference `iter` of the log at
/// `path`, read a line at a time (the log is read as data, within
/// `limit`), and how many more it has.
fn spans_in(path: &std::path::Path, iter: u32, limit: u64) -> Option<(Vec<KernelSpan>, usize)> {
    use std::io::Read as _;
    let (file, size) = crate::untrusted::open_regular(path).ok()?;
    if size > limit {
        return None;
    }
    let mut scan = SpanScan::new(iter, MAX_POINTS);
    crate::ingest::for_each_line(file.take(limit), |line, cut| {
        if !cut {
            scan.line(line);
        }
    })
    .ok()?;
    Some((scan.spans, scan.more))
}

/// The measured inference whose latency is the median (the lower middle
/// one) among a log's inference records: its number.
fn median_of(inferences: &crate::ingest::InferenceRows) -> Option<u32> {
    let mut lat: Vec<(f64, u32)> = inferences
        .latency_us
        .iter()
        .zip(&inferences.iter)
        .filter(|(_, it)| **it > 0)
        .map(|(l, it)| (*l, *it))
        .collect();
    lat.sort_by(|a, b| a.0.total_cmp(&b.0));
    lat.get(lat.len().saturating_sub(1) / 2).map(|x| x.1)
}

/// The cells to draw: per load, K = 1 and K_answer of the first network
/// that has a sweep (ids, with a label).
fn chosen(set: &ResultSet) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut network: Option<String> = None;
    for r in set.sweep_rows()? {
        // `<board>/<load>/<cpu>/<gpu>/<network>/sweep[...]`
        let (Some(condition), Some(k)) = (r.condition(), r.k_answer) else {
            continue;
        };
        let parts: Vec<&str> = condition.split('/').collect();
        if parts.len() != 5 {
            continue;
        }
        if network.get_or_insert_with(|| parts[4].to_string()) != parts[4] {
            continue;
        }
        out.push((
            format!("{condition}/sweep-k1"),
            format!("load {}, K = 1", parts[1]),
        ));
        if k != 1 {
            out.push((
                format!("{condition}/sweep-k{k}"),
                format!("load {}, K = {k} (K_answer)", parts[1]),
            ));
        }
        if out.len() >= 6 {
            break;
        }
    }
    Ok(out)
}

/// One cell's panel: its id, label, round, inference and kernels.
type Panel = (String, String, u32, u32, Vec<KernelSpan>);

/// Per pick (id, label): its first ok round's log, the median inference,
/// when its log has the timeline fields. Also how many kernels are not
/// drawn.
fn panels(cells: &Cells, picks: Vec<(String, String)>, limit: u64) -> (Vec<Panel>, usize) {
    let mut panels: Vec<Panel> = Vec::new();
    let mut cut = 0;
    for (id, label) in picks {
        let Some(pos) = cells.ids.iter().position(|x| **x == *id) else {
            continue;
        };
        let round = cells.rounds[pos];
        let mut median = None;
        cells.each_digest(&[pos], Keep::default(), |_, d| {
            median = d.ok().and_then(|d| median_of(&d.inferences));
        });
        let Some(iter) = median else {
            continue;
        };
        let Some((spans, more)) = spans_in(cells.log_path(pos), iter, limit) else {
            continue;
        };
        cut += more;
        if !spans.is_empty() {
            panels.push((id, label, round, iter, spans));
        }
    }
    (panels, cut)
}

/// One cell's inference: host lane above, device lane below, on an x axis
/// of `x_max` ms.
fn draw_panel(area: &Area, panel: &Panel, x_max: f64) -> anyhow::Result<()> {
    let (id, label, round, iter, spans) = panel;
    let mut chart = drawing(
        ChartBuilder::on(area)
            .caption(
                format!("{label}: {id}, round {round}, inference {iter}"),
                (FONT, 13),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max * 1.02, 0.0..2.0),
    )?;
    drawing(
        chart
            .configure_mesh()
            .x_desc("ms from the inference's start")
            .x_label_formatter(&tick)
            .y_labels(2)
            .y_label_formatter(&|y| {
                if *y >= 1.0 {
                    "host".to_string()
                } else {
                    "device".to_string()
                }
            })
            .disable_y_mesh()
            .max_light_lines(2)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 12))
            .draw(),
    )?;
    let ms = |us: f64| us / 1000.0;
    let (prod_c, flush_c, dev_c) = (colour(0), colour(1), colour(2));
    drawing(chart.draw_series(spans.iter().map(|s| {
        Rectangle::new(
            [(ms(s.enq - s.prod), 1.2), (ms(s.enq), 1.8)],
            prod_c.mix(0.8).filled(),
        )
    })))?;
    drawing(chart.draw_series(spans.iter().filter_map(|s| {
        s.flush
            .map(|f| Rectangle::new([(ms(s.enq), 1.15), (ms(s.enq + f), 1.85)], flush_c.filled()))
    })))?;
    drawing(chart.draw_series(spans.iter().map(|s| {
        Rectangle::new(
            [(ms(s.start), 0.2), (ms(s.end), 0.8)],
            dev_c.mix(0.85).filled(),
        )
    })))?;
    // A thin outline per kernel, so that neighbours stay apart.
    drawing(chart.draw_series(spans.iter().map(|s| {
        Rectangle::new(
            [(ms(s.start), 0.2), (ms(s.end), 0.8)],
            WHITE.stroke_width(1),
        )
    })))?;
    Ok(())
}

/// The caption, with the kernels not drawn (`cut`).
fn caption(cut: usize) -> String {
    format!(
        "One measured inference (the median of the run) of each chosen cell, per load: K = 1 and the sweep's K_answer. Host lane: each kernel's production (T_prod, blue) and the flushes (orange); device lane: each kernel's execution (T_ker, green). A gap in the device lane is T_idle: the device waits for the host (its batch was not flushed yet, or not produced). Times are on the host's clock from the inference's start (an OpenCL device's clock is tied to it at the first kernel).{}",
        if cut > 0 {
            format!(
                " A plot draws at most {MAX_POINTS} kernels of an inference: the first ones are shown, {cut} more are not."
            )
        } else {
            String::new()
        }
    )
}

pub(super) fn plot(set: &ResultSet, cells: Option<&Cells>) -> Drawn {
    let title = "One inference on one time axis: host and device".to_string();
    let missing = |reason: String| {
        Ok(Err(Missing {
            name: "timeline",
            title: title.clone(),
            reason,
        }))
    };
    let Some(cells) = cells.filter(|_| set.cells_root.is_some()) else {
        return missing(
            "it needs the cells' raw logs, and this result set has no cells/ folder".into(),
        );
    };
    let picks = chosen(set)?;
    if picks.is_empty() {
        return missing(
            "it draws K = 1 against a sweep's K_answer, and the result set has no K sweep".into(),
        );
    }
    let limit = crate::results::cells::file_limit(set.scenario_text.as_deref());
    let (panels, cut) = panels(cells, picks, limit);
    if panels.is_empty() {
        return missing("the chosen cells' logs have no timeline fields (a probe from before klo-spec logged them, or a benchmark of your own)".into());
    }
    let x_max = panels
        .iter()
        .flat_map(|p| {
            p.4.iter()
                .map(|s| s.end.max(s.enq + s.flush.unwrap_or(0.0)))
        })
        .fold(0.0f64, f64::max)
        / 1000.0;
    let height = 120 + 150 * panels.len() as u32;
    let text = svg(height, |root| {
        let (head, body) = root.split_vertically(50);
        drawing(head.titled(&title, (FONT, 22)))?;
        let areas = body.split_evenly((panels.len(), 1));
        for (area, panel) in areas.iter().zip(&panels) {
            draw_panel(area, panel, x_max)?;
        }
        Ok(())
    })?;
    Ok(Ok(Plot {
        name: "timeline",
        title,
        caption: caption(cut),
        svg: text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spans_of_one_inference_come_from_its_kernel_records() {
        let log = "KLO v1 info probe=1 device=thread\n\
KLO v1 net=n iter=0 kernel=0 name=a t_prod_us=9.0 t_ker_us=3.0 t_idle_us=nan flush=1 k=1 t_flush_us=2.0 t_enq_us=9.0 t_start_us=12.0 t_end_us=15.0\n\
KLO v1 net=n iter=0 latency_us=15.0 flushes=1 k_mean=1.00\n\
KLO v1 net=n iter=1 kernel=0 name=a t_prod_us=5.0 t_ker_us=3.0 t_idle_us=nan flush=0 k=2 t_enq_us=5.0 t_start_us=8.0 t_end_us=11.0\n\
KLO v1 net=n iter=1 kernel=1 name=b t_prod_us=4.0 t_ker_us=2.0 t_idle_us=0.5 flush=1 k=2 t_flush_us=1.0 t_enq_us=9.0 t_start_us=11.5 t_end_us=13.5\n\
KLO v1 net=n iter=1 latency_us=13.5 flushes=1 k_mean=2.00\n\
KLO v1 net=n iter=2 kernel=0 name=a t_prod_us=5.0 t_ker_us=3.0 t_idle_us=nan flush=1 k=2\n\
KLO v1 net=n iter=2 latency_us=99.0 flushes=1 k_mean=2.00\n\
KLO v1 end iters=3\n";
        let s = inference_spans(log, 1);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].flush, None);
        assert_eq!(s[1].flush, Some(1.0));
        assert_eq!((s[1].enq, s[1].start, s[1].end), (9.0, 11.5, 13.5));
        // Without the timeline fields, nothing is drawn from a record.
        assert!(inference_spans(log, 2).is_empty());
        // The median of the measured inferences (1 and 2): the lower, 1.
        assert_eq!(
            median_of(&crate::ingest::parse_klo(log).inferences),
            Some(1)
        );
    }
}
