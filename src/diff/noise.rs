//! When a change is noise. A metric of a cell changed when the relative
//! change exceeds the threshold and, where the spread is known, a test says
//! the two sides differ:
//!
//! - per-inference samples on both sides (the raw cells): Mann-Whitney U,
//!   the test the checklist uses (rank-based: latencies are skewed);
//! - only the tables: Welch's t-test from the stored mean, standard
//!   deviation and count (latency has them in summary.csv);
//! - speedup, a ratio of two cells' latencies (the cell's and its
//!   condition's `default` cell's): a z-test on the log speedup, its
//!   variance from both cells' latency spread (delta method). Testing the
//!   per-inference speedups instead would treat the default cell's mean as
//!   exact, and call every shift of that one mean significant;
//! - no spread stored (T_prod, T_ker, T_idle from tables alone): the
//!   threshold alone decides, and the row says so.
//!
//! A diff makes many comparisons at once, so p-values are adjusted with
//! Holm's step-down method (family-wise error at `alpha`) before marking.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// How a row was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Mann-Whitney U on per-inference samples.
    Samples,
    /// Welch's t-test from the tables' mean, std and n.
    Summary,
    /// z-test on the log speedup, variance by the delta method.
    LogRatio,
    /// No spread known: the threshold alone.
    Threshold,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Samples => "u-test",
            Basis::Summary => "welch",
            Basis::LogRatio => "z-test",
            Basis::Threshold => "threshold",
        }
    }
}

/// Mean, sample standard deviation and count of one side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
    pub n: f64,
}

/// Two-sided p-value of Welch's t-test from summary statistics (as SciPy's
/// `ttest_ind_from_stats(..., equal_var=False)`); `None` with fewer than 2
/// values a side or no spread at all.
pub fn welch(a: Spread, b: Spread) -> Option<f64> {
    if a.n < 2.0 || b.n < 2.0 || !a.std.is_finite() || !b.std.is_finite() {
        return None;
    }
    let (va, vb) = (a.std * a.std / a.n, b.std * b.std / b.n);
    let se2 = va + vb;
    if se2 <= 0.0 {
        return None;
    }
    let df = se2 * se2 / (va * va / (a.n - 1.0) + vb * vb / (b.n - 1.0));
    let t = (a.mean - b.mean) / se2.sqrt();
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some((2.0 * dist.sf(t.abs())).min(1.0))
}

/// Variance of the log of a ratio of two means, `base / cell` (delta
/// method: the squared relative standard errors add up).
pub fn log_ratio_variance(cell: Spread, base: Spread) -> Option<f64> {
    let rel = |s: Spread| {
        (s.n >= 2.0 && s.mean > 0.0 && s.std.is_finite()).then(|| (s.std / s.mean).powi(2) / s.n)
    };
    Some(rel(cell)? + rel(base)?)
}

/// Two-sided p-value that two ratios differ, from each one's value and the
/// variance of its log (normal approximation).
pub fn log_ratio_z(old: f64, var_old: f64, new: f64, var_new: f64) -> Option<f64> {
    let se = (var_old + var_new).sqrt();
    if old <= 0.0 || new <= 0.0 || se.is_nan() || se <= 0.0 {
        return None;
    }
    let z = (new.ln() - old.ln()) / se;
    let normal = statrs::distribution::Normal::standard();
    Some((2.0 * normal.sf(z.abs())).min(1.0))
}

/// Holm's step-down adjustment: the i-th smallest of m p-values becomes
/// `max over j <= i of (m - j) p_(j)`, capped at 1. Order is kept.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_matches_scipy() {
        // scipy.stats.ttest_ind_from_stats(100, 10, 10, 110, 12, 12,
        // equal_var=False).pvalue = 0.0455946954042399
        let p = welch(
            Spread {
                mean: 100.0,
                std: 10.0,
                n: 10.0,
            },
            Spread {
                mean: 110.0,
                std: 12.0,
                n: 12.0,
            },
        )
        .unwrap();
        assert!((p - 0.0455946954042399).abs() < 1e-9, "{p}");
        // Two quickstart cells: (19010.7, 4203.3, 10) vs (20651.2, 601.8, 10)
        // gives 0.2516545464383348.
        let p = welch(
            Spread {
                mean: 19010.7,
                std: 4203.3,
                n: 10.0,
            },
            Spread {
                mean: 20651.2,
                std: 601.8,
                n: 10.0,
            },
        )
        .unwrap();
        assert!((p - 0.2516545464383348).abs() < 1e-9, "{p}");
        let one = Spread {
            mean: 1.0,
            std: 0.0,
            n: 1.0,
        };
        assert_eq!(welch(one, one), None);
    }

    #[test]
    fn log_ratio_z_matches_a_hand_computation() {
        // Speedups 1.0 and 1.2, log variances 0.001 each: z = ln 1.2 /
        // sqrt(0.002) = 4.0768; two-sided p = 4.565307e-5
        // (2 * scipy.stats.norm.sf(4.076833947548711)).
        let p = log_ratio_z(1.0, 0.001, 1.2, 0.001).unwrap();
        assert!((p - 4.565307092348283e-05).abs() < 1e-10, "{p}");
        let v = log_ratio_variance(
            Spread {
                mean: 100.0,
                std: 10.0,
                n: 10.0,
            },
            Spread {
                mean: 200.0,
                std: 40.0,
                n: 4.0,
            },
        )
        .unwrap();
        assert!((v - (0.01 / 10.0 + 0.04 / 4.0)).abs() < 1e-15, "{v}");
        assert_eq!(log_ratio_z(1.0, 0.0, 1.0, 0.0), None);
    }

    #[test]
    fn holm_matches_the_textbook_example() {
        // Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06,
        // 0.04 x 1 = 0.04, raised to the running maximum 0.06.
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
        assert!(holm(&[]).is_empty());
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
    }
}
