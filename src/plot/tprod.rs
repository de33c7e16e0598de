//! T_prod distribution per load and frequency setting: one box per
//! condition. With the raw cells, the values are every measured kernel's
//! T_prod (warm-up inference and each inference's first kernel excluded, as
//! in every mean); from the tables alone, each ok cell's mean T_prod.
//!
//! Boxes are drawn here rather than with plotters' `Boxplot`, whose
//! whiskers sit at the 1.5 IQR fences even where no value lies: a Tukey
//! whisker ends at the last value inside the fence.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{
    Drawn, FONT, MAX_BOX_SAMPLE, MAX_BOXES, Missing, Plot, colour, condition_name, drawing, finite,
    ok_rows, svg, tick, varying,
};
use crate::ingest::digest::{Keep, SAMPLE_MAX};
use crate::results::cells::Cells;
use crate::rows::SummaryRow;

/// Tukey's box of one sample.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TukeyBox {
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub low: f64,
    pub high: f64,
    pub mean: f64,
    pub outliers: Vec<f64>,
    pub n: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

impl TukeyBox {
    /// The box of the finite values of `v`; `None` when there are none.
    pub fn new(v: &[f64]) -> Option<TukeyBox> {
        let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        let (q1, median, q3) = (
            percentile(&s, 0.25),
            percentile(&s, 0.5),
            percentile(&s, 0.75),
        );
        let (lo_fence, hi_fence) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
        let inside: Vec<f64> = s
            .iter()
            .copied()
            .filter(|x| (lo_fence..=hi_fence).contains(x))
            .collect();
        // Values beyond the fences, one per 0.5% of the range: a dot per
        // distinct position, not one per kernel.
        let step = ((s[s.len() - 1] - s[0]) / 200.0).max(f64::MIN_POSITIVE);
        let mut outliers: Vec<f64> = s
            .iter()
            .filter(|x| !(lo_fence..=hi_fence).contains(*x))
            .map(|x| (x / step).round() * step)
            .collect();
        outliers.dedup();
        Some(TukeyBox {
            q1,
            median,
            q3,
            low: inside.first().copied().unwrap_or(q1),
            high: inside.last().copied().unwrap_or(q3),
            mean: s.iter().sum::<f64>() / s.len() as f64,
            outliers,
            n: s.len(),
        })
    }
}

/// A weighted random sample without replacement of at most `cap` values
/// (Efraimidis and Spirakis' A-ES): a value offered with weight `w` gets
/// the key `u^(1/w)` (`ln u / w` here) for a uniform `u`, and the values of
/// the `cap` largest keys stay. The generator has a fixed seed and values
/// are offered in a fixed order, so the same inputs draw the same plot.
struct Reservoir {
    cap: usize,
    rng: rand_chacha::ChaCha8Rng,
    /// (key, value), the smallest key on top.
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(Key, Key)>>,
}

/// An f64 ordered by `total_cmp`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Key {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

impl Reservoir {
    fn new(cap: usize) -> Reservoir {
        use rand::SeedableRng;
        Reservoir {
            cap,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(0x6b6c_6f5f_7470_726f),
            heap: std::collections::BinaryHeap::new(),
        }
    }

    fn offer(&mut self, value: f64, weight: f64) {
        use rand::Rng;
        // u in (0, 1]: ln u is finite.
        let u: f64 = 1.0 - self.rng.random::<f64>();
        let key = Key(u.ln() / weight.max(f64::MIN_POSITIVE));
        if self.heap.len() < self.cap {
            self.heap.push(std::cmp::Reverse((key, Key(value))));
        } else if self.heap.peek().is_some_and(|top| top.0.0 < key) {
            self.heap.pop();
            self.heap.push(std::cmp::Reverse((key, Key(value))));
        }
    }

    fn values(self) -> Vec<f64> {
        self.heap.into_iter().map(|r| r.0.1.0).collect()
    }
}

/// One box: its condition, its sample, and how many values it stands for.
struct Group {
    name: String,
    sample: Reservoir,
    /// Positive values offered (every one, sampled or not).
    n: u64,
    /// Values of 0 µs, which a log axis cannot draw.
    zeros: u64,
}

