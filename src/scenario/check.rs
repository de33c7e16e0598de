//! The second pass over a scenario: names, ranges and cross-references,
//! every problem located in the file. All problems found are reported at
//! once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use super::check_benchmark::check_benchmark;
use super::check_knobs::{check_knob_sets, check_knobs};
use super::check_values::{
    PickContext, check_checks, check_cpu_freq, check_gpu_freq, check_include, check_selector,
    check_strategy,
};
use super::raw::{self, RawScenario};
use super::{AxisSpec, IncludeEntry, Pick, Scenario};
use crate::axes::{Axis, AxisValue, STOCK_KNOBS};
use crate::error::{Diagnostic, InputError, suggest};
use crate::networks;
use crate::scenario::{Benchmark, CpuFreq, GpuFreq, Strategy};
use crate::yaml::source::SourceMap;

/// Limits on load parameters: beyond them a load is a typo, not an experiment.
pub const MAX_PROCS_PER_CORE: u32 = 64;
pub const MAX_T_SLEEP_US: u64 = 10_000_000;
pub const MAX_INNER_ITER: u64 = 1_000_000_000;
pub const MAX_LOG_ITER: u32 = 40;
pub const MAX_CORE: u32 = 4095;
pub const MAX_K: u32 = 4096;

pub(super) struct Checker<'a> {
    file: &'a Path,
    source: &'a SourceMap,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub(super) fn err(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let mut d = Diagnostic::new(self.file, self.source.locate(path), path, message);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.problems.push(d);
    }

    pub(super) fn err_key(
        &mut self,
        parent: &str,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let path = if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        };
        let mut d = Diagnostic::new(
            self.file,
            self.source.locate_key(parent, key),
            &path,
            message,
        );
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.problems.push(d);
    }

    /// A name that becomes part of a path or cell id.
    pub(super) fn slug(&mut self, path: &str, what: &str, name: &str) -> bool {
        if is_slug(name) {
            return true;
        }
        self.err(
            path,
            format!("{what} `{name}` is not a valid name"),
            Some("use 1 to 64 letters, digits, `_`, `.`, `-` or `+`, starting with a letter, digit or `_` (names become folder names and cell ids)".into()),
        );
        false
    }

    pub(super) fn range<T: PartialOrd + std::fmt::Display>(
        &mut self,
        path: &str,
        what: &str,
        v: T,
        min: T,
        max: T,
    ) {
        // Written so that NaN (`.nan` in YAML) is out of every range.
        if !(min <= v && v <= max) {
            let key = path.rsplit('.').next().unwrap_or(path);
            let why = match key {
                "iterations" => "the first inference is a warm-up, so a cell needs at least 2",
                "procs_per_core" => "load processes per selected core: the notebook used 1 or 2",
                "t_sleep_us" => "microseconds of sleep after each burst: up to 10 s",
                "inner_iter" => "rand() additions per burst: at least 1",
                "log_iter" => "the load runs 2^log_iter bursts: 20 already lasts minutes",
                "retries" => {
                    "extra attempts per failed cell: a board that fails 10 times needs a person"
                }
                "timeout_s" => "seconds a benchmark may run: at most a day",
                "rounds" => "every cell runs once per round; checks need at least 2",
                "load_settle_ms" => {
                    "milliseconds between starting the loads and the benchmark: at most 10 minutes"
                }
                "tolerance" => "a relative difference: 0.05 is 5%",
                "rate_hz" => {
                    "samples per second: every sample is a `sleep` process on the board, so at most 50"
                }
                "alpha" => "a significance level: 0.05 is usual",
                _ => "",
            };
            let hint = if why.is_empty() {
                format!("allowed: {min} to {max}")
            } else {
                format!("{why} (allowed: {min} to {max})")
            };
            self.err(
                path,
                format!("{what} must be between {min} and {max}, got {v}"),
                Some(hint),
            );
        }
    }

    pub(super) fn unknown(
        &mut self,
        path: &str,
        what: &str,
        name: &str,
        known: &[&str],
        define: &str,
    ) {
        let hint = match suggest(name, known.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? ({define})"),
            None if known.is_empty() => define.to_string(),
            None => format!(
                "known: {} ({define})",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.err(path, format!("unknown {what} `{name}`"), Some(hint));
    }
}

/// True for names safe as one path component and readable in an id.
pub fn is_slug(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= 64
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '+'))
}

