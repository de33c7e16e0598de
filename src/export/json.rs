//! JSON: an array of row objects, keys in column order. A column the row
//! type (or the frame's column type) declares numeric is written as
//! numbers, digits exactly as in the table (no float round trip); every
//! other column as strings, even where its cells hold only digits (`k` is
//! `4` or `12/8`, `hash` is hex). Empty values are `null`.

use anyhow::Result;

use super::{Rows, Writer};
use crate::output::Table;

pub(super) struct Json;

/// One row as a JSON object's members and its closing brace (the opening
/// one is the caller's): `keys` quoted, an empty value `null`, a value of
/// a `numeric` column as it is, any other quoted.
pub(super) fn push_row(out: &mut String, keys: &[String], numeric: &[bool], row: &[String]) {
    for (c, v) in row.iter().enumerate() {
        if c > 0 {
            out.push_str(", ");
        }
        out.push_str(&keys[c]);
        out.push_str(": ");
        if v.is_empty() {
            out.push_str("null");
        } else if numeric[c] {
            out.push_str(v);
        } else {
            out.push_str(&quote(v));
        }
    }
    out.push('}');
}

/// A table as JSON text, the columns flagged in `numeric` as numbers.
pub fn table_json(t: &Table, numeric: &[bool]) -> String {
    let keys: Vec<String> = t.columns.iter().map(|c| quote(c)).collect();
    let mut out = String::from("[");
    for (n, r) in t.rows.iter().enumerate() {
        out.push_str(if n == 0 { "\n  {" } else { ",\n  {" });
        push_row(&mut out, &keys, numeric, r);
    }
    out.push_str(if t.rows.is_empty() { "]\n" } else { "\n]\n" });
    out
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl Writer for Json {
    fn extension(&self) -> &'static str {
        "json"
    }
    fn rows(&self, r: &dyn Rows) -> Result<Vec<u8>> {
        Ok(table_json(&r.table(), &r.numeric()).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Status;
    use crate::results::fixture;
    use crate::rows::{KstrategyRow, SummaryRow, SweepRow};

    fn json(r: &dyn Rows) -> serde_json::Value {
        serde_json::from_slice(&Json.rows(r).unwrap()).unwrap()
    }

    #[test]
    fn numbers_keep_their_digits_and_text_stays_text() {
        let mut t = Table::new(&["id", "k", "speedup", "loads", "hash"]);
        t.rows.push(vec![
            "a/1".into(),
            "1".into(),
            "1.000".into(),
            "4/4".into(),
            "1234".into(),
        ]);
        t.rows.push(vec![
            "a/2".into(),
            "16".into(),
            String::new(),
            String::new(),
            "00ab".into(),
        ]);
        let text = table_json(&t, &[false, true, true, false, false]);
        assert_eq!(
            text,
            "[\n  {\"id\": \"a/1\", \"k\": 1, \"speedup\": 1.000, \"loads\": \"4/4\", \"hash\": \"1234\"},\n  {\"id\": \"a/2\", \"k\": 16, \"speedup\": null, \"loads\": null, \"hash\": \"00ab\"}\n]\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[1]["k"], 16);
        assert_eq!(table_json(&Table::new(&["a"]), &[false]), "[]\n");
    }

    #[test]
    fn the_row_type_says_which_columns_are_numbers() {
        let set = fixture::quick("q");
        let mut rows: Vec<SummaryRow> = set.summary_rows().unwrap();
        rows.truncate(2);
        rows[0].hash = "1234567890123456".into();
        rows[0].speedup = Some(1.5);
        rows[1].status = Status::Failed;
        rows[1].latency_mean_us = None;
        let text = String::from_utf8(Json.rows(&rows).unwrap()).unwrap();
        // Numeric columns: bare numbers in the column's fixed format.
        assert!(text.contains("\"speedup\": 1.500,"), "{text}");
        assert!(text.contains("\"inferences\": 50,"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v[0]["latency_mean_us"].is_number(), "{v}");
        assert_eq!(v[1]["latency_mean_us"], serde_json::Value::Null);
        // Text columns whose cells hold only digits stay text: a hash, a
        // single K, a round count.
        assert_eq!(v[0]["hash"], "1234567890123456");
        assert_eq!(v[0]["k"], "1");
        assert_eq!(v[1]["status"], "failed");
        let sweep = SweepRow {
            sweep: "c/sweep".into(),
            k_values: "1 4".into(),
            k_answer: Some(4),
            k_answer_rounds: "5/5".into(),
            latency_mean_us: Some(100.04),
            default_latency_mean_us: None,
            speedup: Some(1.0),
            cells_ok: "2/2".into(),
            runs: "2".into(),
            k_opt: None,
        };
        let v = json(&vec![sweep]);
        assert_eq!(v[0]["k_answer"], 4);
        assert_eq!(v[0]["runs"], "2", "a number or made/a sweep's: text");
        assert_eq!(v[0]["latency_mean_us"].to_string(), "100.0");
        assert_eq!(v[0]["default_latency_mean_us"], serde_json::Value::Null);
        assert_eq!(json(&Vec::<KstrategyRow>::new()), serde_json::json!([]));
    }
}
