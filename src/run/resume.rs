//! Resume: which cells of a plan still have to run. A cell is done when its
//! `cell.json` in the result set says `ok` with the cell's current hash;
//! `--force` reruns every cell.

use std::path::Path;

use super::{Prepared, current_record};
use crate::record::Status;

/// The cells to run (indexes into the plan, in plan order) and how many
/// were skipped as done.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pending {
    pub to_run: Vec<usize>,
    pub skipped: usize,
}

/// Decides which cells of `p` to run against the result set in `out_dir`.
pub fn pending(p: &Prepared, out_dir: &Path, force: bool) -> Pending {
    let mut out = Pending::default();
    for (i, cell) in p.cells.iter().enumerate() {
        let done =
            !force && current_record(out_dir, cell).is_some_and(|r| r.status == Status::Ok);
        if done {
            out.skipped += 1;
        } else {
            out.to_run.push(i);
        }
    }
    out
}
