//! The scenario file as serde reads it: one type per YAML construct, unknown
//! keys rejected. These types also generate `schema.json` (schemars), so
//! their doc comments are what editors show. Ranges and cross-references are
//! checked afterwards, in `check.rs`, with the file's positions at hand.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;

pub use crate::axes::freq::{CpuFreq, FreqValue, GpuFreq};
pub use crate::axes::strategy::{FromProfile, ProfileKind, SearchSpec, Strategy, Sweep};
pub use crate::networks::{MAX_RATIO, MIN_RATIO, Regime, RegimeName};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A klo-spec scenario: what to run, on which boards, and what to check.
///
/// The cells of the experiment are the cartesian product of `boards` and the
/// `matrix` axes, minus `exclude`, plus `include`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "klo-spec scenario")]
pub struct RawScenario {
    /// Names the output folder `outputs/<name>/`. Letters, digits, `_`, `.`
    /// and `-`; starts with a letter or digit.
    pub name: String,
    /// Free text, shown in reports.
    #[serde(default)]
    pub description: Option<String>,
    /// Boards to run on. `local` is built in (this machine).
    #[serde(default = "default_boards")]
    pub boards: Vec<String>,
    /// What runs in each cell. Defaults to `{probe: {}}`, the reference
    /// workload.
    #[serde(default)]
    pub benchmark: Option<Benchmark>,
    /// Networks the benchmark runs. For `probe`: built-in profiles
    /// (`mobilenet_v1`, `squeezenet`, `resnet18`, `tiny`). For a command
    /// benchmark: any names, passed to its template as `network`.
    pub networks: Vec<String>,
    /// Inferences per cell. The first one is a warm-up and is excluded from
    /// every statistic, so at least 2.
    #[serde(default = "default_iterations")]
    #[schemars(range(min = 2, max = 100000))]
    pub iterations: u32,
    /// Seconds a cell's benchmark may run before it is killed (with its loads).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_s: u32,
    /// Milliseconds between starting the loads and starting the benchmark.
    #[serde(default = "default_settle")]
    #[schemars(range(max = 600000))]
    pub load_settle_ms: u32,
    /// Named CPU loads. `null` is no load; `none` is built in and means no load.
    #[serde(default)]
    pub loads: BTreeMap<String, Option<Load>>,
    /// The axes. They multiply in the order they are written here (after
    /// `boards`); axes left out take their default (`load: [none]`,
    /// `cpu_freq: [current]`, `gpu_freq: [current]`, `network`: all of
    /// `networks`, `strategy: [default]`).
    #[serde(default)]
    pub matrix: Matrix,
    /// Combinations to drop: an entry drops every combination whose values
    /// match all the keys it gives. Applied before `include`.
    #[serde(default)]
    pub exclude: Vec<Selector>,
    /// Combinations to extend or add, with GitHub Actions semantics: an entry
    /// whose matrix-axis values match existing combinations extends them
    /// (other keys are set on them); one that matches none is added as a new
    /// combination.
    #[serde(default)]
    pub include: Vec<Include>,
    /// The LUT that `constant`, `static` and `dynamic` strategies look K up
    /// in. Required when the strategy axis has one of them.
    #[serde(default)]
    pub lut: Option<LutConfig>,
    /// Questions the results answer, evaluated with a statistical test per
    /// group of cells.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Milliseconds between pinning frequencies and reading them back.
    #[serde(default = "default_freq_settle")]
    #[schemars(range(max = 60000))]
    pub freq_settle_ms: u32,
    /// How far (percent) a frequency read back before or after the
    /// benchmark may be from the one pinned.
    #[serde(default = "default_freq_tolerance")]
    #[schemars(range(min = 0.0, max = 50.0))]
    pub freq_tolerance_pct: f64,
    /// What a frequency outside the tolerance does to the cell: `fail` (its
    /// status is `freq_mismatch`, kept out of checks) or `warn` (noted).
    #[serde(default)]
    pub freq_mismatch: FreqMismatch,
    /// What a frequency setting a board has no means to apply (no cpufreq
    /// in a VM or container, no GPU frequency control, not root) does:
    /// `refuse` the scenario before anything runs (default), or
    /// `leave_current`: run those cells at the current setting, say so, and
    /// mark them (`cpu_khz`/`gpu_khz` "not set"; checks across frequencies
    /// INCONCLUSIVE).
    #[serde(default)]
    pub freq_unsupported: FreqUnsupported,
    /// Refuse to expand into more cells than this (a guard against typos
    /// that multiply an axis).
    #[serde(default = "default_max_cells")]
    #[schemars(range(min = 1))]
    pub max_cells: usize,
    /// How many more times a cell is run when an attempt fails in a way
    /// `retry_on` names (default 0: never). Failed attempts are kept in
    /// `cells/<id>/attempts/<n>/`. A board's own connection retries
    /// (`retries` in the board inventory) happen inside each attempt.
    #[serde(default)]
    #[schemars(range(max = 10))]
    pub retries: u32,
    /// Which failures `retries` retries: `lost` (the board stayed
    /// unreachable after its connection retries), `timeout` (the benchmark
    /// outlived `timeout_s`), `crash` (the benchmark exited with an error or
    /// was killed by a signal), `incomplete` (a truncated or malformed log).
    /// Default: all four. Setup failures, dying loads and frequency
    /// mismatches are never retried: they say something about the board.
    #[serde(default)]
    pub retry_on: Option<Vec<RetryOn>>,
    /// What a cell that fails (not `ok` after its retries) does to the run:
    /// `keep_going` (default) runs the other cells; `bail` starts no further
    /// cell on any board, writes the tables and exits 1.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// How many times every cell runs: one process run per round, all the
    /// cells of a board in each round, in an order drawn at random per
    /// round (see `seed`). Checks test per-round figures, so a check needs
    /// at least 2 rounds to decide anything; `--rounds` overrides it.
    /// Raising it later runs only the new rounds.
    #[serde(default = "default_rounds")]
    #[schemars(range(min = 1, max = 1000))]
    pub rounds: u32,
    /// Seed of the random order of the cells within each round (recorded
    /// in `meta.json`; give the same seed, or `--seed`, to replay an
    /// order). Default: a new seed for every run.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The order of the cells within a round: `random` (default; drawn
    /// per round from `seed`) or `plan` (the order `plan` lists them in,
    /// the same every round: time, warm-up and drift then line up with the
    /// matrix's axes, so use it to debug a scenario, not to measure).
    #[serde(default)]
    pub order: RunOrder,
    /// The A/A check that heads the checklist: `auto` (default) compares
    /// the cells of a condition that run with identical settings under two
    /// names (`default` and `{fixed: 1}` or `sweep-k1`, `{fixed: 4}` and
    /// `sweep-k4`), to show the environment's noise floor; `off` leaves it
    /// out.
    #[serde(default)]
    pub noise_floor: NoiseFloor,
    /// How much of a cell's folder may come back from its board (the
    /// benchmark decides what it holds). A file over `file_mib`, or a
    /// folder over `cell_mib` or with more than `files` entries, makes the
    /// cell `too_large`; nothing past a limit is written.
    #[serde(default)]
    pub pull_limits: PullLimitsConfig,
    /// A thermal gate: before each cell, wait until the board's thermal
    /// zones are cool enough; record the wait and the temperatures at the
    /// start and end of the benchmark; mark a cell that got too hot, or
    /// during which a pinned frequency moved, `throttled`.
    #[serde(default)]
    pub thermal: Option<ThermalConfig>,
    /// Adreno (kgsl) knobs set for every cell, saved first, read back at
    /// once and before and after the benchmark, and put back: each given
    /// one needs a kgsl GPU with that file on every board of the scenario.
    /// Left out, a GPU pin sets `force_clk_on: 1` and `idle_timer: 10000`
    /// where the board has them (as androidx's lockClocks does).
    #[serde(default)]
    pub kgsl: Option<KgslKnobs>,
    /// Pre-flight checks, before the run's first cell on each board:
    /// battery, screen, build type, governors, vendor daemons, idle states,
    /// SELinux, free space. A failing check stops the run before anything
    /// is written unless `allow` names it (or `--allow NAME`); every
    /// outcome is recorded in meta.json.
    #[serde(default)]
    pub preflight: PreflightConfig,
    /// CPU idle states per cluster: the deepest state kept enabled, by
    /// index (`{all: 0}` keeps only each core's shallowest state, usually
    /// WFI; `{big: 1, little: 2}`). The deeper states are disabled for every
    /// cell (their `disable` files), read back before and after the
    /// benchmark, and put back, like a frequency. Clusters: `all`,
    /// `little`, `mid`, `big`, `prime`, `policyN`.
    #[serde(default)]
    pub cpuidle: Option<BTreeMap<String, u32>>,
    /// Daemons stopped for every cell and started again after it, by name
    /// (the service's name, which is also its process's: `thermal-engine`,
    /// `perfd`, `thermald`): Android's `stop`/`start` where the board has
    /// them, else `systemctl`. Only those found running are stopped and
    /// started again. The pre-flight's `daemons` check does not fail on
    /// them.
    #[serde(default)]
    pub stop_daemons: Vec<String>,
    /// Devfreq devices other than the GPU (a memory bus, DDR), pinned for
    /// every cell: a glob on their names (`class/devfreq/<name>`; `klo-spec
    /// board probe` lists them) to `min`, `max`, a value of their
    /// `available_frequencies` (in the device's unit) or a percentage.
    /// Each device's `min_freq` and `max_freq` are set to it, read back
    /// before and after the benchmark, and put back.
    #[serde(default)]
    pub devfreq: Option<crate::axes::freq::DevfreqSetting>,
    /// Mali knobs set for every cell, read back and put back: each given
    /// one needs a Mali GPU with that file on every board of the scenario.
    #[serde(default)]
    pub mali: Option<MaliKnobs>,
    /// A sampler inside each cell: while the benchmark runs, a background
    /// loop on the board reads the CPU policies' and the GPU's current
    /// frequencies, the GPU's busy figure and the thermal zones'
    /// temperatures `rate_hz` times a second into `samples.csv` beside the
    /// benchmark's log. Default `{rate_hz: 10}`; `off` disables it. It
    /// says how to run, not what is measured: not part of a cell's hash.
    #[serde(default)]
    pub sampler: Sampler,
    /// Named sets of board knobs, for the `knobs` axis of `matrix`: each
    /// may give `cpuidle`, `devfreq`, `kgsl` and `mali` like the top-level
    /// keys, and a cell of that set takes them over the scenario's own
    /// (key by key: a set's `devfreq` glob, idle cluster, kgsl file or
    /// Mali policy replaces the scenario's for that key, the others stay).
    /// `stock`, the axis's default, is the scenario's own settings.
    #[serde(default)]
    pub knob_sets: BTreeMap<String, KnobSet>,
}

