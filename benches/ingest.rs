//! Log ingest (issue 8, item 2): a synthetic campaign of 500 cells, each of
//! 100 inferences of 200 kernels (10 million kernel lines in the log
//! contract, about 1 GB), generated into a temporary folder as a result set
//! that `klo-spec analyze` reads: every cell's `cell.json` (status ok, the
//! cell's hash) and `bench.log`. Timed, each in its own process, with its
//! peak resident memory (`wait4`):
//!
//! - klo-spec: `klo-spec analyze` (parse every log, the polars frames, the
//!   per-cell statistics, checks, tables written), median of 3;
//! - (a) `benches/ingest_pandas.py`: pandas and regular expressions over the
//!   same logs, one summary row per cell (the lab's kind of script), once;
//! - (b) polars' own CSV reader (the Rust crate klo-spec links, same
//!   version) reading the same records as two CSV files (kernels,
//!   inferences), median of 3: the practical ceiling.
//!
//! Goals: at least 10x the pandas script, at least half the speed of the
//! CSV read, peak memory below 2x the logs' size. The files are in the page
//! cache for every side (just written). The summaries of klo-spec and pandas
//! are compared, so both did the same work.
//!
//! Then the peak resident memory of `klo-spec report` and of `klo-spec
//! export` (both frames, Parquet) on the same campaign, once each.
//!
//! Run: `cargo bench --bench ingest` (or `just bench`). `KLO_BENCH_INGEST_CELLS`
//! scales the campaign (default 500 cells), `KLO_BENCH_INGEST_ITERS` and
//! `KLO_BENCH_INGEST_KERNELS` the log of each (default 100 inferences of
//! 200 kernels: 20,000 kernel lines); `KLO_BENCH_INGEST_DIR=DIR` generates
//! it there and keeps it. `KLO_BENCH_INGEST_BIN` runs another klo-spec
//! binary (an earlier build, for a before-and-after).

mod common;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{measure, median, mib};
use rayon::prelude::*;

/// Inferences and kernels per inference of each cell's log.
fn shape() -> (u32, u32) {
    let var = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        var("KLO_BENCH_INGEST_ITERS", 100),
        var("KLO_BENCH_INGEST_KERNELS", 200),
    )
}
const NAMES: [&str; 6] = [
    "conv2d_3x3",
    "dwconv_3x3",
    "conv2d_1x1",
    "maxpool_2x2",
    "fc",
    "softmax",
];

