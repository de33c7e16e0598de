//! End-to-end tests of reading results back: `diff` (two folders, git
//! revisions), `show`, `export` and `report` (opened in a real headless
//! Chromium), on result sets written by real runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{ROOT, Sandbox, browser, run_with_peak_rss, text};

const LIGHT: &str =
    "{procs_per_core: 1, t_sleep_us: 1000, inner_iter: 2000, log_iter: 20, cores: all}";

/// A scenario of 4 cells whose benchmark's times scale with the number in
/// `scale.txt` (see fixtures/scaled-bench.sh).
fn scaled(sb: &Sandbox, load: &str) -> PathBuf {
    std::fs::copy(
        Path::new(ROOT).join("tests/fixtures/scaled-bench.sh"),
        sb.path().join("scaled-bench.sh"),
    )
    .unwrap();
    if !sb.path().join("scale.txt").exists() {
        sb.write("scale.txt", "10\n");
    }
    let scale = sb.path().join("scale.txt");
    sb.write(
        "s.yaml",
        &format!(
            "name: sc\nbenchmark:\n  command:\n    run: sh scaled-bench.sh {{{{ iterations }}}} {{{{ network }}}} {}\n    push: [scaled-bench.sh]\n\
             networks: [net1]\niterations: 11\nload_settle_ms: 100\nrounds: 3\nloads:\n  light: {load}\n\
             matrix:\n  load: [none, light]\n  strategy: [default, {{fixed: 4}}]\n\
             checks:\n  - {{id: C1, title: t, metric: latency, kind: lower, a: {{strategy: {{fixed: 4}}}}, b: {{strategy: default}}}}\n",
            scale.display()
        ),
    )
}

