//! The `local` transport: cell scripts run on this machine. The built-in
//! `local` board uses the real `/sys`; inventory boards with this transport
//! may point at another sysfs root (a fixture tree, with the kernel's part
//! emulated). The cell script runs under `sh` in its own process group, with
//! the parent-death signal set, so that a Ctrl-C reaches it through
//! klo-spec (which asks it to clean up) and a killed klo-spec still makes it
//! clean up. After the script is gone the runner sweeps for anything it
//! left (there should be nothing) and says so.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::emulate::Emulator;
use super::inventory::{BoardConfig, RootMethod};
use super::{Cancel, CellJob, CellRun, HelperPaths, Transport, helpers};

/// Seconds a script gets to clean up after SIGTERM before SIGKILL.
const CLEANUP_GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

pub struct LocalBoard {
    config: BoardConfig,
    workdir: PathBuf,
    cache: PathBuf,
    helpers: OnceLock<HelperPaths>,
    host_cpus: Vec<u32>,
    _emulator: Option<Emulator>,
}

/// The parent folder of the local boards' work folders: `KLO_SPEC_LOCAL_DIR`
/// or `$TMPDIR/klo-spec-<uid>`. Absolute, since cell scripts run from inside
/// their own folders.
pub fn local_root() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("KLO_SPEC_LOCAL_DIR").filter(|d| !d.is_empty()) {
            Some(d) => std::path::absolute(PathBuf::from(d))?,
            None => std::env::temp_dir().join(format!("klo-spec-{}", unsafe { libc::getuid() })),
        },
    )
}

/// Copies a fixture tree (checked when the inventory was read: folders and
/// regular files only). Anything else found now is refused, not followed.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else {
            let bytes = crate::untrusted::read(&e.path(), 1 << 20)
                .with_context(|| format!("cannot copy {}", e.path().display()))?;
            std::fs::write(&target, bytes)?;
        }
    }
    Ok(())
}

impl LocalBoard {
    pub fn new(config: &BoardConfig) -> Result<LocalBoard> {
        let workdir = match &config.workdir {
            Some(w) => std::path::absolute(w)?,
            None => local_root()?.join(&config.name),
        };
        let mut config = config.clone();
        if let Some(src) = &config.fixture {
            // A fixture board works on its own copy, made once: the tree it
            // was copied from never changes.
            let copy = workdir.join("sysfs");
            if !copy.join("devices").is_dir() {
                let tmp = workdir.join(format!(".sysfs.{}.tmp", std::process::id()));
                copy_tree(src, &tmp)
                    .with_context(|| format!("cannot copy the fixture {}", src.display()))?;
                std::fs::rename(&tmp, &copy)?;
            }
            config.sysfs_root = copy;
        }
        config.sysfs_root = std::path::absolute(&config.sysfs_root)?;
        let emulator = config.emulate_kernel.then(|| {
            Emulator::start(
                config.sysfs_root.clone(),
                &workdir.join("emulator-nominal.json"),
            )
        });
        Ok(LocalBoard {
            config,
            workdir,
            cache: helpers::cache_dir(),
            helpers: OnceLock::new(),
            host_cpus: allowed_cpus()?,
            _emulator: emulator,
        })
    }

    /// True for the built-in board on the real sysfs.
    fn real_sysfs(&self) -> bool {
        self.config.sysfs_root == Path::new("/sys")
    }

    /// The command that runs a shell script: `KLO_SPEC_SHELL` (default
    /// `sh`), through `sudo -n` when the board needs root.
    fn shell(&self) -> Command {
        let shell = std::env::var("KLO_SPEC_SHELL")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "sh".into());
        let mut words: Vec<&str> = shell.split_whitespace().collect();
        if self.config.root == RootMethod::Sudo {
            words.splice(0..0, ["sudo", "-n"]);
        }
        let mut cmd = Command::new(words[0]);
        cmd.args(&words[1..]);
        cmd
    }

    /// The command that runs the cell script in `dir`, its output into
    /// `script.out` and `script.err` there, in a process group of its own
    /// that dies with this process; and the shell as messages name it.
    fn script_command(&self, job: &CellJob, dir: &Path) -> Result<(Command, String)> {
        let out = std::fs::File::create(dir.join("script.out"))?;
        let err = std::fs::File::create(dir.join("script.err"))?;
        let parent = std::process::id() as i32;
        // `sh` (or KLO_SPEC_SHELL: the tests also use busybox and mksh).
        let mut cmd = self.shell();
        let shell = format!("{cmd:?}");
        cmd.arg(&job.script)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGTERM as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                if libc::getppid() != parent {
                    libc::_exit(143);
                }
                Ok(())
            });
        }
        Ok((cmd, shell))
    }
}

