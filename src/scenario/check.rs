//! The second pass over a scenario: names, ranges and cross-references,
//! every problem located in the file. All problems found are reported at
//! once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use regex::Regex;
use sha2::{Digest, Sha256};

use super::raw::{self, Include, RawScenario, Selector};
use super::source::SourceMap;
use super::{AxisSpec, CheckSpec, IncludeEntry, LogRegexes, Pick, PushFile, Scenario};
use crate::error::{Diagnostic, InputError, suggest};
use crate::matrix::coord::{Axis, AxisValue};
use crate::networks;
use crate::scenario::{Benchmark, CpuFreq, FreqValue, GpuFreq, Strategy};

/// Boards klo-spec knows without an inventory.
pub const BUILTIN_BOARDS: [&str; 1] = ["local"];

/// Limits on load parameters: beyond them a load is a typo, not an experiment.
pub const MAX_PROCS_PER_CORE: u32 = 64;
pub const MAX_T_SLEEP_US: u64 = 10_000_000;
pub const MAX_INNER_ITER: u64 = 1_000_000_000;
pub const MAX_LOG_ITER: u32 = 40;
pub const MAX_CORE: u32 = 4095;
pub const MAX_K: u32 = 4096;

struct Checker<'a> {
    file: &'a Path,
    source: &'a SourceMap,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err(&mut self, path: &str, message: impl Into<String>, hint: Option<String>) {
        let mut d = Diagnostic::new(self.file, self.source.locate(path), path, message);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        self.problems.push(d);
    }

    fn err_key(
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
    fn slug(&mut self, path: &str, what: &str, name: &str) -> bool {
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

    fn range<T: PartialOrd + std::fmt::Display>(
        &mut self,
        path: &str,
        what: &str,
        v: T,
        min: T,
        max: T,
    ) {
        if v < min || v > max {
            let key = path.rsplit('.').next().unwrap_or(path);
            let why = match key {
                "iterations" => "the first inference is a warm-up, so a cell needs at least 2",
                "procs_per_core" => "load processes per selected core: the notebook used 1 or 2",
                "t_sleep_us" => "microseconds of sleep after each burst: up to 10 s",
                "inner_iter" => "rand() additions per burst: at least 1",
                "log_iter" => "the load runs 2^log_iter bursts: 20 already lasts minutes",
                "timeout_s" => "seconds a benchmark may run: at most a day",
                "load_settle_ms" => {
                    "milliseconds between starting the loads and the benchmark: at most 10 minutes"
                }
                "tolerance" => "a relative difference: 0.05 is 5%",
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

    fn unknown(&mut self, path: &str, what: &str, name: &str, known: &[&str], define: &str) {
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

    c.slug("name", "scenario name", &raw.name);
    if raw.name == "." || raw.name == ".." {
        c.err("name", "the scenario name cannot be `.` or `..`", None);
    }

    // Boards.
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
        if !seen.insert(b.as_str()) {
            c.err(&path, format!("board `{b}` is listed twice"), None);
        } else if !BUILTIN_BOARDS.contains(&b.as_str()) {
            c.unknown(
                &path,
                "board",
                b,
                &BUILTIN_BOARDS,
                "only the built-in `local` board is available in this version",
            );
        }
    }

    // Networks.
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
        if !seen.insert(n.as_str()) {
            c.err(&path, format!("network `{n}` is listed twice"), None);
            continue;
        }
        if !c.slug(&path, "network", n) {
            continue;
        }
        if matches!(benchmark, Benchmark::Probe(_)) && networks::find(n).is_none() {
            let known: Vec<&str> = networks::BUILTIN.iter().map(|p| p.name).collect();
            c.unknown(
                &path,
                "network profile",
                n,
                &known,
                "the probe benchmark runs built-in profiles; a command benchmark takes any name",
            );
        }
    }

    c.range("iterations", "`iterations`", raw.iterations, 2, 100_000);
    c.range("timeout_s", "`timeout_s`", raw.timeout_s, 1, 86_400);
    c.range(
        "load_settle_ms",
        "`load_settle_ms`",
        raw.load_settle_ms,
        0,
        600_000,
    );
    if raw.max_cells == 0 {
        c.err("max_cells", "`max_cells` must be at least 1", None);
    }

    let (push, parser) = check_benchmark(&mut c, file, &benchmark);
    let loads = check_loads(&mut c, &raw.loads);
    let axes = check_axes(&mut c, &raw, &loads);

    let ctx = PickContext {
        boards: &raw.boards,
        loads: &loads,
        networks: &raw.networks,
    };
    let exclude: Vec<Pick> = raw
        .exclude
        .iter()
        .enumerate()
        .map(|(i, s)| check_selector(&mut c, &ctx, &format!("exclude[{i}]"), s, false))
        .collect();
    let include: Vec<IncludeEntry> = raw
        .include
        .iter()
        .enumerate()
        .map(|(i, e)| check_include(&mut c, &ctx, i, e))
        .collect();
    let checks = check_checks(&mut c, &ctx, &raw.checks);

    if !c.problems.is_empty() {
        return Err(InputError {
            diagnostics: c.problems,
        });
    }
    Ok(Scenario {
        file: file.to_path_buf(),
        text: text.to_string(),
        source,
        name: raw.name,
        description: raw.description,
        boards: raw.boards,
        benchmark,
        push,
        parser,
        networks: raw.networks,
        iterations: raw.iterations,
        timeout_s: raw.timeout_s,
        load_settle_ms: raw.load_settle_ms,
        max_cells: raw.max_cells,
        loads,
        axes,
        exclude,
        include,
        checks,
    })
}

fn check_benchmark(
    c: &mut Checker,
    file: &Path,
    benchmark: &Benchmark,
) -> (Vec<PushFile>, Option<LogRegexes>) {
    match benchmark {
        Benchmark::Probe(p) => {
            let base = "benchmark.probe";
            c.range(
                &format!("{base}.ker_scale"),
                "`ker_scale`",
                p.ker_scale,
                0.0001,
                10_000.0,
            );
            c.range(
                &format!("{base}.prod_scale"),
                "`prod_scale`",
                p.prod_scale,
                0.0,
                10_000.0,
            );
            c.range(
                &format!("{base}.flush_units"),
                "`flush_units`",
                p.flush_units,
                0,
                1 << 30,
            );
            c.range(
                &format!("{base}.submit_units"),
                "`submit_units`",
                p.submit_units,
                0,
                1 << 30,
            );
            c.range(
                &format!("{base}.global_size"),
                "`global_size`",
                p.global_size,
                1,
                1 << 24,
            );
            if let Some(pl) = p.platform {
                c.range(&format!("{base}.platform"), "`platform`", pl, 0, 63);
            }
            (Vec::new(), None)
        }
        Benchmark::Command(cmd) => {
            let base = "benchmark.command";
            if cmd.run.trim().is_empty() {
                c.err(
                    &format!("{base}.run"),
                    "`run` is empty",
                    Some(
                        "give the command line, e.g. `./bench --net {{ network }} --k {{ k }}`"
                            .into(),
                    ),
                );
            } else if let Err(e) = crate::render::check_template(&cmd.run) {
                c.err(
                    &format!("{base}.run"),
                    format!("`run` is not a valid template: {e}"),
                    Some("see minijinja's syntax; values are written `{{ name }}`".into()),
                );
            } else if let Err(e) =
                crate::render::render_str(&cmd.run, crate::render::sample_command_context())
            {
                let msg = e.to_string();
                let vars = crate::render::COMMAND_VARIABLES;
                let hint = msg
                    .split('`')
                    .nth(1)
                    .and_then(|name| suggest(name, vars))
                    .map(|s| format!("did you mean `{s}`? Variables: {}", vars.join(", ")))
                    .unwrap_or_else(|| format!("variables: {}", vars.join(", ")));
                c.err(
                    &format!("{base}.run"),
                    format!("`run` cannot be rendered: {msg}"),
                    Some(hint),
                );
            }
            let dir = file.parent().unwrap_or(Path::new("."));
            let mut push = Vec::new();
            let mut names = HashSet::new();
            for (i, p) in cmd.push.iter().enumerate() {
                let path = format!("{base}.push[{i}]");
                let src = dir.join(p);
                let name = Path::new(p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match std::fs::read(&src) {
                    Ok(bytes) if is_slug(&name) => {
                        if !names.insert(name.clone()) {
                            c.err(&path, format!("two pushed files are named `{name}`"), Some("pushed files land in one folder: rename one".into()));
                        }
                        push.push(PushFile { source: src, name, sha256: hex_sha256(&bytes) });
                    }
                    Ok(_) => c.err(&path, format!("pushed file name `{name}` is not a plain file name"), Some("use letters, digits, `_`, `.`, `-`".into())),
                    Err(e) => c.err(
                        &path,
                        format!("cannot read `{}`: {e}", src.display()),
                        Some("push paths are relative to the scenario file and name files, not folders".into()),
                    ),
                }
            }
            let parser = match &cmd.parser {
                raw::Parser::Klo => None,
                raw::Parser::Regex(r) => check_regexes(c, &format!("{base}.parser.regex"), r),
            };
            (push, parser)
        }
    }
}

fn check_regexes(c: &mut Checker, base: &str, r: &raw::RegexParser) -> Option<LogRegexes> {
    let mut compile = |field: &str, src: &str, required: &[&str]| -> Option<Regex> {
        let path = format!("{base}.{field}");
        match Regex::new(src) {
            Ok(re) => {
                let names: HashSet<&str> = re.capture_names().flatten().collect();
                let missing: Vec<&str> = required
                    .iter()
                    .copied()
                    .filter(|n| !names.contains(n))
                    .collect();
                if missing.is_empty() {
                    Some(re)
                } else {
                    c.err(
                        &path,
                        format!(
                            "the `{field}` expression lacks the named group(s) {}",
                            missing
                                .iter()
                                .map(|m| format!("`{m}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        Some(
                            "write groups as (?P<name>...), e.g. latency=(?P<latency_us>[0-9.]+)"
                                .into(),
                        ),
                    );
                    None
                }
            }
            Err(e) => {
                // The regex crate's message is several lines with a caret;
                // its last line says what is wrong.
                let text = e.to_string();
                let why = text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim_start_matches("error: ")
                    .to_string();
                c.err(
                    &path,
                    format!("invalid regular expression `{src}`: {why}"),
                    Some("Rust regex syntax (docs.rs/regex); in YAML, single-quote the expression so backslashes stay".into()),
                );
                None
            }
        }
    };
    let kernel = match &r.kernel {
        Some(k) => Some(compile(
            "kernel",
            k,
            &["iter", "kernel", "t_prod_us", "t_ker_us"],
        )?),
        None => None,
    };
    let inference = compile("inference", &r.inference, &["iter", "latency_us"]);
    let end = compile("end", &r.end, &[]);
    Some(LogRegexes {
        kernel,
        inference: inference?,
        end: end?,
    })
}

fn check_loads(
    c: &mut Checker,
    raw: &BTreeMap<String, Option<raw::Load>>,
) -> BTreeMap<String, Option<raw::Load>> {
    let mut loads = BTreeMap::new();
    loads.insert("none".to_string(), None);
    for (name, load) in raw {
        let path = format!("loads.{name}");
        if !c.slug(&path, "load name", name) {
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
                            None,
                        );
                    } else if !seen.insert(core) {
                        c.err(&p, format!("core {core} is listed twice"), None);
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
    let m = &raw.matrix;
    let mut axes = vec![AxisSpec {
        axis: Axis::Board,
        values: raw.boards.iter().cloned().map(AxisValue::Name).collect(),
        declared: true,
    }];
    let load_names: Vec<&str> = loads.keys().map(String::as_str).collect();
    let network_names: Vec<&str> = raw.networks.iter().map(String::as_str).collect();
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
        };
        if present && !declared.contains(&axis) {
            declared.push(axis);
        }
    }

    for axis in declared.iter().copied() {
        let base = format!("matrix.{}", axis.key());
        let values: Vec<AxisValue> = match axis {
            Axis::Load => m
                .load
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, n)| {
                    if !loads.contains_key(n) {
                        c.unknown(
                            &format!("{base}[{i}]"),
                            "load",
                            n,
                            &load_names,
                            "loads are defined under `loads:`",
                        );
                    }
                    AxisValue::Name(n.clone())
                })
                .collect(),
            Axis::Network => m
                .network
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, n)| {
                    if !raw.networks.contains(n) {
                        c.unknown(
                            &format!("{base}[{i}]"),
                            "network",
                            n,
                            &network_names,
                            "the network axis picks from `networks:`",
                        );
                    }
                    AxisValue::Name(n.clone())
                })
                .collect(),
            Axis::CpuFreq => m
                .cpu_freq
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, f)| {
                    check_cpu_freq(c, &format!("{base}[{i}]"), f);
                    AxisValue::Cpu(f.clone())
                })
                .collect(),
            Axis::GpuFreq => m
                .gpu_freq
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, g)| {
                    check_gpu_freq(c, &format!("{base}[{i}]"), g);
                    AxisValue::Gpu(*g)
                })
                .collect(),
            Axis::Strategy => m
                .strategy
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, s)| {
                    check_strategy(c, &format!("{base}[{i}]"), s);
                    AxisValue::Strategy(s.clone())
                })
                .collect(),
            Axis::Board => unreachable!("board is not a matrix key"),
        };
        if values.is_empty() {
            c.err(
                &base,
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
        let values = match axis {
            Axis::Load => vec![AxisValue::Name("none".into())],
            Axis::CpuFreq => vec![AxisValue::Cpu(CpuFreq::Current)],
            Axis::GpuFreq => vec![AxisValue::Gpu(GpuFreq::Current)],
            Axis::Network => raw.networks.iter().cloned().map(AxisValue::Name).collect(),
            Axis::Strategy => vec![AxisValue::Strategy(Strategy::Default)],
            Axis::Board => unreachable!(),
        };
        axes.push(AxisSpec {
            axis,
            values,
            declared: false,
        });
    }
    axes
}

