//! Scenario files: read in passes. `raw` is what serde reads (unknown keys
//! rejected); `check` turns it into a [`Scenario`] whose every name,
//! range and cross-reference has been validated; errors carry file, line,
//! column and YAML path.

pub mod check;
mod check_benchmark;
mod check_knobs;
mod check_values;
pub mod raw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

pub use crate::axes::freq::{CpuFreq, FreqValue, GpuFreq};
use crate::axes::{Axis, AxisValue};
use crate::error::{Diagnostic, InputError};
use crate::yaml::source::{Pos, SourceMap};
pub use raw::{
    Benchmark, CheckKind, CommandSpec, Cores, Load, Metric, OnFailure, ProbeSpec, RetryOn, Strategy,
};

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: PathBuf,
    /// The file's text as read: copied into the outputs for provenance.
    pub text: String,
    pub source: SourceMap,
    pub name: String,
    pub description: Option<String>,
    pub boards: Vec<String>,
    pub benchmark: Benchmark,
    /// For a command benchmark: its `push` files, resolved and hashed.
    pub push: Vec<PushFile>,
    /// For a regex parser: the compiled expressions.
    pub parser: Option<LogRegexes>,
    pub networks: Vec<String>,
    pub iterations: u32,
    pub timeout_s: u32,
    pub load_settle_ms: u32,
    pub freq_settle_ms: u32,
    pub freq_tolerance_pct: f64,
    pub freq_mismatch: raw::FreqMismatch,
    pub freq_unsupported: raw::FreqUnsupported,
    pub max_cells: usize,
    /// Extra attempts for a cell that failed in a way `retry_on` names.
    pub retries: u32,
    /// The failures that are retried (all four when the file gives none).
    pub retry_on: Vec<raw::RetryOn>,
    pub on_failure: raw::OnFailure,
    /// Rounds: every cell runs once per round.
    pub rounds: u32,
    /// Seed of the order within rounds (`None`: drawn when the run starts).
    pub seed: Option<u64>,
    pub order: raw::RunOrder,
    pub noise_floor: raw::NoiseFloor,
    /// Every load by name, `none` (no load) included.
    pub loads: BTreeMap<String, Option<Load>>,
    /// The axes in multiplication order: `board`, the declared ones in file
    /// order, then the defaulted ones.
    pub axes: Vec<AxisSpec>,
    pub exclude: Vec<Pick>,
    pub include: Vec<IncludeEntry>,
    pub checks: Vec<CheckSpec>,
    pub lut: Option<LutSpec>,
    /// How much of a cell's folder may come back from its board.
    pub pull_limits: crate::untrusted::PullLimits,
    /// The thermal gate, when the scenario has one.
    pub thermal: Option<ThermalSpec>,
    /// kgsl knobs every cell sets (none given: empty).
    pub kgsl: raw::KgslKnobs,
    /// The pre-flight's settings (`preflight`; `--allow` adds to `allow`).
    pub preflight: crate::preflight::Settings,
    /// Per cluster, the deepest CPU idle state kept enabled (`cpuidle`).
    pub cpuidle: Option<BTreeMap<String, u32>>,
    /// Daemons stopped for every cell (`stop_daemons`).
    pub stop_daemons: Vec<String>,
    /// Devfreq devices pinned for every cell (`devfreq`): glob -> value.
    pub devfreq: Vec<(String, crate::axes::freq::FreqValue, globset::GlobMatcher)>,
    /// Mali knobs every cell sets (`mali`).
    pub mali: raw::MaliKnobs,
    /// The named knob sets the `knobs` axis picks from (`knob_sets`), each
    /// as written (applied over the scenario's own by [`Scenario::knobs_for`]).
    pub knob_sets: BTreeMap<String, Knobs>,
    /// The sampler inside each cell (`None`: `sampler: off`).
    pub sampler: Option<SamplerSpec>,
}

