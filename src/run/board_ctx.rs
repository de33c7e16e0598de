//! What the cell script needs to know about its board: the frequencies to
//! pin (as sysfs paths and values), the cores to bring online, core_ctl
//! settings to raise, and the files to read back; and, once the cell ran,
//! what it read back, checked against what it pinned.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::board::Topology;
use crate::board::freqplan::{FreqPlan, KgslFiles};
use crate::board::topology::GpuKind;

#[derive(Debug, Clone, Serialize)]
pub struct CpuPinCtx {
    pub policy: u32,
    pub name: String,
    pub khz: u64,
    pub userspace: bool,
    pub dir: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GpuPinCtx {
    pub kind: &'static str,
    pub dir: String,
    pub khz: u64,
    pub hz: u64,
    pub level: u32,
    /// kgsl: the files written (see `freqplan::KgslFiles`).
    pub devfreq: bool,
    pub pwrlevel: bool,
    pub force_clk_on: bool,
    pub idle_timer: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileCtx {
    pub cpu: u32,
    pub file: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CoreCtlCtx {
    pub cluster: String,
    pub file: String,
    pub value: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadCtx {
    pub key: String,
    pub file: String,
}

/// A knob the cell sets (kgsl, CPU idle states).
#[derive(Debug, Clone, Serialize)]
pub struct KnobCtx {
    pub name: String,
    pub file: String,
    pub value: String,
    /// The file lists choices, the selected one in brackets.
    pub choice: bool,
}

/// The board part of a cell script's context.
#[derive(Debug, Clone, Serialize)]
pub struct BoardCtx {
    pub knobs: Vec<KnobCtx>,
    pub cpu_pins: Vec<CpuPinCtx>,
    pub gpu_pin: Option<GpuPinCtx>,
    pub online: Vec<FileCtx>,
    pub core_ctl: Vec<CoreCtlCtx>,
    pub reads: Vec<ReadCtx>,
}

fn join(root: &Path, rel: &str) -> String {
    root.join(rel).to_string_lossy().into_owned()
}

fn kind_name(k: GpuKind) -> &'static str {
    match k {
        GpuKind::Kgsl => "kgsl",
        GpuKind::Mali => "mali",
        GpuKind::Devfreq => "devfreq",
    }
}

/// The file holding the GPU's current frequency, and its unit divisor to
/// kHz (kgsl and devfreq report Hz, Mali kHz).
fn gpu_cur(kind: GpuKind, path: &str) -> (String, u64) {
    match kind {
        GpuKind::Kgsl => (format!("{path}/gpuclk"), 1000),
        GpuKind::Mali => (format!("{path}/clock"), 1),
        GpuKind::Devfreq => (format!("{path}/cur_freq"), 1000),
    }
}

/// Builds the context for a cell that pins `plan` and loads `load_cores`.
pub fn build(sysfs: &Path, topo: &Topology, plan: &FreqPlan, load_cores: &[u32]) -> BoardCtx {
    let cpu_pins = plan
        .cpu
        .iter()
        .map(|p| CpuPinCtx {
            policy: p.policy,
            name: p.name.clone(),
            khz: p.khz,
            userspace: p.userspace,
            dir: join(
                sysfs,
                &format!("devices/system/cpu/cpufreq/policy{}", p.policy),
            ),
        })
        .collect();
    let gpu_pin = plan.gpu.as_ref().map(|g| {
        // A pin planned before klo-spec knew which kgsl files exist wrote
        // all of them.
        let k = g.kgsl.unwrap_or(KgslFiles {
            devfreq: true,
            pwrlevel: true,
            force_clk_on: true,
            idle_timer: true,
        });
        // A knob the scenario sets is written by itself (`knobs`).
        let set = |n: &str| plan.knobs.iter().any(|k| k.name == n);
        GpuPinCtx {
            kind: kind_name(g.kind),
            dir: join(sysfs, &g.path),
            khz: g.khz,
            hz: g.khz * 1000,
            level: g.level.unwrap_or(0),
            devfreq: k.devfreq,
            pwrlevel: k.pwrlevel,
            force_clk_on: k.force_clk_on && !set("force_clk_on"),
            idle_timer: k.idle_timer && !set("idle_timer"),
        }
    });
    // kgsl knobs live in the GPU's folder; the others name their file.
    let gpu_path = topo.gpu.as_ref().map(|g| g.path.as_str());
    let knobs = plan
        .knobs
        .iter()
        .filter_map(|k| {
            let rel = match (&k.file, gpu_path) {
                (Some(f), _) => f.clone(),
                (None, Some(g)) => format!("{g}/{}", k.name),
                (None, None) => return None,
            };
            Some(KnobCtx {
                name: k.name.clone(),
                file: join(sysfs, &rel),
                value: k.value.to_string(),
                choice: matches!(k.value, crate::board::freqplan::KnobValue::Choice(_)),
            })
        })
        .collect();
    let online = load_cores
        .iter()
        .filter(|c| topo.cores.get(c).is_some_and(|k| k.online.is_some()))
        .map(|c| FileCtx {
            cpu: *c,
            file: join(sysfs, &format!("devices/system/cpu/cpu{c}/online")),
        })
        .collect();
    // core_ctl isolates cores by itself: raise min_cpus of every cluster a
    // load runs on to the cluster's size for the cell.
    let mut core_ctl = Vec::new();
    for p in &topo.policies {
        if !p.cpus.iter().any(|c| load_cores.contains(c)) {
            continue;
        }
        for c in &p.cpus {
            if let Some(k) = topo.cores.get(c).filter(|k| k.core_ctl_min_cpus.is_some()) {
                core_ctl.push(CoreCtlCtx {
                    cluster: p.name.clone(),
                    file: join(
                        sysfs,
                        &format!("devices/system/cpu/cpu{c}/core_ctl/min_cpus"),
                    ),
                    value: k.core_ctl_max_cpus.unwrap_or(p.cpus.len() as u32),
                });
                break;
            }
        }
    }
    let mut reads: Vec<ReadCtx> = topo
        .policies
        .iter()
        .map(|p| ReadCtx {
            key: p.name.clone(),
            file: join(
                sysfs,
                &format!("devices/system/cpu/cpufreq/policy{}/scaling_cur_freq", p.id),
            ),
        })
        .collect();
    if let Some(g) = &topo.gpu {
        reads.push(ReadCtx {
            key: "gpu".into(),
            file: join(sysfs, &gpu_cur(g.kind, &g.path).0),
        });
    }
    BoardCtx {
        knobs,
        cpu_pins,
        gpu_pin,
        online,
        core_ctl,
        reads,
    }
}

/// Read-back values of `cell.status` (`freq_before.little=...`) in kHz.
pub fn readings(
    status: &BTreeMap<String, String>,
    when: &str,
    topo: &Topology,
) -> BTreeMap<String, u64> {
    let prefix = format!("freq_{when}.");
    let div = topo.gpu.as_ref().map_or(1, |g| gpu_cur(g.kind, &g.path).1);
    status
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(&prefix)?;
            let raw: u64 = v.trim().parse().ok()?;
            Some((key.to_string(), if key == "gpu" { raw / div } else { raw }))
        })
        .collect()
}

/// What is wrong with the frequencies read back, against the pins and a
/// tolerance in percent: one line per problem.
pub fn verify(
    plan: &FreqPlan,
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    tolerance_pct: f64,
) -> Vec<String> {
    let mut problems = Vec::new();
    let targets = plan
        .cpu
        .iter()
        .map(|p| (p.name.clone(), p.khz))
        .chain(plan.gpu.as_ref().map(|g| ("gpu".to_string(), g.khz)));
    for (key, want) in targets {
        for (when, reads) in [("before", before), ("after", after)] {
            match reads.get(&key) {
                None => problems.push(format!("{key}: no frequency read {when} the benchmark")),
                Some(&got) if (got as f64 - want as f64).abs() > want as f64 * tolerance_pct / 100.0 => problems.push(format!(
                    "{key}: {got} kHz {when} the benchmark, pinned to {want} kHz (a thermal or vendor limit?)"
                )),
                Some(_) => {}
            }
        }
    }
    problems
}

/// Clusters whose frequency changed during the benchmark (pinned or not).
pub fn changes(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> Vec<String> {
    before
        .iter()
        .filter_map(|(k, b)| {
            after
                .get(k)
                .filter(|a| *a != b)
                .map(|a| format!("{k} {b} -> {a} kHz"))
        })
        .collect()
}

/// What is wrong with the kgsl knobs read back before and after the
/// benchmark (`knob_before.<name>`, `knob_after.<name>`): one line each.
pub fn verify_knobs(plan: &FreqPlan, status: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for k in &plan.knobs {
        for when in ["before", "after"] {
            let got = status
                .get(&format!("knob_{when}.{}", k.name))
                .map(|v| v.trim());
            if !got.is_some_and(|g| k.value.matches(g)) {
                problems.push(format!(
                    "{}{}: read {} {when} the benchmark, set to {}",
                    if k.file.is_some() { "" } else { "kgsl " },
                    k.name,
                    got.map_or("nothing".to_string(), |g| format!("`{g}`")),
                    k.value
                ));
            }
        }
    }
    problems
}

/// One thermal zone the gate reads.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneCtx {
    /// `thermal_zoneN`: also a shell variable suffix and a status key.
    pub zone: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Its `temp` and `type` files on the board.
    pub file: String,
    pub type_file: String,
}

/// The thermal gate of a cell script.
#[derive(Debug, Clone, Serialize)]
pub struct ThermalCtx {
    pub zones: Vec<ZoneCtx>,
    /// `within_c`: limits are relative to the run's first reading.
    pub within: bool,
    pub within_mc: i64,
    /// `below_c`: the highest temperature allowed (m°C), the same for all.
    pub limit_mc: i64,
    pub poll_s: String,
    pub timeout_s: String,
    pub timeout_cs: u64,
    pub on_timeout: &'static str,
    /// Names the run's baseline file (letters, digits, `-`).
    pub run: String,
}

/// The zones of `topo` the scenario's gate reads.
pub fn thermal_zones<'a>(
    spec: &crate::scenario::ThermalSpec,
    topo: &'a Topology,
) -> Vec<&'a crate::board::topology::ThermalZone> {
    topo.zones_matching(&spec.matcher)
}