const CLUSTERS: [&str; 7] = ["all", "little", "mid", "big", "prime", "others", "policyN"];

fn check_freq_value(c: &mut Checker, path: &str, v: &FreqValue) {
    match v {
        FreqValue::Percent(p) if *p > 100 => c.err(
            path,
            format!("{p}% is above 100%"),
            Some(
                "a percentage picks a frequency between the minimum (0%) and the maximum (100%)"
                    .into(),
            ),
        ),
        FreqValue::Khz(0) => c.err(
            path,
            "a frequency of 0 kHz is not a frequency",
            Some("use `min`, `max`, a kHz value such as 1804800, or a percentage".into()),
        ),
        FreqValue::Khz(k) if *k > 100_000_000 => c.err(
            path,
            format!("{k} kHz is above 100 GHz"),
            Some("frequencies are in kHz: 1.8 GHz is 1800000".into()),
        ),
        _ => {}
    }
}

fn check_cpu_freq(c: &mut Checker, path: &str, f: &CpuFreq) {
    let CpuFreq::Clusters(map) = f else { return };
    if map.is_empty() {
        c.err(
            path,
            "an empty cluster map",
            Some("write `current`, or e.g. `{all: min}`".into()),
        );
    }
    for (cluster, v) in map {
        let vpath = format!("{path}.{cluster}");
        let valid = CLUSTERS.contains(&cluster.as_str())
            || cluster
                .strip_prefix("policy")
                .is_some_and(|n| !n.is_empty() && n.chars().all(|d| d.is_ascii_digit()));
        if !valid || cluster == "policyN" {
            let hint = match suggest(cluster, CLUSTERS.iter().copied()) {
                Some(s) => format!(
                    "did you mean `{s}`? Clusters: all, little, mid, big, prime, policy<N> (e.g. policy4), others"
                ),
                None => "clusters: all, little, mid, big, prime, policy<N> (e.g. policy4), others"
                    .into(),
            };
            c.err_key(
                path,
                cluster,
                format!("unknown cluster `{cluster}`"),
                Some(hint),
            );
            continue;
        }
        if cluster == "others" && *v != FreqValue::Keep {
            c.err(&vpath, "`others` can only be `keep`", Some("name the clusters you want to set; `others: keep` says the rest stay as they are".into()));
        }
        check_freq_value(c, &vpath, v);
    }
    if map.contains_key("all") && map.len() > 1 {
        c.err(
            path,
            "`all` cannot be combined with other clusters",
            Some("use `{all: ...}` alone, or name each cluster".into()),
        );
    }
}

