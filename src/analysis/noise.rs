//! Noise you can see: per cell, how much its rounds disagree, whether its
//! latency drifts within a run, outliers, and runs that overlapped other
//! work on the same machine; and, from a finished run, how to spend rounds
//! and inferences next time (Kalibera and Jones, "Rigorous benchmarking in
//! reasonable time", ISMM 2013).

use statrs::distribution::{ContinuousCDF, Normal};

use super::checks::POWER;
use super::figures::{LatencyFig, RoundRun};
use super::stats;

/// A cell whose per-round latency varies more than this (coefficient of
/// variation between rounds, percent) is flagged.
pub const CV_WARN_PCT: f64 = 10.0;
/// Far outliers (beyond Tukey's 3-IQR fences) are flagged above this share
/// of a cell's measured inferences: latency has a heavy tail, and one
/// preempted inference in fifty says nothing about the cell.
pub const FAR_OUTLIER_SHARE: f64 = 0.05;
/// Drift within runs is flagged at this level (combined over rounds).
pub const DRIFT_ALPHA: f64 = 0.01;
/// A round during which other work took more than this share of the
/// machine's CPUs (percent) is counted as disturbed.
pub const FOREIGN_WARN_PCT: f64 = 10.0;
/// The difference the design recommendation is sized for.
pub const DESIGN_EFFECT: f64 = 0.05;

/// What a cell's rounds say about noise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellNoise {
    /// Ok rounds with latencies.
    pub rounds: usize,
    /// CV of the per-round mean latency, percent.
    pub cv_between_pct: Option<f64>,
    /// Pooled within-round SD of latency over the grand mean, percent.
    pub cv_within_pct: Option<f64>,
    /// Mean Spearman rho of latency against inference index, and the
    /// combined p-value over rounds.
    pub drift: Option<(f64, f64)>,
    /// Inferences beyond Tukey's 1.5-IQR and 3-IQR fences, summed over
    /// rounds.
    pub outliers: (usize, usize),
    /// Measured inferences of the ok rounds.
    pub inferences: usize,
    /// Rounds that overlapped a cell of another klo-spec run on the same
    /// machine.
    pub overlapped: usize,
    /// Rounds during which other work used more than
    /// [`FOREIGN_WARN_PCT`] of the machine's CPUs, and the largest share.
    pub disturbed: (usize, f64),
    /// Variance components of latency: (between rounds, within a round).
    pub components: Option<(f64, f64)>,
    pub grand_mean: Option<f64>,
}

impl CellNoise {
    pub fn of(runs: &[RoundRun]) -> CellNoise {
        let ok: Vec<&RoundRun> = runs.iter().filter(|r| r.ok_fig().is_some()).collect();
        let lat: Vec<&LatencyFig> = ok
            .iter()
            .filter_map(|r| r.ok_fig().map(|f| &f.latency))
            .filter(|l| l.group.n > 0)
            .collect();
        let means: Vec<f64> = lat.iter().map(|l| l.group.mean).collect();
        let grand = (!means.is_empty()).then(|| stats::mean(&means));
        let cv_between = (means.len() >= 2)
            .then(|| 100.0 * stats::sd(&means) / stats::mean(&means))
            .filter(|v| v.is_finite());
        let within: Vec<f64> = lat
            .iter()
            .filter(|l| l.group.n >= 2)
            .map(|l| l.variance)
            .collect();
        let cv_within = grand
            .filter(|_| !within.is_empty())
            .map(|g| 100.0 * stats::mean(&within).sqrt() / g)
            .filter(|v| v.is_finite());
        // Drift: Spearman's rho per round, Fisher's z with the variance
        // 1.06 / (n - 3) of Spearman's rho, Stouffer's sum over rounds.
        let mut rhos = Vec::new();
        let mut z = 0.0;
        for l in &lat {
            let Some(rho) = l.rho.filter(|_| l.group.n >= 5) else {
                continue;
            };
            rhos.push(rho);
            let r = rho.clamp(-0.9999, 0.9999);
            z += r.atanh() * ((l.group.n as f64 - 3.0) / 1.06).sqrt();
        }
        let drift = (!rhos.is_empty()).then(|| {
            let zc = z / (rhos.len() as f64).sqrt();
            let p = 2.0 * Normal::standard().sf(zc.abs());
            (stats::mean(&rhos), p.min(1.0))
        });
        let outliers = lat.iter().fold((0, 0), |acc, l| {
            (acc.0 + l.outliers.0, acc.1 + l.outliers.1)
        });
        let groups: Vec<stats::GroupSummary> = lat.iter().map(|l| l.group).collect();
        let inferences = lat.iter().map(|l| l.group.n).sum();
        CellNoise {
            rounds: ok.len(),
            cv_between_pct: cv_between,
            cv_within_pct: cv_within,
            drift,
            outliers,
            inferences,
            overlapped: runs
                .iter()
                .filter(|r| !r.record.overlapped.is_empty())
                .count(),
            disturbed: runs
                .iter()
                .filter_map(|r| r.record.foreign_cpu_pct)
                .filter(|p| *p > FOREIGN_WARN_PCT)
                .fold((0, 0.0), |(n, m), p| (n + 1, f64::max(m, p))),
            components: stats::variance_components_of(&groups).map(|(b, w, _)| (b, w)),
            grand_mean: grand,
        }
    }

