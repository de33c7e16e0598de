//! Reference values from SciPy 1.17.1 and statsmodels 0.15.0, printed by
//! `reference.py` beside this file:
//!
//! ```sh
//! python3 -m venv /tmp/ref && /tmp/ref/bin/pip install scipy statsmodels numpy
//! /tmp/ref/bin/python src/analysis/stats/reference.py
//! ```

use super::*;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
}

macro_rules! assert_close {
    ($a:expr, $b:expr) => {
        assert_close!($a, $b, 1e-9)
    };
    ($a:expr, $b:expr, $rel:expr) => {{
        let (a, b): (f64, f64) = ($a, $b);
        assert!(
            close(a, b, $rel),
            "{} = {a:e}, expected {b:e}",
            stringify!($a)
        );
    }};
}

fn logs(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.ln()).collect()
}

fn paired_example() -> TTest {
    let a = logs(&[101.2, 99.8, 103.5, 100.9, 98.7, 102.2]);
    let b = logs(&[96.1, 95.0, 99.9, 97.2, 93.8, 97.7]);
    let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    TTest::paired(&d).unwrap()
}

#[test]
fn paired_t_matches_scipy_ttest_rel() {
    // scipy.stats.ttest_rel(log a, log b): t = 15.603982782859763,
    // p = 1.964279628687409e-05, df = 5; less 0.9999901786018566,
    // greater 9.821398143437046e-06; 95% CI (0.037546671993342606,
    // 0.05235735623539266).
    let t = paired_example();
    assert_eq!(t.df, 5.0);
    assert_close!(t.t(), 15.603982782859763);
    assert_close!(t.p_two(), 1.964279628687409e-05, 1e-7);
    assert_close!(t.p_greater(), 9.821398143437046e-06, 1e-7);
    assert_close!(t.p_less(), 0.9999901786018566);
    let (lo, hi) = t.ci(0.95);
    assert_close!(lo, 0.037546671993342606, 1e-8);
    assert_close!(hi, 0.05235735623539266, 1e-8);
}

#[test]
fn welch_matches_scipy_ttest_ind_unequal_var() {
    // scipy.stats.ttest_ind(x, y, equal_var=False): t = -2.899983685381379,
    // p = 0.04643923154093801, df = 3.833797441290794; 95% CI
    // (-4.658624235753125, -0.06137576424687774).
    let x = [12.1, 13.4, 11.8, 12.9, 12.5];
    let y = [14.2, 15.9, 13.1, 16.4];
    let t = TTest::welch(&x, &y).unwrap();
    assert_close!(t.t(), -2.899983685381379);
    assert_close!(t.df, 3.833797441290794);
    assert_close!(t.p_two(), 0.04643923154093801, 1e-7);
    let (lo, hi) = t.ci(0.95);
    assert_close!(lo, -4.658624235753125, 1e-8);
    assert_close!(hi, -0.06137576424687774, 1e-6);
}

#[test]
fn tails_come_from_the_survival_function() {
    // scipy.stats.t.sf(40, 3) = 1.7190340394579253e-05; t.sf(12, 8) =
    // 1.0719333738443846e-06; 2 * t.sf(25, 5) = 1.910677784395424e-06.
    assert_close!(t_sf(3.0, 40.0), 1.7190340394579253e-05, 1e-7);
    assert_close!(t_sf(8.0, 12.0), 1.0719333738443846e-06, 1e-7);
    let t = TTest {
        est: 25.0,
        se: 1.0,
        df: 5.0,
    };
    assert_close!(t.p_two(), 1.910677784395424e-06, 1e-7);
    // Far in the tail the p-value is tiny but not 0 (1 - cdf would be).
    let far = TTest {
        est: 1e4,
        se: 1.0,
        df: 20.0,
    };
    assert!(far.p_two() > 0.0 && far.p_two() < 1e-29, "{}", far.p_two());
    // scipy.stats.t.ppf(0.975, 4) = 2.7764451051977934, t.ppf(0.8, 9.5) =
    // 0.8811117763190847.
    assert_close!(t_quantile(4.0, 0.975), 2.7764451051977934, 1e-8);
    assert_close!(t_quantile(9.5, 0.8), 0.8811117763190847, 1e-7);
}

#[test]
fn holm_and_benjamini_hochberg_match_statsmodels() {
    // multipletests(p, method="holm") and method="fdr_bh".
    let p = [0.01, 0.04, 0.03, 0.005, 0.20, 0.04];
    let h = holm(&p);
    for (got, want) in h.iter().zip([0.05, 0.12, 0.12, 0.03, 0.2, 0.12]) {
        assert_close!(*got, want, 1e-12);
    }
    let q = benjamini_hochberg(&p);
    for (got, want) in q.iter().zip([0.03, 0.048, 0.048, 0.03, 0.2, 0.048]) {
        assert_close!(*got, want, 1e-12);
    }
    // NaN (an untested row) is left out of the family.
    let h = holm(&[0.01, f64::NAN, 0.04]);
    assert_close!(h[0], 0.02, 1e-12);
    assert!(h[1].is_nan());
    assert_close!(h[2], 0.04, 1e-12);
}

