//! A board's CPU and GPU topology, as `templates/probe.sh.j2` reads it:
//! online cores, cpufreq policies (clusters, named little/mid/big/prime by
//! maximum frequency), the GPU (kgsl, Mali on Exynos, generic devfreq) and
//! whether klo-spec may write them. All frequencies are kHz here (kgsl and
//! devfreq report Hz; they are converted).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::parse_cpu_list;
use crate::output::Table;

/// One cpufreq policy: a cluster of cores sharing a clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// N of `policyN`.
    pub id: u32,
    /// little, mid, big or prime (by maximum frequency).
    pub name: String,
    pub cpus: Vec<u32>,
    /// Available frequencies, ascending, kHz.
    pub frequencies: Vec<u64>,
    pub governors: Vec<String>,
    pub governor: String,
    pub min_khz: u64,
    pub max_khz: u64,
    pub cur_khz: Option<u64>,
    pub has_setspeed: bool,
    pub writable: bool,
}

impl Policy {
    /// The folder of this policy under the sysfs root.
    pub fn dir(&self) -> String {
        format!("devices/system/cpu/cpufreq/policy{}", self.id)
    }

    pub fn userspace(&self) -> bool {
        self.has_setspeed && self.governors.iter().any(|g| g == "userspace")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuKind {
    /// Adreno through kgsl (`class/kgsl/kgsl-3d0`).
    Kgsl,
    /// Mali on Exynos (`class/misc/mali0/device`, dvfs locks).
    Mali,
    /// A generic devfreq device (`class/devfreq/<dev>`).
    Devfreq,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    pub kind: GpuKind,
    /// The GPU's folder under the sysfs root.
    pub path: String,
    /// Available frequencies, ascending, kHz.
    pub frequencies: Vec<u64>,
    pub cur_khz: Option<u64>,
    pub governor: Option<String>,
    pub writable: bool,
    /// The GPU's folder on the board, sysfs root included (for messages).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dir: String,
    /// kgsl: the control files present (relative to `path`: `devfreq/max_freq`,
    /// `max_pwrlevel`, `force_clk_on`, ...), and whether each is writable.
    /// None in a reading kept by a klo-spec that did not list them: every
    /// file is taken as there, writable as `writable` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<BTreeMap<String, bool>>,
    /// kgsl: the frequency (kHz) of each power level, level 0 (the highest)
    /// first, as `gpu_available_frequencies` lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<u64>,
    /// Mali: the power policies `power_policy` offers, and the selected one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub power_policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_policy: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub power_policy_writable: bool,
}

/// A file that lists choices with the selected one in brackets
/// (`coarse_demand [always_on]`): the choices, and the selected one.
pub fn choices(text: &str) -> (Vec<String>, Option<String>) {
    let mut all = Vec::new();
    let mut selected = None;
    for w in text.split_whitespace() {
        match w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
            Some(inner) => {
                selected = Some(inner.to_string());
                all.push(inner.to_string());
            }
            None => all.push(w.to_string()),
        }
    }
    (all, selected)
}

/// How a kgsl GPU is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KgslControl {
    /// `devfreq/{governor,min_freq,max_freq}` (and the power levels too,
    /// where they exist).
    Devfreq,
    /// `max_pwrlevel`/`min_pwrlevel` only: a kgsl without `devfreq/`.
    Pwrlevel,
}

const KGSL_DEVFREQ: [&str; 3] = ["devfreq/governor", "devfreq/min_freq", "devfreq/max_freq"];
const KGSL_PWRLEVEL: [&str; 2] = ["max_pwrlevel", "min_pwrlevel"];

impl Gpu {
    /// The board path of a file of the GPU's folder.
    pub fn file_path(&self, rel: &str) -> String {
        let dir = if self.dir.is_empty() {
            &self.path
        } else {
            &self.dir
        };
        format!("{dir}/{rel}")
    }

    /// kgsl: whether the file exists.
    pub fn has(&self, rel: &str) -> bool {
        self.files.as_ref().is_none_or(|f| f.contains_key(rel))
    }