/// Board knobs after validation: the scenario's own, a knob set's, or
/// what a cell of a set sets (the two merged).
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    pub kgsl: raw::KgslKnobs,
    /// Per cluster, the deepest CPU idle state kept enabled.
    pub cpuidle: Option<BTreeMap<String, u32>>,
    /// Devfreq devices pinned: glob -> value.
    pub devfreq: Vec<(String, crate::axes::freq::FreqValue, globset::GlobMatcher)>,
    pub mali: raw::MaliKnobs,
}

impl Scenario {
    /// The knobs a cell of knob set `set` sets: the scenario's own, with
    /// the set's given ones in place of the same key (a kgsl file, an idle
    /// cluster, a devfreq glob, the Mali policy). `stock`, or a name not
    /// defined, is the scenario's own.
    pub fn knobs_for(&self, set: &str) -> Knobs {
        let mut k = Knobs {
            kgsl: self.kgsl,
            cpuidle: self.cpuidle.clone(),
            devfreq: self.devfreq.clone(),
            mali: self.mali.clone(),
        };
        let Some(s) = self.knob_sets.get(set) else {
            return k;
        };
        k.kgsl = raw::KgslKnobs {
            force_clk_on: s.kgsl.force_clk_on.or(k.kgsl.force_clk_on),
            idle_timer: s.kgsl.idle_timer.or(k.kgsl.idle_timer),
            bus_split: s.kgsl.bus_split.or(k.kgsl.bus_split),
        };
        if let Some(idle) = &s.cpuidle {
            k.cpuidle
                .get_or_insert_with(BTreeMap::new)
                .extend(idle.iter().map(|(c, n)| (c.clone(), *n)));
        }
        k.devfreq
            .retain(|(glob, _, _)| !s.devfreq.iter().any(|(g, _, _)| g == glob));
        k.devfreq.extend(s.devfreq.iter().cloned());
        if s.mali.power_policy.is_some() {
            k.mali = s.mali.clone();
        }
        k
    }

    /// Where the scenario file gives knob `key.sub` (`devfreq.*ddr*`,
    /// `cpuidle.big`, `kgsl.idle_timer`, `mali.power_policy`) for a cell of
    /// knob set `set`: in the set when it gives it, else at the top.
    pub fn knob_path(&self, set: &str, key: &str, sub: &str) -> String {
        let in_set = self.knob_sets.get(set).is_some_and(|s| match key {
            "devfreq" => s.devfreq.iter().any(|(g, _, _)| g == sub),
            "cpuidle" => s.cpuidle.as_ref().is_some_and(|m| m.contains_key(sub)),
            "kgsl" => s.kgsl.given().iter().any(|(n, _)| *n == sub),
            "mali" => s.mali.power_policy.is_some(),
            _ => false,
        });
        if in_set {
            format!("knob_sets.{set}.{key}.{sub}")
        } else {
            format!("{key}.{sub}")
        }
    }
}

/// The `sampler` section after validation.
#[derive(Debug, Clone)]
pub struct SamplerSpec {
    pub rate_hz: f64,
    /// The thermal zones sampled, as written and compiled (`None`: all).
    pub zones: Option<(String, globset::GlobMatcher)>,
}

impl SamplerSpec {
    /// The sampler of a scenario that does not say.
    pub fn default_on() -> SamplerSpec {
        SamplerSpec {
            rate_hz: raw::DEFAULT_SAMPLER_RATE_HZ,
            zones: None,
        }
    }

    /// Whether it samples a zone of this type.
    pub fn samples_zone(&self, kind: &str) -> bool {
        self.zones.as_ref().is_none_or(|(_, m)| m.is_match(kind))
    }
}

/// The `thermal` section after validation.
#[derive(Debug, Clone)]
pub struct ThermalSpec {
    /// The glob as written, and compiled.
    pub zones: String,
    pub matcher: globset::GlobMatcher,
    pub limit: ThermalLimit,
    pub poll_s: f64,
    pub timeout_s: f64,
    pub on_timeout: raw::ThermalTimeout,
    pub redo_throttled: u32,
}

/// How cool a zone must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThermalLimit {
    /// Below this many degrees Celsius.
    Below(f64),
    /// Within this many degrees of the zone's temperature at the run's
    /// first cell on the board.
    Within(f64),
}