fn run_ok(sb: &Sandbox, args: &[&str]) -> Output {
    let out = sb.run(args);
    assert!(
        out.status.success(),
        "klo-spec {args:?}: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    out
}

/// The rows of a `diff --format json` whose mark is `mark`: (id, metric).
fn marked(json: &serde_json::Value, mark: &str) -> Vec<(String, String)> {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["mark"] == mark)
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["metric"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn diff_json(sb: &Sandbox, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = sb.run(&all);
    let code = out.status.code().unwrap();
    assert!(code == 0 || code == 1, "{all:?}: {}", text(&out.stderr));
    (code, serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn a_changed_load_marks_its_cells_and_nothing_else() {
    let sb = Sandbox::new();
    scaled(&sb, LIGHT);
    run_ok(&sb, &["run", "s.yaml", "--quiet", "--output-dir", "a"]);
    scaled(&sb, &LIGHT.replace("inner_iter: 2000", "inner_iter: 3000"));
    run_ok(&sb, &["run", "s.yaml", "--quiet", "--output-dir", "b"]);

    let (code, j) = diff_json(&sb, &["a/sc", "b/sc"]);
    assert_eq!(code, 0, "nothing got worse: {j:#}");
    let changed = marked(&j, "not comparable");
    assert_eq!(changed.len(), 2 * 5, "{changed:?}");
    assert!(
        changed.iter().all(|(id, _)| id.starts_with("local/light/")),
        "{changed:?}"
    );
    let same = marked(&j, "unchanged");
    assert_eq!(same.len(), 2 * 5);
    assert!(
        same.iter().all(|(id, _)| id.starts_with("local/none/")),
        "{same:?}"
    );
    assert_eq!(j["cells"]["not comparable"], 2);
    assert_eq!(j["cells"]["unchanged"], 2);
    // Both sides have 3 rounds: their per-round figures were tested.
    let basis: Vec<&str> = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["id"].as_str().unwrap().starts_with("local/none/") && r["metric"] == "latency"
        })
        .map(|r| r["basis"].as_str().unwrap())
        .collect();
    assert_eq!(basis, ["welch over rounds", "welch over rounds"]);

    // A result set against itself: no change, exit 0.
    let same = sb.run(&["diff", "a/sc", "a/sc"]);
    assert_eq!(same.status.code(), Some(0));
    let out = text(&same.stdout);
    assert!(
        out.contains("4 cells: 0 worse, 0 better, 4 unchanged, 0 new, 0 gone, 0 not comparable"),
        "{out}"
    );
    assert!(out.contains("checklist verdicts: none flipped"), "{out}");
    assert!(!out.contains('\x1b'), "no colour when piped");
}

#[test]
fn slower_results_are_worse_and_the_exit_code_says_so() {
    let sb = Sandbox::new();
    scaled(&sb, LIGHT);
    run_ok(&sb, &["run", "s.yaml", "--quiet", "--output-dir", "a"]);
    sb.write("scale.txt", "13\n");
    run_ok(&sb, &["run", "s.yaml", "--quiet", "--output-dir", "b"]);

    let (code, j) = diff_json(&sb, &["a/sc", "b/sc"]);
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["worse"], true);
    let worse = marked(&j, "worse");
    assert_eq!(
        worse.len(),
        4 * 2,
        "latency and T_prod of every cell: {worse:?}"
    );
    assert!(worse.iter().all(|(_, m)| m == "latency" || m == "t_prod"));
    let faster = sb.run(&[
        "diff",
        "b/sc",
        "a/sc",
        "--only-changed",
        "--metric",
        "latency",
    ]);
    assert_eq!(faster.status.code(), Some(0), "better is not worse");
    let out = text(&faster.stdout);
    assert_eq!(out.matches(" better ").count(), 4, "{out}");
    assert!(!out.contains("unchanged  "), "--only-changed: {out}");

    let md = run_ok(&sb, &["diff", "a/sc", "a/sc", "--format", "md"]);
    assert!(text(&md.stdout).starts_with("# klo-spec diff\n"));
    let bad = sb.run(&["diff", "a/sc"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("diff needs two result sets"),
        "{}",
        text(&bad.stderr)
    );
    let bad = sb.run(&["diff", "a/sc", "nowhere"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = sb.run(&["diff", "a/sc", "b/sc", "--alpha", "2"]);
    assert_eq!(bad.status.code(), Some(2));
}

fn git(sb: &Sandbox, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(sb.path())
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

#[test]
fn diff_rev_reads_committed_tables_without_a_checkout() {
    let sb = Sandbox::new();
    git(&sb, &["init", "-q"]);
    sb.write(
        ".gitignore",
        "/outputs/*/cells/\n/outputs/*/.lock\nboard/\n",
    );
    scaled(&sb, LIGHT);
    run_ok(&sb, &["run", "s.yaml", "--quiet"]);
    git(&sb, &["add", "-A"]);
    git(&sb, &["commit", "-qm", "first run"]);
    sb.write("scale.txt", "13\n");
    run_ok(&sb, &["run", "s.yaml", "--quiet", "--force"]);
    git(&sb, &["add", "-A"]);
    git(&sb, &["commit", "-qm", "second run"]);

    let (code, j) = diff_json(&sb, &["outputs/sc", "--rev", "HEAD~1", "--rev", "HEAD"]);
    assert_eq!(code, 1, "{j:#}");
    assert!(
        j["old"]
            .as_str()
            .unwrap()
            .starts_with("outputs/sc@HEAD~1 ("),
        "{}",
        j["old"]
    );
    let rows = j["rows"].as_array().unwrap();
    let latency: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["metric"] == "latency")
        .map(|r| (r["mark"].as_str().unwrap(), r["basis"].as_str().unwrap()))
        .collect();
    assert_eq!(
        latency,
        vec![("worse", "welch over rounds"); 4],
        "the committed rounds.csv decides: {rows:?}"
    );
    let t_prod = rows.iter().find(|r| r["metric"] == "t_prod").unwrap();
    assert_eq!(
        (t_prod["mark"].as_str(), t_prod["basis"].as_str()),
        (Some("worse"), Some("welch over rounds"))
    );

    // Against the working tree (the same tables as HEAD): no change.
    let (code, j) = diff_json(&sb, &["outputs/sc", "--rev", "HEAD"]);
    assert_eq!(
        (code, &j["cells"]["unchanged"]),
        (0, &serde_json::json!(4)),
        "{j:#}"
    );
    // The working tree is not touched, and show reads a revision too.
    let old = run_ok(
        &sb,
        &[
            "show",
            "outputs/sc",
            "--rev",
            "HEAD~1",
            "-c",
            "id,latency_mean_us",
            "--format",
            "csv",
        ],
    );
    let csv = text(&old.stdout);
    assert!(csv.starts_with("id,latency_mean_us\n"), "{csv}");
    assert!(
        csv.contains(",1020.0\n"),
        "the first run's mean latency: {csv}"
    );
    assert!(
        std::fs::read_to_string(sb.out("sc").join("summary.csv"))
            .unwrap()
            .contains(",1326.0,")
    );

    let bad = sb.run(&["diff", "outputs/sc", "--rev", "no-such-rev"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("unknown revision `no-such-rev`"),
        "{}",
        text(&bad.stderr)
    );
    let bad = sb.run(&[
        "export",
        "outputs/sc",
        "--rev",
        "HEAD",
        "--table",
        "kernels",
    ]);
    assert_eq!(bad.status.code(), Some(2), "frames need the raw cells");
}

#[test]
fn show_colours_verdicts_on_a_terminal_only() {
    let sb = Sandbox::new();
    scaled(&sb, LIGHT);
    run_ok(&sb, &["run", "s.yaml", "--quiet"]);
    let piped = run_ok(&sb, &["show", "outputs/sc", "checklist"]);
    let plain = text(&piped.stdout);
    assert!(
        plain.contains("verdict") && !plain.contains('\x1b'),
        "{plain}"
    );
    // fixed-4 and default run the same deterministic benchmark: shown
    // equivalent, so "fixed-4 is lower" fails.
    assert!(plain.contains("FAIL"), "{plain}");

    // Under a pseudo-terminal (util-linux `script`), the same command
    // colours its verdicts and statuses.
    let cmd = format!(
        "{} show outputs/sc checklist; {} show outputs/sc",
        common::BIN,
        common::BIN
    );
    let tty = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(sb.path())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let coloured = text(&tty.stdout);
    assert!(
        coloured.contains("\x1b[38;5;9mFAIL\x1b[39m"),
        "{coloured:?}"
    );
    assert!(coloured.contains("\x1b[38;5;10mok\x1b[39m"), "{coloured:?}");

    let all = run_ok(&sb, &["show", "outputs/sc", "--all"]);
    assert!(text(&all.stdout).contains("hash"));
    let json = run_ok(&sb, &["show", "outputs/sc", "sweeps", "--format", "json"]);
    assert_eq!(text(&json.stdout), "[]\n", "no sweeps in this scenario");
    let bad = sb.run(&["show", "outputs/sc", "-c", "latncy_mean_us"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("did you mean `latency_mean_us`?"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn export_writes_every_format_and_the_same_bytes_twice() {
    let sb = Sandbox::new();
    scaled(&sb, LIGHT);
    run_ok(&sb, &["run", "s.yaml", "--quiet"]);
    let out = run_ok(&sb, &["export", "outputs/sc", "-o", "x"]);
    let listed: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    let mut names: Vec<String> = listed
        .iter()
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "checklist.csv",
            "checklist.json",
            "checklist.md",
            "inferences.parquet",
            "kernels.parquet",
            "kstrategy.csv",
            "kstrategy.json",
            "kstrategy.md",
            "summary.csv",
            "summary.json",
            "summary.md",
            "sweeps.csv",
            "sweeps.json",
            "sweeps.md"
        ]
    );
    let read = |dir: &str| -> Vec<Vec<u8>> {
        names
            .iter()
            .map(|n| std::fs::read(sb.path().join(dir).join(n)).unwrap())
            .collect()
    };
    run_ok(&sb, &["export", "outputs/sc", "-o", "y"]);
    assert_eq!(read("x"), read("y"), "same inputs, same bytes");
    assert_eq!(
        std::fs::read(sb.path().join("x/summary.csv")).unwrap(),
        std::fs::read(sb.out("sc").join("summary.csv")).unwrap()
    );
    let kernels = std::fs::read(sb.path().join("x/kernels.parquet")).unwrap();
    assert_eq!(&kernels[..4], b"PAR1");
    let csv = run_ok(
        &sb,
        &[
            "export",
            "outputs/sc",
            "-t",
            "kernels",
            "-f",
            "csv",
            "-o",
            "z",
        ],
    );
    let k = std::fs::read_to_string(sb.path().join(text(&csv.stdout).trim())).unwrap();
    assert!(
        k.starts_with("cell,round,iter,kernel,first,name,t_prod_us,"),
        "{k}"
    );
    assert_eq!(
        k.lines().count(),
        1 + 4 * 3 * 11 * 4,
        "4 cells x 3 rounds x 11 inferences x 4 kernels"
    );
    let bad = sb.run(&["export", "outputs/sc", "-t", "summary", "-f", "parquet"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
}

#[test]
fn the_report_opens_in_a_real_browser_with_no_console_errors() {
    let sb = Sandbox::new();
    sb.write(
        "p.yaml",
        &format!(
            "name: pr\ndescription: a <b>probe</b> & a sweep\nnetworks: [tiny]\niterations: 4\nload_settle_ms: 100\n\
             benchmark: {{probe: {{device: thread, submit: deferred}}}}\nloads:\n  light: {LIGHT}\n\
             matrix:\n  load: [none, light]\n  strategy: [default, {{fixed: 4}}, {{sweep: {{k: [1, 2, 4, 8]}}}}]\n\
             checks:\n  - {{id: C1, title: t, metric: t_prod, kind: higher, a: {{load: light}}, b: {{load: none}}}}\n"
        ),
    );
    run_ok(&sb, &["run", "p.yaml", "--quiet"]);
    let out = run_ok(&sb, &["report", "outputs/pr"]);
    let written = text(&out.stdout);
    for f in [
        "plots/tprod.svg",
        "plots/sweep.svg",
        "plots/speedup.svg",
        "plots/kernels.svg",
        "report.html",
        "report.md",
    ] {
        assert!(written.contains(f), "{f}: {written}");
    }
    let html_path = sb.out("pr").join("report.html");
    let html = std::fs::read(&html_path).unwrap();
    run_ok(&sb, &["report", "outputs/pr"]);
    assert_eq!(
        std::fs::read(&html_path).unwrap(),
        html,
        "same inputs, same page"
    );
    let md = std::fs::read_to_string(sb.out("pr").join("report.md")).unwrap();
    assert!(md.contains("](plots/kernels.svg)"), "{md}");

    if std::env::var_os("KLO_SPEC_TEST_BROWSER").is_none() {
        eprintln!(
            "skipped the browser: set KLO_SPEC_TEST_BROWSER=1 where Debian's chromium is installed; tests/run.sh does"
        );
        return;
    }
    // The error detector works: a script error and a missing image are
    // reported.
    let bad = sb.write(
        "bad.html",
        "<html><body><script>noSuchFunction()</script><img src=\"missing.png\"></body></html>",
    );
    let page = browser::open(&bad, 800);
    assert!(page.errors.len() >= 2, "{:?}", page.errors);

    let page = browser::open(&html_path, 1280);
    assert!(page.errors.is_empty(), "console errors: {:?}", page.errors);
    let ids: Vec<&str> = page.plots.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "plot-tprod",
            "plot-sweep",
            "plot-speedup",
            "plot-kernels",
            "plot-timeline"
        ]
    );
    for (id, w, h, shapes) in &page.plots {
        assert!(*w > 600.0 && *h > 300.0, "{id} is laid out at {w} x {h}");
        assert!(*shapes > 50, "{id} draws only {shapes} shapes");
    }
    assert_eq!(&page.screenshot[1..4], b"PNG");
    assert!(
        page.screenshot.len() > 100_000,
        "{} bytes",
        page.screenshot.len()
    );
    let shot = std::env::var_os("KLO_SPEC_TEST_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| sb.path().join("report.png"));
    std::fs::write(&shot, &page.screenshot).unwrap();
}

#[test]
fn a_log_of_two_million_records_is_run_reported_and_exported_in_bounded_memory() {
    // One cell of two inferences of a million kernels each: a log of about
    // 200 MB (a benchmark gone wild, or a board that sends what it likes).
    // Before, klo-spec held a log whole while it judged and analyzed it
    // (about its size), six times its size in `report`, and drew a point
    // per kernel (an SVG of hundreds of MB). Now every command holds what
    // its digest or chunk holds, whatever the log's size.
    const KERNELS: u32 = 1_000_000;
    // A debug build (the tests') peaks at 90-140 MiB here; before, `run`
    // held about the log (over 230 MiB) and `report` six times it.
    const PEAK: u64 = 160 << 20;
    let sb = Sandbox::new();
    sb.write(
        "big.yaml",
        &format!(
            "name: big\nbenchmark:\n  command:\n    run: >-\n      awk 'BEGIN {{ for (it = 0; it < 2; it++) {{ for (k = 0; k < {KERNELS}; k++) printf \"KLO v1 net=n1 iter=%d kernel=%d name=c%d t_prod_us=%d.25 t_ker_us=2.5 t_idle_us=%s flush=0 k=1\\n\", it, k, k % 7, 1 + k % 3, (k ? \"0.5\" : \"nan\"); printf \"KLO v1 net=n1 iter=%d latency_us=%d.0 flushes=1 k_mean=1.00\\n\", it, 1000 + it }}; print \"KLO v1 end iters=2\" }}'\n\
             networks: [n1]\niterations: 2\ntimeout_s: 600\n"
        ),
    );
    let measured = |args: &[&str]| {
        let (out, peak) = run_with_peak_rss(&mut sb.command(args));
        assert!(
            out.status.success(),
            "klo-spec {args:?}: {}\n{}",
            text(&out.stderr),
            text(&out.stdout)
        );
        assert!(
            peak < PEAK,
            "klo-spec {args:?} peaked at {} MiB",
            peak >> 20
        );
        out
    };
    measured(&["run", "big.yaml", "--quiet"]);
    let log = sb
        .out("big")
        .join("cells/local/none/cpu-current/gpu-current/n1/default/r1/bench.log");
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size > 180_000_000, "the log holds {size} bytes");
    let rows = common::csv_rows(&sb.out("big").join("summary.csv"));
    let c = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    assert_eq!(rows[1][c("status")], "ok");
    assert_eq!(rows[1][c("latency_mean_us")], "1001.0");
    // T_prod over every kernel but the first: 1.25, 2.25, 3.25 in turn.
    assert_eq!(rows[1][c("t_prod_mean_us")], "2.25");

    measured(&["report", "outputs/big"]);
    let svg = std::fs::read_to_string(sb.out("big").join("plots/kernels.svg")).unwrap();
    assert!(
        svg.len() < 400_000,
        "the kernels plot has {} bytes",
        svg.len()
    );
    let md = std::fs::read_to_string(sb.out("big").join("report.md")).unwrap();
    assert!(
        md.contains("The cell has 1000000 kernel positions and a plot draws at most 1000 points per series: each point is the mean over 1024 neighbouring kernel indexes"),
        "{md}"
    );

    let out = measured(&[
        "export",
        "outputs/big",
        "-t",
        "kernels",
        "-t",
        "inferences",
        "-f",
        "csv",
        "-f",
        "parquet",
        "-o",
        "x",
    ]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        4,
        "{}",
        text(&out.stdout)
    );
    let kernels = std::fs::File::open(sb.path().join("x/kernels.csv")).unwrap();
    use std::io::BufRead as _;
    let lines = std::io::BufReader::new(kernels).lines().count();
    assert_eq!(lines, 1 + 2 * KERNELS as usize, "every record, a header");
    let inferences = std::fs::read_to_string(sb.path().join("x/inferences.csv")).unwrap();
    assert_eq!(inferences.lines().count(), 3, "{inferences}");
    let parquet = std::fs::read(sb.path().join("x/kernels.parquet")).unwrap();
    assert_eq!(&parquet[..4], b"PAR1");

    // `show` prints a frame's first rows and says how many it left out.
    let (out, peak) = run_with_peak_rss(&mut sb.command(&[
        "show",
        "outputs/big",
        "inferences",
        "--format",
        "csv",
    ]));
    assert!(out.status.success() && peak < PEAK, "{}", text(&out.stderr));
    let (out, peak) =
        run_with_peak_rss(&mut sb.command(&["show", "outputs/big", "kernels", "--format", "csv"]));
    assert!(
        out.status.success() && peak < PEAK,
        "{} MiB: {}",
        peak >> 20,
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).lines().count(), 1 + 20_000);
    assert!(
        text(&out.stderr)
            .contains("the first 20000 rows of the kernels frame are shown, 1980000 more are not"),
        "{}",
        text(&out.stderr)
    );
}
