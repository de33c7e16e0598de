//! Plays the kernel's part on a fixture sysfs tree, so that the real cell
//! scripts can run against files. While a board with `emulate_kernel` (or a
//! `fixture`) is connected, a thread keeps the kernel-owned files in step
//! with the ones scripts write:
//!
//! - `scaling_cur_freq` = the nominal frequency (or `scaling_setspeed` under
//!   the userspace governor) clamped to [`scaling_min_freq`, `scaling_max_freq`],
//!   and `scaling_setspeed` reads `<unsupported>` outside that governor;
//! - `affected_cpus` and `devices/system/cpu/online` follow `cpuN/online`;
//! - kgsl `gpuclk` (and `devfreq/cur_freq`) = nominal clamped to
//!   [`devfreq/min_freq`, `devfreq/max_freq`] (`max_freq` under the
//!   performance governor), then to the frequencies of `min_pwrlevel` and
//!   `max_pwrlevel` (a kgsl without `devfreq/` has only these); Mali
//!   `clock` = nominal clamped to the dvfs locks (0 unlocks); a generic
//!   devfreq `cur_freq` likewise;
//! - a thermal zone's `temp` rises by [`HEAT_MC_PER_S`] while a cell's loads
//!   or benchmark run (the board's `state/loads.pid` or `state/bench.pid` is
//!   not empty) and falls by [`COOL_MC_PER_S`] while idle, down to the
//!   temperature it had when first emulated (kept in 0.1 °C steps).
//!
//! Nominal values are read when the board is first emulated and kept in its
//! work folder, so that after any restore the tree converges back to the
//! bytes it started with. Files are only written when their value changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::format_cores;

const PERIOD: Duration = Duration::from_millis(5);

/// How fast an emulated thermal zone heats under load (m°C per second).
pub const HEAT_MC_PER_S: f64 = 10_000.0;
/// How fast it cools while idle, down to its first temperature.
pub const COOL_MC_PER_S: f64 = 5_000.0;

pub struct Emulator {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

fn num(p: &Path) -> Option<u64> {
    read(p)?.parse().ok()
}

fn write_if_changed(p: &Path, value: &str) {
    if p.exists() && read(p).as_deref() != Some(value) {
        let _ = std::fs::write(p, format!("{value}\n"));
    }
}

/// Mali's power policy file, under the sysfs root.
const POLICY_FILE: &str = "class/misc/mali0/device/power_policy";

/// The power policy file as the kernel shows it: every policy, the
/// selected one in brackets. A bare name written to it selects that policy
/// (an unknown one is refused: the nominal selection stays).
fn step_power_policy(root: &Path, nominal: &BTreeMap<String, u64>) {
    let prefix = format!("{POLICY_FILE}#");
    let mut policies: Vec<(u64, &str)> = nominal
        .iter()
        .filter_map(|(k, v)| Some((*v, k.strip_prefix(&prefix)?)))
        .collect();
    if policies.is_empty() {
        return;
    }
    policies.sort_unstable();
    let file = root.join(POLICY_FILE);
    let Some(now) = read(&file) else { return };
    if now.contains('[') {
        return;
    }
    let chosen = if policies.iter().any(|(_, n)| *n == now) {
        now.as_str()
    } else {
        policies
            .iter()
            .find(|(v, _)| v % 2 == 1)
            .map_or(policies[0].1, |(_, n)| n)
    };
    let shown: Vec<String> = policies
        .iter()
        .map(|(_, n)| {
            if *n == chosen {
                format!("[{n}]")
            } else {
                n.to_string()
            }
        })
        .collect();
    // Replaced whole (a new file renamed over it), never truncated then
    // written: the script reads the file back at once after its write, and
    // must never see it empty. Skipped when the script wrote again since.
    if read(&file).as_deref() == Some(now.as_str()) {
        let _ = crate::output::atomic_write(&file, format!("{}\n", shown.join(" ")).as_bytes());
    }
}

/// The kernel-owned values of the tree when first seen: current frequencies.
fn capture(root: &Path) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for dir in policy_dirs(root) {
        if let Some(v) = num(&dir.join("scaling_cur_freq")) {
            m.insert(
                dir.strip_prefix(root)
                    .unwrap_or(&dir)
                    .to_string_lossy()
                    .into_owned(),
                v,
            );
        }
    }
    for rel in [
        "class/kgsl/kgsl-3d0/gpuclk",
        "class/misc/mali0/device/clock",
    ] {
        if let Some(v) = num(&root.join(rel)) {
            m.insert(rel.into(), v);
        }
    }
    // Mali's power policies, each as `POLICY_KEY#<name>` = 2 x its place
    // in the list, plus 1 for the selected one.
    if let Some(text) = read(&root.join(POLICY_FILE)) {
        let (all, selected) = super::topology::choices(&text);
        for (i, name) in all.iter().enumerate() {
            let sel = u64::from(selected.as_deref() == Some(name.as_str()));
            m.insert(format!("{POLICY_FILE}#{name}"), 2 * i as u64 + sel);
        }
    }
    for z in zone_dirs(root) {
        if let Some(v) = read(&z.join("temp")).and_then(|t| t.parse::<i64>().ok()) {
            m.insert(
                z.join("temp")
                    .strip_prefix(root)
                    .unwrap_or(&z)
                    .to_string_lossy()
                    .into_owned(),
                v.max(0) as u64,
            );
        }
    }
    for d in devfreq_dirs(root) {
        if let Some(v) = num(&d.join("cur_freq")) {
            m.insert(
                d.strip_prefix(root)
                    .unwrap_or(&d)
                    .to_string_lossy()
                    .into_owned(),
                v,
            );
        }
    }
    m
}