/// The `lut` section after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct LutSpec {
    /// The file, `{board}` not yet replaced, relative to the scenario
    /// (empty with `model`).
    pub file: String,
    /// The LUT is the timing model's, from each board's calibration.
    pub model: bool,
    pub foreign: raw::Foreign,
    pub build_with: Option<PathBuf>,
}

impl LutSpec {
    /// The LUT file of a board.
    pub fn path(&self, scenario_file: &Path, board: &str) -> PathBuf {
        scenario_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(self.file.replace("{board}", board))
    }
}

/// One axis and its values.
#[derive(Debug, Clone)]
pub struct AxisSpec {
    pub axis: Axis,
    pub values: Vec<AxisValue>,
    /// Written in the file's `matrix` (or `boards`, always "declared"): only
    /// declared axes count as the original matrix for `include`.
    pub declared: bool,
}

/// A selector after validation: axis values that must match, and (checks
/// only) a K.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pick {
    pub pairs: Vec<(Axis, AxisValue)>,
    pub k: Option<u32>,
    /// YAML path of the selector, to locate errors found later.
    pub path: String,
}

/// An `include` entry after validation.
#[derive(Debug, Clone)]
pub struct IncludeEntry {
    pub pick: Pick,
    pub iterations: Option<u32>,
    pub timeout_s: Option<u32>,
}

/// A check after validation.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub id: String,
    pub title: String,
    pub metric: Metric,
    pub kind: CheckKind,
    pub a: Pick,
    pub b: Pick,
    pub tolerance: f64,
    pub alpha: f64,
    pub path: String,
}

/// A file pushed with a command benchmark.
#[derive(Debug, Clone)]
pub struct PushFile {
    pub source: PathBuf,
    /// File name on the board (inside the cell's push folder).
    pub name: String,
    pub sha256: String,
    /// Permission bits of the copy: the source's, never wider (`& 0o755`).
    pub mode: u32,
}

/// The compiled expressions of a regex log parser.
#[derive(Debug, Clone)]
pub struct LogRegexes {
    pub kernel: Option<Regex>,
    pub inference: Regex,
    pub end: Regex,
}

impl Scenario {
    /// The same scenario on other boards (a LUT measured for the boards of
    /// the scenario that needs it).
    pub fn on_boards(mut self, boards: Vec<String>) -> Scenario {
        for spec in &mut self.axes {
            if spec.axis == Axis::Board {
                spec.values = boards.iter().cloned().map(AxisValue::Name).collect();
            }
        }
        self.boards = boards;
        self
    }

    /// A diagnostic located at `path` in this scenario's file.
    pub fn diag(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.file, self.source.locate(path), path, message)
    }

    /// The resolved load of a load name.
    pub fn load(&self, name: &str) -> Option<&Load> {
        self.loads.get(name).and_then(|l| l.as_ref())
    }
}

/// Reads and validates a scenario file: a regular file (a FIFO, a device
/// or a folder is refused, not read) of at most 4 MiB of UTF-8 text.
pub fn load(path: &Path) -> Result<Scenario, InputError> {
    let text =
        crate::untrusted::read_input_text(path, crate::untrusted::YAML_MAX).map_err(|e| {
            InputError::one(
                Diagnostic::new(
                    path,
                    Pos::START,
                    "",
                    format!("cannot read the scenario: {e}"),
                )
                .with_hint(crate::untrusted::input_hint(
                    &e,
                    "a scenario",
                    "check the path; scenarios live in scenarios/, e.g. scenarios/quickstart.yaml",
                )),
            )
        })?;
    parse(path, &text)
}

/// Validates a scenario given as text (`path` names it in messages and
/// anchors relative `push` paths).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, InputError> {
    let (raw, source) = crate::yaml::read::<raw::RawScenario>(
        path,
        text,
        "scenario",
        "start from scenarios/quickstart.yaml; a scenario needs at least `name` and `networks`",
    )?;
    check::check(path, text, source, raw)
}
