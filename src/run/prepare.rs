//! Preparing a run: expand the scenario, connect its boards (from the
//! inventory), read their topology, resolve every cell's frequencies on its
//! board, and hash the cells. Everything a board cannot do is bad input,
//! found here, before anything runs or is written.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Result;

use super::{cell, kchoice};
use crate::axes::{Axis, AxisValue};
use crate::board::freqplan::{self, FreqPlan};
use crate::board::inventory::{self, Inventory};
use crate::board::{self, Topology, Transport, format_cores, helpers, local};
use crate::error::{Diagnostic, InputError, suggest};
use crate::kstrategy::lut::Lut;
use crate::matrix::hash::{self, HashContext};
use crate::matrix::{self, Cell};
use crate::render::Templates;
use crate::scenario::raw::{Foreign, FreqUnsupported};
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
    /// Per board: the LUT its LUT-strategy cells use.
    pub luts: BTreeMap<String, Lut>,
    /// What the run does other than asked, to print before it starts (a
    /// frequency `local` cannot set, left at its current value).
    pub notes: Vec<String>,
    /// Per (board, network): what its regime resolved to (probe scenarios
    /// with a `regime`).
    pub regimes: BTreeMap<(String, String), crate::record::RegimeScale>,
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
/// inventory (default: `boards.yaml` beside the scenario). A board the
/// scenario's regimes need a calibration of is not calibrated here (see
/// [`prepare_calibrating`]).
pub fn prepare(
    scenario: Scenario,
    templates_dir: Option<&Path>,
    boards_file: Option<&Path>,
) -> Result<Prepared> {
    prepare_calibrating(scenario, templates_dir, boards_file, None)
}

/// As [`prepare`], calibrating first (a run of its own on the board, which
/// `cancel` stops) every board the scenario's regimes need and that has no
/// calibration yet.
pub fn prepare_calibrating(
    scenario: Scenario,
    templates_dir: Option<&Path>,
    boards_file: Option<&Path>,
    cancel: Option<&crate::board::Cancel>,
) -> Result<Prepared> {
    let cells = matrix::expand(&scenario)?;
    let inventory = inventory::for_scenario(boards_file, &scenario.file)?;
    let mut problems = check_names(&scenario, &cells, &inventory);
    if !problems.is_empty() {
        return Err(InputError {
            diagnostics: problems,
        }
        .into());
    }

    let templates = Templates::load(templates_dir)?;
    let Connected {
        boards,
        topologies,
        cores,
        identities,
    } = connect_boards(&scenario, &inventory, &templates)?;

    // Each knob set's knobs, merged over the scenario's once, not per cell.
    let knob_sets: BTreeMap<String, crate::scenario::Knobs> = cells
        .iter()
        .map(|c| c.coord.knobs.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|name| (name.to_string(), scenario.knobs_for(name)))
        .collect();
    // What the boards cannot do is bad input too: say so before running.
    let mut check = BoardCheck {
        scenario: &scenario,
        knob_sets: &knob_sets,
        reported: HashSet::new(),
        problems: &mut problems,
        notes: std::collections::BTreeSet::new(),
    };
    check.zone_globs(&boards, &topologies);
    let plans: Vec<FreqPlan> = cells
        .iter()
        .map(|cell| {
            let c = &cell.coord;
            let plan = check.plan(c, &topologies[&c.board]);
            check.load_cores(c, &cores[&c.board]);
            plan
        })
        .collect();
    let mut notes = check.notes;
    check_command_template(&scenario, &cells, &mut problems);
    if !problems.is_empty() {
        return Err(InputError {
            diagnostics: problems,
        }
        .into());
    }

    let resolved = super::calibrate::resolve(
        &scenario,
        &identities,
        inventory.file.as_deref(),
        templates_dir,
        cancel,
    )?;
    notes.extend(resolved.notes.iter().cloned());
    let regimes = resolved.regimes.clone();
    let luts = check_luts(&scenario, &cells, &identities, &resolved, &mut problems);
    if !problems.is_empty() {
        return Err(InputError {
            diagnostics: problems,
        }
        .into());
    }
    let mut cells = cells;
    assign_hashes(
        &scenario,
        &mut cells,
        &plans,
        &identities,
        &templates,
        &regimes,
        &luts,
    );
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
        luts,
        notes: notes.into_iter().collect(),
        regimes,
    })
}

