//! The log parsers on arbitrary benchmark output
//! (`klo_spec::fuzzing::log`: the KLO v1 contract and a regex parser).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| klo_spec::fuzzing::log(data));
