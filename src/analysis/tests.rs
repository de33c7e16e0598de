use super::checks::evaluate;
use super::stats;
use super::*;
use crate::ingest::parse_klo;
use crate::scenario::CheckKind;

/// A log of `iters` inferences of 3 kernels where kernel 0's T_prod, the
/// warm-up inference and the undefined first T_idle would all distort the
/// means if they were counted.
fn log(iters: u32, t_prod: f64, latency: f64) -> CellLog {
    let mut text = String::new();
    for it in 0..iters {
        let warm = if it == 0 { 100.0 } else { 1.0 };
        for k in 0..3 {
            let prod = if k == 0 { 5000.0 } else { t_prod * warm };
            let idle = if k == 0 {
                "nan".to_string()
            } else {
                format!("{:.1}", 2.0 * warm)
            };
            text.push_str(&format!("KLO v1 net=x iter={it} kernel={k} name=c t_prod_us={prod} t_ker_us={} t_idle_us={idle} flush=1 k=1\n", 10.0 * warm));
        }
        text.push_str(&format!(
            "KLO v1 net=x iter={it} latency_us={} flushes=3 k_mean=1.00\n",
            latency * warm + it as f64
        ));
    }
    text.push_str(&format!("KLO v1 end iters={iters}\n"));
    parse_klo(&text)
}

#[test]
fn statistics_follow_the_measurement_rules() {
    let a = log(5, 20.0, 1000.0);
    let b = log(3, 40.0, 2000.0);
    let (stats, samples) = cell_statistics(&[(0, &a), (7, &b)]).unwrap();
    let s = &stats[&0];
    assert_eq!(s.n, 4, "the warm-up inference is not counted");
    assert_eq!(s.t_prod_mean, Some(20.0), "kernel 0's T_prod is excluded");
    assert_eq!(
        s.t_idle_mean,
        Some(2.0),
        "the undefined first T_idle is excluded, not zero"
    );
    assert_eq!(s.t_ker_mean, Some(10.0));
    assert_eq!(s.latency_mean, Some(1002.5));
    assert_eq!(s.latency_median, Some(1002.5));
    assert_eq!(s.k_mean, Some(1.0));
    assert_eq!(stats[&7].n, 2);
    assert_eq!(stats[&7].t_prod_mean, Some(40.0));
    assert_eq!(samples[&0].latency, vec![1001.0, 1002.0, 1003.0, 1004.0]);
    assert_eq!(samples[&0].t_prod, vec![20.0; 4]);
    assert_eq!(samples[&7].t_idle, vec![2.0; 2]);
}

fn spread(center: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| center + (i as f64 - n as f64 / 2.0) * 0.01 * center / n as f64)
        .collect()
}

#[test]
fn verdicts() {
    let lo = spread(100.0, 10);
    let hi = spread(150.0, 10);
    let same = spread(100.2, 10);
    assert_eq!(
        evaluate(CheckKind::Differ, &lo, &hi, 0.05, 0.05).verdict,
        "PASS"
    );
    assert_eq!(
        evaluate(CheckKind::Differ, &lo, &same, 0.05, 0.05).verdict,
        "FAIL"
    );
    assert_eq!(
        evaluate(CheckKind::Lower, &lo, &hi, 0.05, 0.05).verdict,
        "PASS"
    );
    assert_eq!(
        evaluate(CheckKind::Lower, &hi, &lo, 0.05, 0.05).verdict,
        "FAIL"
    );
    assert_eq!(
        evaluate(CheckKind::Higher, &hi, &lo, 0.05, 0.05).verdict,
        "PASS"
    );
    assert_eq!(
        evaluate(CheckKind::Similar, &lo, &same, 0.05, 0.05).verdict,
        "PASS"
    );
    assert_eq!(
        evaluate(CheckKind::Similar, &lo, &hi, 0.05, 0.05).verdict,
        "FAIL"
    );
    let few = evaluate(CheckKind::Differ, &lo[..2], &hi, 0.05, 0.05);
    assert_eq!(few.verdict, "INCONCLUSIVE");
    assert!(few.note.contains("too few samples"));
    // Overlapping noisy samples: neither different nor equivalent.
    let a = [100.0, 130.0, 90.0, 120.0, 80.0];
    let b = [110.0, 85.0, 125.0, 95.0, 105.0];
    assert_eq!(
        evaluate(CheckKind::Differ, &a, &b, 0.01, 0.05).verdict,
        "INCONCLUSIVE"
    );
    let out = evaluate(CheckKind::Higher, &hi, &lo, 0.05, 0.05);
    assert_eq!(out.test, "mann-whitney-u exact");
    assert_eq!(out.effect, Some(1.0));
    assert!(out.p_value.unwrap() < 1e-4);
}

