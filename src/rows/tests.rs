use super::*;
use crate::output::read::parse_csv;
use crate::record::Status;

fn summary_row() -> SummaryRow {
    SummaryRow {
        id: "local/heavy/cpu-current/gpu-current/net/default".into(),
        board: "local".into(),
        load: "heavy".into(),
        cpu_freq: "current".into(),
        gpu_freq: "current".into(),
        knobs: "stock".into(),
        network: "net".into(),
        strategy: "default".into(),
        k: "12/8".into(),
        status: Status::Ok,
        rounds: "5/5".into(),
        inferences: Some(50),
        latency_mean_us: Some(4453.6),
        latency_ci_low_us: Some(4048.46),
        latency_ci_high_us: None,
        latency_cv_between_pct: Some(f64::NAN),
        latency_cv_within_pct: Some(19.3),
        t_prod_mean_us: Some(76.214),
        t_ker_mean_us: Some(42.23),
        t_idle_mean_us: Some(37.5),
        t_flush_mean_us: None,
        flushes_mean: Some(3.0),
        k_mean: Some(10.0),
        speedup: Some(1.4931),
        speedup_ci_low: Some(1.263),
        speedup_ci_high: Some(1.764),
        cpu_util_pct: Some(90.8),
        loads_alive: "4/4".into(),
        cpu_khz: "policy0=1804800 policy4=2419200".into(),
        gpu_khz: String::new(),
        k_range: "8-12".into(),
        lut: "71bfd50fc116eba5".into(),
        profile_t_prod_us: Some(32.79),
        profile_t_ker_us: Some(26.69),
        model_latency_us: Some(3100.7),
        device: "thread".into(),
        noise: "rounds disagree (CV 11%), and more".into(),
        hash: "3430d2bd69b4c91f".into(),
        thermal_wait_s: None,
        temp_start_c: Some(-3.0),
        temp_end_c: None,
    }
}

#[test]
fn rows_make_their_tables_in_the_columns_fixed_formats() {
    let t = table(&[summary_row()]);
    assert_eq!(t.columns, SummaryRow::COLUMNS);
    let r = &t.rows[0];
    let cell = |c: &str| r[t.column(c).unwrap()].as_str();
    assert_eq!(cell("latency_ci_low_us"), "4048.5");
    assert_eq!(cell("latency_ci_high_us"), "");
    assert_eq!(cell("latency_cv_between_pct"), "", "not finite: empty");
    assert_eq!(cell("t_prod_mean_us"), "76.21");
    assert_eq!(cell("t_idle_mean_us"), "37.50");
    assert_eq!(cell("speedup"), "1.493");
    assert_eq!(cell("inferences"), "50");
    assert_eq!(cell("status"), "ok");
    assert_eq!(cell("temp_start_c"), "-3.0");
    let empty = table::<ChecklistRow>(&[]);
    assert_eq!(empty.columns, ChecklistRow::COLUMNS);
    assert_eq!(empty.to_csv().lines().count(), 1, "a header alone");
}

#[test]
fn tables_read_back_into_the_rows_that_write_them_byte_for_byte() {
    let text = table(&[summary_row()]).to_csv();
    let back: Vec<SummaryRow> = read(&parse_csv(text.as_bytes()).unwrap()).unwrap();
    assert_eq!(back[0].latency_ci_low_us, Some(4048.5));
    assert_eq!(back[0].status, Status::Ok);
    assert_eq!(back[0].single_k(), None, "two K values");
    assert_eq!(table(&back).to_csv(), text);

    let check = ChecklistRow {
        check: "C1".into(),
        title: "=cmd|' /C calc'!A0".into(),
        group: "g".into(),
        metric: "latency".into(),
        kind: "lower".into(),
        a: "a".into(),
        b: "b".into(),
        rounds: "4+5".into(),
        test: "welch t (log)".into(),
        mean_a: Some(1.0),
        mean_b: Some(2.0),
        ratio: Some(0.5),
        ratio_ci_low: Some(0.45),
        ratio_ci_high: Some(0.55),
        hl_ratio: None,
        df: Some(6.9),
        p_value: Some(0.000123456),
        p_holm: Some(0.2),
        q_bh: None,
        verdict: Verdict::Inconclusive,
        mde_pct: Some(12.34),
        rounds_needed: ">1000".into(),
        note: "no significant difference".into(),
    };
    let text = table(std::slice::from_ref(&check)).to_csv();
    assert!(
        text.contains(",1.23e-4,2.00e-1,,INCONCLUSIVE,12.3,>1000,"),
        "{text}"
    );
    let back: Vec<ChecklistRow> = read(&parse_csv(text.as_bytes()).unwrap()).unwrap();
    assert_eq!(back[0].title, check.title, "the formula guard is undone");
    assert_eq!(back[0].verdict, Verdict::Inconclusive);
    assert_eq!(table(&back).to_csv(), text);
}

