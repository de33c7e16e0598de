//! From a cell's `cpu_freq` and `gpu_freq` to what its script pins on a
//! board: one frequency per cpufreq policy, one for the GPU.
//!
//! Values: `min` and `max` are the lowest and highest available frequency;
//! a kHz value must be one of the available ones; `P%` is the available
//! frequency nearest to `min + P/100 x (max - min)` (a tie goes to the lower
//! one). `{all: v}` pins every cluster; named clusters (`little`, `big`,
//! `policy4`, ...) pin those, and every cluster not named must be declared
//! left alone with `others: keep`: never silently.

use serde::Serialize;

use super::topology::{GpuKind, KgslControl, Topology};
use crate::scenario::{CpuFreq, FreqValue, GpuFreq};

/// One policy pinned to one frequency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CpuPin {
    pub policy: u32,
    pub name: String,
    pub khz: u64,
    /// The userspace governor (and `scaling_setspeed`) is used too.
    pub userspace: bool,
}

/// The GPU pinned to one frequency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct GpuPin {
    pub kind: GpuKind,
    pub path: String,
    pub khz: u64,
    /// kgsl power level of that frequency (0 is the highest).
    pub level: Option<u32>,
    /// kgsl: which of its files the pin writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kgsl: Option<KgslFiles>,
}

/// The kgsl files a GPU pin writes: `devfreq/` (governor, min and max) and
/// the power levels where present, `force_clk_on` and `idle_timer` where
/// present. Without `devfreq/` the power levels alone pin the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KgslFiles {
    pub devfreq: bool,
    pub pwrlevel: bool,
    pub force_clk_on: bool,
    pub idle_timer: bool,
}

/// What a cell pins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FreqPlan {
    pub cpu: Vec<CpuPin>,
    pub gpu: Option<GpuPin>,
    /// Settings not applied, left at the board's current frequencies because
    /// the board cannot set them (`freq_unsupported: leave_current`), one
    /// line each: `cpu_freq {all: min}: board `local` has no cpufreq ...`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left: Vec<String>,
    /// Knobs set for the cell: kgsl (scenario `kgsl`), CPU idle states
    /// (`cpuidle`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub knobs: Vec<KnobPin>,
    /// Daemons stopped for the cell and started again after
    /// (`stop_daemons`), by service name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<String>,
}

/// A knob set to a value for the cell: a kgsl file (`force_clk_on`,
/// `idle_timer`, `bus_split`, under the GPU's folder) or a CPU idle state's
/// `disable` file (`cpuidle.cpu4.state2`, its path in `file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KnobPin {
    pub name: String,
    pub value: KnobValue,
    /// The file under the sysfs root, for knobs outside the GPU's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// A knob's value: a number, or a word chosen among those a file lists
/// (Mali's `power_policy`, which reads back as `coarse_demand [always_on]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum KnobValue {
    Number(u64),
    Choice(String),
}

impl std::fmt::Display for KnobValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KnobValue::Number(n) => write!(f, "{n}"),
            KnobValue::Choice(c) => f.write_str(c),
        }
    }
}

impl KnobValue {
    /// Whether `read_back` (what the file holds) shows this value: the
    /// number itself, or the word selected in brackets (or alone).
    pub fn matches(&self, read_back: &str) -> bool {
        let got = read_back.trim();
        match self {
            KnobValue::Number(n) => got == n.to_string(),
            KnobValue::Choice(c) => {
                got == c || super::topology::choices(got).1.as_deref() == Some(c.as_str())
            }
        }
    }
}

impl FreqPlan {
    /// True when the setting of `axis` (`cpu_freq`, `gpu_freq`) was left at
    /// the board's current value instead of being applied.
    pub fn left_unset(&self, axis: &str) -> bool {
        self.left
            .iter()
            .any(|l| l.split_once(' ').is_some_and(|(a, _)| a == axis))
    }
}

/// Why a setting cannot be applied on a board: message and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub message: String,
    pub hint: String,
    /// The board has no way to set this at all (no cpufreq, no GPU control,
    /// not root), as opposed to a value it does not have.
    pub unsupported: bool,
}