/// One entry of `knob_sets`: knobs a cell of this set sets on top of the
/// scenario's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KnobSet {
    /// Per cluster, the deepest CPU idle state kept enabled (as `cpuidle`).
    #[serde(default)]
    pub cpuidle: Option<BTreeMap<String, u32>>,
    /// Devfreq devices pinned (as `devfreq`).
    #[serde(default)]
    pub devfreq: Option<crate::axes::freq::DevfreqSetting>,
    /// kgsl knobs (as `kgsl`).
    #[serde(default)]
    pub kgsl: Option<KgslKnobs>,
    /// Mali knobs (as `mali`).
    #[serde(default)]
    pub mali: Option<MaliKnobs>,
}

/// `mali`: `class/misc/mali0/device/power_policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaliKnobs {
    /// The GPU's power policy for the cell: one of those its
    /// `power_policy` file lists (`always_on` keeps the GPU powered between
    /// jobs, `coarse_demand` powers it up and down with the work).
    #[serde(default)]
    pub power_policy: Option<String>,
}

/// `preflight`: which failing checks are accepted, and the thresholds.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreflightConfig {
    /// Checks whose failure is recorded but does not stop the run:
    /// `battery`, `screen`, `build`, `governors`, `daemons`,
    /// `idle_states`, `selinux`, `free_space`.
    #[serde(default)]
    pub allow: Vec<String>,
    /// The lowest battery level (percent) at which a board that is not
    /// charging may run (default 30).
    #[serde(default = "default_battery_min_pct")]
    #[schemars(range(max = 100))]
    pub battery_min_pct: u32,
    /// The least free space, in MiB, in the board's work folder (default
    /// 256).
    #[serde(default = "default_free_mib")]
    #[schemars(range(max = 1048576))]
    pub free_mib: u64,
    /// The processes the `daemons` check looks for, by name (default:
    /// thermal-engine, perfd, mpdecision, thermald, tuned,
    /// power-profiles-daemon, auto-cpufreq). Names are matched on their
    /// first 15 characters, as the kernel keeps them.
    #[serde(default)]
    pub daemons: Option<Vec<String>>,
}