#[test]
fn the_log_ratio_and_its_delta_method_error() {
    // mean 2 over mean 1, each from 4 values of variance 0 and 2/3.
    let (num, den) = ([2.0; 4], [0.0, 1.0, 1.0, 2.0]);
    let lr = stats::log_ratio(&[&num], &[&den]).unwrap();
    assert!((lr.d - 2f64.ln()).abs() < 1e-12);
    // Var ln mean(den) = (2/3) / (4 x 1^2) = 1/6; num adds nothing.
    assert!((lr.se - (1.0f64 / 6.0).sqrt()).abs() < 1e-12);
    assert!(stats::log_ratio(&[&num], &[&[0.0, 0.0]]).is_none());
    // One-sided p of a ratio above 1, two standard errors up: about 0.023.
    let two_se = stats::LogRatio { d: 0.2, se: 0.1 };
    assert!((two_se.p_greater() - 0.02275).abs() < 1e-4);
    assert!((two_se.p_less() - 0.97725).abs() < 1e-4);
    // Within a factor 1.5 (ln 1.5 = 0.405): equivalent; within 1.1: not.
    assert!(two_se.p_equivalent(0.5) < 0.05);
    assert!(two_se.p_equivalent(0.1) > 0.5);
}

#[test]
fn speedup_checks_count_the_noise_of_their_baselines() {
    use super::checks::{SpeedupSides, evaluate_speedup};
    // a runs in 77 over a baseline of 100 (speedup 1.3), b in 100 over 100.
    let (a, b) = (spread(77.0, 10), spread(100.0, 10));
    let quiet = spread(100.0, 10);
    let sides = |a_base: &[f64], b_base: &[f64]| {
        evaluate_speedup(
            CheckKind::Higher,
            &SpeedupSides {
                a: &a,
                a_base,
                b: &b,
                b_base,
                shared: false,
            },
            0.05,
            0.05,
        )
    };
    let out = sides(&quiet, &quiet);
    assert_eq!(out.verdict, "PASS");
    assert_eq!(out.test, "z log-speedup ratio");
    assert!(out.p_value.unwrap() < 1e-6);
    // A's baseline is noise (mean 100, spread 40-160): a speedup of 1.3 over
    // it is no longer shown, where per-inference speedups over its mean
    // alone (the old test) would call it certain.
    let noisy = [40.0, 160.0, 45.0, 155.0, 100.0];
    let out = sides(&noisy, &quiet);
    assert_eq!(out.verdict, "INCONCLUSIVE", "{out:?}");
    let per_inference = |lat: &[f64], base: &[f64]| -> Vec<f64> {
        let m = stats::mean(base);
        lat.iter().map(|l| m / l).collect()
    };
    assert_eq!(
        evaluate(
            CheckKind::Higher,
            &per_inference(&a, &noisy),
            &per_inference(&b, &quiet),
            0.05,
            0.05
        )
        .verdict,
        "PASS"
    );
    // A baseline both sides share cancels out, however noisy.
    let shared = evaluate_speedup(
        CheckKind::Higher,
        &SpeedupSides {
            a: &a,
            a_base: &noisy,
            b: &b,
            b_base: &noisy,
            shared: true,
        },
        0.05,
        0.05,
    );
    assert_eq!(shared.verdict, "PASS");
    // Equal speedups over quiet baselines are similar.
    let similar = evaluate_speedup(
        CheckKind::Similar,
        &SpeedupSides {
            a: &b,
            a_base: &quiet,
            b: &spread(100.5, 10),
            b_base: &quiet,
            shared: false,
        },
        0.05,
        0.05,
    );
    assert_eq!(similar.verdict, "PASS", "{similar:?}");
}
