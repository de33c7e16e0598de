//! What a run holds and how it waits: the output folder's lock, the
//! boards' locks, `--wait`, and trying a lost board again.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{Prepared, RunOptions};
use crate::board::{BoardLock, Cancel};
use crate::error::{Busy, Interrupted};
use crate::layout::ResultDir;

/// Holds `outputs/<name>/.lock` for the run: a second run on the same
/// results is refused with the holder's PID and host.
pub struct OutputLock {
    _file: File,
}

impl OutputLock {
    pub fn acquire(dir: &Path) -> Result<OutputLock> {
        let unwritable = |e: std::io::Error, what: &Path| -> anyhow::Error {
            anyhow::anyhow!(
                "the output folder {} cannot be written ({what}: {e}): nothing was run; make it writable, or give another folder with --output-dir",
                dir.display(),
                what = what.display()
            )
        };
        std::fs::create_dir_all(dir).map_err(|e| unwritable(e, dir))?;
        let path = ResultDir::new(dir).lock();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| unwritable(e, &path))?;
        if file.try_lock().is_err() {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(Busy {
                message: format!("another klo-spec run holds {}", dir.display()),
                holder: holder.trim().to_string(),
                hint: "wait for it to finish, or run with --wait: two runs must not write one result set at the same time".into(),
            }
            .into());
        }
        file.set_len(0).map_err(|e| unwritable(e, &path))?;
        writeln!(file, "{}", crate::host::this_process()).map_err(|e| unwritable(e, &path))?;
        Ok(OutputLock { _file: file })
    }
}

/// Runs `op` (taking a lock) until it does not say `Busy`, when `wait`
/// allows: a first `Busy` is an error without `--wait`; with it, klo-spec
/// says whom it waits for (again when the holder changes) and tries every
/// half second until `wait` has passed or the run is cancelled.
pub fn wait_for<T>(
    wait: Option<Duration>,
    cancel: &Cancel,
    say: bool,
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    let Some(limit) = wait else { return op() };
    let t0 = Instant::now();
    let mut told = String::new();
    loop {
        let e = match op() {
            Err(e) if e.is::<Busy>() => e,
            other => return other,
        };
        let busy = e.downcast_ref::<Busy>().cloned().unwrap_or_else(|| Busy {
            message: e.to_string(),
            holder: String::new(),
            hint: String::new(),
        });
        if t0.elapsed() >= limit {
            return Err(e.context(format!(
                "gave up after waiting {} s (--wait-timeout)",
                t0.elapsed().as_secs()
            )));
        }
        if cancel.is_cancelled() {
            return Err(Interrupted(format!("while waiting: {}", busy.message)).into());
        }
        if told != busy.holder && say {
            eprintln!(
                "klo-spec: {} ({}); waiting for it to finish (--wait)",
                busy.message, busy.holder
            );
            told = busy.holder.clone();
        }
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until && !cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Takes every board's lock, in name order (the output folder is taken
/// last, so two waiting runs cannot hold what the other waits for):
/// refusing a busy board writes nothing. A board that cannot be reached
/// is lost (why, per board); the others go on.
pub(super) fn lock_boards(
    p: &Prepared,
    opts: &RunOptions,
    cancel: &Cancel,
) -> Result<(Vec<BoardLock>, BTreeMap<String, String>)> {
    let mut lost: BTreeMap<String, String> = BTreeMap::new();
    let mut board_locks = Vec::new();
    for (name, b) in &p.boards {
        let retries = b.config().retries;
        let note = |n: u32, why: &str| {
            if opts.progress {
                eprintln!(
                    "klo-spec: board `{name}` is unreachable ({why}); trying again ({n}/{retries})"
                )
            }
        };
        match wait_for(opts.wait, cancel, opts.progress, || {
            with_retries(retries, cancel, note, || b.lock())
        }) {
            Ok(l) => board_locks.push(l),
            Err(e) => match unreachable(&e) {
                Some(why) => {
                    lost.insert(name.clone(), why);
                }
                None => return Err(e),
            },
        }
    }
    Ok((board_locks, lost))
}

/// Runs `op` and tries it again (up to `retries` times, a little later each
/// time) while the board cannot be reached; the last error otherwise.
pub(super) fn with_retries<T>(
    retries: u32,
    cancel: &Cancel,
    mut on_retry: impl FnMut(u32, &str),
    mut op: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        match op() {
            Err(e) if attempt < retries && !cancel.is_cancelled() && unreachable(&e).is_some() => {
                attempt += 1;
                on_retry(attempt, &unreachable(&e).unwrap_or_default());
                backoff(attempt, cancel);
            }
            other => return other,
        }
    }
}

/// What the client said when `e` is a lost board.
pub(super) fn unreachable(e: &anyhow::Error) -> Option<String> {
    e.downcast_ref::<crate::board::Unreachable>()
        .map(|u| u.detail.clone())
}

/// Waits 2 s per attempt before trying a lost board again (its board-side
/// cleanup of the cut-off cell takes a few seconds); a cancellation ends
/// the wait.
pub(crate) fn backoff(attempt: u32, cancel: &Cancel) {
    let until = Instant::now() + std::time::Duration::from_secs(2 * attempt as u64);
    while Instant::now() < until && !cancel.is_cancelled() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `op` on every board not lost, trying again while a board cannot
/// be reached (its `retries`); a board that stays unreachable is lost, any
/// other error stops the run (with `what` and the board's name).
pub(crate) fn per_board<T>(
    p: &Prepared,
    lost: &mut BTreeMap<String, String>,
    cancel: &Cancel,
    what: &str,
    say: bool,
    op: impl Fn(&dyn crate::board::Transport) -> Result<T>,
) -> Result<BTreeMap<String, T>> {
    let mut out = BTreeMap::new();
    for (name, b) in &p.boards {
        if lost.contains_key(name) {
            continue;
        }
        let retries = b.config().retries;
        let note = |n: u32, why: &str| {
            if say {
                eprintln!(
                    "klo-spec: board `{name}` is unreachable ({why}); trying again ({n}/{retries})"
                )
            }
        };
        match with_retries(retries, cancel, note, || op(b.as_ref())) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(e) => match unreachable(&e) {
                Some(why) => {
                    lost.insert(name.clone(), why);
                }
                None => return Err(e.context(format!("{what} `{name}`"))),
            },
        }
    }
    Ok(out)
}
