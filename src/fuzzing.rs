//! What the fuzz targets (fuzz/, cargo-fuzz) do with one input, here so that
//! `cargo test` runs the same code over the committed corpus and every crash
//! ever found (tests/fuzz_corpus.rs). Each function must return, whatever
//! the bytes: bad input comes back as located diagnostics, never a panic.

use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;

use crate::ingest;
use crate::scenario::LogRegexes;

/// Largest expansion a fuzz input gets: expansion is linear in the cells,
/// and a quick input keeps the campaign fast.
pub const MAX_CELLS: usize = 2000;

/// The scenario parser and expander: read and validate, expand the matrix,
/// hash the cells, pair every check's cells.
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A folder that does not exist: `push` and `build_with` resolve to
    // nothing, so an input never reads the machine's files.
    let path = Path::new("/nonexistent/klo-spec-fuzz/scenario.yaml");
    let Ok(mut s) = crate::scenario::parse(path, text) else {
        return;
    };
    s.max_cells = s.max_cells.min(MAX_CELLS);
    let Ok(mut cells) = crate::matrix::expand(&s) else {
        return;
    };
    let ctx = crate::matrix::hash::HashContext::default();
    crate::matrix::hash::assign(&s, &mut cells, &ctx, &[]);
    for check in &s.checks {
        let _ = crate::matrix::groups::check_pairs(check, &cells);
    }
}

fn regexes() -> &'static LogRegexes {
    static RE: OnceLock<LogRegexes> = OnceLock::new();
    // Groups that take any text, so that values which are not numbers
    // reach the field parsing.
    RE.get_or_init(|| LogRegexes {
        kernel: Some(
            Regex::new(r"^kernel it=(?P<iter>\S*) n=(?P<kernel>\S*) prod=(?P<t_prod_us>\S*) ker=(?P<t_ker_us>\S*)(?: idle=(?P<t_idle_us>\S*))?(?: flush=(?P<flush>\S*))?(?: k=(?P<k>\S*))?(?: name=(?P<name>\S*))?")
                .expect("a valid expression"),
        ),
        inference: Regex::new(r"^inference it=(?P<iter>\S*) took (?P<latency_us>\S*) us(?: flushes=(?P<flushes>\S*))?(?: k_mean=(?P<k_mean>\S*))?")
            .expect("a valid expression"),
        end: Regex::new(r"^all done").expect("a valid expression"),
    })
}

/// The log parsers: the first byte picks the KLO v1 contract (even) or a
/// regex parser (odd), and the inference count the log is judged against
/// (the byte halved); the rest is the log.
pub fn log(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let log = if mode & 1 == 0 {
        ingest::parse_klo(&text)
    } else {
        ingest::parse_regex(&text, regexes())
    };
    let _ = log.incomplete_reason(u32::from(mode >> 1), Some("tiny"));
    let _ = log.first_kernel_flags();
}

/// The board inventory parser.
pub fn inventory(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/klo-spec-fuzz/boards.yaml");
    let _ = crate::board::inventory::parse(path, text);
}
