//! summary.csv (one row per cell: its figures over rounds) and rounds.csv
//! (one row per cell and round).

use serde::{Deserialize, Serialize};

use super::Row;
use super::cell::{f1, f2, f3, opt, parse, parse_opt};
use crate::record::Status;

/// One cell's row of summary.csv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub id: String,
    pub board: String,
    pub load: String,
    pub cpu_freq: String,
    pub gpu_freq: String,
    /// The knob set (`stock`: the scenario's own knobs; empty in tables
    /// written before the column existed).
    pub knobs: String,
    pub network: String,
    pub strategy: String,
    /// The K values the cell ran with, `/`-joined (see `analysis::kstrategy`).
    pub k: String,
    pub status: Status,
    /// Ok rounds over rounds: `4/5`.
    pub rounds: String,
    #[serde(serialize_with = "opt", deserialize_with = "parse_opt")]
    pub inferences: Option<u32>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub latency_mean_us: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub latency_ci_low_us: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub latency_ci_high_us: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub latency_cv_between_pct: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub latency_cv_within_pct: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_prod_mean_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_ker_mean_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_idle_mean_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_flush_mean_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub flushes_mean: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub k_mean: Option<f64>,
    #[serde(serialize_with = "f3", deserialize_with = "parse_opt")]
    pub speedup: Option<f64>,
    #[serde(serialize_with = "f3", deserialize_with = "parse_opt")]
    pub speedup_ci_low: Option<f64>,
    #[serde(serialize_with = "f3", deserialize_with = "parse_opt")]
    pub speedup_ci_high: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub cpu_util_pct: Option<f64>,
    /// Loads alive over loads started, the worst round: `3/4`.
    pub loads_alive: String,
    /// The CPU frequencies read just before the benchmark (`policy0=...`),
    /// or `not set (left at current)` where the board could not set them.
    pub cpu_khz: String,
    pub gpu_khz: String,
    /// The smallest and largest per-kernel K: `4` or `2-8`.
    pub k_range: String,
    pub lut: String,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub profile_t_prod_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub profile_t_ker_us: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub model_latency_us: Option<f64>,
    pub device: String,
    pub noise: String,
    pub hash: String,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub thermal_wait_s: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub temp_start_c: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub temp_end_c: Option<f64>,
}

impl Row for SummaryRow {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "board",
        "load",
        "cpu_freq",
        "gpu_freq",
        "knobs",
        "network",
        "strategy",
        "k",
        "status",
        "rounds",
        "inferences",
        "latency_mean_us",
        "latency_ci_low_us",
        "latency_ci_high_us",
        "latency_cv_between_pct",
        "latency_cv_within_pct",
        "t_prod_mean_us",
        "t_ker_mean_us",
        "t_idle_mean_us",
        "t_flush_mean_us",
        "flushes_mean",
        "k_mean",
        "speedup",
        "speedup_ci_low",
        "speedup_ci_high",
        "cpu_util_pct",
        "loads_alive",
        "cpu_khz",
        "gpu_khz",
        "k_range",
        "lut",
        "profile_t_prod_us",
        "profile_t_ker_us",
        "model_latency_us",
        "device",
        "noise",
        "hash",
        "thermal_wait_s",
        "temp_start_c",
        "temp_end_c",
    ];
    const NUMERIC: &'static [&'static str] = &[
        "inferences",
        "latency_mean_us",
        "latency_ci_low_us",
        "latency_ci_high_us",
        "latency_cv_between_pct",
        "latency_cv_within_pct",
        "t_prod_mean_us",
        "t_ker_mean_us",
        "t_idle_mean_us",
        "t_flush_mean_us",
        "flushes_mean",
        "k_mean",
        "speedup",
        "speedup_ci_low",
        "speedup_ci_high",
        "cpu_util_pct",
        "profile_t_prod_us",
        "profile_t_ker_us",
        "model_latency_us",
        "thermal_wait_s",
        "temp_start_c",
        "temp_end_c",
    ];
}

impl SummaryRow {
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The one K the cell ran with (none when it ran several, or none).
    pub fn single_k(&self) -> Option<u32> {
        self.k.parse().ok()
    }

    /// The value of a condition axis (`load`, `cpu_freq`, `gpu_freq`,
    /// `knobs`, `network`; "" for another name).
    pub fn axis(&self, name: &str) -> &str {
        match name {
            "load" => &self.load,
            "cpu_freq" => &self.cpu_freq,
            "gpu_freq" => &self.gpu_freq,
            "knobs" => &self.knobs,
            "network" => &self.network,
            "board" => &self.board,
            _ => "",
        }
    }
}

/// One run's row of rounds.csv: a cell in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRow {
    pub id: String,
    #[serde(deserialize_with = "parse")]
    pub round: u32,
    /// Its place in the run order.
    #[serde(serialize_with = "opt", deserialize_with = "parse_opt")]
    pub position: Option<u32>,
    pub status: Status,
    #[serde(serialize_with = "opt", deserialize_with = "parse_opt")]
    pub inferences: Option<u32>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub latency_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_prod_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_ker_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_idle_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_flush_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub flushes_mean: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub k_mean: Option<f64>,
    #[serde(serialize_with = "opt", deserialize_with = "parse_opt")]
    pub k: Option<u32>,
    #[serde(serialize_with = "f3", deserialize_with = "parse_opt")]
    pub speedup: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub cpu_util_pct: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub foreign_cpu_pct: Option<f64>,
    /// Other cells' runs that overlapped this one, space-separated.
    pub overlapped: String,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub thermal_wait_s: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub temp_start_c: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub temp_end_c: Option<f64>,
}

impl Row for RoundRow {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "round",
        "position",
        "status",
        "inferences",
        "latency_us",
        "t_prod_us",
        "t_ker_us",
        "t_idle_us",
        "t_flush_us",
        "flushes_mean",
        "k_mean",
        "k",
        "speedup",
        "cpu_util_pct",
        "foreign_cpu_pct",
        "overlapped",
        "thermal_wait_s",
        "temp_start_c",
        "temp_end_c",
    ];
    const NUMERIC: &'static [&'static str] = &[
        "round",
        "position",
        "inferences",
        "latency_us",
        "t_prod_us",
        "t_ker_us",
        "t_idle_us",
        "t_flush_us",
        "flushes_mean",
        "k_mean",
        "k",
        "speedup",
        "cpu_util_pct",
        "foreign_cpu_pct",
        "thermal_wait_s",
        "temp_start_c",
        "temp_end_c",
    ];
}
