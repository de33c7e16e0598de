//! Scale of planning (issue 8, item 4): expanding and validating a
//! 100,000-cell matrix, and resuming a run folder of 10,000 finished cells
//! (deciding which cells to skip), each against a baseline measured in the
//! same invocation:
//!
//! - plan: `scenario::load` (parse, validate) + `run::prepare` (expand,
//!   check against the board, hash), as `klo-spec plan` and `run` do, for
//!   100,000 cells and for the same scenario with 10x fewer networks
//!   (10,000 cells): the ratio of the two shows whether the cost is linear;
//! - resume: `run::select::Resume::plan` (what `klo-spec run` prints and
//!   runs: done, missing, changed, failed) over 10,000 finished cells on disk
//!   (one round each, `cells/<id>/r1/cell.json`),
//!   against reading their 10,000 `cell.json` files raw (no parsing), the
//!   floor any resume has to pay.
//!
//! - memory: the peak resident memory of `klo-spec plan` on a plan of
//!   999,000 cells (just under the 1,000,000 cells any scenario may
//!   expand to), against the same command on 10,000 cells.
//!
//! Run: `cargo bench --bench planning` (or `just bench`). Goal: each time
//! under 1 s; the largest plan within [`PLAN_BUDGET`] of memory.

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use klo_spec::record::{CellRecord, LoadCounts, Status};
use klo_spec::run::{self, Prepared};

/// A scenario of `5 loads x networks x 20 strategy cells` on `local`: the
/// probe (its networks' kernel lists are hashed), loads, a sweep, LUT
/// strategies that look their profile cell up, a search, and a check.
fn scenario_text(networks: usize) -> String {
    let mut s = String::from(
        "name: plan_scale\nboards: [local]\nbenchmark:\n  probe: {device: thread}\niterations: 6\nmax_cells: 1000000\n",
    );
    s.push_str("networks: [");
    for i in 0..networks {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "synth-20-{}-2000", 1000 + i);
    }
    s.push_str("]\nloads:\n  none: null\n");
    for l in 1..=4 {
        let _ = writeln!(
            s,
            "  l{l}: {{procs_per_core: {l}, t_sleep_us: 1000, inner_iter: 100000, log_iter: 20, cores: all}}"
        );
    }
    s.push_str(
        "lut:\n  file: lut-{board}.csv\n  build_with: lut.yaml\n\
         matrix:\n  load: [none, l1, l2, l3, l4]\n  strategy:\n    - default\n    - {fixed: 2}\n\
         \x20   - {sweep: {k: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]}}\n\
         \x20   - {constant: {profile: baseline}}\n    - {search: {k_max: 32}}\n\
         checks:\n  - {id: C1, title: load raises T_prod, metric: t_prod, kind: higher, a: {load: l4}, b: {load: none}}\n",
    );
    s
}

/// The memory budget of planning the largest plan the caps allow.
const PLAN_BUDGET: u64 = 2 << 30;

fn write_scenario(dir: &Path, networks: usize) -> std::path::PathBuf {
    std::fs::write(
        dir.join("lut.yaml"),
        "name: lut\nboards: [local]\nnetworks: [tiny]\nmatrix:\n  strategy: [{sweep: {k: [1, 2]}}]\n",
    )
    .unwrap();
    let f = dir.join(format!("plan-{networks}.yaml"));
    std::fs::write(&f, scenario_text(networks)).unwrap();
    f
}

