//! A real OpenSSH server on loopback for the ssh board tests, started by the
//! tests themselves (tests/run.sh only installs openssh-server): its own
//! host key, a user key in its own authorized_keys, a free port on
//! 127.0.0.1, and an ssh config naming it `kloboard` (the inventory's
//! `ssh_config`). The user is whoever runs the tests (root in CI). It logs
//! every accepted key and every session, so tests can count handshakes and
//! remote commands. It serves sftp too, which benches/overhead.rs needs for
//! Workload Automation (klo-spec does not use it). Dropping it kills it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

fn sshd_program() -> &'static str {
    ["/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("sshd is not installed: tests/run.sh installs openssh-server")
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) is installed")
        .success();
    assert!(ok, "ssh-keygen failed");
}

impl Sshd {
    /// Starts a server with its files in `dir`.
    pub fn start(dir: &Path) -> Sshd {
        Sshd::start_with(dir, false)
    }

    /// A server whose sessions get a fresh, empty folder as `HOME` (sshd's
    /// `SetEnv`): the login shell finds no rc files, as on a board's service
    /// account, instead of this machine's ~/.bashrc, which runs before every
    /// command of an ssh session.
    pub fn start_with(dir: &Path, clean_home: bool) -> Sshd {
        std::fs::create_dir_all(dir).unwrap();
        let set_env = if clean_home {
            let home = dir.join("home");
            std::fs::create_dir_all(&home).unwrap();
            format!("SetEnv HOME={}\n", home.display())
        } else {
            String::new()
        };
        let host_key = dir.join("host_key");
        let user_key = dir.join("user_key");
        keygen(&host_key);
        keygen(&user_key);
        std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
        let root = unsafe { libc::getuid() } == 0;
        if root {
            // Privilege separation wants this folder; packages make it at
            // boot, which a container never had.
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 UsePAM no\nStrictModes no\nPidFile none\nLogLevel VERBOSE\nMaxSessions 20\nMaxStartups 50\n\
                 Subsystem sftp internal-sftp\n{set_env}",
                hk = host_key.display(),
                ak = dir.join("authorized_keys").display()
            );
            std::fs::write(dir.join("sshd_config"), config).unwrap();
            let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
            std::fs::write(
                dir.join("known_hosts"),
                format!("[127.0.0.1]:{port} {host_pub}"),
            )
            .unwrap();
            std::fs::write(
                dir.join("ssh_config"),
                format!(
                    "Host kloboard\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
                    user_key.display(),
                    dir.join("known_hosts").display()
                ),
            )
            .unwrap();
            let log = dir.join("sshd.log");
            let _ = std::fs::remove_file(&log);
            let mut child = Command::new(sshd_program())
                .arg("-D")
                .arg("-f")
                .arg(dir.join("sshd_config"))
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null())
                .spawn()
                .expect("sshd starts");
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Sshd {
                        child,
                        dir: dir.to_path_buf(),
                        port,
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: another one
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "sshd did not start: {}",
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
    }

    /// The ssh config naming this server `kloboard`.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// Keys accepted so far: one per handshake.
    pub fn handshakes(&self) -> usize {
        std::fs::read_to_string(self.dir.join("sshd.log"))
            .unwrap_or_default()
            .matches("Accepted publickey")
            .count()
    }

    /// Sessions started so far: one per remote command (or subsystem),
    /// whether on a new connection or a shared one.
    pub fn sessions(&self) -> usize {
        std::fs::read_to_string(self.dir.join("sshd.log"))
            .unwrap_or_default()
            .matches("Starting session:")
            .count()
    }

    /// Drops every connection: kills the server's per-connection processes
    /// (its sshd children and theirs) and leaves the listener, so a new
    /// connection works. What runs in the sessions is not touched: it sees
    /// its connection go, as after a network drop the board notices.
    pub fn drop_connections(&self) -> usize {
        let listener = self.child.id() as i32;
        let mut killed = 0;
        for (pid, ppid, comm) in processes() {
            if comm == "sshd" && pid != listener && descends_from(pid, ppid, listener) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed += 1;
            }
        }
        killed
    }
}

/// (pid, parent, command name) of every process.
fn processes() -> Vec<(i32, i32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let ppid = stat[close + 1..].split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid, stat[open + 1..close].to_string()))
        })
        .collect()
}

fn descends_from(pid: i32, mut ppid: i32, ancestor: i32) -> bool {
    let all = processes();
    let _ = pid;
    for _ in 0..64 {
        if ppid == ancestor {
            return true;
        }
        match all.iter().find(|(p, _, _)| *p == ppid) {
            Some((_, pp, _)) if *pp > 1 => ppid = *pp,
            _ => return false,
        }
    }
    false
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.drop_connections();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