impl Default for PreflightConfig {
    fn default() -> Self {
        PreflightConfig {
            allow: Vec::new(),
            battery_min_pct: default_battery_min_pct(),
            free_mib: default_free_mib(),
            daemons: None,
        }
    }
}

/// `sampler`: `off`, or how often and which thermal zones.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    /// No sampler.
    Off,
    On(SamplerConfig),
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::On(SamplerConfig::default())
    }
}

/// `sampler: {rate_hz, zones}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SamplerConfig {
    /// Samples per second (default 10; 0.1 to 50). Each sample costs the
    /// board one `sleep` process and a few file reads by shell builtins.
    #[serde(default = "default_sampler_rate")]
    #[schemars(range(min = 0.1, max = 50.0))]
    pub rate_hz: f64,
    /// A glob on the thermal zones' `type` (`cpu*`, `gpu*`): the zones
    /// sampled. Default: every zone the board has. Given, every board of
    /// the scenario must have a matching zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<String>,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            rate_hz: default_sampler_rate(),
            zones: None,
        }
    }
}

fn default_battery_min_pct() -> u32 {
    crate::preflight::DEFAULT_BATTERY_MIN_PCT
}
fn default_free_mib() -> u64 {
    crate::preflight::DEFAULT_FREE_MIB
}

