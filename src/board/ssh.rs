//! The `ssh` transport's client: the system's OpenSSH `ssh`, with the
//! user's ssh config (or the inventory's `ssh_config`), never prompting
//! (BatchMode), and with connection sharing: one master connection per
//! board (ControlMaster, kept 60 s after its last use), so a cell costs a
//! session on an open connection, not a new handshake. A master that died
//! (a dropped connection) is noticed before the next round trip and opened
//! again.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::Unreachable;
use super::channel::Channel;
use super::inventory::BoardConfig;

/// How long a master outlives its last session.
const PERSIST_S: u32 = 60;

pub struct Ssh {
    board: String,
    dest: String,
    config_file: Option<PathBuf>,
    connect_timeout_s: u32,
    /// The master's socket.
    control: PathBuf,
    /// One master start at a time.
    starting: Mutex<()>,
    root: super::inventory::RootMethod,
}

/// The folder of the masters' sockets: private to this user, and short
/// (a socket path must fit in 108 bytes).
fn control_dir() -> Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("klo-spec-ssh-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::metadata(&dir)
        .with_context(|| format!("cannot create the ssh socket folder {}", dir.display()))?;
    if meta.uid() != uid || meta.mode() & 0o077 != 0 {
        anyhow::bail!(
            "{} belongs to another user or is open to others: remove it (klo-spec keeps ssh connection sockets there)",
            dir.display()
        );
    }
    Ok(dir)
}

impl Ssh {
    pub fn new(config: &BoardConfig) -> Result<Ssh> {
        let dest = config.address.clone().unwrap_or_default();
        let file = config
            .ssh_config
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        let key = crate::digest::hex_sha256(format!("{dest}\0{file}").as_bytes());
        Ok(Ssh {
            board: config.name.clone(),
            dest,
            config_file: config.ssh_config.clone(),
            connect_timeout_s: config.connect_timeout_s,
            control: control_dir()?.join(&key[..16]),
            starting: Mutex::new(()),
            root: config.root,
        })
    }

    /// `ssh` with the options every call shares.
    pub fn base(&self) -> Command {
        let mut c = Command::new("ssh");
        if let Some(f) = &self.config_file {
            c.arg("-F").arg(f);
        }
        c.args(["-o", "BatchMode=yes"])
            .arg("-o")
            .arg(format!("ConnectTimeout={}", self.connect_timeout_s))
            // A connection whose other end went silent is given up in
            // about 15 s, not at the TCP timeout.
            .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"])
            .arg("-o")
            .arg(format!("ControlPath={}", self.control.display()));
        c
    }

    fn unreachable(&self, detail: String) -> anyhow::Error {
        Unreachable {
            board: self.board.clone(),
            address: format!("ssh {}", self.dest),
            detail,
        }
        .into()
    }

    fn master_running(&self) -> bool {
        let mut c = self.base();
        c.args(["-O", "check", "--", &self.dest])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.status().is_ok_and(|s| s.success())
    }
}

impl Channel for Ssh {
    fn kind(&self) -> &'static str {
        "ssh"
    }

    fn connect(&self) -> Result<u32> {
        let _one = self.starting.lock().unwrap_or_else(|e| e.into_inner());
        // Before every cell: a master that accepts a connection on its
        // socket is up (no `ssh -O check` to start; a master that died
        // leaves a socket that refuses).
        if std::os::unix::net::UnixStream::connect(&self.control).is_ok() || self.master_running() {
            return Ok(0);
        }
        // A socket left by a master that died would make the new one give
        // up sharing: it is dead (the check failed), so it goes.
        let _ = std::fs::remove_file(&self.control);
        let mut c = self.base();
        c.args(["-o", "ControlMaster=yes"])
            .arg("-o")
            .arg(format!("ControlPersist={PERSIST_S}"))
            .args(["-f", "-N", "--", &self.dest]);
        // -f: the client returns once the connection is up and leaves the
        // master in the background; its output goes to files so that the
        // master, which keeps running, holds no pipe of ours open.
        let deadline = Duration::from_secs(self.connect_timeout_s as u64 + 20);
        let raw = super::trip::exchange(c, Vec::new(), deadline, None, 1 << 20)?;
        if raw.client_exit != Some(0) {
            let why = if raw.deadline_hit {
                format!("no connection within {} s", deadline.as_secs())
            } else if raw.stderr.is_empty() {
                format!(
                    "ssh {} and said nothing",
                    super::channel::exit_text(raw.client_exit)
                )
            } else {
                raw.stderr
            };
            return Err(self.unreachable(why));
        }
        let t = Instant::now();
        while !self.master_running() {
            if t.elapsed() > Duration::from_secs(5) {
                return Err(self.unreachable(format!(
                    "ssh connected but its shared connection ({}) did not come up",
                    self.control.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(1)
    }

    fn command(&self, remote: &str) -> Command {
        let mut c = self.base();
        c.args(["-o", "ControlMaster=no", "-T", "--", &self.dest, remote]);
        c
    }

    fn client_failed(&self, exit: Option<i32>) -> bool {
        // ssh's own failures exit 255; anything else is the board's status.
        exit == Some(255) || exit.is_none()
    }

    fn reset(&self) {}

    fn address(&self) -> String {
        format!("ssh {}", self.dest)
    }

    fn root(&self) -> super::inventory::RootMethod {
        self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_shares_the_master_and_never_prompts() {
        let mut cfg = BoardConfig::local();
        cfg.name = "pi".into();
        cfg.address = Some("pi@rk3399".into());
        cfg.ssh_config = Some(PathBuf::from("/lab/ssh_config"));
        let ssh = Ssh::new(&cfg).unwrap();
        let c = ssh.command("true");
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(
            joined.starts_with("-F /lab/ssh_config -o BatchMode=yes -o ConnectTimeout=10 "),
            "{joined}"
        );
        assert!(
            joined.contains(&format!("-o ControlPath={}", ssh.control.display())),
            "{joined}"
        );
        assert!(
            joined.ends_with("-o ControlMaster=no -T -- pi@rk3399 true"),
            "{joined}"
        );
        assert!(ssh.control.to_string_lossy().len() < 100);
    }
}