/// A reproducible uniform number in [0, 1) for (cell, iter, kernel, which).
fn unit(cell: u64, iter: u64, kernel: u64, which: u64) -> f64 {
    let mut z = cell
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(iter.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(kernel.wrapping_mul(0x94D0_49BB_1331_11EB))
        .wrapping_add(which);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// One cell's log, and its records as CSV rows (kernels, inferences).
fn cell_texts(index: u32, net: &str) -> (String, String, String) {
    let (iters, kernels) = shape();
    let c = index as u64;
    let k_flush = 1u32 << (index % 6);
    let records = iters as usize * kernels as usize;
    let mut log = String::with_capacity(records * 110);
    let mut kcsv = String::with_capacity(records * 70);
    let mut icsv = String::new();
    let _ = writeln!(
        log,
        "KLO v1 info probe=1 device=thread submit=deferred net={net} kernels={kernels} iters={iters} k={k_flush}"
    );
    for it in 0..iters {
        let mut latency = 0.0;
        let mut flushes = 0;
        for kn in 0..kernels {
            let (i, k) = (it as u64, kn as u64);
            let base_prod = 5.0 + 95.0 * unit(c, 0, k, 1);
            let base_ker = 10.0 + 390.0 * unit(c, 0, k, 2);
            let prod = base_prod * (0.8 + 0.4 * unit(c, i, k, 3));
            let ker = base_ker * (0.9 + 0.2 * unit(c, i, k, 4));
            let flush = (kn + 1) % k_flush == 0 || kn + 1 == kernels;
            flushes += flush as u32;
            latency += prod.max(ker);
            let name = NAMES[(kn as usize) % NAMES.len()];
            let (idle_log, idle_csv) = if kn == 0 {
                ("nan".to_string(), String::new())
            } else {
                let v = format!("{:.2}", 20.0 * unit(c, i, k, 5));
                (v.clone(), v)
            };
            let _ = writeln!(
                log,
                "KLO v1 net={net} iter={it} kernel={kn} name={name} t_prod_us={prod:.2} t_ker_us={ker:.2} t_idle_us={idle_log} flush={} k={k_flush}",
                flush as u8
            );
            let _ = writeln!(
                kcsv,
                "{index},{it},{kn},{name},{prod:.2},{ker:.2},{idle_csv},{},{k_flush}",
                flush as u8
            );
        }
        let k_mean = kernels as f64 / flushes as f64;
        let _ = writeln!(
            log,
            "KLO v1 net={net} iter={it} latency_us={latency:.1} flushes={flushes} k_mean={k_mean:.2}"
        );
        let _ = writeln!(icsv, "{index},{it},{latency:.1},{flushes},{k_mean:.2}");
    }
    let _ = writeln!(log, "KLO v1 end iters={iters}");
    (log, kcsv, icsv)
}

struct Campaign {
    scenario: PathBuf,
    outputs: PathBuf,
    cells_dir: PathBuf,
    kernels_csv: PathBuf,
    inferences_csv: PathBuf,
    log_bytes: u64,
    csv_bytes: u64,
    kernel_lines: u64,
}

fn generate(dir: &Path, n_cells: usize) -> Campaign {
    let (iters, kernels) = shape();
    let nets: Vec<String> = (0..n_cells).map(|i| format!("n{i:04}")).collect();
    let scenario = dir.join("campaign.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: campaign\nboards: [local]\nbenchmark:\n  command:\n    run: ./bench --net {{{{ network }}}} --k {{{{ k }}}}\niterations: {iters}\nrounds: 1\norder: plan\nmax_cells: 1000000\nnetworks: [{}]\n",
            nets.join(", ")
        ),
    )
    .unwrap();
    let s = klo_spec::scenario::load(&scenario).unwrap_or_else(|e| panic!("{e}"));
    let p = klo_spec::run::prepare(s, None, None).unwrap_or_else(|e| panic!("{e:#}"));
    let outputs = dir.join("outputs");
    let out_dir = klo_spec::run::output_dir(&outputs, &p.scenario);
    let kernels_csv = dir.join("kernels.csv");
    let inferences_csv = dir.join("inferences.csv");
    let mut kf = std::io::BufWriter::new(std::fs::File::create(&kernels_csv).unwrap());
    let mut inf = std::io::BufWriter::new(std::fs::File::create(&inferences_csv).unwrap());
    writeln!(
        kf,
        "cell,iter,kernel,name,t_prod_us,t_ker_us,t_idle_us,flush,k"
    )
    .unwrap();
    writeln!(inf, "cell,iter,latency_us,flushes,k_mean").unwrap();
    let mut log_bytes = 0u64;
    // In batches, so that at most a batch of texts is in memory.
    for batch in p.cells.chunks(16).enumerate().collect::<Vec<_>>() {
        let (b, cells) = batch;
        let texts: Vec<(String, String, String)> = cells
            .par_iter()
            .enumerate()
            .map(|(j, c)| {
                let index = (b * 16 + j) as u32;
                let texts = cell_texts(index, &c.coord.network);
                // Round 1 of the cell (`cells/<id>/r1/`).
                let dir = klo_spec::layout::ResultDir::new(&out_dir).run(&c.id, 1);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(klo_spec::layout::bench_log(&dir), &texts.0).unwrap();
                let record = serde_json::json!({
                    "id": c.id, "hash": c.hash, "status": "ok", "reason": null,
                    "board": "local", "k": c.k, "iterations": c.iterations,
                    "started_at": "2026-01-01T00:00:00Z", "wall_s": 2.0,
                    "bench_exit": 0, "script_exit": 0, "signal": null,
                    "loads": {"started": 0, "alive_before": null, "alive_after": null, "left_after_cleanup": 0, "cores": []},
                    "leftovers_killed_by_runner": 0, "cpu_util_pct": 55.0,
                    "cpu_util_per_cpu": {"cpu0": 50.0, "cpu1": 60.0},
                    "device": "thread", "device_info": {"device": "thread"},
                    "round_trips": 1, "round": 1, "position": index,
                    "klo_spec_version": env!("CARGO_PKG_VERSION"),
                });
                std::fs::write(klo_spec::layout::cell_json(&dir), record.to_string()).unwrap();
                texts
            })
            .collect();
        for (log, kcsv, icsv) in texts {
            log_bytes += log.len() as u64;
            kf.write_all(kcsv.as_bytes()).unwrap();
            inf.write_all(icsv.as_bytes()).unwrap();
        }
    }
    kf.flush().unwrap();
    inf.flush().unwrap();
    drop((kf, inf));
    let csv_bytes = std::fs::metadata(&kernels_csv).unwrap().len()
        + std::fs::metadata(&inferences_csv).unwrap().len();
    Campaign {
        scenario,
        cells_dir: out_dir.join("cells"),
        outputs,
        kernels_csv,
        inferences_csv,
        log_bytes,
        csv_bytes,
        kernel_lines: n_cells as u64 * iters as u64 * kernels as u64,
    }
}

/// `--read-csv KERNELS INFERENCES`: the CSV side, in its own process.
fn read_csv(kernels: &str, inferences: &str) {
    use polars::prelude::*;
    let read = |path: &str| {
        CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(path.into()))
            .and_then(|r| r.finish())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let k = read(kernels);
    let i = read(inferences);
    println!("{} {}", k.height(), i.height());
}

/// Mean latency per cell id from a summary CSV with `id` and
/// `latency_mean_us` columns.
fn latency_means(path: &Path) -> std::collections::BTreeMap<String, f64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let id = header.iter().position(|h| *h == "id");
    let lat = header.iter().position(|h| *h == "latency_mean_us");
    let (Some(id), Some(lat)) = (id, lat) else {
        return Default::default();
    };
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.get(id)?.to_string(), f.get(lat)?.parse().ok()?))
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--read-csv") {
        read_csv(&args[i + 1], &args[i + 2]);
        return;
    }
    println!("{}", common::machine());
    let n_cells: usize = std::env::var("KLO_BENCH_INGEST_CELLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    // KLO_BENCH_INGEST_DIR keeps the campaign there (to profile
    // `klo-spec analyze` on it afterwards); by default it is temporary.
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let keep = std::env::var_os("KLO_BENCH_INGEST_DIR").map(PathBuf::from);
    let root = keep.as_deref().unwrap_or(tmp.path());
    std::fs::create_dir_all(root).expect("the campaign folder");
    let cache = root.join("cache");
    // SAFETY: set before any thread starts.
    unsafe { std::env::set_var("KLO_SPEC_CACHE", &cache) };
    let t = Instant::now();
    let c = generate(root, n_cells);
    println!(
        "campaign: {n_cells} cells, {} kernel lines, logs {:.0} MB, the same records as CSV {:.0} MB (generated in {:.0} s)",
        c.kernel_lines,
        c.log_bytes as f64 / 1e6,
        c.csv_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let bin = std::env::var_os("KLO_BENCH_INGEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(common::klo_spec);
    println!("klo-spec: {}", bin.display());
    let analyze = || {
        let m = measure(
            Command::new(&bin)
                .arg("analyze")
                .arg(&c.scenario)
                .arg("--output-dir")
                .arg(&c.outputs)
                .env("KLO_SPEC_CACHE", &cache)
                .env("NO_COLOR", "1"),
        );
        assert!(m.ok, "klo-spec analyze failed: {}", m.stderr);
        m
    };
    let csv = || {
        let m = measure(
            Command::new(std::env::current_exe().unwrap())
                .arg("--read-csv")
                .arg(&c.kernels_csv)
                .arg(&c.inferences_csv),
        );
        assert!(m.ok, "the CSV read failed: {}", m.stderr);
        m
    };
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    // Alternated, so that both sides see the same machine.
    for _ in 0..3 {
        ours.push(analyze());
        theirs.push(csv());
    }
    let t_ours = median(ours.iter().map(|m| m.wall.as_secs_f64()).collect());
    let rss_ours = ours.iter().map(|m| m.max_rss).max().unwrap_or(0);
    let t_csv = median(theirs.iter().map(|m| m.wall.as_secs_f64()).collect());
    let rss_csv = theirs.iter().map(|m| m.max_rss).max().unwrap_or(0);
    let rate = |t: f64| c.kernel_lines as f64 / t / 1e6;
    println!(
        "klo-spec analyze: {t_ours:.2} s (median of 3; {:.1} M kernel records/s, {:.0} MB/s of log), peak RSS {:.0} MiB ({:.2}x the logs' size)  goal < 2x: {}",
        rate(t_ours),
        c.log_bytes as f64 / 1e6 / t_ours,
        mib(rss_ours),
        rss_ours as f64 / c.log_bytes as f64,
        if (rss_ours as f64) < 2.0 * c.log_bytes as f64 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "(b) polars {} CSV reader: {t_csv:.2} s (median of 3; {:.1} M records/s), peak RSS {:.0} MiB",
        polars::VERSION,
        rate(t_csv),
        mib(rss_csv)
    );
    println!(
        "    klo-spec / CSV read speed: {:.2}x  goal >= 0.5x: {}",
        t_csv / t_ours,
        if t_csv / t_ours >= 0.5 {
            "met"
        } else {
            "MISSED"
        }
    );

    // `report` and `export` read the same result set back.
    let set = c.outputs.join("campaign");
    let exported = root.join("export");
    for (what, args) in [
        (
            "report",
            vec!["report".into(), set.clone().into_os_string()],
        ),
        (
            "export (both frames, Parquet)",
            vec![
                "export".into(),
                set.clone().into_os_string(),
                "-t".into(),
                "kernels,inferences".into(),
                "-f".into(),
                "parquet".into(),
                "-o".into(),
                exported.clone().into_os_string(),
            ],
        ),
    ] {
        let args: Vec<std::ffi::OsString> = args;
        let m = measure(
            Command::new(&bin)
                .args(&args)
                .env("KLO_SPEC_CACHE", &cache)
                .env("NO_COLOR", "1"),
        );
        if m.ok {
            println!(
                "klo-spec {what}: {:.2} s, peak RSS {:.0} MiB ({:.2}x the logs' size)",
                m.wall.as_secs_f64(),
                mib(m.max_rss),
                m.max_rss as f64 / c.log_bytes as f64
            );
        } else {
            println!("klo-spec {what}: failed: {}", m.stderr.trim());
        }
    }

    let ours_summary = c.outputs.join("campaign/summary.csv");
    match common::python_venv("pandas", &["pandas"]) {
        Err(why) => println!("(a) pandas: skipped: {why}"),
        Ok(venv) => {
            let out = tmp.path().join("pandas-summary.csv");
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ingest_pandas.py");
            let m = measure(
                Command::new(venv.join("bin/python"))
                    .arg(&script)
                    .arg(&c.cells_dir)
                    .arg(&out),
            );
            if !m.ok {
                println!(
                    "(a) pandas: skipped: the script failed: {}",
                    m.stderr.trim()
                );
            } else {
                let t_pd = m.wall.as_secs_f64();
                let version = Command::new(venv.join("bin/python"))
                    .args([
                        "-c",
                        "import pandas, sys; print(pandas.__version__, sys.version.split()[0])",
                    ])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .unwrap_or_default();
                println!(
                    "(a) pandas + regex (pandas, Python: {version}): {t_pd:.1} s ({:.2} M kernel records/s), peak RSS {:.0} MiB",
                    rate(t_pd),
                    mib(m.max_rss)
                );
                println!(
                    "    klo-spec / pandas speed: {:.1}x  goal >= 10x: {}",
                    t_pd / t_ours,
                    if t_pd / t_ours >= 10.0 {
                        "met"
                    } else {
                        "MISSED"
                    }
                );
                let a = latency_means(&ours_summary);
                let b = latency_means(&out);
                let same = a.len() == b.len()
                    && a.iter()
                        .all(|(id, x)| b.get(id).is_some_and(|y| (x - y).abs() <= 0.11));
                println!(
                    "    summaries agree (mean latency of {} cells within 0.1 us): {}",
                    a.len(),
                    if same { "yes" } else { "NO" }
                );
            }
        }
    }
}
