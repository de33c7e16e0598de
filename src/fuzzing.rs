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
    let re = (mode & 1 == 1).then(regexes);
    let log = match re {
        None => ingest::parse_klo(&text),
        Some(re) => ingest::parse_regex(&text, re),
    };
    let expected = u32::from(mode >> 1);
    let reason = log.incomplete_reason(expected, Some("tiny"));
    let flags = log.first_kernel_flags();
    // The digest, which results are read as, judges every log as the whole
    // log does, and reduces a complete one to the same sums.
    let keep = ingest::digest::Keep {
        t_prod_sample: true,
    };
    let d = ingest::digest_text(&text, re, keep);
    for net in [Some("tiny"), None] {
        assert_eq!(
            d.incomplete_reason(expected, net),
            log.incomplete_reason(expected, net),
            "the digest and the whole log disagree on {net:?}"
        );
    }
    assert_eq!(d.inferences, log.inferences);
    assert_eq!(d.kernel_records, log.kernels.iter.len() as u64);
    if reason.is_none() {
        let k = &log.kernels;
        let mut sums: std::collections::BTreeMap<u32, ingest::digest::IterSums> =
            std::collections::BTreeMap::new();
        #[allow(clippy::needless_range_loop)] // r indexes five columns of the frame
        for r in 0..k.iter.len() {
            let s = sums.entry(k.iter[r]).or_default();
            s.records += 1;
            if k.iter[r] > 0 {
                if !flags[r] {
                    s.t_prod.add(k.t_prod_us[r]);
                }
                s.t_ker.add(k.t_ker_us[r]);
                if let Some(x) = k.t_idle_us[r].filter(|_| !flags[r]) {
                    s.t_idle.add(x);
                }
            }
        }
        let got: Vec<(u32, ingest::digest::IterSums)> =
            d.measured_iters().map(|(it, s)| (it, *s)).collect();
        let want: Vec<(u32, ingest::digest::IterSums)> =
            sums.into_iter().filter(|(it, _)| *it > 0).collect();
        assert_eq!(got, want, "per-inference sums");
    }
}

/// The board inventory parser.
pub fn inventory(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/klo-spec-fuzz/boards.yaml");
    let _ = crate::board::inventory::parse(path, text);
}
