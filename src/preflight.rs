//! Pre-flight checks and the environment record.
//!
//! Before a run's first cell, each board answers one script
//! (`templates/preflight.sh.j2`, one round trip, reads only). From its
//! answer come:
//!
//! - **checks**, each with a name: `battery`, `screen`, `build`,
//!   `governors`, `daemons`, `idle_states`, `selinux`, `free_space`. A
//!   failing check stops the run before anything is written, unless the
//!   scenario (`preflight: {allow: [NAME]}`) or `--allow NAME` accepts it;
//!   a check that does not apply to the board (no battery on `local`) says
//!   so. Every check's outcome is in meta.json (`preflight`).
//! - **the environment**: kernel, Android build, GPU model, governors,
//!   idle-state table, SELinux mode (and, after the cells, the OpenCL
//!   platform, device and driver the benchmark reported), as flat
//!   `key: value` pairs in meta.json (`environment`), so that `diff` can
//!   say when two result sets were measured in different environments.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every check, in the order they are reported.
pub const CHECKS: [&str; 8] = [
    "battery",
    "screen",
    "build",
    "governors",
    "daemons",
    "idle_states",
    "selinux",
    "free_space",
];

/// Processes that override frequencies, hotplug or governors behind
/// klo-spec's back: Qualcomm's thermal and performance daemons on phones,
/// Intel's thermald and the tuning daemons of Linux distributions.
pub const DEFAULT_DAEMONS: [&str; 7] = [
    "thermal-engine",
    "perfd",
    "mpdecision",
    "thermald",
    "tuned",
    "power-profiles-daemon",
    "auto-cpufreq",
];

/// A name klo-spec may look for among processes or give to `stop`/`start`
/// and `systemctl`: letters, digits and `_-.@:+`.
pub fn is_process_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.@:+".contains(&b))
}

/// The length of a process name as the kernel keeps it (`/proc/PID/comm`).
const COMM_LEN: usize = 15;

/// A daemon's name as `/proc/PID/comm` shows it.
pub fn comm_name(name: &str) -> String {
    name.chars().take(COMM_LEN).collect()
}

/// The settings of the pre-flight (`preflight:` in a scenario, `--allow`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Checks whose failure does not stop the run.
    pub allow: Vec<String>,
    /// The lowest battery level (percent) at which a board that is not
    /// charging may run.
    pub battery_min_pct: u32,
    /// The least free space (MiB) in the board's work folder.
    pub free_mib: u64,
    /// The daemons looked for.
    pub daemons: Vec<String>,
    /// Daemons the scenario stops for every cell (`stop_daemons`): found
    /// running, they do not fail the `daemons` check.
    pub stopped: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allow: Vec::new(),
            battery_min_pct: DEFAULT_BATTERY_MIN_PCT,
            free_mib: DEFAULT_FREE_MIB,
            daemons: DEFAULT_DAEMONS.iter().map(|d| d.to_string()).collect(),
            stopped: Vec::new(),
        }
    }
}

/// Default `battery_min_pct`: below this a phone's power management starts
/// saving (lower clocks, fewer big cores) on many phones.
pub const DEFAULT_BATTERY_MIN_PCT: u32 = 30;
/// Default `free_mib`: room for the helpers, the cells' folders and logs.
pub const DEFAULT_FREE_MIB: u64 = 256;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing in the way.
    Ok,
    /// Would spoil the measurements: the run stops.
    Fail,
    /// Failed, and the scenario or `--allow` accepted it.
    Allowed,
    /// Recorded, never stops a run.
    Info,
    /// The board has nothing this check looks at.
    NotApplicable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "FAIL",
            Outcome::Allowed => "allowed",
            Outcome::Info => "info",
            Outcome::NotApplicable => "n/a",
        }
    }
}

/// One check's outcome on one board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
    /// What was read (`81% Discharging`, `schedutil`).
    pub value: String,
    /// Why it fails and what to do (failing and allowed checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A board's pre-flight: its checks and its environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    pub checks: Vec<Check>,
    /// Flat `key: value` pairs (`kernel.release`, `android.fingerprint`,
    /// `governor.policy0`, `idle.cpu0`, ...).
    pub environment: BTreeMap<String, String>,
}

impl Preflight {
    /// The checks that stop the run.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Fail)
    }
}

/// The script's answer as key=value pairs; `None` when it did not finish.
pub fn readings(text: &str) -> Option<BTreeMap<String, String>> {
    let kv: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    (kv.get("preflight").map(String::as_str) == Some("done")).then_some(kv)
}

