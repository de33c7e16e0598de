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
//!
//! This module holds the calibrations and what they resolve to; measuring
//! a board (a run of the calibration scenario) is `run::calibrate`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::board::helpers;
use crate::record::RegimeScale;
use crate::scenario::ProbeSpec;
use crate::scenario::raw::{Device, Regime, Submit};

/// Work units per kernel of the calibration's networks.
pub const UNITS: u64 = 400_000;
/// Host work units per flush in the calibration run.
pub const FLUSH_UNITS: u64 = 20_000;
/// Rounds of the calibration run.
pub const ROUNDS: u32 = 7;
/// Kernels per calibration network.
pub const KERNELS: u32 = 16;
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
pub fn scenario_text(board: &str, spec: &ProbeSpec) -> String {
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

/// Per (board, network): what its regime resolved to.
pub type Regimes = BTreeMap<(String, String), RegimeScale>;

/// The regime of a network under a probe setting: its own suffix, else
/// the probe's `regime`.
pub fn regime_of(network: &str, spec: &ProbeSpec) -> Option<Regime> {
    match crate::networks::split_regime(network).1 {
        Some(Ok(r)) => Some(r),
        _ => spec.regime,
    }
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
    fn a_calibration_read_back_from_its_file_has_the_same_hash() {
        // The run that measures a calibration sizes its cells with the one
        // in memory, the next run with the one read from the cache file:
        // their hashes, part of every cell's, must agree, or the next run
        // finds every cell changed. Figures of a real calibration (this
        // VM, 2026-12-06): without serde_json's `float_roundtrip`, its
        // submission latency 92.09999999999991 read back as
        // 92.09999999999992 (a parse that is not correctly rounded).
        let mut c = cal();
        c.host_us_per_unit = 0.00185175;
        c.device_us_per_unit = 0.00185225;
        c.flush_fixed_us = 7.964999999999996;
        c.submit_latency_us = Some(92.09999999999991);
        c.spread_pct = BTreeMap::from([("flush_fixed".to_string(), 6.5)]);
        c.foreign_cpu_pct = Some(0.0);
        let text = serde_json::to_string_pretty(&c).unwrap() + "\n";
        let back: Calibration = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.hash(), c.hash());
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
