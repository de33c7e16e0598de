//! Matrix expansion: from a validated scenario to the list of cells.
//!
//! 1. The axes multiply in order (`boards` first, then the `matrix` keys as
//!    written, then defaulted axes); the first axis varies slowest.
//! 2. `exclude` drops every combination that matches all the keys of an
//!    entry; an entry that matches nothing is an error.
//! 3. `include`, GitHub Actions semantics: an entry whose values on the
//!    declared axes match original combinations is added to all of them (its
//!    other keys are set on them, later entries may overwrite those); an
//!    entry that matches none becomes a new combination, appended.
//! 4. A `sweep` strategy becomes one cell per K, in its order.
//! 5. Ids are `board/load/cpu/gpu/network/strategy` (`board/load/cpu/gpu/
//!    knobs-NAME/network/strategy` for a cell of a knob set other than
//!    `stock`); duplicates (ignoring
//!    case) and a count over `max_cells` are errors.

pub mod coord;
pub mod groups;
pub mod hash;

use std::collections::HashMap;

use crate::axes::{Axis, AxisValue};
use coord::Coord;

use crate::error::{Diagnostic, InputError};
use crate::scenario::{CpuFreq, GpuFreq, Pick, Scenario, Strategy};

/// Combinations, and cells, before exclude above which expansion refuses to
/// start, whatever `max_cells` says: guards against exhausting memory.
pub const MAX_RAW_COMBINATIONS: u128 = 2_000_000;
pub const MAX_CELLS_HARD: u128 = 1_000_000;

/// One cell of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// `board/load/cpu/gpu/network/strategy`, readable and stable.
    pub id: String,
    pub coord: Coord,
    /// The flush period this cell runs with.
    pub k: u32,
    /// The strategy segment of the id: `default`, `fixed-8`, `sweep-k4`.
    pub strategy_slug: String,
    pub iterations: u32,
    pub timeout_s: u32,
    /// Content hash (see `hash.rs`), filled in by [`hash::assign`].
    pub hash: String,
    /// Set on the copy of a cell that runs in one round (see
    /// `run::rounds`): the round and its place in the round's order.
    pub slot: Option<Slot>,
}

/// Where one run of a cell sits in a run: its round (1-based) and its
/// place in that round's order on its lane (0-based).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot {
    pub round: u32,
    pub position: u32,
}

#[derive(Debug, Clone)]
struct Combo {
    coord: Coord,
    iterations: Option<u32>,
    timeout_s: Option<u32>,
    /// The last `include` entry that changed this combination.
    touched_by: Option<usize>,
}

impl Pick {
    /// True when every axis value of the pick equals the coordinate's.
    pub fn matches_coord(&self, coord: &Coord) -> bool {
        self.pairs.iter().all(|(a, v)| coord.has(*a, v))
    }

    /// True when the pick matches the cell (axis values and K).
    pub fn matches(&self, cell: &Cell) -> bool {
        self.matches_coord(&cell.coord) && self.k.is_none_or(|k| k == cell.k)
    }
}

