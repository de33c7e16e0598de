//! End-to-end tests of the `klo-spec` binary on the local board: real cell
//! scripts, real load processes, real signals.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

// ---------------------------------------------------------------- input

#[test]
fn bad_scenarios_exit_2_with_a_located_message_and_write_nothing() {
    let out_root = tempfile::tempdir().unwrap();
    let board = tempfile::tempdir().unwrap();
    let pwned = Path::new("/tmp/klo-spec-pwned");
    let _ = std::fs::remove_file(pwned);
    insta::glob!("fixtures/bad/*.yaml", |path| {
        let rel = path.strip_prefix(ROOT).unwrap();
        let out = Command::new(BIN)
            .args(["run", rel.to_str().unwrap(), "--output-dir"])
            .arg(out_root.path().join("outputs"))
            .current_dir(ROOT)
            .env("KLO_SPEC_LOCAL_DIR", board.path())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", rel.display());
        let first = stderr.lines().next().unwrap_or_default();
        let prefix = format!("error: {}:", rel.display());
        let loc = first
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{}: no file:line:column in {first:?}", rel.display()));
        let mut parts = loc.splitn(3, ':');
        assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{first}");
        assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{first}");
        assert!(
            stderr.contains("\n  hint: "),
            "{}: no hint in {stderr}",
            rel.display()
        );
        assert!(
            !out_root.path().join("outputs").exists(),
            "{}: wrote outputs",
            rel.display()
        );
        assert!(text(&out.stdout).is_empty());
        insta::assert_snapshot!(stderr);
    });
    assert!(!pwned.exists(), "a value from a scenario ran as a command");
}

#[test]
fn bad_board_inventories_exit_2_with_a_located_message_and_write_nothing() {
    let sb = Sandbox::new();
    let scenario = sb.write("s.yaml", "name: s\nnetworks: [tiny]\n");
    let pwned = Path::new("/tmp/klo-spec-pwned");
    let _ = std::fs::remove_file(pwned);
    insta::glob!("fixtures/bad/boards/*.yaml", |path| {
        let rel = path.strip_prefix(ROOT).unwrap();
        let out = Command::new(BIN)
            .arg("run")
            .arg(&scenario)
            .args(["--boards", rel.to_str().unwrap(), "--output-dir"])
            .arg(sb.path().join("outputs"))
            .current_dir(ROOT)
            .env("KLO_SPEC_LOCAL_DIR", sb.board_dir())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", rel.display());
        let first = stderr.lines().next().unwrap_or_default();
        let loc = first
            .strip_prefix(&format!("error: {}:", rel.display()))
            .unwrap_or_else(|| panic!("{}: no file:line:column in {first:?}", rel.display()));
        let mut parts = loc.splitn(3, ':');
        assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{first}");
        assert!(parts.next().unwrap().parse::<usize>().is_ok(), "{first}");
        assert!(
            stderr.contains("\n  hint: "),
            "{}: no hint in {stderr}",
            rel.display()
        );
        assert!(
            !sb.path().join("outputs").exists() && !sb.board_dir().exists(),
            "{}: wrote something",
            rel.display()
        );
        assert!(text(&out.stdout).is_empty());
        insta::assert_snapshot!(stderr);
    });
    assert!(
        !pwned.exists(),
        "a value from an inventory ran as a command"
    );
}

#[test]
fn plan_counts_and_ids_of_the_quickstart() {
    let out = Command::new(BIN)
        .args(["plan", "scenarios/quickstart.yaml", "--json"])
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["count"], 34);
    let ids: Vec<&str> = plan["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids[0],
        "local/none/cpu-current/gpu-current/mobilenet_v1.cpu_bound/default"
    );
    // `network` is not a matrix key: it multiplies last, so varies fastest.
    assert_eq!(
        ids[1],
        "local/none/cpu-current/gpu-current/mobilenet_v1.gpu_bound/default"
    );
    assert_eq!(
        ids[2],
        "local/none/cpu-current/gpu-current/mobilenet_v1.cpu_bound/sweep-k1"
    );
    assert_eq!(
        ids[33],
        "local/heavy/cpu-current/gpu-current/mobilenet_v1.gpu_bound/constant-self"
    );
    // Plan writes nothing.
    let table = Command::new(BIN)
        .args(["plan", "scenarios/quickstart.yaml"])
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(
        text(&table.stdout).contains("34 cells (local: 34) x 5 round(s) = 170 runs"),
        "{}",
        text(&table.stdout)
    );
}

