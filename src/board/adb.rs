//! The `adb` transport's client: the `adb` program on PATH, addressing the
//! device by serial (`-s`), through another host's adb server when the
//! inventory says so (`-H host -P port`). Before its first round trip it
//! checks that the device speaks adb's shell protocol (`shell_v2`: the
//! script's input and output pass unchanged, and the input's end reaches
//! the board) and gets root the way the board's `root:` says: `adb root`
//! (restarting adbd as root), a `su` that takes `-c` (MagiskSU), the
//! userdebug `su 0 COMMAND`, or `auto`, which tries them in that order after
//! checking whether adbd already runs as root and keeps what it found in
//! klo-spec's cache. After a lost round trip the next one first waits for
//! the device (`adb wait-for-device`, within the connection time limit).
//! Every adb call here has a time limit: none can hang klo-spec.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;

use super::Unreachable;
use super::channel::Channel;
use super::inventory::{BoardConfig, RootMethod};
use super::trip::{Raw, exchange_with_grace};
use crate::error::UsageError;

/// Prints `klo-uid=<uid>` for the shell that runs it, from
/// /proc/self/status (shell builtins only: `id` cannot name every uid on
/// every toybox). Single quotes nowhere inside: it goes inside them.
const UID_LINE: &str =
    "while read -r k v _; do [ \"$k\" = Uid: ] && echo klo-uid=$v; done < /proc/self/status; :";

pub struct Adb {
    board: String,
    serial: String,
    host: Option<String>,
    port: Option<u16>,
    /// The inventory's `root:`.
    method: RootMethod,
    /// Where the inventory sets it, for messages.
    root_at: Option<String>,
    timeout: Duration,
    /// Where `root: auto` keeps the method it found.
    cache: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The device answered (and was made root) since the last lost round
    /// trip; cleared by [`Channel::reset`].
    ready: bool,
    /// The shell protocol was checked (once per run).
    checked: bool,
    /// The root method in use, once it was found to work.
    root: Option<RootMethod>,
}

/// What a shell command said: its exit code, output and error.
struct Said {
    exit: Option<i32>,
    out: String,
    err: String,
}

impl Said {
    /// The uid the command printed: a `klo-uid=` line ([`UID_LINE`]), or
    /// `id -u`'s number.
    fn uid(&self) -> Option<u32> {
        self.out.lines().find_map(|l| {
            let l = l.trim();
            l.strip_prefix("klo-uid=").unwrap_or(l).parse().ok()
        })
    }

    /// The shell found no `su` to run (mksh: `su: inaccessible or not
    /// found`; others: `su: not found`).
    fn no_su(&self) -> bool {
        self.exit == Some(127) && self.err.contains("su: ") && self.err.contains("not found")
    }

    /// The answer in a few words, for messages.
    fn summary(&self) -> String {
        let err = self.err.lines().last().unwrap_or("").trim();
        match (self.exit, err.is_empty()) {
            _ if self.no_su() => "no `su` on the device".into(),
            (Some(0), true) => match self.uid() {
                Some(u) => format!("it ran as uid {u}, not 0"),
                None => "it said nothing".into(),
            },
            (code, _) => format!("{}{}", super::channel::exit_text(code), with(err)),
        }
    }
}

fn with(err: &str) -> String {
    if err.is_empty() {
        String::new()
    } else {
        format!(": {err}")
    }
}

/// True for a build whose adbd may run as root (`adb root`).
fn debuggable(build: &str) -> bool {
    matches!(build, "userdebug" | "eng")
}

impl Adb {
    pub fn new(config: &BoardConfig) -> Adb {
        let key =
            crate::digest::hex_sha256(format!("{}\0{}", config.name, config.describe()).as_bytes());
        Adb {
            board: config.name.clone(),
            serial: config.address.clone().unwrap_or_default(),
            host: config.adb_host.clone(),
            port: config.adb_port,
            method: config.root,
            root_at: config.root_at.clone(),
            timeout: Duration::from_secs(config.connect_timeout_s as u64 + 20),
            cache: super::helpers::cache_dir().join("boards").join(format!(
                "{}-{}.root.json",
                config.name,
                &key[..12]
            )),
            state: Mutex::new(State::default()),
        }
    }