/// The sampler's rate when a scenario does not say: fast enough to follow
/// a governor's or a thermal zone's steps (both move on a 10-100 ms scale
/// on phones), slow enough that its one `sleep` per sample stays a small
/// fraction of one core.
pub const DEFAULT_SAMPLER_RATE_HZ: f64 = 10.0;

fn default_sampler_rate() -> f64 {
    DEFAULT_SAMPLER_RATE_HZ
}

/// As written: `off`, or the mapping.
impl Serialize for Sampler {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Sampler::Off => s.serialize_str("off"),
            Sampler::On(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Sampler {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Sampler;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`off`, `on` or a mapping such as {rate_hz: 10}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Sampler, E> {
                match v {
                    "off" => Ok(Sampler::Off),
                    "on" => Ok(Sampler::default()),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Sampler, E> {
                Err(E::invalid_value(de::Unexpected::Bool(v), &self))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Sampler, A::Error> {
                SamplerConfig::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Sampler::On)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Sampler {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Sampler".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let config = g.subschema_for::<SamplerConfig>();
        schemars::json_schema!({
            "description": "`off`, `on` (the defaults) or `{rate_hz, zones}`.",
            "oneOf": [
                {"enum": ["off", "on"]},
                config
            ]
        })
    }
}

/// `kgsl`: `class/kgsl/kgsl-3d0/{force_clk_on,idle_timer,bus_split}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KgslKnobs {
    /// 1 keeps the GPU clocks on while idle, 0 lets them gate.
    #[serde(default)]
    #[schemars(range(max = 1))]
    pub force_clk_on: Option<u32>,
    /// Milliseconds of idleness before the GPU powers down.
    #[serde(default)]
    #[schemars(range(max = 3600000))]
    pub idle_timer: Option<u32>,
    /// 1 lets the bus vote follow the GPU's load apart from its clock, 0
    /// ties it to the clock.
    #[serde(default)]
    #[schemars(range(max = 1))]
    pub bus_split: Option<u32>,
}

impl KgslKnobs {
    /// The knobs given, by file name, in a fixed order.
    pub fn given(&self) -> Vec<(&'static str, u32)> {
        [
            ("force_clk_on", self.force_clk_on),
            ("idle_timer", self.idle_timer),
            ("bus_split", self.bus_split),
        ]
        .into_iter()
        .filter_map(|(n, v)| Some((n, v?)))
        .collect()
    }
}

/// `thermal`: which zones, how cool, how long to wait.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThermalConfig {
    /// A glob on the zones' `type` (`cpu*`, `gpu*`, `*`): every board of the
    /// scenario must have at least one matching zone (`klo-spec board probe`
    /// lists them).
    pub zones: String,
    /// The limit: every matching zone below this many degrees Celsius.
    #[serde(default)]
    pub below_c: Option<f64>,
    /// Or: every matching zone within this many degrees Celsius of its
    /// temperature when the run's first cell on the board started.
    #[serde(default)]
    pub within_c: Option<f64>,
    /// Seconds between readings while waiting (default 1).
    #[serde(default = "default_poll_s")]
    #[schemars(range(min = 0.05, max = 600.0))]
    pub poll_s: f64,
    /// Most seconds to wait before a cell (default 300).
    #[serde(default = "default_thermal_timeout")]
    #[schemars(range(min = 0.0, max = 86400.0))]
    pub timeout_s: f64,
    /// What a board still too hot after `timeout_s` does to the cell:
    /// `too_hot` (default; the cell is not run, its status says so) or
    /// `run_flagged` (it runs, and its record says it started too hot).
    #[serde(default)]
    pub on_timeout: ThermalTimeout,
    /// How many more times a `throttled` cell is run (after the gate's
    /// cool-down); default 0. Each throttled attempt is kept in
    /// `cells/<id>/attempts/<n>/`.
    #[serde(default)]
    #[schemars(range(max = 10))]
    pub redo_throttled: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThermalTimeout {
    /// Not run: status `too_hot`.
    #[default]
    TooHot,
    /// Run anyway, flagged.
    RunFlagged,
}

fn default_poll_s() -> f64 {
    1.0
}
fn default_thermal_timeout() -> f64 {
    300.0
}

/// `pull_limits`: per file, per cell, and in files.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullLimitsConfig {
    /// Most MiB of one file (default 256).
    #[serde(default = "default_file_mib")]
    #[schemars(range(min = 1, max = 65536))]
    pub file_mib: u32,
    /// Most MiB of all the files of a cell (default 1024).
    #[serde(default = "default_cell_mib")]
    #[schemars(range(min = 1, max = 1048576))]
    pub cell_mib: u32,
    /// Most files and folders in a cell (default 10000).
    #[serde(default = "default_pull_files")]
    #[schemars(range(min = 1, max = 1000000))]
    pub files: u32,
}

impl Default for PullLimitsConfig {
    fn default() -> Self {
        PullLimitsConfig {
            file_mib: default_file_mib(),
            cell_mib: default_cell_mib(),
            files: default_pull_files(),
        }
    }
}

fn default_file_mib() -> u32 {
    crate::untrusted::DEFAULT_FILE_MIB
}
fn default_cell_mib() -> u32 {
    crate::untrusted::DEFAULT_CELL_MIB
}
fn default_pull_files() -> u32 {
    crate::untrusted::DEFAULT_FILES
}

/// The order of the cells within a round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOrder {
    /// A random order per round, from `seed`.
    #[default]
    Random,
    /// Plan order in every round.
    Plan,
}

/// Whether the checklist starts with an A/A check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoiseFloor {
    /// Every pair of cells with identical settings under two names.
    #[default]
    Auto,
    /// No A/A check.
    Off,
}

/// Rounds when a scenario does not say: see `docs/statistics.md` for why.
pub const DEFAULT_ROUNDS: u32 = 5;

fn default_rounds() -> u32 {
    DEFAULT_ROUNDS
}

/// A kind of failure `retry_on` retries.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// The board could not be reached, or its connection dropped, after the
    /// board's own connection retries.
    Lost,
    /// The benchmark outlived `timeout_s` and was killed (with its loads).
    Timeout,
    /// The benchmark exited with a non-zero status or was killed by a signal.
    Crash,
    /// The log is truncated or malformed.
    Incomplete,
}