pub(super) fn check(
    file: &Path,
    text: &str,
    source: SourceMap,
    raw: RawScenario,
) -> Result<Scenario, InputError> {
    let mut c = Checker {
        file,
        source: &source,
        problems: Vec::new(),
    };
    let checked = check_sections(&mut c, file, &raw);
    if !c.problems.is_empty() {
        return Err(InputError {
            diagnostics: c.problems,
        });
    }
    Ok(assemble(file, text, source, raw, checked))
}

/// What the sections' checks make of a scenario, for [`assemble`].
struct Checked {
    benchmark: Benchmark,
    push: Vec<super::PushFile>,
    parser: Option<super::LogRegexes>,
    retry_on: Vec<raw::RetryOn>,
    loads: BTreeMap<String, Option<raw::Load>>,
    axes: Vec<AxisSpec>,
    exclude: Vec<Pick>,
    include: Vec<IncludeEntry>,
    checks: Vec<super::CheckSpec>,
    lut: Option<super::LutSpec>,
    thermal: Option<super::ThermalSpec>,
    sampler: Option<super::SamplerSpec>,
    preflight: crate::preflight::Settings,
    knobs: super::Knobs,
    knob_sets: BTreeMap<String, super::Knobs>,
}

/// Every section checked in turn, each problem recorded in `c`.
fn check_sections(c: &mut Checker, file: &Path, raw: &RawScenario) -> Checked {
    c.slug("name", "scenario name", &raw.name);
    if raw.name == "." || raw.name == ".." {
        c.err("name", "the scenario name cannot be `.` or `..`", None);
    }
    check_boards(c, raw);
    let benchmark = check_networks(c, raw);
    let retry_on = check_run_limits(c, raw);

    let (push, parser) = check_benchmark(c, file, &benchmark);
    let loads = check_loads(c, &raw.loads);
    let axes = check_axes(c, raw, &loads);

    let ctx = PickContext {
        boards: &raw.boards,
        loads: &loads,
        networks: &raw.networks,
        raw,
    };
    let exclude = check_excludes(c, &ctx, &raw.exclude);
    let include: Vec<IncludeEntry> = raw
        .include
        .iter()
        .enumerate()
        .map(|(i, e)| check_include(c, &ctx, i, e))
        .collect();
    let checks = check_checks(c, &ctx, &raw.checks);
    let lut = check_lut(c, file, raw, &axes, &include);
    check_pull_limits(c, &raw.pull_limits);
    let thermal = raw.thermal.as_ref().and_then(|t| check_thermal(c, t));
    let sampler = match &raw.sampler {
        raw::Sampler::Off => None,
        raw::Sampler::On(cfg) => check_sampler(c, cfg),
    };

    let mut preflight = check_preflight(c, &raw.preflight);
    check_stop_daemons(c, &raw.stop_daemons);
    preflight.stopped = raw.stop_daemons.clone();
    let knobs = check_knobs(c, "", raw.kgsl, &raw.cpuidle, &raw.devfreq, &raw.mali);
    let knob_sets = check_knob_sets(c, &raw.knob_sets);
    Checked {
        benchmark,
        push,
        parser,
        retry_on,
        loads,
        axes,
        exclude,
        include,
        checks,
        lut,
        thermal,
        sampler,
        preflight,
        knobs,
        knob_sets,
    }
}

/// The checked scenario, from the raw one and what its checks made.
fn assemble(
    file: &Path,
    text: &str,
    source: SourceMap,
    raw: RawScenario,
    checked: Checked,
) -> Scenario {
    let pl = raw.pull_limits;
    Scenario {
        file: file.to_path_buf(),
        text: text.to_string(),
        source,
        name: raw.name,
        description: raw.description,
        boards: raw.boards,
        benchmark: checked.benchmark,
        push: checked.push,
        parser: checked.parser,
        networks: raw.networks,
        iterations: raw.iterations,
        timeout_s: raw.timeout_s,
        load_settle_ms: raw.load_settle_ms,
        freq_settle_ms: raw.freq_settle_ms,
        freq_tolerance_pct: raw.freq_tolerance_pct,
        freq_mismatch: raw.freq_mismatch,
        freq_unsupported: raw.freq_unsupported,
        max_cells: raw.max_cells,
        retries: raw.retries,
        retry_on: checked.retry_on,
        on_failure: raw.on_failure,
        rounds: raw.rounds,
        seed: raw.seed,
        order: raw.order,
        noise_floor: raw.noise_floor,
        loads: checked.loads,
        axes: checked.axes,
        exclude: checked.exclude,
        include: checked.include,
        checks: checked.checks,
        lut: checked.lut,
        pull_limits: crate::untrusted::PullLimits::new(pl.file_mib, pl.cell_mib, pl.files),
        thermal: checked.thermal,
        kgsl: checked.knobs.kgsl,
        preflight: checked.preflight,
        cpuidle: checked.knobs.cpuidle,
        stop_daemons: raw.stop_daemons,
        devfreq: checked.knobs.devfreq,
        mali: checked.knobs.mali,
        knob_sets: checked.knob_sets,
        sampler: checked.sampler,
    }
}