#[test]
fn good_fixtures_expand_as_documented() {
    for entry in std::fs::read_dir(Path::new(ROOT).join("tests/fixtures/good")).unwrap() {
        let path = entry.unwrap().path();
        let text_in = std::fs::read_to_string(&path).unwrap();
        let expect: Vec<&str> = text_in
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        let out = Command::new(BIN)
            .args(["plan", "--json"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ids: Vec<&str> = plan["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, expect, "{}", path.display());
    }
}

#[test]
fn schema_json_is_generated_from_the_types() {
    let boards = Command::new(BIN)
        .args(["schema", "--boards"])
        .output()
        .unwrap();
    let committed = std::fs::read_to_string(Path::new(ROOT).join("boards.schema.json")).unwrap();
    assert!(
        text(&boards.stdout) == committed,
        "boards.schema.json is out of date: run `just schema`"
    );
    let out = Command::new(BIN).arg("schema").output().unwrap();
    let committed = std::fs::read_to_string(Path::new(ROOT).join("schema.json")).unwrap();
    assert!(
        text(&out.stdout) == committed,
        "schema.json is out of date: run `cargo run -- schema -o schema.json` (or `just schema`)"
    );
}

#[test]
fn shipped_scenarios_have_the_schema_modeline_and_validate() {
    for entry in std::fs::read_dir(Path::new(ROOT).join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "boards.yaml") {
            let first = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            assert_eq!(
                first,
                "# yaml-language-server: $schema=../boards.schema.json"
            );
            continue;
        }
        let first = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            first,
            "# yaml-language-server: $schema=../schema.json",
            "{}",
            path.display()
        );
        let out = Command::new(BIN)
            .args(["plan"])
            .arg(&path)
            .current_dir(ROOT)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
    }
}

#[test]
fn the_docs_sketch_and_the_documented_scenarios_validate() {
    // The "sketch with every key" of docs/scenarios.md is a scenario: it
    // must parse.
    let page = std::fs::read_to_string(Path::new(ROOT).join("docs/scenarios.md")).unwrap();
    let after = page
        .split_once("A sketch with every key")
        .expect("docs/scenarios.md has the scenario sketch")
        .1;
    let sketch = after
        .split_once("```yaml\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0;
    let sb = Sandbox::new();
    // Its `lut: {build_with: lut.yaml}` names the LUT scenario beside it.
    std::fs::copy(
        Path::new(ROOT).join("scenarios/lut.yaml"),
        sb.path().join("lut.yaml"),
    )
    .unwrap();
    let file = sb.write("sketch.yaml", sketch);
    let out = sb.run(&["plan", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "docs/scenarios.md sketch: {}",
        text(&out.stderr)
    );
    // The GPU scenarios under docs/nvidia (their load_levels use LUTs made on
    // that machine, so only the LUT scenarios are planned here).
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs/nvidia")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("lut-") && name.ends_with(".yaml")) {
            continue;
        }
        let out = Command::new(BIN)
            .arg("plan")
            .arg(&path)
            .current_dir(ROOT)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    }
}

// ---------------------------------------------------------------- docs

/// The text of a Markdown file outside its fenced code blocks and inline
/// code spans (where a `[x](y)` or a `# line` is not a link or a heading),
/// and its headings' anchors as GitHub makes them.
struct MarkdownPage {
    prose: String,
    anchors: std::collections::BTreeSet<String>,
}

/// GitHub's anchor of a heading: lower case, punctuation dropped (letters,
/// digits, `-` and `_` stay), spaces made `-`.
fn heading_anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| {
            if c == ' ' {
                Some('-')
            } else if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c)
            } else {
                None
            }
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// `paragraph` without its code spans: a run of backticks up to the next
/// run of as many (an unclosed run is text).
fn without_code_spans(paragraph: &str) -> String {
    let b: Vec<char> = paragraph.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != '`' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let run = b[i..].iter().take_while(|c| **c == '`').count();
        let mut j = i + run;
        let mut close = None;
        while j < b.len() {
            if b[j] == '`' {
                let n = b[j..].iter().take_while(|c| **c == '`').count();
                if n == run {
                    close = Some(j + n);
                    break;
                }
                j += n;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                out.push(' ');
                i = end;
            }
            None => {
                out.extend(&b[i..i + run]);
                i += run;
            }
        }
    }
    out
}

fn markdown_page(text: &str) -> MarkdownPage {
    let mut prose = String::new();
    let mut anchors = std::collections::BTreeSet::new();
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    let mut fence: Option<&str> = None;
    let mut paragraph = String::new();
    fn flush(paragraph: &mut String, prose: &mut String) {
        prose.push_str(&without_code_spans(paragraph));
        prose.push('\n');
        paragraph.clear();
    }
    for line in text.lines() {
        // A fence may open a list item (`4. ```yaml`).
        let trimmed = line.trim_start();
        let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
        let trimmed = trimmed[digits..]
            .strip_prefix(". ")
            .filter(|_| digits > 0)
            .or_else(|| trimmed.strip_prefix("- "))
            .or_else(|| trimmed.strip_prefix("* "))
            .map_or(trimmed, str::trim_start);
        if let Some(f) = fence {
            if trimmed.starts_with(f) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            flush(&mut paragraph, &mut prose);
            fence = Some(&trimmed[..3]);
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = heading_anchor(&line[hashes..]);
            let n = seen.entry(base.clone()).or_insert(0);
            anchors.insert(if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            });
            *n += 1;
        }
        if line.trim().is_empty() {
            flush(&mut paragraph, &mut prose);
        } else {
            paragraph.push_str(line);
            paragraph.push('\n');
        }
    }
    flush(&mut paragraph, &mut prose);
    MarkdownPage { prose, anchors }
}

/// The targets of a page's inline links and images, `[text](target)`.
fn link_targets(prose: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = prose;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                out.push(after[..end].trim().to_string());
                rest = &after[end..];
            }
            None => break,
        }
    }
    out
}

/// Every `.md` file under `dir`, recursively.
fn markdown_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

#[test]
fn docs_are_walkable() {
    let root = Path::new(ROOT);
    let readme_text = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines = readme_text.lines().count();
    assert!(
        lines < 250,
        "README.md has {lines} lines: keep it under 250 (the rest goes to docs/)"
    );

    let mut files = vec![root.join("README.md"), root.join("BENCHMARKS.md")];
    markdown_files(&root.join("docs"), &mut files);
    let pages: std::collections::BTreeMap<std::path::PathBuf, MarkdownPage> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            (f.canonicalize().unwrap(), markdown_page(&text))
        })
        .collect();

    // Every relative link leads to a file, and an anchor to a heading.
    let mut broken = Vec::new();
    let mut from_readme = std::collections::BTreeSet::new();
    for file in &files {
        let page = &pages[&file.canonicalize().unwrap()];
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        for target in link_targets(&page.prose) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let Ok(dest) = dest.canonicalize() else {
                broken.push(format!("{rel}: `{target}`: no such file"));
                continue;
            };
            if file.ends_with("README.md") && file.parent() == Some(root) {
                from_readme.insert(dest.clone());
            }
            if let Some(anchor) = anchor {
                match pages.get(&dest) {
                    Some(p) if p.anchors.contains(anchor) => {}
                    Some(_) => broken.push(format!("{rel}: `{target}`: no such heading")),
                    None => broken.push(format!(
                        "{rel}: `{target}`: an anchor into a file that is not a checked page"
                    )),
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));

    // Every page of docs/ is linked from the README (the Markdown files of
    // result sets kept under docs/, folders with a meta.json, are data).
    let unlinked: Vec<String> = files
        .iter()
        .filter(|f| f.starts_with(root.join("docs")))
        .filter(|f| !f.parent().unwrap().join("meta.json").exists())
        .filter(|f| !from_readme.contains(&f.canonicalize().unwrap()))
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert!(
        unlinked.is_empty(),
        "pages of docs/ that README.md does not link: {unlinked:?}"
    );
}

