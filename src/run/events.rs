//! What a run reports as it goes, as events: the lane workers and the
//! run's steps emit them, and reporters consume them (the terminal's
//! progress lines, the tally `meta.json` takes its count of runs from, or
//! nothing under `--quiet`). The split is nextest's: the runner says what
//! happened, a reporter decides what to show.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::progress::Progress;
use crate::record::CellRecord;

/// One thing that happened during a run.
#[derive(Debug)]
pub enum Event<'a> {
    /// About the run as a whole (what resumes, the order drawn).
    Note(&'a str),
    /// Something the user must act on (what a forced stop left on a
    /// board): shown even under `--quiet`.
    Warning(&'a str),
    /// About one board (a retry, a lost board, a bail).
    BoardNote { board: &'a str, msg: &'a str },
    /// A board starts a run of a cell.
    Started { board: &'a str, id: &'a str },
    /// A board finished a run (the `done`th of the run).
    Finished {
        board: &'a str,
        done: usize,
        record: &'a CellRecord,
        latency_us: Option<f64>,
    },
    /// A run that was not run: its board was lost.
    Skipped {
        board: &'a str,
        done: usize,
        id: &'a str,
        why: &'a str,
    },
}

/// Consumes a run's events; called from every lane's thread.
pub trait Reporter: Sync {
    fn report(&self, event: &Event);
    /// The run is over: clear what is drawn.
    fn finish(&self) {}
}

/// `--quiet`: only warnings, on stderr.
pub struct Quiet;

impl Reporter for Quiet {
    fn report(&self, event: &Event) {
        if let Event::Warning(msg) = event {
            eprintln!("{}", crate::text::printable_lines(msg));
        }
    }
}

impl Reporter for Progress {
    fn report(&self, event: &Event) {
        match *event {
            Event::Note(msg) | Event::Warning(msg) => self.note(msg),
            Event::BoardNote { board, msg } => self.board_note(board, msg),
            Event::Started { board, id } => self.started(board, id),
            Event::Finished {
                board,
                done,
                record,
                latency_us,
            } => self.finished(board, done, record, latency_us),
            Event::Skipped {
                board,
                done,
                id,
                why,
            } => self.skipped(board, done, id, why),
        }
    }

    fn finish(&self) {
        Progress::finish(self);
    }
}

/// Counts the runs that finished, for `meta.json` (`run.runs_run`).
#[derive(Debug, Default)]
pub struct Tally {
    finished: AtomicUsize,
}

impl Tally {
    pub fn runs(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }
}

impl Reporter for Tally {
    fn report(&self, event: &Event) {
        if let Event::Finished { .. } = event {
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Every event to each of several reporters, in order.
pub struct Fanout<'a>(pub Vec<&'a dyn Reporter>);

impl Reporter for Fanout<'_> {
    fn report(&self, event: &Event) {
        for r in &self.0 {
            r.report(event);
        }
    }

    fn finish(&self) {
        for r in &self.0 {
            r.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records what it is told.
    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Reporter for Log {
        fn report(&self, event: &Event) {
            let line = match event {
                Event::Finished { board, done, .. } => format!("finished {board} {done}"),
                other => format!("{other:?}"),
            };
            self.0.lock().unwrap().push(line);
        }
    }

    fn record() -> CellRecord {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.yaml");
        std::fs::write(&f, "name: e\nboards: [local]\nnetworks: [tiny]\n").unwrap();
        let s = crate::scenario::load(&f).unwrap();
        let cell = crate::matrix::expand(&s).unwrap().remove(0);
        super::super::cell::new_record(&cell, &Default::default(), &Default::default())
    }

    #[test]
    fn every_reporter_gets_every_event_and_the_tally_counts_finished_runs() {
        let (log, tally) = (Log::default(), Tally::default());
        let both = Fanout(vec![&log, &tally]);
        let r = record();
        both.report(&Event::Note("resuming"));
        both.report(&Event::Started {
            board: "local",
            id: "x",
        });
        both.report(&Event::Finished {
            board: "local",
            done: 1,
            record: &r,
            latency_us: Some(3.0),
        });
        both.report(&Event::Skipped {
            board: "pi",
            done: 2,
            id: "y",
            why: "lost",
        });
        assert_eq!(tally.runs(), 1, "a skipped run is not a run");
        let lines = log.0.lock().unwrap().clone();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "Note(\"resuming\")");
        assert_eq!(lines[2], "finished local 1");
    }
}