/// `boards`: at least one, each a name, each once.
fn check_boards(c: &mut Checker, raw: &RawScenario) {
    if raw.boards.is_empty() {
        c.err(
            "boards",
            "`boards` is empty",
            Some("list at least one board, e.g. `boards: [local]`".into()),
        );
    }
    let mut seen = HashSet::new();
    for (i, b) in raw.boards.iter().enumerate() {
        let path = format!("boards[{i}]");
        // Names are resolved against the board inventory when the run is
        // prepared; here they only have to be names.
        if !seen.insert(b.as_str()) {
            c.err(
                &path,
                format!("board `{b}` is listed twice"),
                Some("list each board once".into()),
            );
        } else {
            c.slug(&path, "board name", b);
        }
    }
}

/// `networks`: at least one, each a name, each once, and for the probe a
/// profile it knows. Returns the benchmark (the probe when none is given).
fn check_networks(c: &mut Checker, raw: &RawScenario) -> Benchmark {
    if raw.networks.is_empty() {
        c.err(
            "networks",
            "`networks` is empty",
            Some(format!(
                "list at least one network, e.g. `networks: [{}]`",
                networks::BUILTIN[0].name
            )),
        );
    }
    let benchmark = raw
        .benchmark
        .clone()
        .unwrap_or(Benchmark::Probe(Default::default()));
    let mut seen = HashSet::new();
    for (i, n) in raw.networks.iter().enumerate() {
        let path = format!("networks[{i}]");
        // Names become folder names: equal ignoring case is a duplicate.
        if !seen.insert(n.to_lowercase()) {
            c.err(
                &path,
                format!("network `{n}` is listed twice (names are compared ignoring case)"),
                Some("cell ids and folders would collide: keep one".into()),
            );
            continue;
        }
        if !c.slug(&path, "network", n) {
            continue;
        }
        if matches!(benchmark, Benchmark::Probe(_)) {
            check_probe_network(c, &path, n);
        }
    }
    benchmark
}

/// A network the probe runs: a known profile, with a valid regime if it
/// names one.
fn check_probe_network(c: &mut Checker, path: &str, n: &str) {
    if let (base, Some(Err(suffix))) = networks::split_regime(n)
        && networks::known(base)
    {
        c.err(
            path,
            format!("network `{n}`: `{suffix}` is not a regime"),
            Some("a network `NAME.REGIME` sizes NAME for a regime: `cpu_bound`, `balanced`, `gpu_bound`, or `x` and the ratio T_ker / (T_prod + flush cost) between 0.01 and 100 (`mobilenet_v1.x2`)".into()),
        );
        return;
    }
    if !networks::known(n) {
        let known: Vec<&str> = networks::BUILTIN.iter().map(|p| p.name).collect();
        c.unknown(
            path,
            "network profile",
            n,
            &known,
            "the probe benchmark runs built-in profiles, or synthetic ones named synth-N-P-K (N kernels of P host and K device work units), phases joined by `+`; a command benchmark takes any name",
        );
    }
}

/// The run's bounds: iterations, timeouts, settling, tolerance, cells,
/// retries and rounds. Returns the kinds of failure to retry.
fn check_run_limits(c: &mut Checker, raw: &RawScenario) -> Vec<raw::RetryOn> {
    c.range("iterations", "`iterations`", raw.iterations, 2, 100_000);
    c.range("timeout_s", "`timeout_s`", raw.timeout_s, 1, 86_400);
    c.range(
        "load_settle_ms",
        "`load_settle_ms`",
        raw.load_settle_ms,
        0,
        600_000,
    );
    c.range(
        "freq_settle_ms",
        "`freq_settle_ms`",
        raw.freq_settle_ms,
        0,
        60_000,
    );
    c.range(
        "freq_tolerance_pct",
        "`freq_tolerance_pct`",
        raw.freq_tolerance_pct,
        0.0,
        50.0,
    );
    if raw.max_cells == 0 {
        c.err("max_cells", "`max_cells` must be at least 1", None);
    }
    let retry_on = check_retries(c, raw);
    c.range("rounds", "`rounds`", raw.rounds, 1, MAX_ROUNDS);
    retry_on
}

