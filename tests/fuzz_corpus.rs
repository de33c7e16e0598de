//! The fuzz targets' code (`klo_spec::fuzzing`) over the committed corpus
//! (fuzz/corpus/<target>/, minimised from the campaigns) and every input a
//! campaign ever crashed on (fuzz/regressions/<target>/): no panic, and no
//! input slower than a second.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::ROOT;

fn each_input(target: &str, run: fn(&[u8])) -> usize {
    let mut n = 0;
    for dir in ["fuzz/corpus", "fuzz/regressions"] {
        let Ok(entries) = std::fs::read_dir(Path::new(ROOT).join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            let bytes = std::fs::read(e.path()).unwrap();
            let t = Instant::now();
            run(&bytes);
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{} took {:?}",
                e.path().display(),
                t.elapsed()
            );
            n += 1;
        }
    }
    n
}

#[test]
fn the_scenario_corpus_parses_and_expands_without_a_panic() {
    assert!(each_input("scenario", klo_spec::fuzzing::scenario) > 100);
}

#[test]
fn the_log_corpus_parses_without_a_panic() {
    assert!(each_input("log", klo_spec::fuzzing::log) >= 4);
}

#[test]
fn the_inventory_corpus_parses_without_a_panic() {
    assert!(each_input("inventory", klo_spec::fuzzing::inventory) > 30);
}
