//! The rows of the result tables, typed: what `analysis` computes, what
//! `run` writes as CSV and Markdown, and what `results` reads back for
//! `diff`, `plot` and `report`. A table's file is generated from its rows
//! (the column names are the fields' names), so every reader and writer
//! agrees on one definition.

mod verdict;

pub use verdict::{CheckTotal, NotAVerdict, Verdict};
