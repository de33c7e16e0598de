//! The statistics behind checks, on per-inference samples.
//!
//! - Differences in location: the Mann-Whitney U test (rank-based: latency
//!   distributions are skewed and have outliers). Exact distribution of U
//!   when there are no ties and both samples have at most 50 values; normal
//!   approximation with tie correction and continuity correction otherwise.
//!   Effect size: Cliff's delta, P(a > b) - P(a < b), in [-1, 1].
//! - Equivalence within a relative tolerance: two one-sided Welch t-tests
//!   (TOST) on the difference of means, margin `tolerance x |mean(b)|`.
//! - Ratios of means (speedups, each over its own baseline): a z-test on the
//!   log of the ratio, its variance from every sample set by the delta
//!   method (`log_ratio`).

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Samples below which no verdict is given.
pub const MIN_SAMPLES: usize = 3;
/// Largest sample size for which the exact U distribution is computed.
pub const EXACT_MAX: usize = 50;

pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample variance (n - 1 in the denominator).
pub fn variance(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64
}

/// Result of a Mann-Whitney U test of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mwu {
    /// U of `a`: pairs with a > b, ties counting one half.
    pub u: f64,
    /// P-value for "a and b differ in location".
    pub p_two: f64,
    /// P-value for "a tends to be lower than b".
    pub p_less: f64,
    /// P-value for "a tends to be higher than b".
    pub p_greater: f64,
    pub exact: bool,
    /// Cliff's delta: P(a > b) - P(a < b).
    pub delta: f64,
}

/// Ranks with ties averaged (1-based), and the tie groups' sizes.
fn ranks(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut r = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        if j > i {
            ties.push(j - i + 1);
        }
        i = j + 1;
    }
    (r, ties)
}

/// Number of arrangements of n a-values and m b-values (no ties) for each
/// value of U (pairs with a above b). Built by adding the largest value:
/// an `a` on top is above all m b's.
fn u_distribution(n: usize, m: usize) -> Vec<f64> {
    let max_u = n * m;
    // prev[mm][u] = count for (na - 1, mm); cur[mm][u] = count for (na, mm).
    let mut prev: Vec<Vec<f64>> = (0..=m)
        .map(|_| {
            let mut v = vec![0.0; max_u + 1];
            v[0] = 1.0;
            v
        })
        .collect();
    for _na in 1..=n {
        let mut cur: Vec<Vec<f64>> = vec![vec![0.0; max_u + 1]; m + 1];
        cur[0][0] = 1.0;
        for mm in 1..=m {
            for u in 0..=max_u {
                let top_a = if u >= mm { prev[mm][u - mm] } else { 0.0 };
                cur[mm][u] = top_a + cur[mm - 1][u];
            }
        }
        prev = cur;
    }
    prev.swap_remove(m)
}

pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<Mwu> {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return None;
    }
    let all: Vec<f64> = a.iter().chain(b).copied().collect();
    let (r, ties) = ranks(&all);
    let rank_sum_a: f64 = r[..n].iter().sum();
    let u = rank_sum_a - (n * (n + 1)) as f64 / 2.0;
    let nm = (n * m) as f64;
    let delta = 2.0 * u / nm - 1.0;

    if ties.is_empty() && n <= EXACT_MAX && m <= EXACT_MAX {
        let dist = u_distribution(n, m);
        let total: f64 = dist.iter().sum();
        let u_obs = u.round() as usize;
        let p_greater = dist[u_obs..].iter().sum::<f64>() / total;
        let p_less = dist[..=u_obs].iter().sum::<f64>() / total;
        let p_two = (2.0 * p_less.min(p_greater)).min(1.0);
        return Some(Mwu {
            u,
            p_two,
            p_less,
            p_greater,
            exact: true,
            delta,
        });
    }

    let total_n = (n + m) as f64;
    let tie_term: f64 =
        ties.iter().map(|&t| (t * t * t - t) as f64).sum::<f64>() / (total_n * (total_n - 1.0));
    let var = nm / 12.0 * ((total_n + 1.0) - tie_term);
    if var <= 0.0 {
        return Some(Mwu {
            u,
            p_two: 1.0,
            p_less: 1.0,
            p_greater: 1.0,
            exact: false,
            delta,
        });
    }
    let sd = var.sqrt();
    let mu = nm / 2.0;
    let normal = Normal::standard();
    let p_greater = 1.0 - normal.cdf((u - mu - 0.5) / sd);
    let p_less = normal.cdf((u - mu + 0.5) / sd);
    let p_two = (2.0 * p_less.min(p_greater)).min(1.0);
    Some(Mwu {
        u,
        p_two,
        p_less,
        p_greater,
        exact: false,
        delta,
    })
}

