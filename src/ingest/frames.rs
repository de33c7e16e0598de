//! Records of many cells into two polars frames:
//!
//! - kernels: `cell` (index into the cell list), `iter`, `kernel`, `first`
//!   (the inference's first kernel), `name`, `t_prod_us`, `t_ker_us`,
//!   `t_idle_us` (null when undefined), `flush`, `k`, `t_flush_us` (null
//!   where there was no flush);
//! - inferences: `cell`, `iter`, `latency_us`, `flushes`, `k_mean`.
//!
//! Cells are referenced by index so that a long campaign's frames do not
//! repeat cell ids on every kernel row.

use polars::prelude::*;

use super::{CellLog, InferenceRows};

/// The inference frame of `(cell index, inference records)` pairs, for
/// readers that need no per-kernel column.
pub fn inferences(logs: &[(u32, &InferenceRows)]) -> PolarsResult<DataFrame> {
    let ni: usize = logs.iter().map(|(_, i)| i.iter.len()).sum();
    let mut i_cell = Vec::with_capacity(ni);
    let mut i_iter = Vec::with_capacity(ni);
    let mut i_lat = Vec::with_capacity(ni);
    let mut i_flushes = Vec::with_capacity(ni);
    let mut i_kmean = Vec::with_capacity(ni);
    for (cell, i) in logs {
        i_cell.extend(std::iter::repeat_n(*cell, i.iter.len()));
        i_iter.extend_from_slice(&i.iter);
        i_lat.extend_from_slice(&i.latency_us);
        i_flushes.extend_from_slice(&i.flushes);
        i_kmean.extend_from_slice(&i.k_mean);
    }
    DataFrame::new(
        ni,
        vec![
            Column::new("cell".into(), i_cell),
            Column::new("iter".into(), i_iter),
            Column::new("latency_us".into(), i_lat),
            Column::new("flushes".into(), i_flushes),
            Column::new("k_mean".into(), i_kmean),
        ],
    )
}

/// Concatenates the records of `(cell index, log)` pairs.
pub fn build(logs: &[(u32, &CellLog)]) -> PolarsResult<(DataFrame, DataFrame)> {
    let nk: usize = logs.iter().map(|(_, l)| l.kernels.iter.len()).sum();

    let mut k_cell = Vec::with_capacity(nk);
    let mut k_iter = Vec::with_capacity(nk);
    let mut k_kernel = Vec::with_capacity(nk);
    let mut k_first = Vec::with_capacity(nk);
    let mut k_name: Vec<&str> = Vec::with_capacity(nk);
    let mut k_prod = Vec::with_capacity(nk);
    let mut k_ker = Vec::with_capacity(nk);
    let mut k_idle = Vec::with_capacity(nk);
    let mut k_flush = Vec::with_capacity(nk);
    let mut k_k = Vec::with_capacity(nk);
    let mut k_flush_us = Vec::with_capacity(nk);

    for (cell, log) in logs {
        let k = &log.kernels;
        k_cell.extend(std::iter::repeat_n(*cell, k.iter.len()));
        k_iter.extend_from_slice(&k.iter);
        k_kernel.extend_from_slice(&k.kernel);
        k_first.extend(log.first_kernel_flags());
        k_name.extend(k.name.iter().map(|&n| k.names[n as usize].as_str()));
        k_prod.extend_from_slice(&k.t_prod_us);
        k_ker.extend_from_slice(&k.t_ker_us);
        k_idle.extend_from_slice(&k.t_idle_us);
        k_flush.extend_from_slice(&k.flush);
        k_k.extend_from_slice(&k.k);
        k_flush_us.extend_from_slice(&k.t_flush_us);
    }

    let kernels = DataFrame::new(
        nk,
        vec![
            Column::new("cell".into(), k_cell),
            Column::new("iter".into(), k_iter),
            Column::new("kernel".into(), k_kernel),
            Column::new("first".into(), k_first),
            Column::new("name".into(), k_name),
            Column::new("t_prod_us".into(), k_prod),
            Column::new("t_ker_us".into(), k_ker),
            Column::new("t_idle_us".into(), k_idle),
            Column::new("flush".into(), k_flush),
            Column::new("k".into(), k_k),
            Column::new("t_flush_us".into(), k_flush_us),
        ],
    )?;
    let rows: Vec<(u32, &InferenceRows)> = logs.iter().map(|(c, l)| (*c, &l.inferences)).collect();
    Ok((kernels, inferences(&rows)?))
}
