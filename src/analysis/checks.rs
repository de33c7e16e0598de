//! The checklist: each check's comparisons, decided by the tests of
//! `stats.rs` on per-inference samples.

use std::collections::HashMap;

use anyhow::Result;

use super::{Inputs, Samples, stats};
use crate::matrix::groups::{check_pairs, condition_key};
use crate::output::{Table, fmt_f, fmt_p};
use crate::record::Status;
use crate::scenario::{CheckKind, Metric, Strategy};

pub const CHECKLIST_COLUMNS: [&str; 17] = [
    "check", "title", "group", "metric", "kind", "a", "b", "n_a", "n_b", "mean_a", "mean_b",
    "ratio", "test", "p_value", "effect", "verdict", "note",
];

/// The per-inference values of `metric` in one cell (`baseline`: the mean
/// latency of its condition's `default` cell, for speedups).
pub fn metric_samples(metric: Metric, s: &Samples, baseline: Option<f64>) -> Vec<f64> {
    match metric {
        Metric::Latency => s.latency.clone(),
        Metric::TProd => s.t_prod.clone(),
        Metric::TKer => s.t_ker.clone(),
        Metric::TIdle => s.t_idle.clone(),
        Metric::K => s.k.clone(),
        Metric::Speedup => match baseline {
            Some(b) => s
                .latency
                .iter()
                .filter(|l| **l > 0.0)
                .map(|l| b / l)
                .collect(),
            None => Vec::new(),
        },
    }
}

/// The verdict of one comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub verdict: &'static str,
    pub test: String,
    pub p_value: Option<f64>,
    pub effect: Option<f64>,
    pub note: String,
}

impl Outcome {
    /// A verdict without a test (a reason in `note`).
    pub fn untested(verdict: &'static str, note: impl Into<String>) -> Outcome {
        Outcome {
            verdict,
            test: String::new(),
            p_value: None,
            effect: None,
            note: note.into(),
        }
    }
}

/// Decides a check on two samples (see the README's "Checks" section).
pub fn evaluate(kind: CheckKind, a: &[f64], b: &[f64], tolerance: f64, alpha: f64) -> Outcome {
    let inconclusive = |note: String| Outcome::untested("INCONCLUSIVE", note);
    if a.len() < stats::MIN_SAMPLES || b.len() < stats::MIN_SAMPLES {
        return inconclusive(format!(
            "too few samples ({} and {}); need {} each",
            a.len(),
            b.len(),
            stats::MIN_SAMPLES
        ));
    }
    let Some(mwu) = stats::mann_whitney(a, b) else {
        return inconclusive("no samples".into());
    };
    let tost = stats::tost(a, b, tolerance).unwrap_or(1.0);
    let mwu_name = if mwu.exact {
        "mann-whitney-u exact"
    } else {
        "mann-whitney-u normal"
    };
    let ratio = stats::mean(a) / stats::mean(b);
    let tol_pct = tolerance * 100.0;
    let out = |verdict, test: &str, p, note: String| Outcome {
        verdict,
        test: test.to_string(),
        p_value: Some(p),
        effect: Some(mwu.delta),
        note,
    };
    // FAIL for differ/lower/higher: shown equal within the tolerance.
    let equivalent = || {
        out(
            "FAIL",
            "tost-welch",
            tost,
            format!("equivalent within {tol_pct:.0}%"),
        )
    };
    match kind {
        CheckKind::Differ => {
            if mwu.p_two < alpha {
                out("PASS", mwu_name, mwu.p_two, String::new())
            } else if tost < alpha {
                equivalent()
            } else {
                out(
                    "INCONCLUSIVE",
                    mwu_name,
                    mwu.p_two,
                    format!("neither different nor equivalent within {tol_pct:.0}%"),
                )
            }
        }
        CheckKind::Lower | CheckKind::Higher => {
            let (p_want, p_other, other) = if kind == CheckKind::Lower {
                (mwu.p_less, mwu.p_greater, "higher")
            } else {
                (mwu.p_greater, mwu.p_less, "lower")
            };
            if p_want < alpha {
                out("PASS", mwu_name, p_want, String::new())
            } else if p_other < alpha {
                out(
                    "FAIL",
                    mwu_name,
                    p_other,
                    format!("a is significantly {other} than b"),
                )
            } else if tost < alpha {
                equivalent()
            } else {
                out(
                    "INCONCLUSIVE",
                    mwu_name,
                    p_want,
                    "no significant difference".into(),
                )
            }
        }
        CheckKind::Similar => {
            if tost < alpha {
                out(
                    "PASS",
                    "tost-welch",
                    tost,
                    format!("equivalent within {tol_pct:.0}%"),
                )
            } else if mwu.p_two < alpha && (ratio - 1.0).abs() > tolerance {
                out(
                    "FAIL",
                    mwu_name,
                    mwu.p_two,
                    format!(
                        "differ by {:.1}%, more than {tol_pct:.0}%",
                        (ratio - 1.0) * 100.0
                    ),
                )
            } else {
                out(
                    "INCONCLUSIVE",
                    "tost-welch",
                    tost,
                    format!("not shown equivalent within {tol_pct:.0}%"),
                )
            }
        }
    }
}

