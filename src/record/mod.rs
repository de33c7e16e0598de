//! `cell.json`: what the runner knows about one cell after it ran. Written
//! into `cells/<id>/` with the cell's files; read back by resume and by the
//! analysis. Volatile values (times, host) live here, never in the tables.
//! `meta.json`, what a whole run did, is [`meta`].

pub mod meta;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use meta::RunMeta;

/// How a cell's K was chosen: recorded in cell.json and summary.csv.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KChoice {
    /// The K used (constant), or None (K varies: static, dynamic).
    pub k: Option<u32>,
    /// The static schedule's batch sizes, in order.
    #[serde(default)]
    pub batches: Vec<u32>,
    /// Hash of the LUT used.
    pub lut: Option<String>,
    /// The profile cell, and its mean T_prod and T_ker.
    pub profile: Option<String>,
    pub t_prod_us: Option<f64>,
    pub t_ker_us: Option<f64>,
    /// The profile fell outside the LUT's grid (the nearest point was used).
    #[serde(default)]
    pub clamped: bool,
}

/// What a probe network's regime resolved to for one board (the
/// calibration's `ker_scale`): recorded in cell.json and meta.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegimeScale {
    /// `cpu_bound`, `balanced`, `gpu_bound` or `x<ratio>`.
    pub regime: String,
    pub ratio: f64,
    /// The `ker_scale` the network runs with on the board, or `None` while
    /// the board has no calibration.
    pub ker_scale: Option<f64>,
    /// The calibration's hash.
    pub calibration: Option<String>,
}

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Complete log, loads alive to the end: counted in every table.
    Ok,
    /// Complete log but a load process died before the benchmark ended:
    /// the load condition was not met. Shown, never counted in checks.
    LoadDied,
    /// A load process was not running when the benchmark was due to start.
    LoadFailed,
    /// The board could not be set up as the cell asks (a core that stays
    /// offline, a frequency the kernel refuses).
    SetupFailed,
    /// A frequency read back before or after the benchmark is not the one
    /// pinned (beyond the tolerance): a thermal or vendor limit moved it.
    FreqMismatch,
    /// The benchmark exited with an error.
    Failed,
    /// The benchmark outlived its timeout and was killed.
    Timeout,
    /// The log is truncated or malformed.
    Incomplete,
    /// The benchmark ran, but a thermal zone went above the scenario's
    /// `thermal` limit, or a pinned frequency moved, during it: shown,
    /// never counted in checks; `thermal.redo_throttled` runs it again.
    Throttled,
    /// The board stayed above the `thermal` limit for `timeout_s`: the
    /// cell was not run.
    TooHot,
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
    /// The runner could not run the cell (transport, file system).
    Error,
    /// The board sent back what klo-spec does not take: a symbolic or hard
    /// link, a device file, a FIFO, a path leaving the cell folder, a name
    /// klo-spec writes itself, a malformed archive. None of it was written.
    Rejected,
    /// The board sent back more than the scenario's `pull_limits` allow.
    TooLarge,
    /// Not run (yet), or run with a different definition (hash).
    NotRun,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::LoadDied => "load_died",
            Status::LoadFailed => "load_failed",
            Status::SetupFailed => "setup_failed",
            Status::FreqMismatch => "freq_mismatch",
            Status::Failed => "failed",
            Status::Timeout => "timeout",
            Status::Incomplete => "incomplete",
            Status::Throttled => "throttled",
            Status::TooHot => "too_hot",
            Status::Interrupted => "interrupted",
            Status::Error => "error",
            Status::Rejected => "rejected",
            Status::TooLarge => "too_large",
            Status::NotRun => "not_run",
        }
    }

    /// Whether the cell's log holds measurements worth showing.
    pub fn has_measurements(self) -> bool {
        matches!(self, Status::Ok | Status::LoadDied | Status::Throttled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a K_answer search did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchRecord {
    pub k_answer: u32,
    /// Mean latency (µs) per K measured.
    pub means: BTreeMap<u32, f64>,
    /// Runs made (repeats included) and runs a sweep of 1..=k_max makes.
    pub runs: usize,
    pub sweep_runs: usize,
}

/// Load processes of a cell, as the cell script counted them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadCounts {
    pub started: u32,
    pub alive_before: Option<u32>,
    pub alive_after: Option<u32>,
    /// Still running after the script's cleanup (should be 0).
    pub left_after_cleanup: Option<u32>,
    /// Cores the loads were pinned to.
    pub cores: Vec<u32>,
}

/// What a cell's thermal gate saw (scenarios with `thermal`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThermalRecord {
    /// Seconds the cell waited for the board to cool down.
    pub wait_s: Option<f64>,
    /// The board was still too hot after `timeout_s` and the cell ran
    /// anyway (`on_timeout: run_flagged`).
    #[serde(default)]
    pub flagged: bool,
    pub zones: Vec<ZoneReading>,
}

