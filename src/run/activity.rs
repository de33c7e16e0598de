//! Which cells of other klo-spec runs ran on this machine at the same time
//! as one of ours. Within one run, the cells of boards that share this
//! machine never overlap (they share a lane, see `rounds.rs`); another run
//! started beside it (another scenario, another output folder, another
//! board on this machine) is only found here.
//!
//! Every cell of a board on this machine registers itself for the time its
//! benchmark runs: a file `active/<pid>-<n>` while it runs, then a line
//! `<pid> <start ns> <end ns> <cell id>` appended to `activity.log`. At its
//! end a cell lists the other processes' cells whose time overlapped its
//! own: lines of the log, and files of cells still running (whose process
//! is alive). The folder is `activity/` under the local boards' parent
//! folder (`KLO_SPEC_LOCAL_DIR`, default `$TMPDIR/klo-spec-<uid>`): runs of
//! one user see each other.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// The log is trimmed to its last day of lines once it grows past this.
const LOG_TRIM_BYTES: u64 = 1 << 20;
const DAY_NS: u128 = 86_400 * 1_000_000_000;

/// The registry of one machine.
#[derive(Debug, Clone)]
pub struct Activity {
    dir: PathBuf,
}

/// One cell's registration, ended by [`Registration::end`].
pub struct Registration {
    dir: PathBuf,
    file: PathBuf,
    start: u128,
    id: String,
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn alive(pid: u32) -> bool {
    // Signal 0 checks that the process exists; EPERM means it does too.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl Activity {
    /// The registry under `root` (created when first used).
    pub fn new(root: &Path) -> Activity {
        Activity {
            dir: root.join("activity"),
        }
    }

    /// The registry of the local boards' parent folder.
    pub fn for_this_machine() -> Option<Activity> {
        crate::board::local::local_root()
            .ok()
            .map(|r| Activity::new(&r))
    }

    /// Registers a cell of ours that starts now. Failing to register (an
    /// unwritable folder) only loses the check, never the cell.
    pub fn begin(&self, id: &str) -> Registration {
        let start = now_ns();
        let file = self.dir.join("active").join(format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::create_dir_all(self.dir.join("active"));
        let _ = std::fs::write(
            &file,
            format!("{} {start} {}\n", std::process::id(), one_line(id)),
        );
        Registration {
            dir: self.dir.clone(),
            file,
            start,
            id: id.to_string(),
        }
    }
}

/// An id on one line, without spaces (ids have none; be safe).
fn one_line(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}

impl Registration {
    /// Ends the registration: the cells of other processes that ran during
    /// this one, as `<id> (pid <pid>)`, sorted.
    pub fn end(self) -> Vec<String> {
        let end = now_ns();
        let me = std::process::id();
        let _ = std::fs::remove_file(&self.file);
        let log = self.dir.join("activity.log");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
        {
            // One short line per write: appends of it do not interleave.
            let _ = f.write_all(
                format!("{me} {} {end} {}\n", self.start, one_line(&self.id)).as_bytes(),
            );
        }
        let mut found = std::collections::BTreeSet::new();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        for line in text.lines() {
            let mut it = line.split(' ');
            let (Some(pid), Some(s), Some(e), Some(id)) = (
                it.next().and_then(|x| x.parse::<u32>().ok()),
                it.next().and_then(|x| x.parse::<u128>().ok()),
                it.next().and_then(|x| x.parse::<u128>().ok()),
                it.next(),
            ) else {
                continue;
            };
            if pid != me && s < end && e > self.start {
                found.insert(format!("{id} (pid {pid})"));
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.dir.join("active")) {
            for e in entries.flatten() {
                let Ok(text) = std::fs::read_to_string(e.path()) else {
                    continue;
                };
                let mut it = text.trim().split(' ');
                let (Some(pid), Some(s), Some(id)) = (
                    it.next().and_then(|x| x.parse::<u32>().ok()),
                    it.next().and_then(|x| x.parse::<u128>().ok()),
                    it.next(),
                ) else {
                    continue;
                };
                if pid == me {
                    continue;
                }
                if !alive(pid) {
                    // Left by a run that was killed.
                    let _ = std::fs::remove_file(e.path());
                    continue;
                }
                if s < end {
                    found.insert(format!("{id} (pid {pid})"));
                }
            }
        }
        trim(&log, end);
        found.into_iter().collect()
    }
}

/// Keeps the log small: past `LOG_TRIM_BYTES`, only the last day's lines
/// stay (written to a new file, renamed over the old one).
fn trim(log: &Path, now: u128) {
    if std::fs::metadata(log).map(|m| m.len()).unwrap_or(0) < LOG_TRIM_BYTES {
        return;
    }
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    let keep: String = text
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(2)
                .and_then(|e| e.parse::<u128>().ok())
                .is_some_and(|e| e + DAY_NS > now)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let tmp = log.with_extension(format!("trim.{}", std::process::id()));
    if std::fs::write(&tmp, keep).is_ok() {
        let _ = std::fs::rename(&tmp, log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_of_another_process_during_ours_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let a = Activity::new(dir.path());
        let reg = a.begin("local/none/x/r1");
        // Another run's cell that started and ended during ours, one that
        // ended before ours began, and one still running (this test's
        // parent process stands in for a live klo-spec).
        let parent = std::os::unix::process::parent_id();
        let log = dir.path().join("activity/activity.log");
        let s = reg.start;
        std::fs::write(
            &log,
            format!(
                "{parent} {} {} other/cell/r2\n{parent} 1 2 old/cell/r1\n",
                s + 1,
                s + 2
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("activity/active/999-0"),
            format!("{parent} {} running/cell/r3\n", s + 3),
        )
        .unwrap();
        // A dead process's leftover is ignored and removed.
        std::fs::write(
            dir.path().join("activity/active/998-0"),
            format!("{} {} dead/cell/r1\n", u32::MAX - 7, s),
        )
        .unwrap();
        let found = reg.end();
        assert_eq!(
            found,
            vec![
                format!("other/cell/r2 (pid {parent})"),
                format!("running/cell/r3 (pid {parent})"),
            ]
        );
        assert!(!dir.path().join("activity/active/998-0").exists());
        // Our own cells never count, and ours is in the log now.
        let again = a.begin("local/none/y/r1");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains(" local/none/x/r1\n"), "{text}");
        std::fs::remove_file(&log).unwrap();
        std::fs::remove_file(dir.path().join("activity/active/999-0")).unwrap();
        assert!(again.end().is_empty());
    }
}