fn check_gpu_freq(c: &mut Checker, path: &str, g: &GpuFreq) {
    if let GpuFreq::Set(v) = g {
        check_freq_value(c, path, v);
    }
}

fn check_strategy(c: &mut Checker, path: &str, s: &Strategy) {
    match s {
        Strategy::Default => {}
        Strategy::Fixed(k) => {
            if *k == 0 || *k > MAX_K {
                c.err(
                    &format!("{path}.fixed"),
                    format!("K must be between 1 and {MAX_K}, got {k}"),
                    Some("K is the number of kernels between two flushes".into()),
                );
            }
        }
        Strategy::Sweep(sw) => {
            let kp = format!("{path}.sweep.k");
            if sw.k.is_empty() {
                c.err(
                    &kp,
                    "the sweep has no K values",
                    Some("e.g. `{sweep: {k: [1, 2, 4, 8, 16]}}`".into()),
                );
            }
            let mut seen = HashSet::new();
            for (i, k) in sw.k.iter().enumerate() {
                if *k == 0 || *k > MAX_K {
                    c.err(
                        &format!("{kp}[{i}]"),
                        format!("K must be between 1 and {MAX_K}, got {k}"),
                        None,
                    );
                } else if !seen.insert(k) {
                    c.err(
                        &format!("{kp}[{i}]"),
                        format!("K = {k} appears twice in the sweep"),
                        None,
                    );
                }
            }
        }
    }
}

