//! Which cells a run runs: `--only` patterns on cell ids, `--rerun-failed`,
//! `--force`, and resume (a cell whose `cell.json` says `ok` with the same
//! hash is done). Also what the run says about it before it starts.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{UsageError, suggest};
use crate::matrix::Cell;
use crate::record::Status;
use crate::scenario::Strategy;

use super::rounds::Unit;
use crate::layout::{self, ResultDir};

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

/// What the results on disk say about each planned run of a cell (a cell
/// in one round), and which of them this run runs. Counts are of runs.
#[derive(Debug, Default)]
pub struct Resume {
    /// Rounds of the scenario (every cell runs once per round).
    pub rounds: u32,
    /// Selected runs with an `ok` result of the same hash (skipped unless
    /// `--force`).
    pub done: usize,
    /// Selected runs with no result.
    pub missing: usize,
    /// Selected runs whose result has another hash (their cell's
    /// definition changed).
    pub changed: usize,
    /// Selected runs whose result (same hash) is not `ok`, by status.
    pub failed: BTreeMap<String, usize>,
    /// Runs `--only` or `--rerun-failed` picks.
    pub selected: usize,
    /// Profile runs (`default` cells) added because a selected LUT cell of
    /// the same round needs them.
    pub profiles_added: usize,
    /// Runs to do, in plan order then round order.
    pub to_run: Vec<Unit>,
    /// Per planned cell and round (index `cell * rounds + round - 1`):
    /// whether the run's outcome counts it.
    pub counted: Vec<bool>,
}

impl Resume {
    /// Classifies the planned runs (every cell in rounds 1..=`rounds`)
    /// against the results in `out_dir`.
    pub fn plan(
        cells: &[Cell],
        rounds: u32,
        out_dir: &Path,
        only: &[bool],
        force: bool,
        rerun_failed: bool,
    ) -> Resume {
        let per = rounds as usize;
        let mut r = Resume {
            rounds,
            counted: vec![false; cells.len() * per],
            ..Resume::default()
        };
        let record = |i: usize, round: u32| {
            let dir = ResultDir::new(out_dir).run(&cells[i].id, round);
            crate::record::CellRecord::read(&layout::cell_json(&dir))
        };
        let mut state: Vec<Option<(bool, Status)>> = vec![None; cells.len() * per];
        let mut run = vec![false; cells.len() * per];
        for (i, c) in cells.iter().enumerate() {
            if !only[i] {
                continue;
            }
            for round in 1..=rounds {
                let u = i * per + round as usize - 1;
                let rec = record(i, round);
                let same = rec.as_ref().filter(|rec| rec.hash == c.hash);
                state[u] = rec.as_ref().map(|rec| (rec.hash == c.hash, rec.status));
                let failed = same.is_some_and(|rec| rec.status != Status::Ok);
                match (&rec, same) {
                    (None, _) => r.missing += 1,
                    (Some(_), None) => r.changed += 1,
                    (Some(_), Some(rec)) if rec.status == Status::Ok => r.done += 1,
                    (Some(_), Some(rec)) => {
                        *r.failed.entry(rec.status.to_string()).or_insert(0) += 1
                    }
                }
                if rerun_failed && !failed {
                    continue;
                }
                r.selected += 1;
                r.counted[u] = true;
                let done = same.is_some_and(|rec| rec.status == Status::Ok);
                run[u] = force || !done;
            }
        }
        // A LUT cell takes K from its profile's run of the same round: run
        // that too when it is not done (it is not counted in the outcome).
        let profiles = super::kchoice::Profiles::new(cells);
        for (i, c) in cells.iter().enumerate() {
            if !matches!(
                c.coord.strategy,
                Strategy::Constant(_) | Strategy::Static(_)
            ) {
                continue;
            }
            let Some(j) = profiles.index_of(c) else {
                continue;
            };
            for round in 1..=rounds {
                let (u, v) = (i * per + round as usize - 1, j * per + round as usize - 1);
                if !run[u] || run[v] {
                    continue;
                }
                let ok = match state[v] {
                    Some(st) => st == (true, Status::Ok),
                    // Not classified (outside --only): look on disk.
                    None => record(j, round)
                        .is_some_and(|rec| rec.hash == cells[j].hash && rec.status == Status::Ok),
                };
                if !ok {
                    run[v] = true;
                    r.profiles_added += 1;
                }
            }
        }
        r.to_run = (0..cells.len())
            .flat_map(|i| (1..=rounds).map(move |round| Unit { cell: i, round }))
            .filter(|u| run[u.cell * per + u.round as usize - 1])
            .collect();
        r
    }

    /// Whether the outcome counts the run of `u`.
    pub fn counts(&self, u: Unit) -> bool {
        self.counted[u.cell * self.rounds as usize + u.round as usize - 1]
    }

    /// The line the run prints before it starts.
    pub fn summary(&self, name: &str, total: usize, opts: &super::RunOptions) -> String {
        let mut head = if self.rounds > 1 {
            format!(
                "{name}: {total} cells x {} rounds = {} runs",
                self.rounds,
                total * self.rounds as usize
            )
        } else {
            format!("{name}: {total} cells")
        };
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
                "; {} profile run(s) the selected cells take K from in the same round run too",
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