/// `exclude`: each entry a valid pick that names something.
fn check_excludes(c: &mut Checker, ctx: &PickContext, exclude: &[raw::Selector]) -> Vec<Pick> {
    exclude
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let path = format!("exclude[{i}]");
            let pick = check_selector(c, ctx, &path, s, false);
            if pick.pairs.is_empty() && pick.k.is_none() {
                c.err(
                    &path,
                    "an empty `exclude` entry would drop every combination",
                    Some("give the axis values of the combinations to drop, e.g. `{load: none, strategy: {fixed: 4}}`".into()),
                );
            }
            pick
        })
        .collect()
}

/// `pull_limits`: each bound in its range.
fn check_pull_limits(c: &mut Checker, pl: &raw::PullLimitsConfig) {
    c.range("pull_limits.file_mib", "`file_mib`", pl.file_mib, 1, 65536);
    c.range(
        "pull_limits.cell_mib",
        "`cell_mib`",
        pl.cell_mib,
        1,
        1 << 20,
    );
    c.range("pull_limits.files", "`files`", pl.files, 1, 1_000_000);
}

/// `stop_daemons`: service names, each once.
fn check_stop_daemons(c: &mut Checker, stop_daemons: &[String]) {
    let mut seen_daemons = HashSet::new();
    for (i, d) in stop_daemons.iter().enumerate() {
        let at = format!("stop_daemons[{i}]");
        if !crate::preflight::is_process_name(d) {
            c.err(
                &at,
                format!("`{d}` is not a service name"),
                Some("give the daemon's name as `ps` shows it (`thermal-engine`): letters, digits and `_-.@:+`, no path".into()),
            );
        } else if !seen_daemons.insert(d.as_str()) {
            c.err(
                &at,
                format!("`{d}` is listed twice"),
                Some("name each daemon once".into()),
            );
        }
    }
}

/// `sampler`: a rate the board's shell can keep, a valid glob.
fn check_sampler(c: &mut Checker, cfg: &raw::SamplerConfig) -> Option<super::SamplerSpec> {
    let before = c.problems.len();
    c.range("sampler.rate_hz", "`rate_hz`", cfg.rate_hz, 0.1, 50.0);
    let zones = match &cfg.zones {
        None => None,
        Some(z) => match globset::Glob::new(z) {
            Ok(g) if !z.trim().is_empty() => Some((z.clone(), g.compile_matcher())),
            Ok(_) => {
                c.err(
                    "sampler.zones",
                    "`zones` is empty",
                    Some("give a glob on the zones' type (`cpu*`, `gpu*`), or leave `zones` out to sample every zone".into()),
                );
                None
            }
            Err(e) => {
                c.err(
                    "sampler.zones",
                    format!("`{z}` is not a valid glob: {}", e.kind()),
                    Some("`*` matches any text, `?` one character, `[ab]` one of a set: `cpu*`, `gpu*`".into()),
                );
                None
            }
        },
    };
    (c.problems.len() == before).then_some(super::SamplerSpec {
        rate_hz: cfg.rate_hz,
        zones,
    })
}

