//! Calibrating a board: the calibration scenario run on it (a run like
//! any other, into klo-spec's cache), its logs reduced to the costs of a
//! work unit and a flush (see `calibrate` for the method and what is
//! kept), and the regimes of a probe scenario resolved from the kept
//! calibrations, calibrating first the boards that lack one.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use crate::board::{Cancel, helpers};
use crate::calibrate::{
    Calibration, DISTURBED_PCT, FLUSH_UNITS, KERNELS, ROUNDS, Regimes, UNITS, cached, path,
    probe_key, regime_of, scenario_text,
};
use crate::output::atomic_write;
use crate::record::RegimeScale;
use crate::scenario::ProbeSpec;
use crate::scenario::raw::Regime;

fn median(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| crate::analysis::stats::median(v))
}

fn cv_pct(v: &[f64]) -> Option<f64> {
    use crate::analysis::stats;
    (v.len() >= 2)
        .then(|| 100.0 * stats::sd(v) / stats::mean(v))
        .filter(|x| x.is_finite())
}

/// Measures a board for probe settings `spec` and keeps the result (see the
/// module docs). `inventory` is the board inventory file, if any.
pub fn calibrate(
    board: &str,
    spec: &ProbeSpec,
    inventory: Option<&Path>,
    templates: Option<&Path>,
    cancel: &Cancel,
    progress: bool,
) -> Result<Calibration> {
    let (p, report) = run_calibration(board, spec, inventory, templates, cancel, progress)?;
    let m = measure(&p, &report.out_dir);
    keep(board, spec, &p, &report.out_dir, m)
}

/// Runs the calibration scenario on the board, into klo-spec's cache.
fn run_calibration(
    board: &str,
    spec: &ProbeSpec,
    inventory: Option<&Path>,
    templates: Option<&Path>,
    cancel: &Cancel,
    progress: bool,
) -> Result<(super::Prepared, super::RunReport)> {
    let root = helpers::cache_dir().join("calibration").join(board);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let file = root.join(format!("{}.yaml", probe_key(spec)));
    atomic_write(&file, scenario_text(board, spec).as_bytes())?;
    let s = crate::scenario::load(&file)?;
    let mut p = super::prepare(s, templates, inventory)?;
    p.scenario.seed = Some(1);
    // The calibration records its pre-flight and is never stopped by it:
    // the run that needs the calibration checks the board itself.
    p.scenario.preflight.allow = crate::preflight::CHECKS.map(String::from).to_vec();
    let report = super::run(
        &p,
        &super::RunOptions {
            output_root: root.clone(),
            force: true,
            progress,
            only: Vec::new(),
            rerun_failed: false,
            wait: None,
        },
        cancel,
    )?;
    report.outcome(cancel)?;
    Ok((p, report))
}

/// Per round of the calibration run, the figures it gives.
#[derive(Default)]
struct Measured {
    /// One host work unit, one device work unit, a flush's fixed part,
    /// the submission latency (µs), and the CPU share other work took (%).
    host: Vec<f64>,
    dev: Vec<f64>,
    fixed: Vec<f64>,
    latency: Vec<f64>,
    foreign: Vec<f64>,
}

/// Per round, the median over its measured kernels (the first of each
/// inference left out): a kernel the scheduler preempted does not move
/// it, where it would move a mean.
fn measure(p: &super::Prepared, out_dir: &Path) -> Measured {
    let Measured {
        mut host,
        mut dev,
        mut fixed,
        mut latency,
        mut foreign,
    } = Measured::default();
    for c in &p.cells {
        let host_heavy = c.coord.network == format!("synth-{KERNELS}-{UNITS}-1");
        for round in 1..=ROUNDS {
            let rc = super::rounds::round_cell(c, round, 0);
            let rec = super::current_record(out_dir, &rc);
            if let Some(f) = rec.as_ref().and_then(|r| r.foreign_cpu_pct) {
                foreign.push(f);
            }
            let ok = rec.is_some_and(|r| r.status == crate::record::Status::Ok);
            let log = ok
                .then(|| {
                    super::cell::parse_log_full(
                        &p.scenario,
                        &crate::layout::ResultDir::new(out_dir).cell(&rc.id),
                    )
                })
                .flatten();
            let Some(log) = log else { continue };
            let first = log.first_kernel_flags();
            let k = &log.kernels;
            let measured: Vec<usize> = (0..k.iter.len())
                .filter(|&i| k.iter[i] > 0 && !first[i])
                .collect();
            let med =
                |v: Vec<f64>| median(&v.into_iter().filter(|x| x.is_finite()).collect::<Vec<_>>());
            if host_heavy {
                let Some(t_prod) = med(measured.iter().map(|&i| k.t_prod_us[i]).collect()) else {
                    continue;
                };
                let a = t_prod / UNITS as f64;
                host.push(a);
                if let Some(f) = med(measured.iter().filter_map(|&i| k.t_flush_us[i]).collect()) {
                    fixed.push((f - FLUSH_UNITS as f64 * a).max(0.0));
                }
                // The device idles on this network: a kernel starts as
                // soon as its flush has reached it.
                let text = crate::untrusted::read_lossy(
                    &crate::layout::bench_log(&crate::layout::ResultDir::new(out_dir).cell(&rc.id)),
                    crate::untrusted::DEFAULT_FILE_MIB as u64 * crate::untrusted::MIB,
                )
                .unwrap_or_default();
                let waits: Vec<f64> = (1..=k.iter.iter().copied().max().unwrap_or(0))
                    .flat_map(|it| crate::plot::timeline::inference_spans(&text, it))
                    .skip(1)
                    .filter_map(|s| Some(s.start - (s.enq + s.flush?)))
                    .filter(|w| *w >= 0.0)
                    .collect();
                if let Some(l) = median(&waits) {
                    latency.push(l);
                }
            } else if let Some(t_ker) = med(measured.iter().map(|&i| k.t_ker_us[i]).collect()) {
                dev.push(t_ker / UNITS as f64);
            }
        }
    }
    Measured {
        host,
        dev,
        fixed,
        latency,
        foreign,
    }
}