    /// kgsl: how it can be pinned, or the board paths of the files missing
    /// for either way (devfreq/ and the power levels; the power levels also
    /// need `gpu_available_frequencies` to know their frequencies).
    pub fn kgsl_control(&self) -> Result<KgslControl, Vec<String>> {
        if KGSL_DEVFREQ.iter().all(|f| self.has(f)) {
            return Ok(KgslControl::Devfreq);
        }
        if KGSL_PWRLEVEL.iter().all(|f| self.has(f)) && !self.levels.is_empty() {
            return Ok(KgslControl::Pwrlevel);
        }
        // No devfreq file at all: the folder is named, not its files.
        let devfreq: Vec<&str> = if KGSL_DEVFREQ.iter().any(|f| self.has(f)) {
            KGSL_DEVFREQ.to_vec()
        } else {
            vec!["devfreq/"]
        };
        let mut missing: Vec<String> = devfreq
            .into_iter()
            .chain(KGSL_PWRLEVEL)
            .filter(|f| !self.has(f))
            .map(|f| self.file_path(f))
            .collect();
        if self.levels.is_empty() {
            missing.push(self.file_path("gpu_available_frequencies"));
        }
        Err(missing)
    }

    /// The board paths of the files a pin writes that cannot be written.
    pub fn unwritable(&self) -> Vec<String> {
        let needed: &[&str] = match self.kgsl_control() {
            Ok(KgslControl::Devfreq) => &KGSL_DEVFREQ,
            Ok(KgslControl::Pwrlevel) => &KGSL_PWRLEVEL,
            Err(_) => &[],
        };
        needed
            .iter()
            .filter(|f| {
                self.files
                    .as_ref()
                    .map_or(!self.writable, |m| m.get(**f) == Some(&false))
            })
            .map(|f| self.file_path(f))
            .collect()
    }
}

/// Per core: hotplug and core_ctl.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Core {
    /// `cpuN/online`: None when the core has no such file (often cpu0).
    pub online: Option<bool>,
    pub online_writable: bool,
    pub core_ctl_min_cpus: Option<u32>,
    pub core_ctl_max_cpus: Option<u32>,
    /// Its idle states (`cpuN/cpuidle/stateM`), by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idle: Vec<IdleState>,
}

/// One CPU idle state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleState {
    /// M of `stateM`.
    pub index: u32,
    /// Its `name` (`WFI`, `C1`, `cpu-sleep-0`, ...).
    pub name: String,
    /// Whether its `disable` file exists and may be written.
    pub writable: bool,
    /// Whether it has a `disable` file at all.
    pub has_disable: bool,
}

/// A thermal zone (`class/thermal/thermal_zoneN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThermalZone {
    /// N of `thermal_zoneN`.
    pub id: u32,
    /// Its `type` (`cpu-0-0`, `gpu`, `battery`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its temperature when probed, millidegrees Celsius.
    pub temp_mc: Option<i64>,
}

impl ThermalZone {
    /// The folder of this zone under the sysfs root.
    pub fn dir(&self) -> String {
        format!("class/thermal/thermal_zone{}", self.id)
    }
}

/// What `board probe` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub online: Vec<u32>,
    pub present: Vec<u32>,
    pub policies: Vec<Policy>,
    pub cores: BTreeMap<u32, Core>,
    pub gpu: Option<Gpu>,
    /// Thermal zones, by number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thermal: Vec<ThermalZone>,
    /// Devfreq devices (`class/devfreq/*`), the GPU's included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devfreq: Vec<DevfreqDevice>,
    /// Control files (frequency limits, cores' `online`, GPU locks) the
    /// board's scripts cannot write, each with the reason, in path order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<Denied>,
}

/// A devfreq device: a memory bus, DDR, an interconnect, a GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevfreqDevice {
    /// Its folder's name under `class/devfreq/`.
    pub name: String,
    /// `available_frequencies`, ascending, in the device's own unit.
    pub available: Vec<u64>,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub cur: Option<u64>,
    pub governor: Option<String>,
    pub writable: bool,
}