/// One zone's temperatures (°C): its limit (the highest allowed), when the
/// gate let the cell go, and at the start and end of the benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneReading {
    pub zone: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub limit_c: Option<f64>,
    pub gate_c: Option<f64>,
    pub start_c: Option<f64>,
    pub end_c: Option<f64>,
}

impl ThermalRecord {
    /// The hottest zone at the start / end of the benchmark.
    pub fn max_start_c(&self) -> Option<f64> {
        self.zones.iter().filter_map(|z| z.start_c).reduce(f64::max)
    }
    pub fn max_end_c(&self) -> Option<f64> {
        self.zones.iter().filter_map(|z| z.end_c).reduce(f64::max)
    }
    /// Zones above their limit at the start or end of the benchmark.
    pub fn over_limit(&self) -> Vec<String> {
        self.zones
            .iter()
            .filter_map(|z| {
                let limit = z.limit_c?;
                let hot = [z.start_c, z.end_c]
                    .into_iter()
                    .flatten()
                    .filter(|t| *t > limit)
                    .reduce(f64::max)?;
                Some(format!(
                    "{} ({}) reached {hot:.1} °C, above its limit {limit:.1} °C",
                    z.zone, z.kind
                ))
            })
            .collect()
    }
}

/// The metadata of one finished (or failed) cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub id: String,
    pub hash: String,
    pub status: Status,
    pub reason: Option<String>,
    pub board: String,
    pub k: u32,
    pub iterations: u32,
    pub started_at: String,
    pub wall_s: f64,
    pub bench_exit: Option<i32>,
    pub script_exit: Option<i32>,
    pub signal: Option<String>,
    pub loads: LoadCounts,
    /// Processes the runner killed after the script was gone.
    pub leftovers_killed_by_runner: u32,
    /// Utilization of all CPUs during the benchmark (from /proc/stat).
    pub cpu_util_pct: Option<f64>,
    /// Per CPU, in /proc/stat order.
    pub cpu_util_per_cpu: BTreeMap<String, f64>,
    /// `opencl` or `thread` (klo-probe), or what the log's info line says.
    pub device: Option<String>,
    pub device_info: BTreeMap<String, String>,
    pub round_trips: u32,
    /// What the cell pinned (kHz), as resolved on its board.
    #[serde(default)]
    pub pins: crate::board::freqplan::FreqPlan,
    /// Frequencies read just before and just after the benchmark (kHz), by
    /// cluster name (`little`, ...) and `gpu`.
    #[serde(default)]
    pub freq_before: BTreeMap<String, u64>,
    #[serde(default)]
    pub freq_after: BTreeMap<String, u64>,
    /// Cores the cell brought online (and put back).
    #[serde(default)]
    pub cores_onlined: Vec<u32>,
    /// Daemons the cell stopped (`stop_daemons`, those found running) and
    /// started again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub daemons_stopped: Vec<String>,
    /// An earlier cell's changes were found on the board and put back first.
    #[serde(default)]
    pub stale_state_restored: bool,
    /// How a LUT strategy chose K.
    #[serde(default)]
    pub k_choice: Option<KChoice>,
    /// For a search: what it measured.
    #[serde(default)]
    pub search: Option<SearchRecord>,
    /// Where the cell's log is, relative to its folder, when not in it (a
    /// search's K_answer run).
    #[serde(default)]
    pub log_dir: Option<String>,
    /// Which attempt of this run the record is (1 = the first).
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// The attempts of this run before this one, kept in `attempts/<n>/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<AttemptSummary>,
    /// The round this run of the cell belongs to (1-based).
    #[serde(default)]
    pub round: Option<u32>,
    /// Its place in its round's order on its lane (0-based).
    #[serde(default)]
    pub position: Option<u32>,
    /// The seed the run's order was drawn from.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Cells of other klo-spec runs that ran on this machine while this
    /// one's benchmark ran: `<id> (pid <pid>)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlapped: Vec<String>,
    /// Boards on this machine: the share of the machine's CPU time (percent
    /// of all CPUs over the cell's wall time) that processes other than the
    /// cell's and klo-spec's used while it ran.
    #[serde(default)]
    pub foreign_cpu_pct: Option<f64>,
    /// The probe's regime on this board and network, and the `ker_scale`
    /// it resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regime: Option<RegimeScale>,
    /// The thermal gate's wait and temperatures (scenarios with `thermal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thermal: Option<ThermalRecord>,
    /// What the sampler saw during the benchmark (`samples.csv` of the
    /// run's folder), per signal; none with `sampler: off`, on a board with
    /// nothing to sample, or from a klo-spec without a sampler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<crate::ingest::samples::SamplesSummary>,
    pub klo_spec_version: String,
}

