//! Aligned tables for the terminal, with the words people scan for
//! (verdicts, statuses, diff marks) coloured when stdout is a terminal.
//! Piped output carries no escape codes, so `| grep` and `> file` get the
//! plain table.

use std::io::IsTerminal;

use comfy_table::{Cell, CellAlignment, Color, presets};

use super::Table;
use crate::verdict::Verdict;

/// Whether stdout should be coloured: it is a terminal and `NO_COLOR`
/// (no-color.org) is not set.
pub fn stdout_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The colour of a value in a `status`, `verdict` or `mark` column: green
/// for what went well, red for what did not, yellow for what is undecided.
/// Every cell status but `ok` (and `load_died` and `throttled`, measured but
/// not under the conditions asked) is a failure of some kind, new ones
/// included.
pub fn word_colour(column: &str, value: &str) -> Option<Color> {
    match (column, value) {
        (_, "") => None,
        ("status", "ok") => Some(Color::Green),
        ("status", "load_died" | "throttled") => Some(Color::Yellow),
        ("status", _) => Some(Color::Red),
        (_, "better") => Some(Color::Green),
        (_, "worse" | "gone") => Some(Color::Red),
        (_, "not comparable") => Some(Color::Yellow),
        (_, "new") => Some(Color::Cyan),
        (_, v) => v.parse::<Verdict>().ok().map(|v| match v {
            Verdict::Pass => Color::Green,
            Verdict::Fail => Color::Red,
            Verdict::Inconclusive => Color::Yellow,
        }),
    }
}

/// Renders `table` limited to `columns` (all when empty), numbers aligned
/// right. With `colour`, the cells of the `coloured` columns are painted by
/// [`word_colour`].
pub fn render(table: &Table, columns: &[&str], coloured: &[&str], colour: bool) -> String {
    let idx: Vec<usize> = if columns.is_empty() {
        (0..table.columns.len()).collect()
    } else {
        columns.iter().filter_map(|c| table.column(c)).collect()
    };
    let paint: Vec<bool> = idx
        .iter()
        .map(|&i| colour && coloured.contains(&table.columns[i].as_str()))
        .collect();
    let mut t = comfy_table::Table::new();
    t.load_style(presets::NOTHING);
    if colour {
        // Colour the word, not its padding: `less -R` and copied text
        // stay clean.
        t.enforce_styling();
        t.style_text_only();
    } else {
        t.force_no_tty();
    }
    // Values from files and boards: their escape sequences are shown,
    // never sent to the terminal.
    t.set_header(
        idx.iter()
            .map(|&i| crate::text::printable(&table.columns[i]).into_owned()),
    );
    for r in &table.rows {
        t.add_row(idx.iter().zip(&paint).map(|(&i, &p)| {
            let cell = Cell::new(crate::text::printable(&r[i]));
            match word_colour(&table.columns[i], &r[i]).filter(|_| p) {
                Some(c) => cell.fg(c),
                None => cell,
            }
        }));
    }
    for (n, &i) in idx.iter().enumerate() {
        if table
            .rows
            .iter()
            .all(|r| r[i].is_empty() || r[i].parse::<f64>().is_ok())
            && let Some(c) = t.column_mut(n)
        {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts() -> Table {
        let mut t = Table::new(&["check", "ratio", "verdict"]);
        t.rows.push(vec!["C1".into(), "1.5".into(), "PASS".into()]);
        t.rows
            .push(vec!["C2".into(), "10.25".into(), "FAIL".into()]);
        t
    }

    #[test]
    fn plain_output_has_no_escape_codes_and_aligns_numbers_right() {
        let out = render(&verdicts(), &[], &["verdict"], false);
        assert!(!out.contains('\x1b'), "{out:?}");
        let lines: Vec<&str> = out.lines().collect();
        let end = |line: &str, n: &str| line.find(n).map(|i| i + n.len());
        assert_eq!(end(lines[1], "1.5"), end(lines[2], "10.25"), "{out}");
        assert!(lines[1].contains("1.5  PASS"), "{out}");
    }

    #[test]
    fn colour_paints_only_the_named_columns() {
        let out = render(&verdicts(), &["check", "verdict"], &["verdict"], true);
        assert!(out.contains("\x1b[38;5;10mPASS\x1b[39m"), "{out:?}");
        assert!(out.contains("\x1b[38;5;9mFAIL\x1b[39m"), "{out:?}");
        assert!(!out.contains("ratio"), "only the columns asked for: {out}");
        let uncoloured = render(&verdicts(), &[], &[], true);
        assert!(!uncoloured.contains('\x1b'), "{uncoloured:?}");
    }

    #[test]
    fn every_status_but_ok_is_a_warning_colour() {
        assert_eq!(word_colour("status", "ok"), Some(Color::Green));
        assert_eq!(word_colour("status", "freq_mismatch"), Some(Color::Red));
        assert_eq!(word_colour("status", "load_died"), Some(Color::Yellow));
        assert_eq!(word_colour("verdict", "ok"), None);
        assert_eq!(word_colour("mark", "not comparable"), Some(Color::Yellow));
        assert_eq!(word_colour("mark", ""), None);
    }
}