    /// The arguments before the adb command: `[-H host] [-P port] -s serial`.
    pub fn base_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(h) = &self.host {
            a.extend(["-H".to_string(), h.clone()]);
        }
        if let Some(p) = self.port {
            a.extend(["-P".to_string(), p.to_string()]);
        }
        a.extend(["-s".to_string(), self.serial.clone()]);
        a
    }

    fn adb(&self, args: &[&str]) -> Command {
        let mut c = Command::new("adb");
        c.args(self.base_args()).args(args);
        c
    }

    fn unreachable(&self, detail: String) -> anyhow::Error {
        Unreachable {
            board: self.board.clone(),
            address: self.address(),
            detail,
        }
        .into()
    }

    /// Runs a short adb command within the time limit (killed 2 s after
    /// it: nothing of it runs on after an answer it did not give).
    fn run(&self, args: &[&str]) -> Result<Raw> {
        let raw = exchange_with_grace(
            self.adb(args),
            Vec::new(),
            self.timeout,
            Duration::from_secs(2),
            None,
            1 << 20,
        )?;
        if raw.deadline_hit {
            return Err(self.unreachable(format!(
                "`adb {}` did not answer within {} s",
                args.join(" "),
                self.timeout.as_secs()
            )));
        }
        if raw.overflow {
            return Err(self.unreachable(format!(
                "`adb {}` answered with more than 1 MiB",
                args.join(" ")
            )));
        }
        Ok(raw)
    }

    /// Runs a short adb command; its standard output, or why it failed.
    fn call(&self, args: &[&str]) -> Result<String> {
        let mut raw = self.run(args)?;
        if raw.client_exit != Some(0) {
            return Err(self.failed(args, &raw.stderr));
        }
        Ok(String::from_utf8_lossy(&raw.stdout()?).into_owned())
    }

    /// Why an adb command failed, in adb's words; the device states adb
    /// reports get what to do about them, on one line.
    fn failed(&self, args: &[&str], stderr: &str) -> anyhow::Error {
        let e = stderr.to_lowercase();
        // adb's own first line, kept beside the explanation.
        let first = stderr.lines().next().unwrap_or("").trim();
        let detail = if e.contains("unauthorized") {
            format!(
                "device unauthorized: unlock it and accept the \"Allow USB debugging?\" prompt for this computer's key (`adb devices` then lists {} as `device`), then try again (adb: {first})",
                self.serial
            )
        } else if e.contains("device offline") {
            format!(
                "device offline: adb sees it but cannot talk to it (reconnect the cable, or `adb reconnect`), then try again (adb: {first})"
            )
        } else if e.contains("not found") && e.contains(&self.serial.to_lowercase()) {
            format!(
                "no device {} (adb: {first}): `adb devices` does not list it: plugged in? `adb connect HOST:PORT` for one on the network",
                self.serial
            )
        } else {
            format!("`adb {}` failed: {}", args.join(" "), stderr.trim())
        };
        self.unreachable(detail)
    }

    /// Runs `cmd` on the device (`adb shell`): what it said, whatever its
    /// status. Fails only when adb itself did.
    fn shell(&self, cmd: &str) -> Result<Said> {
        let mut raw = self.run(&["shell", cmd])?;
        let out = String::from_utf8_lossy(&raw.stdout()?).into_owned();
        // adb's own failures (no device) come with nothing on stdout.
        if raw.client_exit != Some(0) && out.is_empty() && raw.stderr.starts_with("error:") {
            return Err(self.failed(&["shell"], &raw.stderr));
        }
        Ok(Said {
            exit: raw.client_exit,
            out,
            err: raw.stderr,
        })
    }

    /// Runs `id -u` through root method `m` (`su -c` or `su 0`), with a
    /// shell in between as the round trips have (`id` names root on every
    /// toybox).
    fn try_su(&self, m: RootMethod) -> Result<Said> {
        self.shell(match m {
            RootMethod::Su => "su -c 'id -u'",
            _ => "su 0 sh -c 'id -u'",
        })
    }

    /// `adb root`; waits for adbd to come back when it restarted. Returns
    /// the round trips, or adbd's refusal.
    fn adb_root(&self) -> Result<std::result::Result<u32, String>> {
        let said = self.call(&["root"])?;
        if said.contains("cannot run as root") {
            return Ok(Err(said.trim().to_string()));
        }
        if said.contains("already running as root") {
            return Ok(Ok(1));
        }
        // adbd restarts as root (userdebug builds); the device is gone for
        // a moment.
        self.call(&["wait-for-device"])?;
        Ok(Ok(2))
    }

    /// `board `phone` (boards.yaml:7:11: `root: su`)`, for messages.
    fn who(&self, m: RootMethod) -> String {
        match &self.root_at {
            Some(at) => format!("board `{}` ({at}: `root: {}`)", self.board, m.as_str()),
            None => format!("board `{}` (`root: {}`)", self.board, m.as_str()),
        }
    }

    /// Checks that the explicit su form `m` gives root; otherwise a
    /// configuration error that says what the device answered and which
    /// form it seems to take.
    fn check_su(&self, m: RootMethod) -> Result<u32> {
        let said = self.try_su(m)?;
        if said.uid() == Some(0) {
            return Ok(1);
        }
        let form = if m == RootMethod::Su {
            "`su -c COMMAND`"
        } else {
            "`su 0 COMMAND`"
        };
        let e = said.err.to_lowercase();
        let hint = if said.no_su() {
            "the device has no `su` on its PATH: root it (MagiskSU: `root: su`), use `root: adb_root` on a userdebug build, or `root: none` (frequencies are then read, not set)".to_string()
        } else if m == RootMethod::Su
            && (e.contains("failed to exec") || e.contains("unknown user"))
        {
            "this looks like the su of a userdebug build, which takes `su 0 COMMAND` (no `-c`): use `root: su_0`, or `root: auto`".to_string()
        } else if m == RootMethod::Su0 && said.exit != Some(0) {
            "this su does not run `su 0 COMMAND` (MagiskSU hands the words after the user to its shell): use `root: su` (`su -c`), or `root: auto`".to_string()
        } else if said.exit == Some(0) {
            "the su ran the command without root (a su app that denied it, or a su that switches to another user): allow the shell in the su app, or use `root: auto`".to_string()
        } else {
            "check `adb shell` then the su command by hand; `root: auto` tries every way klo-spec knows".to_string()
        };
        Err(UsageError::new(
            format!(
                "{}: {form} does not give root on this device: {}",
                self.who(m),
                said.summary()
            ),
            Some(hint),
        )
        .into())
    }

    /// What `root: auto` found earlier on this board, if anything.
    fn cached(&self) -> Option<RootMethod> {
        let text = std::fs::read_to_string(&self.cache).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        serde_json::from_value(v.get("root")?.clone())
            .ok()
            .filter(|m| *m != RootMethod::Auto)
    }

    fn remember(&self, m: RootMethod, note: &str) {
        let v = serde_json::json!({
            "board": self.board,
            "address": self.address(),
            "root": m,
            "found_by": "root: auto",
            "note": note,
            "found": crate::host::now_rfc3339(),
        });
        // A cache that cannot be written only costs the search next time.
        let _ = crate::output::atomic_write(
            &self.cache,
            (serde_json::to_string_pretty(&v).unwrap_or_default() + "\n").as_bytes(),
        );
    }

    /// `root: auto`: adbd already root, `adb root` (debuggable builds),
    /// `su -c`, `su 0`, in that order. Returns the method, whether adbd was
    /// made root just now, and the round trips.
    fn find_root(&self) -> Result<(RootMethod, bool, u32)> {
        let first = self.shell(&format!(
            "{UID_LINE}; echo klo-build=$(getprop ro.build.type)"
        ))?;
        let mut trips = 1;
        let build = first
            .out
            .lines()
            .find_map(|l| l.trim().strip_prefix("klo-build="))
            .unwrap_or("")
            .to_string();
        let mut tried = Vec::new();
        match first.uid() {
            Some(0) => {
                let m = if debuggable(&build) {
                    RootMethod::AdbRoot
                } else {
                    RootMethod::None
                };
                self.remember(m, "adbd already ran as root");
                return Ok((m, false, trips));
            }
            Some(u) => tried.push(format!("adbd runs as uid {u}")),
            None => tried.push(format!("adbd's uid unknown ({})", first.summary())),
        }
        if debuggable(&build) {
            match self.adb_root()? {
                Ok(t) => {
                    self.remember(RootMethod::AdbRoot, "adb root");
                    return Ok((RootMethod::AdbRoot, true, trips + t));
                }
                Err(refused) => {
                    trips += 1;
                    tried.push(format!("`adb root`: {refused}"));
                }
            }
        } else {
            tried.push(format!(
                "`adb root` not tried (a {} build refuses it)",
                if build.is_empty() { "user" } else { &build }
            ));
        }
        for (m, form) in [(RootMethod::Su, "`su -c`"), (RootMethod::Su0, "`su 0`")] {
            let said = self.try_su(m)?;
            trips += 1;
            if said.uid() == Some(0) {
                self.remember(m, form);
                return Ok((m, false, trips));
            }
            tried.push(format!("{form}: {}", said.summary()));
        }
        Err(UsageError::new(
            format!(
                "{}: no way to root found: {}",
                self.who(RootMethod::Auto),
                tried.join("; ")
            ),
            Some("a userdebug build (`adb root`) or a rooted device (MagiskSU) lets klo-spec set frequencies; with `root: none` it runs cells and reads them".into()),
        )
        .into())
    }

    /// Finds (or checks) the root method before the first round trip.
    /// Returns it, whether adbd was made root already, and the round trips.
    fn resolve(&self) -> Result<(RootMethod, bool, u32)> {
        match self.method {
            RootMethod::Su | RootMethod::Su0 => {
                let t = self.check_su(self.method)?;
                Ok((self.method, false, t))
            }
            RootMethod::Auto => {
                if let Some(m) = self.cached() {
                    // Kept from an earlier run: checked, not searched for.
                    let ok = match m {
                        RootMethod::Su | RootMethod::Su0 => self.try_su(m)?.uid() == Some(0),
                        RootMethod::None => self.shell(UID_LINE)?.uid() == Some(0),
                        _ => true,
                    };
                    let t = u32::from(m != RootMethod::AdbRoot);
                    if ok {
                        return Ok((m, false, t));
                    }
                    let _ = std::fs::remove_file(&self.cache);
                    eprintln!(
                        "klo-spec: board `{}`: `root: {}`, found by `root: auto` earlier, no longer gives root: looking again",
                        self.board,
                        m.as_str()
                    );
                    let (m, rooted, more) = self.find_root()?;
                    return Ok((m, rooted, t + more));
                }
                self.find_root()
            }
            m => Ok((m, false, 0)),
        }
    }
}

