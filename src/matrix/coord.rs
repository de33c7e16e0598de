//! The coordinates of a cell: one value per axis.

use serde::Serialize;

use crate::axes::{Axis, AxisValue, STOCK_KNOBS};
use crate::scenario::{CpuFreq, GpuFreq, Strategy};

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
