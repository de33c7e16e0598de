//! The scenario parser and expander on arbitrary text
//! (`klo_spec::fuzzing::scenario`: parse, expand, hash, pair the checks).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| klo_spec::fuzzing::scenario(data));