/// The thermal part of a cell script's context (None without a gate).
pub fn thermal(
    sysfs: &Path,
    topo: &Topology,
    spec: Option<&crate::scenario::ThermalSpec>,
    run: &str,
) -> Option<ThermalCtx> {
    use crate::scenario::ThermalLimit;
    let spec = spec?;
    let zones = thermal_zones(spec, topo)
        .into_iter()
        .map(|z| ZoneCtx {
            zone: format!("thermal_zone{}", z.id),
            kind: z.kind.clone(),
            file: join(sysfs, &format!("{}/temp", z.dir())),
            type_file: join(sysfs, &format!("{}/type", z.dir())),
        })
        .collect();
    let (within, within_mc, limit_mc) = match spec.limit {
        // Below B °C: at most B*1000 - 1 m°C.
        ThermalLimit::Below(b) => (false, 0, (b * 1000.0).ceil() as i64 - 1),
        ThermalLimit::Within(w) => (true, (w * 1000.0).round() as i64, 0),
    };
    Some(ThermalCtx {
        zones,
        within,
        within_mc,
        limit_mc,
        poll_s: format!("{:.3}", spec.poll_s),
        timeout_s: format!("{}", spec.timeout_s),
        timeout_cs: (spec.timeout_s * 100.0).round() as u64,
        on_timeout: match spec.on_timeout {
            crate::scenario::raw::ThermalTimeout::TooHot => "too_hot",
            crate::scenario::raw::ThermalTimeout::RunFlagged => "run_flagged",
        },
        run: run
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect(),
    })
}