fn policy_dirs(root: &Path) -> Vec<PathBuf> {
    prefixed_dirs(&root.join("devices/system/cpu/cpufreq"), "policy")
}

fn zone_dirs(root: &Path) -> Vec<PathBuf> {
    prefixed_dirs(&root.join("class/thermal"), "thermal_zone")
}

/// The entries of `dir` whose name starts with `prefix`, sorted (none when
/// `dir` cannot be read).
fn prefixed_dirs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

/// The thermal zones' temperatures as the emulation keeps them (m°C, by
/// `temp` file relative to the root), and when it last moved them.
pub struct Heat {
    temps: BTreeMap<String, f64>,
    last: std::time::Instant,
}

impl Default for Heat {
    fn default() -> Self {
        Heat::new()
    }
}

impl Heat {
    pub fn new() -> Heat {
        Heat {
            temps: BTreeMap::new(),
            last: std::time::Instant::now(),
        }
    }

    /// Moves every zone's temperature by the time since the last call:
    /// up while `loaded`, else down to its nominal value.
    pub fn step(&mut self, root: &Path, nominal: &BTreeMap<String, u64>, loaded: bool) {
        let now = std::time::Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        for (rel, nom) in nominal
            .iter()
            .filter(|(k, _)| k.starts_with("class/thermal/"))
        {
            let nom = *nom as f64;
            // Where the file is now (another process may have heated it).
            let t = self.temps.entry(rel.clone()).or_insert_with(|| {
                read(&root.join(rel))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(nom)
            });
            *t = if loaded {
                *t + HEAT_MC_PER_S * dt
            } else {
                (*t - COOL_MC_PER_S * dt).max(nom)
            };
            // Whole tenths of a degree, as many kernels report them; the
            // nominal value itself is written back byte for byte.
            let shown = if *t <= nom {
                nom as i64
            } else {
                ((*t / 100.0).round() * 100.0) as i64
            };
            // Written whole (a new file renamed into place): a reader never
            // sees it empty.
            let file = root.join(rel);
            if file.exists() && read(&file).as_deref() != Some(&shown.to_string()) {
                let tmp = file.with_extension("klo-tmp");
                if std::fs::write(&tmp, format!("{shown}\n")).is_ok() {
                    let _ = std::fs::rename(&tmp, &file);
                }
            }
        }
    }
}

/// Whether a cell's loads or benchmark run on the board whose state
/// folder is `state`.
fn loaded(state: &Path) -> bool {
    ["loads.pid", "bench.pid"]
        .iter()
        .any(|f| std::fs::metadata(state.join(f)).is_ok_and(|m| m.len() > 0))
}

