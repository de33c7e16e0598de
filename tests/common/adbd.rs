//! A device for the adb board tests: the adbd stand-in
//! (tests/support/adbd_standin.py, adb's wire protocol on a free loopback
//! port, its Android-like layout in a folder) behind Debian's real `adb`
//! client and server. The server is the test's own, on another free port
//! (`ANDROID_ADB_SERVER_PORT`; never the user's 5037; its HOME in the
//! sandbox, not the user's ~/.android), and has `adb connect`ed the
//! stand-in. tests/run.sh installs adb, toybox, mksh and
//! busybox (for `dd`, which Debian's toybox lacks). Dropping it stops the
//! server and the stand-in.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{ROOT, wait_until};

pub struct Adbd {
    child: Child,
    /// False for a device connected to another stand-in's server: that
    /// one stops the server.
    owns_server: bool,
    /// The stand-in's folder: the device's `/`.
    pub root: PathBuf,
    /// `127.0.0.1:PORT`, the serial `adb devices` shows.
    pub serial: String,
    /// The test's own adb server.
    pub server_port: u16,
    /// Its HOME (adb keeps its key and files in ~/.android).
    home: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn program(name: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{name}` is not installed: tests/run.sh installs adb, toybox, mksh and busybox"
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Adbd {
    /// Starts a stand-in in `dir` (made searchable by others, with its
    /// parent: run as root, the stand-in runs commands as uid 2000) with
    /// the stand-in's own `args` (`--build user`, ...), and connects it.
    pub fn start(dir: &Path, args: &[&str]) -> Adbd {
        Adbd::start_on(dir, args, None, "device")
    }

    /// A second device on `other`'s adb server.
    pub fn start_beside(dir: &Path, args: &[&str], other: &Adbd) -> Adbd {
        Adbd::start_on(dir, args, Some(other), "device")
    }

    /// A device that never accepts this computer's key (`--auth refuse`):
    /// `adb devices` lists it as `unauthorized`.
    pub fn start_unauthorized(dir: &Path) -> Adbd {
        Adbd::start_on(dir, &["--auth", "refuse"], None, "unauthorized")
    }

    fn start_on(dir: &Path, args: &[&str], other: Option<&Adbd>, state: &str) -> Adbd {
        for p in ["adb", "toybox", "mksh"] {
            program(p);
        }
        let busybox = program("busybox");
        std::fs::create_dir_all(dir).unwrap();
        for d in [dir, dir.parent().unwrap()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let mut child = Command::new("python3")
            .arg(Path::new(ROOT).join("tests/support/adbd_standin.py"))
            .arg(dir)
            .arg("--extra")
            .arg(format!("dd={busybox}"))
            .args(["--idle", "600"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("python3 runs the adbd stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "the adbd stand-in did not print its port: {}",
                std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default()
            )
        });
        let adbd = Adbd {
            child,
            owns_server: other.is_none(),
            root: dir.to_path_buf(),
            serial: format!("127.0.0.1:{port}"),
            server_port: other.map_or_else(free_port, |o| o.server_port),
            home: other.map_or_else(|| dir.with_extension("adb-home"), |o| o.home.clone()),
        };
        if other.is_none() {
            std::fs::create_dir_all(&adbd.home).unwrap();
            let out = adbd.server(&["start-server"]).output().unwrap();
            assert!(
                out.status.success(),
                "adb start-server failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = adbd.server(&["connect", &adbd.serial]).output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            state != "device" || said.contains("connected to"),
            "adb connect: {said}"
        );
        wait_until("the stand-in to be listed", Duration::from_secs(30), || {
            adbd.server(&["devices"]).output().is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.split_whitespace().collect::<Vec<_>>() == [&adbd.serial, state])
            })
        });
        adbd
    }

    /// `adb` talking to the test's server.
    pub fn server(&self, args: &[&str]) -> Command {
        let mut c = Command::new("adb");
        c.env("ANDROID_ADB_SERVER_PORT", self.server_port.to_string())
            .env("HOME", &self.home)
            .env_remove("ANDROID_SDK_HOME")
            .env_remove("ANDROID_USER_HOME")
            .env_remove("ADB_SERVER_SOCKET")
            .env_remove("ANDROID_SERIAL")
            .args(args);
        c
    }

    /// `adb -s SERIAL ARGS` through the test's server.
    pub fn adb(&self, args: &[&str]) -> Command {
        let mut c = self.server(&["-s", &self.serial]);
        c.args(args);
        c
    }

    /// The HOME the test's adb server runs with.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The board's work folder: the device's /data/local/tmp/klo-spec.
    pub fn workdir(&self) -> PathBuf {
        self.root.join("data/local/tmp/klo-spec")
    }

    /// An inventory entry for this device (indented under `boards:`).
    pub fn inventory(&self, name: &str, root: &str) -> String {
        format!(
            "  {name}:\n    transport: adb\n    address: {}\n    root: {root}\n    workdir: {}\n    cc: cc\n",
            self.serial,
            self.workdir().display()
        )
    }

    /// A global setting on the device (`settings get global KEY`): `null`
    /// when it was never set.
    pub fn setting(&self, key: &str) -> String {
        std::fs::read_to_string(self.root.join("data/standin/settings/global").join(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "null".into())
    }

    /// Every `settings put` and `delete` on the device, in order.
    pub fn settings_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.root.join("data/standin/settings.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Cuts every connection to the device at once (a pulled cable); the
    /// server connects again once the stand-in's `--offline-s` is over.
    pub fn drop_connections(&self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGUSR1) };
    }
}

impl Drop for Adbd {
    fn drop(&mut self) {
        if self.owns_server {
            let _ = self
                .server(&["kill-server"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // SIGTERM: the stand-in hangs up what still runs on the "device".
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}
