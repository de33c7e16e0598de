//! The pre-flight of a run (see `crate::preflight` for the checks): its
//! script run on every board before anything is written, and the run
//! refused when a check fails that nothing accepts.

use std::collections::BTreeMap;

use anyhow::Result;

use super::{Prepared, per_board};
use crate::board::{Cancel, Transport};
use crate::preflight::{Preflight, Settings};
use crate::render::Templates;

/// Runs the pre-flight on every board not lost (one round trip each),
/// prints what failed or was allowed, and refuses the run (exit 2) when a
/// check failed that neither the scenario nor `--allow` accepts. A board
/// that cannot be reached is lost, as for its lock.
pub(super) fn boards(
    p: &Prepared,
    lost: &mut BTreeMap<String, String>,
    cancel: &Cancel,
    progress: bool,
) -> Result<BTreeMap<String, Preflight>> {
    let settings = &p.scenario.preflight;
    let out = per_board(p, lost, cancel, "the pre-flight of board", progress, |b| {
        run_on(b, &p.templates, settings)
    })?;
    let mut failed = Vec::new();
    for (name, pf) in &out {
        let any = pf.checks.iter().any(|c| {
            matches!(
                c.outcome,
                crate::preflight::Outcome::Fail | crate::preflight::Outcome::Allowed
            )
        });
        if progress || any {
            for line in crate::preflight::report_lines(name, pf) {
                eprintln!("{}", crate::text::printable_lines(&line));
            }
        }
        failed.extend(
            pf.failed()
                .map(|c| format!("`{}` on board `{name}`", c.name)),
        );
    }
    if !failed.is_empty() {
        let names: Vec<&str> = out
            .values()
            .flat_map(|pf| pf.failed().map(|c| c.name.as_str()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return Err(crate::error::UsageError::new(
            format!(
                "the pre-flight failed: {} (nothing was run or written)",
                failed.join(", ")
            ),
            Some(format!(
                "fix what the lines above say, or accept it for this run with {} (or in the scenario: `preflight: {{allow: [{}]}}`)",
                names.iter().map(|n| format!("--allow {n}")).collect::<Vec<_>>().join(" "),
                names.join(", ")
            )),
        )
        .into());
    }
    Ok(out)
}

/// Runs the pre-flight script on `board` (one round trip) and evaluates
/// its answer.
fn run_on(board: &dyn Transport, templates: &Templates, settings: &Settings) -> Result<Preflight> {
    let c = board.config();
    let mut daemons: Vec<String> = settings
        .daemons
        .iter()
        .chain(&settings.stopped)
        .map(|d| crate::preflight::comm_name(d))
        .collect();
    daemons.sort();
    daemons.dedup();
    let script = templates.render_named(
        "preflight.sh.j2",
        minijinja::context! {
            sysfs_root => c.sysfs_root.to_string_lossy(),
            workdir => board.workdir(),
            daemons => daemons,
        },
    )?;
    let out = board.run_script(&script, std::time::Duration::from_secs(60))?;
    let Some(kv) = crate::preflight::readings(&out) else {
        let tail: Vec<&str> = out.lines().rev().take(3).collect();
        anyhow::bail!(
            "the pre-flight script did not finish on board `{}` (it printed no `preflight=done`; its last lines: {})",
            c.name,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    };
    Ok(crate::preflight::evaluate(&kv, settings))
}
