//! Calibration of a board for the reference workload, and the regimes it
//! makes possible.
//!
//! `klo-spec calibrate BOARD` runs klo-probe on the board with two
//! synthetic networks, K = 1, in a few rounds: one whose kernels are all
//! host work (T_prod), one whose kernels are all device work (T_ker). Per
//! round it takes the median over the run's kernels (robust to a kernel
//! the scheduler preempted), then the median over rounds of:
//!
//! - the time of one host work unit (T_prod / host units),
//! - the time of one device work unit (T_ker / device units),
//! - the flush cost's fixed part (the measured time of a flush minus its
//!   host work units, `flush_units`),
//!
//! and keeps them in klo-spec's cache with what they were measured on: the
//! board's identity, the probe's device, submission mode, work size and
//! platform, and the board-side helpers' hash. A calibration whose board,
//! device or helpers changed is not used: the board is calibrated again.
//!
//! A probe scenario with a `regime` (or a network written `NAME.REGIME`)
//! sizes each network's device work on each board from the calibration:
//! `ker_scale` such that T_ker / (T_prod + flush cost) per kernel is the
//! regime's ratio. The same scenario then puts a phone, a desktop GPU and a
//! 2-core VM in the same place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::board::{Cancel, helpers};
use crate::output::atomic_write;
use crate::scenario::ProbeSpec;
use crate::scenario::raw::{Device, Regime, Submit};

/// Work units per kernel of the calibration's networks.
const UNITS: u64 = 400_000;
/// Host work units per flush in the calibration run.
const FLUSH_UNITS: u64 = 20_000;
/// Rounds of the calibration run.
pub const ROUNDS: u32 = 7;
/// Kernels per calibration network.
const KERNELS: u32 = 16;
/// A calibration during which other work took more than this share of the
/// machine's CPUs (median over its runs, percent) is not kept.
pub const DISTURBED_PCT: f64 = 10.0;

/// What one unit of work costs on a board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub board: String,
    /// The board's identity when it was measured.
    pub identity: String,
    /// The board-side helpers' source hash.
    pub helpers: String,
    /// The probe settings it holds for (`device`, `submit`, `global_size`,
    /// `platform`).
    pub probe: String,
    /// The device as klo-probe reported it (the OpenCL device's name, or
    /// `thread`).
    pub ran_on: Option<String>,
    /// µs per host work unit (T_prod, flushes).
    pub host_us_per_unit: f64,
    /// µs per device work unit (T_ker).
    pub device_us_per_unit: f64,
    /// µs a flush costs beyond its host work units (the runtime's own part;
    /// never below 0).
    pub flush_fixed_us: f64,
    /// µs from the end of a flush to the start of its batch on an idle
    /// device (the timing model's L), from the probe's timeline.
    #[serde(default)]
    pub submit_latency_us: Option<f64>,
    /// Between-round coefficient of variation of each, percent.
    pub spread_pct: BTreeMap<String, f64>,
    /// Boards on this machine: the median share of the machine's CPUs that
    /// other work took during the calibration's runs (percent). Above
    /// `DISTURBED_PCT` the calibration is used for the run that made it,
    /// never kept for the next.
    #[serde(default)]
    pub foreign_cpu_pct: Option<f64>,
    pub rounds: u32,
    pub measured_at: String,
    /// The result set of the calibration run.
    pub source: String,
}

impl Calibration {
    /// The cost of one flush of `flush_units` host units (µs).
    pub fn flush_us(&self, flush_units: u64) -> f64 {
        self.flush_fixed_us + flush_units as f64 * self.host_us_per_unit
    }

    /// A short content hash, for cell hashes and records.
    pub fn hash(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        let mut h = crate::digest::hex_sha256(json.as_bytes());
        h.truncate(16);
        h
    }

    /// The `ker_scale` that puts `network` in `regime` under probe `spec`:
    /// T_ker = ratio x (T_prod + flush cost) per kernel, from its mean work
    /// units. `None` for a network the probe does not know.
    pub fn ker_scale(&self, network: &str, spec: &ProbeSpec, regime: Regime) -> Option<f64> {
        let (prod_units, ker_units) = crate::networks::mean_units(network)?;
        let t_prod = prod_units * spec.prod_scale * self.host_us_per_unit;
        let host = t_prod + self.flush_us(spec.flush_units);
        let want = regime.ratio() * host;
        let per_unit_of_scale = ker_units * self.device_us_per_unit;
        (per_unit_of_scale > 0.0 && want.is_finite())
            .then(|| (want / per_unit_of_scale).clamp(0.0001, 10_000.0))
    }
}

