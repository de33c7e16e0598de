//! The log parsers on arbitrary benchmark output: the KLO v1 contract
//! (`ingest::parse_klo`) and a regex parser (`ingest::parse_regex`) whose
//! groups take any text, so that values which are not numbers reach the
//! field parsing. The first byte picks the parser and the inference count
//! the log is judged against.
#![no_main]

use std::sync::OnceLock;

use klo_spec::ingest;
use klo_spec::scenario::LogRegexes;
use libfuzzer_sys::fuzz_target;
use regex::Regex;

fn regexes() -> &'static LogRegexes {
    static RE: OnceLock<LogRegexes> = OnceLock::new();
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

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let log = if mode & 1 == 0 {
        ingest::parse_klo(&text)
    } else {
        ingest::parse_regex(&text, regexes())
    };
    let _ = log.incomplete_reason(u32::from(mode >> 1));
    let _ = log.first_kernel_flags();
});
