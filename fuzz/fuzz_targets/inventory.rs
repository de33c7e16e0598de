//! The board inventory parser on arbitrary text
//! (`klo_spec::fuzzing::inventory`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| klo_spec::fuzzing::inventory(data));