impl Calibration {
    /// The timing model's LUT for this board under probe `spec` (see
    /// `kstrategy::lut::from_model`): its flush cost at `spec.flush_units`
    /// and its measured submission latency.
    pub fn model_lut(&self, spec: &ProbeSpec) -> crate::kstrategy::lut::Lut {
        let costs = crate::kstrategy::model::Costs {
            flush_us: self.flush_us(spec.flush_units),
            submit_us: self.submit_latency_us.unwrap_or(0.0),
        };
        crate::kstrategy::lut::from_model(
            costs,
            vec![
                ("board".into(), self.board.clone()),
                ("board_identity".into(), self.identity.clone()),
                ("helpers".into(), self.helpers.clone()),
                ("probe".into(), crate::kstrategy::build::probe_key(spec)),
                (
                    "device".into(),
                    self.ran_on.clone().unwrap_or_else(|| "unknown".into()),
                ),
                (
                    "source".into(),
                    format!(
                        "timing model: flush {:.1} us, submission latency {:.1} us, {} kernels (calibration {})",
                        costs.flush_us,
                        costs.submit_us,
                        crate::kstrategy::lut::MODEL_KERNELS,
                        self.hash()
                    ),
                ),
            ],
        )
    }
}

/// The probe settings a calibration holds for, as a key.
pub fn probe_key(spec: &ProbeSpec) -> String {
    let device = match spec.device {
        Device::Auto => "auto",
        Device::Opencl => "opencl",
        Device::Thread => "thread",
    };
    let submit = match spec.submit {
        Submit::Native => "native",
        Submit::Deferred => "deferred",
    };
    let mut k = format!("{device}-{submit}-g{}", spec.global_size);
    if let Some(p) = spec.platform {
        k.push_str(&format!("-p{p}"));
    }
    k
}

/// Where a board's calibration for these probe settings is kept.
pub fn path(board: &str, spec: &ProbeSpec) -> PathBuf {
    helpers::cache_dir()
        .join("calibration")
        .join(board)
        .join(format!("{}.json", probe_key(spec)))
}

/// The kept calibration of a board, when it was measured on this board
/// (same identity) with these helpers.
pub fn cached(board: &str, identity: &str, spec: &ProbeSpec) -> Option<Calibration> {
    let text = std::fs::read_to_string(path(board, spec)).ok()?;
    let c: Calibration = serde_json::from_str(&text).ok()?;
    (c.identity == identity
        && c.helpers == helpers::source_hash()
        && c.foreign_cpu_pct.is_none_or(|f| f <= DISTURBED_PCT))
    .then_some(c)
}