/// A control file the scripts cannot write, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denied {
    /// The file on the board.
    pub path: String,
    /// `permission denied: ...`, or SELinux enforcing, or what else the
    /// probe could tell.
    pub reason: String,
}

/// Why the probe's user (`uid`, under SELinux mode `selinux`) cannot write
/// a file of owner and mode `stat` (`0 644`).
fn denied_reason(uid: Option<u32>, selinux: Option<&str>, stat: &str) -> String {
    let mut w = stat.split_whitespace();
    let owner: Option<u32> = w.next().and_then(|o| o.parse().ok());
    let mode = w.next().and_then(|m| u32::from_str_radix(m, 8).ok());
    let enforcing = selinux.is_some_and(|s| s.eq_ignore_ascii_case("enforcing"));
    let (Some(uid), Some(owner), Some(mode)) = (uid, owner, mode) else {
        return match (uid, enforcing) {
            (Some(u), true) => format!("not writable as uid {u}; SELinux is enforcing"),
            (Some(u), false) => format!("not writable as uid {u}"),
            (None, _) => "not writable".into(),
        };
    };
    let allowed = uid == 0 || (owner == uid && mode & 0o200 != 0) || mode & 0o002 != 0;
    if !allowed {
        return format!(
            "permission denied: the scripts run as uid {uid} and the file is uid {owner}'s, mode {mode:o} (a root method in the inventory: `root:`)"
        );
    }
    if enforcing {
        return format!(
            "refused although {} and mode {mode:o} allow it: SELinux is enforcing (getenforce), and its policy refuses this file to the scripts' domain",
            if uid == 0 {
                "root".to_string()
            } else {
                format!("uid {uid}")
            }
        );
    }
    format!(
        "refused although {} and mode {mode:o} allow it (a read-only or immutable file{})",
        if uid == 0 {
            "root".to_string()
        } else {
            format!("uid {uid}")
        },
        if selinux.is_some() {
            "; SELinux is not enforcing"
        } else {
            ""
        }
    )
}