fn first_attempt() -> u32 {
    1
}

/// One earlier attempt of a cell, as its final record lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptSummary {
    pub attempt: u32,
    pub status: Status,
    pub reason: Option<String>,
    /// What tried again: `transport` (a dropped connection, the board
    /// inventory's `retries`) or `scenario` (`retries`/`retry_on`).
    pub retried_by: String,
    /// Where it is kept, relative to the cell's folder.
    pub folder: String,
}

impl CellRecord {
    /// Drops what the tables never read (the reason, per-CPU utilization,
    /// the device's details but its OpenCL name, frequencies after the
    /// benchmark, earlier attempts, times, versions): the analysis keeps
    /// one record per run of the plan, and a plan of a million runs must
    /// fit.
    pub fn slim(&mut self) {
        self.reason = None;
        self.cpu_util_per_cpu = BTreeMap::new();
        self.device_info.retain(|k, _| k == "opencl_device");
        self.freq_after = BTreeMap::new();
        self.earlier_attempts = Vec::new();
        self.started_at = String::new();
        self.signal = None;
        self.regime = None;
        self.klo_spec_version = String::new();
    }

    pub fn read(path: &Path) -> Option<CellRecord> {
        // In a cell folder: read as data (no link followed), bounded.
        let bytes = crate::untrusted::read(path, 16 << 20).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// CPU utilization between two `/proc/stat` snapshots: for the aggregate
/// `cpu` line and each `cpuN`, `1 - d(idle + iowait) / d(total)`, in percent.
pub fn cpu_utilization(before: &str, after: &str) -> BTreeMap<String, f64> {
    fn parse(text: &str) -> BTreeMap<String, (u64, u64)> {
        text.lines()
            .filter(|l| l.starts_with("cpu"))
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let name = it.next()?.to_string();
                let v: Vec<u64> = it.filter_map(|x| x.parse().ok()).collect();
                if v.len() < 4 {
                    return None;
                }
                // user nice system idle iowait irq softirq steal (guest is in user).
                let total: u64 = v.iter().take(8).sum();
                let idle = v[3] + v.get(4).copied().unwrap_or(0);
                Some((name, (idle, total)))
            })
            .collect()
    }
    let (b, a) = (parse(before), parse(after));
    let mut out = BTreeMap::new();
    for (name, (idle1, total1)) in a {
        if let Some((idle0, total0)) = b.get(&name) {
            let dt = total1.saturating_sub(*total0);
            if dt > 0 {
                let di = idle1.saturating_sub(*idle0);
                out.insert(name, 100.0 * (1.0 - di as f64 / dt as f64));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utilization_from_two_snapshots() {
        let before = "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\ncpu1 50 0 50 400 0 0 0 0 0 0\nintr 1\n";
        let after = "cpu  250 0 150 900 0 0 0 0 0 0\ncpu0 200 0 50 400 0 0 0 0 0 0\ncpu1 50 0 100 500 0 0 0 0 0 0\n";
        let u = cpu_utilization(before, after);
        assert_eq!(u["cpu"], 100.0 * (1.0 - 100.0 / 300.0));
        assert_eq!(u["cpu0"], 100.0);
        assert_eq!(u["cpu1"], 100.0 * (1.0 - 100.0 / 150.0));
    }
}