/// The calibration from the rounds' figures, kept in the cache (with a
/// warning when other work disturbed it).
fn keep(
    board: &str,
    spec: &ProbeSpec,
    p: &super::Prepared,
    out_dir: &Path,
    m: Measured,
) -> Result<Calibration> {
    let Measured {
        host,
        dev,
        fixed,
        latency,
        foreign,
    } = m;
    let (Some(a), Some(b)) = (median(&host), median(&dev)) else {
        anyhow::bail!(
            "the calibration run on board `{board}` measured no ok round: see {}",
            out_dir.display()
        );
    };
    let ran_on = p
        .cells
        .first()
        .and_then(|c| super::current_record(out_dir, &super::rounds::round_cell(c, 1, 0)))
        .and_then(|r| crate::kstrategy::build::device_of(&r));
    let mut spread = BTreeMap::new();
    for (name, v) in [
        ("host", &host),
        ("device", &dev),
        ("flush_fixed", &fixed),
        ("submit_latency", &latency),
    ] {
        if let Some(cv) = cv_pct(v) {
            spread.insert(name.to_string(), (cv * 10.0).round() / 10.0);
        }
    }
    let c = Calibration {
        board: board.to_string(),
        identity: p.identities.get(board).cloned().unwrap_or_default(),
        helpers: helpers::source_hash(),
        probe: probe_key(spec),
        ran_on,
        host_us_per_unit: a,
        device_us_per_unit: b,
        flush_fixed_us: median(&fixed).unwrap_or(0.0),
        submit_latency_us: median(&latency),
        spread_pct: spread,
        foreign_cpu_pct: median(&foreign),
        rounds: ROUNDS,
        measured_at: crate::host::now_rfc3339(),
        source: out_dir.display().to_string(),
    };
    atomic_write(
        &path(board, spec),
        (serde_json::to_string_pretty(&c)? + "\n").as_bytes(),
    )?;
    if let Some(f) = c.foreign_cpu_pct.filter(|f| *f > DISTURBED_PCT) {
        eprintln!(
            "klo-spec: warning: other work took {f:.0}% of this machine's CPUs while board `{board}` was calibrated: the figures may be off; the next run calibrates again (or `klo-spec calibrate {board} --force` on a quiet machine)"
        );
    }
    Ok(c)
}

/// Resolves what a probe scenario takes from its boards' calibrations: per
/// (board, network) the `ker_scale` of its regime, and the calibrations a
/// model LUT (`lut: {model: true}`) is worked out from. A board without one
/// is calibrated first when `calibrate_missing` gives a way to stop it;
/// otherwise its scales stay unknown (`plan`), and a note says so.
pub fn resolve(
    s: &crate::scenario::Scenario,
    identities: &BTreeMap<String, String>,
    inventory: Option<&Path>,
    templates: Option<&Path>,
    calibrate_missing: Option<&Cancel>,
) -> Result<Resolved> {
    let mut out = Resolved::default();
    let crate::scenario::Benchmark::Probe(spec) = &s.benchmark else {
        return Ok(out);
    };
    let model_lut = s.lut.as_ref().is_some_and(|l| l.model);
    for board in &s.boards {
        let wanted: Vec<(&String, Regime)> = s
            .networks
            .iter()
            .filter_map(|n| regime_of(n, spec).map(|r| (n, r)))
            .collect();
        if wanted.is_empty() && !model_lut {
            continue;
        }
        let identity = identities.get(board).map(String::as_str).unwrap_or("");
        let cal = match (cached(board, identity, spec), calibrate_missing) {
            (Some(c), _) => Some(c),
            (None, Some(cancel)) => {
                eprintln!(
                    "klo-spec: board `{board}` has no calibration for the probe at {} (or it was measured on another board or with other helpers): calibrating it first",
                    probe_key(spec)
                );
                let c = calibrate(board, spec, inventory, templates, cancel, true).with_context(
                    || format!("calibrating board `{board}` for the scenario's regimes"),
                )?;
                eprintln!(
                    "klo-spec: calibrated `{board}`: a host work unit {:.3} ns, a device work unit {:.3} ns, a flush {:.1} µs + its host units ({})",
                    1e3 * c.host_us_per_unit,
                    1e3 * c.device_us_per_unit,
                    c.flush_fixed_us,
                    path(board, spec).display()
                );
                Some(c)
            }
            (None, None) => {
                out.notes.push(format!(
                    "board `{board}` has no calibration for the probe at {}: the regimes' ker_scale, the model's LUT and the hashes are unknown until `klo-spec calibrate {board}` (or `klo-spec run`, which calibrates first)",
                    probe_key(spec)
                ));
                None
            }
        };
        for (n, regime) in wanted {
            out.regimes.insert(
                (board.clone(), n.clone()),
                RegimeScale {
                    regime: regime.label(),
                    ratio: regime.ratio(),
                    ker_scale: cal.as_ref().and_then(|c| c.ker_scale(n, spec, regime)),
                    calibration: cal.as_ref().map(|c| c.hash()),
                },
            );
        }
        if let Some(c) = cal {
            out.calibrations.insert(board.clone(), c);
        }
    }
    Ok(out)
}

/// What [`resolve`] found for a scenario.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub regimes: Regimes,
    /// The calibration of every board that needed one and has it.
    pub calibrations: BTreeMap<String, Calibration>,
    /// What the run should say first (boards left uncalibrated).
    pub notes: Vec<String>,
}