/// `preflight`: known check names, each once; sane thresholds; daemon
/// names that can be looked for.
fn check_preflight(c: &mut Checker, p: &raw::PreflightConfig) -> crate::preflight::Settings {
    use crate::preflight::CHECKS;
    let mut seen = HashSet::new();
    for (i, name) in p.allow.iter().enumerate() {
        let at = format!("preflight.allow[{i}]");
        if !CHECKS.contains(&name.as_str()) {
            let hint = match crate::error::suggest(name, CHECKS) {
                Some(s) => format!("did you mean `{s}`? the checks: {}", CHECKS.join(", ")),
                None => format!("the checks: {}", CHECKS.join(", ")),
            };
            c.err(
                &at,
                format!("`{name}` is not a pre-flight check"),
                Some(hint),
            );
        } else if !seen.insert(name.as_str()) {
            c.err(
                &at,
                format!("`{name}` is listed twice"),
                Some("name each check once".into()),
            );
        }
    }
    c.range(
        "preflight.battery_min_pct",
        "`battery_min_pct`",
        p.battery_min_pct,
        0,
        100,
    );
    c.range("preflight.free_mib", "`free_mib`", p.free_mib, 0, 1 << 20);
    if let Some(daemons) = &p.daemons {
        for (i, d) in daemons.iter().enumerate() {
            if !crate::preflight::is_process_name(d) {
                c.err(
                    &format!("preflight.daemons[{i}]"),
                    format!("`{d}` is not a process name"),
                    Some("give the program's name as `ps` shows it (`thermal-engine`): letters, digits and `_-.@:+`, no path".into()),
                );
            }
        }
    }
    let mut s = crate::preflight::Settings {
        allow: p.allow.clone(),
        battery_min_pct: p.battery_min_pct,
        free_mib: p.free_mib,
        ..Default::default()
    };
    if let Some(d) = &p.daemons {
        s.daemons = d.clone();
    }
    s
}

/// `thermal`: a valid glob, exactly one of `below_c` and `within_c`, sane
/// durations.
fn check_thermal(c: &mut Checker, t: &raw::ThermalConfig) -> Option<super::ThermalSpec> {
    let matcher = match globset::Glob::new(&t.zones) {
        Ok(g) if !t.zones.trim().is_empty() => Some(g.compile_matcher()),
        Ok(_) => {
            c.err(
                "thermal.zones",
                "`zones` is empty",
                Some("give a glob on the zones' type: `cpu*`, `gpu*`, or `*` for all (`klo-spec board probe BOARD` lists them)".into()),
            );
            None
        }
        Err(e) => {
            c.err(
                "thermal.zones",
                format!("`{}` is not a valid glob: {}", t.zones, e.kind()),
                Some(
                    "`*` matches any text, `?` one character, `[ab]` one of a set: `cpu*`, `gpu*`"
                        .into(),
                ),
            );
            None
        }
    };
    let limit = match (t.below_c, t.within_c) {
        (Some(b), None) => {
            c.range("thermal.below_c", "`below_c`", b, -40.0, 150.0);
            Some(super::ThermalLimit::Below(b))
        }
        (None, Some(w)) => {
            c.range("thermal.within_c", "`within_c`", w, 0.1, 100.0);
            Some(super::ThermalLimit::Within(w))
        }
        (Some(_), Some(_)) => {
            c.err_key(
                "thermal",
                "within_c",
                "`thermal` gives both `below_c` and `within_c`",
                Some("keep one: `below_c: 45` (an absolute limit) or `within_c: 2` (of the run's starting temperature)".into()),
            );
            None
        }
        (None, None) => {
            c.err(
                "thermal",
                "`thermal` needs a limit: `below_c` or `within_c`",
                Some("add `below_c: 45` (every matching zone below 45 °C before a cell) or `within_c: 2` (within 2 °C of the run's starting temperature)".into()),
            );
            None
        }
    };
    c.range("thermal.poll_s", "`poll_s`", t.poll_s, 0.05, 600.0);
    c.range(
        "thermal.timeout_s",
        "`timeout_s`",
        t.timeout_s,
        0.0,
        86_400.0,
    );
    c.range(
        "thermal.redo_throttled",
        "`redo_throttled`",
        t.redo_throttled,
        0,
        MAX_RETRIES,
    );
    Some(super::ThermalSpec {
        zones: t.zones.clone(),
        matcher: matcher?,
        limit: limit?,
        poll_s: t.poll_s,
        timeout_s: t.timeout_s,
        on_timeout: t.on_timeout,
        redo_throttled: t.redo_throttled,
    })
}

/// Most rounds a scenario may ask for.
pub const MAX_ROUNDS: u32 = 1000;

/// Most attempts a cell may get beyond the first.
pub const MAX_RETRIES: u32 = 10;

