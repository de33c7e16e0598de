//! One round trip to an ssh or adb board, on this machine's side. The
//! client (`ssh` or `adb shell`) gets a short fixed command line (stage
//! one: copy the round trip script off standard input, run it with the
//! board's root method) and, on its standard input, that script
//! (`templates/remote.sh.j2`) followed by a tar archive of the files. The
//! input stays open until the client exits: closing it early is how a
//! cancelled or overdue cell is told to clean up on the board. What comes
//! back ends with a `klo-exit=<status>` line, so the status does not depend
//! on the client passing it on.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::Cancel;
use super::inventory::RootMethod;

/// How long a board gets to clean up and answer after its input closed.
pub const HANGUP_GRACE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);
/// Most bytes a round trip that answers with a script's standard output
/// (not a cell folder) may send back: a topology reading, a check, a build
/// log are kilobytes.
pub const STDOUT_CAP: u64 = 64 << 20;
/// Most bytes a client may write to its standard error before it is
/// stopped; messages quote at most the last [`STDERR_SHOWN`] of them.
const STDERR_CAP: u64 = 16 << 20;
const STDERR_SHOWN: u64 = 64 << 10;

/// What one round trip sends.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The board folder the files are unpacked into (created afresh).
    pub dir: &'a str,
    /// (name, content, permission bits).
    pub files: &'a [super::JobFile],
    /// The file among `files` run with `sh`, if any.
    pub script: Option<&'a str>,
    /// Send back the whole folder (a tar archive) instead of the script's
    /// standard output.
    pub folder: bool,
    /// Leave the folder on the board (helpers), instead of removing it.
    pub keep: bool,
    /// Most bytes the answer may have ([`STDOUT_CAP`], or for a folder
    /// the pull limits' [`crate::untrusted::PullLimits::archive_bytes`]): past
    /// it the client is stopped and the answer is not used.
    pub cap: u64,
}

/// What the client process did.
#[derive(Debug)]
pub struct Raw {
    /// The client's exit code (None when killed by a signal).
    pub client_exit: Option<i32>,
    /// What the client wrote to its standard output, in a temporary file
    /// (never all in memory: a board decides its size), `out_len` bytes.
    pub out: File,
    pub out_len: u64,
    /// The end of what it wrote to its standard error, as text.
    pub stderr: String,
    pub wall: Duration,
    pub interrupted: bool,
    pub deadline_hit: bool,
    /// The client wrote more than its cap and was stopped.
    pub overflow: bool,
}

impl Raw {
    /// The whole standard output (for callers whose cap is small).
    pub fn stdout(&mut self) -> std::io::Result<Vec<u8>> {
        self.out.rewind()?;
        let mut v = Vec::with_capacity(self.out_len as usize);
        (&self.out).take(self.out_len).read_to_end(&mut v)?;
        Ok(v)
    }

    /// Where the `klo-exit=<status>` line starts and the status it gives,
    /// read from the end of the output.
    pub fn trailer(&mut self) -> std::io::Result<Option<(u64, i32)>> {
        let tail_len = self.out_len.min(64);
        self.out.seek(SeekFrom::Start(self.out_len - tail_len))?;
        let mut tail = vec![0; tail_len as usize];
        self.out.read_exact(&mut tail)?;
        Ok(split_trailer(&tail)
            .map(|(body, status)| (self.out_len - tail_len + body.len() as u64, status)))
    }
}

/// The tar archive of `files`: regular files with their modes (never
/// wider than 0755).
pub fn tar_files(files: &[super::JobFile]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content, mode) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(*mode & 0o755);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, content.as_slice())
            .with_context(|| format!("cannot pack {name}"))?;
    }
    Ok(b.into_inner()?)
}

