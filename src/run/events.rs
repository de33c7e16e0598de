//! What a run reports as it goes, as events: the lane workers and the
//! run's steps emit them, and reporters consume them (the terminal's
//! progress lines, the [`RunLog`] `meta.json` takes what happened during
//! the lanes from, or nothing under `--quiet`). The split is nextest's:
//! the runner says what happened, a reporter decides what to show.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::progress::Progress;
use crate::record::{CellRecord, Status};

/// One thing that happened during a run.
#[derive(Debug)]
pub enum Event<'a> {
    /// About the run as a whole (what resumes, the order drawn).
    Note(&'a str),
    /// Something the user must act on (what a forced stop left on a
    /// board): shown even under `--quiet`.
    Warning(&'a str),
    /// About one board (a retry, a board unreachable from the start).
    BoardNote { board: &'a str, msg: &'a str },
    /// A board was lost during the run: its remaining runs are skipped.
    Lost { board: &'a str, why: &'a str },
    /// A run ended other than ok under `on_failure: bail`: no further
    /// cell starts.
    Bailed {
        board: &'a str,
        id: &'a str,
        status: Status,
    },
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
            Event::Lost { board, why } => self.board_note(board, &format!("lost: {why}")),
            Event::Bailed { board, id, status } => self.board_note(
                board,
                &format!("{id} ended {status}: on_failure: bail, no further cell starts"),
            ),
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

/// What `meta.json` takes from a run's events: how many runs finished
/// (`run.runs_run`) and the boards lost on the way (`boards.<name>.lost`,
/// with those lost before the lanes started). Why the run halted
/// (`run.bailed_after`) is the run's control state, not an event's.
#[derive(Debug, Default)]
pub struct RunLog(Mutex<Logged>);

/// The [`RunLog`]'s content.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Logged {
    pub runs: usize,
    pub lost: BTreeMap<String, String>,
}

impl RunLog {
    pub fn logged(&self) -> Logged {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Reporter for RunLog {
    fn report(&self, event: &Event) {
        let mut l = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match *event {
            Event::Finished { .. } => l.runs += 1,
            Event::Lost { board, why } => {
                l.lost
                    .entry(board.to_string())
                    .or_insert_with(|| why.to_string());
            }
            _ => {}
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
    fn every_reporter_gets_every_event_and_the_log_keeps_runs_and_lost_boards() {
        let (log, run_log) = (Log::default(), RunLog::default());
        let both = Fanout(vec![&log, &run_log]);
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
        both.report(&Event::Lost {
            board: "pi",
            why: "ssh: connection refused",
        });
        both.report(&Event::Lost {
            board: "pi",
            why: "a later reason",
        });
        both.report(&Event::Skipped {
            board: "pi",
            done: 2,
            id: "y",
            why: "lost",
        });
        both.report(&Event::Bailed {
            board: "local",
            id: "x",
            status: Status::Failed,
        });
        let logged = run_log.logged();
        assert_eq!(logged.runs, 1, "a skipped run is not a run");
        assert_eq!(
            logged.lost.into_iter().collect::<Vec<_>>(),
            [("pi".to_string(), "ssh: connection refused".to_string())],
            "the first reason a board was lost is kept"
        );
        let lines = log.0.lock().unwrap().clone();
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[0], "Note(\"resuming\")");
        assert_eq!(lines[2], "finished local 1");
    }
}