impl Channel for Adb {
    fn kind(&self) -> &'static str {
        "adb"
    }

    fn connect(&self) -> Result<u32> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.ready {
            return Ok(0);
        }
        let mut trips = 1;
        if st.checked {
            // A round trip was lost: the device may be rebooting or
            // reconnecting. Wait for it (within the time limit), and ask
            // adbd for root again below (a device that rebooted lost it).
            self.call(&["wait-for-device"])?;
        } else {
            let features = self.call(&["features"])?;
            if !features.lines().any(|l| l.trim() == "shell_v2") {
                return Err(UsageError::new(
                    format!(
                        "board `{}` ({}): the device or this adb client does not speak adb's shell protocol (no `shell_v2` in `adb features`)",
                        self.board,
                        self.address()
                    ),
                    Some("klo-spec needs adb 1.0.36 (platform-tools 24) or newer and Android 7 or newer".into()),
                )
                .into());
            }
            st.checked = true;
        }
        let (root, rooted) = match st.root {
            Some(m) => (m, false),
            None => {
                let (m, rooted, t) = self.resolve()?;
                trips += t;
                st.root = Some(m);
                (m, rooted)
            }
        };
        if root == RootMethod::AdbRoot && !rooted {
            match self.adb_root()? {
                Ok(t) => trips += t,
                Err(refused) => {
                    st.root = None;
                    return Err(UsageError::new(
                        format!("{}: `adb root` refused: {refused}", self.who(RootMethod::AdbRoot)),
                        Some("`adb root` works on userdebug builds only: use `root: su` (MagiskSU) or `root: su_0` on a rooted device, `root: auto`, or `root: none`".into()),
                    )
                    .into());
                }
            }
        }
        st.ready = true;
        Ok(trips)
    }

    fn command(&self, remote: &str) -> Command {
        self.adb(&["shell", remote])
    }

    fn client_failed(&self, exit: Option<i32>) -> bool {
        // adb's own failures (no device, lost connection) exit 1 without the
        // status line; an old adb exits 0 even then.
        exit.is_none() || exit == Some(1) || exit == Some(0)
    }

    fn reset(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).ready = false;
    }

    fn address(&self) -> String {
        match &self.host {
            Some(h) => format!("adb {} via {h}:{}", self.serial, self.port.unwrap_or(5037)),
            None => format!("adb {}", self.serial),
        }
    }

    fn root(&self) -> RootMethod {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.root.unwrap_or(match self.method {
            RootMethod::Auto => RootMethod::None,
            m => m,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_server_and_the_serial_come_first() {
        let mut cfg = BoardConfig::local();
        cfg.address = Some("R58M1234".into());
        cfg.adb_host = Some("lab2".into());
        cfg.adb_port = Some(5038);
        let adb = Adb::new(&cfg);
        assert_eq!(
            adb.base_args(),
            ["-H", "lab2", "-P", "5038", "-s", "R58M1234"]
        );
        let c = adb.command("echo hi");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args[6..], ["shell", "echo hi"]);
        assert_eq!(adb.address(), "adb R58M1234 via lab2:5038");
    }
}
