//! The coordinates of a cell: one value per axis.

use std::fmt;

use serde::Serialize;

use crate::scenario::{CpuFreq, GpuFreq, Strategy};

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
pub fn profile_slug(p: &crate::scenario::raw::FromProfile) -> String {
    let kind = match p.profile {
        crate::scenario::raw::ProfileKind::Baseline => "baseline",
        crate::scenario::raw::ProfileKind::SelfLoad => "self",
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

/// One combination of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Coord {
    pub board: String,
    pub load: String,
    pub cpu_freq: CpuFreq,
    pub gpu_freq: GpuFreq,
    /// The knob set (`stock` unless the `knobs` axis says otherwise); not
    /// serialized when `stock`, so hashes of cells without the axis stay.
    #[serde(skip_serializing_if = "is_stock")]
    pub knobs: String,
    pub network: String,
    pub strategy: Strategy,
}

fn is_stock(knobs: &str) -> bool {
    knobs == STOCK_KNOBS
}

impl Coord {
    /// The cell id's segment for the knob set: `knobs-NAME`, or none for
    /// `stock`.
    pub fn knobs_segment(&self) -> Option<String> {
        (!is_stock(&self.knobs)).then(|| format!("knobs-{}", self.knobs))
    }

    pub fn get(&self, axis: Axis) -> AxisValue {
        match axis {
            Axis::Board => AxisValue::Name(self.board.clone()),
            Axis::Load => AxisValue::Name(self.load.clone()),
            Axis::CpuFreq => AxisValue::Cpu(self.cpu_freq.clone()),
            Axis::GpuFreq => AxisValue::Gpu(self.gpu_freq),
            Axis::Knobs => AxisValue::Name(self.knobs.clone()),
            Axis::Network => AxisValue::Name(self.network.clone()),
            Axis::Strategy => AxisValue::Strategy(self.strategy.clone()),
        }
    }

    /// Compares one axis without cloning.
    pub fn has(&self, axis: Axis, value: &AxisValue) -> bool {
        match (axis, value) {
            (Axis::Board, AxisValue::Name(n)) => self.board == *n,
            (Axis::Load, AxisValue::Name(n)) => self.load == *n,
            (Axis::Network, AxisValue::Name(n)) => self.network == *n,
            (Axis::Knobs, AxisValue::Name(n)) => self.knobs == *n,
            (Axis::CpuFreq, AxisValue::Cpu(c)) => self.cpu_freq == *c,
            (Axis::GpuFreq, AxisValue::Gpu(g)) => self.gpu_freq == *g,
            (Axis::Strategy, AxisValue::Strategy(s)) => self.strategy == *s,
            _ => false,
        }
    }

    /// Sets one axis. Values of the wrong kind for the axis are a bug in the
    /// caller (the checker pairs them).
    pub fn set(&mut self, axis: Axis, value: AxisValue) {
        match (axis, value) {
            (Axis::Board, AxisValue::Name(n)) => self.board = n,
            (Axis::Load, AxisValue::Name(n)) => self.load = n,
            (Axis::Network, AxisValue::Name(n)) => self.network = n,
            (Axis::Knobs, AxisValue::Name(n)) => self.knobs = n,
            (Axis::CpuFreq, AxisValue::Cpu(c)) => self.cpu_freq = c,
            (Axis::GpuFreq, AxisValue::Gpu(g)) => self.gpu_freq = g,
            (Axis::Strategy, AxisValue::Strategy(s)) => self.strategy = s,
            (axis, value) => unreachable!("value {value:?} paired with axis {axis}"),
        }
    }
}