#[test]
fn tost_matches_statsmodels() {
    // ttost_paired(log d1, log d2, -ln 1.05, ln 1.05)[0] = 4.6402988061507223e-07.
    let d1 = logs(&[100.2, 99.1, 101.0, 100.4, 99.7, 100.9]);
    let d2 = logs(&[100.0, 99.5, 100.6, 100.1, 100.2, 100.5]);
    let d: Vec<f64> = d1.iter().zip(&d2).map(|(x, y)| x - y).collect();
    let t = TTest::paired(&d).unwrap();
    assert_close!(t.p_equivalent(1.05f64.ln()), 4.6402988061507223e-07, 1e-6);
    // ttost_ind(x, y, -3, 3, usevar="unequal")[0] = 0.23868455966590285.
    let x = [12.1, 13.4, 11.8, 12.9, 12.5];
    let y = [14.2, 15.9, 13.1, 16.4];
    let t = TTest::welch(&x, &y).unwrap();
    assert_close!(t.p_equivalent(3.0), 0.23868455966590285, 1e-7);
}

#[test]
fn no_spread_is_decided_by_the_sign() {
    // A fixed K against another: every round gives the same difference.
    let t = TTest::paired(&[0.5, 0.5, 0.5]).unwrap();
    assert_eq!(t.p_greater(), 0.0);
    assert_eq!(t.p_less(), 1.0);
    assert_eq!(t.ci(0.95), (0.5, 0.5));
    let same = TTest::paired(&[0.0, 0.0, 0.0]).unwrap();
    assert_eq!(same.p_two(), 1.0);
    assert_eq!(same.p_equivalent(0.05), 0.0);
    assert!(TTest::paired(&[0.1]).is_none());
    assert!(TTest::welch(&[1.0], &[1.0, 2.0]).is_none());
}

#[test]
fn robust_estimates_match_scipy_and_numpy() {
    // numpy median of Walsh averages of the paired log differences:
    // 0.044534328385144484; of all x_i - y_j: -2.4499999999999993.
    let a = logs(&[101.2, 99.8, 103.5, 100.9, 98.7, 102.2]);
    let b = logs(&[96.1, 95.0, 99.9, 97.2, 93.8, 97.7]);
    let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    assert_close!(hodges_lehmann_paired(&d).unwrap(), 0.044534328385144484);
    let x = [12.1, 13.4, 11.8, 12.9, 12.5];
    let y = [14.2, 15.9, 13.1, 16.4];
    assert_close!(hodges_lehmann_shift(&x, &y).unwrap(), -2.4499999999999993);
    // scipy.stats.spearmanr: 0.9047619047619048; with ties
    // -0.8365019125713041.
    let xs: Vec<f64> = (1..=8).map(f64::from).collect();
    let ys = [3.1, 2.9, 3.5, 3.4, 4.0, 3.9, 4.4, 4.1];
    assert_close!(spearman(&xs, &ys).unwrap(), 0.9047619047619048);
    let ys2 = [5.0, 5.0, 3.0, 4.0, 4.0, 1.0, 2.0, 2.0];
    assert_close!(spearman(&xs, &ys2).unwrap(), -0.8365019125713041);
    assert!(spearman(&xs, &[1.0; 8]).is_none());
    // numpy.quantile([1..7, 100], .25 / .75) = 2.75 / 6.25: 100 is beyond
    // both fences (6.25 + 3 * 3.5 = 16.75).
    let q = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 100.0];
    assert_close!(quantile(&q, 0.25), 2.75);
    assert_close!(quantile(&q, 0.75), 6.25);
    assert_eq!(tukey_outliers(&q), (1, 1));
}

#[test]
fn variance_components_match_the_anova_mean_squares() {
    // scipy.stats.f_oneway F = 34.90183486238531; MS_between
    // 1.7612500000000058, MS_within 0.05046296296296296, n0
    // 3.9166666666666665, sigma_b^2 = 0.4367966903073301.
    let g = vec![
        vec![10.0, 10.5, 9.8, 10.2],
        vec![11.0, 11.3, 10.9],
        vec![9.5, 9.9, 9.7, 9.6, 9.8],
    ];
    let (sb2, sw2, _) = variance_components(&g).unwrap();
    assert_close!(sw2, 0.05046296296296296);
    assert_close!(sb2, 0.4367966903073301);
    assert_close!((sb2 * 3.9166666666666665 + sw2) / sw2, 34.90183486238531);
}

#[test]
fn detectable_effects_and_rounds_needed() {
    // (t.ppf(0.95, 5) + t.ppf(0.8, 5)) * 0.04 / sqrt(6) = 0.04792168919620763
    // (statsmodels' exact noncentral-t power gives 0.0474; the central-t
    // approximation errs on the safe side).
    let t = TTest {
        est: 0.0,
        se: 0.04 / 6f64.sqrt(),
        df: 5.0,
    };
    assert_close!(t.mde(0.05, 0.8), 0.04792168919620763, 1e-7);
    // The same formula solved for n: 6 rounds detect 0.048, 5 do not.
    assert_eq!(rounds_needed(0.04, 0.0480, 0.05, 0.8, 100), Some(6));
    assert_eq!(rounds_needed(0.04, 1e-6, 0.05, 0.8, 100), None);
    assert_eq!(rounds_needed(0.0, 0.01, 0.05, 0.8, 100), Some(2));
}
