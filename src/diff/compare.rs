//! The join of two result sets: per cell and metric, the values, the
//! test that says whether their difference is noise, and the mark once the
//! p-values of the whole diff are Holm-adjusted; and the checklist
//! verdicts that flipped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;

use super::noise::{self, Basis};
use super::{Diff, Flip, Mark, MetricInfo, Options, Row, info};
use crate::record::Status;
use crate::results::ResultSet;
use crate::rows::{ChecklistRow, SummaryRow};

/// One result set, indexed for the join.
struct Side<'a> {
    /// summary.csv's rows, typed.
    summary: &'a [SummaryRow],
    by_id: HashMap<&'a str, usize>,
    /// Per cell id and metric column of rounds.csv: the figure of each ok
    /// round (empty when the set has no rounds.csv).
    rounds: HashMap<&'a str, HashMap<&'static str, BTreeMap<u32, f64>>>,
}

impl<'a> Side<'a> {
    fn new(set: &ResultSet, summary: &'a [SummaryRow], metrics: &[MetricInfo]) -> Result<Side<'a>> {
        let by_id: HashMap<&str, usize> = summary
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        let mut rounds: HashMap<&str, HashMap<&'static str, BTreeMap<u32, f64>>> = HashMap::new();
        // Only the columns the set has: a metric its rounds.csv lacks has
        // no per-round figures.
        let have: Vec<&MetricInfo> = metrics
            .iter()
            .filter(|m| set.rounds.column(m.rounds_column).is_some())
            .collect();
        for row in set.round_rows()? {
            if row.status != Status::Ok {
                continue;
            }
            let Some((&id, _)) = by_id.get_key_value(row.id.as_str()) else {
                continue;
            };
            for m in &have {
                if let Some(v) = (m.round_value)(&row).filter(|v| v.is_finite()) {
                    rounds
                        .entry(id)
                        .or_default()
                        .entry(m.rounds_column)
                        .or_default()
                        .insert(row.round, v);
                }
            }
        }
        Ok(Side {
            summary,
            by_id,
            rounds,
        })
    }

    /// Summary row `i`.
    fn row(&self, i: usize) -> &'a SummaryRow {
        &self.summary[i]
    }

    /// A cell's per-round figures of a metric (ok rounds).
    fn per_round(&self, id: &str, m: &MetricInfo) -> Option<&BTreeMap<u32, f64>> {
        self.rounds.get(id)?.get(m.rounds_column)
    }
}

/// A row before the Holm adjustment: its raw p-value and the mark it gets
/// if the change is significant.
struct Pending {
    row: Row,
    raw_p: Option<f64>,
    if_significant: Mark,
}

/// A row whose mark is known without a test: no ratio, no p-value.
fn fixed(
    id: &str,
    metric: &'static str,
    old: &str,
    new: &str,
    mark: Mark,
    note: String,
) -> Pending {
    Pending {
        row: Row {
            id: id.to_string(),
            metric,
            old: old.to_string(),
            new: new.to_string(),
            ratio: None,
            mark,
            p: None,
            basis: None,
            note,
        },
        raw_p: None,
        if_significant: mark,
    }
}

