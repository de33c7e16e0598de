//! Progress on stderr: a bar with cells done, the current cell and an ETA
//! when stderr is a terminal; one line per finished cell otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::record::{CellRecord, Status};

pub struct Progress {
    bar: ProgressBar,
    plain: bool,
    total: usize,
}

impl Progress {
    /// A reporter for `total` cells; `enabled: false` prints nothing.
    pub fn new(total: usize, enabled: bool) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let bar = if enabled && tty {
            let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos}/{len} cells [{elapsed}] {wide_bar} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            plain: enabled && !tty,
            total,
        }
    }

    pub fn started(&self, id: &str) {
        self.bar.set_message(id.to_string());
    }

    pub fn finished(&self, done: usize, record: &CellRecord, latency_us: Option<f64>) {
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
        if self.plain {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
        self.bar.inc(1);
    }

    pub fn note(&self, msg: &str) {
        if self.plain {
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