impl RetryOn {
    pub const ALL: [RetryOn; 4] = [
        RetryOn::Lost,
        RetryOn::Timeout,
        RetryOn::Crash,
        RetryOn::Incomplete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RetryOn::Lost => "lost",
            RetryOn::Timeout => "timeout",
            RetryOn::Crash => "crash",
            RetryOn::Incomplete => "incomplete",
        }
    }
}

/// What a failed cell does to the rest of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Run the other cells.
    #[default]
    KeepGoing,
    /// Start no further cell on any board.
    Bail,
}

/// Where the LUT comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LutConfig {
    /// The LUT file, relative to the scenario file; `{board}` is replaced by
    /// the cell's board (one LUT per board: e.g. `../luts/{board}.csv`).
    #[serde(default)]
    pub file: String,
    /// `true`: no file; each board's LUT is worked out from its calibration
    /// (`klo-spec calibrate`) with the timing model (deferred submission:
    /// a flush costs the host its measured time, a batch starts after it)
    /// over a grid of T_prod and T_ker, instead of measured K sweeps. Quick,
    /// and exact for the model; a measured LUT (`file`) is the reference.
    #[serde(default)]
    pub model: bool,
    /// A LUT made on another board, or with other board-side helpers, is
    /// `refuse`d (default) or `allow`ed.
    #[serde(default)]
    pub foreign: Foreign,
    /// A scenario (relative to this file) that measures the LUT: when the
    /// file is missing, `run` runs it first and builds the LUT from its
    /// results (`klo-spec lut build`).
    #[serde(default)]
    pub build_with: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Foreign {
    #[default]
    Refuse,
    Allow,
}

