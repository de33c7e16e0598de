//! The timing model (docs/k-strategies.md): kernels i = 1..n, a flush after chosen
//! kernels (and always after the last). The CPU clock advances by T_prod,i
//! per kernel and by the flush cost f per flush; a batch becomes runnable
//! on the GPU at its flush time plus a submission latency L; the GPU runs
//! kernels in order: start_i = max(end_(i-1), release(batch(i))),
//! end_i = start_i + T_ker,i. Latency = end_n.
//!
//! Small K pays f and L many times; large K makes the GPU wait for the
//! first batch. The argmin over K is computable, which gives test data with
//! known answers and a prediction to set beside each measured cell.

/// Per-kernel times of one inference, in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub t_prod: Vec<f64>,
    pub t_ker: Vec<f64>,
}

/// The costs the model charges per flush.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    /// CPU time of one flush (µs).
    pub flush_us: f64,
    /// Time from a flush to its batch being runnable on the GPU (µs).
    pub submit_us: f64,
}

/// Flush after every `k` kernels (and after the last).
pub fn fixed_schedule(n: usize, k: u32) -> Vec<bool> {
    let k = k.max(1) as usize;
    (0..n).map(|i| (i + 1) % k == 0 || i + 1 == n).collect()
}

/// The model's latency of `profile` under a flush schedule (`flush[i]`:
/// flush after kernel i; a flush after the last kernel is implied).
pub fn latency(profile: &Profile, flush: &[bool], costs: Costs) -> f64 {
    let n = profile.t_prod.len().min(profile.t_ker.len());
    let mut cpu = 0.0;
    let mut gpu_end: f64 = 0.0;
    let mut batch_start = 0;
    for i in 0..n {
        cpu += profile.t_prod[i];
        if flush.get(i).copied().unwrap_or(false) || i + 1 == n {
            cpu += costs.flush_us;
            let release = cpu + costs.submit_us;
            for j in batch_start..=i {
                gpu_end = gpu_end.max(release) + profile.t_ker[j];
            }
            batch_start = i + 1;
        }
    }
    gpu_end
}

/// The model's latency with a flush every `k` kernels.
pub fn latency_k(profile: &Profile, k: u32, costs: Costs) -> f64 {
    latency(profile, &fixed_schedule(profile.t_prod.len(), k), costs)
}

/// The K in `ks` with the lowest model latency (the smallest K on a tie).
pub fn argmin_k(profile: &Profile, ks: &[u32], costs: Costs) -> Option<(u32, f64)> {
    ks.iter()
        .map(|&k| (k, latency_k(profile, k, costs)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(n: usize, prod: f64, ker: f64) -> Profile {
        Profile {
            t_prod: vec![prod; n],
            t_ker: vec![ker; n],
        }
    }

    #[test]
    fn the_model_charges_flushes_and_waits_as_klo_md_says() {
        let c = Costs {
            flush_us: 5.0,
            submit_us: 20.0,
        };
        // K = n: the GPU waits for all production, then runs everything.
        let p = uniform(4, 10.0, 100.0);
        assert_eq!(latency_k(&p, 4, c), 40.0 + 5.0 + 20.0 + 400.0);
        // K = 1: the first kernel starts after 10 + 5 + 20; the GPU then
        // never waits (production is faster than execution).
        assert_eq!(latency_k(&p, 1, c), 35.0 + 400.0);
        // A GPU faster than production waits for every batch.
        let fast = uniform(3, 100.0, 1.0);
        assert_eq!(latency_k(&fast, 1, c), 3.0 * 105.0 + 20.0 + 1.0);
    }

    #[test]
    fn the_best_k_moves_with_t_prod() {
        // Flushing costs the CPU 50 µs: K = 1 starves a GPU that needs only
        // 40 µs a kernel, a large K makes it wait for the first batch. A
        // slower CPU (a load, a lower frequency) moves the best K up.
        let c = Costs {
            flush_us: 50.0,
            submit_us: 100.0,
        };
        let ks: Vec<u32> = (1..=30).collect();
        assert_eq!(
            argmin_k(&uniform(30, 20.0, 40.0), &ks, c).unwrap(),
            (3, 1410.0)
        );
        assert_eq!(
            argmin_k(&uniform(30, 30.0, 40.0), &ks, c).unwrap(),
            (5, 1500.0)
        );
        assert_eq!(argmin_k(&uniform(30, 60.0, 40.0), &ks, c).unwrap().0, 7);
        assert_eq!(fixed_schedule(5, 2), vec![false, true, false, true, true]);
    }
}
