//! The K strategies of the `strategy` axis: their YAML forms and JSON
//! Schemas.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::freq::{CpuFreq, GpuFreq};

/// How the flush period K is chosen.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// K = 1: flush after every kernel (the frameworks' default; the
    /// speedup baseline).
    Default,
    /// A given K.
    Fixed(u32),
    /// Every K of a list, one cell each; the best is K_answer.
    Sweep(Sweep),
    /// One K for the whole inference: the LUT's K_opt for the mean T_prod
    /// and T_ker of a profile (the `default` cell of the same board, network
    /// and frequencies; without load for `baseline`, with the cell's own
    /// load for `self`).
    Constant(FromProfile),
    /// A flush schedule fixed before the run: LUT lookups over segments of
    /// the profile's per-kernel T_prod and T_ker.
    Static(FromProfile),
    /// K looked up in the LUT during the run, with the running mean of T_prod.
    Dynamic,
    /// K_answer found by a search over K = 1..=k_max, with fewer runs than
    /// a sweep of all of them.
    Search(SearchSpec),
}

/// Where a LUT strategy takes its profile from.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct FromProfile {
    /// `baseline`: the profile without load; `self`: with the cell's load.
    pub profile: ProfileKind,
    /// Take the profile at this CPU frequency setting instead of the cell's
    /// (e.g. K_opt,maxfreq run at F_min).
    #[serde(default)]
    pub cpu_freq: Option<CpuFreq>,
    /// Take the profile at this GPU frequency setting instead of the cell's.
    #[serde(default)]
    pub gpu_freq: Option<GpuFreq>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    Baseline,
    #[serde(rename = "self")]
    SelfLoad,
}

/// A K_answer search.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    /// The largest K tried.
    #[schemars(range(min = 2, max = 4096))]
    pub k_max: u32,
}

/// A K sweep.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// The K values to run, each at least 1.
    pub k: Vec<u32>,
}

impl Strategy {
    /// True for strategies that look K up in the LUT.
    pub fn uses_lut(&self) -> bool {
        matches!(
            self,
            Strategy::Constant(_) | Strategy::Static(_) | Strategy::Dynamic
        )
    }
}