/// A board-side script without its comment lines (the shebang stays):
/// fewer bytes to send, and `dd bs=1` copies them one system call each.
pub fn strip_comments(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    for (i, line) in script.lines().enumerate() {
        let t = line.trim_start();
        if (t.starts_with('#') && !(i == 0 && t.starts_with("#!"))) || t.is_empty() {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The command line the board's login shell runs: it copies the round
/// trip script (`runner_len` bytes) off standard input with `dd bs=1` (one
/// byte at a time, so not a byte of the archive behind it is taken) and
/// runs it through the root method. No quotes inside, no backslashes: it
/// reads the same in every shell a login may have.
pub fn stage_one(workdir: &str, runner_len: usize, root: RootMethod) -> String {
    let run = match root {
        // `auto` is resolved before the first round trip (the adb client
        // finds the method); as a method it adds nothing.
        RootMethod::None | RootMethod::AdbRoot | RootMethod::Auto => "sh $F",
        RootMethod::Sudo => "sudo -n sh $F",
        RootMethod::Su => "su -c \"sh $F\"",
        // Android's userdebug su runs its command as is: no shell between.
        RootMethod::Su0 => "su 0 sh $F",
    };
    format!(
        "sh -c '{{ [ -d {workdir}/tmp ] || mkdir -p {workdir}/tmp; }} && F={workdir}/tmp/klo-run.$$ && dd bs=1 count={runner_len} of=$F 2>/dev/null || {{ echo klo-spec: cannot write $F on the board >&2; exit 98; }}; exec {run}'"
    )
}

/// Splits the `klo-exit=<status>` line off the end of what came back.
pub fn split_trailer(out: &[u8]) -> Option<(&[u8], i32)> {
    let body = out.strip_suffix(b"\n")?;
    let at = body.windows(10).rposition(|w| w == b"\nklo-exit=")?;
    let status = std::str::from_utf8(&body[at + 10..]).ok()?.parse().ok()?;
    Some((&out[..at], status))
}

/// Sees a child's exit as it happens: a thread waits for it (`waitid` with
/// `WNOWAIT`, so the child stays to be reaped by its owner's `try_wait`),
/// and [`ExitWatch::wait`] sleeps until then or a timeout. The loops that
/// watch a client or a cell script for a deadline and Ctrl-C wake at once
/// when it ends, instead of polling.
pub struct ExitWatch(Receiver<()>);

impl ExitWatch {
    pub fn new(pid: u32) -> ExitWatch {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // SAFETY: waitid(2) on our own child, into a zeroed siginfo_t.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            loop {
                let r = unsafe {
                    libc::waitid(
                        libc::P_PID,
                        pid as libc::id_t,
                        &mut info,
                        libc::WEXITED | libc::WNOWAIT,
                    )
                };
                if r == 0 {
                    let _ = tx.send(());
                    return;
                }
                if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    return;
                }
            }
        });
        ExitWatch(rx)
    }

    /// Returns when the child has exited or `timeout` has passed.
    pub fn wait(&self, timeout: Duration) {
        match self.0.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            // The waiter is gone (it could not wait): poll.
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the client we started.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Kills the client and everything left in its process group (it leads
/// one of its own): a wrapper's child (`sh -c 'cat /dev/zero'`) killed
/// without its parent would go on writing into the output file, which
/// nobody reads any more, until the disk is full.
fn kill_group(child: &mut Child) {
    let _ = child.kill();
    // SAFETY: kill(2) on the process group the client leads.
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGKILL);
    }
}

/// Runs the client `cmd` with `input` on its standard input, held open
/// until it exits; closes the input at a cancellation or the deadline and
/// kills the client if the board has not answered `HANGUP_GRACE` later (or
/// at a second cancellation). The client runs in its own process group, so
/// a Ctrl-C at the terminal reaches klo-spec only, which then closes the
/// input: the board cleans up and still sends back what the cell wrote.
///
/// A client that writes more than `cap` bytes to its standard output (or
/// more than 16 MiB to its standard error) is killed at once and the
/// answer marked `overflow`: what a board sends back is bounded on this
/// machine's disk too.
pub fn exchange(
    cmd: Command,
    input: Vec<u8>,
    deadline: Duration,
    cancel: Option<&Cancel>,
    cap: u64,
) -> Result<Raw> {
    exchange_with_grace(cmd, input, deadline, HANGUP_GRACE, cancel, cap)
}

