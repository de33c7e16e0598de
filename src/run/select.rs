//! Which cells a run runs: `--only` patterns on cell ids, `--rerun-failed`,
//! `--force`, and resume (a cell whose `cell.json` says `ok` with the same
//! hash is done). Also what the run says about it before it starts.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{UsageError, suggest};
use crate::matrix::Cell;
use crate::record::Status;
use crate::scenario::Strategy;

/// A glob on cell ids (globset's syntax): `*` any text, `/` included, `?`
/// one character, `[abc]`, `[a-z]`, `[!a]` one of a set or not (commas
/// separate patterns on the command line). A pattern globset cannot read is
/// bad input.
fn compile(pattern: &str) -> Result<globset::GlobMatcher, UsageError> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| {
            UsageError::new(
                format!("--only `{pattern}` is not a glob: {}", e.kind()),
                Some("`*` matches any text, `?` one character, `[ab]` one of a set; quote the pattern for your shell".into()),
            )
        })
}

/// Per planned cell, whether `--only` selects it (all when no pattern is
/// given). A pattern that matches no cell is bad input.
pub fn matching(cells: &[Cell], only: &[String]) -> Result<Vec<bool>, UsageError> {
    if only.is_empty() {
        return Ok(vec![true; cells.len()]);
    }
    let mut selected = vec![false; cells.len()];
    for pattern in only {
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err(UsageError::new(
                "--only got an empty pattern",
                Some("give a glob on cell ids, e.g. --only '*/heavy/*' (several: repeat --only or separate them with commas)".into()),
            ));
        }
        let glob = compile(pattern)?;
        let mut any = false;
        for (i, c) in cells.iter().enumerate() {
            if glob.is_match(&c.id) {
                selected[i] = true;
                any = true;
            }
        }
        if !any {
            let example = cells.first().map(|c| c.id.as_str()).unwrap_or("");
            let close = suggest(pattern, cells.iter().map(|c| c.id.as_str()))
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            return Err(UsageError::new(
                format!("--only `{pattern}` matches no cell of the scenario"),
                Some(format!(
                    "{close}cell ids look like `{example}`; `*` matches any text, `?` one character, `[ab]` one of a set; `klo-spec plan FILE` lists the ids"
                )),
            ));
        }
    }
    Ok(selected)
}

/// What the results on disk say about each planned cell, and which cells
/// this run runs.
#[derive(Debug, Default)]
pub struct Resume {
    /// Selected cells with an `ok` result of the same hash (skipped unless
    /// `--force`).
    pub done: usize,
    /// Selected cells with no result.
    pub missing: usize,
    /// Selected cells whose result has another hash (their definition
    /// changed).
    pub changed: usize,
    /// Selected cells whose result (same hash) is not `ok`, by status.
    pub failed: BTreeMap<String, usize>,
    /// Cells `--only` or `--rerun-failed` picks.
    pub selected: usize,
    /// Profiles (`default` cells) run because a selected LUT cell needs them.
    pub profiles_added: usize,
    /// Plan indexes to run, in plan order.
    pub to_run: Vec<usize>,
    /// Per planned cell: whether the run's outcome counts it.
    pub counted: Vec<bool>,
}