pub const DEFAULT_ITERATIONS: u32 = 11;
pub const DEFAULT_TIMEOUT_S: u32 = 600;
pub const DEFAULT_SETTLE_MS: u32 = 500;
pub const DEFAULT_MAX_CELLS: usize = 10_000;

fn default_boards() -> Vec<String> {
    vec!["local".to_string()]
}
fn default_iterations() -> u32 {
    DEFAULT_ITERATIONS
}
fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_S
}
fn default_settle() -> u32 {
    DEFAULT_SETTLE_MS
}
fn default_freq_settle() -> u32 {
    200
}
fn default_freq_tolerance() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FreqMismatch {
    #[default]
    Fail,
    Warn,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FreqUnsupported {
    #[default]
    Refuse,
    LeaveCurrent,
}

fn default_max_cells() -> usize {
    DEFAULT_MAX_CELLS
}

/// The benchmark of every cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Benchmark {
    /// The reference KLO workload, `klo-probe`, built by klo-spec.
    Probe(ProbeSpec),
    /// Your own benchmark: a command template, files to push, a log parser.
    Command(CommandSpec),
}

/// Settings of the reference workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// `native`: the driver submits as it likes (desktop runtimes submit on
    /// enqueue, so K barely matters). `deferred`: kernels are held until the
    /// flush, as mobile drivers do.
    #[serde(default)]
    pub submit: Submit,
    /// `auto` uses an OpenCL GPU (or accelerator) when there is one, else a
    /// CPU thread playing the GPU (the thread device); `opencl` and `thread`
    /// force one. A CPU OpenCL device (pocl) runs its kernels on the host's
    /// own cores, so host and device never overlap: `auto` passes it over,
    /// `opencl` takes it.
    #[serde(default)]
    pub device: Device,
    /// Multiplies every kernel's device work.
    #[serde(default = "one")]
    #[schemars(range(min = 0.0001, max = 10000.0))]
    pub ker_scale: f64,
    /// Multiplies every kernel's host-side work (T_prod).
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = 10000.0))]
    pub prod_scale: f64,
    /// Host work per flush (the driver's flush cost), in work units.
    #[serde(default = "default_flush_units")]
    pub flush_units: u64,
    /// Submission latency of the thread device, in µs: a batch may start
    /// this long after its flush (the timing model's L). OpenCL devices
    /// have their own.
    #[serde(default = "default_submit_us")]
    #[schemars(range(max = 1000000))]
    pub submit_us: u64,
    /// OpenCL global work size of each kernel.
    #[serde(default = "default_global")]
    #[schemars(range(min = 1, max = 16777216))]
    pub global_size: u32,
    /// OpenCL platform index; by default the first platform with a GPU.
    #[serde(default)]
    pub platform: Option<u32>,
    /// Sizes every network's device work for a regime on each board, from
    /// the board's calibration (`klo-spec calibrate`, run first when there
    /// is none): `cpu_bound` (T_ker a third of T_prod plus the flush cost),
    /// `balanced` (equal), `gpu_bound` (three times), or a number, the ratio
    /// T_ker / (T_prod + flush cost). `ker_scale` is then worked out per
    /// board and network (cell.json and meta.json show it). A network
    /// written `NAME.REGIME` (`mobilenet_v1.gpu_bound`, `squeezenet.x0.5`)
    /// takes its own regime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regime: Option<Regime>,
}