    /// The flags of the summary's `noise` column, `; `-joined.
    pub fn flags(&self) -> String {
        let mut f = Vec::new();
        if let Some(cv) = self.cv_between_pct.filter(|cv| *cv > CV_WARN_PCT) {
            f.push(format!("rounds disagree (CV {cv:.0}%)"));
        }
        if let Some((rho, p)) = self.drift.filter(|(_, p)| *p < DRIFT_ALPHA) {
            f.push(format!("drift within runs (rho {rho:+.2} at p {p:.1e})"));
        }
        if self.outliers.1 as f64 > FAR_OUTLIER_SHARE * self.inferences as f64 {
            f.push(format!(
                "{} far outlier(s) in {} inferences",
                self.outliers.1, self.inferences
            ));
        }
        if self.disturbed.0 > 0 {
            f.push(format!(
                "{} round(s) shared this machine with other work (up to {:.0}% of its CPUs)",
                self.disturbed.0, self.disturbed.1
            ));
        }
        if self.overlapped > 0 {
            f.push(format!(
                "{} round(s) overlapped another run on this machine",
                self.overlapped
            ));
        }
        f.join("; ")
    }
}

/// The design recommendation of a finished run (see the module docs):
/// lines for the checklist and the terminal, empty when no cell has two ok
/// rounds. `cells` gives per cell its noise, the mean wall time of a
/// round's run (s) and its measured inferences per round.
pub fn design(cells: &[(CellNoise, f64, f64)], alpha: f64) -> Vec<String> {
    let mut rel_b = Vec::new();
    let mut rel_w = Vec::new();
    let mut c_run = Vec::new();
    let mut c_inf = Vec::new();
    for (n, wall_s, inferences) in cells {
        let (Some((b, w)), Some(g)) = (n.components, n.grand_mean) else {
            continue;
        };
        if n.rounds < 2 || g <= 0.0 {
            continue;
        }
        rel_b.push(b / (g * g));
        rel_w.push(w / (g * g));
        // The measured inferences plus the warm-up.
        let inf_s = g * 1e-6;
        c_inf.push(inf_s);
        c_run.push((wall_s - (inferences + 1.0) * inf_s).max(0.0));
    }
    if rel_b.is_empty() {
        return Vec::new();
    }
    let (b, w) = (stats::median(&rel_b), stats::median(&rel_w));
    let (run, inf) = (stats::median(&c_run), stats::median(&c_inf));
    let mut out = vec![format!(
        "noise (median over {} cells): between-round CV {:.1}%, within-round CV {:.1}% of latency; a run costs {:.2} s beyond its inferences, an inference {:.2} ms",
        rel_b.len(),
        100.0 * b.sqrt(),
        100.0 * w.sqrt(),
        run,
        1e3 * inf
    )];
    let i_star = if b > 0.0 && inf > 0.0 {
        ((run * w) / (inf * b)).sqrt()
    } else {
        f64::INFINITY
    };
    let i = if i_star.is_finite() {
        i_star.round().clamp(2.0, 10_000.0)
    } else {
        10_000.0
    };
    // A paired difference of two cells: twice one cell's per-round variance.
    let sd_d = (2.0 * (b + w / i)).sqrt();
    let r = stats::rounds_needed(
        sd_d,
        (1.0 + DESIGN_EFFECT).ln(),
        alpha / 2.0,
        POWER,
        super::checks::MAX_ROUNDS_NEEDED,
    );
    let per_cell = |r: u32| r as f64 * (run + (i + 1.0) * inf);
    out.push(match (i_star.is_finite(), r) {
        (true, Some(r)) => format!(
            "design: about {i:.0} measured inferences per run (iterations: {}) and {r} rounds find a {:.0}% difference at power {POWER} (alpha {alpha}, two-sided), about {:.0} s per cell",
            i + 1.0,
            100.0 * DESIGN_EFFECT,
            per_cell(r)
        ),
        (true, None) => format!(
            "design: about {i:.0} measured inferences per run; rounds disagree too much for a {:.0}% difference to be found in {} rounds: make the machine quieter",
            100.0 * DESIGN_EFFECT,
            super::checks::MAX_ROUNDS_NEEDED
        ),
        (false, _) => "design: the rounds agree within their inferences' spread (no between-round variance found): more inferences per run narrow the intervals as much as more rounds".into(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::figures::RoundFig;
    use crate::record::Status;

    fn run(round: u32, lat: Vec<f64>) -> RoundRun {
        let mut record: crate::record::CellRecord = serde_json::from_str(
            r#"{"id":"x","hash":"h","status":"ok","reason":null,"board":"local","k":1,"iterations":11,"started_at":"","wall_s":1.0,"bench_exit":0,"script_exit":0,"signal":null,"loads":{"started":0,"alive_before":null,"alive_after":null,"left_after_cleanup":null,"cores":[]},"leftovers_killed_by_runner":0,"cpu_util_pct":null,"cpu_util_per_cpu":{},"device":null,"device_info":{},"round_trips":1,"klo_spec_version":"0"}"#,
        )
        .unwrap();
        record.status = Status::Ok;
        RoundRun {
            round,
            record,
            fig: Some(RoundFig {
                latency: LatencyFig::of(&lat),
                ..RoundFig::default()
            }),
        }
    }

    #[test]
    fn rounds_that_disagree_drift_and_outliers_are_flagged() {
        let flat: Vec<f64> = (0..10).map(|i| 100.0 + (i % 3) as f64).collect();
        let quiet = CellNoise::of(&[run(1, flat.clone()), run(2, flat.clone())]);
        assert_eq!(quiet.flags(), "");
        assert!(quiet.cv_between_pct.unwrap() < 1e-9);
        let far: Vec<f64> = flat.iter().map(|x| x * 1.5).collect();
        let noisy = CellNoise::of(&[run(1, flat.clone()), run(2, far)]);
        assert!(
            noisy.flags().contains("rounds disagree"),
            "{}",
            noisy.flags()
        );
        let rising: Vec<f64> = (0..20).map(|i| 100.0 + i as f64).collect();
        let d = CellNoise::of(&[run(1, rising.clone()), run(2, rising)]);
        assert!(d.flags().contains("drift"), "{}", d.flags());
        let mut spike = flat.clone();
        spike[4] = 1000.0;
        assert!(
            CellNoise::of(&[run(1, spike)])
                .flags()
                .contains("1 far outlier")
        );
        let mut o = run(1, flat.clone());
        o.record.overlapped = vec!["other (pid 1)".into()];
        assert!(CellNoise::of(&[o]).flags().contains("overlapped"));
        let mut busy = run(1, flat.clone());
        busy.record.foreign_cpu_pct = Some(45.0);
        let mut quiet_run = run(2, flat);
        quiet_run.record.foreign_cpu_pct = Some(2.0);
        assert_eq!(
            CellNoise::of(&[busy, quiet_run]).flags(),
            "1 round(s) shared this machine with other work (up to 45% of its CPUs)"
        );
    }

    #[test]
    fn the_design_favours_rounds_when_rounds_disagree() {
        // Rounds differ by 10% while inferences within a round agree to
        // 1%: few inferences, many rounds.
        let cells: Vec<(CellNoise, f64, f64)> = (0..4)
            .map(|_| {
                let runs: Vec<RoundRun> = (1..=5)
                    .map(|r| {
                        let m = 1000.0 * (1.0 + 0.1 * ((r % 3) as f64 - 1.0));
                        run(r, (0..10).map(|i| m + (i % 2) as f64 * 10.0).collect())
                    })
                    .collect();
                (CellNoise::of(&runs), 0.5, 10.0)
            })
            .collect();
        let lines = design(&cells, 0.05);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[1].starts_with("design: about 2 measured"),
            "{lines:?}"
        );
        assert!(design(&[], 0.05).is_empty());
    }
}
