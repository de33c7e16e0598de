//! Writing results: formatted tables (CSV, Markdown, terminal) and atomic
//! file writes. A table's cells are already formatted strings, so every
//! format shows the same digits and `git diff` shows only real changes.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

pub mod read;
pub mod terminal;

/// A formatted table: column names and rows of strings ("" for missing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[&str]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The table cut to the columns at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Table {
        Table {
            columns: idx.iter().map(|&i| self.columns[i].clone()).collect(),
            rows: self
                .rows
                .iter()
                .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
                .collect(),
        }
    }

    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let quoted: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
            out.push_str(&quoted.join(","));
            out.push('\n');
        };
        line(&self.columns, &mut out);
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }

    /// A Markdown (GFM) table: whatever a value holds (pipes, line breaks,
    /// control characters), each stays in its cell.
    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| crate::text::md_cell(s);
        let mut out = format!(
            "| {} |\n",
            self.columns
                .iter()
                .map(|c| esc(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        out.push_str(&format!("|{}\n", "---|".repeat(self.columns.len())));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} |\n",
                r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
            ));
        }
        out
    }

    /// An aligned table for the terminal, limited to `columns` (all when
    /// empty), without colour.
    pub fn to_terminal(&self, columns: &[&str]) -> String {
        terminal::render(self, columns, &[], false)
    }
}

/// A CSV field: quoted when it must be, and never a formula a spreadsheet
/// would run (see [`crate::text::csv_guard`]; reading a table back undoes
/// the guard).
fn csv_field(s: &str) -> String {
    let s = crate::text::csv_guard(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Fixed number formats, so tables diff cleanly.
pub fn fmt_f(x: Option<f64>, decimals: usize) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => String::new(),
    }
}

/// P-values in scientific notation with three significant digits.
pub fn fmt_p(p: Option<f64>) -> String {
    match p {
        Some(v) if v.is_finite() => format!("{v:.2e}"),
        _ => String::new(),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// flushed to disk, then renamed over the target. A crash leaves either the
/// old file or the new one, never a torn one.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut t = Table::new(&["id", "note"]);
        t.rows.push(vec!["a/b".into(), "x, \"y\"".into()]);
        assert_eq!(t.to_csv(), "id,note\na/b,\"x, \"\"y\"\"\"\n");
    }

    #[test]
    fn csv_and_markdown_cannot_attack_their_reader() {
        let mut t = Table::new(&["id", "title"]);
        t.rows
            .push(vec!["-1.5".into(), "=HYPERLINK(\"http://x\",\"y\")".into()]);
        t.rows.push(vec!["a".into(), "x | y\nz".into()]);
        assert_eq!(
            t.to_csv(),
            "id,title\n-1.5,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\na,\"x | y\nz\"\n"
        );
        let md = t.to_markdown();
        assert_eq!(md.lines().count(), 4, "{md}");
        for line in md.lines().filter(|l| !l.starts_with("|---")) {
            assert_eq!(line.matches(" | ").count(), 1, "two cells: {line}");
        }
    }

    #[test]
    fn fixed_formats() {
        assert_eq!(fmt_f(Some(1.0 / 3.0), 3), "0.333");
        assert_eq!(fmt_f(None, 1), "");
        assert_eq!(fmt_f(Some(f64::NAN), 1), "");
        assert_eq!(fmt_p(Some(0.000123456)), "1.23e-4");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
