//! kstrategy.csv: K_opt (from a LUT) against K_answer, per condition.

use serde::{Deserialize, Serialize};

use super::cell::{f1, f2, opt, p, parse_opt};
use super::{Row, Verdict};

/// One condition's K_opt and K_answer (see `analysis::kstrategy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KstrategyRow {
    pub condition: String,
    #[serde(serialize_with = "opt", deserialize_with = "parse_opt")]
    pub k_opt: Option<u32>,
    /// The LUT's hash.
    pub lut: String,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub latency_k_opt_us: Option<f64>,
    #[serde(serialize_with = "opt", deserialize_with = "parse_opt")]
    pub k_answer: Option<u32>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub latency_k_answer_us: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub gap_pct: Option<f64>,
    /// Whether K_opt's latency is within the tolerance of K_answer's.
    #[serde(serialize_with = "opt", deserialize_with = "parse_opt")]
    pub k_opt_close: Option<Verdict>,
    pub test: String,
    #[serde(serialize_with = "p", deserialize_with = "parse_opt")]
    pub p_value: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_prod_mean_us: Option<f64>,
    #[serde(serialize_with = "f2", deserialize_with = "parse_opt")]
    pub t_ker_mean_us: Option<f64>,
}

impl Row for KstrategyRow {
    const COLUMNS: &'static [&'static str] = &[
        "condition",
        "k_opt",
        "lut",
        "latency_k_opt_us",
        "k_answer",
        "latency_k_answer_us",
        "gap_pct",
        "k_opt_close",
        "test",
        "p_value",
        "t_prod_mean_us",
        "t_ker_mean_us",
    ];
    const NUMERIC: &'static [&'static str] = &[
        "k_opt",
        "latency_k_opt_us",
        "k_answer",
        "latency_k_answer_us",
        "gap_pct",
        "p_value",
        "t_prod_mean_us",
        "t_ker_mean_us",
    ];
}