/// The cells of a scenario, in run order.
pub fn expand(s: &Scenario) -> Result<Vec<Cell>, InputError> {
    let cap_path = if s.source.keys("").contains(&"max_cells") {
        "max_cells"
    } else {
        "matrix"
    };
    let over_cap = |count: u128| {
        InputError::one(
            s.diag(cap_path, format!("the matrix expands to {count} cells, over the cap of {}", s.max_cells))
                .with_hint("raise `max_cells:` if you mean it, or drop axis values (`klo-spec plan` shows the cells)"),
        )
    };
    // Count before building anything: combinations, and cells (a sweep
    // counts once per K). Exclude can only remove, include only add.
    let raw_count: u128 = s.axes.iter().map(|a| a.values.len() as u128).product();
    let cell_count: u128 = s
        .axes
        .iter()
        .map(|a| match a.axis {
            Axis::Strategy => a
                .values
                .iter()
                .map(|v| match v {
                    AxisValue::Strategy(st) => strategy_cells(st).len() as u128,
                    _ => 1,
                })
                .sum(),
            _ => a.values.len() as u128,
        })
        .product();
    if raw_count > MAX_RAW_COMBINATIONS || cell_count > MAX_CELLS_HARD {
        return Err(InputError::one(
            s.diag("matrix", format!("the matrix has {raw_count} combinations ({cell_count} cells) before `exclude`, too many to expand"))
                .with_hint(format!(
                    "klo-spec expands at most {MAX_RAW_COMBINATIONS} combinations and {MAX_CELLS_HARD} cells, whatever `max_cells` says; split the scenario"
                )),
        ));
    }
    if s.exclude.is_empty() && cell_count > s.max_cells as u128 {
        return Err(over_cap(cell_count));
    }
    let combos = product(s);
    let combos = apply_exclude(s, combos)?;
    let combos = apply_include(s, combos)?;
    let cells = to_cells(s, combos)?;
    if cells.is_empty() {
        // Nothing to run is never a successful run.
        let (path, why, hint) = if s.exclude.is_empty() {
            (
                "matrix",
                "the scenario expands to no cell".to_string(),
                "give every axis at least one value (`klo-spec plan` shows the cells)",
            )
        } else {
            (
                "exclude",
                format!(
                    "the scenario expands to no cell: its {} `exclude` {} every combination of the matrix",
                    s.exclude.len(),
                    if s.exclude.len() == 1 {
                        "entry drops"
                    } else {
                        "entries drop"
                    }
                ),
                "narrow or remove an `exclude` entry, or add the cells to run with `include`",
            )
        };
        return Err(InputError::one(s.diag(path, why).with_hint(hint)));
    }
    if cells.len() > s.max_cells {
        return Err(over_cap(cells.len() as u128));
    }
    Ok(cells)
}

fn product(s: &Scenario) -> Vec<Combo> {
    let template = Coord {
        board: String::new(),
        load: "none".into(),
        cpu_freq: CpuFreq::Current,
        gpu_freq: GpuFreq::Current,
        knobs: crate::axes::STOCK_KNOBS.into(),
        network: String::new(),
        strategy: Strategy::Default,
    };
    let mut combos = vec![template];
    for spec in &s.axes {
        let mut next = Vec::with_capacity(combos.len() * spec.values.len());
        for c in &combos {
            for v in &spec.values {
                let mut c = c.clone();
                c.set(spec.axis, v.clone());
                next.push(c);
            }
        }
        combos = next;
    }
    combos
        .into_iter()
        .map(|coord| Combo {
            coord,
            iterations: None,
            timeout_s: None,
            touched_by: None,
        })
        .collect()
}

fn apply_exclude(s: &Scenario, combos: Vec<Combo>) -> Result<Vec<Combo>, InputError> {
    let mut problems = Vec::new();
    for pick in &s.exclude {
        if !combos.iter().any(|c| pick.matches_coord(&c.coord)) {
            problems.push(
                s.diag(&pick.path, "this `exclude` entry matches no combination of the matrix")
                    .with_hint("check its values against the axes (`klo-spec plan` lists the cells); an entry that matches nothing is usually a typo"),
            );
        }
    }
    if !problems.is_empty() {
        return Err(InputError {
            diagnostics: problems,
        });
    }
    Ok(combos
        .into_iter()
        .filter(|c| !s.exclude.iter().any(|p| p.matches_coord(&c.coord)))
        .collect())
}

fn apply_include(s: &Scenario, mut combos: Vec<Combo>) -> Result<Vec<Combo>, InputError> {
    let declared: Vec<Axis> = s
        .axes
        .iter()
        .filter(|a| a.declared)
        .map(|a| a.axis)
        .collect();
    let originals = combos.len();
    let mut added = Vec::new();
    let mut problems = Vec::new();
    for (i, entry) in s.include.iter().enumerate() {
        let (original, extra): (Vec<_>, Vec<_>) = entry
            .pick
            .pairs
            .iter()
            .cloned()
            .partition(|(axis, _)| declared.contains(axis));
        let mut matched = false;
        for combo in combos.iter_mut().take(originals) {
            if original.iter().all(|(a, v)| combo.coord.has(*a, v)) {
                matched = true;
                combo.touched_by = Some(i);
                for (a, v) in &extra {
                    combo.coord.set(*a, v.clone());
                }
                if entry.iterations.is_some() {
                    combo.iterations = entry.iterations;
                }
                if entry.timeout_s.is_some() {
                    combo.timeout_s = entry.timeout_s;
                }
            }
        }
        if matched {
            continue;
        }
        match new_combination(s, &entry.pick) {
            Ok(coord) => added.push(Combo {
                coord,
                iterations: entry.iterations,
                timeout_s: entry.timeout_s,
                touched_by: Some(i),
            }),
            Err(d) => problems.push(d),
        }
    }
    if !problems.is_empty() {
        return Err(InputError {
            diagnostics: problems,
        });
    }
    combos.extend(added);
    Ok(combos)
}