// ---------------------------------------------------------------- runs

#[test]
fn a_run_writes_sorted_tables_leaves_no_load_and_resumes() {
    let sb = Sandbox::new();
    sb.write(
        "s.yaml",
        &format!(
            "name: smoke\nnetworks: [tiny]\niterations: 4\nload_settle_ms: 100\nbenchmark: {{probe: {{submit: deferred, device: thread}}}}\n\
             loads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [none, light]\n  strategy: [default, {{sweep: {{k: [2, 8]}}}}]\n\
             checks:\n  - {{id: C1, title: t, metric: t_prod, kind: differ, a: {{load: light}}, b: {{load: none}}}}\n"
        ),
    );
    let out = sb.run(&["run", "s.yaml"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(
        stdout.contains("C1: t:"),
        "the checklist is printed: {stdout}"
    );

    let dir = sb.out("smoke");
    for f in [
        "summary.csv",
        "checklist.csv",
        "checklist.md",
        "sweeps.csv",
        "meta.json",
        "scenario.yaml",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let rows = csv_rows(&dir.join("summary.csv"));
    assert_eq!(rows[0][..3], ["id", "board", "load"]);
    assert_eq!(rows.len(), 1 + 6);
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "rows are sorted by cell id");
    let (status, device) = (column(&rows, "status"), column(&rows, "device"));
    assert!(
        rows[1..]
            .iter()
            .all(|r| r[status] == "ok" && r[device] == "thread"),
        "{rows:?}"
    );
    assert_eq!(csv_rows(&dir.join("checklist.csv")).len(), 1 + 3);

    let pids = load_pids(&dir);
    assert_eq!(
        pids.len(),
        3 * std::thread::available_parallelism().unwrap().get(),
        "one light process per core, 3 cells"
    );
    assert!(
        pids.iter().all(|p| !klo_load_running(*p)),
        "a klo-load survived its cell"
    );
    assert!(!find(&dir.join("cells"), "cell.sh").is_empty());

    // Same hashes: nothing to run. A changed load: only its cells rerun.
    let again = sb.run(&["run", "s.yaml"]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains("smoke: 6 cells, 0 to run: 6 done (same hash, skipped), 0 missing, 0 changed, 0 failed before"),
        "{}",
        text(&again.stderr)
    );
    let before = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let same = sb.run(&["analyze", "s.yaml"]);
    assert!(same.status.success());
    assert_eq!(
        before,
        std::fs::read_to_string(dir.join("summary.csv")).unwrap(),
        "the same inputs give byte-identical tables"
    );
    let scenario = std::fs::read_to_string(sb.path().join("s.yaml"))
        .unwrap()
        .replace("inner_iter: 2000", "inner_iter: 3000");
    sb.write("s.yaml", &scenario);
    let changed = sb.run(&["run", "s.yaml"]);
    assert!(
        text(&changed.stderr).contains("smoke: 6 cells, 3 to run: 3 done (same hash, skipped), 0 missing, 3 changed, 0 failed before"),
        "{}",
        text(&changed.stderr)
    );
    let forced = sb.run(&["run", "s.yaml", "--force", "--quiet"]);
    assert!(forced.status.success());
    assert!(
        text(&forced.stderr).is_empty(),
        "--quiet prints no progress: {}",
        text(&forced.stderr)
    );
}

#[test]
fn ctrl_c_stops_the_run_and_leaves_no_load() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    sb.write(
        "s.yaml",
        &fake_bench_scenario(
            "intr",
            &format!("loads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [light, none]\n"),
        )
        .replace("{{ delay }}", "30"),
    );
    let mut child: Child = sb
        .command(&["run", "s.yaml"])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pids = wait_for_loads(&sb);
    assert!(pids.iter().all(|p| klo_load_running(*p)));
    // A terminal's Ctrl-C: SIGINT to the foreground process group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "klo-spec did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        pids.iter().all(|p| !klo_load_running(*p)),
        "a klo-load survived Ctrl-C"
    );
    assert!(
        !group_alive(bench_group(&sb.out("intr"))),
        "the benchmark survived Ctrl-C"
    );
    let record = find(&sb.out("intr"), "cell.json");
    assert_eq!(
        record.len(),
        1,
        "the interrupted cell is kept, the next one never started"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record[0]).unwrap()).unwrap();
    assert_eq!(json["status"], "interrupted");
    assert!(sb.out("intr").join("summary.csv").is_file());
}