/// Decides a check on speedups: cell a's over its baseline against cell
/// b's over its own. The samples are per-inference latencies; `shared`
/// when both sides have the same baseline cell (its noise cancels out).
/// A z-test on the log of the ratio of the two speedups, every cell's
/// spread counted (see `stats::log_ratio`); Cliff's delta of the
/// per-inference speedups as the effect size.
pub struct SpeedupSides<'a> {
    pub a: &'a [f64],
    pub a_base: &'a [f64],
    pub b: &'a [f64],
    pub b_base: &'a [f64],
    pub shared: bool,
}

pub fn evaluate_speedup(kind: CheckKind, x: &SpeedupSides, tolerance: f64, alpha: f64) -> Outcome {
    let sets = [x.a, x.a_base, x.b, x.b_base];
    if sets.iter().any(|v| v.len() < stats::MIN_SAMPLES) {
        return Outcome::untested(
            "INCONCLUSIVE",
            format!(
                "too few samples (a {}, its baseline {}, b {}, its baseline {}); need {} each",
                x.a.len(),
                x.a_base.len(),
                x.b.len(),
                x.b_base.len(),
                stats::MIN_SAMPLES
            ),
        );
    }
    // ln(S_a / S_b) = ln mean(a_base) - ln mean(a) - ln mean(b_base) + ln mean(b).
    let lr = if x.shared {
        stats::log_ratio(&[x.b], &[x.a])
    } else {
        stats::log_ratio(&[x.a_base, x.b], &[x.a, x.b_base])
    };
    let Some(lr) = lr else {
        return Outcome::untested("INCONCLUSIVE", "a mean latency is not positive");
    };
    let per_inference = |lat: &[f64], base: &[f64]| -> Vec<f64> {
        let m = stats::mean(base);
        lat.iter().filter(|l| **l > 0.0).map(|l| m / l).collect()
    };
    let delta = stats::mann_whitney(&per_inference(x.a, x.a_base), &per_inference(x.b, x.b_base))
        .map(|m| m.delta);
    let ratio = lr.d.exp();
    let tol_pct = tolerance * 100.0;
    let test = "z log-speedup ratio";
    let out = |verdict, p: f64, note: String| Outcome {
        verdict,
        test: test.into(),
        p_value: Some(p),
        effect: delta,
        note,
    };
    let (p_less, p_greater) = (lr.p_less(), lr.p_greater());
    let p_two = (2.0 * p_less.min(p_greater)).min(1.0);
    let p_eq = lr.p_equivalent(tolerance);
    let equivalent = || out("FAIL", p_eq, format!("equivalent within {tol_pct:.0}%"));
    match kind {
        CheckKind::Differ => {
            if p_two < alpha {
                out("PASS", p_two, String::new())
            } else if p_eq < alpha {
                equivalent()
            } else {
                out(
                    "INCONCLUSIVE",
                    p_two,
                    format!("neither different nor equivalent within {tol_pct:.0}%"),
                )
            }
        }
        CheckKind::Lower | CheckKind::Higher => {
            let (p_want, p_other, other) = if kind == CheckKind::Lower {
                (p_less, p_greater, "higher")
            } else {
                (p_greater, p_less, "lower")
            };
            if p_want < alpha {
                out("PASS", p_want, String::new())
            } else if p_other < alpha {
                out(
                    "FAIL",
                    p_other,
                    format!("a is significantly {other} than b"),
                )
            } else if p_eq < alpha {
                equivalent()
            } else {
                out("INCONCLUSIVE", p_want, "no significant difference".into())
            }
        }
        CheckKind::Similar => {
            if p_eq < alpha {
                out("PASS", p_eq, format!("equivalent within {tol_pct:.0}%"))
            } else if p_two < alpha && (ratio - 1.0).abs() > tolerance {
                out(
                    "FAIL",
                    p_two,
                    format!(
                        "differ by {:.1}%, more than {tol_pct:.0}%",
                        (ratio - 1.0) * 100.0
                    ),
                )
            } else {
                out(
                    "INCONCLUSIVE",
                    p_eq,
                    format!("not shown equivalent within {tol_pct:.0}%"),
                )
            }
        }
    }
}