fn numbers(s: &str) -> Vec<u64> {
    s.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// Cluster names by rank of maximum frequency, for `n` clusters.
fn cluster_names(n: usize) -> Vec<String> {
    match n {
        0 => vec![],
        1 => vec!["big".into()],
        2 => vec!["little".into(), "big".into()],
        3 => vec!["little".into(), "big".into(), "prime".into()],
        _ => {
            let mut v = vec!["little".to_string()];
            v.extend((1..n - 2).map(|i| {
                if n == 4 {
                    "mid".to_string()
                } else {
                    format!("mid{i}")
                }
            }));
            v.push("big".into());
            v.push("prime".into());
            v
        }
    }
}

/// The probe script's output: each `KEY=VALUE` line, trimmed.
type Kv<'a> = BTreeMap<&'a str, &'a str>;

/// `denied.PATH=STAT`: the control files that cannot be written, and why.
fn parse_denied(kv: &Kv) -> Vec<Denied> {
    let uid = kv.get("uid").and_then(|u| u.parse().ok());
    let selinux = kv.get("selinux").copied().filter(|s| !s.is_empty());
    kv.iter()
        .filter_map(|(k, v)| {
            Some(Denied {
                path: k.strip_prefix("denied.")?.to_string(),
                reason: denied_reason(uid, selinux, v),
            })
        })
        .collect()
}

/// `policyN.FIELD`: the cpufreq policies by id, named by their rank in
/// maximum frequency.
fn parse_policies(kv: &Kv) -> Vec<Policy> {
    let mut ids: Vec<u32> = kv
        .keys()
        .filter_map(|k| k.strip_prefix("policy")?.split_once('.')?.0.parse().ok())
        .collect();
    ids.dedup();
    let mut policies: Vec<Policy> = ids.into_iter().map(|id| parse_policy(kv, id)).collect();
    policies.sort_by_key(|p| p.id);
    let mut by_max: Vec<usize> = (0..policies.len()).collect();
    by_max.sort_by_key(|&i| (policies[i].max_khz, policies[i].id));
    for (rank, name) in cluster_names(by_max.len()).into_iter().enumerate() {
        policies[by_max[rank]].name = name;
    }
    policies
}

/// The policy `id`, still unnamed.
fn parse_policy(kv: &Kv, id: u32) -> Policy {
    let g = |f: &str| kv.get(format!("policy{id}.{f}").as_str()).copied();
    let mut frequencies = g("scaling_available_frequencies")
        .map(numbers)
        .unwrap_or_default();
    if frequencies.is_empty() {
        frequencies = g("time_in_state").map(numbers).unwrap_or_default();
    }
    let min = g("cpuinfo_min_freq")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let max = g("cpuinfo_max_freq")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if frequencies.is_empty() {
        frequencies = [min, max].into_iter().filter(|f| *f > 0).collect();
    }
    frequencies.sort_unstable();
    frequencies.dedup();
    Policy {
        id,
        name: String::new(),
        cpus: g("related_cpus")
            .map(|v| numbers(v).into_iter().map(|c| c as u32).collect())
            .unwrap_or_default(),
        governors: g("scaling_available_governors")
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        governor: g("scaling_governor").unwrap_or("").to_string(),
        min_khz: min,
        max_khz: max,
        cur_khz: g("scaling_cur_freq").and_then(|v| v.parse().ok()),
        has_setspeed: g("has_setspeed").is_some(),
        writable: g("writable").is_some(),
        frequencies,
    }
}

/// `thermal_zoneN.type` and `.temp`: the thermal zones by id.
fn parse_thermal(kv: &Kv) -> Vec<ThermalZone> {
    let mut thermal: Vec<ThermalZone> = Vec::new();
    for (k, v) in kv {
        let Some((id, field)) = k
            .strip_prefix("thermal_zone")
            .and_then(|r| r.split_once('.'))
        else {
            continue;
        };
        let Ok(id) = id.parse::<u32>() else { continue };
        if !thermal.iter().any(|z| z.id == id) {
            thermal.push(ThermalZone {
                id,
                kind: String::new(),
                temp_mc: None,
            });
        }
        let z = thermal.iter_mut().find(|z| z.id == id).expect("added");
        match field {
            "type" => z.kind = v.to_string(),
            "temp" => z.temp_mc = v.parse().ok(),
            _ => {}
        }
    }
    thermal.sort_by_key(|z| z.id);
    thermal
}

/// `devfreqN.FIELD`, from 0 until a number has no `name`.
fn parse_devfreq(kv: &Kv) -> Vec<DevfreqDevice> {
    let mut devfreq = Vec::new();
    for i in 0.. {
        let key = |f: &str| format!("devfreq{i}.{f}");
        let Some(name) = kv.get(key("name").as_str()) else {
            break;
        };
        let num = |f: &str| kv.get(key(f).as_str()).and_then(|v| v.parse::<u64>().ok());
        let mut available = kv
            .get(key("available").as_str())
            .map(|v| numbers(v))
            .unwrap_or_default();
        available.sort_unstable();
        available.dedup();
        devfreq.push(DevfreqDevice {
            name: name.to_string(),
            available,
            min: num("min"),
            max: num("max"),
            cur: num("cur"),
            governor: kv.get(key("governor").as_str()).map(|g| g.to_string()),
            writable: kv.contains_key(key("writable").as_str()),
        });
    }
    devfreq
}

/// `cpuN.FIELD`: each core's idle states, hotplug and core_ctl settings.
fn parse_cores(kv: &Kv, cores: &mut BTreeMap<u32, Core>) {
    for k in kv.keys() {
        let Some(rest) = k.strip_prefix("cpu") else {
            continue;
        };
        let Some((n, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(cpu) = n.parse::<u32>() else { continue };
        let core = cores.entry(cpu).or_default();
        let v = kv[k];
        if let Some(state) = field.strip_prefix("idle.state") {
            let Ok(index) = state.parse::<u32>() else {
                continue;
            };
            let (access, name) = v.split_once('|').unwrap_or((v, ""));
            core.idle.push(IdleState {
                index,
                name: name.to_string(),
                writable: access == "rw",
                has_disable: access != "none",
            });
            core.idle.sort_by_key(|s| s.index);
            continue;
        }
        match field {
            "online" => core.online = Some(v == "1"),
            "online_writable" => core.online_writable = true,
            "core_ctl_min_cpus" => core.core_ctl_min_cpus = v.parse().ok(),
            "core_ctl_max_cpus" => core.core_ctl_max_cpus = v.parse().ok(),
            _ => {}
        }
    }
}

/// `gpu.FIELD`: the GPU of kind `kind` (`gpu.kind`).
fn parse_gpu(kv: &Kv, kind: &str) -> Gpu {
    let kind = match kind {
        "kgsl" => GpuKind::Kgsl,
        "mali" => GpuKind::Mali,
        _ => GpuKind::Devfreq,
    };
    let (mut frequencies, cur) = match kind {
        GpuKind::Mali => (
            kv.get("gpu.available_khz")
                .map(|v| numbers(v))
                .unwrap_or_default(),
            kv.get("gpu.cur_khz").and_then(|v| v.parse().ok()),
        ),
        _ => (
            kv.get("gpu.available_hz")
                .map(|v| numbers(v).into_iter().map(|hz| hz / 1000).collect())
                .unwrap_or_default(),
            kv.get("gpu.cur_hz")
                .and_then(|v| v.parse::<u64>().ok())
                .map(|hz| hz / 1000),
        ),
    };
    frequencies.sort_unstable();
    frequencies.dedup();
    let files: BTreeMap<String, bool> = kv
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("gpu.file.")?.to_string(), *v == "rw")))
        .collect();
    let files = (kind == GpuKind::Kgsl).then_some(files);
    let levels: Vec<u64> = kv
        .get("gpu.levels_hz")
        .map(|v| numbers(v).into_iter().map(|hz| hz / 1000).collect())
        .unwrap_or_default();
    let mut gpu = Gpu {
        kind,
        path: kv.get("gpu.path").unwrap_or(&"").to_string(),
        frequencies,
        cur_khz: cur,
        governor: kv.get("gpu.governor").map(|g| g.to_string()),
        writable: kv.contains_key("gpu.writable"),
        dir: kv.get("gpu.dir").unwrap_or(&"").to_string(),
        files,
        levels,
        power_policies: Vec::new(),
        power_policy: None,
        power_policy_writable: kv.contains_key("gpu.power_policy_writable"),
    };
    if let Some(text) = kv.get("gpu.power_policy") {
        (gpu.power_policies, gpu.power_policy) = choices(text);
    }
    if kind == GpuKind::Kgsl {
        gpu.writable = gpu.kgsl_control().is_ok() && gpu.unwritable().is_empty();
    }
    gpu
}

