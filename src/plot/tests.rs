use super::tprod::TukeyBox;
use super::*;
use crate::results::fixture;

#[test]
fn tukey_whiskers_end_at_data_and_outliers_are_beyond() {
    let v: Vec<f64> = (1..=9).map(f64::from).chain([100.0, f64::NAN]).collect();
    let b = TukeyBox::new(&v).unwrap();
    assert_eq!((b.q1, b.median, b.q3), (3.25, 5.5, 7.75));
    assert_eq!(
        (b.low, b.high),
        (1.0, 9.0),
        "whiskers at values, not fences"
    );
    assert_eq!(b.outliers.len(), 1);
    assert!((b.outliers[0] - 100.0).abs() < 1.0);
    assert_eq!(b.n, 10);
    assert!(TukeyBox::new(&[]).is_none());
    assert!(TukeyBox::new(&[f64::NAN]).is_none());
}

#[test]
fn the_table_plots_draw_with_labels_and_units() {
    let set = fixture::quick("q");
    let (plots, missing) = all(&set, None, None).unwrap();
    let names: Vec<&str> = plots.iter().map(|p| p.name).collect();
    assert_eq!(names, ["tprod", "sweep", "speedup"]);
    let missing_names: Vec<&str> = missing.iter().map(|m| m.name).collect();
    assert_eq!(missing_names, ["kernels", "timeline", "samples"]);
    for m in &missing {
        assert!(m.reason.contains("no cells/"), "{}", m.reason);
    }
    let svg = |n: &str| &plots.iter().find(|p| p.name == n).unwrap().svg;
    for p in &plots {
        assert!(p.svg.starts_with("<svg"), "{}", p.name);
        assert!(p.svg.trim_end().ends_with("</svg>"), "{}", p.name);
    }
    assert!(svg("tprod").contains("mean T_prod per cell (µs)"));
    assert!(svg("tprod").contains("load heavy (n = 5)"));
    assert!(svg("sweep").contains("K, kernels per flush (log2 scale)"));
    assert!(svg("sweep").contains("mean latency per inference (ms)"));
    assert!(svg("sweep").contains("load heavy: K_answer 4"));
    assert!(svg("speedup").contains("speedup (latency of default / latency)"));
    assert!(svg("speedup").contains("fixed-4"));
    // Same inputs, same bytes.
    assert_eq!(all(&set, None, None).unwrap().0, plots);
}

#[test]
fn k_opt_is_drawn_when_the_sweeps_table_has_it() {
    let mut set = fixture::quick("q");
    set.sweeps.columns.push("k_opt".into());
    for r in &mut set.sweeps.rows {
        r.push("16".into());
    }
    let (plots, _) = all(&set, None, None).unwrap();
    let sweep = plots.iter().find(|p| p.name == "sweep").unwrap();
    assert!(sweep.svg.contains("K_answer 4, K_opt 16"));

    // Or from kstrategy.csv, per condition.
    let mut set = fixture::quick("q");
    set.kstrategy = crate::output::Table::new(&["condition", "k_opt", "lut"]);
    set.kstrategy
        .rows
        .push(vec![fixture::NONE.into(), "8".into(), "ab12".into()]);
    let (plots, _) = all(&set, None, None).unwrap();
    let sweep = &plots.iter().find(|p| p.name == "sweep").unwrap().svg;
    assert!(sweep.contains("load none: K_answer 4, K_opt 8"), "{sweep}");
    assert!(
        sweep.contains("load heavy: K_answer 4\n"),
        "no K_opt for heavy"
    );
}

#[test]
fn missing_data_says_why() {
    let empty = fixture::set(
        "e",
        &[],
        crate::output::Table::default(),
        crate::output::Table::default(),
    );
    let (plots, missing) = all(&empty, None, None).unwrap();
    assert!(plots.is_empty());
    assert_eq!(missing.len(), 6);
    assert!(missing.iter().any(|m| m.reason.contains("no K sweep")));
}

#[test]
fn ticks_are_short() {
    assert_eq!(tick(&1400.0), "1400");
    assert_eq!(tick(&12.5), "12.5");
    assert_eq!(tick(&2.0), "2");
    assert_eq!(tick(&0.25), "0.25");
    assert_eq!(tick(&0.0), "0");
}
