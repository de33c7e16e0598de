//! Progress on stderr. On a terminal: one line per board (cells done of
//! its cells, the cell it runs, or why it stopped), with finished cells
//! printed above the lines. Otherwise: one line per finished cell.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::record::{CellRecord, Status};

pub struct Progress {
    multi: MultiProgress,
    /// One line per board.
    boards: BTreeMap<String, ProgressBar>,
    plain: bool,
    total: usize,
}

impl Progress {
    /// A reporter for the cells to run on each board (board, count);
    /// `enabled: false` prints nothing.
    pub fn new(per_board: &[(String, usize)], enabled: bool) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let target = if enabled && tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress::with_target(per_board, target, enabled && !tty)
    }

    /// A reporter drawing to `target` (tests draw to a hidden one).
    pub fn with_target(
        per_board: &[(String, usize)],
        target: ProgressDrawTarget,
        plain: bool,
    ) -> Progress {
        let multi = MultiProgress::with_draw_target(target);
        let width = per_board.iter().map(|(b, _)| b.len()).max().unwrap_or(0);
        let style = ProgressStyle::with_template(&format!(
            "{{spinner}} {{prefix:<{width}}} {{pos:>3}}/{{len:<3}} [{{elapsed}}] {{bar:20}} {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let boards = per_board
            .iter()
            .map(|(b, n)| {
                let bar = multi.add(ProgressBar::new(*n as u64));
                bar.set_style(style.clone());
                bar.set_prefix(b.clone());
                bar.enable_steady_tick(Duration::from_millis(200));
                (b.clone(), bar)
            })
            .collect();
        Progress {
            multi,
            boards,
            plain,
            total: per_board.iter().map(|(_, n)| n).sum(),
        }
    }

    fn bar(&self, board: &str) -> Option<&ProgressBar> {
        self.boards.get(board)
    }

    /// `board` starts cell `id`.
    pub fn started(&self, board: &str, id: &str) {
        if let Some(b) = self.bar(board) {
            b.set_message(id.to_string());
        }
    }

    /// `board` finished a cell (the `done`th of the run).
    pub fn finished(&self, board: &str, done: usize, record: &CellRecord, latency_us: Option<f64>) {
        let mut line = format!(
            "[{done:>w$}/{}] {:<11} {:>7.1}s  {}",
            self.total,
            record.status.as_str(),
            record.wall_s,
            record.id,
            w = self.total.to_string().len()
        );
        if let Some(l) = latency_us {
            line.push_str(&format!("  latency {:.1} us", l));
        }
        if record.status != Status::Ok
            && let Some(r) = &record.reason
        {
            line.push_str(&format!("\n    {r}"));
        }
        self.print(&line);
        if let Some(b) = self.bar(board) {
            b.inc(1);
            b.set_message(String::new());
        }
    }

    /// `board` did not run cell `id` (the board was lost).
    pub fn skipped(&self, board: &str, done: usize, id: &str, why: &str) {
        self.print(&format!(
            "[{done:>w$}/{}] {:<11} {:>7}   {id}\n    board `{board}` was lost: {why}",
            self.total,
            Status::NotRun.as_str(),
            "-",
            w = self.total.to_string().len()
        ));
        if let Some(b) = self.bar(board) {
            b.inc(1);
        }
    }

    /// Something about one board (a retry, a lost board): on its line and
    /// above the lines.
    pub fn board_note(&self, board: &str, msg: &str) {
        self.print(&format!("board `{board}`: {msg}"));
        if let Some(b) = self.bar(board) {
            b.set_message(msg.to_string());
        }
    }

    pub fn note(&self, msg: &str) {
        self.print(msg);
    }

    fn print(&self, line: &str) {
        // Reasons quote boards and benchmarks: their escape sequences are
        // shown, never acted on.
        let line = &*crate::text::printable_lines(line);
        if self.plain {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// Cells done and to do on `board`'s line.
    pub fn position(&self, board: &str) -> Option<(u64, u64)> {
        self.bar(board)
            .map(|b| (b.position(), b.length().unwrap_or(0)))
    }

    pub fn finish(&self) {
        for b in self.boards.values() {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_board_has_its_own_line() {
        let p = Progress::with_target(
            &[("local".into(), 2), ("pi".into(), 3)],
            ProgressDrawTarget::hidden(),
            false,
        );
        p.started("pi", "pi/none/cpu-current/gpu-current/tiny/default");
        p.skipped("pi", 1, "pi/x", "connection refused");
        p.skipped("pi", 2, "pi/y", "connection refused");
        assert_eq!(p.position("pi"), Some((2, 3)));
        assert_eq!(p.position("local"), Some((0, 2)));
        assert_eq!(p.position("nowhere"), None);
        assert_eq!(p.boards.len(), 2);
    }
}
