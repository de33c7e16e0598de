//! When a change is noise. A metric of a cell changed when the relative
//! change of its mean over rounds exceeds the threshold and a test says the
//! two result sets differ:
//!
//! - both sets have rounds.csv (every set written since rounds exist):
//!   Welch's t test on the logs of the cell's per-round figures, old
//!   rounds against new (two runs are never paired: their rounds are not
//!   the same moments). Each round is one run of the cell; its inferences
//!   are not independent samples, so they are never tested one by one.
//!   Speedups are per-round speedups against the round's `default` cell;
//! - otherwise (a set without rounds.csv, or fewer than 2 ok rounds a
//!   side): the threshold alone decides, and the row says so.
//!
//! A diff makes many comparisons at once, so p-values are adjusted with
//! Holm's step-down method (family-wise error at `alpha`) before marking.

use std::collections::BTreeMap;

use crate::analysis::stats::TTest;

/// How a row was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Welch's t on the logs of per-round figures.
    Rounds,
    /// Too few rounds known: the threshold alone.
    Threshold,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Rounds => "welch over rounds",
            Basis::Threshold => "threshold",
        }
    }
}

/// Two-sided p-value that a cell's figure moved between two result sets,
/// from their per-round figures (Welch on logs; on the values themselves
/// when one is not positive); `None` with fewer than 2 rounds a side.
pub fn rounds_p(old: &BTreeMap<u32, f64>, new: &BTreeMap<u32, f64>) -> Option<f64> {
    let log = old.values().chain(new.values()).all(|v| *v > 0.0);
    let tr = |m: &BTreeMap<u32, f64>| -> Vec<f64> {
        m.values().map(|v| if log { v.ln() } else { *v }).collect()
    };
    TTest::welch(&tr(old), &tr(new)).map(|t| t.p_two())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_p_is_welch_on_logs() {
        // scipy.stats.ttest_ind(log([100, 104, 98, 101]), log([110, 112,
        // 108, 115, 109]), equal_var=False).pvalue = 0.0008994615288071293
        let old: BTreeMap<u32, f64> = [100.0, 104.0, 98.0, 101.0]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32 + 1, *v))
            .collect();
        let new: BTreeMap<u32, f64> = [110.0, 112.0, 108.0, 115.0, 109.0]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32 + 1, *v))
            .collect();
        let p = rounds_p(&old, &new).unwrap();
        assert!((p - 0.0008994615288071293).abs() < 1e-9, "{p}");
        let one: BTreeMap<u32, f64> = [(1, 1.0)].into_iter().collect();
        assert_eq!(rounds_p(&one, &new), None);
    }
}