struct PickContext<'a> {
    boards: &'a [String],
    loads: &'a BTreeMap<String, Option<raw::Load>>,
    networks: &'a [String],
}

fn check_selector(
    c: &mut Checker,
    ctx: &PickContext,
    path: &str,
    s: &Selector,
    allow_k: bool,
) -> Pick {
    let mut pairs = Vec::new();
    if let Some(b) = &s.board {
        if !ctx.boards.contains(b) {
            let known: Vec<&str> = ctx.boards.iter().map(String::as_str).collect();
            c.unknown(
                &format!("{path}.board"),
                "board",
                b,
                &known,
                "a board from `boards:`",
            );
        }
        pairs.push((Axis::Board, AxisValue::Name(b.clone())));
    }
    if let Some(l) = &s.load {
        if !ctx.loads.contains_key(l) {
            let known: Vec<&str> = ctx.loads.keys().map(String::as_str).collect();
            c.unknown(
                &format!("{path}.load"),
                "load",
                l,
                &known,
                "loads are defined under `loads:`",
            );
        }
        pairs.push((Axis::Load, AxisValue::Name(l.clone())));
    }
    if let Some(f) = &s.cpu_freq {
        check_cpu_freq(c, &format!("{path}.cpu_freq"), f);
        pairs.push((Axis::CpuFreq, AxisValue::Cpu(f.clone())));
    }
    if let Some(g) = &s.gpu_freq {
        check_gpu_freq(c, &format!("{path}.gpu_freq"), g);
        pairs.push((Axis::GpuFreq, AxisValue::Gpu(*g)));
    }
    if let Some(n) = &s.network {
        if !ctx.networks.contains(n) {
            let known: Vec<&str> = ctx.networks.iter().map(String::as_str).collect();
            c.unknown(
                &format!("{path}.network"),
                "network",
                n,
                &known,
                "a network from `networks:`",
            );
        }
        pairs.push((Axis::Network, AxisValue::Name(n.clone())));
    }
    if let Some(st) = &s.strategy {
        check_strategy(c, &format!("{path}.strategy"), st);
        pairs.push((Axis::Strategy, AxisValue::Strategy(st.clone())));
    }
    if let Some(k) = s.k {
        if !allow_k {
            c.err_key(
                path,
                "k",
                "`k` can only pick cells in checks",
                Some(
                    "to drop some K values of a sweep, list only the K values you want in it"
                        .into(),
                ),
            );
        } else if k == 0 || k > MAX_K {
            c.err(
                &format!("{path}.k"),
                format!("K must be between 1 and {MAX_K}, got {k}"),
                None,
            );
        }
    }
    Pick {
        pairs,
        k: s.k,
        path: path.to_string(),
    }
}

