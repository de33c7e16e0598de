//! The board inventory parser on arbitrary text (`board::inventory::parse`):
//! bad input must come back as located diagnostics, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/klo-spec-fuzz/boards.yaml");
    let _ = klo_spec::board::inventory::parse(path, text);
});
