use std::collections::BTreeMap;

use super::checks::{Comparison, Verdict};
use super::*;
use crate::ingest::digest_text;
use crate::scenario::CheckKind;

/// A log of `iters` inferences of 3 kernels where kernel 0's T_prod, the
/// warm-up inference and the undefined first T_idle would all distort the
/// means if they were counted.
fn log(iters: u32, t_prod: f64, latency: f64) -> LogDigest {
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
    digest_text(&text, None, Default::default())
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

/// Per-round figures: `center` times (1 + offset) for each round.
fn rounds(center: f64, offsets: &[f64]) -> BTreeMap<u32, f64> {
    offsets
        .iter()
        .enumerate()
        .map(|(i, o)| (i as u32 + 1, center * (1.0 + o)))
        .collect()
}

const WOBBLE: [f64; 6] = [0.01, -0.012, 0.004, -0.006, 0.009, -0.003];

fn verdict(kind: CheckKind, a: &BTreeMap<u32, f64>, b: &BTreeMap<u32, f64>) -> (Verdict, String) {
    let c = Comparison::new(a, b).unwrap();
    let (p, other) = c.p_values(kind, 0.05);
    c.decide(kind, 0.05, 0.05, p, other)
}

#[test]
fn verdicts_on_per_round_figures() {
    let lo = rounds(100.0, &WOBBLE);
    let hi = rounds(150.0, &[0.0, 0.01, -0.01, 0.005, -0.005, 0.002]);
    let same = rounds(100.5, &[-0.002, 0.003, 0.0, 0.001, -0.001, 0.002]);
    assert_eq!(verdict(CheckKind::Differ, &lo, &hi).0, Verdict::Pass);
    assert_eq!(verdict(CheckKind::Differ, &lo, &same).0, Verdict::Fail);
    assert_eq!(verdict(CheckKind::Lower, &lo, &hi).0, Verdict::Pass);
    let (v, note) = verdict(CheckKind::Lower, &hi, &lo);
    assert_eq!(
        (v, note.as_str()),
        (Verdict::Fail, "a is significantly higher than b")
    );
    assert_eq!(verdict(CheckKind::Higher, &hi, &lo).0, Verdict::Pass);
    assert_eq!(verdict(CheckKind::Similar, &lo, &same).0, Verdict::Pass);
    assert_eq!(verdict(CheckKind::Similar, &lo, &hi).0, Verdict::Fail);
    // Rounds that disagree by +-30%: neither different nor equivalent.
    let a = rounds(100.0, &[0.3, -0.3, 0.1, -0.2, 0.25, -0.1]);
    let b = rounds(105.0, &[-0.2, 0.3, -0.25, 0.1, -0.3, 0.2]);
    assert_eq!(verdict(CheckKind::Differ, &a, &b).0, Verdict::Inconclusive);
    assert_eq!(verdict(CheckKind::Similar, &a, &b).0, Verdict::Inconclusive);
}

#[test]
fn paired_when_rounds_match_welch_otherwise() {
    // Both sides move together from round to round (drift): pairing by
    // round removes it, and a steady 3% difference is found.
    let drift = [0.0, 0.2, -0.15, 0.3, -0.25, 0.1];
    let a = rounds(103.0, &drift);
    let b = rounds(100.0, &drift);
    let c = Comparison::new(&a, &b).unwrap();
    assert!(c.paired && c.log);
    assert_eq!(c.rounds(), "6");
    assert!((c.ratio(c.test.est) - 1.03).abs() < 1e-12);
    assert!(c.test.p_two() < 1e-10);
    // The shown means are geometric means over the rounds tested: their
    // ratio is the ratio tested.
    assert!((c.mean_a / c.mean_b - c.ratio(c.test.est)).abs() < 1e-12);
    // The same figures from other rounds (no round in common): Welch, and
    // the drift is noise again.
    let b_later: BTreeMap<u32, f64> = b.iter().map(|(r, v)| (r + 10, *v)).collect();
    let u = Comparison::new(&a, &b_later).unwrap();
    assert!(!u.paired);
    assert_eq!(u.rounds(), "6+6");
    assert!(u.test.p_two() > 0.5, "{}", u.test.p_two());
    // One round a side is no test.
    let one: BTreeMap<u32, f64> = [(1, 5.0)].into_iter().collect();
    assert!(Comparison::new(&one, &b).is_none());
}

#[test]
fn a_figure_that_can_be_zero_compares_on_the_difference_scale() {
    let a = rounds(2.0, &WOBBLE);
    let mut b = rounds(0.0, &WOBBLE);
    b.insert(7, 0.5);
    let c = Comparison::new(&a, &b).unwrap();
    assert!(!c.log);
    assert!(c.paired);
}

#[test]
fn inconclusive_rows_say_what_would_decide_them() {
    let a = rounds(104.0, &[0.05, -0.04, 0.03, -0.05, 0.04, -0.03]);
    let b = rounds(100.0, &[-0.03, 0.04, -0.05, 0.03, -0.04, 0.05]);
    let c = Comparison::new(&a, &b).unwrap();
    let (v, _) = verdict(CheckKind::Higher, &a, &b);
    assert_eq!(v, Verdict::Inconclusive);
    let (mde, needed) = c.what_would_decide(CheckKind::Higher, 0.05);
    assert!(mde > 0.04 && mde < 0.2, "{mde}");
    let n = needed.unwrap();
    assert!(n > 6 && n < 100, "{n}");
}