/// CPUs this process may run on (sched_getaffinity): online and allowed by
/// its cpuset, which is what `taskset` can use.
pub fn allowed_cpus() -> Result<Vec<u32>> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error()).context("sched_getaffinity");
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .map(|c| c as u32)
            .collect())
    }
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            matches!(k.trim(), "model name" | "Hardware" | "Processor")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into())
}

/// True when `pid` is a live (not zombie) process, optionally with a given
/// command name.
pub fn process_running(pid: i32, comm: Option<&str>) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Fields after the parenthesised command name: state is the first.
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let state = stat[close + 1..].split_whitespace().next().unwrap_or("Z");
    if state == "Z" || state == "X" {
        return false;
    }
    match comm {
        Some(want) => stat
            .find('(')
            .is_some_and(|open| &stat[open + 1..close] == want),
        None => true,
    }
}

fn read_pids(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| *p > 1)
        .collect()
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid we started (or its group); errors ignored.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// The processes whose environment holds `KLO_SPEC_CELL=<mark>`, the
/// marker the cell script gives the benchmark (templates/cell.sh.j2): the
/// benchmark and everything it started, wherever it went (another process
/// group or session). This process excepted.
pub fn marked_processes(mark: &str) -> Vec<i32> {
    use std::io::Read as _;
    let needle = format!("KLO_SPEC_CELL={mark}");
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut buf = Vec::new();
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            buf.clear();
            let Ok(f) = std::fs::File::open(format!("/proc/{pid}/environ")) else {
                return false;
            };
            if f.take(1 << 20).read_to_end(&mut buf).is_err() {
                return false;
            }
            buf.split(|&b| b == 0).any(|v| v == needle.as_bytes())
        })
        .collect()
}

