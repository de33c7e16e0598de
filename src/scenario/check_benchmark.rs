//! Validation of the `benchmark` section: the probe's settings, a command
//! template's syntax and variables, pushed files, and regex parsers.

use std::collections::HashSet;
use std::path::Path;

use regex::Regex;

use super::check::{Checker, is_slug};
use super::raw;
use super::{LogRegexes, PushFile};
use crate::digest::hex_sha256;
use crate::scenario::Benchmark;

pub(super) fn check_benchmark(
    c: &mut Checker,
    file: &Path,
    benchmark: &Benchmark,
) -> (Vec<PushFile>, Option<LogRegexes>) {
    match benchmark {
        Benchmark::Probe(p) => {
            check_probe(c, p);
            (Vec::new(), None)
        }
        Benchmark::Command(cmd) => check_command(c, file, cmd),
    }
}

/// `benchmark.probe`: each setting in its range.
fn check_probe(c: &mut Checker, p: &raw::ProbeSpec) {
    let base = "benchmark.probe";
    c.range(
        &format!("{base}.ker_scale"),
        "`ker_scale`",
        p.ker_scale,
        0.0001,
        10_000.0,
    );
    c.range(
        &format!("{base}.prod_scale"),
        "`prod_scale`",
        p.prod_scale,
        0.0,
        10_000.0,
    );
    c.range(
        &format!("{base}.flush_units"),
        "`flush_units`",
        p.flush_units,
        0,
        1 << 30,
    );
    c.range(
        &format!("{base}.submit_us"),
        "`submit_us`",
        p.submit_us,
        0,
        1_000_000,
    );
    c.range(
        &format!("{base}.global_size"),
        "`global_size`",
        p.global_size,
        1,
        1 << 24,
    );
    if let Some(pl) = p.platform {
        c.range(&format!("{base}.platform"), "`platform`", pl, 0, 63);
    }
    if let Some(raw::Regime::Ratio(r)) = p.regime {
        c.range(
            &format!("{base}.regime"),
            "`regime`",
            r,
            raw::MIN_RATIO,
            raw::MAX_RATIO,
        );
    }
}

/// `benchmark.command`: a valid template, the pushed files read and hashed,
/// the parser's expressions compiled.
fn check_command(
    c: &mut Checker,
    file: &Path,
    cmd: &raw::CommandSpec,
) -> (Vec<PushFile>, Option<LogRegexes>) {
    let base = "benchmark.command";
    if cmd.run.trim().is_empty() {
        c.err(
            &format!("{base}.run"),
            "`run` is empty",
            Some("give the command line, e.g. `./bench --net {{ network }} --k {{ k }}`".into()),
        );
    } else if let Err(e) = crate::render::check_template(&cmd.run) {
        c.err(
            &format!("{base}.run"),
            format!("`run` is not a valid template: {e}"),
            Some("see minijinja's syntax; values are written `{{ name }}`".into()),
        );
    }
    let push = check_push(c, base, file, &cmd.push);
    let parser = match &cmd.parser {
        raw::Parser::Klo => None,
        raw::Parser::Regex(r) => check_regexes(c, &format!("{base}.parser.regex"), r),
    };
    (push, parser)
}