/// Compares two result sets.
pub fn compare(old: &ResultSet, new: &ResultSet, opts: &Options) -> Result<Diff> {
    let metrics: Vec<MetricInfo> = opts.metrics.iter().map(|m| info(*m)).collect();
    let (so, sn) = (old.summary_rows()?, new.summary_rows()?);
    let (o, n) = (
        Side::new(old, &so, &metrics)?,
        Side::new(new, &sn, &metrics)?,
    );
    let ids: BTreeSet<&str> = o.by_id.keys().chain(n.by_id.keys()).copied().collect();
    let mut pending: Vec<Pending> = Vec::new();
    for id in ids {
        match (o.by_id.get(id).copied(), n.by_id.get(id).copied()) {
            (Some(i), None) => {
                for m in &metrics {
                    pending.push(fixed(
                        id,
                        m.name,
                        &m.text(o.row(i)),
                        "",
                        Mark::Gone,
                        String::new(),
                    ));
                }
            }
            (None, Some(j)) => {
                for m in &metrics {
                    pending.push(fixed(
                        id,
                        m.name,
                        "",
                        &m.text(n.row(j)),
                        Mark::New,
                        String::new(),
                    ));
                }
            }
            (Some(i), Some(j)) => {
                let (ro, rn) = (o.row(i), n.row(j));
                let (ho, hn) = (&ro.hash, &rn.hash);
                let (so, sn) = (ro.status, rn.status);
                if ho != hn {
                    for m in &metrics {
                        let mut p = fixed(
                            id,
                            m.name,
                            &m.text(ro),
                            &m.text(rn),
                            Mark::NotComparable,
                            format!("definition changed (hash {ho} -> {hn})"),
                        );
                        p.row.ratio = ratio(m.number(ro), m.number(rn));
                        pending.push(p);
                    }
                } else if so != sn && (so != Status::Ok || sn != Status::Ok) {
                    let mark = match (so, sn) {
                        (Status::Ok, _) => Mark::Worse,
                        (_, Status::Ok) => Mark::Better,
                        _ => Mark::NotComparable,
                    };
                    pending.push(fixed(
                        id,
                        "status",
                        so.as_str(),
                        sn.as_str(),
                        mark,
                        "status changed".into(),
                    ));
                } else {
                    for m in &metrics {
                        pending.push(compare_metric(&o, i, &n, j, id, m, opts));
                    }
                }
            }
            (None, None) => {}
        }
    }

    holm_marks(&mut pending, opts.alpha);
    let rows: Vec<Row> = pending.into_iter().map(|p| p.row).collect();
    let cells = cell_marks(&rows);
    Ok(Diff {
        old: old.label.clone(),
        new: new.label.clone(),
        threshold: opts.threshold,
        alpha: opts.alpha,
        flips: flips(old, new)?,
        rows,
        cells,
        environment: environment_changes(old, new),
    })
}

/// Holm over every test made, then the marks: a change that is not
/// significant at `alpha` is unchanged, within noise.
fn holm_marks(pending: &mut [Pending], alpha: f64) {
    let tested: Vec<usize> = (0..pending.len())
        .filter(|&k| pending[k].raw_p.is_some())
        .collect();
    let adjusted = crate::analysis::stats::holm(
        &tested
            .iter()
            .map(|&k| pending[k].raw_p.unwrap_or(1.0))
            .collect::<Vec<_>>(),
    );
    for (k, p) in tested.into_iter().zip(adjusted) {
        let pd = &mut pending[k];
        pd.row.p = Some(p);
        if pd.row.mark != Mark::Unchanged {
            if p < alpha {
                pd.row.mark = pd.if_significant;
            } else {
                pd.row.mark = Mark::Unchanged;
                pd.row.note = "within noise".into();
            }
        }
    }
}

/// Per cell (rows are grouped by cell), the worst mark of its rows.
fn cell_marks(rows: &[Row]) -> Vec<(String, Mark)> {
    let mut cells: Vec<(String, Mark)> = Vec::new();
    for r in rows {
        match cells.last_mut() {
            Some((id, m)) if *id == r.id => *m = (*m).min(r.mark),
            _ => cells.push((r.id.clone(), r.mark)),
        }
    }
    cells
}

/// The differences between the environments the two meta.json record
/// (none when either has no record: an older result set).
fn environment_changes(old: &ResultSet, new: &ResultSet) -> Vec<crate::preflight::EnvChange> {
    match (&old.meta, &new.meta) {
        (Some(a), Some(b)) => {
            crate::preflight::compare_environments(&a.environment, &b.environment)
        }
        _ => Vec::new(),
    }
}