fn err(message: String, hint: impl Into<String>) -> PlanError {
    PlanError {
        message,
        hint: hint.into(),
        unsupported: false,
    }
}

fn unsupported(message: String, hint: impl Into<String>) -> PlanError {
    PlanError {
        unsupported: true,
        ..err(message, hint)
    }
}

fn list(freqs: &[u64]) -> String {
    freqs
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The available frequency a value means (see the module docs).
pub fn pick(value: FreqValue, freqs: &[u64], what: &str) -> Result<u64, PlanError> {
    let (Some(&lo), Some(&hi)) = (freqs.first(), freqs.last()) else {
        return Err(err(
            format!("{what} lists no available frequencies"),
            "run `klo-spec board probe` to see what the board reports",
        ));
    };
    match value {
        FreqValue::Min => Ok(lo),
        FreqValue::Max => Ok(hi),
        FreqValue::Khz(k) if freqs.contains(&k) => Ok(k),
        FreqValue::Khz(k) => Err(err(
            format!("{k} kHz is not an available frequency of {what}"),
            format!("available (kHz): {}", list(freqs)),
        )),
        FreqValue::Percent(p) => {
            let target = lo as f64 + (hi - lo) as f64 * p as f64 / 100.0;
            Ok(freqs
                .iter()
                .copied()
                .min_by(|a, b| {
                    ((*a as f64) - target)
                        .abs()
                        .total_cmp(&((*b as f64) - target).abs())
                        .then(a.cmp(b))
                })
                .unwrap_or(lo))
        }
        FreqValue::Keep => Err(err(
            format!("`keep` is not a frequency of {what}"),
            "write `current`, or name the clusters to set",
        )),
    }
}

/// The CPU pins of a `cpu_freq` setting on a board.
pub fn resolve_cpu(
    setting: &CpuFreq,
    topo: &Topology,
    board: &str,
) -> Result<Vec<CpuPin>, PlanError> {
    if setting.is_current() {
        return Ok(Vec::new());
    }
    let CpuFreq::Clusters(map) = setting else {
        return Ok(Vec::new());
    };
    if topo.policies.is_empty() {
        return Err(unsupported(
            format!("board `{board}` has no cpufreq policies: it cannot set CPU frequencies"),
            "use `cpu_freq: [current]` on this board (a VM or container has no cpufreq), or `freq_unsupported: leave_current` to run at the current setting and mark the cells",
        ));
    }
    if !topo.cpufreq_writable() {
        return Err(unsupported(
            match topo.why_denied("/cpufreq/") {
                Some(why) => format!("board `{board}` cannot write its cpufreq files: {why}"),
                None => format!("board `{board}` cannot write its cpufreq files (not root?)"),
            },
            "use `cpu_freq: [current]`, give the board a way to get root (`root: sudo` in the inventory), or `freq_unsupported: leave_current`",
        ));
    }
    let valid = topo.cluster_names().join(", ");
    let mut pins: Vec<CpuPin> = Vec::new();
    for (cluster, value) in map {
        if cluster == "others" {
            continue;
        }
        let targets: Vec<_> = if cluster == "all" {
            topo.policies.iter().collect()
        } else {
            match topo.policy(cluster) {
                Some(p) => vec![p],
                None => {
                    return Err(err(
                        format!("board `{board}` has no cluster `{cluster}`"),
                        format!("its clusters: {valid}"),
                    ));
                }
            }
        };
        for p in targets {
            if pins.iter().any(|q| q.policy == p.id) {
                return Err(err(
                    format!("cluster {} (policy{}) is named twice", p.name, p.id),
                    "name each cluster once",
                ));
            }
            let what = format!("{} (policy{}) on board `{board}`", p.name, p.id);
            pins.push(CpuPin {
                policy: p.id,
                name: p.name.clone(),
                khz: pick(*value, &p.frequencies, &what)?,
                userspace: p.userspace(),
            });
        }
    }
    let left: Vec<String> = topo
        .policies
        .iter()
        .filter(|p| !pins.iter().any(|q| q.policy == p.id))
        .map(|p| format!("{} (policy{})", p.name, p.id))
        .collect();
    if !left.is_empty() && !map.contains_key("others") {
        return Err(err(
            format!(
                "this setting leaves {} of board `{board}` at whatever the governor chooses",
                left.join(", ")
            ),
            "set those clusters too, or add `others: keep` to say they stay as they are",
        ));
    }
    pins.sort_by_key(|p| p.policy);
    Ok(pins)
}

/// The GPU pin of a `gpu_freq` setting on a board.
pub fn resolve_gpu(
    setting: &GpuFreq,
    topo: &Topology,
    board: &str,
) -> Result<Option<GpuPin>, PlanError> {
    let GpuFreq::Set(value) = setting else {
        return Ok(None);
    };
    let Some(gpu) = &topo.gpu else {
        return Err(unsupported(
            format!(
                "board `{board}` has no GPU frequency control that klo-spec knows (kgsl, Mali, devfreq)"
            ),
            "use `gpu_freq: [current]` on this board, or `freq_unsupported: leave_current` to run at the current setting and mark the cells",
        ));
    };
    let mut kgsl = None;
    if gpu.kind == GpuKind::Kgsl {
        let control = gpu.kgsl_control().map_err(|missing| {
            unsupported(
                format!(
                    "board `{board}`: its kgsl GPU can be pinned neither through devfreq/ nor through its power levels: missing {}",
                    missing.join(", ")
                ),
                "use `gpu_freq: [current]` on this board, or `freq_unsupported: leave_current`; `klo-spec board probe BOARD` lists the GPU files it finds (a reading kept with --write by an older klo-spec lists none: probe again)",
            )
        })?;
        let unwritable = gpu.unwritable();
        if !unwritable.is_empty() {
            return Err(unsupported(
                match topo.why_denied(&gpu.path) {
                    Some(why) => {
                        format!("board `{board}` cannot write its GPU frequency files: {why}")
                    }
                    None => format!(
                        "board `{board}` cannot write its GPU frequency files {} (not root?)",
                        unwritable.join(", ")
                    ),
                },
                "use `gpu_freq: [current]`, `root: sudo` in the inventory, or `freq_unsupported: leave_current`",
            ));
        }
        kgsl = Some(KgslFiles {
            devfreq: control == KgslControl::Devfreq,
            pwrlevel: ["max_pwrlevel", "min_pwrlevel"].iter().all(|f| gpu.has(f)),
            force_clk_on: gpu.has("force_clk_on"),
            idle_timer: gpu.has("idle_timer"),
        });
    }
    if !gpu.writable {
        return Err(unsupported(
            match topo.why_denied(&gpu.path) {
                Some(why) => format!("board `{board}` cannot write its GPU frequency files: {why}"),
                None => format!("board `{board}` cannot write its GPU frequency files (not root?)"),
            },
            "use `gpu_freq: [current]`, `root: sudo` in the inventory, or `freq_unsupported: leave_current`",
        ));
    }
    let khz = pick(
        *value,
        &gpu.frequencies,
        &format!("the GPU of board `{board}`"),
    )?;
    // Power level i runs at the i-th frequency of gpu_available_frequencies.
    let level = (gpu.kind == GpuKind::Kgsl).then(|| {
        gpu.levels
            .iter()
            .position(|f| *f == khz)
            .or_else(|| gpu.frequencies.iter().rev().position(|f| *f == khz))
            .unwrap_or(0) as u32
    });
    if let Some(k) = &kgsl
        && !k.devfreq
        && !gpu.levels.contains(&khz)
    {
        return Err(err(
            format!(
                "{khz} kHz is not the frequency of a power level of the GPU of board `{board}` (pinned through its power levels)"
            ),
            format!("power levels (kHz, level 0 first): {}", list(&gpu.levels)),
        ));
    }
    Ok(Some(GpuPin {
        kind: gpu.kind,
        path: gpu.path.clone(),
        khz,
        level,
        kgsl,
    }))
}

/// The idle-state pins of the scenario's `cpuidle` on a board: per cluster,
/// every state deeper than the one given is disabled (`disable` = 1) on
/// each of the cluster's cores. Err: the cluster key and why the board
/// cannot take it.
pub fn resolve_cpuidle(
    setting: &std::collections::BTreeMap<String, u32>,
    topo: &Topology,
    board: &str,
) -> Result<Vec<KnobPin>, (String, PlanError)> {
    let valid = topo.cluster_names().join(", ");
    let mut pins: Vec<KnobPin> = Vec::new();
    let mut done: Vec<u32> = Vec::new();
    for (cluster, deepest) in setting {
        let at = |e: PlanError| (cluster.clone(), e);
        let cpus = cluster_cpus(topo, board, cluster, &valid).map_err(at)?;
        for cpu in cpus {
            if done.contains(&cpu) {
                return Err(at(err(
                    format!("cpu{cpu} is named twice (by `{cluster}` and another key)"),
                    "name each cluster once",
                )));
            }
            done.push(cpu);
            pins.extend(cpu_idle_pins(topo, board, cpu, *deepest).map_err(at)?);
        }
    }
    Ok(pins)
}

/// The cores of a `cpuidle` key: a cluster's, or with `all` every core
/// (`valid`: the board's cluster names, for the hint).
fn cluster_cpus(
    topo: &Topology,
    board: &str,
    cluster: &str,
    valid: &str,
) -> Result<Vec<u32>, PlanError> {
    let policies: Vec<_> = if cluster == "all" {
        topo.policies.iter().collect()
    } else {
        match topo.policy(cluster) {
            Some(p) => vec![p],
            None if topo.policies.is_empty() => {
                return Err(err(
                    format!(
                        "board `{board}` has no cpufreq policies, so no clusters: `cpuidle.{cluster}` cannot be placed"
                    ),
                    "use `cpuidle: {all: N}` on this board",
                ));
            }
            None => {
                return Err(err(
                    format!("board `{board}` has no cluster `{cluster}`"),
                    format!("its clusters: {valid}"),
                ));
            }
        }
    };
    // `all` on a board without cpufreq: every core the probe saw.
    Ok(if policies.is_empty() {
        topo.cores.keys().copied().collect()
    } else {
        policies
            .iter()
            .flat_map(|p| p.cpus.iter().copied())
            .collect()
    })
}

/// The pins that disable the idle states of core `cpu` deeper than
/// `deepest`.
fn cpu_idle_pins(
    topo: &Topology,
    board: &str,
    cpu: u32,
    deepest: u32,
) -> Result<Vec<KnobPin>, PlanError> {
    let states = topo
        .cores
        .get(&cpu)
        .map(|c| c.idle.as_slice())
        .unwrap_or_default();
    if states.is_empty() {
        return Err(err(
            format!(
                "board `{board}` shows no idle states for cpu{cpu} (no devices/system/cpu/cpu{cpu}/cpuidle/state*)"
            ),
            format!(
                "leave `cpuidle` out for this board (a VM often has no cpuidle driver); `klo-spec board probe {board}` lists what it finds"
            ),
        ));
    }
    let deepest_there = states.iter().map(|s| s.index).max().unwrap_or(0);
    if deepest > deepest_there {
        return Err(err(
            format!(
                "cpu{cpu} has idle states 0-{deepest_there}: state{deepest} is not one of them"
            ),
            format!("give 0-{deepest_there} (0 keeps only the shallowest state)"),
        ));
    }
    let mut pins = Vec::new();
    for s in states.iter().filter(|s| s.index > deepest) {
        let file = format!(
            "devices/system/cpu/cpu{cpu}/cpuidle/state{}/disable",
            s.index
        );
        if !s.has_disable || !s.writable {
            return Err(err(
                format!(
                    "board `{board}` cannot disable cpu{cpu}'s idle state {} ({}): {file} is {}",
                    s.index,
                    s.name,
                    if s.has_disable {
                        "not writable (not root?)"
                    } else {
                        "missing"
                    }
                ),
                "leave `cpuidle` out for this board, or give it root (`root:` in the inventory)",
            ));
        }
        pins.push(KnobPin {
            name: format!("cpuidle.cpu{cpu}.state{}", s.index),
            value: KnobValue::Number(1),
            file: Some(file),
        });
    }
    Ok(pins)
}

/// A devfreq device's name as a knob name: what is not a letter, digit,
/// `_`, `-` or `.` becomes `_` (device names come from the board).
fn knob_word(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The pins of the scenario's `devfreq` on a board: each matching device
/// (the GPU's left out: `gpu_freq` pins it) gets `min_freq` = `max_freq` =
/// the value, written in an order the kernel accepts (raising: maximum
/// first). Err: the glob and why the board cannot take it.
pub fn resolve_devfreq(
    setting: &[(String, FreqValue, globset::GlobMatcher)],
    topo: &Topology,
    board: &str,
) -> Result<Vec<KnobPin>, (String, PlanError)> {
    let gpu = topo.gpu.as_ref().map(|g| g.path.as_str());
    let mut pins = Vec::new();
    let mut taken: Vec<&str> = Vec::new();
    for (glob, value, matcher) in setting {
        let devices: Vec<_> = topo
            .devfreq
            .iter()
            .filter(|d| matcher.is_match(&d.name))
            .filter(|d| gpu != Some(format!("class/devfreq/{}", d.name).as_str()))
            .collect();
        if devices.is_empty() {
            let names: Vec<&str> = topo.devfreq.iter().map(|d| d.name.as_str()).collect();
            return Err((
                glob.clone(),
                err(
                    format!(
                        "board `{board}` has no devfreq device matching `{glob}` (the GPU's is left to `gpu_freq`)"
                    ),
                    if names.is_empty() {
                        "it has no class/devfreq devices: leave `devfreq` out for this board"
                            .to_string()
                    } else {
                        format!("its devfreq devices: {}", names.join(", "))
                    },
                ),
            ));
        }
        for d in devices {
            if taken.contains(&d.name.as_str()) {
                return Err((
                    glob.clone(),
                    err(
                        format!("devfreq device `{}` is matched by two globs", d.name),
                        "make the globs match each device once",
                    ),
                ));
            }
            taken.push(&d.name);
            if !d.writable {
                return Err((
                    glob.clone(),
                    err(
                        format!(
                            "board `{board}` cannot write class/devfreq/{}/min_freq and max_freq (not root?)",
                            d.name
                        ),
                        "leave the device out, or give the board root (`root:` in the inventory)",
                    ),
                ));
            }
            let v = pick(
                *value,
                &d.available,
                &format!("devfreq device `{}`", d.name),
            )
            .map_err(|e| (glob.clone(), e))?;
            let dir = format!("class/devfreq/{}", d.name);
            let word = knob_word(&d.name);
            let knob = |f: &str| KnobPin {
                name: format!("devfreq.{word}.{f}"),
                value: KnobValue::Number(v),
                file: Some(format!("{dir}/{f}")),
            };
            if d.max.is_some_and(|m| v > m) {
                pins.extend([knob("max_freq"), knob("min_freq")]);
            } else {
                pins.extend([knob("min_freq"), knob("max_freq")]);
            }
        }
    }
    Ok(pins)
}

/// The knob pin of the scenario's `mali.power_policy` on a board, or why
/// the board cannot take it.
pub fn resolve_mali(
    knobs: &crate::scenario::raw::MaliKnobs,
    topo: &Topology,
    board: &str,
) -> Result<Vec<KnobPin>, PlanError> {
    let Some(policy) = &knobs.power_policy else {
        return Ok(Vec::new());
    };
    let Some(gpu) = topo.gpu.as_ref().filter(|g| g.kind == GpuKind::Mali) else {
        return Err(err(
            format!("board `{board}` has no Mali GPU: `mali.power_policy` cannot be set there"),
            "leave `mali` out, or run this scenario on Mali boards only",
        ));
    };
    let file = format!("{}/power_policy", gpu.path);
    if gpu.power_policies.is_empty() {
        return Err(err(
            format!("board `{board}` has no {file}: its Mali driver offers no power policies"),
            format!(
                "leave `mali.power_policy` out for this board (`klo-spec board probe {board}` shows what it finds)"
            ),
        ));
    }
    if !gpu.power_policies.contains(policy) {
        return Err(err(
            format!("board `{board}` offers no power policy `{policy}`"),
            format!("its power policies: {}", gpu.power_policies.join(", ")),
        ));
    }
    if !gpu.power_policy_writable {
        return Err(err(
            format!("board `{board}` cannot write {file} (not root?)"),
            "leave `mali.power_policy` out for this board, or give it root (`root:` in the inventory)",
        ));
    }
    Ok(vec![KnobPin {
        name: "power_policy".into(),
        value: KnobValue::Choice(policy.clone()),
        file: Some(file),
    }])
}

/// The knob pins of the scenario's `kgsl` on a board, or the knob the
/// board cannot take and why.
pub fn resolve_knobs(
    knobs: &crate::scenario::raw::KgslKnobs,
    topo: &Topology,
    board: &str,
) -> Result<Vec<KnobPin>, (&'static str, PlanError)> {
    let mut pins = Vec::new();
    for (name, value) in knobs.given() {
        let Some(gpu) = topo.gpu.as_ref().filter(|g| g.kind == GpuKind::Kgsl) else {
            return Err((
                name,
                err(
                    format!("board `{board}` has no kgsl GPU: `kgsl.{name}` cannot be set there"),
                    "leave `kgsl` out, or run this scenario on Adreno (kgsl) boards only",
                ),
            ));
        };
        if !gpu.has(name) {
            return Err((
                name,
                err(
                    format!(
                        "board `{board}` has no {}: its kgsl does not offer `{name}`",
                        gpu.file_path(name)
                    ),
                    format!(
                        "leave `kgsl.{name}` out for this board (`klo-spec board probe {board}` lists the kgsl files it finds)"
                    ),
                ),
            ));
        }
        if gpu
            .files
            .as_ref()
            .is_some_and(|f| f.get(name) == Some(&false))
        {
            return Err((
                name,
                unsupported(
                    format!(
                        "board `{board}` cannot write {} (not root?)",
                        gpu.file_path(name)
                    ),
                    "give the board a way to get root (`root: sudo` in the inventory), or leave `kgsl` out",
                ),
            ));
        }
        pins.push(KnobPin {
            name: name.to_string(),
            value: KnobValue::Number(value.into()),
            file: None,
        });
    }
    Ok(pins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_pick_available_frequencies() {
        let f = [300000, 600000, 900000, 1800000];
        assert_eq!(pick(FreqValue::Min, &f, "x").unwrap(), 300000);
        assert_eq!(pick(FreqValue::Max, &f, "x").unwrap(), 1800000);
        assert_eq!(pick(FreqValue::Khz(900000), &f, "x").unwrap(), 900000);
        let e = pick(FreqValue::Khz(1000000), &f, "x").unwrap_err();
        assert_eq!(e.hint, "available (kHz): 300000, 600000, 900000, 1800000");
        // 50% of 300000..1800000 is 1050000: 900000 is nearer than 1800000.
        assert_eq!(pick(FreqValue::Percent(50), &f, "x").unwrap(), 900000);
        // 20% is 600000 exactly; 0% and 100% are min and max.
        assert_eq!(pick(FreqValue::Percent(20), &f, "x").unwrap(), 600000);
        assert_eq!(pick(FreqValue::Percent(0), &f, "x").unwrap(), 300000);
        assert_eq!(pick(FreqValue::Percent(100), &f, "x").unwrap(), 1800000);
        // A tie goes to the lower frequency: 45% of 0..200 is 90, between 80 and 100.
        assert_eq!(
            pick(FreqValue::Percent(45), &[0, 80, 100, 200], "x").unwrap(),
            80
        );
    }
}