fn check_include(c: &mut Checker, ctx: &PickContext, i: usize, e: &Include) -> IncludeEntry {
    let path = format!("include[{i}]");
    let sel = Selector {
        board: e.board.clone(),
        load: e.load.clone(),
        cpu_freq: e.cpu_freq.clone(),
        gpu_freq: e.gpu_freq,
        network: e.network.clone(),
        strategy: e.strategy.clone(),
        k: None,
    };
    let pick = check_selector(c, ctx, &path, &sel, false);
    if let Some(it) = e.iterations {
        c.range(
            &format!("{path}.iterations"),
            "`iterations`",
            it,
            2,
            100_000,
        );
    }
    if let Some(t) = e.timeout_s {
        c.range(&format!("{path}.timeout_s"), "`timeout_s`", t, 1, 86_400);
    }
    if pick.pairs.is_empty() && e.iterations.is_none() && e.timeout_s.is_none() {
        c.err(
            &path,
            "an empty `include` entry",
            Some("give axis values and/or `iterations`/`timeout_s`".into()),
        );
    }
    IncludeEntry {
        pick,
        iterations: e.iterations,
        timeout_s: e.timeout_s,
    }
}

fn check_checks(c: &mut Checker, ctx: &PickContext, checks: &[raw::Check]) -> Vec<CheckSpec> {
    let mut ids = HashSet::new();
    let mut out = Vec::new();
    for (i, ch) in checks.iter().enumerate() {
        let path = format!("checks[{i}]");
        if c.slug(&format!("{path}.id"), "check id", &ch.id) && !ids.insert(ch.id.clone()) {
            c.err(
                &format!("{path}.id"),
                format!("check id `{}` is used twice", ch.id),
                None,
            );
        }
        let a = check_selector(c, ctx, &format!("{path}.a"), &ch.a, true);
        let b = check_selector(c, ctx, &format!("{path}.b"), &ch.b, true);
        if a.pairs.is_empty() && a.k.is_none() {
            c.err(
                &format!("{path}.a"),
                "`a` picks nothing",
                Some("give the axis values of one side, e.g. `a: {load: heavy}`".into()),
            );
        }
        if b.pairs.is_empty() && b.k.is_none() {
            c.err(
                &format!("{path}.b"),
                "`b` picks nothing",
                Some("give the axis values of the other side, e.g. `b: {load: none}`".into()),
            );
        }
        if a.pairs == b.pairs && a.k == b.k && !a.pairs.is_empty() {
            c.err(
                &path,
                "`a` and `b` pick the same cells",
                Some("a check compares two different conditions".into()),
            );
        }
        c.range(
            &format!("{path}.tolerance"),
            "`tolerance`",
            ch.tolerance,
            0.0,
            10.0,
        );
        c.range(
            &format!("{path}.alpha"),
            "`alpha`",
            ch.alpha,
            0.000_001,
            0.5,
        );
        out.push(CheckSpec {
            id: ch.id.clone(),
            title: ch.title.clone(),
            metric: ch.metric,
            kind: ch.kind,
            a,
            b,
            tolerance: ch.tolerance,
            alpha: ch.alpha,
            path,
        });
    }
    out
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    hex_digest(Sha256::digest(bytes).as_slice())
}

pub fn hex_digest(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