fn ratio(old: Option<f64>, new: Option<f64>) -> Option<f64> {
    match (old, new) {
        (Some(a), Some(b)) if a != 0.0 => Some(b / a),
        _ => None,
    }
}

/// One metric of a cell whose definition is the same on both sides.
fn compare_metric(
    o: &Side,
    i: usize,
    n: &Side,
    j: usize,
    id: &str,
    m: &MetricInfo,
    opts: &Options,
) -> Pending {
    let (ro, rn) = (o.row(i), n.row(j));
    let (vo, vn) = (m.number(ro), m.number(rn));
    let mut row = Row {
        id: id.to_string(),
        metric: m.name,
        old: m.text(ro),
        new: m.text(rn),
        ratio: ratio(vo, vn),
        mark: Mark::Unchanged,
        p: None,
        basis: None,
        note: String::new(),
    };
    let (Some(a), Some(b)) = (vo, vn) else {
        if vo.is_some() || vn.is_some() {
            row.mark = Mark::NotComparable;
            row.note = format!(
                "no value in the {} set",
                if vo.is_none() { "old" } else { "new" }
            );
        }
        return Pending {
            if_significant: row.mark,
            row,
            raw_p: None,
        };
    };
    let up = if m.higher_is_better {
        Mark::Better
    } else {
        Mark::Worse
    };
    let down = if up == Mark::Better {
        Mark::Worse
    } else {
        Mark::Better
    };
    let direction = if b > a { up } else { down };
    let raw_p = o
        .per_round(id, m)
        .zip(n.per_round(id, m))
        .and_then(|(a, b)| noise::rounds_p(a, b));
    let basis = Basis::Rounds;
    row.basis = Some(if raw_p.is_some() {
        basis
    } else {
        Basis::Threshold
    });
    let change = match row.ratio {
        Some(r) => (r - 1.0).abs(),
        // From zero: any change is beyond every threshold.
        None if a == b => 0.0,
        None => f64::INFINITY,
    };
    if change > opts.threshold {
        // Decided after the Holm adjustment when a test was made.
        row.mark = direction;
    }
    Pending {
        row,
        raw_p,
        if_significant: direction,
    }
}

/// Checklist comparisons whose verdict differs, joined by check and cells.
fn flips(old: &ResultSet, new: &ResultSet) -> Result<Vec<Flip>> {
    type Key = (String, String, String);
    let index = |set: &ResultSet| -> Result<Vec<(Key, ChecklistRow)>> {
        Ok(set
            .checklist_rows()?
            .into_iter()
            .map(|r| ((r.check.clone(), r.a.clone(), r.b.clone()), r))
            .collect())
    };
    let (o, n) = (index(old)?, index(new)?);
    let mut keys: Vec<&Key> = o.iter().chain(&n).map(|x| &x.0).collect();
    keys.sort();
    keys.dedup();
    let find = |side: &'_ [(Key, ChecklistRow)], k: &Key| {
        side.iter().find(|x| &x.0 == k).map(|x| x.1.clone())
    };
    let mut out = Vec::new();
    for k in keys {
        let (fo, fnew) = (find(&o, k), find(&n, k));
        let verdict = |f: &Option<ChecklistRow>| f.as_ref().map(|x| x.verdict);
        if verdict(&fo) == verdict(&fnew) {
            continue;
        }
        let group = fo
            .as_ref()
            .or(fnew.as_ref())
            .map(|x| x.group.clone())
            .unwrap_or_default();
        let p = |f: &Option<ChecklistRow>| {
            f.as_ref()
                .map(|x| crate::output::fmt_p(x.p_value))
                .unwrap_or_default()
        };
        out.push(Flip {
            check: k.0.clone(),
            group,
            old: verdict(&fo),
            new: verdict(&fnew),
            old_p: p(&fo),
            new_p: p(&fnew),
        });
    }
    Ok(out)
}