/// The frequency axis in which cells `a` and `b` differ (their own settings
/// or those their K was chosen at) but which was left at the board's
/// current setting in one of them: their comparison then says nothing about
/// frequency.
fn frequency_left(inp: &Inputs, a: usize, b: usize) -> Option<&'static str> {
    use crate::scenario::Strategy;
    let settings = |i: usize| {
        let c = &inp.cells[i].coord;
        let from = match &c.strategy {
            Strategy::Constant(f) | Strategy::Static(f) => Some(f),
            _ => None,
        };
        let cpu = from.and_then(|f| f.cpu_freq.clone());
        let gpu = from.and_then(|f| f.gpu_freq);
        (
            (
                c.cpu_freq.clone(),
                cpu.unwrap_or_else(|| c.cpu_freq.clone()),
            ),
            (c.gpu_freq, gpu.unwrap_or(c.gpu_freq)),
        )
    };
    let left = |axis: &str| {
        [a, b].iter().any(|&i| {
            inp.records[i]
                .as_ref()
                .is_some_and(|r| r.pins.left_unset(axis))
        })
    };
    let (sa, sb) = (settings(a), settings(b));
    if sa.0 != sb.0 && left("cpu_freq") {
        Some("cpu_freq")
    } else if sa.1 != sb.1 && left("gpu_freq") {
        Some("gpu_freq")
    } else {
        None
    }
}

type Totals = Vec<(String, String, usize, usize, usize)>;

pub(super) fn checklist(
    inp: &Inputs,
    samples: &HashMap<u32, Samples>,
    baseline: &HashMap<String, f64>,
) -> Result<(Table, Totals)> {
    let mut table = Table::new(&CHECKLIST_COLUMNS);
    let mut totals = Vec::new();
    let empty = Samples::default();
    // The `ok` default cell of each condition: the speedup baseline.
    let default_of: HashMap<String, usize> = inp
        .cells
        .iter()
        .enumerate()
        .filter(|(i, c)| c.coord.strategy == Strategy::Default && inp.status(*i) == Status::Ok)
        .map(|(i, c)| (condition_key(c), i))
        .collect();
    let latencies = |i: usize| samples.get(&(i as u32)).map_or(&[][..], |s| &s.latency[..]);
    for check in &inp.scenario.checks {
        let pairs = check_pairs(check, inp.cells)
            .map_err(|e| anyhow::anyhow!("check {}: {}", check.id, e.message))?;
        let (mut pass, mut fail, mut inc) = (0, 0, 0);
        for pair in pairs {
            let side = |i: usize| -> (Status, Vec<f64>) {
                let s = samples.get(&(i as u32)).unwrap_or(&empty);
                let base = baseline.get(&condition_key(&inp.cells[i])).copied();
                (inp.status(i), metric_samples(check.metric, s, base))
            };
            let ((sa, a), (sb, b)) = (side(pair.a), side(pair.b));
            let unset = frequency_left(inp, pair.a, pair.b);
            let outcome = if sa != Status::Ok || sb != Status::Ok {
                Outcome::untested(
                    "INCONCLUSIVE",
                    format!("cells not ok: a is {sa}, b is {sb}"),
                )
            } else if check.metric == Metric::Speedup && (a.is_empty() || b.is_empty()) {
                Outcome::untested(
                    "INCONCLUSIVE",
                    "no ok `default` cell to compute the speedup against",
                )
            } else if let Some(axis) = unset {
                Outcome::untested(
                    "INCONCLUSIVE",
                    format!(
                        "{axis} was not applied on board `{}` (left at its current setting): a and b ran at the same frequencies",
                        inp.cells[pair.a].coord.board
                    ),
                )
            } else if check.metric == Metric::Speedup {
                let base = |i: usize| default_of.get(&condition_key(&inp.cells[i])).copied();
                match (base(pair.a), base(pair.b)) {
                    (Some(da), Some(db)) => evaluate_speedup(
                        check.kind,
                        &SpeedupSides {
                            a: latencies(pair.a),
                            a_base: latencies(da),
                            b: latencies(pair.b),
                            b_base: latencies(db),
                            shared: da == db,
                        },
                        check.tolerance,
                        check.alpha,
                    ),
                    _ => Outcome::untested(
                        "INCONCLUSIVE",
                        "no ok `default` cell to compute the speedup against",
                    ),
                }
            } else {
                evaluate(check.kind, &a, &b, check.tolerance, check.alpha)
            };
            match outcome.verdict {
                "PASS" => pass += 1,
                "FAIL" => fail += 1,
                _ => inc += 1,
            }
            let mean = |v: &[f64]| (!v.is_empty()).then(|| stats::mean(v));
            let (ma, mb) = (mean(&a), mean(&b));
            table.rows.push(vec![
                check.id.clone(),
                check.title.clone(),
                pair.group.clone(),
                check.metric.name().into(),
                check.kind.name().into(),
                inp.cells[pair.a].id.clone(),
                inp.cells[pair.b].id.clone(),
                a.len().to_string(),
                b.len().to_string(),
                fmt_f(ma, 3),
                fmt_f(mb, 3),
                fmt_f(ma.zip(mb).map(|(x, y)| x / y), 3),
                outcome.test,
                fmt_p(outcome.p_value),
                fmt_f(outcome.effect, 3),
                outcome.verdict.into(),
                outcome.note,
            ]);
        }
        totals.push((check.id.clone(), check.title.clone(), pass, fail, inc));
    }
    Ok((table, totals))
}
