//! checklist.csv: one row per comparison of a check.

use serde::{Deserialize, Serialize};

use super::cell::{f1, f3, f4, p, parse_opt};
use super::{Row, Verdict};

/// One comparison of a check: cell `a` against cell `b` of one group
/// (see `analysis::checks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistRow {
    pub check: String,
    pub title: String,
    pub group: String,
    pub metric: String,
    pub kind: String,
    pub a: String,
    pub b: String,
    /// Rounds tested: `5` paired, `4+5` unpaired.
    pub rounds: String,
    pub test: String,
    #[serde(serialize_with = "f3", deserialize_with = "parse_opt")]
    pub mean_a: Option<f64>,
    #[serde(serialize_with = "f3", deserialize_with = "parse_opt")]
    pub mean_b: Option<f64>,
    #[serde(serialize_with = "f4", deserialize_with = "parse_opt")]
    pub ratio: Option<f64>,
    #[serde(serialize_with = "f4", deserialize_with = "parse_opt")]
    pub ratio_ci_low: Option<f64>,
    #[serde(serialize_with = "f4", deserialize_with = "parse_opt")]
    pub ratio_ci_high: Option<f64>,
    #[serde(serialize_with = "f4", deserialize_with = "parse_opt")]
    pub hl_ratio: Option<f64>,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub df: Option<f64>,
    #[serde(serialize_with = "p", deserialize_with = "parse_opt")]
    pub p_value: Option<f64>,
    #[serde(serialize_with = "p", deserialize_with = "parse_opt")]
    pub p_holm: Option<f64>,
    #[serde(serialize_with = "p", deserialize_with = "parse_opt")]
    pub q_bh: Option<f64>,
    pub verdict: Verdict,
    #[serde(serialize_with = "f1", deserialize_with = "parse_opt")]
    pub mde_pct: Option<f64>,
    /// The rounds that would detect the observed effect: a number, or
    /// `>1000` beyond what is worth saying.
    pub rounds_needed: String,
    pub note: String,
}

impl Row for ChecklistRow {
    const COLUMNS: &'static [&'static str] = &[
        "check",
        "title",
        "group",
        "metric",
        "kind",
        "a",
        "b",
        "rounds",
        "test",
        "mean_a",
        "mean_b",
        "ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "hl_ratio",
        "df",
        "p_value",
        "p_holm",
        "q_bh",
        "verdict",
        "mde_pct",
        "rounds_needed",
        "note",
    ];
    const NUMERIC: &'static [&'static str] = &[
        "mean_a",
        "mean_b",
        "ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "hl_ratio",
        "df",
        "p_value",
        "p_holm",
        "q_bh",
        "mde_pct",
    ];
}
