use super::*;
use crate::results::fixture::{self, HEAVY, NONE, ok};

fn opts() -> Options {
    Options {
        metrics: ALL_METRICS.to_vec(),
        threshold: 0.05,
        alpha: 0.01,
    }
}

fn marks(d: &Diff, id: &str) -> Vec<(&'static str, Mark)> {
    d.rows
        .iter()
        .filter(|r| r.id == id)
        .map(|r| (r.metric, r.mark))
        .collect()
}

#[test]
fn a_set_against_itself_is_unchanged_everywhere() {
    let a = fixture::quick("a");
    let d = compare(&a, &a, &opts()).unwrap();
    assert!(d.flips.is_empty());
    assert!(!d.any_worse());
    assert!(
        d.rows.iter().all(|r| r.mark == Mark::Unchanged),
        "{:?}",
        d.rows
    );
    assert_eq!(d.cells.len(), 10);
    assert_eq!(d.rows.len(), 10 * 5);
}

/// `quick` with one cell replaced.
fn with(label: &str, id: &str, f: impl Fn(&mut fixture::Cell)) -> crate::results::ResultSet {
    let base = fixture::quick(label);
    let mut cells = Vec::new();
    for r in base.summary_rows().unwrap() {
        let mut c = ok(
            &r.id,
            r.single_k().unwrap_or(1),
            r.latency_mean_us.unwrap_or_default(),
        );
        if c.id == id {
            f(&mut c);
        }
        cells.push(c);
    }
    fixture::set(label, &cells, base.checklist.clone(), base.sweeps.clone())
}

#[test]
fn a_tested_latency_change_is_worse_and_noise_is_unchanged() {
    let old = fixture::quick("old");
    let slow = format!("{NONE}/fixed-4");
    // 30% slower with rounds 2% apart: Welch over the 5 rounds a side.
    let new = with("new", &slow, |c| c.latency *= 1.3);
    let d = compare(&old, &new, &opts()).unwrap();
    let row = d
        .rows
        .iter()
        .find(|r| r.id == slow && r.metric == "latency")
        .unwrap();
    assert_eq!(row.mark, Mark::Worse, "{row:?}");
    assert_eq!(row.basis, Some(Basis::Rounds));
    assert_eq!(row.ratio.map(|r| (r * 1000.0).round()), Some(1300.0));
    assert!(row.p.unwrap() < 1e-4, "{row:?}");
    // Its speedup dropped with it (per-round speedups).
    let sp = d
        .rows
        .iter()
        .find(|r| r.id == slow && r.metric == "speedup")
        .unwrap();
    assert_eq!(
        (sp.mark, sp.basis),
        (Mark::Worse, Some(Basis::Rounds)),
        "{sp:?}"
    );
    assert!(d.any_worse());
    assert_eq!(
        d.cells.iter().filter(|c| c.1 == Mark::Worse).count(),
        1,
        "only that cell: {:?}",
        d.cells
    );

    // The same change with a 40% spread is within noise.
    let noisy_old = with("old", &slow, |c| c.std = c.latency * 0.4);
    let noisy_new = with("new", &slow, |c| {
        c.std = c.latency * 0.4;
        c.latency *= 1.3;
    });
    let d = compare(&noisy_old, &noisy_new, &opts()).unwrap();
    let row = d
        .rows
        .iter()
        .find(|r| r.id == slow && r.metric == "latency")
        .unwrap();
    assert_eq!(
        (row.mark, row.note.as_str()),
        (Mark::Unchanged, "within noise"),
        "{row:?}"
    );
}

#[test]
fn without_rounds_the_threshold_decides() {
    let id = format!("{HEAVY}/default");
    let mut old = fixture::quick("old");
    let mut new = with("new", &id, |c| {
        c.t_prod = 27.0; // 10% lower: better
        c.t_ker = 103.0; // 3%: below the threshold
    });
    // Sets written before rounds existed have no rounds.csv.
    old.rounds = crate::output::Table::default();
    new.rounds = crate::output::Table::default();
    let d = compare(&old, &new, &opts()).unwrap();
    let get = |m: &str| d.rows.iter().find(|r| r.id == id && r.metric == m).unwrap();
    assert_eq!(
        (get("t_prod").mark, get("t_prod").basis),
        (Mark::Better, Some(Basis::Threshold))
    );
    assert_eq!(get("t_ker").mark, Mark::Unchanged);
    assert!(!d.any_worse());
}