fn one() -> f64 {
    1.0
}
fn default_flush_units() -> u64 {
    12_000
}
fn default_submit_us() -> u64 {
    100
}
fn default_global() -> u32 {
    64
}

impl Default for ProbeSpec {
    fn default() -> Self {
        ProbeSpec {
            submit: Submit::default(),
            device: Device::default(),
            ker_scale: 1.0,
            prod_scale: 1.0,
            flush_units: default_flush_units(),
            submit_us: default_submit_us(),
            global_size: default_global(),
            platform: None,
            regime: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Submit {
    #[default]
    Native,
    Deferred,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    #[default]
    Auto,
    Opencl,
    Thread,
}

/// A benchmark of your own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// Command line, a minijinja template. Every `{{ value }}` is
    /// shell-quoted. Variables: `network`, `k`, `iterations`, `strategy`,
    /// `load`, `cell_id`, `board`, `push_dir` (where `push` files are).
    pub run: String,
    /// Files to copy next to the benchmark, relative to the scenario file.
    #[serde(default)]
    pub push: Vec<String>,
    /// How to read the benchmark's output. Default: the KLO v1 log contract.
    #[serde(default)]
    pub parser: Parser,
}

/// A log parser.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Parser {
    /// The KLO v1 log contract (see docs/architecture.md).
    #[default]
    Klo,
    /// Regular expressions with named groups mapping to the contract's fields.
    Regex(RegexParser),
}

/// Regular expressions (Rust `regex` syntax) applied to each output line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegexParser {
    /// A kernel record. Groups: `iter`, `kernel`, `t_prod_us`, `t_ker_us`
    /// (required); `t_idle_us`, `name`, `flush`, `k` (optional).
    #[serde(default)]
    pub kernel: Option<String>,
    /// An inference record. Groups: `iter`, `latency_us` (required);
    /// `flushes`, `k_mean` (optional).
    pub inference: String,
    /// A line that marks a complete log; a log without one is incomplete.
    pub end: String,
}

/// A CPU load: `procs_per_core` copies of `klo-load T_sleep_us inner_iter
/// log_iter` pinned to each selected core.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Load processes per selected core.
    #[schemars(range(min = 1, max = 64))]
    pub procs_per_core: u32,
    /// Sleep after each burst of work, in microseconds.
    #[schemars(range(max = 10000000))]
    pub t_sleep_us: u64,
    /// rand() additions per burst.
    #[schemars(range(min = 1, max = 1000000000))]
    pub inner_iter: u64,
    /// The load runs 2^log_iter bursts, then exits: make it outlast the cell.
    #[schemars(range(max = 40))]
    pub log_iter: u32,
    /// `all` online cores, or a list of core numbers.
    #[serde(default)]
    pub cores: Cores,
}

/// Which cores a load runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Cores {
    #[default]
    All,
    List(Vec<u32>),
}

