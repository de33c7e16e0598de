//! Result sets built in memory for unit tests of `diff`, `plot`, `report`
//! and `export`: the tables a run would write, with values chosen by the
//! test.

use super::ResultSet;
use crate::output::Table;
use crate::record::Status;
use crate::rows::{self, ChecklistRow, RoundRow, SummaryRow, SweepRow, Verdict};

/// One cell of a test result set; `ok(id, k, latency)` fills the rest.
#[derive(Debug, Clone)]
pub struct Cell {
    pub id: String,
    pub k: u32,
    pub status: Status,
    pub n: u32,
    pub latency: f64,
    pub std: f64,
    pub t_prod: f64,
    pub t_ker: f64,
    pub t_idle: f64,
    pub hash: String,
}

/// An ok cell: 10 inferences in each of 5 rounds, rounds 2% apart (SD),
/// T_prod 30, T_ker 100, T_idle 5.
pub fn ok(id: &str, k: u32, latency: f64) -> Cell {
    Cell {
        id: id.to_string(),
        k,
        status: Status::Ok,
        n: 10,
        latency,
        std: latency * 0.02,
        t_prod: 30.0,
        t_ker: 100.0,
        t_idle: 5.0,
        hash: "0123456789abcdef".into(),
    }
}

/// Offsets of the 5 rounds of a fixture cell, in standard deviations
/// (their mean is 0 and their sample SD 1).
const ROUND_Z: [f64; 5] = [
    -1.2649110640673518,
    -0.6324555320336759,
    0.0,
    0.6324555320336759,
    1.2649110640673518,
];

/// The per-round latencies of a fixture cell: its mean, spread by `std`.
fn round_latencies(c: &Cell) -> Vec<f64> {
    ROUND_Z.iter().map(|z| c.latency + z * c.std).collect()
}

fn condition(id: &str) -> String {
    id.rsplit_once('/')
        .map(|x| x.0.to_string())
        .unwrap_or_default()
}

/// The ok `default` cell of a cell's condition.
fn base_of<'a>(cells: &'a [Cell], c: &Cell) -> Option<&'a Cell> {
    cells.iter().find(|d| {
        d.status == Status::Ok && d.id.ends_with("/default") && condition(&d.id) == condition(&c.id)
    })
}

/// summary.csv's row of cell `c` of `cells`: 5 rounds, its speedup
/// against its condition's `default` cell round by round, as `analyze`
/// computes it.
fn summary_row(cells: &[Cell], c: &Cell) -> SummaryRow {
    let parts: Vec<&str> = c.id.split('/').collect();
    let ok = c.status == Status::Ok;
    let v = |x: f64| ok.then_some(x);
    // A 95% interval over 5 rounds: t(4, 0.975) = 2.776.
    let half = 2.7764451051977934 * c.std / 5f64.sqrt();
    let speedup = base_of(cells, c).filter(|_| ok).map(|b| {
        let logs: Vec<f64> = round_latencies(b)
            .iter()
            .zip(round_latencies(c))
            .map(|(x, y)| (x / y).ln())
            .collect();
        (logs.iter().sum::<f64>() / 5.0).exp()
    });
    SummaryRow {
        id: c.id.clone(),
        board: parts[0].into(),
        load: parts[1].into(),
        cpu_freq: parts[2].trim_start_matches("cpu-").into(),
        gpu_freq: parts[3].trim_start_matches("gpu-").into(),
        knobs: crate::axes::STOCK_KNOBS.into(),
        network: parts[4].into(),
        strategy: parts[5].into(),
        k: c.k.to_string(),
        status: c.status,
        rounds: format!("{}/5", if ok { 5 } else { 0 }),
        inferences: ok.then_some(5 * c.n),
        latency_mean_us: v(c.latency),
        latency_ci_low_us: v(c.latency - half),
        latency_ci_high_us: v(c.latency + half),
        latency_cv_between_pct: v(100.0 * c.std / c.latency),
        latency_cv_within_pct: None,
        t_prod_mean_us: v(c.t_prod),
        t_ker_mean_us: v(c.t_ker),
        t_idle_mean_us: v(c.t_idle),
        t_flush_mean_us: None,
        flushes_mean: v(30.0 / c.k as f64),
        k_mean: v(c.k as f64),
        speedup,
        speedup_ci_low: None,
        speedup_ci_high: None,
        cpu_util_pct: v(55.0),
        loads_alive: String::new(),
        cpu_khz: String::new(),
        gpu_khz: String::new(),
        k_range: String::new(),
        lut: String::new(),
        profile_t_prod_us: None,
        profile_t_ker_us: None,
        model_latency_us: None,
        device: "thread".into(),
        noise: String::new(),
        hash: c.hash.clone(),
        thermal_wait_s: None,
        temp_start_c: None,
        temp_end_c: None,
    }
}

