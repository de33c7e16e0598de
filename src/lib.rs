//! klo-spec: a declarative experiment-spec runner for kernel launch overhead
//! (KLO) experiments on phones and boards.
//!
//! Data flow: `scenario` (YAML, validated with located errors) -> `matrix`
//! (cells with stable ids and content hashes) -> `run` (per board, one round
//! trip per cell through a `board::Transport`, the cell script rendered by
//! `render`) -> `ingest` (logs to polars frames) -> `analysis` (summaries,
//! speedups, sweeps, checks with statistics) -> `output` (tables).

pub mod analysis;
pub mod board;
pub mod cli;
pub mod commands;
pub mod digest;
pub mod error;
pub mod ingest;
pub mod kstrategy;
pub mod matrix;
pub mod networks;
pub mod output;
pub mod record;
pub mod render;
pub mod run;
pub mod scenario;
pub mod yaml;
