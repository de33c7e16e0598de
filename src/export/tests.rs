use super::*;
use crate::ingest::parse_klo;
use crate::output::Table;
use crate::results::fixture;

fn frame() -> DataFrame {
    let text = "KLO v1 net=x iter=0 kernel=0 name=a t_prod_us=12.5 t_ker_us=20 t_idle_us=nan flush=0 k=2\n\
                KLO v1 net=x iter=0 kernel=1 name=b t_prod_us=0.1 t_ker_us=20.25 t_idle_us=1.5 flush=1 k=2\n\
                KLO v1 net=x iter=0 latency_us=100.0 flushes=1 k_mean=2.00\nKLO v1 end iters=1\n";
    let log = parse_klo(text);
    crate::ingest::frames::build(&[(0, &log)]).unwrap().0
}

#[test]
fn a_frame_as_text_keeps_types_exact_and_nulls_empty() {
    let t = frame_table(&frame()).unwrap();
    assert_eq!(
        t.columns,
        [
            "cell",
            "iter",
            "kernel",
            "first",
            "name",
            "t_prod_us",
            "t_ker_us",
            "t_idle_us",
            "flush",
            "k",
            "t_flush_us"
        ]
    );
    assert_eq!(
        t.rows[0],
        [
            "0", "0", "0", "true", "a", "12.5", "20", "", "false", "2", ""
        ]
    );
    assert_eq!(t.rows[1][5..8], ["0.1", "20.25", "1.5"]);
}

#[test]
fn parquet_is_byte_identical_and_reads_back() {
    let df = frame();
    let a = Data::Frame(df.clone()).write(TableFormat::Parquet).unwrap();
    let b = Data::Frame(df.clone()).write(TableFormat::Parquet).unwrap();
    assert_eq!(a, b, "same frame, same bytes");
    assert_eq!(&a[..4], b"PAR1");
    let back = ParquetReader::new(std::io::Cursor::new(a))
        .finish()
        .unwrap();
    assert!(back.equals_missing(&df), "{back}\n{df}");
}

#[test]
fn every_text_format_is_stable_and_parquet_refuses_tables() {
    let set = fixture::quick("q");
    let data = || table_data(&set, TableName::Summary, &mut None).unwrap();
    for f in [TableFormat::Csv, TableFormat::Md, TableFormat::Json] {
        let one = data().write(f).unwrap();
        let two = data().write(f).unwrap();
        assert_eq!(one, two);
        assert!(!one.is_empty());
    }
    assert_eq!(
        data().write(TableFormat::Csv).unwrap(),
        set.summary.to_csv().into_bytes(),
        "the typed rows write the table they were read from"
    );
    let json = data().write(TableFormat::Json).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 10);
    // `k` is text by its type (`4`, or `12/8` for a cell run with several),
    // whatever this table holds; the numbers are the numeric columns.
    assert_eq!(v[0]["k"], "1");
    assert_eq!(v[0]["inferences"], 50);
    assert_eq!(v[0]["hash"], "0123456789abcdef");
    let err = data().write(TableFormat::Parquet).unwrap_err();
    assert!(err.downcast_ref::<UsageError>().is_some(), "{err}");
}

#[test]
fn an_older_table_is_written_in_todays_columns() {
    let mut set = fixture::quick("q");
    let mut old = Table::new(&["sweep", "k_values", "k_answer", "k_opt"]);
    old.rows.push(vec![
        "c/sweep".into(),
        "1 4".into(),
        "4".into(),
        "16".into(),
    ]);
    set.sweeps = old;
    set.kstrategy = Table::default();
    let sweeps = table_data(&set, TableName::Sweeps, &mut None).unwrap();
    let csv = String::from_utf8(sweeps.write(TableFormat::Csv).unwrap()).unwrap();
    assert_eq!(
        csv,
        "sweep,k_values,k_answer,k_answer_rounds,latency_mean_us,default_latency_mean_us,speedup,cells_ok,runs\n\
         c/sweep,1 4,4,,,,,,\n"
    );
    let json = table_data(&set, TableName::Sweeps, &mut None)
        .unwrap()
        .write(TableFormat::Json)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v[0]["k_answer"], 4);
    assert_eq!(v[0]["speedup"], serde_json::Value::Null);
    // A table the set does not have has no columns, as before.
    let none = table_data(&set, TableName::Kstrategy, &mut None)
        .unwrap()
        .formatted()
        .unwrap();
    assert!(none.table.columns.is_empty());
}

#[test]
fn a_frame_is_numbers_where_its_columns_are_numeric() {
    let data = Data::Frame(frame());
    let v: serde_json::Value =
        serde_json::from_slice(&data.write(TableFormat::Json).unwrap()).unwrap();
    assert_eq!(v[0]["cell"], 0);
    assert_eq!(v[0]["t_prod_us"], 12.5);
    assert_eq!(v[0]["first"], "true");
    assert_eq!(v[0]["name"], "a");
    assert_eq!(v[0]["t_idle_us"], serde_json::Value::Null);
    let f = data.formatted().unwrap();
    assert_eq!(f.select(&[4, 5]).numeric, [false, true]);
}

#[test]
fn formats_apply_by_default_and_on_request() {
    assert!(applies(TableName::Summary, TableFormat::Csv, false));
    assert!(!applies(TableName::Summary, TableFormat::Parquet, true));
    assert!(applies(TableName::Kernels, TableFormat::Parquet, false));
    assert!(!applies(TableName::Kernels, TableFormat::Md, false));
    assert!(applies(TableName::Kernels, TableFormat::Csv, true));
}
