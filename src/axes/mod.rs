//! The vocabulary of the matrix's axes, shared by the modules that read,
//! place and show cells: the axes and their values, the frequency settings
//! (`freq`), the K strategies (`strategy`) and how a value is written in
//! ids and tables (labels, slugs). `scenario` reads them from YAML,
//! `matrix` places cells on them, `board` pins the frequencies, the
//! tables write the labels. A leaf: it uses nothing of the crate.

pub mod freq;
pub mod strategy;

use std::fmt;

use serde::Serialize;

use freq::{CpuFreq, GpuFreq};
use strategy::{FromProfile, ProfileKind, Strategy};

/// The axes a cell is placed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    Board,
    Load,
    CpuFreq,
    GpuFreq,
    Knobs,
    Network,
    Strategy,
}

/// The knob set of a cell that sets only the scenario's own knobs: the
/// `knobs` axis's default value, left out of ids and hashes so that adding
/// the axis to a scenario keeps its earlier cells.
pub const STOCK_KNOBS: &str = "stock";

impl Axis {
    /// Canonical order: the order of a cell id's segments, and of defaulted axes.
    pub const ALL: [Axis; 7] = [
        Axis::Board,
        Axis::Load,
        Axis::CpuFreq,
        Axis::GpuFreq,
        Axis::Knobs,
        Axis::Network,
        Axis::Strategy,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Axis::Board => "board",
            Axis::Load => "load",
            Axis::CpuFreq => "cpu_freq",
            Axis::GpuFreq => "gpu_freq",
            Axis::Knobs => "knobs",
            Axis::Network => "network",
            Axis::Strategy => "strategy",
        }
    }

    pub fn from_key(key: &str) -> Option<Axis> {
        Axis::ALL.into_iter().find(|a| a.key() == key)
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A value on one axis.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AxisValue {
    Name(String),
    Cpu(CpuFreq),
    Gpu(GpuFreq),
    Strategy(Strategy),
}

impl fmt::Display for AxisValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AxisValue::Name(n) => f.write_str(n),
            AxisValue::Cpu(c) => c.fmt(f),
            AxisValue::Gpu(g) => g.fmt(f),
            AxisValue::Strategy(s) => f.write_str(&strategy_label(s)),
        }
    }
}

/// A strategy as written in tables: `default`, `fixed-8`, `sweep[1,2,4]`,
/// `constant-baseline`, `static-self-from-cpu-max`, `dynamic`, `search-max32`.
pub fn strategy_label(s: &Strategy) -> String {
    match s {
        Strategy::Default => "default".into(),
        Strategy::Fixed(k) => format!("fixed-{k}"),
        Strategy::Sweep(sw) => {
            let ks: Vec<String> = sw.k.iter().map(|k| k.to_string()).collect();
            format!("sweep[{}]", ks.join(","))
        }
        Strategy::Constant(p) => format!("constant-{}", profile_slug(p)),
        Strategy::Static(p) => format!("static-{}", profile_slug(p)),
        Strategy::Dynamic => "dynamic".into(),
        Strategy::Search(s) => format!("search-max{}", s.k_max),
    }
}

/// `baseline`, `self`, `baseline-from-cpu-max`, `self-from-cpu-min.gpu-max`.
pub fn profile_slug(p: &FromProfile) -> String {
    let kind = match p.profile {
        ProfileKind::Baseline => "baseline",
        ProfileKind::SelfLoad => "self",
    };
    let from: Vec<String> = p
        .cpu_freq
        .iter()
        .map(|c| c.slug())
        .chain(p.gpu_freq.iter().map(|g| g.slug()))
        .collect();
    if from.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}-from-{}", from.join("."))
    }
}