fn plan(file: &Path) -> Prepared {
    let s = klo_spec::scenario::load(file).unwrap_or_else(|e| panic!("{e}"));
    run::prepare(s, None, None).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The best of `n` timings of `f` (seconds) and its last result.
fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..n {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    (best, last.expect("n > 0"))
}

/// A finished cell's record as a run writes it (two CPUs, a device).
fn record(c: &klo_spec::matrix::Cell) -> CellRecord {
    CellRecord {
        id: c.id.clone(),
        hash: c.hash.clone(),
        status: Status::Ok,
        reason: None,
        board: c.coord.board.clone(),
        k: c.k,
        iterations: c.iterations,
        started_at: "2026-01-01T00:00:00Z".into(),
        wall_s: 1.25,
        bench_exit: Some(0),
        script_exit: Some(0),
        signal: None,
        loads: LoadCounts {
            started: 2,
            alive_before: Some(2),
            alive_after: Some(2),
            left_after_cleanup: Some(0),
            cores: vec![0, 1],
        },
        leftovers_killed_by_runner: 0,
        cpu_util_pct: Some(97.5),
        cpu_util_per_cpu: [("cpu0".to_string(), 97.0), ("cpu1".to_string(), 98.0)].into(),
        device: Some("thread".into()),
        device_info: [("device".to_string(), "thread".to_string())].into(),
        round_trips: 1,
        pins: Default::default(),
        freq_before: Default::default(),
        freq_after: Default::default(),
        cores_onlined: vec![],
        daemons_stopped: vec![],
        stale_state_restored: false,
        k_choice: None,
        attempt: 1,
        earlier_attempts: vec![],
        search: None,
        log_dir: None,
        round: Some(1),
        position: Some(0),
        seed: Some(1),
        overlapped: vec![],
        foreign_cpu_pct: Some(0.5),
        regime: None,
        thermal: None,
        samples: None,
        klo_spec_version: env!("CARGO_PKG_VERSION").into(),
    }
}

fn main() {
    println!("{}", common::machine());
    let tmp = tempfile::tempdir().expect("a temporary folder");
    // Board readings and helper builds are cached per user: keep them in
    // the bench's own folder so that the bench runs the same anywhere.
    // SAFETY: set before any thread starts.
    unsafe { std::env::set_var("KLO_SPEC_CACHE", tmp.path().join("cache")) };

    // Plan: 100,000 cells against 10,000. The first call reads the board
    // once (then cached), so each size is timed best of 3.
    let big = write_scenario(tmp.path(), 1000);
    let small = write_scenario(tmp.path(), 100);
    let _ = plan(&small);
    let (t_small, p_small) = best_of(3, || plan(&small));
    let (t_big, p_big) = best_of(3, || plan(&big));
    assert_eq!(p_small.cells.len(), 10_000);
    assert_eq!(p_big.cells.len(), 100_000);
    println!(
        "plan (load + validate + expand + hash), best of 3: {} cells {:.3} s; {} cells {:.3} s; \
         ratio {:.1}x for 10x the cells (linear: 10x)  goal < 1 s: {}",
        p_big.cells.len(),
        t_big,
        p_small.cells.len(),
        t_small,
        t_big / t_small,
        if t_big < 1.0 { "met" } else { "MISSED" }
    );
    drop(p_big);

    // Resume: a run folder whose 10,000 cells all finished.
    let out = tmp.path().join("outputs");
    let out_dir = run::output_dir(&out, &p_small.scenario);
    let t = Instant::now();
    for c in &p_small.cells {
        let dir = klo_spec::layout::ResultDir::new(&out_dir).run(&c.id, 1);
        std::fs::create_dir_all(&dir).unwrap();
        let json = serde_json::to_string_pretty(&record(c)).unwrap();
        std::fs::write(klo_spec::layout::cell_json(&dir), json + "\n").unwrap();
    }
    eprintln!(
        "bench: wrote 10,000 cell.json in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let raw = || {
        p_small
            .cells
            .iter()
            .map(|c| {
                std::fs::read(klo_spec::layout::cell_json(
                    &klo_spec::layout::ResultDir::new(&out_dir).run(&c.id, 1),
                ))
                .map(|b| b.len())
                .unwrap_or(0)
            })
            .sum::<usize>()
    };
    let _ = raw();
    let (t_raw, bytes) = best_of(3, raw);
    let all = vec![true; p_small.cells.len()];
    let (t_resume, pending) = best_of(3, || {
        run::select::Resume::plan(&p_small.cells, 1, &out_dir, &all, false, false)
    });
    assert_eq!(pending.to_run.len(), 0, "every cell is done");
    assert_eq!(pending.done, 10_000);
    println!(
        "resume (decide what to skip), best of 3: {} finished cells {:.3} s; reading their cell.json raw \
         ({:.1} MB) {:.3} s; ratio {:.1}x  goal < 1 s: {}",
        pending.done,
        t_resume,
        bytes as f64 / 1e6,
        t_raw,
        t_resume / t_raw,
        if t_resume < 1.0 { "met" } else { "MISSED" }
    );

    // Memory: `klo-spec plan` as a user runs it, 999,000 cells against
    // 10,000 (the same board reading, cached above).
    let huge = write_scenario(tmp.path(), 9_990);
    let plan_cmd = |file: &Path| {
        let m = common::measure(
            std::process::Command::new(common::klo_spec())
                .arg("plan")
                .arg(file)
                .env("KLO_SPEC_CACHE", tmp.path().join("cache")),
        );
        assert!(m.ok, "klo-spec plan {}: {}", file.display(), m.stderr);
        m
    };
    let m_small = plan_cmd(&small);
    let m_huge = plan_cmd(&huge);
    assert!(
        m_huge.stdout.len() > m_small.stdout.len() * 50,
        "the big plan printed its cells"
    );
    println!(
        "klo-spec plan, peak resident memory: 999,000 cells {:.0} MiB in {:.1} s; \
         10,000 cells {:.0} MiB in {:.2} s; ratio {:.1}x  budget {:.0} MiB: {}",
        common::mib(m_huge.max_rss),
        m_huge.wall.as_secs_f64(),
        common::mib(m_small.max_rss),
        m_small.wall.as_secs_f64(),
        m_huge.max_rss as f64 / m_small.max_rss as f64,
        common::mib(PLAN_BUDGET),
        if m_huge.max_rss < PLAN_BUDGET {
            "met"
        } else {
            "MISSED"
        }
    );
}