/// Kills the processes of [`marked_processes`] in rounds (one may fork
/// while the last round kills), at most 10; returns how many it killed.
pub fn kill_marked(mark: &str) -> u32 {
    let mut killed = 0;
    for _ in 0..10 {
        let found = marked_processes(mark);
        if found.is_empty() {
            break;
        }
        for pid in found {
            if process_running(pid, None) {
                signal(pid, libc::SIGKILL);
                killed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    killed
}

/// Kills whatever the cell left behind: load processes from loads.pid,
/// the benchmark's process group, and what the benchmark started outside
/// it (found by the cell's marker). Returns how many processes were alive.
pub fn sweep_leftovers(cell_dir: &Path, script_pgid: i32) -> u32 {
    let mut killed = 0;
    if let Some(token) = cell_dir.file_name().and_then(|n| n.to_str()) {
        killed += kill_marked(&format!("{token}-cell"));
    }
    for pid in read_pids(&cell_dir.join("loads.pid")) {
        if process_running(pid, Some("klo-load")) {
            signal(pid, libc::SIGKILL);
            killed += 1;
        }
    }
    // The benchmark's group (its own session), and anything else in the
    // script's group (a watchdog's sleep): every live member.
    let groups: Vec<i32> = read_pids(&cell_dir.join("bench.pid"))
        .into_iter()
        .chain([script_pgid])
        .collect();
    // No process in any of the groups (the usual end, `kill(-pgid, 0)`
    // fails with ESRCH): no need to read every /proc/*/stat.
    let group_alive = |g: i32| {
        // SAFETY: kill(2) with signal 0 only checks that the group exists.
        g > 0
            && (unsafe { libc::kill(-g, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH))
    };
    if !groups.iter().any(|&g| group_alive(g)) {
        return killed;
    }
    for (pid, pgid) in live_processes() {
        if groups.contains(&pgid) && pid != std::process::id() as i32 {
            signal(pid, libc::SIGKILL);
            killed += 1;
        }
    }
    killed
}

/// (pid, process group) of every live (not zombie) process in /proc.
fn live_processes() -> Vec<(i32, i32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let pgid: i32 = f.get(2)?.parse().ok()?;
            (f[0] != "Z" && f[0] != "X").then_some((pid, pgid))
        })
        .collect()
}

impl Transport for LocalBoard {
    fn config(&self) -> &BoardConfig {
        &self.config
    }

    fn identity(&self) -> Result<String> {
        let mut id = format!(
            "local|{}|{}|{} cpus",
            std::env::consts::ARCH,
            cpu_model(),
            self.host_cpus.len()
        );
        if let Some(f) = &self.config.fixture {
            // What the tree holds, not where it is: the same fixture is the
            // same board from any clone or working folder.
            id = format!(
                "fixture|{}|{}",
                f.file_name().unwrap_or_default().to_string_lossy(),
                &tree_digest(f)?[..16]
            );
        } else if !self.real_sysfs() {
            id.push_str(&format!("|sysfs={}", self.config.sysfs_root.display()));
        }
        Ok(id)
    }

    fn workdir(&self) -> String {
        self.workdir.to_string_lossy().into_owned()
    }

    fn load_cpu(&self, core: u32) -> u32 {
        // On a fixture board the board's cores are not this machine's: the
        // loads still run here, on core mod the CPUs this process may use.
        if self.real_sysfs() || self.host_cpus.contains(&core) {
            core
        } else {
            self.host_cpus[core as usize % self.host_cpus.len().max(1)]
        }
    }

    fn lock(&self) -> Result<super::BoardLock> {
        super::BoardLock::take(&self.workdir.join("state").join("lock"), &self.config.name)
    }

    fn run_script(&self, script: &str, timeout: Duration) -> Result<String> {
        std::fs::create_dir_all(&self.workdir)
            .with_context(|| format!("cannot create {}", self.workdir.display()))?;
        let mut cmd = self.shell();
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().context("cannot start a shell")?;
        let (tx, rx) = std::sync::mpsc::channel();
        let pid = child.id() as i32;
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let out = match rx.recv_timeout(timeout) {
            Ok(out) => out?,
            Err(_) => {
                signal(pid, libc::SIGKILL);
                anyhow::bail!("the script did not finish within {} s", timeout.as_secs());
            }
        };
        if !out.status.success() {
            anyhow::bail!(
                "the script failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn ensure_helpers(&self) -> Result<HelperPaths> {
        if let Some(h) = self.helpers.get() {
            return Ok(h.clone());
        }
        let cmd = helpers::host_command(&self.config.compiler)?
            .context("a local board builds its helpers on this machine")?;
        let built = helpers::build_with(&cmd, &self.cache.join("helpers"))?;
        Ok(self.helpers.get_or_init(|| built.paths()).clone())
    }

    fn cell_dir(&self, token: &str) -> String {
        self.workdir
            .join("cells")
            .join(token)
            .to_string_lossy()
            .into_owned()
    }

    fn run_cell(&self, job: &CellJob, cancel: &Cancel) -> Result<CellRun> {
        let dir = PathBuf::from(self.cell_dir(&job.token));
        prepare_cell_dir(&dir, job)?;
        let (mut cmd, shell) = self.script_command(job, &dir)?;
        let started = Instant::now();
        let foreign = ForeignCpu::start();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start `{shell}` for the cell script"))?;
        let pid = child.id() as i32;
        // Wakes at the script's exit, and at least every POLL to watch the
        // deadline and Ctrl-C. (The script's parent-death signal follows
        // this thread, which spawned it.)
        let exited = super::trip::ExitWatch::new(child.id());
        let mut run = CellRun {
            round_trips: 1,
            ..CellRun::default()
        };
        let mut term_sent: Option<Instant> = None;
        let status = loop {
            if let Some((status, usage)) = reap(pid).context("waiting for the cell script")? {
                run.foreign_cpu = foreign.and_then(|f| f.end(&usage));
                break status;
            }
            let level = cancel.level();
            let overdue = started.elapsed() > job.deadline;
            if (level >= 1 || overdue) && term_sent.is_none() {
                run.interrupted = level >= 1;
                run.deadline_hit = overdue;
                signal(pid, libc::SIGTERM);
                term_sent = Some(Instant::now());
            }
            if let Some(t) = term_sent
                && (level >= 2 || t.elapsed() > CLEANUP_GRACE)
            {
                signal(-pid, libc::SIGKILL);
                sweep_leftovers(&dir, pid);
            }
            exited.wait(POLL);
        };
        run.wall = started.elapsed();
        run.exit_code = status.code();
        run.leftovers_killed = sweep_leftovers(&dir, pid);
        // The script could have replaced these with links: read as data.
        let read = |name: &str| {
            crate::untrusted::read_tail_lossy(&dir.join(name), 64 << 10).unwrap_or_default()
        };
        run.stdout = read("script.out");
        run.stderr = read("script.err");

        // Pull: move the folder's folders and regular files back (copied
        // where they are on another file system), then remove it from the
        // board (also when the pull fails: the board keeps no cell folders).
        let pulled = super::pull::move_tree(&dir, &job.pull_to, &job.limits);
        let _ = std::fs::remove_dir_all(&dir);
        run.pull = pulled.with_context(|| {
            format!(
                "cannot pull {} into {}",
                dir.display(),
                job.pull_to.display()
            )
        })?;
        Ok(run)
    }
}

/// A fresh cell folder at `dir` (a previous one removed), with `push/`
/// (where a command benchmark starts: its script then needs no `mkdir`)
/// and the job's files.
fn prepare_cell_dir(dir: &Path, job: &CellJob) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("push"))
        .with_context(|| format!("cannot create the cell folder {}", dir.display()))?;
    for (name, content, mode) in &job.files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)
            .with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode & 0o755))?;
    }
    Ok(())
}