/// P-value of "mean(a) and mean(b) differ by less than `tol x |mean(b)|`"
/// (two one-sided Welch t-tests; the larger of the two p-values).
pub fn tost(a: &[f64], b: &[f64], tol: f64) -> Option<f64> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (ma, mb) = (mean(a), mean(b));
    let (va, vb) = (variance(a) / a.len() as f64, variance(b) / b.len() as f64);
    let d = ma - mb;
    let margin = tol * mb.abs();
    let se = (va + vb).sqrt();
    if se == 0.0 {
        return Some(if d.abs() < margin { 0.0 } else { 1.0 });
    }
    let df = (va + vb).powi(2)
        / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64).max(f64::MIN_POSITIVE);
    let t = StudentsT::new(0.0, 1.0, df.max(1.0)).ok()?;
    let p_lower = 1.0 - t.cdf((d + margin) / se); // H0: d <= -margin
    let p_upper = t.cdf((d - margin) / se); // H0: d >= margin
    Some(p_lower.max(p_upper))
}

/// The log of a product of mean ratios, with its standard error by the
/// delta method: `num` are sample sets whose means multiply the ratio,
/// `den` those that divide it (Var ln mean(x) ~ var(x) / (n mean(x)^2)).
pub struct LogRatio {
    pub d: f64,
    pub se: f64,
}

pub fn log_ratio(num: &[&[f64]], den: &[&[f64]]) -> Option<LogRatio> {
    let mut d = 0.0;
    let mut var = 0.0;
    for (sets, sign) in [(num, 1.0), (den, -1.0)] {
        for x in sets {
            let m = mean(x);
            if x.is_empty() || m <= 0.0 || !m.is_finite() {
                return None;
            }
            d += sign * m.ln();
            var += variance(x) / (x.len() as f64 * m * m);
        }
    }
    Some(LogRatio { d, se: var.sqrt() })
}

impl LogRatio {
    fn cdf(&self, at: f64) -> f64 {
        if self.se > 0.0 {
            Normal::new(0.0, 1.0)
                .map(|n| n.cdf((at - self.d) / self.se))
                .unwrap_or(0.5)
        } else if at >= self.d {
            1.0
        } else {
            0.0
        }
    }

    /// p of "the ratio is below 1" being due to chance (small when it is
    /// clearly below).
    pub fn p_less(&self) -> f64 {
        1.0 - self.cdf(0.0)
    }

    pub fn p_greater(&self) -> f64 {
        self.cdf(0.0)
    }

    /// Two one-sided tests that the ratio is within a factor (1 + tol).
    pub fn p_equivalent(&self, tol: f64) -> f64 {
        let delta = (1.0 + tol).ln();
        // H0: d <= -delta (p = P(D > d | d = -delta)) or d >= delta.
        let lower = self.cdf(-delta);
        let upper = 1.0 - self.cdf(delta);
        lower.max(upper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn exact_u_matches_scipy() {
        // scipy.stats.mannwhitneyu([1,2,3,4,5],[6,7,8,9,10], method="exact")
        // gives U = 0, two-sided p = 0.007936507936507936.
        let r = mann_whitney(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert!(r.exact);
        assert_eq!(r.u, 0.0);
        assert!(close(r.p_two, 0.007936507936507936, 1e-12), "{}", r.p_two);
        assert!(close(r.p_less, 0.003968253968253968, 1e-12));
        assert_eq!(r.delta, -1.0);
        // [1,4,7,10] vs [2,3,5,6,8]: U = 11, exact two-sided p = 0.9047619047619049.
        let r = mann_whitney(&[1.0, 4.0, 7.0, 10.0], &[2.0, 3.0, 5.0, 6.0, 8.0]).unwrap();
        assert_eq!(r.u, 11.0);
        assert!(close(r.p_two, 0.9047619047619049, 1e-12), "{}", r.p_two);
    }

    #[test]
    fn normal_approximation_with_ties_matches_scipy() {
        // scipy.stats.mannwhitneyu([1,2,2,3,4,5],[2,3,6,7,8,8], method="asymptotic")
        // gives U = 6.5, p = 0.07504619556200975 (continuity- and tie-corrected).
        let r = mann_whitney(
            &[1.0, 2.0, 2.0, 3.0, 4.0, 5.0],
            &[2.0, 3.0, 6.0, 7.0, 8.0, 8.0],
        )
        .unwrap();
        assert!(!r.exact);
        assert_eq!(r.u, 6.5);
        assert!(close(r.p_two, 0.07504619556200975, 1e-9), "{}", r.p_two);
    }

    #[test]
    fn all_equal_samples_give_no_evidence() {
        let r = mann_whitney(&[5.0; 6], &[5.0; 6]).unwrap();
        assert_eq!(r.p_two, 1.0);
        assert_eq!(r.delta, 0.0);
    }

    #[test]
    fn tost_tells_equivalent_from_different() {
        let a: Vec<f64> = (0..30).map(|i| 100.0 + (i % 5) as f64 * 0.2).collect();
        let b: Vec<f64> = (0..30).map(|i| 100.1 + (i % 3) as f64 * 0.2).collect();
        assert!(tost(&a, &b, 0.05).unwrap() < 0.001);
        let c: Vec<f64> = a.iter().map(|x| x * 1.3).collect();
        assert!(tost(&c, &b, 0.05).unwrap() > 0.5);
    }
}
