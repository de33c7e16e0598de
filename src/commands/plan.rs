//! `klo-spec plan`: the cells a scenario expands to, as a table or JSON,
//! written a row at a time, and what the run would cost.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::axes::strategy_label;
use crate::run::{self, Prepared};
use crate::scenario;

pub(super) fn print_plan(p: &Prepared, as_json: bool, output_root: &Path) -> Result<()> {
    let s = &p.scenario;
    let cost = run::plan_cost::estimate(p, &run::output_dir(output_root, s));
    // Written row by row: a plan of a million cells is printed without a
    // second copy of it in memory.
    use std::io::Write as _;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if as_json {
        write_plan_json(&mut out, p, &cost)?;
        out.flush()?;
        return Ok(());
    }
    write_plan_table(&mut out, &p.cells)?;
    out.flush()?;
    drop(out);
    let mut boards: Vec<_> = run::cells_per_board(&p.cells).into_iter().collect();
    boards.sort();
    let per: Vec<String> = boards.iter().map(|(b, n)| format!("{b}: {n}")).collect();
    println!(
        "{} cells ({}) x {} round(s) = {} runs, {}",
        p.cells.len(),
        per.join(", "),
        s.rounds,
        p.cells.len() * s.rounds as usize,
        match s.order {
            scenario::raw::RunOrder::Random => "each round in a random order",
            scenario::raw::RunOrder::Plan => "each round in plan order (`order: plan`)",
        }
    );
    for line in &cost.lines {
        println!("{line}");
    }
    for w in &cost.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

/// The plan as one JSON document, its cells streamed one after another.
fn write_plan_json(
    out: &mut impl std::io::Write,
    p: &Prepared,
    cost: &run::plan_cost::PlanCost,
) -> Result<()> {
    let s = &p.scenario;
    let head = json!({
        "scenario": s.name,
        "count": p.cells.len(),
        "rounds": s.rounds,
        "runs": p.cells.len() * s.rounds as usize,
        "estimated_s": cost.estimated_s,
        "warnings": cost.warnings,
    });
    // The head's text without its closing brace, then `"cells": [...]}`:
    // the same document as a whole `to_string_pretty`.
    let head = serde_json::to_string_pretty(&head)?;
    let head = head.strip_suffix("\n}").unwrap_or(&head);
    write!(out, "{head},\n  \"cells\": [")?;
    for (i, c) in p.cells.iter().enumerate() {
        let mut cell = json!({
            "index": i,
            "id": c.id,
            "board": c.coord.board,
            "load": c.coord.load,
            "cpu_freq": c.coord.cpu_freq,
            "gpu_freq": c.coord.gpu_freq,
            "network": c.coord.network,
            "strategy": strategy_label(&c.coord.strategy),
            "k": c.k,
            "iterations": c.iterations,
            "timeout_s": c.timeout_s,
            "hash": c.hash,
        });
        // The knob set only where the `knobs` axis gives one (as in the id).
        if c.coord.knobs_segment().is_some() {
            cell["knobs"] = json!(c.coord.knobs);
        }
        let text = serde_json::to_string_pretty(&cell)?;
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        for (n, line) in text.lines().enumerate() {
            if n > 0 {
                out.write_all(b"\n")?;
            }
            write!(out, "    {line}")?;
        }
    }
    if p.cells.is_empty() {
        out.write_all(b"]\n}\n")?;
    } else {
        out.write_all(b"\n  ]\n}\n")?;
    }
    Ok(())
}

/// The plan's table, aligned as [`Table::to_terminal`] aligns it (a space
/// each side of a value, numbers right, text left), written a row at a
/// time.
fn write_plan_table(out: &mut impl std::io::Write, cells: &[crate::matrix::Cell]) -> Result<()> {
    use unicode_width::UnicodeWidthStr as _;
    let header = ["#", "id", "k", "iterations", "timeout_s", "hash"];
    let row = |i: usize, c: &crate::matrix::Cell| -> [String; 6] {
        [
            i.to_string(),
            crate::text::printable(&c.id).into_owned(),
            c.k.to_string(),
            c.iterations.to_string(),
            c.timeout_s.to_string(),
            c.hash.clone(),
        ]
    };
    let mut width: [usize; 6] = header.map(|h| h.width());
    // Right-aligned: columns whose every value is a number.
    let mut right = [true, true, true, true, true, true];
    for (i, c) in cells.iter().enumerate() {
        for (n, v) in row(i, c).iter().enumerate() {
            width[n] = width[n].max(v.width());
            right[n] &= v.is_empty() || v.parse::<f64>().is_ok();
        }
    }
    let line = |out: &mut dyn std::io::Write, values: &[&str]| -> std::io::Result<()> {
        let mut text = String::new();
        for (n, v) in values.iter().enumerate() {
            let pad = " ".repeat(width[n] - v.width());
            if right[n] {
                text.push_str(&format!(" {pad}{v} "));
            } else {
                text.push_str(&format!(" {v}{pad} "));
            }
        }
        writeln!(out, "{}", text.trim_end_matches('\n'))
    };
    line(out, &header)?;
    for (i, c) in cells.iter().enumerate() {
        let r = row(i, c);
        line(out, &r.each_ref().map(String::as_str))?;
    }
    Ok(())
}