/// The boxes to draw, per condition in first-seen order (at most
/// [`MAX_BOXES`]): every measured kernel's T_prod from the raw cells when
/// the set has them, else each ok cell's mean. Also how many conditions
/// are not drawn, and whether the values are per kernel.
fn groups(summary: &[SummaryRow], cells: Option<&Cells>) -> (Vec<Group>, usize, bool) {
    let axes = varying(summary, &["load", "cpu_freq", "gpu_freq", "knobs"]);
    // Conditions in first-seen order, at most MAX_BOXES of them.
    let mut groups: Vec<Group> = Vec::new();
    let mut index: std::collections::HashMap<String, Option<usize>> =
        std::collections::HashMap::new();
    let mut group_of = |groups: &mut Vec<Group>, row: &SummaryRow| -> Option<usize> {
        let name = condition_name(row, &axes);
        *index.entry(name.clone()).or_insert_with(|| {
            (groups.len() < MAX_BOXES).then(|| {
                groups.push(Group {
                    name,
                    sample: Reservoir::new(MAX_BOX_SAMPLE),
                    n: 0,
                    zeros: 0,
                });
                groups.len() - 1
            })
        })
    };
    let per_kernel = cells.is_some_and(|c| !c.is_empty());
    if let Some(c) = cells.filter(|_| per_kernel) {
        let positions: Vec<usize> = (0..c.len())
            .filter(|&p| summary[c.rows[p]].is_ok())
            .collect();
        let keep = Keep {
            t_prod_sample: true,
        };
        c.each_digest(&positions, keep, |p, d| {
            let (Ok(d), Some(g)) = (d, group_of(&mut groups, &summary[c.rows[p]])) else {
                return;
            };
            let g = &mut groups[g];
            let s = &d.t_prod_sample;
            for v in &s.values {
                g.sample.offer(*v, s.stride as f64);
            }
            g.n += s.seen;
            g.zeros += d.t_prod_zeros;
        });
    } else {
        for row in ok_rows(summary) {
            if let Some(v) = finite(row.t_prod_mean_us)
                && let Some(g) = group_of(&mut groups, row)
            {
                let g = &mut groups[g];
                if v > 0.0 {
                    g.sample.offer(v, 1.0);
                    g.n += 1;
                } else {
                    g.zeros += 1;
                }
            }
        }
    }
    let not_drawn = index.values().filter(|g| g.is_none()).count();
    (groups, not_drawn, per_kernel)
}

/// The boxes of the groups that have values (n: every value offered);
/// also how many values of 0 µs are left out, and whether a box is drawn
/// from a sample.
fn boxes(groups: Vec<Group>) -> (Vec<(String, TukeyBox)>, u64, bool) {
    // The log axis has no room for zero: a T_prod of 0 µs (a clock's
    // resolution) is left out and counted in the caption.
    let dropped: u64 = groups.iter().map(|g| g.zeros).sum();
    let sampled = groups.iter().any(|g| (g.sample.heap.len() as u64) < g.n);
    let boxes = groups
        .into_iter()
        .filter_map(|g| {
            let n = g.n;
            TukeyBox::new(&g.sample.values()).map(|mut b| {
                b.n = n as usize;
                (g.name, b)
            })
        })
        .collect();
    (boxes, dropped, sampled)
}

/// The chart of the T_prod plot: conditions along x, a log y axis.
type LogChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

/// The plot's SVG: one box per condition, on a log axis of `unit`.
fn draw(title: &str, boxes: &[(String, TukeyBox)], unit: &str) -> anyhow::Result<String> {
    let labels: Vec<String> = boxes
        .iter()
        .map(|(name, b)| format!("{name} (n = {})", b.n))
        .collect();
    // A log axis: kernel times span decades, and a few slow kernels would
    // flatten every box on a linear one.
    let (lo, hi) = boxes
        .iter()
        .flat_map(|(_, b)| {
            [b.low, b.high]
                .into_iter()
                .chain(b.outliers.iter().copied())
        })
        .fold((f64::INFINITY, 0.0f64), |(a, z), v| (a.min(v), z.max(v)));
    svg(460, |root| {
        let n = boxes.len();
        let mut chart = drawing(
            ChartBuilder::on(root)
                .caption(title, (FONT, 22))
                .margin(12)
                .x_label_area_size(48)
                .y_label_area_size(72)
                .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (lo / 1.5..hi * 1.5).log_scale()),
        )?;
        drawing(
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n)
                .x_label_formatter(&|x| category(&labels, *x))
                .x_desc("condition (load, and frequencies where they vary)")
                .y_desc(unit)
                .y_label_formatter(&tick)
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 15))
                .draw(),
        )?;
        for (i, (_, b)) in boxes.iter().enumerate() {
            draw_box(&mut chart, i, b)?;
        }
        Ok(())
    })
}

