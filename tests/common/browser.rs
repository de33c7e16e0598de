//! A real headless Chromium, driven through the DevTools protocol over a
//! pipe (`--remote-debugging-pipe`: commands on fd 3, replies on fd 4,
//! JSON messages ended by NUL). Opens a page, and returns what went wrong
//! while it loaded (uncaught exceptions, console errors, log entries of
//! level error: failed or blocked loads, CSP violations), the size of
//! every plot as laid out, and a full-page screenshot.
//!
//! The protocol rather than `--enable-logging` output: its events are
//! typed, need no log-format parsing, and report resource failures too.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// What a page did while it loaded.
pub struct Page {
    /// Exceptions, console errors and error log entries, as text.
    pub errors: Vec<String>,
    /// Per `<figure>` with an `<svg>`: its id, laid-out width and height,
    /// and how many shapes the SVG holds.
    pub plots: Vec<(String, f64, f64, u64)>,
    /// A PNG of the whole page.
    pub screenshot: Vec<u8>,
}

/// The Chromium command line of the Debian package, headless, as root, on
/// a closed network (no background connections to be refused).
const FLAGS: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
    "--hide-scrollbars",
];

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned here only.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

struct Browser {
    child: Child,
    to: File,
    from: Receiver<Value>,
    next: u64,
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(width: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (cmd_read, cmd_write) = pipe();
        let (reply_read, reply_write) = pipe();
        let (r, w) = (cmd_read.as_raw_fd(), reply_write.as_raw_fd());
        let mut c = Command::new("chromium");
        c.args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},900"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork
        // and exec. Both ends are first moved above 10 so that placing one
        // on fd 3 or 4 cannot close the other.
        unsafe {
            c.pre_exec(move || {
                let hi_r = libc::fcntl(r, libc::F_DUPFD_CLOEXEC, 10);
                let hi_w = libc::fcntl(w, libc::F_DUPFD_CLOEXEC, 10);
                if hi_r < 0 || hi_w < 0 || libc::dup2(hi_r, 3) < 0 || libc::dup2(hi_w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c
            .spawn()
            .expect("chromium starts (apt-get install chromium)");
        drop((cmd_read, reply_write));
        let (tx, rx) = channel();
        let mut from = File::from(reply_read);
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            while let Ok(n) = from.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..msg.len() - 1])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Browser {
            child,
            to: File::from(cmd_write),
            from: rx,
            next: 1,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Sends a command and waits for its reply; events met on the way are
    /// kept.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self
                .recv(deadline)
                .unwrap_or_else(|| panic!("no reply to {method}"));
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    fn recv(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.from.recv_timeout(left).ok()
    }

    /// Waits for an event named `method`, keeping every event.
    fn wait_for(&mut self, method: &str, timeout: Duration) {
        if self.events.iter().any(|e| e["method"] == method) {
            return;
        }
        let deadline = Instant::now() + timeout;
        while let Some(v) = self.recv(deadline) {
            let done = v["method"] == method;
            self.events.push(v);
            if done {
                return;
            }
        }
        panic!("no {method} within {timeout:?}");
    }

    /// Collects the events that arrive within `d`.
    fn settle(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Some(v) = self.recv(deadline) {
            self.events.push(v);
        }
    }

    fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.events {
            let p = &e["params"];
            match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => out.push(format!(
                    "exception: {} {}",
                    p["exceptionDetails"]["text"],
                    p["exceptionDetails"]["exception"]["description"]
                )),
                Some("Runtime.consoleAPICalled")
                    if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                {
                    out.push(format!("console.{}: {}", p["type"], p["args"]))
                }
                Some("Log.entryAdded") if p["entry"]["level"] == "error" => out.push(format!(
                    "log: {} ({})",
                    p["entry"]["text"], p["entry"]["url"]
                )),
                _ => {}
            }
        }
        out
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PLOTS_JS: &str = "JSON.stringify([...document.querySelectorAll('figure')].filter(f => f.querySelector('svg')).map(f => { const s = f.querySelector('svg'); const r = s.getBoundingClientRect(); return [f.id, r.width, r.height, s.querySelectorAll('polyline,polygon,rect,circle,path,line,text').length]; }))";

/// Opens `file` (an HTML file) at `width` CSS pixels and reports on it.
pub fn open(file: &Path, width: u32) -> Page {
    let url = format!("file://{}", file.canonicalize().unwrap().display());
    let mut b = Browser::start(width);
    let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    let sid = attached["sessionId"].as_str().unwrap().to_string();
    let s = Some(sid.as_str());
    for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
        b.call(s, domain, json!({}));
    }
    b.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    let nav = b.call(s, "Page.navigate", json!({"url": url}));
    assert!(nav.get("errorText").is_none(), "navigation failed: {nav}");
    b.wait_for("Page.loadEventFired", Duration::from_secs(30));
    // Errors can come just after the load event (late scripts, images).
    b.settle(Duration::from_millis(500));
    let plots = b.call(
        s,
        "Runtime.evaluate",
        json!({"expression": PLOTS_JS, "returnByValue": true}),
    );
    let plots: Vec<(String, f64, f64, u64)> =
        serde_json::from_str(plots["result"]["value"].as_str().unwrap_or("[]")).unwrap();
    let metrics = b.call(s, "Page.getLayoutMetrics", json!({}));
    let size = &metrics["cssContentSize"];
    let shot = b.call(
        s,
        "Page.captureScreenshot",
        json!({
            "format": "png",
            "captureBeyondViewport": true,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        }),
    );
    let screenshot = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    Page {
        errors: b.errors(),
        plots,
        screenshot,
    }
}
