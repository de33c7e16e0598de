//! klo-spec: a declarative experiment-spec runner for kernel launch overhead
//! (KLO) experiments on phones and boards.
//!
//! Data flow: `scenario` (YAML, validated with located errors) -> `matrix`
//! (cells with stable ids and content hashes) -> `run` (per board, one round
//! trip per cell through a `board::Transport`, the cell script rendered by
//! `render`) -> `ingest` (logs to polars frames) -> `analysis` (summaries,
//! speedups, sweeps, checks with statistics) -> `output` (tables).
//! Reading results back: `results` (a result set from a folder or a git
//! revision) -> `diff`, `show`, `export` (one writer per format), `plot`
//! (SVG) and `report` (HTML and Markdown pages).
//!
//! The modules point one way, with no cycle between top-level modules:
//! what several share is in leaf modules (`axes`: the axes, frequencies,
//! strategies and their labels; `layout`: a result set's paths; `host`:
//! this machine and the time; `verdict`; `text`, `untrusted`, `error`,
//! `digest`), a run's records are `record` (`cell.json`, `meta.json`),
//! and only the command layer (`main.rs`, `cli.rs`, `commands.rs`) knows
//! clap: the library takes its own option types. `cargo test --test
//! modules` checks it.

pub mod analysis;
pub mod axes;
pub mod board;
pub mod calibrate;
pub mod cli;
pub mod commands;
pub mod diff;
pub mod digest;
pub mod error;
pub mod export;
pub mod fuzzing;
pub mod host;
pub mod ingest;
pub mod kstrategy;
pub mod layout;
pub mod matrix;
pub mod networks;
pub mod output;
pub mod plot;
pub mod preflight;
pub mod record;
pub mod render;
pub mod report;
pub mod results;
pub mod rows;
pub mod run;
pub mod scenario;
pub mod show;
pub mod text;
pub mod untrusted;
pub mod verdict;
pub mod yaml;
