//! Grouping cells for checks and speedups.
//!
//! A check compares the cell picked by `a` with the cell picked by `b` in
//! every group of cells that agree on all the axes neither side names. When
//! a side names `strategy`, K counts as named too (K belongs to the
//! strategy); a side that names neither compares cells of equal K.

use std::collections::BTreeMap;

use super::Cell;
use crate::axes::{Axis, strategy_label};
use crate::scenario::CheckSpec;

/// One comparison of a check: a group and the indexes of its two cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The group, as a cell id with the named axes written `*`.
    pub group: String,
    pub a: usize,
    pub b: usize,
}

/// Why a check cannot compare anything: a message and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairError {
    pub message: String,
    pub hint: String,
}

/// The comparisons a check makes over `cells`, in group order, or why it
/// cannot make any.
pub fn check_pairs(check: &CheckSpec, cells: &[Cell]) -> Result<Vec<Pair>, PairError> {
    let named: Vec<Axis> = check
        .a
        .pairs
        .iter()
        .chain(&check.b.pairs)
        .map(|(a, _)| *a)
        .collect();
    let k_named = check.a.k.is_some() || check.b.k.is_some() || named.contains(&Axis::Strategy);
    let mut groups: BTreeMap<String, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (i, cell) in cells.iter().enumerate() {
        let in_a = check.a.matches(cell);
        let in_b = check.b.matches(cell);
        if !in_a && !in_b {
            continue;
        }
        let key = group_key(cell, &named, k_named);
        let entry = groups.entry(key).or_default();
        if in_a {
            entry.0.push(i);
        }
        if in_b {
            entry.1.push(i);
        }
    }
    let mut pairs = Vec::new();
    for (group, (a, b)) in groups {
        for (side, list) in [("a", &a), ("b", &b)] {
            if list.len() > 1 {
                let ids: Vec<&str> = list.iter().take(3).map(|i| cells[*i].id.as_str()).collect();
                return Err(PairError {
                    message: format!(
                        "`{side}` picks {} cells in group `{group}` ({}{})",
                        list.len(),
                        ids.join(", "),
                        if list.len() > 3 { ", ..." } else { "" }
                    ),
                    hint: format!(
                        "a side must pick one cell per group: add to `{side}` the axis that tells them apart, or `k` to pick one K of a sweep"
                    ),
                });
            }
        }
        if let ([a], [b]) = (a.as_slice(), b.as_slice())
            && a != b
        {
            pairs.push(Pair {
                group,
                a: *a,
                b: *b,
            });
        }
    }
    if pairs.is_empty() {
        return Err(PairError {
            message: "no group has a cell for both `a` and `b`, so this check compares nothing".into(),
            hint: "`a` and `b` must pick cells that exist and differ only in the axes they name (`klo-spec plan` lists the cells)".into(),
        });
    }
    Ok(pairs)
}

/// The cell id with the named axes replaced by `*`.
fn group_key(cell: &Cell, named: &[Axis], k_named: bool) -> String {
    let c = &cell.coord;
    let seg = |axis: Axis, value: String| {
        if named.contains(&axis) {
            "*".to_string()
        } else {
            value
        }
    };
    let strategy = if named.contains(&Axis::Strategy) {
        "*".to_string()
    } else if k_named {
        strategy_label(&c.strategy)
    } else {
        cell.strategy_slug.clone()
    };
    // The knob set's segment is there when a side names the axis (`*` in
    // every group) or the cell's set is not `stock`, as in the cell's id.
    let knobs = if named.contains(&Axis::Knobs) {
        Some("*".to_string())
    } else {
        c.knobs_segment()
    };
    [
        seg(Axis::Board, c.board.clone()),
        seg(Axis::Load, c.load.clone()),
        seg(Axis::CpuFreq, c.cpu_freq.slug()),
        seg(Axis::GpuFreq, c.gpu_freq.slug()),
    ]
    .into_iter()
    .chain(knobs)
    .chain([seg(Axis::Network, c.network.clone()), strategy])
    .collect::<Vec<_>>()
    .join("/")
}

/// The speedup group of a cell: its id without the strategy (cells that
/// share board, load, frequencies, knob set and network).
pub fn condition_key(cell: &Cell) -> String {
    let c = &cell.coord;
    let knobs = c.knobs_segment();
    [
        c.board.as_str(),
        c.load.as_str(),
        &c.cpu_freq.slug(),
        &c.gpu_freq.slug(),
    ]
    .into_iter()
    .chain(knobs.as_deref())
    .chain([c.network.as_str()])
    .collect::<Vec<_>>()
    .join("/")
}
