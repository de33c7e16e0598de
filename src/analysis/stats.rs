//! The statistics behind checks and `diff`, on per-round figures.
//!
//! A cell runs once per round; a round's figure for a metric is the mean
//! over that run's measured inferences. Inferences of one process run share
//! its placement, caches, clocks and heat, so they are not independent
//! samples: every test here takes one value per round (see
//! `docs/statistics.md`).
//!
//! - A t statistic with its standard error and degrees of freedom
//!   ([`TTest`]): paired by round (the differences of both sides' logs),
//!   or Welch's unpaired test with Welch-Satterthwaite degrees of freedom.
//!   Tails come from Student's t survival function, never `1 - cdf` (which
//!   rounds small tails to 0).
//! - Equivalence: two one-sided tests against a margin (TOST), the same as
//!   a (1 - 2 alpha) confidence interval inside the margin.
//! - Many comparisons: Holm's step-down adjustment (family-wise) and
//!   Benjamini-Hochberg's q-values (false discovery rate).
//! - Robust companions: the Hodges-Lehmann estimate (the median of Walsh
//!   averages for paired differences, of all pairwise differences for two
//!   samples), Spearman's rank correlation, Tukey's fences.
//! - Design: the minimum detectable effect at a power, the rounds that
//!   would detect an effect, and one-way ANOVA variance components
//!   (between rounds, within a round).

use statrs::distribution::{ContinuousCDF, StudentsT};

pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample variance (n - 1 in the denominator); 0 for fewer than 2 values.
pub fn variance(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64
}

pub fn sd(x: &[f64]) -> f64 {
    variance(x).sqrt()
}

/// Student's t with `df` degrees of freedom (`df` may be fractional).
fn student(df: f64) -> StudentsT {
    StudentsT::new(0.0, 1.0, df.max(f64::MIN_POSITIVE)).expect("df > 0 is a valid Student's t")
}

/// The `p` quantile of Student's t with `df` degrees of freedom.
pub fn t_quantile(df: f64, p: f64) -> f64 {
    student(df).inverse_cdf(p)
}

/// P(T > x) for Student's t with `df` degrees of freedom.
pub fn t_sf(df: f64, x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    student(df).sf(x)
}

/// An estimate with a t-distributed error: the mean of paired differences,
/// or a difference of two means (Welch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TTest {
    /// The estimate (a mean difference, on whatever scale it was taken).
    pub est: f64,
    /// Its standard error.
    pub se: f64,
    pub df: f64,
}

impl TTest {
    /// One-sample t on paired differences `d` (H0: mean 0), as SciPy's
    /// `ttest_rel`; `None` with fewer than 2 values.
    pub fn paired(d: &[f64]) -> Option<TTest> {
        if d.len() < 2 || d.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let n = d.len() as f64;
        Some(TTest {
            est: mean(d),
            se: sd(d) / n.sqrt(),
            df: n - 1.0,
        })
    }

    /// Welch's t on mean(a) - mean(b), degrees of freedom by
    /// Welch-Satterthwaite, as SciPy's `ttest_ind(equal_var=False)`; `None`
    /// with fewer than 2 values a side.
    pub fn welch(a: &[f64], b: &[f64]) -> Option<TTest> {
        if a.len() < 2 || b.len() < 2 || a.iter().chain(b).any(|x| !x.is_finite()) {
            return None;
        }
        let (na, nb) = (a.len() as f64, b.len() as f64);
        let (va, vb) = (variance(a) / na, variance(b) / nb);
        let se2 = va + vb;
        let df = if se2 > 0.0 {
            se2 * se2 / (va * va / (na - 1.0) + vb * vb / (nb - 1.0))
        } else {
            na + nb - 2.0
        };
        Some(TTest {
            est: mean(a) - mean(b),
            se: se2.sqrt(),
            df,
        })
    }

    /// The t statistic; with no spread at all, +-infinity for a nonzero
    /// estimate and NaN for zero.
    pub fn t(&self) -> f64 {
        if self.se > 0.0 {
            self.est / self.se
        } else if self.est == 0.0 {
            f64::NAN
        } else {
            self.est.signum() * f64::INFINITY
        }
    }