#[test]
fn an_older_table_reads_with_its_missing_columns_empty_and_extra_ones_kept_where_known() {
    let mut t = crate::output::Table::new(&["sweep", "k_values", "k_answer", "k_opt", "other"]);
    t.rows.push(vec![
        "c/sweep[1,4]".into(),
        "1 4".into(),
        "4".into(),
        "16".into(),
        "x".into(),
    ]);
    let rows: Vec<SweepRow> = read(&t).unwrap();
    assert_eq!(rows[0].k_answer, Some(4));
    assert_eq!(rows[0].k_opt, Some(16));
    assert_eq!(rows[0].speedup, None);
    assert_eq!(rows[0].ks().collect::<Vec<_>>(), [1, 4]);
    assert_eq!(rows[0].condition(), Some("c"));
    assert!(!table(&rows).columns.iter().any(|c| c == "k_opt"));
}

#[test]
fn a_cell_that_is_not_its_columns_type_is_an_error_naming_the_row() {
    let mut t = crate::output::Table::new(&["check", "verdict"]);
    t.rows.push(vec!["C1".into(), "MAYBE".into()]);
    let err = read::<ChecklistRow>(&t).unwrap_err();
    assert!(format!("{err:#}").contains("row 1"), "{err:#}");
    assert!(format!("{err:#}").contains("MAYBE"), "{err:#}");
}

#[test]
fn sample_values_keep_their_signals_decimals() {
    let row = |signal: &str| SampleRow {
        id: "c".into(),
        round: 2,
        signal: signal.into(),
        n: 7,
        min: 1.0,
        mean: 41.1234,
        max: 50.0,
    };
    let t = table(&[row("temp_c.cpu"), row("cpu_khz.policy0")]);
    assert_eq!(
        t.rows[0],
        ["c", "2", "temp_c.cpu", "7", "1.00", "41.12", "50.00"]
    );
    assert_eq!(t.rows[1][5], "41.1");
}

/// A table of one row: `x` in every column but the given ones.
fn one_row<T: Row>(cells: &[(&str, &str)]) -> crate::output::Table {
    let mut t = crate::output::Table::new(T::COLUMNS);
    t.rows.push(
        T::COLUMNS
            .iter()
            .map(|c| {
                let set = cells.iter().find(|(k, _)| k == c);
                set.map_or("x", |(_, v)| v).to_string()
            })
            .collect(),
    );
    t
}

/// `T::NUMERIC` names exactly the columns whose fields are numbers: text
/// in every other column reads back (words for the enums), and text in
/// any numeric one is refused.
fn numeric_columns_are_the_number_fields<T: Row>(words: &[(&str, &str)]) {
    assert!(T::NUMERIC.iter().all(|c| T::COLUMNS.contains(c)));
    let numbers: Vec<(&str, &str)> = T::NUMERIC.iter().map(|c| (*c, "7")).collect();
    let all: Vec<(&str, &str)> = numbers.iter().chain(words).copied().collect();
    let rows: Vec<T> = read(&one_row::<T>(&all)).unwrap();
    let t = table(&rows);
    for (c, numeric) in T::COLUMNS.iter().zip(numeric::<T>()) {
        let cell = &t.rows[0][t.column(c).unwrap()];
        if numeric {
            assert!(cell.parse::<serde_json::Number>().is_ok(), "{c}: {cell}");
            let bad: Vec<(&str, &str)> = all.iter().filter(|x| x.0 != *c).copied().collect();
            assert!(read::<T>(&one_row::<T>(&bad)).is_err(), "{c} took `x`");
        }
    }
}

#[test]
fn every_row_type_declares_its_numeric_columns() {
    numeric_columns_are_the_number_fields::<SummaryRow>(&[("status", "ok")]);
    numeric_columns_are_the_number_fields::<RoundRow>(&[("status", "ok")]);
    numeric_columns_are_the_number_fields::<ChecklistRow>(&[("verdict", "PASS")]);
    numeric_columns_are_the_number_fields::<SweepRow>(&[]);
    numeric_columns_are_the_number_fields::<KstrategyRow>(&[("k_opt_close", "PASS")]);
    numeric_columns_are_the_number_fields::<SampleRow>(&[]);
    let k = numeric::<SummaryRow>();
    let col = |c: &str| SummaryRow::COLUMNS.iter().position(|x| *x == c).unwrap();
    assert!(k[col("speedup")] && k[col("inferences")]);
    assert!(!k[col("k")] && !k[col("hash")] && !k[col("rounds")]);
}