/// Checks that every check compares something and every board is in the
/// inventory.
fn check_names(
    scenario: &Scenario,
    cells: &[matrix::Cell],
    inventory: &inventory::Inventory,
) -> Vec<Diagnostic> {
    let mut problems: Vec<Diagnostic> = Vec::new();
    for check in &scenario.checks {
        if let Err(e) = matrix::groups::check_pairs(check, cells) {
            problems.push(
                scenario
                    .diag(&check.path, format!("check `{}`: {}", check.id, e.message))
                    .with_hint(e.hint),
            );
        }
    }
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
    problems
}

/// The scenario's boards, reached once, with what planning needs of each.
struct Connected {
    boards: BTreeMap<String, Box<dyn Transport>>,
    topologies: BTreeMap<String, Topology>,
    cores: BTreeMap<String, Vec<u32>>,
    identities: BTreeMap<String, String>,
}

fn connect_boards(
    scenario: &Scenario,
    inventory: &inventory::Inventory,
    templates: &Templates,
) -> Result<Connected> {
    let mut boards: BTreeMap<String, Box<dyn Transport>> = BTreeMap::new();
    let (mut topologies, mut cores, mut identities) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for name in &scenario.boards {
        let b = board::connect(inventory.get(name).expect("checked above"), templates)?;
        let topo = board::topology(
            b.as_ref(),
            templates,
            false,
            board::saved_topology(inventory, name).as_deref(),
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

    Ok(Connected {
        boards,
        topologies,
        cores,
        identities,
    })
}

/// What the boards cannot do, found cell by cell: each problem reported
/// once, located in the scenario; notes on what is left as it is.
struct BoardCheck<'a> {
    scenario: &'a Scenario,
    /// The knobs of each knob set the cells use.
    knob_sets: &'a BTreeMap<String, crate::scenario::Knobs>,
    reported: HashSet<(String, String)>,
    problems: &'a mut Vec<Diagnostic>,
    notes: std::collections::BTreeSet<String>,
}

impl BoardCheck<'_> {
    fn problem(&mut self, path: String, e: freqplan::PlanError) {
        if self.reported.insert((path.clone(), e.message.clone())) {
            self.problems
                .push(self.scenario.diag(&path, e.message).with_hint(e.hint));
        }
    }

    /// A zone glob (the thermal gate's, the sampler's) must match a zone on
    /// every board.
    fn zone_globs(
        &mut self,
        boards: &BTreeMap<String, Box<dyn Transport>>,
        topologies: &BTreeMap<String, Topology>,
    ) {
        let (scenario, problems) = (self.scenario, &mut *self.problems);
        let zone_globs = [
            scenario.thermal.as_ref().map(|t| {
                (
                    "thermal.zones",
                    t.zones.as_str(),
                    &t.matcher,
                    "leave `thermal` out for this board",
                )
            }),
            scenario
                .sampler
                .as_ref()
                .and_then(|s| s.zones.as_ref())
                .map(|(glob, m)| {
                    (
                        "sampler.zones",
                        glob.as_str(),
                        m,
                        "leave `zones` out (the sampler then reads frequencies only on this board)",
                    )
                }),
        ];
        for (path, glob, matcher, without) in zone_globs.into_iter().flatten() {
            for name in &scenario.boards {
                let topo = &topologies[name];
                if !topo.zones_matching(matcher).is_empty() {
                    continue;
                }
                let sysfs = boards[name].config().sysfs_root.display().to_string();
                let hint = if topo.thermal.is_empty() {
                    format!(
                        "it has no thermal zones ({sysfs}/class/thermal/thermal_zone*): {without}"
                    )
                } else {
                    let types: Vec<&str> = topo.thermal.iter().map(|z| z.kind.as_str()).collect();
                    format!(
                        "its zones' types: {} (`klo-spec board probe {name}` lists them)",
                        types.join(", ")
                    )
                };
                problems.push(
                    scenario
                        .diag(
                            path,
                            format!(
                                "board `{name}` has no thermal zone whose type matches `{glob}`"
                            ),
                        )
                        .with_hint(hint),
                );
            }
        }
    }

    /// The frequencies and knobs cell `c` pins on its board.
    fn plan(&mut self, c: &crate::matrix::coord::Coord, topo: &Topology) -> FreqPlan {
        let scenario = self.scenario;
        let mut plan = FreqPlan::default();
        // A frequency the board has no means to set is refused, unless the
        // scenario says to leave it at the current setting (`left`).
        let leave = |e: &freqplan::PlanError| {
            e.unsupported && scenario.freq_unsupported == FreqUnsupported::LeaveCurrent
        };
        match freqplan::resolve_cpu(&c.cpu_freq, topo, &c.board) {
            Ok(pins) => plan.cpu = pins,
            Err(e) if leave(&e) => {
                plan.left
                    .push(format!("cpu_freq {}: {}", c.cpu_freq, e.message));
                self.notes.insert(format!(
                    "cpu_freq {} left at the current setting: {}",
                    c.cpu_freq, e.message
                ));
            }
            Err(e) => {
                let path = value_path(scenario, Axis::CpuFreq, &AxisValue::Cpu(c.cpu_freq.clone()));
                self.problem(path, e);
            }
        }
        match freqplan::resolve_gpu(&c.gpu_freq, topo, &c.board) {
            Ok(pin) => plan.gpu = pin,
            Err(e) if leave(&e) => {
                plan.left
                    .push(format!("gpu_freq {}: {}", c.gpu_freq, e.message));
                self.notes.insert(format!(
                    "gpu_freq {} left at the current setting: {}",
                    c.gpu_freq, e.message
                ));
            }
            Err(e) => {
                let path = value_path(scenario, Axis::GpuFreq, &AxisValue::Gpu(c.gpu_freq));
                self.problem(path, e);
            }
        }
        plan.stopped = scenario.stop_daemons.clone();
        plan.knobs = self.knobs(c, topo);
        plan
    }

    /// The knobs of the cell's knob set (kgsl, Mali, devfreq, idle states).
    fn knobs(
        &mut self,
        c: &crate::matrix::coord::Coord,
        topo: &Topology,
    ) -> Vec<freqplan::KnobPin> {
        let (scenario, sets) = (self.scenario, self.knob_sets);
        let knobs = &sets[&c.knobs];
        let mut pins = Vec::new();
        let fail = |this: &mut Self, key: &str, sub: &str, e| {
            this.problem(scenario.knob_path(&c.knobs, key, sub), e)
        };
        match freqplan::resolve_knobs(&knobs.kgsl, topo, &c.board) {
            Ok(p) => pins = p,
            Err((name, e)) => fail(self, "kgsl", name, e),
        }
        match freqplan::resolve_mali(&knobs.mali, topo, &c.board) {
            Ok(p) => pins.extend(p),
            Err(e) => fail(self, "mali", "power_policy", e),
        }
        if !knobs.devfreq.is_empty() {
            match freqplan::resolve_devfreq(&knobs.devfreq, topo, &c.board) {
                Ok(p) => pins.extend(p),
                Err((glob, e)) => fail(self, "devfreq", &glob, e),
            }
        }
        if let Some(idle) = &knobs.cpuidle {
            match freqplan::resolve_cpuidle(idle, topo, &c.board) {
                Ok(p) => pins.extend(p),
                Err((cluster, e)) => fail(self, "cpuidle", &cluster, e),
            }
        }
        pins
    }

    /// A load's listed cores must be cores the board has.
    fn load_cores(&mut self, c: &crate::matrix::coord::Coord, available: &[u32]) {
        let scenario = self.scenario;
        if let Some(load) = scenario.load(&c.load)
            && let Cores::List(list) = &load.cores
        {
            for (i, core) in list.iter().enumerate() {
                let path = format!("loads.{}.cores[{i}]", c.load);
                if !available.contains(core)
                    && self.reported.insert((path.clone(), c.board.clone()))
                {
                    self.problems.push(
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
}

/// A command template can fail for some cells only (a branch on a
/// variable): render it for every cell before running any.
fn check_command_template(
    scenario: &Scenario,
    cells: &[matrix::Cell],
    problems: &mut Vec<Diagnostic>,
) {
    if let Benchmark::Command(c) = &scenario.benchmark {
        let mut seen = HashSet::new();
        for cell in cells {
            if let Err(e) = crate::render::render_str(
                &c.run,
                cell::command_context(cell, &sample_choice(cell), "/cell"),
            ) {
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
}

/// Hashes every cell (see `matrix::hash`).
fn assign_hashes(
    scenario: &Scenario,
    cells: &mut [matrix::Cell],
    plans: &[FreqPlan],
    identities: &BTreeMap<String, String>,
    templates: &Templates,
    regimes: &BTreeMap<(String, String), crate::record::RegimeScale>,
    luts: &BTreeMap<String, Lut>,
) {
    let ctx = HashContext {
        boards: identities.clone(),
        helpers: helpers::source_hash(),
        template: templates.hash(),
    };
    // A cell's hash also covers its pins, its LUT, and (K from a profile)
    // its profile's hash: profiles are hashed first.
    let mut extra: Vec<serde_json::Value> = plans
        .iter()
        .map(|p| serde_json::json!({"pins": p}))
        .collect();
    // A regime's resolved scale is part of what a cell runs.
    for (i, c) in cells.iter().enumerate() {
        if let Some(r) = regimes.get(&(c.coord.board.clone(), c.coord.network.clone())) {
            extra[i]["regime"] = serde_json::to_value(r).unwrap_or_default();
        }
    }
    for (i, c) in cells.iter().enumerate() {
        if c.coord.strategy.uses_lut()
            && let Some(l) = luts.get(&c.coord.board)
        {
            extra[i]["lut"] = l.hash.clone().into();
        }
    }
    hash::assign(scenario, cells, &ctx, &extra);
    let index = kchoice::Profiles::new(cells);
    let profiles: Vec<Option<String>> = cells
        .iter()
        .map(|c| index.of(c).map(|p| p.hash.clone()))
        .collect();
    drop(index);
    for (i, p) in profiles.into_iter().enumerate() {
        if let Some(h) = p {
            extra[i]["profile"] = h.into();
        }
    }
    hash::assign(scenario, cells, &ctx, &extra);
}

/// Loads the LUT of every board whose cells look K up, checks where it comes
/// from, and checks that LUT-strategy cells have their profile cells. A
/// missing LUT with a `build_with` scenario is not an error here: `run`
/// builds it first.
fn check_luts(
    s: &Scenario,
    cells: &[Cell],
    identities: &BTreeMap<String, String>,
    resolved: &super::calibrate::Resolved,
    problems: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Lut> {
    let mut luts = BTreeMap::new();
    let mut seen = HashSet::new();
    let profiles = kchoice::Profiles::new(cells);
    for cell in cells.iter().filter(|c| c.coord.strategy.uses_lut()) {
        if matches!(
            cell.coord.strategy,
            crate::scenario::Strategy::Constant(_) | crate::scenario::Strategy::Static(_)
        ) && profiles.of(cell).is_none()
        {
            let path = value_path(
                s,
                Axis::Strategy,
                &AxisValue::Strategy(cell.coord.strategy.clone()),
            );
            if seen.insert(path.clone()) {
                problems.push(
                    s.diag(&path, format!("cell {} takes its profile from a `default` cell that is not in the plan", cell.id))
                        .with_hint("add `default` to the strategy axis (with the profile's load and frequencies): default cells run first and are the profiles"),
                );
            }
        }
        let board = &cell.coord.board;
        let Some(spec) = &s.lut else { continue };
        if luts.contains_key(board) || !seen.insert(format!("lut@{board}")) {
            continue;
        }
        if spec.model {
            // The timing model's, from the board's calibration: made on
            // this board by construction. Without a calibration (`plan`
            // before any run) the LUT strategies' cells have no LUT yet.
            if let (Some(c), Benchmark::Probe(p)) = (resolved.calibrations.get(board), &s.benchmark)
            {
                luts.insert(board.clone(), c.model_lut(p));
            }
            continue;
        }
        let path = spec.path(&s.file, board);
        // Anything there is read: a FIFO or a folder is refused by name,
        // not reported missing.
        if !path.exists() {
            if spec.build_with.is_none() {
                problems.push(
                    s.diag("lut.file", format!("the LUT of board `{board}`, {}, does not exist", path.display()))
                        .with_hint("build it: run the LUT scenario (scenarios/lut.yaml), then `klo-spec lut build outputs/lut -o <file>`; or give `build_with: lut.yaml`"),
                );
            }
            continue;
        }
        let lut = match Lut::read(&path) {
            Ok(l) => l,
            Err(e) => {
                problems.push(
                    s.diag("lut.file", format!("{e:#}"))
                        .with_hint("rebuild it with `klo-spec lut build`"),
                );
                continue;
            }
        };
        if spec.foreign == Foreign::Refuse
            && let Some(d) = foreign_lut(s, &lut, &path, board, identities)
        {
            problems.push(d);
            continue;
        }
        luts.insert(board.clone(), lut);
    }
    luts
}

/// Why a LUT made elsewhere is refused (`foreign: refuse`): another board,
/// other board-side helpers, another probe setting; `None` when it fits.
fn foreign_lut(
    s: &Scenario,
    lut: &Lut,
    path: &Path,
    board: &str,
    identities: &BTreeMap<String, String>,
) -> Option<Diagnostic> {
    let spec = s.lut.as_ref()?;
    let made_on = lut.get("board_identity").unwrap_or("an unknown board");
    let here = identities.get(board).map(String::as_str).unwrap_or("");
    if made_on != here {
        return Some(
                s.diag("lut.file", format!("{} was made on `{made_on}`; board `{board}` is `{here}`", path.display()))
                    .with_hint(if spec.build_with.is_some() {
                        "move it away to have `build_with` measure this board's LUT, or write `foreign: allow` under `lut:` to use it anyway"
                    } else {
                        "build a LUT on this board, or write `foreign: allow` under `lut:` to use it anyway"
                    }),
            );
    }
    let helpers = lut.get("helpers").unwrap_or("unknown");
    if helpers != helpers::source_hash() {
        return Some(
                s.diag("lut.file", format!("{} was made with other board-side helpers ({helpers}) than this klo-spec's ({})", path.display(), helpers::source_hash()))
                    .with_hint("rebuild it, or write `foreign: allow` under `lut:` to use it anyway"),
            );
    }
    // K means something else under another submission mode or
    // flush cost.
    if let (Benchmark::Probe(p), Some(made)) = (&s.benchmark, lut.get("probe")) {
        let here = crate::kstrategy::build::probe_key(p);
        if made != here {
            return Some(
                    s.diag("lut.file", format!("{} was measured with the probe at `{made}`; this scenario's probe runs at `{here}`", path.display()))
                        .with_hint("build a LUT with the same `submit` and `flush_units`, or write `foreign: allow` under `lut:` to use it anyway"),
                );
        }
    }
    None
}

/// A choice with every file a LUT strategy may hand the benchmark, to render
/// a command template before the run.
fn sample_choice(cell: &Cell) -> kchoice::Choice {
    kchoice::Choice {
        k: cell.k.max(1),
        schedule: Some(Vec::new()),
        lut_text: Some(String::new()),
        record: None,
    }
}