/// summary.csv of `cells`, sorted by id (see [`summary_row`]).
pub fn summary(cells: &[Cell]) -> Table {
    let mut cells = cells.to_vec();
    cells.sort_by(|a, b| a.id.cmp(&b.id));
    let rows: Vec<SummaryRow> = cells.iter().map(|c| summary_row(&cells, c)).collect();
    rows::table(&rows)
}

/// rounds.csv of `cells`: 5 rounds each, latency spread by the cell's
/// `std` (T_prod, T_ker and T_idle by the same relative amount).
pub fn rounds(cells: &[Cell]) -> Table {
    let mut cells = cells.to_vec();
    cells.sort_by(|a, b| a.id.cmp(&b.id));
    let mut rows = Vec::new();
    for c in &cells {
        let base = base_of(&cells, c).map(round_latencies);
        for (r, lat) in round_latencies(c).into_iter().enumerate() {
            let ok = c.status == Status::Ok;
            let rel = lat / c.latency;
            let v = |x: f64| ok.then_some(x);
            rows.push(RoundRow {
                id: c.id.clone(),
                round: r as u32 + 1,
                position: Some(r as u32),
                status: c.status,
                inferences: None,
                latency_us: v(lat),
                t_prod_us: v(c.t_prod * rel),
                t_ker_us: v(c.t_ker * rel),
                t_idle_us: v(c.t_idle * rel),
                t_flush_us: None,
                flushes_mean: None,
                k_mean: None,
                k: Some(c.k),
                speedup: base.as_ref().filter(|_| ok).map(|b| b[r] / lat),
                cpu_util_pct: None,
                foreign_cpu_pct: None,
                overlapped: String::new(),
                thermal_wait_s: None,
                temp_start_c: None,
                temp_end_c: None,
            });
        }
    }
    rows::table(&rows)
}

/// A result set of these tables, read "from disk" without cells.
pub fn set(label: &str, cells: &[Cell], checklist: Table, sweeps: Table) -> ResultSet {
    ResultSet {
        label: label.into(),
        summary: summary(cells),
        rounds: rounds(cells),
        checklist,
        sweeps,
        kstrategy: Table::default(),
        meta: None,
        scenario_text: Some("name: test\ndescription: a <b>test</b> set\n".into()),
        cells_root: None,
    }
}

/// A checklist with one row per (check, a, b, verdict, p).
pub fn checklist(rows: &[(&str, &str, &str, Verdict, Option<f64>)]) -> Table {
    let rows: Vec<ChecklistRow> = rows
        .iter()
        .map(|&(check, a, b, verdict, p_value)| ChecklistRow {
            check: check.into(),
            title: "a question".into(),
            group: format!("{a} vs {b}"),
            metric: String::new(),
            kind: String::new(),
            a: a.into(),
            b: b.into(),
            rounds: String::new(),
            test: String::new(),
            mean_a: None,
            mean_b: None,
            ratio: None,
            ratio_ci_low: None,
            ratio_ci_high: None,
            hl_ratio: None,
            df: None,
            p_value,
            p_holm: None,
            q_bh: None,
            verdict,
            mde_pct: None,
            rounds_needed: String::new(),
            note: String::new(),
        })
        .collect();
    rows::table(&rows)
}

/// Condition prefix of the ids below.
pub const HEAVY: &str = "local/heavy/cpu-current/gpu-current/net";
pub const NONE: &str = "local/none/cpu-current/gpu-current/net";

/// A small quickstart-like set: two loads, default, fixed-4 and a sweep
/// over K = 1, 4, 16, with its sweeps table.
pub fn quick(label: &str) -> ResultSet {
    let mut cells = Vec::new();
    for (cond, scale) in [(HEAVY, 1.5), (NONE, 1.0)] {
        cells.push(ok(&format!("{cond}/default"), 1, 1000.0 * scale));
        cells.push(ok(&format!("{cond}/fixed-4"), 4, 900.0 * scale));
        for (k, lat) in [(1, 1000.0), (4, 850.0), (16, 950.0)] {
            cells.push(ok(&format!("{cond}/sweep-k{k}"), k, lat * scale));
        }
    }
    let sweeps: Vec<SweepRow> = [(HEAVY, 1.5), (NONE, 1.0)]
        .into_iter()
        .map(|(cond, scale)| SweepRow {
            sweep: format!("{cond}/sweep[1,4,16]"),
            k_values: "1 4 16".into(),
            k_answer: Some(4),
            k_answer_rounds: "5/5".into(),
            latency_mean_us: Some(850.0 * scale),
            default_latency_mean_us: Some(1000.0 * scale),
            speedup: Some(1.176),
            cells_ok: "3/3".into(),
            runs: String::new(),
            k_opt: None,
        })
        .collect();
    let checks = checklist(&[
        (
            "C1",
            &format!("{HEAVY}/default"),
            &format!("{NONE}/default"),
            Verdict::Pass,
            Some(1e-4),
        ),
        (
            "C2",
            &format!("{NONE}/fixed-4"),
            &format!("{NONE}/default"),
            Verdict::Inconclusive,
            Some(0.2),
        ),
    ]);
    set(label, &cells, checks, rows::table(&sweeps))
}
