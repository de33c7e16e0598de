//! Finding K_answer, the K with the lowest latency, with fewer runs than an
//! exhaustive sweep of 1..=k_max.
//!
//! Latency over K is roughly unimodal but bumpy (a K that does not divide
//! the kernel count leaves a short last batch), and flat near its minimum.
//! So the search: measures a coarse grid (powers of two, and k_max); refines
//! around the two best coarse points with a golden-section search over
//! [best/2, 2 best]; measures the two K either side of the best so far; and
//! measures the two best K once more, keeping the better mean, so that one
//! noisy run does not decide. Every measurement is one benchmark run.

use std::collections::BTreeMap;

/// What a search did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub k_answer: u32,
    /// Mean value per K measured.
    pub means: BTreeMap<u32, f64>,
    /// Measurements made (runs), repeats included.
    pub runs: usize,
    /// Runs an exhaustive sweep of 1..=k_max would make (one per K).
    pub sweep_runs: usize,
}

struct Samples<F> {
    measure: F,
    values: BTreeMap<u32, Vec<f64>>,
    runs: usize,
}

impl<F: FnMut(u32) -> f64> Samples<F> {
    /// The mean for K, measuring it once if it never was.
    fn get(&mut self, k: u32) -> f64 {
        if !self.values.contains_key(&k) {
            self.again(k);
        }
        mean(&self.values[&k])
    }

    fn again(&mut self, k: u32) {
        let v = (self.measure)(k);
        self.values.entry(k).or_default().push(v);
        self.runs += 1;
    }

    /// Measured K by mean, best first.
    fn ranked(&self) -> Vec<u32> {
        let mut ks: Vec<(u32, f64)> = self.values.iter().map(|(k, v)| (*k, mean(v))).collect();
        ks.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        ks.into_iter().map(|(k, _)| k).collect()
    }

    /// Golden-section search for the minimum over [a, b], then every K of
    /// the last (at most four) are measured.
    fn golden(&mut self, mut a: u32, mut b: u32) {
        let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
        while b - a > 3 {
            let span = (b - a) as f64;
            let d = a + (span * inv_phi).round() as u32;
            let c = (b - (span * inv_phi).round() as u32).min(d - 1).max(a);
            if self.get(c) <= self.get(d) {
                b = d;
            } else {
                a = c;
            }
        }
        for k in a..=b {
            self.get(k);
        }
    }
}

/// Runs the search; `measure(k)` returns one measurement (e.g. a cell's mean
/// latency) and may be called more than once for the same K.
pub fn search(k_max: u32, measure: impl FnMut(u32) -> f64) -> Outcome {
    let k_max = k_max.max(1);
    let mut s = Samples {
        measure,
        values: BTreeMap::new(),
        runs: 0,
    };
    let coarse: Vec<u32> = std::iter::successors(Some(1u32), |k| k.checked_mul(2))
        .take_while(|k| *k <= k_max)
        .chain([k_max])
        .collect();
    for k in coarse {
        s.get(k);
    }
    for best in s.ranked().into_iter().take(2) {
        s.golden((best / 2).max(1), (best * 2).min(k_max).max(2.min(k_max)));
    }
    let best = s.ranked()[0];
    for k in best.saturating_sub(2).max(1)..=(best + 2).min(k_max) {
        s.get(k);
    }
    for k in s.ranked().into_iter().take(2) {
        s.again(k);
    }
    let k_answer = s.ranked()[0];
    let means = s.values.iter().map(|(k, v)| (*k, mean(v))).collect();
    Outcome {
        k_answer,
        means,
        runs: s.runs,
        sweep_runs: k_max as usize,
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kstrategy::model::{Costs, Profile, argmin_k, latency_k};

    #[test]
    fn finds_the_minimum_of_a_unimodal_curve_in_few_runs() {
        for target in [1u32, 2, 7, 13, 31, 32] {
            let out = search(32, |k| (k as f64 - target as f64).abs() + 10.0);
            assert_eq!(out.k_answer, target, "{out:?}");
            assert!(out.runs <= 16, "{} runs for 32 K", out.runs);
        }
    }

    #[test]
    fn finds_the_model_argmin() {
        let c = Costs {
            flush_us: 50.0,
            submit_us: 100.0,
        };
        let p = Profile {
            t_prod: vec![25.0; 40],
            t_ker: vec![40.0; 40],
        };
        let ks: Vec<u32> = (1..=40).collect();
        let (want, best) = argmin_k(&p, &ks, c).unwrap();
        let out = search(40, |k| latency_k(&p, k, c));
        let got = latency_k(&p, out.k_answer, c);
        assert!(
            out.k_answer.abs_diff(want) <= 1 || (got - best).abs() < 1e-9,
            "{} vs {want}",
            out.k_answer
        );
        assert!(out.runs * 10 <= 40 * 4, "{} runs", out.runs);
    }
}