/// `retries` and `retry_on`: a bounded count, each kind once, and no
/// `retry_on` that could never apply.
fn check_retries(c: &mut Checker, raw: &RawScenario) -> Vec<raw::RetryOn> {
    c.range("retries", "`retries`", raw.retries, 0, MAX_RETRIES);
    let Some(kinds) = &raw.retry_on else {
        return raw::RetryOn::ALL.to_vec();
    };
    let all = raw::RetryOn::ALL
        .map(|k| format!("`{}`", k.as_str()))
        .join(", ");
    if kinds.is_empty() {
        c.err(
            "retry_on",
            "`retry_on` is an empty list",
            Some(format!(
                "name the failures to retry ({all}), or leave `retry_on` out to retry all of them"
            )),
        );
    }
    if raw.retries == 0 {
        c.err_key(
            "",
            "retry_on",
            "`retry_on` has no effect without `retries`",
            Some("set `retries: N` (extra attempts per cell), or remove `retry_on`".into()),
        );
    }
    let mut seen = HashSet::new();
    for (i, k) in kinds.iter().enumerate() {
        if !seen.insert(*k) {
            c.err(
                &format!("retry_on[{i}]"),
                format!("`{}` is listed twice", k.as_str()),
                Some("name each kind of failure once".into()),
            );
        }
    }
    kinds.clone()
}

