//! The three faces of a diff: an aligned table for the terminal (marks
//! coloured on a tty), Markdown for a pull request, JSON for scripts.

use anyhow::Result;
use serde_json::{Value, json};

use super::{Diff, verdict_text};
use crate::output::terminal;
use crate::output::{Table, fmt_f, fmt_p};

const FLIP_COLUMNS: [&str; 6] = ["check", "group", "old", "new", "p_old", "p_new"];
const ROW_COLUMNS: [&str; 9] = [
    "id", "metric", "old", "new", "ratio", "mark", "p", "basis", "note",
];

fn flip_table(d: &Diff) -> Table {
    let mut t = Table::new(&FLIP_COLUMNS);
    for f in &d.flips {
        t.rows.push(vec![
            f.check.clone(),
            f.group.clone(),
            verdict_text(f.old).to_string(),
            verdict_text(f.new).to_string(),
            f.old_p.clone(),
            f.new_p.clone(),
        ]);
    }
    t
}

fn row_table(d: &Diff) -> Table {
    let mut t = Table::new(&ROW_COLUMNS);
    for r in &d.rows {
        t.rows.push(vec![
            r.id.clone(),
            r.metric.to_string(),
            r.old.clone(),
            r.new.clone(),
            fmt_f(r.ratio, 3),
            r.mark.as_str().to_string(),
            fmt_p(r.p),
            r.basis.map(|b| b.as_str().to_string()).unwrap_or_default(),
            r.note.clone(),
        ]);
    }
    t
}

/// One line: cells per mark, flips, and the settings that decided.
pub fn summary_line(d: &Diff) -> String {
    let counts: Vec<String> = d
        .counts()
        .iter()
        .map(|(m, n)| format!("{n} {}", m.as_str()))
        .collect();
    format!(
        "{} cells: {}; {} checklist verdict{} flipped (threshold {}%, alpha {}, Holm-adjusted)",
        d.cells.len(),
        counts.join(", "),
        d.flips.len(),
        if d.flips.len() == 1 { "" } else { "s" },
        d.threshold * 100.0,
        d.alpha
    )
}

/// Aligned text; `colour` paints verdicts and marks.
pub fn render_table(d: &Diff, colour: bool) -> String {
    let mut out = format!("old: {}\nnew: {}\n\n", d.old, d.new);
    if !d.environment.is_empty() {
        out.push_str(&format!(
            "warning: measured in different environments ({}): differences may come from them, not from the change\n",
            d.environment.len()
        ));
        for line in crate::preflight::describe_changes(&d.environment) {
            out.push_str(&format!("  {line}\n"));
        }
        out.push('\n');
    }
    if d.flips.is_empty() {
        out.push_str("checklist verdicts: none flipped\n\n");
    } else {
        out.push_str(&format!(
            "checklist verdicts that flipped ({}):\n",
            d.flips.len()
        ));
        out.push_str(&terminal::render(
            &flip_table(d),
            &[],
            &["old", "new"],
            colour,
        ));
        out.push_str("\n\n");
    }
    if d.rows.is_empty() {
        out.push_str("no rows to show\n");
    } else {
        out.push_str(&terminal::render(&row_table(d), &[], &["mark"], colour));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&summary_line(d));
    out.push('\n');
    out
}

/// Markdown, for a pull request or an issue.
pub fn render_markdown(d: &Diff) -> String {
    let mut out = format!(
        "# klo-spec diff\n\n- old: `{}`\n- new: `{}`\n\n{}\n\n## Checklist verdicts that flipped\n\n",
        d.old,
        d.new,
        summary_line(d)
    );
    if d.flips.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str(&flip_table(d).to_markdown());
    }
    if !d.environment.is_empty() {
        out.push_str("\n## Environment\n\nThe two result sets were measured in different environments: differences may come from them, not from the change.\n\n");
        for line in crate::preflight::describe_changes(&d.environment) {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out.push_str("\n## Cells\n\n");
    if d.rows.is_empty() {
        out.push_str("No rows to show.\n");
    } else {
        out.push_str(&row_table(d).to_markdown());
    }
    out
}

fn number_or_text(s: &str) -> Value {
    match s.parse::<f64>().ok().filter(|v| v.is_finite()) {
        Some(v) => json!(v),
        None if s.is_empty() => Value::Null,
        None => json!(s),
    }
}

/// JSON, for scripts: `worse` says what the exit code says.
pub fn render_json(d: &Diff) -> Result<String> {
    let counts: serde_json::Map<String, Value> = d
        .counts()
        .iter()
        .map(|(m, n)| (m.as_str().to_string(), json!(n)))
        .collect();
    let doc = json!({
        "old": d.old,
        "new": d.new,
        "threshold_pct": d.threshold * 100.0,
        "alpha": d.alpha,
        "worse": d.any_worse(),
        "cells": counts,
        "environment_changed": d.environment,
        "checks_flipped": d.flips.iter().map(|f| json!({
            "check": f.check,
            "group": f.group,
            "old": verdict_text(f.old),
            "new": verdict_text(f.new),
            "p_old": number_or_text(&f.old_p),
            "p_new": number_or_text(&f.new_p),
        })).collect::<Vec<_>>(),
        "rows": d.rows.iter().map(|r| json!({
            "id": r.id,
            "metric": r.metric,
            "old": number_or_text(&r.old),
            "new": number_or_text(&r.new),
            "ratio": r.ratio,
            "mark": r.mark.as_str(),
            "p": r.p,
            "basis": r.basis.map(|b| b.as_str()),
            "note": r.note,
        })).collect::<Vec<_>>(),
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