/// Evaluates a board's answer against the settings.
pub fn evaluate(kv: &BTreeMap<String, String>, s: &Settings) -> Preflight {
    let get = |k: &str| kv.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let with_prefix = |p: &'static str| -> Vec<(&str, &str)> {
        kv.iter()
            .filter_map(|(k, v)| k.strip_prefix(p).map(|rest| (rest, v.as_str())))
            .collect()
    };
    let android = get("android") == Some("1");
    let mut checks = vec![
        battery(&with_prefix("battery."), s.battery_min_pct),
        screen(android, get("screen.wakefulness")),
        build(android, get("prop.ro.build.type")),
        governors(&with_prefix("governor.")),
        daemons(&with_prefix("daemon."), &s.daemons, &s.stopped),
        idle_states(&idle_table(kv)),
        selinux(get("selinux.enforce"), get("selinux.mode")),
        free_space(get("free.kib"), get("free.dir").unwrap_or("?"), s.free_mib),
    ];
    for c in &mut checks {
        if c.outcome == Outcome::Fail && s.allow.contains(&c.name) {
            c.outcome = Outcome::Allowed;
        }
    }
    Preflight {
        checks,
        environment: environment(kv),
    }
}

fn check(name: &str, outcome: Outcome, value: impl Into<String>, detail: Option<String>) -> Check {
    Check {
        name: name.to_string(),
        outcome,
        value: value.into(),
        detail,
    }
}

fn battery(all: &[(&str, &str)], min_pct: u32) -> Check {
    let names: Vec<&str> = all
        .iter()
        .filter(|(k, v)| !k.contains('.') && *v == "1")
        .map(|(k, _)| *k)
        .collect();
    if names.is_empty() {
        return check("battery", Outcome::NotApplicable, "no battery", None);
    }
    let field = |n: &str, f: &str| {
        all.iter()
            .find(|(k, _)| *k == format!("{n}.{f}"))
            .map(|(_, v)| *v)
    };
    let mut values = Vec::new();
    let mut low = Vec::new();
    for n in &names {
        let pct: Option<u32> = field(n, "capacity").and_then(|c| c.parse().ok());
        let status = field(n, "status").unwrap_or("unknown");
        let charging = matches!(status, "Charging" | "Full");
        values.push(match pct {
            Some(p) => format!("{n}: {p}% {status}"),
            None => format!("{n}: level unknown, {status}"),
        });
        if let Some(p) = pct.filter(|p| *p < min_pct && !charging) {
            low.push(format!("{n} is at {p}% and {}", status.to_lowercase()));
        }
    }
    let value = values.join(", ");
    if low.is_empty() {
        check("battery", Outcome::Ok, value, None)
    } else {
        check(
            "battery",
            Outcome::Fail,
            value,
            Some(format!(
                "{}: below {min_pct}% many phones save power (lower clocks, fewer big cores); charge it, or set `preflight.battery_min_pct`",
                low.join(", ")
            )),
        )
    }
}

fn screen(android: bool, wakefulness: Option<&str>) -> Check {
    match (android, wakefulness) {
        (false, _) => check("screen", Outcome::NotApplicable, "not an Android board", None),
        (true, None) => check(
            "screen",
            Outcome::Info,
            "unknown (no `dumpsys power` answer)",
            None,
        ),
        (true, Some("Awake")) => check("screen", Outcome::Ok, "on (Awake)", None),
        (true, Some(w)) => check(
            "screen",
            Outcome::Fail,
            format!("off ({w})"),
            Some("with its screen off a phone may suspend mid-run and throttles its GPU: turn the screen on and keep it on (`adb shell svc power stayon usb`)".into()),
        ),
    }
}

fn build(android: bool, build_type: Option<&str>) -> Check {
    match (android, build_type) {
        (false, _) => check("build", Outcome::NotApplicable, "not an Android board", None),
        (true, Some("eng")) => check(
            "build",
            Outcome::Fail,
            "eng",
            Some("an eng build runs with extra debugging checks, so its timings are not those of the builds people use: measure on a user or userdebug build".into()),
        ),
        (true, t) => check("build", Outcome::Info, t.unwrap_or("unknown"), None),
    }
}

fn governors(policies: &[(&str, &str)]) -> Check {
    if policies.is_empty() {
        return check(
            "governors",
            Outcome::NotApplicable,
            "no cpufreq policies",
            None,
        );
    }
    let value = policies
        .iter()
        .map(|(p, g)| format!("{p} {g}"))
        .collect::<Vec<_>>()
        .join(", ");
    let pinned: Vec<&str> = policies
        .iter()
        .filter(|(_, g)| *g == "userspace")
        .map(|(p, _)| *p)
        .collect();
    if pinned.is_empty() {
        return check("governors", Outcome::Ok, value, None);
    }
    check(
        "governors",
        Outcome::Fail,
        value,
        Some(format!(
            "{} already run(s) the `userspace` governor: another tool, or a run of another program cut short, left the CPU pinned, and klo-spec puts a board back as it found it, so it would leave it pinned too; set the governor back (e.g. `echo schedutil > .../{}/scaling_governor`) or allow `governors`",
            pinned.join(", "),
            pinned[0]
        )),
    )
}