impl Topology {
    /// Parses the probe script's output. Fails only when the script did not
    /// finish (no `probe=done` line).
    pub fn parse(text: &str) -> Result<Topology, String> {
        let kv: Kv = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        if kv.get("probe") != Some(&"done") {
            return Err("the probe script did not finish".into());
        }
        let list = |k: &str| {
            kv.get(k)
                .and_then(|v| parse_cpu_list(v))
                .unwrap_or_default()
        };
        let mut t = Topology {
            online: list("online"),
            present: list("present"),
            ..Topology::default()
        };
        if t.present.is_empty() {
            t.present = list("possible");
        }
        t.denied = parse_denied(&kv);
        t.policies = parse_policies(&kv);
        t.thermal = parse_thermal(&kv);
        t.devfreq = parse_devfreq(&kv);
        parse_cores(&kv, &mut t.cores);
        if let Some(kind) = kv.get("gpu.kind") {
            t.gpu = Some(parse_gpu(&kv, kind));
        }
        Ok(t)
    }

    /// Every policy can be written (root, or a fixture).
    /// `PATH: REASON` for the first control file that cannot be written
    /// whose path has `part` in it, if the probe said why.
    pub fn why_denied(&self, part: &str) -> Option<String> {
        self.denied
            .iter()
            .find(|d| d.path.contains(part))
            .map(|d| format!("{}: {}", d.path, d.reason))
    }

    pub fn cpufreq_writable(&self) -> bool {
        !self.policies.is_empty() && self.policies.iter().all(|p| p.writable)
    }