/// [`exchange`], with `grace` instead of [`HANGUP_GRACE`] between the
/// closed input and the kill: a short client call with nothing to clean
/// up on the board (`adb features`) is killed soon after its deadline.
pub fn exchange_with_grace(
    mut cmd: Command,
    input: Vec<u8>,
    deadline: Duration,
    grace: Duration,
    cancel: Option<&Cancel>,
    cap: u64,
) -> Result<Raw> {
    let mut out = tempfile::tempfile().context("cannot create a temporary file")?;
    let mut err = tempfile::tempfile().context("cannot create a temporary file")?;
    let program = format!("{:?}", cmd.get_program());
    cmd.stdin(Stdio::piped())
        .stdout(out.try_clone()?)
        .stderr(err.try_clone()?)
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {program}: is it installed?"))?;
    let stdin = child
        .stdin
        .take()
        .context("the client has no standard input")?;
    let mut writer: Option<JoinHandle<std::io::Result<ChildStdin>>> =
        Some(std::thread::spawn(move || {
            let mut stdin = stdin;
            stdin.write_all(&input)?;
            stdin.flush()?;
            Ok(stdin)
        }));
    let mut held: Option<ChildStdin> = None;
    let mut hung_up: Option<Instant> = None;
    let (mut interrupted, mut deadline_hit, mut overflow) = (false, false, false);
    // Wakes at the client's exit, and at least every POLL to watch the
    // deadline, the input writer and Ctrl-C.
    let exited = ExitWatch::new(child.id());
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if writer.as_ref().is_some_and(|w| w.is_finished()) {
            // A failed write means the client is going away: its exit says why.
            held = writer
                .take()
                .and_then(|w| w.join().ok())
                .and_then(|r| r.ok());
        }
        if !overflow && (out.metadata()?.len() > cap || err.metadata()?.len() > STDERR_CAP) {
            overflow = true;
            kill_group(&mut child);
            drop(held.take());
        }
        let level = cancel.map_or(0, Cancel::level);
        let overdue = started.elapsed() > deadline;
        if (level >= 1 || overdue) && hung_up.is_none() {
            interrupted = level >= 1;
            deadline_hit = overdue;
            if writer.is_some() {
                signal(&child, libc::SIGTERM);
            }
            drop(held.take());
            hung_up = Some(Instant::now());
        }
        if let Some(t) = hung_up
            && (level >= 2 || t.elapsed() > grace)
        {
            kill_group(&mut child);
        }
        exited.wait(POLL);
    };
    drop(held);
    let wall = started.elapsed();
    // A client that wrote past the cap and exited between two looks is
    // over it all the same: the answer does not depend on that race.
    if !overflow && (out.metadata()?.len() > cap || err.metadata()?.len() > STDERR_CAP) {
        overflow = true;
    }
    let out_len = out.metadata()?.len();
    // A client killed for writing too much may have gone on a little.
    let out_len = if overflow { out_len.min(cap) } else { out_len };
    out.rewind()?;
    let err_len = err.metadata()?.len();
    err.seek(SeekFrom::Start(err_len.saturating_sub(STDERR_SHOWN)))?;
    let mut e = Vec::new();
    (&err).take(STDERR_SHOWN).read_to_end(&mut e)?;
    Ok(Raw {
        client_exit: status.code(),
        out,
        out_len,
        // What the client or the board said: it reaches messages and the
        // terminal, so its escape sequences are made visible here.
        stderr: crate::text::printable_lines(String::from_utf8_lossy(&e).trim()).into_owned(),
        wall,
        interrupted,
        deadline_hit,
        overflow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_is_split_off_the_end() {
        assert_eq!(
            split_trailer(b"a=1\nb=2\n\nklo-exit=3\n"),
            Some((&b"a=1\nb=2\n"[..], 3))
        );
        assert_eq!(split_trailer(b"\nklo-exit=0\n"), Some((&b""[..], 0)));
        assert_eq!(split_trailer(b"a=1\nklo-exit=x\n"), None);
        assert_eq!(split_trailer(b"a=1\n"), None, "a cut-off reply has none");
    }

    #[test]
    fn stage_one_has_no_quotes_or_backslashes_inside() {
        for root in [
            RootMethod::None,
            RootMethod::Sudo,
            RootMethod::Su,
            RootMethod::Su0,
        ] {
            let s = stage_one("/data/local/tmp/klo-spec", 4321, root);
            let inner = &s[7..s.len() - 1];
            assert!(!inner.contains('\'') && !inner.contains('\\'), "{s}");
            assert!(s.contains("dd bs=1 count=4321 of=$F"), "{s}");
        }
        assert!(stage_one("/w", 1, RootMethod::Su).ends_with("exec su -c \"sh $F\"'"));
        assert!(stage_one("/w", 1, RootMethod::Su0).ends_with("exec su 0 sh $F'"));
    }

    #[test]
    fn a_closed_input_reaches_the_other_side_and_the_client_status_is_kept() {
        // `sh` stands in for the client: it reads what was sent, then waits
        // for the end of its input, which klo-spec sends at the deadline.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("head -c 3; cat >/dev/null; echo done; exit 7");
        let mut raw =
            exchange(cmd, b"abc".to_vec(), Duration::from_millis(300), None, 100).unwrap();
        assert_eq!(raw.stdout().unwrap(), b"abcdone\n");
        assert_eq!(raw.client_exit, Some(7));
        assert!(raw.deadline_hit && !raw.interrupted && !raw.overflow);
    }

    #[test]
    fn a_client_that_writes_past_its_cap_is_stopped_at_once() {
        // A board answering with /dev/zero: stopped, not read to the end.
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("cat /dev/zero");
        let t = Instant::now();
        let mut raw = exchange(cmd, Vec::new(), Duration::from_secs(60), None, 1 << 20).unwrap();
        assert!(raw.overflow && !raw.deadline_hit);
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(raw.out_len <= 1 << 20);
        assert!(raw.stdout().unwrap().len() <= 1 << 20);
        // Nor does the wrapper's child go on writing: the output file
        // stops growing (before, a `cat` the shell forked wrote into it
        // until the disk was full).
        let size = raw.out.metadata().unwrap().len();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            raw.out.metadata().unwrap().len(),
            size,
            "the client's child still writes"
        );
    }

    #[test]
    fn the_status_line_is_found_at_the_end_of_the_output_file() {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("head -c 100000 /dev/zero; printf '\\nklo-exit=5\\n'");
        let mut raw = exchange(cmd, Vec::new(), Duration::from_secs(60), None, 1 << 20).unwrap();
        assert_eq!(raw.trailer().unwrap(), Some((100_000, 5)));
    }
}
