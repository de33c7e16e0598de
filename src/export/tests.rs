use super::*;
use crate::ingest::parse_klo;
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
    for f in [TableFormat::Csv, TableFormat::Md, TableFormat::Json] {
        let one = Data::Table(set.summary.clone()).write(f).unwrap();
        let two = Data::Table(set.summary.clone()).write(f).unwrap();
        assert_eq!(one, two);
        assert!(!one.is_empty());
    }
    let json = Data::Table(set.summary.clone())
        .write(TableFormat::Json)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 10);
    assert_eq!(v[0]["k"], 1);
    assert_eq!(v[0]["hash"], "0123456789abcdef");
    let err = Data::Table(set.summary)
        .write(TableFormat::Parquet)
        .unwrap_err();
    assert!(err.downcast_ref::<UsageError>().is_some(), "{err}");
}

#[test]
fn formats_apply_by_default_and_on_request() {
    assert!(applies(TableName::Summary, TableFormat::Csv, false));
    assert!(!applies(TableName::Summary, TableFormat::Parquet, true));
    assert!(applies(TableName::Kernels, TableFormat::Parquet, false));
    assert!(!applies(TableName::Kernels, TableFormat::Md, false));
    assert!(applies(TableName::Kernels, TableFormat::Csv, true));
}