#[test]
fn changed_definitions_new_gone_and_status_rows() {
    let old = fixture::quick("old");
    let changed = format!("{HEAVY}/fixed-4");
    let failed = format!("{NONE}/sweep-k16");
    let mut new_cells: Vec<fixture::Cell> = Vec::new();
    for r in old.summary_rows().unwrap() {
        let id = r.id.clone();
        let mut c = ok(&id, r.single_k().unwrap(), r.latency_mean_us.unwrap());
        if id == changed {
            c.hash = "fedcba9876543210".into();
        }
        if id == failed {
            c.status = crate::record::Status::Timeout;
        }
        if id.ends_with("sweep-k1") && id.starts_with(HEAVY) {
            continue; // gone
        }
        new_cells.push(c);
    }
    new_cells.push(ok(&format!("{NONE}/fixed-8"), 8, 800.0));
    let new = fixture::set("new", &new_cells, old.checklist.clone(), old.sweeps.clone());
    let d = compare(&old, &new, &opts()).unwrap();

    let m = marks(&d, &changed);
    assert_eq!(m.len(), 5);
    assert!(m.iter().all(|x| x.1 == Mark::NotComparable), "{m:?}");
    let note = &d.rows.iter().find(|r| r.id == changed).unwrap().note;
    assert!(
        note.contains("0123456789abcdef -> fedcba9876543210"),
        "{note}"
    );
    assert_eq!(marks(&d, &failed), vec![("status", Mark::Worse)]);
    assert!(
        marks(&d, &format!("{HEAVY}/sweep-k1"))
            .iter()
            .all(|x| x.1 == Mark::Gone)
    );
    assert!(
        marks(&d, &format!("{NONE}/fixed-8"))
            .iter()
            .all(|x| x.1 == Mark::New)
    );
    let counts: Vec<(Mark, usize)> = d.counts();
    assert_eq!(
        counts,
        vec![
            (Mark::Worse, 1),
            (Mark::Better, 0),
            (Mark::Unchanged, 7),
            (Mark::New, 1),
            (Mark::Gone, 1),
            (Mark::NotComparable, 1)
        ]
    );
    assert!(d.any_worse(), "a cell that stopped being ok is worse");
}

#[test]
fn flipped_verdicts_are_found_by_check_and_cells() {
    let old = fixture::quick("old");
    let mut new = fixture::quick("new");
    let v = new.checklist.column("verdict").unwrap();
    new.checklist.rows[0][v] = Verdict::Fail.to_string();
    new.checklist.rows.pop();
    let d = compare(&old, &new, &opts()).unwrap();
    assert_eq!(d.flips.len(), 2, "{:?}", d.flips);
    assert_eq!(
        (d.flips[0].check.as_str(), d.flips[0].old, d.flips[0].new),
        ("C1", Some(Verdict::Pass), Some(Verdict::Fail))
    );
    assert_eq!((d.flips[1].check.as_str(), d.flips[1].new), ("C2", None));
}

