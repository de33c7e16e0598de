//! What klo-spec checks on a board before using it, and what `klo-spec
//! boards` shows: can it be reached (and how long a round trip takes),
//! its CPU, whether the scripts run as root, the tools the board-side
//! scripts need that it lacks, and which helper builds it already has
//! (`templates/check.sh.j2`, one round trip).

use std::time::{Duration, Instant};

use anyhow::Result;
use minijinja::context;
use serde::Serialize;

use super::Transport;
use super::inventory::TransportKind;
use crate::render::Templates;

/// Tools without which no cell can run on a remote board.
pub const ESSENTIAL: [&str; 6] = ["tar", "head", "dd", "wc", "sed", "kill"];

/// A board's answer to the check script.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BoardCheck {
    /// `uname -m`.
    pub machine: String,
    pub uid: Option<u32>,
    /// Tools the board-side scripts use that the board lacks.
    pub missing: Vec<String>,
    /// Helper folders (among those asked about) that hold both helpers.
    pub present: Vec<String>,
    /// How long the check's round trip took.
    pub round_trip_ms: u64,
}

/// Parses the check script's output.
pub fn parse(text: &str) -> Option<BoardCheck> {
    let mut c = BoardCheck::default();
    let mut done = false;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "machine" => c.machine = v.trim().to_string(),
            "uid" => c.uid = v.trim().parse().ok(),
            "missing" => c.missing = v.split_whitespace().map(String::from).collect(),
            "present" => c.present.push(v.trim().to_string()),
            "check" => done = v == "done",
            _ => {}
        }
    }
    done.then_some(c)
}

fn render(templates: &Templates, helper_dirs: &[String]) -> Result<String> {
    templates.render_named(
        "check.sh.j2",
        context! { helper_dirs => helper_dirs.to_vec() },
    )
}

/// Checks a board (any transport) with a round trip.
pub fn check(
    board: &dyn Transport,
    templates: &Templates,
    timeout: Duration,
) -> Result<BoardCheck> {
    let script = render(templates, &[])?;
    let t = Instant::now();
    let out = board.run_script(&script, timeout)?;
    let mut c = parse(&out)
        .ok_or_else(|| anyhow::anyhow!("the check script did not finish: {}", out.trim()))?;
    c.round_trip_ms = t.elapsed().as_millis() as u64;
    Ok(c)
}

/// Checks a remote board before its helpers are used: refuses a board
/// that lacks a tool every round trip needs.
pub fn run(
    board: &dyn Transport,
    templates: &Templates,
    helper_dirs: &[String],
) -> Result<BoardCheck> {
    let script = render(templates, helper_dirs)?;
    let t = Instant::now();
    let out = board.run_script(&script, Duration::from_secs(120))?;
    let mut c = parse(&out)
        .ok_or_else(|| anyhow::anyhow!("the check script did not finish: {}", out.trim()))?;
    c.round_trip_ms = t.elapsed().as_millis() as u64;
    let lacking: Vec<&str> = ESSENTIAL
        .iter()
        .copied()
        .filter(|t| c.missing.iter().any(|m| m == t))
        .collect();
    if !lacking.is_empty() && board.config().transport != TransportKind::Local {
        return Err(crate::error::UsageError::new(
            format!("board `{}` lacks {}", board.config().name, lacking.join(", ")),
            Some("klo-spec's board-side scripts need them (toybox on Android 9+, busybox or coreutils on Linux boards provide them)".into()),
        )
        .into());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_output_parses() {
        let c = parse(
            "machine=aarch64\nuid=2000\nmissing=taskset nohup\npresent=/w/bin/x\ncheck=done\n",
        )
        .unwrap();
        assert_eq!(c.machine, "aarch64");
        assert_eq!(c.uid, Some(2000));
        assert_eq!(c.missing, ["taskset", "nohup"]);
        assert_eq!(c.present, ["/w/bin/x"]);
        assert!(parse("machine=x86_64\n").is_none(), "cut off");
    }
}
