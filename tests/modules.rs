//! The crate's modules point one way: no cycle between top-level modules
//! of `src/`, only the command layer knows the command line, and the
//! modules `run` builds on do not reach back into it.
//!
//! Run it with `cargo test --test modules`. It reads `src/**/*.rs` (line
//! comments left out) for the uses of another top-level module:
//! `crate::NAME` anywhere, the names in `use crate::{...}` groups, and
//! `super::` chains that climb out of a top-level module. The command
//! layer (`main.rs`, `lib.rs`, `cli.rs`, `commands.rs` and `commands/`)
//! may use anything and is left out of the graph. A failure names each
//! use that closes a cycle, with the files it is written in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The command layer: the only modules that know clap and `cli`.
const COMMAND_LAYER: [&str; 4] = ["main", "lib", "cli", "commands"];

/// Modules that `run` builds on: none of them imports from `run`.
const BELOW_RUN: [&str; 5] = ["record", "board", "kstrategy", "results", "show"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A file's module path below the crate root: `src/run/cell.rs` is
/// `[run, cell]`, `src/run/mod.rs` is `[run]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs").to_string();
    if stem != "mod" {
        parts.push(stem);
    }
    parts
}

/// The text without line comments (`//`, `///`, `//!`).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_lowercase() || c == '_'
}

fn ident_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules a file's code names: `crate::x`, each name of a
/// `crate::{x, y::z}` group, and `super::`-chains that reach the crate
/// root from a file at `depth`.
fn used_modules(code: &str, depth: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while let Some(off) = code[i..].find("crate::") {
        let start = i + off;
        i = start + "crate::".len();
        let before = start.checked_sub(1).map(|b| bytes[b] as char);
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &code[i..];
        if let Some(group) = rest.strip_prefix('{') {
            // The names at the group's top level.
            let mut level = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => level += 1,
                    '}' if level == 0 => break,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        out.insert(ident_at(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if level == 0 {
                    item.push(c);
                }
            }
            out.insert(ident_at(item.trim()));
        } else if rest.starts_with(is_ident_start) {
            out.insert(ident_at(rest));
        }
    }
    // `super::super::x` from `src/a/b.rs` (depth 2) is `crate::x`.
    let mut i = 0;
    while let Some(off) = code[i..].find("super::") {
        let start = i + off;
        let mut n = 0;
        let mut j = start;
        while code[j..].starts_with("super::") {
            n += 1;
            j += "super::".len();
        }
        i = j;
        if n >= depth && code[j..].starts_with(is_ident_start) {
            out.insert(ident_at(&code[j..]));
        }
    }
    out.remove("");
    out.remove("self");
    out
}

/// Per top-level module: the top-level modules it uses, and in which files.
fn graph() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let tops: BTreeSet<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    let mut g: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().to_path_buf();
        let path = module_path(&rel);
        let Some(top) = path.first().cloned() else {
            continue;
        };
        let text = std::fs::read_to_string(&f).unwrap();
        let entry = g.entry(top.clone()).or_default();
        for m in used_modules(&code(&text), path.len()) {
            if m != top && tops.contains(&m) {
                entry
                    .entry(m)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    g
}

/// A cycle of the graph (its modules, the first repeated at the end), if
/// there is one.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        m: &str,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for n in g.get(m).into_iter().flatten() {
            match state.get(n.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == n).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(n.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(g, n, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in g.keys() {
        if state.get(m).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(g, m, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_cycle_between_top_level_modules() {
    let full = graph();
    let g: BTreeMap<String, BTreeSet<String>> = full
        .iter()
        .filter(|(m, _)| !COMMAND_LAYER.contains(&m.as_str()))
        .map(|(m, uses)| {
            let to = uses
                .keys()
                .filter(|n| !COMMAND_LAYER.contains(&n.as_str()))
                .cloned()
                .collect();
            (m.clone(), to)
        })
        .collect();
    if let Some(cycle) = find_cycle(&g) {
        let uses: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let files: Vec<&str> = full[&w[0]][&w[1]].iter().map(String::as_str).collect();
                format!("  {} -> {} (in {})", w[0], w[1], files.join(", "))
            })
            .collect();
        panic!(
            "the top-level modules {} form a cycle:\n{}\nmove what they share into a leaf module, or one use the other way",
            cycle.join(" -> "),
            uses.join("\n")
        );
    }
}

#[test]
fn only_the_command_layer_knows_the_command_line() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut wrong = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap();
        let top = module_path(rel).first().cloned().unwrap_or_default();
        if COMMAND_LAYER.contains(&top.as_str()) {
            continue;
        }
        let text = code(&std::fs::read_to_string(&f).unwrap());
        if used_modules(&text, module_path(rel).len()).contains("cli") || text.contains("clap") {
            wrong.push(rel.display().to_string());
        }
    }
    assert!(
        wrong.is_empty(),
        "outside cli.rs, commands.rs and main.rs, these files use `crate::cli` or clap: {}; give the library its own option types and convert in commands.rs",
        wrong.join(", ")
    );
}

#[test]
fn what_run_builds_on_does_not_import_run() {
    let g = graph();
    let wrong: Vec<String> = BELOW_RUN
        .iter()
        .filter_map(|m| {
            let files = g.get(*m)?.get("run")?;
            Some(format!(
                "{m} (in {})",
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "these modules import from run: {}",
        wrong.join("; ")
    );
}

#[test]
fn the_reader_finds_uses_in_groups_paths_and_super_chains() {
    let text = "use crate::{a::{X, Y}, b};\nfn f() { crate::c::g(); super::super::d::h(); }\n// crate::e\n";
    let used = used_modules(&code(text), 2);
    assert_eq!(used.into_iter().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert!(used_modules("super::super::d::h()", 3).is_empty());
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    assert_eq!(find_cycle(&g), None);
    g.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