impl Resume {
    /// Classifies the planned cells against the results in `out_dir`.
    pub fn plan(
        cells: &[Cell],
        out_dir: &Path,
        only: &[bool],
        force: bool,
        rerun_failed: bool,
    ) -> Resume {
        let mut r = Resume {
            counted: vec![false; cells.len()],
            ..Resume::default()
        };
        let path = |c: &Cell| super::cell::cell_path(out_dir, &c.id).join("cell.json");
        let records: Vec<_> = cells
            .iter()
            .map(|c| crate::record::CellRecord::read(&path(c)))
            .collect();
        let mut run = vec![false; cells.len()];
        for (i, c) in cells.iter().enumerate() {
            if !only[i] {
                continue;
            }
            let same = records[i].as_ref().filter(|rec| rec.hash == c.hash);
            let failed = same.is_some_and(|rec| rec.status != Status::Ok);
            match (&records[i], same) {
                (None, _) => r.missing += 1,
                (Some(_), None) => r.changed += 1,
                (Some(_), Some(rec)) if rec.status == Status::Ok => r.done += 1,
                (Some(_), Some(rec)) => *r.failed.entry(rec.status.to_string()).or_insert(0) += 1,
            }
            if rerun_failed && !failed {
                continue;
            }
            r.selected += 1;
            r.counted[i] = true;
            let done = same.is_some_and(|rec| rec.status == Status::Ok);
            run[i] = force || !done;
        }
        // A LUT cell takes K from its profile: run the profile too when it
        // is not done (it is not counted in the outcome).
        let profiles = super::kchoice::Profiles::new(cells);
        for (i, c) in cells.iter().enumerate() {
            if !run[i]
                || !matches!(
                    c.coord.strategy,
                    Strategy::Constant(_) | Strategy::Static(_)
                )
            {
                continue;
            }
            if let Some(j) = profiles.index_of(c)
                && let p = &cells[j]
                && !run[j]
                && !records[j]
                    .as_ref()
                    .is_some_and(|rec| rec.hash == p.hash && rec.status == Status::Ok)
            {
                run[j] = true;
                r.profiles_added += 1;
            }
        }
        r.to_run = (0..cells.len()).filter(|i| run[*i]).collect();
        r
    }

    /// The line the run prints before it starts.
    pub fn summary(&self, name: &str, total: usize, opts: &super::RunOptions) -> String {
        let mut head = format!("{name}: {total} cells");
        if !opts.only.is_empty() || opts.rerun_failed {
            let how: Vec<&str> = [
                (!opts.only.is_empty()).then_some("--only"),
                opts.rerun_failed.then_some("--rerun-failed"),
            ]
            .into_iter()
            .flatten()
            .collect();
            head.push_str(&format!(
                ", {} selected ({})",
                self.selected,
                how.join(" and ")
            ));
        }
        head.push_str(&format!(", {} to run", self.to_run.len()));
        if opts.force {
            head.push_str(" (--force reruns done cells)");
        }
        let failed: usize = self.failed.values().sum();
        let mut parts = vec![
            format!(
                "{} done{}",
                self.done,
                if opts.force {
                    ""
                } else {
                    " (same hash, skipped)"
                }
            ),
            format!(
                "{} missing{}",
                self.missing,
                if opts.rerun_failed && self.missing > 0 {
                    " (not run: --rerun-failed)"
                } else {
                    ""
                }
            ),
            format!(
                "{} changed{}",
                self.changed,
                if opts.rerun_failed && self.changed > 0 {
                    " (not run: --rerun-failed)"
                } else {
                    ""
                }
            ),
        ];
        let by: Vec<String> = self
            .failed
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        parts.push(if by.is_empty() {
            "0 failed before".to_string()
        } else {
            format!("{failed} failed before ({})", by.join(", "))
        });
        let mut line = format!("{head}: {}", parts.join(", "));
        if self.profiles_added > 0 {
            line.push_str(&format!(
                "; {} profile cell(s) the selected cells take K from run too",
                self.profiles_added
            ));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob_match(pattern: &str, text: &str) -> bool {
        compile(pattern).unwrap().is_match(text)
    }

    #[test]
    fn globs() {
        let id = "local/heavy/cpu-current/gpu-current/mobilenet_v1/sweep-k8";
        for yes in [
            "*",
            "*heavy*",
            "local/heavy/*",
            "*/sweep-k?",
            "*/sweep-k[0-9]",
            "*/sweep-k[!1]",
            "*mobilenet_v1*k8",
            id,
            "**",
        ] {
            assert!(glob_match(yes, id), "{yes}");
        }
        for no in [
            "heavy",
            "*/sweep-k1",
            "*/sweep-k[!8]",
            "local/none/*",
            "*k8?",
            "",
        ] {
            assert!(!glob_match(no, id), "{no}");
        }
        assert!(compile("a[").is_err(), "an unclosed bracket is bad input");
        assert!(glob_match("a[]]b", "a]b"));
    }
}