/// A combination made by an `include` entry that matched none: axes it
/// does not give take their single value (an axis left out of `matrix` has
/// one: `none`, `current`, `default`); an axis with several values must be
/// given.
fn new_combination(s: &Scenario, pick: &Pick) -> Result<Coord, Diagnostic> {
    let mut coord = Coord {
        board: String::new(),
        load: "none".into(),
        cpu_freq: CpuFreq::Current,
        gpu_freq: GpuFreq::Current,
        knobs: crate::axes::STOCK_KNOBS.into(),
        network: String::new(),
        strategy: Strategy::Default,
    };
    for spec in &s.axes {
        if pick.pairs.iter().any(|(a, _)| *a == spec.axis) {
            continue;
        }
        match spec.values.as_slice() {
            [v] => coord.set(spec.axis, v.clone()),
            values => {
                return Err(s
                    .diag(&pick.path, format!("this `include` entry adds a new combination but does not say its `{}`", spec.axis))
                    .with_hint(format!(
                        "the axis has several values ({}): name one, or make the entry match existing combinations",
                        values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                    )));
            }
        }
    }
    for (a, v) in &pick.pairs {
        coord.set(*a, v.clone());
    }
    Ok(coord)
}

/// The (id segment, K) pairs a strategy runs. K is 0 where the run
/// chooses it (LUT strategies, searches).
pub fn strategy_cells(s: &Strategy) -> Vec<(String, u32)> {
    match s {
        Strategy::Default => vec![("default".into(), 1)],
        Strategy::Fixed(k) => vec![(format!("fixed-{k}"), *k)],
        Strategy::Sweep(sw) => sw.k.iter().map(|k| (format!("sweep-k{k}"), *k)).collect(),
        other => vec![(crate::axes::strategy_label(other), 0)],
    }
}

fn to_cells(s: &Scenario, combos: Vec<Combo>) -> Result<Vec<Cell>, InputError> {
    let mut cells = Vec::new();
    let mut seen: HashMap<String, Option<usize>> = HashMap::new();
    let mut problems = Vec::new();
    for combo in combos {
        for (slug, k) in strategy_cells(&combo.coord.strategy) {
            let c = &combo.coord;
            let knobs = c.knobs_segment();
            let id = [
                c.board.as_str(),
                c.load.as_str(),
                &c.cpu_freq.slug(),
                &c.gpu_freq.slug(),
            ]
            .into_iter()
            .chain(knobs.as_deref())
            .chain([c.network.as_str(), slug.as_str()])
            .collect::<Vec<_>>()
            .join("/");
            if let Some(first) = seen.get(&id.to_lowercase()) {
                // Point at the include entry that made or changed either
                // combination, else at the strategies (two sweeps sharing a K).
                let path = match combo.touched_by.or(*first) {
                    Some(i) => format!("include[{i}]"),
                    None => "matrix.strategy".to_string(),
                };
                problems.push(
                    s.diag(&path, format!("cell `{id}` would appear twice"))
                        .with_hint("two combinations (or two sweeps sharing a K, or ids differing only in case) give the same cell: remove one"),
                );
                continue;
            }
            seen.insert(id.to_lowercase(), combo.touched_by);
            cells.push(Cell {
                id,
                coord: combo.coord.clone(),
                k,
                strategy_slug: slug,
                iterations: combo.iterations.unwrap_or(s.iterations),
                timeout_s: combo.timeout_s.unwrap_or(s.timeout_s),
                hash: String::new(),
                slot: None,
            });
        }
    }
    if !problems.is_empty() {
        return Err(InputError {
            diagnostics: problems,
        });
    }
    Ok(cells)
}

#[cfg(test)]
mod tests;