#[test]
fn holm_keeps_one_real_change_among_many_small_ones_apart() {
    // Ten cells drift by 6% with rounds 2% apart (weak evidence each);
    // one doubles. Only the doubling survives the family-wise adjustment.
    let mut old_cells = Vec::new();
    let mut new_cells = Vec::new();
    for i in 0..10 {
        let id = format!("{NONE}/fixed-{}", i + 2);
        let mut a = ok(&id, i + 2, 1000.0);
        a.std = 20.0;
        let mut b = a.clone();
        b.latency = 1060.0;
        old_cells.push(a);
        new_cells.push(b);
    }
    let mut a = ok(&format!("{NONE}/default"), 1, 1000.0);
    a.std = 20.0;
    let mut b = a.clone();
    b.latency = 2000.0;
    old_cells.push(a);
    new_cells.push(b);
    let t = crate::output::Table::default();
    let old = fixture::set("old", &old_cells, t.clone(), t.clone());
    let new = fixture::set("new", &new_cells, t.clone(), t);
    let opts = Options {
        metrics: vec![DiffMetric::Latency],
        ..opts()
    };
    let d = compare(&old, &new, &opts).unwrap();
    let worse: Vec<&str> = d
        .rows
        .iter()
        .filter(|r| r.mark == Mark::Worse)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(worse, vec![format!("{NONE}/default")]);
    // Unadjusted, a 6% drift with this spread would pass at 0.01.
    let rounds = |m: f64| -> std::collections::BTreeMap<u32, f64> {
        [
            -1.2649110640673518,
            -0.6324555320336759,
            0.0,
            0.6324555320336759,
            1.2649110640673518,
        ]
        .iter()
        .enumerate()
        .map(|(r, z)| (r as u32 + 1, m + z * 20.0))
        .collect()
    };
    let one = noise::rounds_p(&rounds(1000.0), &rounds(1060.0)).unwrap();
    assert!(one < 0.01 && one * 11.0 > 0.01, "{one}");
}

#[test]
fn sorting_by_mark_and_by_ratio() {
    let old = fixture::quick("old");
    let a = format!("{NONE}/fixed-4");
    let new = with("new", &a, |c| c.latency *= 1.5);
    let mut d = compare(&old, &new, &opts()).unwrap();
    sort_rows(&mut d.rows, DiffSort::Mark);
    assert_eq!(d.rows[0].mark, Mark::Worse);
    sort_rows(&mut d.rows, DiffSort::Ratio);
    assert_eq!(
        (d.rows[0].id.as_str(), d.rows[0].metric),
        (a.as_str(), "latency")
    );
    sort_rows(&mut d.rows, DiffSort::Id);
    let ids: Vec<&str> = d.rows.iter().map(|r| r.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn the_three_formats_are_pinned() {
    let old = fixture::quick("outputs/q@HEAD~1 (1a2b3c4)");
    let mut new = with("outputs/q", &format!("{NONE}/fixed-4"), |c| {
        c.latency *= 1.3
    });
    let v = new.checklist.column("verdict").unwrap();
    new.checklist.rows[1][v] = Verdict::Pass.to_string();
    let mut d = compare(&old, &new, &opts()).unwrap();
    d.rows.retain(|r| r.mark != Mark::Unchanged);
    insta::assert_snapshot!("diff_table", render_table(&d, false));
    insta::assert_snapshot!("diff_markdown", render_markdown(&d));
    insta::assert_snapshot!("diff_json", render_json(&d).unwrap());
    let coloured = render_table(&d, true);
    assert!(coloured.contains('\x1b'), "marks are coloured on request");
}

#[test]
fn values_show_as_summary_csv_writes_them() {
    let set = fixture::quick("q");
    let mut rows = set.summary_rows().unwrap();
    rows[0].speedup = Some(1.0);
    rows[0].t_idle_mean_us = Some(f64::NAN);
    rows[0].latency_mean_us = Some(1234.56);
    let t = crate::rows::table(&rows[..1]);
    let columns = [
        (DiffMetric::Latency, "latency_mean_us"),
        (DiffMetric::TProd, "t_prod_mean_us"),
        (DiffMetric::TKer, "t_ker_mean_us"),
        (DiffMetric::TIdle, "t_idle_mean_us"),
        (DiffMetric::Speedup, "speedup"),
    ];
    for (m, c) in columns {
        let m = info(m);
        assert_eq!(m.text(&rows[0]), t.rows[0][t.column(c).unwrap()], "{c}");
    }
    assert_eq!(info(DiffMetric::Speedup).text(&rows[0]), "1.000");
    assert_eq!(info(DiffMetric::TIdle).text(&rows[0]), "");
    assert_eq!(info(DiffMetric::TIdle).number(&rows[0]), None);
    assert_eq!(info(DiffMetric::Latency).text(&rows[0]), "1234.6");
}
