//! How well the K_answer search does on profiles with known answers: random
//! inferences generated for the timing model, measured with noise. Used by
//! `benches/k_search.rs` (which prints the figures) and by a test (which
//! holds the thresholds).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::model::{Costs, Profile, argmin_k, latency_k};
use super::search::search;

/// The figures of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub cases: usize,
    /// Searches whose K_answer is within one K of the model's argmin.
    pub within_one: usize,
    /// Searches whose K_answer is the model's argmin.
    pub exact: usize,
    /// Runs the searches made, and runs exhaustive sweeps would make.
    pub runs: usize,
    pub sweep_runs: usize,
    /// Mean latency excess of the K found over the best, in percent.
    pub mean_excess_pct: f64,
}

impl Report {
    pub fn within_one_pct(&self) -> f64 {
        100.0 * self.within_one as f64 / self.cases as f64
    }
    pub fn runs_pct(&self) -> f64 {
        100.0 * self.runs as f64 / self.sweep_runs as f64
    }
}

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    (rng.random_range(lo.ln()..hi.ln())).exp()
}

/// A random inference: 20 to 60 kernels, T_prod 5-100 µs and T_ker 10-400 µs
/// per kernel on average (log-uniform), each kernel varying ±50%; a flush
/// costs 10-100 µs of CPU and 20-300 µs of latency.
pub fn random_case(rng: &mut StdRng) -> (Profile, Costs) {
    let n = rng.random_range(20..=60);
    let (prod, ker) = (log_uniform(rng, 5.0, 100.0), log_uniform(rng, 10.0, 400.0));
    let mut vary = |m: f64| {
        (0..n)
            .map(|_| m * rng.random_range(0.5..1.5))
            .collect::<Vec<f64>>()
    };
    let profile = Profile {
        t_prod: vary(prod),
        t_ker: vary(ker),
    };
    let costs = Costs {
        flush_us: log_uniform(rng, 10.0, 100.0),
        submit_us: log_uniform(rng, 20.0, 300.0),
    };
    (profile, costs)
}

/// Searches `cases` random profiles over K = 1..=k_max, each measurement
/// off by up to `noise` (relative, uniform), against the model's argmin.
pub fn evaluate(cases: usize, k_max: u32, noise: f64, seed: u64) -> Report {
    let mut rng = StdRng::seed_from_u64(seed);
    let ks: Vec<u32> = (1..=k_max).collect();
    let mut r = Report {
        cases,
        within_one: 0,
        exact: 0,
        runs: 0,
        sweep_runs: 0,
        mean_excess_pct: 0.0,
    };
    for _ in 0..cases {
        let (profile, costs) = random_case(&mut rng);
        let (best_k, best) = argmin_k(&profile, &ks, costs).expect("K values");
        let mut noise_rng = StdRng::seed_from_u64(rng.random());
        let out = search(k_max, |k| {
            latency_k(&profile, k, costs) * (1.0 + noise_rng.random_range(-noise..=noise))
        });
        // Within one K of the argmin, or as fast as it (a flat optimum).
        let found = latency_k(&profile, out.k_answer, costs);
        if out.k_answer.abs_diff(best_k) <= 1 || found <= best * (1.0 + 1e-9) {
            r.within_one += 1;
        }
        if out.k_answer == best_k {
            r.exact += 1;
        }
        r.runs += out.runs;
        r.sweep_runs += out.sweep_runs;
        r.mean_excess_pct += 100.0 * (found / best - 1.0) / cases as f64;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_meets_its_targets_on_model_profiles() {
        // The figures are printed by `cargo bench --bench k_search`; this
        // holds the thresholds on a smaller, seeded set.
        let r = evaluate(2000, 32, 0.0, 123);
        eprintln!(
            "{r:?} within one: {:.1}% runs: {:.1}%",
            r.within_one_pct(),
            r.runs_pct()
        );
        assert!(r.within_one_pct() >= 95.0, "{r:?}");
        assert!(r.runs_pct() <= 40.0, "{r:?}");
    }
}
