//! The lock of an ssh or adb board: a process on the board
//! (`templates/lock.sh.j2`) that holds `<workdir>/state/lock.d` for as long
//! as its client call lasts. klo-spec keeps the call open while it uses the
//! board and closes its input to let go; a klo-spec that dies, or a
//! connection that drops, closes it too, so the lock goes with its holder.
//! A second run is refused with the holder's host and PID; a stale lock is
//! cleaned up (its cell stopped, loads killed, values put back) and taken.
//! On an adb board the lock process also keeps the device awake while it
//! holds the lock (`stay_on_while_plugged_in`), and puts the value it found
//! back when it lets go, whatever ended the run.

use std::io::{BufRead as _, BufReader, Read as _, Seek as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use minijinja::context;

use super::Unreachable;
use super::channel::{Channel, token};
use super::inventory::{BoardConfig, TransportKind};
use super::trip::{self, Request};
use crate::render::Templates;

/// A held board lock.
pub struct Keeper {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Keeper {
    /// True while the lock process (and its connection) lives.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Lets go of the board: the input closes, the board removes the lock.
    pub fn release(mut self) {
        drop(self.stdin.take());
        let t = Instant::now();
        while self.alive() && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What taking a lock needs of a remote board.
pub struct Target<'a> {
    pub config: &'a BoardConfig,
    pub channel: &'a dyn Channel,
    pub templates: &'a Templates,
    /// The board's work folder, and the folder of its saved state.
    pub workdir: &'a str,
    pub state_dir: String,
}

/// Takes the board's lock, or says who holds it.
pub fn acquire(board: &Target) -> Result<Keeper> {
    let (keeper, answers, err) = start(board)?;
    let notes = await_lock(board, keeper, &answers, err)?;
    report_stale(&board.config.name, &notes.1);
    Ok(notes.0)
}

/// Starts the lock process on the board (one client call, kept open):
/// the keeper, its output lines as they come, and the file its client's
/// stderr goes to.
fn start(board: &Target) -> Result<(Keeper, mpsc::Receiver<String>, std::fs::File)> {
    let script = board.templates.render_named(
        "lock.sh.j2",
        context! {
            board => context! { state_dir => board.state_dir.clone() },
            owner => format!("{} since {}", crate::host::this_process(), crate::host::now_rfc3339()),
            me => crate::host::this_process(),
            stay_awake => board.config.transport == TransportKind::Adb,
        },
    )?;
    let files = [(
        "klo-lock-keeper.sh".to_string(),
        script.into_bytes(),
        super::EXEC,
    )];
    let dir = format!("{}/tmp/{}", board.workdir, token("lock"));
    let req = Request {
        dir: &dir,
        files: &files,
        script: Some("klo-lock-keeper.sh"),
        folder: false,
        keep: false,
        cap: trip::STDOUT_CAP,
    };
    let archive = trip::tar_files(req.files)?;
    let runner = board.templates.render_named(
        "remote.sh.j2",
        context! { dir => req.dir, payload_bytes => archive.len(), script => req.script, mode => "stdout", keep => false },
    )?;
    let line = trip::stage_one(board.workdir, runner.len(), board.channel.root());
    let mut cmd = board.channel.command(&line);
    let err = tempfile::tempfile()?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(err.try_clone()?)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run the {} client", board.channel.kind()))?;
    let mut stdin = child.stdin.take().context("no input to the lock process")?;
    let stdout = child
        .stdout
        .take()
        .context("no output from the lock process")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // A few short lines are expected: a board sending more (or a line
        // without end) is not read into memory.
        for line in BufReader::new(stdout.take(1 << 20)).lines() {
            let Ok(line) = line else { break };
            // The board's words: shown, not acted on by a terminal.
            let line = crate::text::printable(&line).into_owned();
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    stdin.write_all(runner.as_bytes())?;
    stdin.write_all(&archive)?;
    stdin.flush()?;
    let keeper = Keeper {
        child,
        stdin: Some(stdin),
    };
    Ok((keeper, rx, err))
}

/// Waits for the lock process to say it holds the lock: the keeper and
/// the notes it printed before; busy (the holder) or unreachable (what
/// the client said) otherwise, the process let go.
fn await_lock(
    board: &Target,
    keeper: Keeper,
    rx: &mpsc::Receiver<String>,
    err: std::fs::File,
) -> Result<(Keeper, Vec<String>)> {
    let name = &board.config.name;
    // One limit for the whole answer: a board that keeps sending notes
    // without taking the lock does not hold klo-spec up.
    let limit = Duration::from_secs(board.config.connect_timeout_s as u64 + 60);
    let until = Instant::now() + limit;
    let mut notes = Vec::new();
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(l) if l == "lock=acquired" => break,
            Ok(l) if l.starts_with("lock=busy") => {
                keeper.release();
                let holder = l.trim_start_matches("lock=busy").trim();
                return Err(crate::error::Busy {
                    message: format!("board `{name}` is in use by another klo-spec run"),
                    holder: holder.to_string(),
                    hint: super::BUSY_BOARD_HINT.into(),
                }
                .into());
            }
            Ok(l) => notes.push(l),
            Err(_) => {
                keeper.release();
                let mut err = err;
                let _ = err.rewind();
                let stderr = std::io::read_to_string((&mut err).take(64 << 10)).unwrap_or_default();
                let mut f = crate::text::printable_lines(stderr.trim()).into_owned();
                if f.is_empty() {
                    f = "the lock process ended without an answer".into();
                }
                return Err(Unreachable {
                    board: name.clone(),
                    address: board.channel.address(),
                    detail: f,
                }
                .into());
            }
        }
    }
    Ok((keeper, notes))
}

/// Says so when the lock process found a stale lock and cleaned up.
fn report_stale(name: &str, notes: &[String]) {
    if let Some(stale) = notes.iter().find_map(|n| n.strip_prefix("stale_lock=")) {
        let killed = notes
            .iter()
            .find_map(|n| n.strip_prefix("stale_processes_killed="))
            .unwrap_or("0");
        let restored = notes.iter().any(|n| n == "restored=1");
        eprintln!(
            "klo-spec: board `{name}`: found a stale lock ({stale}); cleaned up first: {killed} leftover process group(s) killed{}",
            if restored {
                ", saved values put back"
            } else {
                ""
            }
        );
    }
}