impl<'de> Deserialize<'de> for Cores {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cores;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`all` or a list of core numbers such as [0, 1, 4]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cores, E> {
                if v == "all" {
                    Ok(Cores::All)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cores, A::Error> {
                let mut cores = Vec::new();
                while let Some(c) = seq.next_element::<u32>()? {
                    cores.push(c);
                }
                Ok(Cores::List(cores))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Cores {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cores".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`all` online cores, or a list of core numbers.",
            "oneOf": [
                {"const": "all"},
                {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1}
            ]
        })
    }
}

/// The matrix axes. Each is a list of values.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Load names from `loads` (or `none`).
    pub load: Option<Vec<String>>,
    /// CPU frequency settings.
    pub cpu_freq: Option<Vec<CpuFreq>>,
    /// GPU frequency settings.
    pub gpu_freq: Option<Vec<GpuFreq>>,
    /// Network names from `networks`.
    pub network: Option<Vec<String>>,
    /// K strategies.
    pub strategy: Option<Vec<Strategy>>,
    /// Knob set names from `knob_sets` (or `stock`: the scenario's own
    /// knobs).
    pub knobs: Option<Vec<String>>,
}

/// Picks combinations: each key given must equal the combination's value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    pub board: Option<String>,
    pub load: Option<String>,
    pub cpu_freq: Option<CpuFreq>,
    pub gpu_freq: Option<GpuFreq>,
    pub network: Option<String>,
    pub strategy: Option<Strategy>,
    pub knobs: Option<String>,
    /// Only in checks: the K of a cell (picks one K of a sweep).
    pub k: Option<u32>,
}

/// An `include` entry: axis values, plus settings for the cells it matches
/// or creates.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Include {
    pub board: Option<String>,
    pub load: Option<String>,
    pub cpu_freq: Option<CpuFreq>,
    pub gpu_freq: Option<GpuFreq>,
    pub network: Option<String>,
    pub strategy: Option<Strategy>,
    pub knobs: Option<String>,
    /// Inferences for these cells (overrides the scenario's).
    #[schemars(range(min = 2, max = 100000))]
    pub iterations: Option<u32>,
    /// Benchmark timeout for these cells, in seconds.
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_s: Option<u32>,
}

/// A question the results answer: compares the cells picked by `a` and `b`
/// in every group of cells that agree on the axes neither names.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Short id, such as `C1`.
    pub id: String,
    /// The question, in words.
    pub title: String,
    /// What is compared, per inference.
    pub metric: Metric,
    /// `differ`: a and b differ; `lower`: a is lower than b; `higher`: a is
    /// higher than b; `similar`: a and b agree within `tolerance`.
    pub kind: CheckKind,
    pub a: Selector,
    pub b: Selector,
    /// Relative difference (0.05 = 5%) within which two results count as the
    /// same (for `similar`, and to call `differ` FAIL).
    #[serde(default = "default_tolerance")]
    #[schemars(range(min = 0.0, max = 10.0))]
    pub tolerance: f64,
    /// Significance level of the tests.
    #[serde(default = "default_alpha")]
    #[schemars(range(min = 0.000001, max = 0.5))]
    pub alpha: f64,
}

fn default_tolerance() -> f64 {
    0.05
}
fn default_alpha() -> f64 {
    0.05
}

/// What a check compares. Every metric is taken per measured inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Inference latency.
    Latency,
    /// Mean T_prod over the inference's kernels, the first excluded.
    TProd,
    /// Mean T_ker over the inference's kernels.
    TKer,
    /// Mean T_idle over the inference's kernels, the first (undefined) excluded.
    TIdle,
    /// Mean latency of the group's `default` cell over this inference's latency.
    Speedup,
    /// Mean kernels per flush in the inference.
    K,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Latency => "latency",
            Metric::TProd => "t_prod",
            Metric::TKer => "t_ker",
            Metric::TIdle => "t_idle",
            Metric::Speedup => "speedup",
            Metric::K => "k",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Differ,
    Lower,
    Higher,
    Similar,
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Differ => "differ",
            CheckKind::Lower => "lower",
            CheckKind::Higher => "higher",
            CheckKind::Similar => "similar",
        }
    }
}