/// What the gate recorded in `cell.status`, per zone.
pub fn thermal_record(
    status: &super::status::CellStatus,
    spec: &crate::scenario::ThermalSpec,
    topo: &Topology,
) -> crate::record::ThermalRecord {
    let c = |key: String| {
        status
            .readings
            .get(&key)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|m| m as f64 / 1000.0)
    };
    let zones = thermal_zones(spec, topo)
        .into_iter()
        .map(|z| {
            let name = format!("thermal_zone{}", z.id);
            crate::record::ZoneReading {
                limit_c: c(format!("thermal_limit_le.{name}")),
                gate_c: c(format!("temp_gate.{name}")),
                start_c: c(format!("temp_start.{name}")),
                end_c: c(format!("temp_end.{name}")),
                zone: name,
                kind: z.kind.clone(),
            }
        })
        .collect();
    crate::record::ThermalRecord {
        wait_s: status.thermal_wait_cs.map(|cs| cs as f64 / 100.0),
        flagged: status.thermal_flagged,
        zones,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::freqplan::CpuPin;

    #[test]
    fn verification_uses_the_tolerance_before_and_after() {
        let plan = FreqPlan {
            cpu: vec![CpuPin {
                policy: 4,
                name: "big".into(),
                khz: 1_000_000,
                userspace: false,
            }],
            gpu: None,
            left: Vec::new(),
            knobs: Vec::new(),
            stopped: Vec::new(),
        };
        let m = |v: u64| BTreeMap::from([("big".to_string(), v)]);
        assert!(verify(&plan, &m(1_000_000), &m(1_009_000), 1.0).is_empty());
        let p = verify(&plan, &m(1_000_000), &m(800_000), 1.0);
        assert_eq!(
            p,
            vec![
                "big: 800000 kHz after the benchmark, pinned to 1000000 kHz (a thermal or vendor limit?)"
            ]
        );
        assert_eq!(changes(&m(1), &m(2)), vec!["big 1 -> 2 kHz"]);
    }
}

