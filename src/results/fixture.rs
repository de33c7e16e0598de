//! Result sets built in memory for unit tests of `diff`, `plot`, `report`
//! and `export`: the tables a run would write, with values chosen by the
//! test.

use super::ResultSet;
use crate::output::{Table, fmt_f};
use crate::rows::{ChecklistRow, RoundRow, Row, SummaryRow};

/// One cell of a test result set; `ok(id, k, latency)` fills the rest.
#[derive(Debug, Clone)]
pub struct Cell {
    pub id: String,
    pub k: u32,
    pub status: &'static str,
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
        status: "ok",
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
        d.status == "ok" && d.id.ends_with("/default") && condition(&d.id) == condition(&c.id)
    })
}

/// summary.csv of `cells`, sorted by id: 5 rounds each, speedups against
/// each condition's `default` cell round by round, as `analyze` computes
/// them.
pub fn summary(cells: &[Cell]) -> Table {
    let mut t = Table::new(SummaryRow::COLUMNS);
    let mut cells = cells.to_vec();
    cells.sort_by(|a, b| a.id.cmp(&b.id));
    for c in &cells {
        let parts: Vec<&str> = c.id.split('/').collect();
        let ok = c.status == "ok";
        let base = base_of(&cells, c);
        let v = |x: f64| if ok { fmt_f(Some(x), 1) } else { String::new() };
        let opt = |x: f64, d: usize| if ok { fmt_f(Some(x), d) } else { String::new() };
        // A 95% interval over 5 rounds: t(4, 0.975) = 2.776.
        let half = 2.7764451051977934 * c.std / 5f64.sqrt();
        let speedup = base.filter(|_| ok).map(|b| {
            let logs: Vec<f64> = round_latencies(b)
                .iter()
                .zip(round_latencies(c))
                .map(|(x, y)| (x / y).ln())
                .collect();
            (logs.iter().sum::<f64>() / 5.0).exp()
        });
        let values: [(&str, String); 25] = [
            ("id", c.id.clone()),
            ("board", parts[0].into()),
            ("load", parts[1].into()),
            ("cpu_freq", parts[2].trim_start_matches("cpu-").into()),
            ("gpu_freq", parts[3].trim_start_matches("gpu-").into()),
            ("network", parts[4].into()),
            ("strategy", parts[5].into()),
            ("k", c.k.to_string()),
            ("status", c.status.into()),
            ("rounds", format!("{}/5", if ok { 5 } else { 0 })),
            (
                "inferences",
                if ok {
                    (5 * c.n).to_string()
                } else {
                    String::new()
                },
            ),
            ("latency_mean_us", v(c.latency)),
            ("latency_ci_low_us", v(c.latency - half)),
            ("latency_ci_high_us", v(c.latency + half)),
            ("latency_cv_between_pct", opt(100.0 * c.std / c.latency, 1)),
            ("t_prod_mean_us", opt(c.t_prod, 2)),
            ("t_ker_mean_us", opt(c.t_ker, 2)),
            ("t_idle_mean_us", opt(c.t_idle, 2)),
            ("flushes_mean", opt(30.0 / c.k as f64, 2)),
            ("k_mean", opt(c.k as f64, 2)),
            ("speedup", fmt_f(speedup, 3)),
            (
                "cpu_util_pct",
                if ok { "55.0".into() } else { String::new() },
            ),
            ("loads_alive", String::new()),
            ("device", "thread".into()),
            ("hash", c.hash.clone()),
        ];
        let mut row = vec![String::new(); t.columns.len()];
        for (col, value) in values {
            let i = t
                .columns
                .iter()
                .position(|x| x == col)
                .expect("a summary column");
            row[i] = value;
        }
        t.rows.push(row);
    }
    t
}

/// rounds.csv of `cells`: 5 rounds each, latency spread by the cell's
/// `std` (T_prod, T_ker and T_idle by the same relative amount).
pub fn rounds(cells: &[Cell]) -> Table {
    let mut t = Table::new(RoundRow::COLUMNS);
    let mut cells = cells.to_vec();
    cells.sort_by(|a, b| a.id.cmp(&b.id));
    for c in &cells {
        let base = base_of(&cells, c).map(round_latencies);
        for (r, lat) in round_latencies(c).into_iter().enumerate() {
            let ok = c.status == "ok";
            let rel = lat / c.latency;
            let f = |x: f64, d: usize| if ok { fmt_f(Some(x), d) } else { String::new() };
            let values: [(&str, String); 10] = [
                ("id", c.id.clone()),
                ("round", (r + 1).to_string()),
                ("position", r.to_string()),
                ("status", c.status.into()),
                ("latency_us", f(lat, 1)),
                ("t_prod_us", f(c.t_prod * rel, 2)),
                ("t_ker_us", f(c.t_ker * rel, 2)),
                ("t_idle_us", f(c.t_idle * rel, 2)),
                ("k", c.k.to_string()),
                (
                    "speedup",
                    fmt_f(base.as_ref().filter(|_| ok).map(|b| b[r] / lat), 3),
                ),
            ];
            let mut row = vec![String::new(); t.columns.len()];
            for (col, value) in values {
                let i = t.column(col).expect("a rounds column");
                row[i] = value;
            }
            t.rows.push(row);
        }
    }
    t
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
pub fn checklist(rows: &[(&str, &str, &str, &str, &str)]) -> Table {
    let mut t = Table::new(ChecklistRow::COLUMNS);
    for (check, a, b, verdict, p) in rows {
        let mut r = vec![String::new(); t.columns.len()];
        let mut put = |col: &str, v: &str| {
            if let Some(i) = t.columns.iter().position(|c| c == col) {
                r[i] = v.to_string();
            }
        };
        put("check", check);
        put("title", "a question");
        put("group", &format!("{a} vs {b}"));
        put("a", a);
        put("b", b);
        put("verdict", verdict);
        put("p_value", p);
        t.rows.push(r);
    }
    t
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
    let mut sweeps = Table::new(&[
        "sweep",
        "k_values",
        "k_answer",
        "k_answer_rounds",
        "latency_mean_us",
        "default_latency_mean_us",
        "speedup",
        "cells_ok",
    ]);
    for (cond, scale) in [(HEAVY, 1.5), (NONE, 1.0)] {
        sweeps.rows.push(vec![
            format!("{cond}/sweep[1,4,16]"),
            "1 4 16".into(),
            "4".into(),
            "5/5".into(),
            fmt_f(Some(850.0 * scale), 1),
            fmt_f(Some(1000.0 * scale), 1),
            "1.176".into(),
            "3/3".into(),
        ]);
    }
    let checks = checklist(&[
        (
            "C1",
            &format!("{HEAVY}/default"),
            &format!("{NONE}/default"),
            "PASS",
            "1.00e-4",
        ),
        (
            "C2",
            &format!("{NONE}/fixed-4"),
            &format!("{NONE}/default"),
            "INCONCLUSIVE",
            "2.00e-1",
        ),
    ]);
    set(label, &cells, checks, sweeps)
}