    /// The policy with this cluster name (`big`) or number (`policy4`).
    pub fn policy(&self, cluster: &str) -> Option<&Policy> {
        match cluster
            .strip_prefix("policy")
            .and_then(|n| n.parse::<u32>().ok())
        {
            Some(id) => self.policies.iter().find(|p| p.id == id),
            None => self.policies.iter().find(|p| p.name == cluster),
        }
    }

    /// Valid cluster names on this board, for messages.
    pub fn cluster_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.policies.iter().map(|p| p.name.clone()).collect();
        v.extend(self.policies.iter().map(|p| format!("policy{}", p.id)));
        v
    }

    /// The cores the kernel knows (present), or the online ones.
    pub fn all_cores(&self) -> Vec<u32> {
        if self.present.is_empty() {
            self.online.clone()
        } else {
            self.present.clone()
        }
    }

    /// The thermal zones whose type matches a glob (`cpu*`), by number.
    pub fn zones_matching(&self, glob: &globset::GlobMatcher) -> Vec<&ThermalZone> {
        self.thermal
            .iter()
            .filter(|z| glob.is_match(&z.kind))
            .collect()
    }

    /// The CPU idle states as a table for `board probe`: per core, its
    /// states (`0 WFI, 1 retention, 2 power-collapse`) and whether their
    /// `disable` files may be written (for `cpuidle`).
    pub fn idle_table(&self) -> Table {
        let mut t = Table::new(&["cpu", "idle_states", "writable"]);
        for (cpu, core) in &self.cores {
            if core.idle.is_empty() {
                continue;
            }
            let states: Vec<String> = core
                .idle
                .iter()
                .map(|s| format!("{} {}", s.index, s.name))
                .collect();
            t.rows.push(vec![
                format!("cpu{cpu}"),
                states.join(", "),
                if core.idle.iter().all(|s| s.writable) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]);
        }
        t
    }

    /// The devfreq devices as a table for `board probe`.
    pub fn devfreq_table(&self) -> Table {
        let mut t = Table::new(&[
            "devfreq",
            "governor",
            "min",
            "max",
            "cur",
            "available",
            "writable",
        ]);
        let n = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        for d in &self.devfreq {
            t.rows.push(vec![
                d.name.clone(),
                d.governor.clone().unwrap_or_default(),
                n(d.min),
                n(d.max),
                n(d.cur),
                d.available.len().to_string(),
                if d.writable {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]);
        }
        t
    }

    /// The thermal zones as a table for `board probe`.
    pub fn thermal_table(&self) -> Table {
        let mut t = Table::new(&["zone", "type", "temp_c"]);
        for z in &self.thermal {
            t.rows.push(vec![
                format!("thermal_zone{}", z.id),
                z.kind.clone(),
                z.temp_mc
                    .map(|m| format!("{:.1}", m as f64 / 1000.0))
                    .unwrap_or_default(),
            ]);
        }
        t
    }

    /// A table for `board probe`.
    pub fn table(&self) -> Table {
        let mut t = Table::new(&[
            "cluster",
            "policy",
            "cpus",
            "online",
            "governor",
            "min_khz",
            "max_khz",
            "cur_khz",
            "frequencies",
            "setspeed",
            "core_ctl",
            "writable",
        ]);
        for p in &self.policies {
            let online: Vec<u32> = p
                .cpus
                .iter()
                .copied()
                .filter(|c| self.online.contains(c))
                .collect();
            let ctl = p.cpus.iter().find_map(|c| {
                self.cores
                    .get(c)
                    .and_then(|k| k.core_ctl_min_cpus.zip(k.core_ctl_max_cpus))
            });
            t.rows.push(vec![
                p.name.clone(),
                format!("policy{}", p.id),
                super::format_cores(&p.cpus),
                super::format_cores(&online),
                p.governor.clone(),
                p.min_khz.to_string(),
                p.max_khz.to_string(),
                p.cur_khz.map(|c| c.to_string()).unwrap_or_default(),
                p.frequencies.len().to_string(),
                if p.has_setspeed {
                    "yes".into()
                } else {
                    "no".into()
                },
                ctl.map(|(a, b)| format!("min {a} max {b}"))
                    .unwrap_or_default(),
                if p.writable {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]);
        }
        if let Some(g) = &self.gpu {
            t.rows.push(vec![
                "gpu".into(),
                format!("{:?}", g.kind).to_lowercase(),
                g.path.clone(),
                String::new(),
                g.governor.clone().unwrap_or_default(),
                g.frequencies
                    .first()
                    .map(|f| f.to_string())
                    .unwrap_or_default(),
                g.frequencies
                    .last()
                    .map(|f| f.to_string())
                    .unwrap_or_default(),
                g.cur_khz.map(|c| c.to_string()).unwrap_or_default(),
                g.frequencies.len().to_string(),
                String::new(),
                String::new(),
                if g.writable {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_clusters_by_maximum_frequency() {
        assert_eq!(cluster_names(3), vec!["little", "big", "prime"]);
        assert_eq!(cluster_names(4), vec!["little", "mid", "big", "prime"]);
        assert_eq!(
            cluster_names(5),
            vec!["little", "mid1", "mid2", "big", "prime"]
        );
    }

    #[test]
    fn parses_probe_output() {
        let out = "online=0-5,7\npresent=0-7\npolicy4.related_cpus=4 5\npolicy4.cpuinfo_max_freq=2400000\npolicy4.cpuinfo_min_freq=507000\npolicy4.scaling_available_frequencies=507000 2400000 \npolicy4.scaling_available_governors=performance schedutil\npolicy4.writable=1\npolicy0.related_cpus=0 1 2 3\npolicy0.cpuinfo_max_freq=1950000\npolicy0.scaling_available_frequencies=455000 1950000\npolicy0.has_setspeed=1\ncpu6.online=0\ncpu6.online_writable=1\ngpu.kind=kgsl\ngpu.available_hz=587000000 305000000\ngpu.cur_hz=441600000\nprobe=done\n";
        let t = Topology::parse(out).unwrap();
        assert_eq!(t.online, vec![0, 1, 2, 3, 4, 5, 7]);
        assert_eq!(t.policy("little").unwrap().id, 0);
        assert_eq!(t.policy("big").unwrap().cpus, vec![4, 5]);
        assert_eq!(
            t.policy("policy4").unwrap().frequencies,
            vec![507000, 2400000]
        );
        assert_eq!(t.cores[&6].online, Some(false));
        let g = t.gpu.unwrap();
        assert_eq!(
            (g.kind, g.frequencies, g.cur_khz),
            (GpuKind::Kgsl, vec![305000, 587000], Some(441600))
        );
        assert!(Topology::parse("online=0\n").is_err());
        let t = Topology::parse("thermal_zone10.type=gpu\nthermal_zone10.temp=41500\nthermal_zone2.type=cpu-0-0\nthermal_zone2.temp=-\nprobe=done\n").unwrap();
        assert_eq!(
            t.thermal,
            vec![
                ThermalZone {
                    id: 2,
                    kind: "cpu-0-0".into(),
                    temp_mc: None
                },
                ThermalZone {
                    id: 10,
                    kind: "gpu".into(),
                    temp_mc: Some(41500)
                },
            ]
        );
        let cpu = globset::Glob::new("cpu*").unwrap().compile_matcher();
        assert_eq!(t.zones_matching(&cpu).len(), 1);
    }

    #[test]
    fn idle_states_are_read_per_core_with_their_access() {
        let t = Topology::parse(
            "cpu0.idle.state1=ro|pc\ncpu0.idle.state0=rw|WFI\ncpu1.idle.state0=none|WFI\nprobe=done\n",
        )
        .unwrap();
        let c0 = &t.cores[&0].idle;
        assert_eq!(
            c0.iter()
                .map(|s| (s.index, s.name.as_str(), s.writable, s.has_disable))
                .collect::<Vec<_>>(),
            [(0, "WFI", true, true), (1, "pc", false, true)]
        );
        assert!(!t.cores[&1].idle[0].has_disable);
        let table = t.idle_table();
        assert_eq!(table.rows[0], ["cpu0", "0 WFI, 1 pc", "no"]);
    }

    #[test]
    fn a_control_file_that_cannot_be_written_says_why() {
        let out = "uid=2000\nselinux=Enforcing\npolicy0.related_cpus=0\npolicy0.cpuinfo_max_freq=10\ndenied./s/devices/system/cpu/cpufreq/policy0/scaling_max_freq=0 644\nprobe=done\n";
        let t = Topology::parse(out).unwrap();
        assert!(!t.cpufreq_writable());
        assert_eq!(
            t.why_denied("/cpufreq/").unwrap(),
            "/s/devices/system/cpu/cpufreq/policy0/scaling_max_freq: permission denied: the scripts run as uid 2000 and the file is uid 0's, mode 644 (a root method in the inventory: `root:`)"
        );
        assert!(t.why_denied("kgsl").is_none());
        // Root, a mode that allows it: SELinux, when it is enforcing.
        assert_eq!(
            denied_reason(Some(0), Some("Enforcing"), "0 644"),
            "refused although root and mode 644 allow it: SELinux is enforcing (getenforce), and its policy refuses this file to the scripts' domain"
        );
        assert_eq!(
            denied_reason(Some(0), Some("Permissive"), "0 644"),
            "refused although root and mode 644 allow it (a read-only or immutable file; SELinux is not enforcing)"
        );
        assert_eq!(
            denied_reason(Some(0), None, "0 444"),
            "refused although root and mode 444 allow it (a read-only or immutable file)"
        );
        // The owner may write it; a world-writable file too.
        assert!(
            denied_reason(Some(1000), Some("Enforcing"), "1000 644")
                .contains("SELinux is enforcing")
        );
        assert!(denied_reason(Some(2000), None, "0 666").starts_with("refused although uid 2000"));
        assert_eq!(denied_reason(None, None, ""), "not writable");
        // A reading kept by an older klo-spec has no list.
        let old: Topology = serde_json::from_str(
            r#"{"online":[],"present":[],"policies":[],"cores":{},"gpu":null}"#,
        )
        .unwrap();
        assert!(old.denied.is_empty());
    }

    #[test]
    fn a_kgsl_without_devfreq_is_controlled_through_its_power_levels() {
        let base = "gpu.kind=kgsl\ngpu.path=class/kgsl/kgsl-3d0\ngpu.dir=/s/kgsl\n";
        let gpu = |extra: &str| {
            Topology::parse(&format!("{base}{extra}probe=done\n"))
                .unwrap()
                .gpu
                .unwrap()
        };
        let g = gpu(
            "gpu.levels_hz=650000000 400000000\ngpu.file.max_pwrlevel=rw\ngpu.file.min_pwrlevel=rw\n",
        );
        assert_eq!(g.kgsl_control(), Ok(KgslControl::Pwrlevel));
        assert_eq!(g.levels, vec![650000, 400000], "level 0 first, as listed");
        assert!(g.writable);
        let g =
            gpu("gpu.levels_hz=650000000\ngpu.file.max_pwrlevel=ro\ngpu.file.min_pwrlevel=rw\n");
        assert_eq!(g.unwritable(), vec!["/s/kgsl/max_pwrlevel"]);
        assert!(!g.writable);
        let g = gpu("gpu.file.min_pwrlevel=rw\n");
        assert_eq!(
            g.kgsl_control(),
            Err(vec![
                "/s/kgsl/devfreq/".to_string(),
                "/s/kgsl/max_pwrlevel".into(),
                "/s/kgsl/gpu_available_frequencies".into(),
            ])
        );
        assert!(!g.writable);
        let g = gpu(
            "gpu.file.devfreq/governor=rw\ngpu.file.devfreq/min_freq=rw\ngpu.file.devfreq/max_freq=rw\n",
        );
        assert_eq!(g.kgsl_control(), Ok(KgslControl::Devfreq));
        // A reading kept before the files were listed: all taken as there.
        let mut old = g.clone();
        old.files = None;
        assert_eq!(old.kgsl_control(), Ok(KgslControl::Devfreq));
        assert!(old.has("force_clk_on"));
    }
}