/// Reaps the cell script if it has exited: its status and its resource
/// usage, which includes every descendant it waited for (the benchmark,
/// the loads). `None` while it runs.
fn reap(pid: i32) -> std::io::Result<Option<(std::process::ExitStatus, libc::rusage)>> {
    use std::os::unix::process::ExitStatusExt as _;
    loop {
        let mut status = 0;
        // SAFETY: wait4(2) on our own child, into a zeroed rusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        match r {
            0 => return Ok(None),
            r if r == pid => {
                return Ok(Some((std::process::ExitStatus::from_raw(status), usage)));
            }
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

fn cpu_seconds(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 * 1e-6
}

/// The CPU time other work used on this machine while a cell ran: the
/// busy time of all CPUs (`/proc/stat`: user, nice, system, irq, softirq)
/// minus what the cell script and its waited-for descendants used and what
/// klo-spec itself used. Steal time (another guest of the hypervisor) is
/// not counted.
struct ForeignCpu {
    busy: u64,
    own: f64,
    tick: f64,
    cpus: u32,
}

/// Busy jiffies of all CPUs and the number of CPUs, from `/proc/stat`.
fn busy_jiffies() -> Option<(u64, u32)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let total = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = total
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let cpus = text
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count() as u32;
    // user nice system idle iowait irq softirq
    (v.len() >= 7).then(|| (v[0] + v[1] + v[2] + v[5] + v[6], cpus))
}

fn own_cpu() -> f64 {
    // SAFETY: getrusage(2) into a zeroed rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    cpu_seconds(u.ru_utime) + cpu_seconds(u.ru_stime)
}

impl ForeignCpu {
    fn start() -> Option<ForeignCpu> {
        let (busy, cpus) = busy_jiffies()?;
        // SAFETY: sysconf(3) has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Some(ForeignCpu {
            busy,
            own: own_cpu(),
            tick: 1.0 / hz.max(1) as f64,
            cpus,
        })
    }

    /// Seconds of foreign CPU time (never below 0) and the CPUs.
    fn end(self, script: &libc::rusage) -> Option<(f64, u32)> {
        let (busy, _) = busy_jiffies()?;
        let all = busy.saturating_sub(self.busy) as f64 * self.tick;
        let ours =
            cpu_seconds(script.ru_utime) + cpu_seconds(script.ru_stime) + (own_cpu() - self.own);
        Some(((all - ours).max(0.0), self.cpus))
    }
}

/// sha256 over the files of a tree: each file's path relative to the root
/// and its bytes, in path order.
fn tree_digest(root: &Path) -> Result<String> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(&f);
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(
            crate::untrusted::read(&f, 1 << 20)
                .with_context(|| format!("reading {}", f.display()))?,
        );
        h.update([0]);
    }
    Ok(crate::digest::hex_digest(h.finalize().as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_running_and_has_cpus() {
        assert!(process_running(std::process::id() as i32, None));
        assert!(!process_running(i32::MAX - 1, None));
        assert!(!allowed_cpus().unwrap().is_empty());
    }
}
