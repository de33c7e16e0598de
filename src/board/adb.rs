//! The `adb` transport's client: the `adb` program on PATH, addressing the
//! device by serial (`-s`), through another host's adb server when the
//! inventory says so (`-H host -P port`). Before its first round trip it
//! checks that the device speaks adb's shell protocol (`shell_v2`: the
//! script's input and output pass unchanged, and the input's end reaches
//! the board), and restarts adbd as root when the board's root method is
//! `adb_root`. A round trip is one `adb shell` call.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;

use super::Unreachable;
use super::inventory::{BoardConfig, RootMethod};
use super::remote::Channel;
use super::trip::exchange;

pub struct Adb {
    board: String,
    serial: String,
    host: Option<String>,
    port: Option<u16>,
    root: bool,
    timeout: Duration,
    /// Set once the device was checked (and made root); cleared when a
    /// round trip lost it, so that it is checked again.
    ready: Mutex<bool>,
}

impl Adb {
    pub fn new(config: &BoardConfig) -> Adb {
        Adb {
            board: config.name.clone(),
            serial: config.address.clone().unwrap_or_default(),
            host: config.adb_host.clone(),
            port: config.adb_port,
            root: config.root == RootMethod::AdbRoot,
            timeout: Duration::from_secs(config.connect_timeout_s as u64 + 20),
            ready: Mutex::new(false),
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

    /// Runs a short adb command; its standard output, or why it failed.
    fn call(&self, args: &[&str]) -> Result<String> {
        let mut raw = exchange(self.adb(args), Vec::new(), self.timeout, None, 1 << 20)?;
        if raw.client_exit != Some(0) || raw.deadline_hit || raw.overflow {
            let why = if raw.deadline_hit {
                format!(
                    "`adb {}` did not answer within {} s",
                    args.join(" "),
                    self.timeout.as_secs()
                )
            } else if raw.overflow {
                format!("`adb {}` answered with more than 1 MiB", args.join(" "))
            } else {
                format!("`adb {}` failed: {}", args.join(" "), raw.stderr)
            };
            return Err(self.unreachable(why));
        }
        Ok(String::from_utf8_lossy(&raw.stdout()?).into_owned())
    }
}

impl Channel for Adb {
    fn kind(&self) -> &'static str {
        "adb"
    }

    fn connect(&self) -> Result<u32> {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        if *ready {
            return Ok(0);
        }
        let features = self.call(&["features"])?;
        if !features.lines().any(|l| l.trim() == "shell_v2") {
            return Err(crate::error::UsageError::new(
                format!(
                    "board `{}` ({}): the device or this adb client does not speak adb's shell protocol (no `shell_v2` in `adb features`)",
                    self.board,
                    self.address()
                ),
                Some("klo-spec needs adb 1.0.36 (platform-tools 24) or newer and Android 7 or newer".into()),
            )
            .into());
        }
        let mut trips = 1;
        if self.root {
            // adbd restarts as root (userdebug builds); the device is gone
            // for a moment.
            let said = self.call(&["root"])?;
            if said.contains("cannot run as root") {
                return Err(crate::error::UsageError::new(
                    format!("board `{}`: `adb root` refused: {}", self.board, said.trim()),
                    Some("`adb root` works on userdebug builds only: use `root: su` on a rooted retail device".into()),
                )
                .into());
            }
            self.call(&["wait-for-device"])?;
            trips += 2;
        }
        *ready = true;
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
        *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = false;
    }

    fn address(&self) -> String {
        match &self.host {
            Some(h) => format!("adb {} via {h}:{}", self.serial, self.port.unwrap_or(5037)),
            None => format!("adb {}", self.serial),
        }
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