/// The `lut` section: required by LUT strategies, its file pattern and its
/// build scenario checked.
fn check_lut(
    c: &mut Checker,
    file: &Path,
    raw: &RawScenario,
    axes: &[AxisSpec],
    include: &[IncludeEntry],
) -> Option<super::LutSpec> {
    let mut users = Vec::new();
    for spec in axes
        .iter()
        .filter(|a| a.axis == Axis::Strategy && a.declared)
    {
        for (i, v) in spec.values.iter().enumerate() {
            if let AxisValue::Strategy(s) = v
                && s.uses_lut()
            {
                users.push(format!("matrix.strategy[{i}]"));
            }
        }
    }
    for (i, e) in include.iter().enumerate() {
        if e.pick
            .pairs
            .iter()
            .any(|(_, v)| matches!(v, AxisValue::Strategy(s) if s.uses_lut()))
        {
            users.push(format!("include[{i}]"));
        }
    }
    let Some(l) = &raw.lut else {
        if let Some(first) = users.first() {
            c.err(
                first,
                "this strategy looks K up in a LUT, and the scenario names none",
                Some("add `lut: {file: ../luts/{board}.csv, build_with: lut.yaml}` (see scenarios/load_levels.yaml)".into()),
            );
        }
        return None;
    };
    if l.model && !l.file.trim().is_empty() {
        c.err(
            "lut.model",
            "`model: true` and `file` both say where the LUT comes from",
            Some("keep `file` for a measured LUT, or `model: true` for the timing model's from the board's calibration".into()),
        );
    } else if l.model && l.build_with.is_some() {
        c.err(
            "lut.build_with",
            "`build_with` measures a LUT file, and `model: true` has none",
            Some("remove `build_with`, or use `file` instead of `model`".into()),
        );
    } else if !l.model && l.file.trim().is_empty() {
        c.err(
            "lut.file",
            "`file` is empty",
            Some("e.g. `../luts/{board}.csv`, or `model: true` for the timing model's LUT".into()),
        );
    }
    if l.model && !matches!(raw.benchmark, None | Some(raw::Benchmark::Probe(_))) {
        c.err(
            "lut.model",
            "the model's LUT comes from a calibration of the probe, and this scenario runs a command benchmark",
            Some("give a measured LUT with `file`".into()),
        );
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    let build_with = l.build_with.as_ref().map(|b| dir.join(b));
    if let Some(b) = &build_with
        && !b.is_file()
    {
        c.err(
            "lut.build_with",
            format!("cannot find the scenario `{}`", b.display()),
            Some("the path is relative to this scenario file".into()),
        );
    }
    Some(super::LutSpec {
        file: l.file.clone(),
        model: l.model,
        foreign: l.foreign,
        build_with,
    })
}

fn check_loads(
    c: &mut Checker,
    raw: &BTreeMap<String, Option<raw::Load>>,
) -> BTreeMap<String, Option<raw::Load>> {
    let mut loads = BTreeMap::new();
    loads.insert("none".to_string(), None);
    let mut lower = HashSet::new();
    for (name, load) in raw {
        let path = format!("loads.{name}");
        if !c.slug(&path, "load name", name) {
            continue;
        }
        if !lower.insert(name.to_lowercase())
            || (name != "none" && name.eq_ignore_ascii_case("none"))
        {
            c.err(
                &path,
                format!("load `{name}` differs from another load name only in case"),
                Some("cell ids and folders would collide: rename one".into()),
            );
            continue;
        }
        if name == "none" {
            if load.is_some() {
                c.err(
                    &path,
                    "`none` is the built-in no-load and cannot be redefined",
                    Some("give this load another name, e.g. `heavy`".into()),
                );
            }
            continue;
        }
        if let Some(l) = load {
            c.range(
                &format!("{path}.procs_per_core"),
                "`procs_per_core`",
                l.procs_per_core,
                1,
                MAX_PROCS_PER_CORE,
            );
            c.range(
                &format!("{path}.t_sleep_us"),
                "`t_sleep_us`",
                l.t_sleep_us,
                0,
                MAX_T_SLEEP_US,
            );
            c.range(
                &format!("{path}.inner_iter"),
                "`inner_iter`",
                l.inner_iter,
                1,
                MAX_INNER_ITER,
            );
            c.range(
                &format!("{path}.log_iter"),
                "`log_iter`",
                l.log_iter,
                0,
                MAX_LOG_ITER,
            );
            if let raw::Cores::List(cores) = &l.cores {
                if cores.is_empty() {
                    c.err(
                        &format!("{path}.cores"),
                        "`cores` is an empty list",
                        Some("write `cores: all` or list core numbers".into()),
                    );
                }
                let mut seen = HashSet::new();
                for (i, core) in cores.iter().enumerate() {
                    let p = format!("{path}.cores[{i}]");
                    if *core > MAX_CORE {
                        c.err(
                            &p,
                            format!("core {core} is out of range (0..{MAX_CORE})"),
                            Some("core numbers as the board counts them (`klo-spec board probe BOARD` lists them), or `cores: all`".into()),
                        );
                    } else if !seen.insert(core) {
                        c.err(
                            &p,
                            format!("core {core} is listed twice"),
                            Some("list each core once; `procs_per_core` sets how many loads a core gets".into()),
                        );
                    }
                }
            }
        }
        loads.insert(name.clone(), load.clone());
    }
    loads
}

fn check_axes(
    c: &mut Checker,
    raw: &RawScenario,
    loads: &BTreeMap<String, Option<raw::Load>>,
) -> Vec<AxisSpec> {
    let mut axes = vec![AxisSpec {
        axis: Axis::Board,
        values: raw.boards.iter().cloned().map(AxisValue::Name).collect(),
        declared: true,
    }];
    let declared = declared_axes(c, &raw.matrix);
    for axis in declared.iter().copied() {
        let base = format!("matrix.{}", axis.key());
        let values = axis_values(c, raw, loads, axis, &base);
        check_axis_values(c, axis, &base, &values);
        axes.push(AxisSpec {
            axis,
            values,
            declared: true,
        });
    }
    for axis in Axis::ALL {
        if axis == Axis::Board || declared.contains(&axis) {
            continue;
        }
        axes.push(AxisSpec {
            axis,
            values: default_axis_values(raw, axis),
            declared: false,
        });
    }
    axes
}

/// The axes the matrix declares, in the file's order.
fn declared_axes(c: &Checker, m: &raw::Matrix) -> Vec<Axis> {
    let mut declared = Vec::new();
    for key in c.source.keys("matrix") {
        if let Some(axis) = Axis::from_key(key)
            && axis != Axis::Board
            && !declared.contains(&axis)
        {
            declared.push(axis);
        }
    }
    // A matrix written as a flow mapping or through an alias still has its
    // fields; any axis the source map missed goes after, in canonical order.
    for axis in Axis::ALL {
        let present = match axis {
            Axis::Board => false,
            Axis::Load => m.load.is_some(),
            Axis::CpuFreq => m.cpu_freq.is_some(),
            Axis::GpuFreq => m.gpu_freq.is_some(),
            Axis::Network => m.network.is_some(),
            Axis::Strategy => m.strategy.is_some(),
            Axis::Knobs => m.knobs.is_some(),
        };
        if present && !declared.contains(&axis) {
            declared.push(axis);
        }
    }
    declared
}

/// A declared axis's values, each checked (`base` is its path).
fn axis_values(
    c: &mut Checker,
    raw: &RawScenario,
    loads: &BTreeMap<String, Option<raw::Load>>,
    axis: Axis,
    base: &str,
) -> Vec<AxisValue> {
    let m = &raw.matrix;
    let at = |i: usize| format!("{base}[{i}]");
    match axis {
        Axis::Load => {
            let load_names: Vec<&str> = loads.keys().map(String::as_str).collect();
            named_values(
                c,
                base,
                &m.load,
                &load_names,
                "load",
                "loads are defined under `loads:`",
            )
        }
        Axis::Network => {
            let network_names: Vec<&str> = raw.networks.iter().map(String::as_str).collect();
            named_values(
                c,
                base,
                &m.network,
                &network_names,
                "network",
                "the network axis picks from `networks:`",
            )
        }
        Axis::CpuFreq => each_value(&m.cpu_freq, |i, f| {
            check_cpu_freq(c, &at(i), f);
            AxisValue::Cpu(f.clone())
        }),
        Axis::GpuFreq => each_value(&m.gpu_freq, |i, g| {
            check_gpu_freq(c, &at(i), g);
            AxisValue::Gpu(*g)
        }),
        Axis::Strategy => each_value(&m.strategy, |i, s| {
            check_strategy(c, &at(i), s);
            AxisValue::Strategy(s.clone())
        }),
        Axis::Knobs => each_value(&m.knobs, |i, n| {
            check_knob_set_name(c, &at(i), n, raw);
            AxisValue::Name(n.clone())
        }),
        Axis::Board => unreachable!("board is not a matrix key"),
    }
}

/// An axis's values (none when the axis is absent), each made by `f` from
/// its index and value.
fn each_value<T>(
    values: &Option<Vec<T>>,
    mut f: impl FnMut(usize, &T) -> AxisValue,
) -> Vec<AxisValue> {
    values
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, v)| f(i, v))
        .collect()
}