#[test]
fn a_killed_runner_still_leaves_no_load() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    sb.write(
        "s.yaml",
        &fake_bench_scenario(
            "killed",
            &format!("loads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [light]\n"),
        )
        .replace("{{ delay }}", "30"),
    );
    let mut child = sb
        .command(&["run", "s.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pids = wait_for_loads(&sb);
    wait_until("the benchmark to start", Duration::from_secs(10), || {
        !find_written(&sb.board_dir(), "bench.pid").is_empty()
    });
    let bench = bench_group(&sb.board_dir());
    child.kill().unwrap(); // SIGKILL: no handler runs in klo-spec.
    child.wait().unwrap();
    let t = Instant::now();
    while pids.iter().any(|p| klo_load_running(*p)) {
        if t.elapsed() > Duration::from_secs(15) {
            let status: Vec<String> = find(&sb.board_dir(), "cell.status")
                .iter()
                .map(|p| std::fs::read_to_string(p).unwrap())
                .collect();
            let ps = Command::new("ps")
                .args(["-eo", "pid,ppid,pgid,stat,args"])
                .output()
                .unwrap();
            panic!(
                "loads {pids:?} survive a killed runner; cell.status: {status:?}\n{}",
                text(&ps.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_until(
        "the benchmark to be stopped",
        Duration::from_secs(10),
        || !group_alive(bench),
    );
    let status_file = find(&sb.board_dir(), "cell.status")[0].clone();
    let read = || std::fs::read_to_string(&status_file).unwrap();
    wait_until(
        "the cell script to finish its cleanup",
        Duration::from_secs(10),
        || read().contains("finished=1"),
    );
    let status = read();
    assert!(
        status.contains("signal=TERM") && status.contains("loads_left=0"),
        "{status}"
    );
}

#[test]
fn a_hanging_benchmark_is_killed_at_its_timeout_with_its_loads() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    sb.write(
        "s.yaml",
        &fake_bench_scenario(
            "hang",
            &format!("timeout_s: 1\nloads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [light]\n"),
        )
        .replace("{{ delay }}", "60"),
    );
    let t = Instant::now();
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_eq!(first_status(&sb.out("hang").join("summary.csv")), "timeout");
    assert!(
        load_pids(&sb.out("hang"))
            .iter()
            .all(|p| !klo_load_running(*p))
    );
    assert!(
        !group_alive(bench_group(&sb.out("hang"))),
        "the benchmark or a child of it survived its timeout"
    );
}

#[test]
fn a_load_that_dies_before_the_end_flags_the_cell() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    // One burst, then a 1 s sleep: gone before the 3 s benchmark ends.
    sb.write(
        "s.yaml",
        &fake_bench_scenario(
            "died",
            "loads:\n  short: {procs_per_core: 1, t_sleep_us: 1000000, inner_iter: 1, log_iter: 0}\nmatrix:\n  load: [short]\n",
        )
        .replace("{{ delay }}", "3"),
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        first_status(&sb.out("died").join("summary.csv")),
        "load_died"
    );
    assert!(text(&out.stderr).contains("load processes were still running"));
}

#[test]
fn a_truncated_log_is_an_incomplete_cell_not_a_result() {
    let sb = Sandbox::new();
    sb.write("s.yaml", "name: trunc\nbenchmark: {command: {run: \"echo 'KLO v1 net=a iter=0 latency_us=5.0'\"}}\nnetworks: [a]\niterations: 2\n");
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let rows = csv_rows(&sb.out("trunc").join("summary.csv"));
    assert_eq!(rows[1][column(&rows, "status")], "incomplete");
    assert!(
        rows[1][column(&rows, "latency_mean_us")].is_empty(),
        "no latency for an incomplete cell"
    );
}

#[test]
fn a_command_benchmark_with_pushed_files_and_a_regex_parser() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    sb.write(
        "s.yaml",
        "name: regex\nbenchmark:\n  command:\n    run: sh fake-bench.sh {{ iterations }} 0 {{ network }} regex\n    push: [fake-bench.sh]\n    parser:\n      regex:\n        kernel: '^kernel it=(?P<iter>\\d+) n=(?P<kernel>\\d+) prod=(?P<t_prod_us>[\\d.]+) ker=(?P<t_ker_us>[\\d.]+)'\n        inference: '^inference it=(?P<iter>\\d+) took (?P<latency_us>[\\d.]+) us'\n        end: '^all done$'\nnetworks: [net1]\niterations: 4\n",
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = csv_rows(&sb.out("regex").join("summary.csv"));
    let col = |n: &str| rows[0].iter().position(|c| c == n).unwrap();
    assert_eq!(
        rows[1][col("latency_mean_us")],
        "102.0",
        "warm-up excluded: mean of 101, 102, 103"
    );
    assert_eq!(
        rows[1][col("t_prod_mean_us")],
        "12.00",
        "kernel 0 excluded: mean of 11.5 and 12.5"
    );
}

#[test]
fn values_with_shell_metacharacters_stay_data() {
    // The board's work folder name holds quotes, spaces and a command
    // substitution: the rendered scripts must treat it as a path.
    let sb = Sandbox::new();
    let marker = sb.path().join("pwned");
    let weird = sb.path().join(format!(
        "b d'$(touch {})`touch {}`",
        marker.display(),
        marker.display()
    ));
    sb.write(
        "s.yaml",
        &format!("name: q\nnetworks: [tiny]\niterations: 2\nload_settle_ms: 50\nbenchmark: {{probe: {{device: thread}}}}\nloads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [light]\n"),
    );
    let out = sb
        .command(&["run", "s.yaml"])
        .env("KLO_SPEC_LOCAL_DIR", &weird)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!marker.exists(), "a command substitution in a path ran");
}

#[test]
fn a_second_run_on_the_same_outputs_is_refused() {
    let sb = Sandbox::new();
    sb.write(
        "s.yaml",
        "name: locked\nnetworks: [tiny]\niterations: 2\nbenchmark: {probe: {device: thread}}\n",
    );
    std::fs::create_dir_all(sb.out("locked")).unwrap();
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(sb.out("locked").join(".lock"))
        .unwrap();
    f.lock().unwrap();
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("another klo-spec run holds"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_probe_runs_on_a_real_opencl_platform() {
    if std::env::var_os("KLO_SPEC_TEST_OPENCL").is_none() {
        eprintln!(
            "skipped: set KLO_SPEC_TEST_OPENCL=1 where an OpenCL platform (pocl) is installed; tests/run.sh does"
        );
        return;
    }
    let sb = Sandbox::new();
    sb.write(
        "s.yaml",
        "name: ocl\nnetworks: [tiny]\niterations: 3\nbenchmark: {probe: {device: opencl, submit: deferred}}\nmatrix:\n  strategy: [default, {fixed: 4}]\n",
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = csv_rows(&sb.out("ocl").join("summary.csv"));
    let device = rows[0].iter().position(|c| c == "device").unwrap();
    assert!(rows[1..].iter().all(|r| r[device] == "opencl"), "{rows:?}");
    let json = std::fs::read_to_string(&find(&sb.out("ocl"), "cell.json")[0]).unwrap();
    assert!(json.contains("opencl_platform"), "{json}");
}

/// The shells to run cell scripts under: the system `sh`, and busybox and
/// mksh where installed (tests/run.sh installs them).
fn shells() -> Vec<&'static str> {
    let mut v = vec!["sh"];
    for (probe, shell) in [("busybox", "busybox sh"), ("mksh", "mksh")] {
        if Command::new(probe).arg("--help").output().is_ok()
            || Command::new(probe).arg("-c").arg("true").output().is_ok()
        {
            v.push(shell);
        } else {
            eprintln!("{probe} is not installed: its cases are skipped (tests/run.sh installs it)");
        }
    }
    v
}

/// A scenario whose command benchmark is `run` (a complete log follows).
fn leaky_scenario(name: &str, run: &str, extra: &str) -> String {
    format!(
        "name: {name}\nbenchmark:\n  command:\n    run: |\n      {run}\n      sh fake-bench.sh 2 0 n\n    push: [fake-bench.sh]\nnetworks: [n]\niterations: 2\nload_settle_ms: 100\nloads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [light]\n{extra}"
    )
}

#[test]
fn nothing_the_benchmark_starts_outlives_the_cell_under_each_shell() {
    for shell in shells() {
        let sb = Sandbox::new();
        copy_fake_bench(&sb);
        // A benchmark that leaves a child running, and completes its log.
        sb.write("s.yaml", &leaky_scenario("leak", "sleep 300 &", ""));
        let out = sb
            .command(&["run", "s.yaml"])
            .env("KLO_SPEC_SHELL", shell)
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let dir = sb.out("leak");
        assert!(
            !group_alive(bench_group(&dir)),
            "{shell}: the benchmark's child survived"
        );
        assert!(
            load_pids(&dir).iter().all(|p| !klo_load_running(*p)),
            "{shell}: a load survived"
        );
        let json = std::fs::read_to_string(&find(&dir, "cell.json")[0]).unwrap();
        assert!(
            json.contains("\"status\": \"ok\"")
                && json.contains("left processes running; they were killed"),
            "{shell}: {json}"
        );
        assert!(
            json.contains("\"leftovers_killed_by_runner\": 0"),
            "{shell}: {json}"
        );

        // A benchmark that ignores TERM is killed at its timeout, children too.
        let sb = Sandbox::new();
        copy_fake_bench(&sb);
        sb.write(
            "s.yaml",
            &leaky_scenario("stubborn", "trap '' TERM; sleep 301", "timeout_s: 1\n"),
        );
        let t = Instant::now();
        let out = sb
            .command(&["run", "s.yaml"])
            .env("KLO_SPEC_SHELL", shell)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{shell}: {}", text(&out.stderr));
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{shell}: took {:?}",
            t.elapsed()
        );
        assert_eq!(
            first_status(&sb.out("stubborn").join("summary.csv")),
            "timeout",
            "{shell}"
        );
        assert!(
            !group_alive(bench_group(&sb.out("stubborn"))),
            "{shell}: the stubborn benchmark survived"
        );
    }
}

#[test]
fn a_process_name_with_spaces_does_not_blind_the_watchdog() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    // /proc/PID/stat shows `(a Z b)`: the state must be read after the `)`.
    sb.write(
        "s.yaml",
        &leaky_scenario(
            "names",
            "cp \"$(command -v sleep)\" './a Z b' && exec './a Z b' 120",
            "timeout_s: 1\n",
        ),
    );
    let t = Instant::now();
    let out = sb.run(&["run", "s.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the watchdog missed its timeout: {:?}",
        t.elapsed()
    );
    assert_eq!(
        first_status(&sb.out("names").join("summary.csv")),
        "timeout"
    );
}

#[test]
fn a_signal_during_the_settle_time_is_handled_at_once() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    sb.write(
        "s.yaml",
        &fake_bench_scenario(
            "settle",
            &format!("loads:\n  light: {LIGHT_LOAD}\nmatrix:\n  load: [light]\n"),
        )
        .replace("load_settle_ms: 100", "load_settle_ms: 30000")
        .replace("{{ delay }}", "0"),
    );
    let mut child = sb
        .command(&["run", "s.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pids = wait_for_loads(&sb);
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    wait_until("the loads to be killed", Duration::from_secs(5), || {
        pids.iter().all(|p| !klo_load_running(*p))
    });
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "cleanup waited for the settle sleep: {:?}",
        t.elapsed()
    );
}

// ------------------------------------------------------ hostile input files

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Runs `args` in `sb` with a time limit: a FIFO read by mistake would
/// block for ever.
fn run_quickly(sb: &Sandbox, args: &[&str]) -> (Option<i32>, String) {
    let mut child = sb
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("klo-spec {args:?} hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out.stderr))
}

/// Asserts a bad-input answer: exit 2, `file:line:column: ...` first, a hint,
/// nothing written.
fn assert_located(
    sb: &Sandbox,
    (code, err): (Option<i32>, String),
    file: &str,
    line: usize,
    what: &str,
) {
    assert_eq!(code, Some(2), "{err}");
    let first = err.lines().next().unwrap_or_default();
    let want = format!("error: {file}:{line}:");
    assert!(first.starts_with(&want), "want {want}... in {err}");
    assert!(first.contains(what), "want {what:?} in {err}");
    assert!(err.contains("\n  hint: "), "{err}");
    assert!(!sb.path().join("outputs").exists(), "{err}");
}

#[test]
fn files_a_scenario_names_are_regular_files_read_within_a_budget() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    // The scenario itself a FIFO: refused at once, not waited on.
    mkfifo(&sb.path().join("fifo.yaml"));
    let r = run_quickly(&sb, &["run", "fifo.yaml"]);
    assert_located(
        &sb,
        r,
        "fifo.yaml",
        1,
        "it is a FIFO (named pipe), not a regular file",
    );
    // A folder.
    std::fs::create_dir(sb.path().join("dir.yaml")).unwrap();
    let r = run_quickly(&sb, &["plan", "dir.yaml"]);
    assert_located(&sb, r, "dir.yaml", 1, "it is a folder, not a regular file");
    // Larger than a scenario can be (a sparse file: no disk used).
    let big = std::fs::File::create(sb.path().join("big.yaml")).unwrap();
    big.set_len(64 << 20).unwrap();
    let r = run_quickly(&sb, &["plan", "big.yaml"]);
    assert_located(
        &sb,
        r,
        "big.yaml",
        1,
        "more than the limit of 4194304 bytes",
    );

    // Pushed files: a FIFO, a folder, one over the limit, one outside the
    // scenario's folder (a path and a link leading out of it).
    mkfifo(&sb.path().join("pipe"));
    std::fs::create_dir(sb.path().join("folder")).unwrap();
    let huge = std::fs::File::create(sb.path().join("huge.bin")).unwrap();
    huge.set_len(300 << 20).unwrap();
    let secret = sb.path().with_extension("secret");
    std::fs::write(&secret, "not yours").unwrap();
    std::os::unix::fs::symlink(&secret, sb.path().join("link-out")).unwrap();
    for (entry, what) in [
        ("pipe", "it is a FIFO (named pipe), not a regular file"),
        ("folder", "it is a folder, not a regular file"),
        ("huge.bin", "more than the limit of 268435456 bytes"),
        ("../x.bin", "is outside the scenario's folder"),
        ("link-out", "is outside the scenario's folder"),
    ] {
        sb.write(
            "s.yaml",
            &format!("name: p\nbenchmark:\n  command:\n    run: sh fake-bench.sh 2 0 n\n    push: [fake-bench.sh, {entry}]\nnetworks: [n]\n"),
        );
        let r = run_quickly(&sb, &["run", "s.yaml"]);
        assert_located(&sb, r.clone(), "s.yaml", 5, what);
        assert!(r.1.contains("(at `benchmark.command.push[1]`)"), "{}", r.1);
    }

    // A board inventory that is a FIFO, next to the scenario or named.
    sb.write("s.yaml", "name: q\nnetworks: [tiny]\n");
    mkfifo(&sb.path().join("boards.yaml"));
    let r = run_quickly(&sb, &["plan", "s.yaml"]);
    assert_located(&sb, r, "boards.yaml", 1, "FIFO");
    std::fs::remove_file(sb.path().join("boards.yaml")).unwrap();

    // A fixture tree with a FIFO or a link in it.
    let tree = sb.path().join("tree");
    copy_dir(&Path::new(ROOT).join("tests/fixtures/sysfs/qcom"), &tree);
    mkfifo(&tree.join("devices/system/cpu/stuck"));
    sb.write("inv.yaml", "boards:\n  fx:\n    fixture: tree\n");
    sb.write("s.yaml", "name: q\nboards: [fx]\nnetworks: [tiny]\n");
    let r = run_quickly(&sb, &["plan", "s.yaml", "--boards", "inv.yaml"]);
    assert_located(
        &sb,
        r.clone(),
        "inv.yaml",
        3,
        "is a FIFO (named pipe), not a regular file",
    );
    std::fs::remove_file(tree.join("devices/system/cpu/stuck")).unwrap();
    std::os::unix::fs::symlink("/etc", tree.join("devices/system/cpu/etc")).unwrap();
    let r = run_quickly(&sb, &["plan", "s.yaml", "--boards", "inv.yaml"]);
    assert_located(
        &sb,
        r,
        "inv.yaml",
        3,
        "is a symbolic link, not a regular file",
    );

    // A LUT that is a FIFO: refused by name, not reported missing.
    std::fs::create_dir_all(sb.path().join("luts")).unwrap();
    mkfifo(&sb.path().join("luts/local.csv"));
    sb.write(
        "s.yaml",
        "name: l\nnetworks: [tiny]\nbenchmark: {probe: {device: thread}}\nlut: {file: luts/local.csv}\nmatrix:\n  strategy: [default, dynamic]\n",
    );
    let r = run_quickly(&sb, &["plan", "s.yaml"]);
    assert_located(&sb, r, "s.yaml", 4, "FIFO");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_pushed_file_keeps_its_mode_never_wider() {
    use std::os::unix::fs::PermissionsExt as _;
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    let data = sb.write("data.bin", "d");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o640)).unwrap();
    let tool = sb.write("tool.sh", "true");
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o4777)).unwrap();
    sb.write(
        "s.yaml",
        "name: modes\nbenchmark:\n  command:\n    run: |\n      stat -c %a data.bin tool.sh > modes.txt\n      sh fake-bench.sh 2 0 n\n    push: [fake-bench.sh, data.bin, tool.sh]\nnetworks: [n]\niterations: 2\n",
    );
    let out = sb.run(&["run", "s.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let modes = std::fs::read_to_string(&find(&sb.out("modes"), "modes.txt")[0]).unwrap();
    assert_eq!(
        modes, "640\n755\n",
        "the source's mode, no set-id bit, no write for others"
    );
}

#[test]
fn alias_and_nesting_bombs_are_refused_at_once_under_a_memory_limit() {
    let sb = Sandbox::new();
    let depth = 200_000;
    sb.write(
        "deep_seq.yaml",
        &format!(
            "name: x\nnetworks: [tiny]\ndescription: {}1{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    );
    sb.write(
        "deep_map.yaml",
        &format!(
            "name: x\nnetworks: [tiny]\ndescription: {}1{}\n",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        ),
    );
    std::fs::copy(
        Path::new(ROOT).join("tests/fixtures/bad/alias_bomb.yaml"),
        sb.path().join("bomb.yaml"),
    )
    .unwrap();
    // A merge key makes the reader build a value of the whole document:
    // the bomb must be refused before that too.
    let bomb = std::fs::read_to_string(sb.path().join("bomb.yaml")).unwrap();
    sb.write(
        "bomb_merge.yaml",
        &format!("{bomb}x: &d {{a: 1}}\ny:\n  <<: *d\n"),
    );
    for (file, what) in [
        ("deep_seq.yaml", "nested deeper than 64 levels"),
        ("deep_map.yaml", "nested deeper than 64 levels"),
        (
            "bomb.yaml",
            "more than 1000000 nodes once its aliases are replaced",
        ),
        (
            "bomb_merge.yaml",
            "more than 1000000 nodes once its aliases are replaced",
        ),
    ] {
        let mut cmd = sb.command(&["plan", file]);
        // 512 MiB of address space: the binary needs a tenth of it; an
        // expanded bomb would need far more.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 512 << 20,
                    rlim_max: 512 << 20,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let t = Instant::now();
        let out = cmd.output().unwrap();
        let took = t.elapsed();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(took < Duration::from_secs(1), "{file}: {took:?}");
        let first = err.lines().next().unwrap();
        assert!(first.starts_with(&format!("error: {file}:")), "{err}");
        assert!(first.contains(what), "{file}: {err}");
        assert!(err.contains("\n  hint: "), "{err}");
        assert!(err.len() < 1000, "{file}: a short message: {err}");
    }
    // Many problems: the first ones, then a count.
    let many: String = (0..500).map(|i| format!("  - l{i}\n")).collect();
    sb.write(
        "many.yaml",
        &format!("name: m\nnetworks: [tiny]\nmatrix:\n  load:\n{many}"),
    );
    let out = sb.run(&["plan", "many.yaml"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.lines()
            .filter(|l| l.starts_with("error: many.yaml:"))
            .count()
            <= 50,
        "{err}"
    );
    assert!(err.contains("more problems like these"), "{err}");
}

/// True when `s` holds a character a terminal acts on (ESC, C1 controls,
/// BEL, bidirectional overrides), line breaks and tabs aside.
fn has_terminal_controls(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            && c != '\r'
    })
}

#[test]
fn output_cannot_attack_its_reader() {
    let sb = Sandbox::new();
    copy_fake_bench(&sb);
    // A check title that would rewrite the terminal's title and clear the
    // screen, start a spreadsheet formula and break a Markdown table; a
    // benchmark whose error output does the same.
    sb.write(
        "s.yaml",
        "name: hostile\nbenchmark:\n  command:\n    run: |\n      if [ {{ network }} = n2 ]; then printf '\\033[2J\\033]0;owned\\007\\302\\233boom\\n' >&2; exit 3; fi\n      sh fake-bench.sh 3 0 {{ network }}\n    push: [fake-bench.sh]\nnetworks: [n1, n2]\niterations: 3\nchecks:\n  - {id: C1, title: \"=HYPERLINK(\\\"http://x\\\") \\e]0;pwned\\a | col\\nnext \\u202e\", metric: latency, kind: differ, a: {network: n1}, b: {network: n2}}\n",
    );
    let out = sb.run(&["run", "s.yaml"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("boom"), "the reason is shown: {stderr}");
    assert!(!has_terminal_controls(&stdout), "{stdout:?}");
    assert!(!has_terminal_controls(&stderr), "{stderr:?}");
    // CSV: the title cannot run as a formula; numbers stay numbers.
    let csv = std::fs::read_to_string(sb.out("hostile").join("checklist.csv")).unwrap();
    assert!(csv.contains(",\"'=HYPERLINK("), "{csv}");
    let summary = std::fs::read_to_string(sb.out("hostile").join("summary.csv")).unwrap();
    assert!(
        !summary.contains(",'-"),
        "no plain number is guarded: {summary}"
    );
    // Markdown: the table stays a table.
    let md = std::fs::read_to_string(sb.out("hostile").join("checklist.md")).unwrap();
    let cells = |l: &str| l.replace("\\|", "").matches('|').count();
    let mut tables = 0;
    for block in md.split("\n\n").filter(|b| b.starts_with('|')) {
        let rows: Vec<&str> = block.lines().collect();
        assert!(rows.len() >= 3, "{md}");
        assert!(
            rows.iter().all(|l| l.starts_with('|')),
            "a row broke out: {block}"
        );
        assert!(rows.iter().all(|l| cells(l) == cells(rows[0])), "{block}");
        tables += 1;
    }
    assert_eq!(tables, 2, "{md}");
    assert!(!has_terminal_controls(&md), "{md:?}");
    // show, in each format.
    for args in [
        vec!["show", "outputs/hostile", "checklist"],
        vec!["show", "outputs/hostile", "checklist", "--format", "csv"],
        vec!["show", "outputs/hostile", "checklist", "--format", "md"],
        vec!["show", "outputs/hostile", "checklist", "--format", "json"],
        vec!["show", "outputs/hostile", "--all"],
    ] {
        let out = sb.run(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let shown = text(&out.stdout);
        assert!(!has_terminal_controls(&shown), "{args:?}: {shown:?}");
        if args.contains(&"json") {
            let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
            assert!(
                v[0]["title"].as_str().unwrap().contains("\u{1b}]0;pwned"),
                "the value itself is kept: {v}"
            );
        }
    }
    // Read back through show, the guarded title is the title again.
    let out = sb.run(&["show", "outputs/hostile", "checklist", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v[0]["title"].as_str().unwrap().starts_with("=HYPERLINK("),
        "{v}"
    );
}

#[test]
fn board_probe_respects_the_board_lock_and_errors_quote_long_values_shortened() {
    use std::io::Write as _;
    let sb = Sandbox::new();
    // Another run holds `local`, as `run` does: its lock file, locked.
    let lock = sb.board_dir().join("local/state/lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let mut held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&lock)
        .unwrap();
    held.lock().unwrap();
    writeln!(held, "pid 4242 on lab1").unwrap();
    let out = sb.run(&["board", "probe", "local"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("board `local` is in use by another klo-spec run (pid 4242 on lab1)"),
        "{err}"
    );
    drop(held);
    let out = sb.run(&["board", "probe", "local"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A long value in an error is quoted shortened, with its length.
    let long = "b".repeat(20_000);
    let out = sb.run(&["board", "probe", &long]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.len() < 1000, "{} bytes", err.len());
    assert!(err.contains("(20000 characters)"), "{err}");
    let out = sb.run(&[
        "plan",
        &format!("{ROOT}/scenarios/quickstart.yaml"),
        "--only",
        &long,
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.lines().all(|l| l.chars().count() <= 700), "{err}");
}

// ------------------------------------------------------------- klo-probe

/// The probe built for this machine by `klo-spec helpers` (its cache in
/// the sandbox).
fn probe_path(sb: &Sandbox) -> String {
    let out = sb
        .command(&["helpers"])
        .env("KLO_SPEC_CACHE", sb.path().join("cache"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().nth(1).unwrap().to_string()
}

/// Runs the probe; its status, stdout, stderr, and the CPU time it used
/// (its own, from wait4: the tests run in parallel in this process).
// The child is reaped with wait4 (for its own rusage), not Child::wait.
#[allow(clippy::zombie_processes)]
fn probe(p: &str, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String, f64) {
    use std::io::Read as _;
    let mut child = Command::new(p)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    // A probe that hangs (a gate that never opens) is killed: the test
    // fails instead of waiting for ever.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let (done, pid) = (done.clone(), child.id() as i32);
        std::thread::spawn(move || {
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(60) {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
    };
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut log = String::new();
    out.read_to_string(&mut log).unwrap();
    let stderr = reader.join().unwrap();
    let mut status = 0;
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut r) };
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    watch.join().unwrap();
    assert_eq!(pid, child.id() as i32);
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, log, stderr, t(r.ru_utime) + t(r.ru_stime))
}

#[test]
fn the_probe_refuses_counts_it_cannot_hold_and_sleeps_without_spinning() {
    let sb = Sandbox::new();
    let p = probe_path(&sb);
    let k = sb.write("k.txt", "conv 20000 5000\nfc 5000 1000\n");
    let k = k.to_str().unwrap();
    // A negative count is not a huge one.
    let bad = sb.write("bad.txt", "conv -5 1\n");
    let (code, _, err, _) = probe(
        &p,
        &[
            "-f",
            bad.to_str().unwrap(),
            "-n",
            "t",
            "-i",
            "1",
            "-k",
            "1",
            "-d",
            "thread",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("bad.txt:1: ker_units must be a whole number"),
        "{err}"
    );
    // A LUT row with a K_opt out of range.
    let lut = sb.write(
        "lut.csv",
        "t_prod_us,t_ker_us,k_opt,latency_us\n10.0,100.0,-3,\n",
    );
    let (code, _, err, _) = probe(
        &p,
        &[
            "-f",
            k,
            "-n",
            "t",
            "-i",
            "1",
            "-d",
            "thread",
            "-L",
            lut.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("out of range"), "{err}");
    // A submission latency over a second: slept, not spun (nanosleep
    // refuses a tv_nsec of a second or more).
    let t = Instant::now();
    let (code, log, err, cpu) = probe(
        &p,
        &[
            "-f", k, "-n", "t", "-i", "1", "-k", "2", "-d", "thread", "-s", "deferred", "-U",
            "2500000",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(t.elapsed() >= Duration::from_millis(2500));
    assert!(cpu < 0.25, "{cpu:.3} s of CPU for a 2.5 s wait: {log}");
    let parsed = klo_spec::ingest::parse_klo(&log);
    assert_eq!(parsed.incomplete_reason(1, Some("t")), None, "{log}");
}

/// A stand-in for the OpenCL library that forwards to the real one (pocl
/// through the ICD loader) and makes one call fail when asked.
const SHIM: &str = r#"
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
typedef int32_t cl_int;
static void *real(const char *name) {
    static void *lib;
    if (!lib) lib = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
    return lib ? dlsym(lib, name) : NULL;
}
cl_int clGetEventProfilingInfo(void *e, uint32_t p, size_t n, void *v, size_t *r) {
    if (getenv("SHIM_FAIL_PROFILING")) return -7;
    cl_int (*f)(void *, uint32_t, size_t, void *, size_t *) = real("clGetEventProfilingInfo");
    return f(e, p, n, v, r);
}
cl_int clSetUserEventStatus(void *e, cl_int s) {
    if (getenv("SHIM_FAIL_GATE")) return -58;
    cl_int (*f)(void *, cl_int) = real("clSetUserEventStatus");
    return f(e, s);
}
cl_int clEnqueueWriteBuffer(void *q, void *b, uint32_t bl, size_t o, size_t n, const void *p,
                            uint32_t nw, const void *w, void *ev) {
    static int calls;
    if (getenv("SHIM_FAIL_WRITE") && calls++ == 0) return -5;
    cl_int (*f)(void *, void *, uint32_t, size_t, size_t, const void *, uint32_t, const void *,
                void *) = real("clEnqueueWriteBuffer");
    return f(q, b, bl, o, n, p, nw, w, ev);
}
"#;

#[test]
fn the_probe_fails_the_run_when_the_opencl_runtime_fails() {
    if std::env::var_os("KLO_SPEC_TEST_OPENCL").is_none() {
        eprintln!(
            "skipped: set KLO_SPEC_TEST_OPENCL=1 where an OpenCL platform (pocl) is installed; tests/run.sh does"
        );
        return;
    }
    let sb = Sandbox::new();
    let p = probe_path(&sb);
    let k = sb.write("k.txt", "conv 20000 5000\nfc 5000 1000\n");
    let k = k.to_str().unwrap();
    let src = sb.write("shim.c", SHIM);
    let shim = sb.path().join("libshim.so");
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&shim)
        .arg(&src)
        .args(["-Wl,--no-as-needed", "-l:libOpenCL.so.1", "-ldl"])
        .output()
        .unwrap();
    assert!(cc.status.success(), "{}", text(&cc.stderr));
    let lib = shim.to_str().unwrap();
    let args = [
        "-f", k, "-n", "t", "-i", "2", "-k", "2", "-d", "opencl", "-s", "deferred",
    ];
    // Through the stand-in, nothing failing: a complete log.
    let (code, log, err, _) = probe(&p, &args, &[("KLO_OPENCL_LIB", lib)]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        klo_spec::ingest::parse_klo(&log).incomplete_reason(2, Some("t")),
        None,
        "{log}"
    );
    // Each failure ends the run (exit 4, said on stderr), never a time.
    for (flag, what) in [
        ("SHIM_FAIL_PROFILING", "clGetEventProfilingInfo"),
        ("SHIM_FAIL_GATE", "clSetUserEventStatus"),
        ("SHIM_FAIL_WRITE", "clEnqueueWriteBuffer"),
    ] {
        let (code, log, err, _) = probe(&p, &args, &[("KLO_OPENCL_LIB", lib), (flag, "1")]);
        assert_eq!(code, Some(4), "{flag}: {err}\n{log}");
        assert!(err.contains(what), "{flag}: {err}");
        assert!(!log.contains("t_ker_us="), "{flag}: no time printed: {log}");
    }
    // A kernel whose work does not fit OpenCL's iteration count.
    let big = sb.write("big.txt", "conv 999999999999 1\n");
    let (code, _, err, _) = probe(
        &p,
        &[
            "-f",
            big.to_str().unwrap(),
            "-n",
            "t",
            "-i",
            "1",
            "-k",
            "1",
            "-d",
            "opencl",
            "-g",
            "1",
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("more than OpenCL's cl_uint holds"), "{err}");
}
