//! Preparing a run: expand the scenario, connect its boards (from the
//! inventory), read their topology, resolve every cell's frequencies on its
//! board, and hash the cells. Everything a board cannot do is bad input,
//! found here, before anything runs or is written.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Result;

use super::cell;
use crate::board::freqplan::{self, FreqPlan};
use crate::board::inventory::{self, Inventory};
use crate::board::{self, Topology, Transport, format_cores, helpers, local};
use crate::error::{Diagnostic, InputError, suggest};
use crate::matrix::coord::{Axis, AxisValue};
use crate::matrix::hash::{self, HashContext};
use crate::matrix::{self, Cell};
use crate::render::Templates;
use crate::scenario::{Benchmark, Cores, Scenario};

/// A scenario expanded, checked against its boards, and hashed.
pub struct Prepared {
    pub scenario: Scenario,
    pub cells: Vec<Cell>,
    /// Per cell (same order): what it pins on its board.
    pub plans: Vec<FreqPlan>,
    pub inventory: Inventory,
    pub boards: BTreeMap<String, Box<dyn Transport>>,
    pub topologies: BTreeMap<String, Topology>,
    /// Cores each board lets loads use (`cores: all`).
    pub cores: BTreeMap<String, Vec<u32>>,
    pub identities: BTreeMap<String, String>,
    pub templates: Templates,
}

/// The YAML path where an axis value is written (for errors found against
/// a board).
fn value_path(s: &Scenario, axis: Axis, value: &AxisValue) -> String {
    if let Some(spec) = s.axes.iter().find(|a| a.axis == axis && a.declared)
        && let Some(i) = spec.values.iter().position(|v| v == value)
    {
        return format!("matrix.{}[{i}]", axis.key());
    }
    for (i, inc) in s.include.iter().enumerate() {
        if inc.pick.pairs.iter().any(|(a, v)| *a == axis && v == value) {
            return format!("include[{i}].{}", axis.key());
        }
    }
    "matrix".into()
}