/// An axis of names (`load`, `network`): each one of `known`.
fn named_values(
    c: &mut Checker,
    base: &str,
    names: &Option<Vec<String>>,
    known: &[&str],
    what: &str,
    define: &str,
) -> Vec<AxisValue> {
    each_value(names, |i, n| {
        if !known.contains(&n.as_str()) {
            c.unknown(&format!("{base}[{i}]"), what, n, known, define);
        }
        AxisValue::Name(n.clone())
    })
}

/// A declared axis has values, each once.
fn check_axis_values(c: &mut Checker, axis: Axis, base: &str, values: &[AxisValue]) {
    if values.is_empty() {
        c.err(
            base,
            format!("axis `{}` is empty", axis.key()),
            Some(format!(
                "give it at least one value, or remove `{}` to use its default",
                axis.key()
            )),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, v) in values.iter().enumerate() {
        if !seen.insert(v.clone()) {
            c.err(
                &format!("{base}[{i}]"),
                format!("value `{v}` appears twice on axis `{}`", axis.key()),
                Some("each value once: duplicates would make duplicate cells".into()),
            );
        }
    }
}

/// The value of an axis the matrix leaves out.
fn default_axis_values(raw: &RawScenario, axis: Axis) -> Vec<AxisValue> {
    match axis {
        Axis::Load => vec![AxisValue::Name("none".into())],
        Axis::CpuFreq => vec![AxisValue::Cpu(CpuFreq::Current)],
        Axis::GpuFreq => vec![AxisValue::Gpu(GpuFreq::Current)],
        Axis::Network => raw.networks.iter().cloned().map(AxisValue::Name).collect(),
        Axis::Strategy => vec![AxisValue::Strategy(Strategy::Default)],
        Axis::Knobs => vec![AxisValue::Name(STOCK_KNOBS.into())],
        Axis::Board => unreachable!(),
    }
}

/// A value of the `knobs` axis (or a pick's `knobs`): `stock` or a set
/// from `knob_sets`.
pub(super) fn check_knob_set_name(c: &mut Checker, path: &str, name: &str, raw: &RawScenario) {
    if name == STOCK_KNOBS || raw.knob_sets.contains_key(name) {
        return;
    }
    let mut known: Vec<&str> = raw.knob_sets.keys().map(String::as_str).collect();
    known.push(STOCK_KNOBS);
    c.unknown(
        path,
        "knob set",
        name,
        &known,
        "knob sets are defined under `knob_sets:`; `stock` is the scenario's own knobs",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["local", "mobilenet_v1", "rb5", "A-1.2+x", "_x"] {
            assert!(is_slug(ok), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".hidden",
            "a/b",
            "a b",
            "x;rm",
            "$(id)",
            &"a".repeat(65),
        ] {
            assert!(!is_slug(bad), "{bad}");
        }
    }
}