/// The scenario the calibration runs.
fn scenario_text(board: &str, spec: &ProbeSpec) -> String {
    let device = probe_key(spec);
    let mut probe = format!(
        "{{submit: {}, device: {}, global_size: {}, flush_units: {FLUSH_UNITS}",
        match spec.submit {
            Submit::Native => "native",
            Submit::Deferred => "deferred",
        },
        match spec.device {
            Device::Auto => "auto",
            Device::Opencl => "opencl",
            Device::Thread => "thread",
        },
        spec.global_size
    );
    if let Some(p) = spec.platform {
        probe.push_str(&format!(", platform: {p}"));
    }
    probe.push('}');
    format!(
        "name: calibrate-{device}\n\
         description: 'klo-spec calibrate, the time of a host and a device work unit and of a flush on board {board}'\n\
         boards: [{board}]\n\
         benchmark:\n  probe: {probe}\n\
         networks: [synth-{KERNELS}-{UNITS}-1, synth-{KERNELS}-1-{UNITS}]\n\
         iterations: 21\n\
         timeout_s: 300\n\
         rounds: {ROUNDS}\n\
         noise_floor: off\n\
         matrix:\n  strategy: [{{fixed: 1}}]\n"
    )
}

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
    let root = helpers::cache_dir().join("calibration").join(board);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let file = root.join(format!("{}.yaml", probe_key(spec)));
    atomic_write(&file, scenario_text(board, spec).as_bytes())?;
    let s = crate::scenario::load(&file)?;
    let mut p = crate::run::prepare(s, templates, inventory)?;
    p.scenario.seed = Some(1);
    // The calibration records its pre-flight and is never stopped by it:
    // the run that needs the calibration checks the board itself.
    p.scenario.preflight.allow = crate::preflight::CHECKS.map(String::from).to_vec();
    let report = crate::run::run(
        &p,
        &crate::run::RunOptions {
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
    // Per round, the median over its measured kernels (the first of each
    // inference left out): a kernel the scheduler preempted does not move
    // it, where it would move a mean.
    let (mut host, mut dev, mut fixed, mut latency, mut foreign) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in &p.cells {
        let host_heavy = c.coord.network == format!("synth-{KERNELS}-{UNITS}-1");
        for round in 1..=ROUNDS {
            let rc = crate::run::rounds::round_cell(c, round, 0);
            let rec = crate::run::current_record(&report.out_dir, &rc);
            if let Some(f) = rec.as_ref().and_then(|r| r.foreign_cpu_pct) {
                foreign.push(f);
            }
            let ok = rec.is_some_and(|r| r.status == crate::record::Status::Ok);
            let log = ok
                .then(|| {
                    crate::run::cell::parse_log_full(
                        &p.scenario,
                        &crate::layout::ResultDir::new(&report.out_dir).cell(&rc.id),
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
                    &crate::layout::bench_log(
                        &crate::layout::ResultDir::new(&report.out_dir).cell(&rc.id),
                    ),
                    crate::board::pull::DEFAULT_FILE_MIB as u64 * crate::untrusted::MIB,
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
    let (Some(a), Some(b)) = (median(&host), median(&dev)) else {
        anyhow::bail!(
            "the calibration run on board `{board}` measured no ok round: see {}",
            report.out_dir.display()
        );
    };
    let ran_on = p
        .cells
        .first()
        .and_then(|c| {
            crate::run::current_record(&report.out_dir, &crate::run::rounds::round_cell(c, 1, 0))
        })
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
        source: report.out_dir.display().to_string(),
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

/// Per (board, network): what its regime resolved to.
pub type Regimes = BTreeMap<(String, String), RegimeScale>;

/// What a regime resolved to for one board and network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegimeScale {
    /// `cpu_bound`, `balanced`, `gpu_bound` or `x<ratio>`.
    pub regime: String,
    pub ratio: f64,
    /// The `ker_scale` the network runs with on the board, or `None` while
    /// the board has no calibration.
    pub ker_scale: Option<f64>,
    /// The calibration's hash.
    pub calibration: Option<String>,
}

/// The regime of a network under a probe setting: its own suffix, else
/// the probe's `regime`.
pub fn regime_of(network: &str, spec: &ProbeSpec) -> Option<Regime> {
    match crate::networks::split_regime(network).1 {
        Some(Ok(r)) => Some(r),
        _ => spec.regime,
    }
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

/// The probe settings a cell of `board` and `network` runs with: the
/// scenario's, with `ker_scale` from its regime when it has one.
pub fn probe_for(
    spec: &ProbeSpec,
    regimes: &BTreeMap<(String, String), RegimeScale>,
    board: &str,
    network: &str,
) -> ProbeSpec {
    match regimes
        .get(&(board.to_string(), network.to_string()))
        .and_then(|r| r.ker_scale)
    {
        Some(k) => ProbeSpec {
            ker_scale: k,
            ..spec.clone()
        },
        None => spec.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::raw::RegimeName;

    fn cal() -> Calibration {
        Calibration {
            board: "b".into(),
            identity: "i".into(),
            helpers: "h".into(),
            probe: "auto-deferred-g64".into(),
            ran_on: None,
            host_us_per_unit: 0.001,
            device_us_per_unit: 0.002,
            flush_fixed_us: 4.0,
            submit_latency_us: Some(50.0),
            spread_pct: BTreeMap::new(),
            foreign_cpu_pct: None,
            rounds: 5,
            measured_at: String::new(),
            source: String::new(),
        }
    }

    #[test]
    fn a_regime_sets_t_ker_against_t_prod_plus_the_flush() {
        let c = cal();
        let spec = ProbeSpec::default();
        // synth-10-20000-1000: T_prod 20 µs, a flush 4 + 12 µs; T_ker at
        // scale 1 is 2 µs. Balanced: T_ker = 36 µs, scale 18.
        let net = "synth-10-20000-1000";
        let s = c
            .ker_scale(net, &spec, Regime::Named(RegimeName::Balanced))
            .unwrap();
        assert!((s - 18.0).abs() < 1e-9, "{s}");
        let g = c
            .ker_scale(net, &spec, Regime::Named(RegimeName::GpuBound))
            .unwrap();
        assert!((g / s - 3.0).abs() < 1e-9);
        let r = c.ker_scale(net, &spec, Regime::Ratio(0.5)).unwrap();
        assert!((r - 9.0).abs() < 1e-9);
        assert!(c.ker_scale("nonesuch", &spec, Regime::Ratio(1.0)).is_none());
        // A costlier flush needs more device work for the same regime.
        let costly = ProbeSpec {
            flush_units: 40_000,
            ..ProbeSpec::default()
        };
        assert!(c.ker_scale(net, &costly, Regime::Ratio(1.0)).unwrap() > s);
    }

    #[test]
    fn the_key_names_the_probe_settings() {
        let mut spec = ProbeSpec::default();
        assert_eq!(probe_key(&spec), "auto-native-g64");
        spec.submit = Submit::Deferred;
        spec.device = Device::Thread;
        spec.platform = Some(1);
        assert_eq!(probe_key(&spec), "thread-deferred-g64-p1");
        assert!(scenario_text("local", &spec).contains("platform: 1"));
    }
}