/// Box `i`: quartiles, median, whiskers, outliers and the mean's cross.
fn draw_box(chart: &mut LogChart, i: usize, b: &TukeyBox) -> anyhow::Result<()> {
    let c = colour(i);
    let x = i as f64;
    let w = 0.3;
    drawing(chart.draw_series([
        Rectangle::new([(x - w, b.q1), (x + w, b.q3)], c.mix(0.25).filled()),
        Rectangle::new([(x - w, b.q1), (x + w, b.q3)], c.stroke_width(2)),
    ]))?;
    drawing(chart.draw_series([
        PathElement::new(
            vec![(x - w, b.median), (x + w, b.median)],
            c.stroke_width(3),
        ),
        PathElement::new(vec![(x, b.q3), (x, b.high)], c.stroke_width(1)),
        PathElement::new(vec![(x, b.q1), (x, b.low)], c.stroke_width(1)),
        PathElement::new(
            vec![(x - w / 2.0, b.high), (x + w / 2.0, b.high)],
            c.stroke_width(1),
        ),
        PathElement::new(
            vec![(x - w / 2.0, b.low), (x + w / 2.0, b.low)],
            c.stroke_width(1),
        ),
    ]))?;
    drawing(
        chart.draw_series(
            b.outliers
                .iter()
                .map(|v| Circle::new((x, *v), 2, c.mix(0.5).filled())),
        ),
    )?;
    drawing(chart.draw_series([Cross::new((x, b.mean), 5, BLACK.stroke_width(2))]))?;
    Ok(())
}

pub(super) fn plot(summary: &[SummaryRow], cells: Option<&Cells>) -> Drawn {
    let title = "T_prod distribution per load and frequency".to_string();
    let (groups, not_drawn, per_kernel) = groups(summary, cells);
    let (boxes, dropped, sampled) = boxes(groups);
    if boxes.is_empty() {
        return Ok(Err(Missing {
            name: "tprod",
            title,
            reason: "no ok cell has a T_prod value".into(),
        }));
    }
    let (unit, what) = if per_kernel {
        (
            "T_prod per kernel (µs)",
            "every measured kernel's T_prod (the warm-up inference and each inference's first kernel excluded)",
        )
    } else {
        (
            "mean T_prod per cell (µs)",
            "each ok cell's mean T_prod from summary.csv (the raw cells, for per-kernel values, are not here)",
        )
    };
    let text = draw(&title, &boxes, unit)?;
    Ok(Ok(Plot {
        name: "tprod",
        title,
        caption: caption(what, dropped, sampled, not_drawn),
        svg: text,
    }))
}

/// The caption of the T_prod plot: `what` the values are, and what is
/// not drawn or drawn from a sample.
fn caption(what: &str, dropped: u64, sampled: bool, not_drawn: usize) -> String {
    format!(
        "Boxes: quartiles and median of {what}, per condition, on a log scale; whiskers end at the last value within 1.5 IQR, dots are values beyond; the cross is the mean.{}{}{}",
        if dropped > 0 {
            format!(" {dropped} values of 0 µs are not drawn.")
        } else {
            String::new()
        },
        if sampled {
            format!(
                " Where a condition has more values than a plot holds, its box is drawn from a sample of them (every log's values thinned evenly to at most {SAMPLE_MAX}, then at most {MAX_BOX_SAMPLE} per condition drawn at random, weighted); n counts them all."
            )
        } else {
            String::new()
        },
        if not_drawn > 0 {
            format!(" The first {MAX_BOXES} conditions are drawn; {not_drawn} more are not.")
        } else {
            String::new()
        }
    )
}

/// The label of a category axis tick: the name at whole positions only.
pub(super) fn category(names: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() > 1e-6 || i < 0.0 {
        return String::new();
    }
    names.get(i as usize).cloned().unwrap_or_default()
}
