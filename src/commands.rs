//! What each subcommand does: glue between the command line and the
//! library. Data goes to stdout, progress and errors to stderr.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use crate::board::Cancel;
use crate::cli::{Cli, Command, Common};
use crate::matrix::coord::strategy_label;
use crate::output::{Table, atomic_write};
use crate::run::{self, Prepared, RunOptions};
use crate::scenario;

/// Runs a parsed command line; returns the exit code for success.
pub fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => {
            let p = prepare(&a.common)?;
            let cancel = Cancel::default();
            install_signal_handler(&cancel);
            let report = run::run(
                &p,
                &RunOptions {
                    output_root: a.output_dir,
                    force: a.force,
                    progress: !a.quiet,
                },
                &cancel,
            )?;
            run::print_tables(&report.analysis);
            println!("\nresults: {}", report.out_dir.display());
            report.outcome(p.cells.len(), &cancel)?;
            Ok(0)
        }
        Command::Plan(a) => {
            let p = prepare(&a.common)?;
            print_plan(&p, a.json)?;
            Ok(0)
        }
        Command::Analyze(a) => {
            let p = prepare(&a.common)?;
            let analysis = run::analyze_only(&p, &a.output_dir)?;
            run::print_tables(&analysis);
            Ok(0)
        }
        Command::Helpers(a) => {
            match a.sources {
                Some(dir) => {
                    for h in crate::board::helpers::ALL {
                        let path = dir.join(format!("{}.c", h.name));
                        atomic_write(&path, h.source.as_bytes())?;
                        println!(
                            "{}  (cc {} -o {} {}.c {})",
                            path.display(),
                            h.cflags.join(" "),
                            h.name,
                            h.name,
                            h.libs.join(" ")
                        );
                    }
                }
                None => {
                    let cc = crate::board::helpers::local_compiler();
                    let (paths, _) = crate::board::helpers::build(
                        &cc,
                        &crate::board::helpers::cache_dir().join("helpers"),
                    )?;
                    println!("{}\n{}", paths.load, paths.probe);
                }
            }
            Ok(0)
        }
        Command::Diff(a) => crate::diff::command(&a),
        Command::Show(a) => crate::show::command(&a),
        Command::Export(a) => crate::export::command(&a),
        Command::Report(a) => crate::report::command(&a),
        Command::Schema(a) => {
            let text = schema_json();
            match a.output {
                Some(path) => atomic_write(&path, text.as_bytes())?,
                None => print!("{text}"),
            }
            Ok(0)
        }
    }
}

fn default_templates(explicit: &Option<PathBuf>) -> Option<PathBuf> {
    explicit.clone().or_else(|| {
        let d = Path::new("templates");
        d.join(crate::render::CELL_TEMPLATE_NAME)
            .is_file()
            .then(|| d.to_path_buf())
    })
}

fn prepare(c: &Common) -> Result<Prepared> {
    let mut s = scenario::load(&c.file)?;
    if let Some(m) = c.max_cells {
        s.max_cells = m;
    }
    run::prepare(s, default_templates(&c.templates).as_deref())
}

fn install_signal_handler(cancel: &Cancel) {
    let c = cancel.clone();
    // SIGINT, SIGTERM and SIGHUP: the first asks the running cell to clean
    // up and stops scheduling; the second stops without waiting.
    let _ = ctrlc::set_handler(move || {
        let level = c.escalate();
        if level == 1 {
            eprintln!("\nklo-spec: stopping: cleaning up the running cell (again to force)");
        } else {
            eprintln!("\nklo-spec: forcing the stop");
        }
    });
}

fn print_plan(p: &Prepared, as_json: bool) -> Result<()> {
    let s = &p.scenario;
    if as_json {
        let cells: Vec<_> = p
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
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
                })
            })
            .collect();
        let doc = json!({"scenario": s.name, "count": p.cells.len(), "cells": cells});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let mut t = Table::new(&["#", "id", "k", "iterations", "timeout_s", "hash"]);
    for (i, c) in p.cells.iter().enumerate() {
        t.rows.push(vec![
            i.to_string(),
            c.id.clone(),
            c.k.to_string(),
            c.iterations.to_string(),
            c.timeout_s.to_string(),
            c.hash.clone(),
        ]);
    }
    println!("{}", t.to_terminal(&[]));
    let mut boards: Vec<_> = run::cells_per_board(&p.cells).into_iter().collect();
    boards.sort();
    let per: Vec<String> = boards.iter().map(|(b, n)| format!("{b}: {n}")).collect();
    println!("{} cells ({})", p.cells.len(), per.join(", "));
    Ok(())
}

/// The scenario JSON Schema, as committed in schema.json.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(scenario::raw::RawScenario);
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}
