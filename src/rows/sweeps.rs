//! sweeps.csv: one row per K sweep (or search) and condition.

use serde::{Deserialize, Serialize};

use super::Row;
use super::cell::{f1, f3, opt, parse_opt};

/// One sweep or search of one condition: its K_answer (see
/// `analysis::sweeps`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// `<condition>/<strategy label>`.
    pub sweep: String,
    /// The K values run, space-separated.
    pub k_values: String,
    #[serde(serialize_with = "opt", deserialize_with = "parse_opt")]
    pub k_answer: Option<u32>,
    /// In how many rounds K_answer was also the round's best: `4/5`.
    pub k_answer_rounds: String,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub latency_mean_us: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub default_latency_mean_us: Option<f64>,
    #[serde(serialize_with = "f3", deserialize_with = "parse_opt")]
    pub speedup: Option<f64>,
    /// Cells (a sweep) or rounds (a search) ok over all: `3/3`.
    pub cells_ok: String,
    /// Runs made: a number (a sweep), or `made/a sweep's` (a search).
    pub runs: String,
    /// K_opt, in sweeps.csv of older result sets (now in kstrategy.csv):
    /// read back, never written.
    #[serde(default, skip_serializing, deserialize_with = "parse_opt")]
    pub k_opt: Option<u32>,
}

impl Row for SweepRow {
    const COLUMNS: &'static [&'static str] = &[
        "sweep",
        "k_values",
        "k_answer",
        "k_answer_rounds",
        "latency_mean_us",
        "default_latency_mean_us",
        "speedup",
        "cells_ok",
        "runs",
    ];
    const NUMERIC: &'static [&'static str] = &[
        "k_answer",
        "latency_mean_us",
        "default_latency_mean_us",
        "speedup",
    ];
}

impl SweepRow {
    /// The condition of the sweep (its id without the strategy label).
    pub fn condition(&self) -> Option<&str> {
        self.sweep.rsplit_once('/').map(|x| x.0)
    }

    /// The K values run.
    pub fn ks(&self) -> impl Iterator<Item = u32> + '_ {
        self.k_values
            .split_whitespace()
            .filter_map(|k| k.parse().ok())
    }
}