fn daemons(found: &[(&str, &str)], wanted: &[String], stopped: &[String]) -> Check {
    let wanted_comm: Vec<String> = wanted.iter().chain(stopped).map(|w| comm_name(w)).collect();
    let stopped_comm: Vec<String> = stopped.iter().map(|w| comm_name(w)).collect();
    let mut running: Vec<String> = Vec::new();
    let mut handled: Vec<String> = Vec::new();
    for (name, pid) in found {
        if stopped_comm.iter().any(|w| w == name) {
            handled.push(format!("{name} (pid {pid}, stopped for each cell)"));
        } else if wanted_comm.iter().any(|w| w == name) {
            running.push(format!("{name} (pid {pid})"));
        }
    }
    if running.is_empty() && !handled.is_empty() {
        return check("daemons", Outcome::Ok, handled.join(", "), None);
    }
    running.extend(handled);
    if running.is_empty() {
        return check(
            "daemons",
            Outcome::Ok,
            format!("none of {}", wanted.join(", ")),
            None,
        );
    }
    check(
        "daemons",
        Outcome::Fail,
        running.join(", "),
        Some("these daemons change frequencies, governors or online cores behind klo-spec's back: have klo-spec stop them for each cell (`stop_daemons: [NAME]` in the scenario), stop them yourself (as root on Android: `stop thermal-engine`; on Linux: `systemctl stop thermald`), or allow `daemons`".into()),
    )
}

/// The idle states per CPU: (cpu, [(state, name, latency, disabled)]).
type IdleTable = BTreeMap<u32, Vec<(u32, String, String, bool)>>;

fn idle_table(kv: &BTreeMap<String, String>) -> IdleTable {
    let mut t: IdleTable = BTreeMap::new();
    for (k, v) in kv {
        let Some(rest) = k.strip_prefix("idle.cpu") else {
            continue;
        };
        let Some((cpu, state)) = rest.split_once(".state") else {
            continue;
        };
        let (Ok(cpu), Ok(state)) = (cpu.parse::<u32>(), state.parse::<u32>()) else {
            continue;
        };
        let mut f = v.splitn(3, '|');
        let name = f.next().unwrap_or_default().to_string();
        let latency = f.next().unwrap_or_default().to_string();
        let disabled = f.next().is_some_and(|d| d.trim() != "0");
        t.entry(cpu)
            .or_default()
            .push((state, name, latency, disabled));
    }
    for states in t.values_mut() {
        states.sort_by_key(|s| s.0);
    }
    t
}

fn idle_states(t: &IdleTable) -> Check {
    if t.is_empty() {
        return check(
            "idle_states",
            Outcome::NotApplicable,
            "no cpuidle states",
            None,
        );
    }
    let most = t.values().map(Vec::len).max().unwrap_or(0);
    let value = format!("{} CPUs, up to {most} states each", t.len());
    let disabled: Vec<String> = t
        .iter()
        .flat_map(|(cpu, states)| {
            states
                .iter()
                .filter(|s| s.3)
                .map(move |s| format!("cpu{cpu} state{} ({})", s.0, s.1))
        })
        .collect();
    if disabled.is_empty() {
        return check("idle_states", Outcome::Ok, value, None);
    }
    let shown: Vec<&str> = disabled.iter().take(4).map(String::as_str).collect();
    check(
        "idle_states",
        Outcome::Fail,
        value,
        Some(format!(
            "{} idle state(s) already disabled ({}{}): someone changed the board's idle behaviour, which moves wake-up times and so T_idle; enable them again (`echo 0 > .../cpuidle/stateN/disable`) or allow `idle_states`",
            disabled.len(),
            shown.join(", "),
            if disabled.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        )),
    )
}

fn selinux(enforce: Option<&str>, mode: Option<&str>) -> Check {
    match (enforce, mode) {
        (Some("1"), _) => check("selinux", Outcome::Info, "enforcing", None),
        (Some("0"), _) => check("selinux", Outcome::Info, "permissive", None),
        (_, Some(m)) => check("selinux", Outcome::Info, m.to_lowercase(), None),
        _ => check("selinux", Outcome::NotApplicable, "no SELinux", None),
    }
}