    /// P-value of H0 `est <= shift` against `est > shift`.
    pub fn p_greater_than(&self, shift: f64) -> f64 {
        let shifted = TTest {
            est: self.est - shift,
            ..*self
        };
        let t = shifted.t();
        if t.is_nan() { 0.5 } else { t_sf(self.df, t) }
    }

    /// P-value of H0 `est >= shift` against `est < shift`.
    pub fn p_less_than(&self, shift: f64) -> f64 {
        let shifted = TTest {
            est: self.est - shift,
            ..*self
        };
        let t = shifted.t();
        if t.is_nan() { 0.5 } else { t_sf(self.df, -t) }
    }

    /// One-sided p-value for "the estimate is above 0".
    pub fn p_greater(&self) -> f64 {
        self.p_greater_than(0.0)
    }

    /// One-sided p-value for "the estimate is below 0".
    pub fn p_less(&self) -> f64 {
        self.p_less_than(0.0)
    }

    /// Two-sided p-value for "the estimate is not 0".
    pub fn p_two(&self) -> f64 {
        let t = self.t();
        if t.is_nan() {
            1.0
        } else {
            (2.0 * t_sf(self.df, t.abs())).min(1.0)
        }
    }

    /// The two-sided confidence interval at `level` (0.95 for 95%).
    pub fn ci(&self, level: f64) -> (f64, f64) {
        if self.se == 0.0 {
            return (self.est, self.est);
        }
        let h = t_quantile(self.df, 0.5 + level / 2.0) * self.se;
        (self.est - h, self.est + h)
    }

    /// P-value of "the estimate lies within (-margin, margin)": the larger
    /// of the two one-sided tests (TOST), as statsmodels' `ttost_paired` /
    /// `ttost_ind(usevar="unequal")`. It is below alpha exactly when the
    /// (1 - 2 alpha) interval lies inside the margin.
    pub fn p_equivalent(&self, margin: f64) -> f64 {
        self.p_greater_than(-margin).max(self.p_less_than(margin))
    }

    /// Minimum detectable effect (on the estimate's scale): the smallest
    /// true effect a test at level `alpha_side` (one tail) finds with
    /// probability `power`, at this standard error.
    pub fn mde(&self, alpha_side: f64, power: f64) -> f64 {
        (t_quantile(self.df, 1.0 - alpha_side) + t_quantile(self.df, power)) * self.se
    }
}

/// The smallest number of rounds n (at least 2) for which a paired test at
/// level `alpha_side` (one tail) detects `effect` with probability `power`,
/// given the spread `sd_d` of one round's difference:
/// `(t(n-1, 1-alpha) + t(n-1, power)) * sd_d / sqrt(n) <= |effect|`.
/// `None` above `limit`.
pub fn rounds_needed(
    sd_d: f64,
    effect: f64,
    alpha_side: f64,
    power: f64,
    limit: u32,
) -> Option<u32> {
    if !(sd_d.is_finite() && effect.is_finite()) {
        return None;
    }
    if sd_d == 0.0 {
        return Some(2);
    }
    (2..=limit).find(|&n| {
        let df = (n - 1) as f64;
        (t_quantile(df, 1.0 - alpha_side) + t_quantile(df, power)) * sd_d / (n as f64).sqrt()
            <= effect.abs()
    })
}

/// Holm's step-down adjustment (as statsmodels' `multipletests(method=
/// "holm")`): controls the family-wise error rate. NaN stays NaN and is
/// not counted.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let m = idx.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running: f64 = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Benjamini-Hochberg q-values (as statsmodels' `multipletests(method=
/// "fdr_bh")`): controls the false discovery rate. NaN stays NaN.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let m = idx.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running: f64 = 1.0;
    for (rank, &i) in idx.iter().enumerate().rev() {
        running = running.min((m as f64 * p[i] / (rank + 1) as f64).min(1.0));
        out[i] = running;
    }
    out
}