/// A file the sampler reads each period into a shell variable.
#[derive(Debug, Clone, Serialize)]
pub struct SampledCtx {
    /// The variable (`s0`, `s1`, ...).
    pub var: String,
    pub file: String,
}

/// A file that may hold the GPU's busy figure, and how to read it:
/// `first` (its first field, up to an `@`: `12`, `12 %`, `12@600000000Hz`)
/// or `ratio` (two counters, busy and total: written `busy/total`).
#[derive(Debug, Clone, Serialize)]
pub struct BusyCtx {
    pub file: String,
    pub format: &'static str,
}

/// The sampler of a cell script.
#[derive(Debug, Clone, Serialize)]
pub struct SamplerCtx {
    /// Seconds between samples, for `sleep`.
    pub period_s: String,
    /// The CSV header line: `t_s` then one column per signal, each named
    /// with the unit the board reports it in (see `ingest::samples`).
    pub header: String,
    pub signals: Vec<SampledCtx>,
    /// Where the GPU's busy figure may be, in order: the first readable
    /// one is sampled (its column stays empty when none is).
    pub busy: Vec<BusyCtx>,
    /// The CSV line of one sample, from shell variables only.
    pub line: String,
}

/// A thermal zone's type as a column-name part: letters, digits, `_` and
/// `-`, at most 40 characters (`zone<N>` when nothing is left).
fn zone_label(id: u32, kind: &str) -> String {
    let mut l: String = kind
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if l.trim_matches('_').is_empty() {
        l = format!("zone{id}");
    }
    l
}

/// The sampler part of a cell script's context: every cpufreq policy's
/// `scaling_cur_freq`, the GPU's current frequency and busy figure, and
/// the thermal zones the scenario samples. None with `sampler: off`, or
/// on a board with none of these files (nothing to sample).
pub fn sampler(
    sysfs: &Path,
    topo: &Topology,
    spec: Option<&crate::scenario::SamplerSpec>,
) -> Option<SamplerCtx> {
    let spec = spec?;
    let mut names = vec!["t_s".to_string()];
    let mut files = Vec::new();
    for p in &topo.policies {
        names.push(format!("cpu_khz.{}", p.name));
        files.push(join(
            sysfs,
            &format!("devices/system/cpu/cpufreq/policy{}/scaling_cur_freq", p.id),
        ));
    }
    let mut busy = Vec::new();
    if let Some(g) = &topo.gpu {
        let (file, div) = gpu_cur(g.kind, &g.path);
        names.push(if div == 1 { "gpu_khz" } else { "gpu_hz" }.to_string());
        files.push(join(sysfs, &file));
        let candidates: &[(&str, &'static str)] = match g.kind {
            GpuKind::Kgsl => &[("gpu_busy_percentage", "first"), ("gpubusy", "ratio")],
            GpuKind::Devfreq => &[("load", "first")],
            GpuKind::Mali => &[("utilization", "first")],
        };
        busy = candidates
            .iter()
            .map(|(f, format)| BusyCtx {
                file: join(sysfs, &format!("{}/{f}", g.path)),
                format,
            })
            .collect();
    }
    let mut labels = std::collections::BTreeSet::new();
    let mut zones = Vec::new();
    for z in topo.thermal.iter().filter(|z| spec.samples_zone(&z.kind)) {
        let mut label = zone_label(z.id, &z.kind);
        if !labels.insert(label.clone()) {
            label = format!("{label}_{}", z.id);
            labels.insert(label.clone());
        }
        zones.push((
            format!("temp_mc.{label}"),
            join(sysfs, &format!("{}/temp", z.dir())),
        ));
    }
    if files.is_empty() && zones.is_empty() {
        return None;
    }
    let signals: Vec<SampledCtx> = files
        .into_iter()
        .chain(zones.iter().map(|z| z.1.clone()))
        .enumerate()
        .map(|(i, file)| SampledCtx {
            var: format!("s{i}"),
            file,
        })
        .collect();
    // Columns: time, CPU policies, GPU frequency, GPU busy, zones.
    let n_freq = names.len() - 1;
    let mut line = vec!["$t".to_string()];
    line.extend(signals[..n_freq].iter().map(|s| format!("${}", s.var)));
    if topo.gpu.is_some() {
        names.push("gpu_busy".into());
        line.push("$b".into());
    }
    names.extend(zones.into_iter().map(|z| z.0));
    line.extend(signals[n_freq..].iter().map(|s| format!("${}", s.var)));
    Some(SamplerCtx {
        period_s: format!("{:.3}", 1.0 / spec.rate_hz),
        header: names.join(","),
        signals,
        busy,
        line: line.join(","),
    })
}