/// Expands, checks against the boards, and hashes. `boards_file` is the
/// inventory (default: `boards.yaml` beside the scenario).
pub fn prepare(
    scenario: Scenario,
    templates_dir: Option<&Path>,
    boards_file: Option<&Path>,
) -> Result<Prepared> {
    let cells = matrix::expand(&scenario)?;
    let mut problems: Vec<Diagnostic> = Vec::new();
    for check in &scenario.checks {
        if let Err(e) = matrix::groups::check_pairs(check, &cells) {
            problems.push(
                scenario
                    .diag(&check.path, format!("check `{}`: {}", check.id, e.message))
                    .with_hint(e.hint),
            );
        }
    }
    let inventory = inventory::for_scenario(boards_file, &scenario.file)?;
    for (i, name) in scenario.boards.iter().enumerate() {
        if inventory.get(name).is_none() {
            let names = inventory.names();
            let hint = match suggest(name, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? Boards: {}", names.join(", ")),
                None => match &inventory.file {
                    Some(f) => format!("boards in {}: {}; add it there", f.display(), names.join(", ")),
                    None => "the only board here is the built-in `local`: others are defined in a board inventory (boards.yaml beside the scenario, or --boards FILE)".into(),
                },
            };
            problems.push(
                scenario
                    .diag(&format!("boards[{i}]"), format!("unknown board `{name}`"))
                    .with_hint(hint),
            );
        }
    }
    if !problems.is_empty() {
        return Err(InputError {
            diagnostics: problems,
        }
        .into());
    }

    let templates = Templates::load(templates_dir)?;
    let mut boards: BTreeMap<String, Box<dyn Transport>> = BTreeMap::new();
    let (mut topologies, mut cores, mut identities) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for name in &scenario.boards {
        let b = board::connect(inventory.get(name).expect("checked above"), &templates)?;
        let topo = board::topology(
            b.as_ref(),
            &templates,
            false,
            board::saved_topology(&inventory, name).as_deref(),
        )
        .map_err(|e| {
            if e.is::<board::Unreachable>() {
                e.context(format!("board `{name}` must be reached once to read its topology (or keep a reading with `klo-spec board probe {name} --write`); `klo-spec boards` shows which boards answer"))
            } else {
                e
            }
        })?;
        let host = b.config().transport == inventory::TransportKind::Local
            && b.config().sysfs_root == Path::new("/sys");
        cores.insert(
            name.clone(),
            if host {
                local::allowed_cpus()?
            } else {
                topo.all_cores()
            },
        );
        identities.insert(name.clone(), b.identity()?);
        topologies.insert(name.clone(), topo);
        boards.insert(name.clone(), b);
    }

    // What the boards cannot do is bad input too: say so before running.
    let mut reported = HashSet::new();
    let mut plans = Vec::with_capacity(cells.len());
    for cell in &cells {
        let c = &cell.coord;
        let topo = &topologies[&c.board];
        let mut plan = FreqPlan::default();
        match freqplan::resolve_cpu(&c.cpu_freq, topo, &c.board) {
            Ok(pins) => plan.cpu = pins,
            Err(e) => {
                let path = value_path(
                    &scenario,
                    Axis::CpuFreq,
                    &AxisValue::Cpu(c.cpu_freq.clone()),
                );
                if reported.insert((path.clone(), e.message.clone())) {
                    problems.push(scenario.diag(&path, e.message).with_hint(e.hint));
                }
            }
        }
        match freqplan::resolve_gpu(&c.gpu_freq, topo, &c.board) {
            Ok(pin) => plan.gpu = pin,
            Err(e) => {
                let path = value_path(&scenario, Axis::GpuFreq, &AxisValue::Gpu(c.gpu_freq));
                if reported.insert((path.clone(), e.message.clone())) {
                    problems.push(scenario.diag(&path, e.message).with_hint(e.hint));
                }
            }
        }
        plans.push(plan);
        if let Some(load) = scenario.load(&c.load)
            && let Cores::List(list) = &load.cores
        {
            let available = &cores[&c.board];
            for (i, core) in list.iter().enumerate() {
                let path = format!("loads.{}.cores[{i}]", c.load);
                if !available.contains(core) && reported.insert((path.clone(), c.board.clone())) {
                    problems.push(
                        scenario
                            .diag(
                                &path,
                                format!(
                                    "core {core} is not available on board `{}` (available: {})",
                                    c.board,
                                    format_cores(available)
                                ),
                            )
                            .with_hint("use `cores: all`, or list cores the board has"),
                    );
                }
            }
        }
    }
    // A command template can fail for some cells only (a branch on a
    // variable): render it for every cell before running any.
    if let Benchmark::Command(c) = &scenario.benchmark {
        let mut seen = HashSet::new();
        for cell in &cells {
            if let Err(e) = crate::render::render_str(&c.run, cell::command_context(cell, "/push"))
            {
                let msg = e.to_string();
                if seen.insert(msg.clone()) {
                    let vars = crate::render::COMMAND_VARIABLES;
                    let hint = msg
                        .split('`')
                        .nth(1)
                        .and_then(|name| suggest(name, vars))
                        .map(|s| format!("did you mean `{s}`? Variables: {}", vars.join(", ")))
                        .unwrap_or_else(|| format!("variables: {}", vars.join(", ")));
                    problems.push(
                        scenario
                            .diag(
                                "benchmark.command.run",
                                format!("`run` cannot be rendered for cell {}: {msg}", cell.id),
                            )
                            .with_hint(hint),
                    );
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(InputError {
            diagnostics: problems,
        }
        .into());
    }

    let ctx = HashContext {
        boards: identities.clone(),
        helpers: helpers::source_hash(),
        template: templates.hash(),
    };
    let mut cells = cells;
    let extra: Vec<serde_json::Value> = plans
        .iter()
        .map(|p| serde_json::to_value(p).unwrap_or_default())
        .collect();
    hash::assign(&scenario, &mut cells, &ctx, &extra);
    Ok(Prepared {
        scenario,
        cells,
        plans,
        inventory,
        boards,
        topologies,
        cores,
        identities,
        templates,
    })
}