/// Median of a non-empty slice (mean of the two middle values).
pub fn median(x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Hodges-Lehmann estimate of the center of paired differences: the
/// median of the Walsh averages (d_i + d_j) / 2, i <= j.
pub fn hodges_lehmann_paired(d: &[f64]) -> Option<f64> {
    if d.is_empty() {
        return None;
    }
    let mut w = Vec::with_capacity(d.len() * (d.len() + 1) / 2);
    for i in 0..d.len() {
        for j in i..d.len() {
            w.push((d[i] + d[j]) / 2.0);
        }
    }
    Some(median(&w))
}

/// Hodges-Lehmann estimate of the shift between two samples: the median of
/// all differences a_i - b_j.
pub fn hodges_lehmann_shift(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let w: Vec<f64> = a
        .iter()
        .flat_map(|x| b.iter().map(move |y| x - y))
        .collect();
    Some(median(&w))
}

/// Ranks with ties averaged (1-based).
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut r = vec![0.0; values.len()];
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
        i = j + 1;
    }
    r
}

/// Pearson's correlation; `None` when either side has no spread.
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's rank correlation of `y` against `x` (as SciPy's `spearmanr`).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson(&ranks(x), &ranks(y))
}

/// Quantile with linear interpolation between order statistics (NumPy's
/// default `linear` method).
pub fn quantile(x: &[f64], q: f64) -> f64 {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// Values outside Tukey's fences: (beyond 1.5 IQR, beyond 3 IQR) from the
/// quartiles.
pub fn tukey_outliers(x: &[f64]) -> (usize, usize) {
    if x.len() < 4 {
        return (0, 0);
    }
    let (q1, q3) = (quantile(x, 0.25), quantile(x, 0.75));
    let iqr = q3 - q1;
    let beyond = |k: f64| {
        x.iter()
            .filter(|v| **v < q1 - k * iqr || **v > q3 + k * iqr)
            .count()
    };
    (beyond(1.5), beyond(3.0))
}

/// One-way ANOVA variance components of groups (rounds) of observations
/// (inferences): (between-group variance sigma_b^2, within-group variance
/// sigma_w^2, mean group size). sigma_b^2 = max(0, (MS_between -
/// MS_within) / n0), with n0 the usual size for unequal groups.
pub fn variance_components(groups: &[Vec<f64>]) -> Option<(f64, f64, f64)> {
    let summaries: Vec<GroupSummary> = groups.iter().map(|g| GroupSummary::of(g)).collect();
    variance_components_of(&summaries)
}

/// What [`variance_components`] needs of a group: its size, sum, mean and
/// sum of squared deviations from its mean.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupSummary {
    pub n: usize,
    pub sum: f64,
    pub mean: f64,
    pub ss: f64,
}

impl GroupSummary {
    pub fn of(x: &[f64]) -> GroupSummary {
        if x.is_empty() {
            return GroupSummary::default();
        }
        let sum = x.iter().sum::<f64>();
        let m = mean(x);
        GroupSummary {
            n: x.len(),
            sum,
            mean: m,
            ss: x.iter().map(|v| (v - m) * (v - m)).sum::<f64>(),
        }
    }
}

/// [`variance_components`] from each group's summary.
pub fn variance_components_of(groups: &[GroupSummary]) -> Option<(f64, f64, f64)> {
    let groups: Vec<&GroupSummary> = groups.iter().filter(|g| g.n > 0).collect();
    let k = groups.len();
    let n: usize = groups.iter().map(|g| g.n).sum();
    if k < 2 || n <= k {
        return None;
    }
    let grand = groups.iter().map(|g| g.sum).sum::<f64>() / n as f64;
    let mut ssb = 0.0;
    let mut ssw = 0.0;
    for g in &groups {
        ssb += g.n as f64 * (g.mean - grand) * (g.mean - grand);
        ssw += g.ss;
    }
    let msb = ssb / (k - 1) as f64;
    let msw = ssw / (n - k) as f64;
    let sum_sq: f64 = groups.iter().map(|g| (g.n * g.n) as f64).sum();
    let n0 = (n as f64 - sum_sq / n as f64) / (k - 1) as f64;
    Some((((msb - msw) / n0).max(0.0), msw, n as f64 / k as f64))
}

#[cfg(test)]
mod tests;