/// `push`: files inside the scenario's folder, readable, with plain and
/// distinct names.
fn check_push(c: &mut Checker, base: &str, file: &Path, paths: &[String]) -> Vec<PushFile> {
    let dir = file.parent().unwrap_or(Path::new("."));
    // Pushed files come from the scenario's own folder: a path
    // leading elsewhere (`..`, an absolute path, a link out of it)
    // would send whatever it names to every board.
    let home = std::fs::canonicalize(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
    .ok();
    let mut push = Vec::new();
    let mut names = HashSet::new();
    for (i, p) in paths.iter().enumerate() {
        let path = format!("{base}.push[{i}]");
        let src = dir.join(p);
        let name = Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !push_inside(home.as_deref(), p, &src) {
            c.err(
                &path,
                format!(
                    "`{}` is outside the scenario's folder",
                    crate::text::quote(p)
                ),
                Some("pushed files are copied to every board: put them next to the scenario (or below it) and name them relative to it".into()),
            );
            continue;
        }
        match crate::untrusted::read_input(&src, crate::untrusted::PUSH_MAX) {
            Ok((bytes, mode)) if is_slug(&name) => {
                if !names.insert(name.clone()) {
                    c.err(
                        &path,
                        format!("two pushed files are named `{name}`"),
                        Some("pushed files land in one folder: rename one".into()),
                    );
                }
                push.push(PushFile {
                    source: src,
                    name,
                    sha256: hex_sha256(&bytes),
                    // The source's mode, never wider: no set-id
                    // or sticky bit, no write for group or others.
                    mode: mode & 0o755,
                });
            }
            Ok(_) => c.err(
                &path,
                format!(
                    "pushed file name `{}` is not a plain file name",
                    crate::text::quote(&name)
                ),
                Some("use letters, digits, `_`, `.`, `-`".into()),
            ),
            Err(e) => c.err(
                &path,
                format!(
                    "cannot read `{}`: {e}",
                    crate::text::quote(&src.display().to_string())
                ),
                Some(crate::untrusted::input_hint(
                    &e,
                    "a pushed file",
                    "push paths are relative to the scenario file and name files, not folders",
                )),
            ),
        }
    }
    push
}

/// Whether the pushed path `p` (found at `src`) stays inside the folder
/// `home`: as written (no absolute path, no `..` above the folder), and
/// where its links lead.
fn push_inside(home: Option<&Path>, p: &str, src: &Path) -> bool {
    let mut depth = 0i32;
    let written_inside = Path::new(p).components().all(|c| {
        match c {
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::CurDir => {}
            _ => depth = -1,
        }
        depth >= 0
    });
    written_inside
        && match (home, std::fs::canonicalize(src)) {
            (Some(h), Ok(real)) => real.starts_with(h),
            // Not there: reading it (in `check_push`) says so.
            _ => true,
        }
}

pub(super) fn check_regexes(
    c: &mut Checker,
    base: &str,
    r: &raw::RegexParser,
) -> Option<LogRegexes> {
    let mut compile = |field: &str, src: &str, required: &[&str]| -> Option<Regex> {
        let path = format!("{base}.{field}");
        match Regex::new(src) {
            Ok(re) => {
                let names: HashSet<&str> = re.capture_names().flatten().collect();
                let missing: Vec<&str> = required
                    .iter()
                    .copied()
                    .filter(|n| !names.contains(n))
                    .collect();
                if missing.is_empty() {
                    Some(re)
                } else {
                    c.err(
                        &path,
                        format!(
                            "the `{field}` expression lacks the named group(s) {}",
                            missing
                                .iter()
                                .map(|m| format!("`{m}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        Some(
                            "write groups as (?P<name>...), e.g. latency=(?P<latency_us>[0-9.]+)"
                                .into(),
                        ),
                    );
                    None
                }
            }
            Err(e) => {
                // The regex crate's message is several lines with a caret;
                // its last line says what is wrong.
                let text = e.to_string();
                let why = text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim_start_matches("error: ")
                    .to_string();
                c.err(
                    &path,
                    format!("invalid regular expression `{src}`: {why}"),
                    Some("Rust regex syntax (docs.rs/regex); in YAML, single-quote the expression so backslashes stay".into()),
                );
                None
            }
        }
    };
    // Compile all three before giving up, so that every error is reported.
    let kernel = r
        .kernel
        .as_ref()
        .map(|k| compile("kernel", k, &["iter", "kernel", "t_prod_us", "t_ker_us"]));
    let inference = compile("inference", &r.inference, &["iter", "latency_us"]);
    let end = compile("end", &r.end, &[]);
    Some(LogRegexes {
        kernel: match kernel {
            Some(k) => Some(k?),
            None => None,
        },
        inference: inference?,
        end: end?,
    })
}
