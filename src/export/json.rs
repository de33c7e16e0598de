//! JSON: an array of row objects, keys in column order. A column whose
//! every non-empty value is a JSON number literal is written as numbers,
//! digits exactly as in the table (no float round trip); other columns as
//! strings. Empty values are `null`.

use anyhow::Result;

use super::Writer;
use crate::output::Table;

/// Columns that stay text whatever they hold: a content hash is an
/// identifier, even when its hex digits happen to be all decimal.
const TEXT_COLUMNS: [&str; 2] = ["hash", "id"];

pub(super) struct Json;

/// Whether `s` is a number by JSON's grammar:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

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

/// A table as JSON text (also used by `diff --format json`).
pub fn table_json(t: &Table) -> String {
    let numeric: Vec<bool> = (0..t.columns.len())
        .map(|c| {
            !TEXT_COLUMNS.contains(&t.columns[c].as_str())
                && t.rows.iter().any(|r| !r[c].is_empty())
                && t.rows
                    .iter()
                    .all(|r| r[c].is_empty() || is_json_number(&r[c]))
        })
        .collect();
    let keys: Vec<String> = t.columns.iter().map(|c| quote(c)).collect();
    let mut out = String::from("[");
    for (n, r) in t.rows.iter().enumerate() {
        out.push_str(if n == 0 { "\n  {" } else { ",\n  {" });
        push_row(&mut out, &keys, &numeric, r);
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
    fn table(&self, t: &Table) -> Result<Vec<u8>> {
        Ok(table_json(t).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_number_grammar() {
        for yes in ["0", "-1", "12.50", "2.36e-1", "1E+3", "-0.5"] {
            assert!(is_json_number(yes), "{yes}");
        }
        for no in [
            "", "-", "01", "1.", ".5", "1e", "nan", "inf", "4/4", "0x1", "1 ",
        ] {
            assert!(!is_json_number(no), "{no}");
        }
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
        let text = table_json(&t);
        assert_eq!(
            text,
            "[\n  {\"id\": \"a/1\", \"k\": 1, \"speedup\": 1.000, \"loads\": \"4/4\", \"hash\": \"1234\"},\n  {\"id\": \"a/2\", \"k\": 16, \"speedup\": null, \"loads\": null, \"hash\": \"00ab\"}\n]\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[1]["k"], 16);
        assert_eq!(table_json(&Table::new(&["a"])), "[]\n");
    }
}
