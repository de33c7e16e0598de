//! The scenario parser and expander on arbitrary text: read and validate
//! (`scenario::parse`), expand the matrix, hash the cells and pair every
//! check's cells. Bad input must come back as located diagnostics, never a
//! panic or a hang.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A folder that does not exist: `push` and `build_with` paths resolve
    // to nothing, so the target never reads the machine's files.
    let path = Path::new("/nonexistent/klo-spec-fuzz/scenario.yaml");
    let Ok(mut s) = klo_spec::scenario::parse(path, text) else {
        return;
    };
    // Expansion is linear in the cells: keep each input quick.
    s.max_cells = s.max_cells.min(2000);
    let Ok(mut cells) = klo_spec::matrix::expand(&s) else {
        return;
    };
    let ctx = klo_spec::matrix::hash::HashContext::default();
    klo_spec::matrix::hash::assign(&s, &mut cells, &ctx, &[]);
    for check in &s.checks {
        let _ = klo_spec::matrix::groups::check_pairs(check, &cells);
    }
});