fn free_space(kib: Option<&str>, dir: &str, min_mib: u64) -> Check {
    let Some(kib) = kib.and_then(|k| k.parse::<u64>().ok()) else {
        return check(
            "free_space",
            Outcome::Fail,
            "unknown",
            Some(format!(
                "could not read the free space of {dir} (`df -Pk` gave no figure): make sure the work folder can be created and `df` works there, or allow `free_space`"
            )),
        );
    };
    let mib = kib / 1024;
    let value = format!("{} in {dir}", human_mib(mib));
    if mib >= min_mib {
        return check("free_space", Outcome::Ok, value, None);
    }
    check(
        "free_space",
        Outcome::Fail,
        value,
        Some(format!(
            "less than {min_mib} MiB left where the cells run: cells would fail mid-run when it fills; free space, or set `preflight.free_mib`"
        )),
    )
}

fn human_mib(mib: u64) -> String {
    if mib >= 10 * 1024 {
        format!("{:.0} GiB free", mib as f64 / 1024.0)
    } else if mib >= 1024 {
        format!("{:.1} GiB free", mib as f64 / 1024.0)
    } else {
        format!("{mib} MiB free")
    }
}

/// The environment as flat pairs: what describes the board's software and
/// configuration (not its state of the moment: no temperatures, no battery
/// level, no free space).
fn environment(kv: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            env.insert(k.to_string(), v.to_string());
        }
    };
    for (k, to) in [
        ("kernel.release", "kernel.release"),
        ("kernel.version", "kernel.version"),
        ("kernel.machine", "kernel.machine"),
        ("gpu.model", "gpu.model"),
        ("prop.ro.build.fingerprint", "android.fingerprint"),
        ("prop.ro.build.type", "android.build_type"),
        ("prop.ro.build.version.release", "android.release"),
        ("prop.ro.build.version.sdk", "android.sdk"),
        ("prop.ro.product.model", "android.model"),
        ("prop.ro.board.platform", "android.platform"),
    ] {
        if let Some(v) = kv.get(k) {
            put(to, v);
        }
    }
    for (k, v) in kv {
        if let Some(p) = k.strip_prefix("governor.") {
            put(&format!("governor.{p}"), v);
        }
    }
    let selinux = selinux(
        kv.get("selinux.enforce").map(String::as_str),
        kv.get("selinux.mode").map(String::as_str),
    );
    if selinux.outcome != Outcome::NotApplicable {
        put("selinux", &selinux.value);
    }
    // The idle-state table (names and exit latencies, not whether they are
    // disabled: that is state, and the `idle_states` check's business).
    for (cpu, states) in idle_table(kv) {
        let row: Vec<String> = states
            .iter()
            .map(|(_, name, lat, _)| format!("{name}:{lat}us"))
            .collect();
        put(&format!("idle.cpu{cpu}"), &row.join(" "));
    }
    env
}

/// The `device_info` keys of a benchmark's log that describe the
/// environment (klo-probe's OpenCL platform, device and driver).
pub const DEVICE_ENVIRONMENT: [&str; 4] = [
    "opencl_platform",
    "opencl_device",
    "opencl_driver",
    "device",
];

/// One difference between two environments of a board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvChange {
    pub board: String,
    pub key: String,
    /// `None`: the key is absent on that side.
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The differences between two `environment` maps of meta.json (board ->
/// key -> value), for the boards both have.
pub fn compare_environments(
    old: &BTreeMap<String, BTreeMap<String, String>>,
    new: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<EnvChange> {
    let mut out = Vec::new();
    for (board, o) in old {
        let Some(n) = new.get(board) else { continue };
        let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for k in keys {
            let (a, b) = (o.get(k), n.get(k));
            if a != b {
                out.push(EnvChange {
                    board: board.clone(),
                    key: k.clone(),
                    old: a.cloned(),
                    new: b.cloned(),
                });
            }
        }
    }
    out
}

/// One line per change: `board `rb5`: kernel.release 5.4.61 -> 5.4.86`.
pub fn describe_changes(changes: &[EnvChange]) -> Vec<String> {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    changes
        .iter()
        .map(|c| {
            format!(
                "board `{}`: {} {} -> {}",
                c.board,
                c.key,
                show(&c.old),
                show(&c.new)
            )
        })
        .collect()
}

/// The lines a run prints for a board's pre-flight: a count per outcome,
/// then each failing or allowed check with why.
pub fn report_lines(board: &str, p: &Preflight) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &p.checks {
        *counts.entry(c.outcome.as_str()).or_default() += 1;
    }
    let order = ["ok", "info", "n/a", "allowed", "FAIL"];
    let summary: Vec<String> = order
        .iter()
        .filter_map(|o| counts.get(o).map(|n| format!("{n} {o}")))
        .collect();
    let mut lines = vec![format!(
        "pre-flight on board `{board}`: {}",
        summary.join(", ")
    )];
    for c in &p.checks {
        if matches!(c.outcome, Outcome::Fail | Outcome::Allowed) {
            lines.push(format!(
                "  {} {}: {}{}",
                c.outcome.as_str(),
                c.name,
                c.value,
                c.detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests;