fn devfreq_dirs(root: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(root.join("class/devfreq"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect()
}

fn clamp(v: u64, lo: Option<u64>, hi: Option<u64>) -> u64 {
    let v = lo.map_or(v, |lo| v.max(lo));
    hi.map_or(v, |hi| v.min(hi))
}

/// One pass over the tree.
pub fn step(root: &Path, nominal: &BTreeMap<String, u64>) {
    let cpu = root.join("devices/system/cpu");
    // Every present core; one without an `online` file (often cpu0) is
    // always online.
    let present = read(&cpu.join("present"))
        .or_else(|| read(&cpu.join("possible")))
        .and_then(|p| super::parse_cpu_list(&p));
    let online: Vec<u32> = present
        .unwrap_or_default()
        .into_iter()
        .filter(|n| read(&cpu.join(format!("cpu{n}/online"))).is_none_or(|v| v == "1"))
        .collect();
    if !online.is_empty() {
        write_if_changed(&cpu.join("online"), &format_cores(&online));
    }
    for dir in policy_dirs(root) {
        let rel = dir
            .strip_prefix(root)
            .unwrap_or(&dir)
            .to_string_lossy()
            .into_owned();
        let (lo, hi) = (
            num(&dir.join("scaling_min_freq")),
            num(&dir.join("scaling_max_freq")),
        );
        // Outside the userspace governor the kernel reports no set speed.
        let userspace = read(&dir.join("scaling_governor")).as_deref() == Some("userspace");
        if !userspace {
            write_if_changed(&dir.join("scaling_setspeed"), "<unsupported>");
        }
        let setspeed = (read(&dir.join("scaling_governor")).as_deref() == Some("userspace"))
            .then(|| num(&dir.join("scaling_setspeed")))
            .flatten();
        if let Some(target) = setspeed.or_else(|| nominal.get(&rel).copied()) {
            write_if_changed(
                &dir.join("scaling_cur_freq"),
                &clamp(target, lo, hi).to_string(),
            );
        }
        if let Some(related) = read(&dir.join("related_cpus")) {
            let affected: Vec<String> = related
                .split_whitespace()
                .filter(|c| c.parse::<u32>().is_ok_and(|c| online.contains(&c)))
                .map(String::from)
                .collect();
            write_if_changed(&dir.join("affected_cpus"), &affected.join(" "));
        }
    }
    let kgsl = root.join("class/kgsl/kgsl-3d0");
    if let Some(nom) = nominal.get("class/kgsl/kgsl-3d0/gpuclk") {
        let (lo, hi) = (
            num(&kgsl.join("devfreq/min_freq")),
            num(&kgsl.join("devfreq/max_freq")),
        );
        let v = if read(&kgsl.join("devfreq/governor")).as_deref() == Some("performance") {
            hi.unwrap_or(*nom)
        } else {
            clamp(*nom, lo, hi)
        };
        // The power levels bound it too: level i runs at the i-th frequency
        // of gpu_available_frequencies, max_pwrlevel the fastest allowed,
        // min_pwrlevel the slowest.
        let levels: Vec<u64> = read(&kgsl.join("gpu_available_frequencies"))
            .map(|l| {
                l.split_whitespace()
                    .filter_map(|f| f.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let level = |f: &str| num(&kgsl.join(f)).and_then(|i| levels.get(i as usize).copied());
        let v = clamp(v, level("min_pwrlevel"), level("max_pwrlevel"));
        write_if_changed(&kgsl.join("gpuclk"), &v.to_string());
        write_if_changed(&kgsl.join("devfreq/cur_freq"), &v.to_string());
    }
    let mali = root.join("class/misc/mali0/device");
    if let Some(nom) = nominal.get("class/misc/mali0/device/clock") {
        let lock = |f: &str| num(&mali.join(f)).filter(|v| *v > 0);
        write_if_changed(
            &mali.join("clock"),
            &clamp(*nom, lock("dvfs_min_lock"), lock("dvfs_max_lock")).to_string(),
        );
    }
    step_power_policy(root, nominal);
    for d in devfreq_dirs(root) {
        let rel = d
            .strip_prefix(root)
            .unwrap_or(&d)
            .to_string_lossy()
            .into_owned();
        if let Some(nom) = nominal.get(&rel) {
            write_if_changed(
                &d.join("cur_freq"),
                &clamp(*nom, num(&d.join("min_freq")), num(&d.join("max_freq"))).to_string(),
            );
        }
    }
}

impl Emulator {
    /// Starts emulating `root`; nominal values are kept in `state` (a file in
    /// the board's work folder, outside the tree).
    pub fn start(root: PathBuf, state: &Path) -> Emulator {
        let nominal: BTreeMap<String, u64> = match std::fs::read_to_string(state)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            // Files the tree gained since (a zone, a GPU) are taken as
            // they are now.
            Some::<BTreeMap<String, u64>>(mut n) => {
                let now = capture(&root);
                let before = n.len();
                for (k, v) in now {
                    n.entry(k).or_insert(v);
                }
                if n.len() != before {
                    let _ = crate::output::atomic_write(
                        state,
                        serde_json::to_string_pretty(&n)
                            .unwrap_or_default()
                            .as_bytes(),
                    );
                }
                n
            }
            None => {
                let n = capture(&root);
                if let Some(dir) = state.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let _ = crate::output::atomic_write(
                    state,
                    serde_json::to_string_pretty(&n)
                        .unwrap_or_default()
                        .as_bytes(),
                );
                n
            }
        };
        step(&root, &nominal);
        // The board's state folder (loads.pid, bench.pid): beside the
        // nominal values' file.
        let board_state = state.parent().map(|d| d.join("state")).unwrap_or_default();
        let mut heat = Heat::new();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("kernel-emulator".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    step(&root, &nominal);
                    heat.step(&root, &nominal, loaded(&board_state));
                    std::thread::sleep(PERIOD);
                }
                step(&root, &nominal);
            })
            .ok();
        Emulator { stop, handle }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_frequency_follows_min_max_and_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("devices/system/cpu/cpufreq/policy0");
        std::fs::create_dir_all(&p).unwrap();
        for (f, v) in [
            ("scaling_min_freq", "300"),
            ("scaling_max_freq", "1800"),
            ("scaling_cur_freq", "1000"),
            ("scaling_governor", "schedutil"),
            ("related_cpus", "0 1"),
        ] {
            std::fs::write(p.join(f), format!("{v}\n")).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("devices/system/cpu/cpu1")).unwrap();
        std::fs::write(dir.path().join("devices/system/cpu/cpu1/online"), "0\n").unwrap();
        let nominal = capture(dir.path());
        step(dir.path(), &nominal);
        assert_eq!(
            read(&p.join("affected_cpus")),
            None,
            "no affected_cpus file: nothing written"
        );
        std::fs::write(p.join("scaling_max_freq"), "300\n").unwrap();
        step(dir.path(), &nominal);
        assert_eq!(read(&p.join("scaling_cur_freq")).unwrap(), "300");
        std::fs::write(p.join("scaling_max_freq"), "1800\n").unwrap();
        step(dir.path(), &nominal);
        assert_eq!(read(&p.join("scaling_cur_freq")).unwrap(), "1000");
        assert_eq!(read(&dir.path().join("devices/system/cpu/online")), None);
    }

    #[test]
    fn a_thermal_zone_heats_under_load_and_cools_back_to_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let z = dir.path().join("class/thermal/thermal_zone0");
        std::fs::create_dir_all(&z).unwrap();
        std::fs::write(z.join("type"), "cpu-0-0\n").unwrap();
        std::fs::write(z.join("temp"), "40000\n").unwrap();
        let nominal = capture(dir.path());
        let temp = || read(&z.join("temp")).unwrap().parse::<i64>().unwrap();
        let mut heat = Heat::new();
        std::thread::sleep(Duration::from_millis(200));
        heat.step(dir.path(), &nominal, true);
        assert!(temp() >= 41500, "{}", temp());
        let hot = temp();
        std::thread::sleep(Duration::from_millis(100));
        heat.step(dir.path(), &nominal, false);
        assert!(temp() < hot && temp() >= 40000, "{}", temp());
        std::thread::sleep(Duration::from_millis(800));
        heat.step(dir.path(), &nominal, false);
        assert_eq!(std::fs::read_to_string(z.join("temp")).unwrap(), "40000\n");
    }
}
