//! K strategies: the timing model, the K_answer search, the LUT.

pub mod build;
pub mod evaluate;
pub mod lut;
pub mod model;
pub mod search;
