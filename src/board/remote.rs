//! Boards reached over ssh or adb. Both run the same board-side round trip
//! (`trip`) through a [`Channel`] (the client program): a cell is one client
//! call that sends the cell's files, runs its script and brings its folder
//! back. The board lock is a process on the board (`keeper`), helpers are
//! built per target and sent only when the board lacks them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use minijinja::context;

use super::channel::{Channel, exit_text, token};
use super::inventory::{BoardConfig, TransportKind};
use super::keeper::{self, Keeper};
use super::pull;
use super::trip::{self, Request};
use super::{Cancel, CellJob, CellRun, HelperPaths, Transport, Unreachable, helpers};
use crate::render::Templates;

/// What came back from a round trip.
pub struct Reply {
    /// The board-side script's status (None when the reply was cut off
    /// after a cancellation, or was longer than its cap).
    pub status: Option<i32>,
    /// Its standard output, or the folder as a tar archive: the first
    /// `body_len` bytes of `raw.out`.
    pub body_len: u64,
    pub stderr: String,
    pub raw: trip::Raw,
}

impl Reply {
    /// The body as a reader (never all in memory).
    pub fn body_reader(&mut self) -> Result<impl std::io::Read + '_> {
        use std::io::{Read as _, Seek as _};
        self.raw.out.rewind()?;
        Ok((&self.raw.out).take(self.body_len))
    }

    /// The body as text (a script's output, within its cap).
    pub fn body_text(&mut self) -> Result<String> {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut self.body_reader()?, &mut b)?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }
}

pub struct RemoteBoard {
    config: BoardConfig,
    channel: Box<dyn Channel>,
    templates: Templates,
    workdir: String,
    helpers: OnceLock<HelperPaths>,
    /// The lock process while this run holds the board.
    held: Arc<Mutex<Option<Keeper>>>,
    cache: PathBuf,
}

impl RemoteBoard {
    pub fn new(config: &BoardConfig, templates: Templates) -> Result<RemoteBoard> {
        let channel: Box<dyn Channel> = match config.transport {
            TransportKind::Ssh => Box::new(super::ssh::Ssh::new(config)?),
            TransportKind::Adb => Box::new(super::adb::Adb::new(config)),
            TransportKind::Local => anyhow::bail!("`{}` is a local board", config.name),
        };
        let workdir = config
            .workdir
            .as_ref()
            .map(|w| w.to_string_lossy().into_owned())
            .context("a remote board has a work folder")?;
        Ok(RemoteBoard {
            config: config.clone(),
            channel,
            templates,
            workdir,
            helpers: OnceLock::new(),
            held: Arc::new(Mutex::new(None)),
            cache: helpers::cache_dir(),
        })
    }

    /// One round trip; an answer without its status line is a lost board
    /// (unless a cancellation cut it short).
    pub fn trip(
        &self,
        req: &Request,
        deadline: Duration,
        cancel: Option<&Cancel>,
    ) -> Result<Reply> {
        let archive = trip::tar_files(req.files)?;
        let runner = trip::strip_comments(&self.templates.render_named(
            "remote.sh.j2",
            context! {
                dir => req.dir,
                payload_bytes => archive.len(),
                script => req.script,
                mode => if req.folder { "folder" } else { "stdout" },
                keep => req.keep,
            },
        )?);
        let line = trip::stage_one(&self.workdir, runner.len(), self.channel.root());
        let mut input = runner.into_bytes();
        input.extend_from_slice(&archive);
        let mut raw = trip::exchange(
            self.channel.command(&line),
            input,
            deadline,
            cancel,
            req.cap,
        )?;
        let trailer = if raw.overflow { None } else { raw.trailer()? };
        match trailer {
            Some((body_len, status)) => Ok(Reply {
                status: Some(status),
                body_len,
                stderr: raw.stderr.clone(),
                raw,
            }),
            None if raw.interrupted || raw.deadline_hit || raw.overflow => Ok(Reply {
                status: None,
                body_len: 0,
                stderr: raw.stderr.clone(),
                raw,
            }),
            None if matches!(raw.client_exit, Some(96..=98))
                || !self.channel.client_failed(raw.client_exit) =>
            {
                anyhow::bail!(
                    "board `{}`: the round trip failed ({} {}): {}",
                    self.config.name,
                    self.channel.kind(),
                    exit_text(raw.client_exit),
                    raw.stderr
                )
            }
            None => {
                self.channel.reset();
                let detail = if raw.stderr.is_empty() {
                    format!(
                        "the connection closed during the round trip ({} {}, nothing on its stderr)",
                        self.channel.kind(),
                        exit_text(raw.client_exit)
                    )
                } else {
                    raw.stderr
                };
                Err(Unreachable {
                    board: self.config.name.clone(),
                    address: self.channel.address(),
                    detail,
                }
                .into())
            }
        }
    }

    /// The board folder helpers built here for `target` go to.
    fn bin_dir(&self, name: &str) -> String {
        format!("{}/bin/{name}", self.workdir)
    }

    fn state_dir(&self) -> String {
        format!("{}/state", self.workdir)
    }

    /// What taking the board's lock needs of it.
    fn lock_target(&self) -> keeper::Target<'_> {
        keeper::Target {
            config: &self.config,
            channel: self.channel.as_ref(),
            templates: &self.templates,
            workdir: &self.workdir,
            state_dir: self.state_dir(),
        }
    }

    /// Takes the lock again when its process ended while this run holds
    /// the board (the connection dropped). Returns the round trips taken.
    fn refresh_lock(&self) -> Result<u32> {
        let mut slot = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_mut().is_none_or(|k| k.alive()) {
            return Ok(0);
        }
        *slot = None;
        let k = keeper::acquire(&self.lock_target()).map_err(|e| Unreachable {
            board: self.config.name.clone(),
            address: self.channel.address(),
            detail: format!("the board lock was lost and cannot be taken again: {e:#}"),
        })?;
        *slot = Some(k);
        Ok(1)
    }

    fn helpers_built_here(&self, cmd: &[String]) -> Result<HelperPaths> {
        let built = helpers::build_with(cmd, &self.cache.join("helpers"))?;
        let dir = self.bin_dir(&format!("{}-{}", built.target, built.key));
        let check = super::check::run(self, &self.templates, std::slice::from_ref(&dir))?;
        let machines = helpers::machines_of(&built.target);
        if !machines.contains(&check.machine.as_str()) {
            return Err(crate::error::UsageError::new(
                format!(
                    "board `{}` is `{}` but `{}` builds for {}",
                    self.config.name,
                    check.machine,
                    cmd.join(" "),
                    built.target
                ),
                Some("give the board a compiler for its CPU (`cc:` a cross compiler, `ndk: {arch: ...}`, or `board_cc:`)".into()),
            )
            .into());
        }
        if !check.present.contains(&dir) {
            let mut files = Vec::new();
            for h in helpers::ALL {
                let path = built.dir.join(h.name);
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                files.push((h.name.to_string(), bytes, super::EXEC));
            }
            let req = Request {
                dir: &dir,
                files: &files,
                script: None,
                folder: false,
                keep: true,
                cap: trip::STDOUT_CAP,
            };
            let r = self.trip(&req, Duration::from_secs(300), None)?;
            if r.status != Some(0) {
                anyhow::bail!(
                    "board `{}`: cannot store the helpers in {dir}: {}",
                    self.config.name,
                    r.stderr
                );
            }
        }
        Ok(HelperPaths {
            load: format!("{dir}/klo-load"),
            probe: format!("{dir}/klo-probe"),
        })
    }

    fn helpers_built_on_board(&self, cc: &str) -> Result<HelperPaths> {
        let dir = self.bin_dir(&format!("board-{}", &helpers::source_hash()[..16]));
        let list: Vec<minijinja::Value> = helpers::ALL
            .iter()
            .map(|h| context! { name => h.name, cflags => h.cflags.join(" "), libs => h.libs.join(" ") })
            .collect();
        let script = self.templates.render_named(
            "build.sh.j2",
            context! {
                dir => dir.clone(),
                hash => &helpers::source_hash()[..16],
                cc => cc,
                first => cc.split_whitespace().next().unwrap_or("cc"),
                helpers => list,
            },
        )?;
        let mut files: Vec<super::JobFile> = helpers::ALL
            .iter()
            .map(|h| {
                (
                    format!("{}.c", h.name),
                    h.source.as_bytes().to_vec(),
                    super::DATA,
                )
            })
            .collect();
        files.push(("build.sh".into(), script.into_bytes(), super::EXEC));
        let tmp = format!("{}/tmp/{}", self.workdir, token("build"));
        let req = Request {
            dir: &tmp,
            files: &files,
            script: Some("build.sh"),
            folder: false,
            keep: false,
            cap: trip::STDOUT_CAP,
        };
        let r = self.trip(&req, Duration::from_secs(600), None)?;
        if r.status != Some(0) {
            anyhow::bail!(
                "building the helpers on board `{}` with `{cc}` failed (exit {:?}):\n{}",
                self.config.name,
                r.status,
                r.stderr
            );
        }
        Ok(HelperPaths {
            load: format!("{dir}/klo-load"),
            probe: format!("{dir}/klo-probe"),
        })
    }
}

/// Releases the board lock when the run's hold on the board ends.
struct LockGuard(Arc<Mutex<Option<Keeper>>>);

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(k) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            k.release();
        }
    }
}

impl Transport for RemoteBoard {
    fn config(&self) -> &BoardConfig {
        &self.config
    }

    fn identity(&self) -> Result<String> {
        // The address names the hardware (a serial, a host): known without
        // reaching the board, so `plan` needs no board.
        Ok(format!(
            "{}|sysfs={}",
            self.config
                .describe()
                .split(" via ")
                .next()
                .unwrap_or_default(),
            self.config.sysfs_root.display()
        ))
    }

    fn workdir(&self) -> String {
        self.workdir.clone()
    }

    fn run_script(&self, script: &str, timeout: Duration) -> Result<String> {
        self.channel.connect()?;
        let files = [(
            "script.sh".to_string(),
            script.as_bytes().to_vec(),
            super::EXEC,
        )];
        let dir = format!("{}/tmp/{}", self.workdir, token("script"));
        let req = Request {
            dir: &dir,
            files: &files,
            script: Some("script.sh"),
            folder: false,
            keep: false,
            cap: trip::STDOUT_CAP,
        };
        let mut r = self.trip(&req, timeout, None)?;
        match r.status {
            Some(0) => r.body_text(),
            Some(code) => anyhow::bail!("the script failed (exit {code}): {}", r.stderr),
            None if r.raw.overflow => anyhow::bail!(
                "the script's answer was longer than {} bytes: stopped",
                trip::STDOUT_CAP
            ),
            None => anyhow::bail!("the script did not finish within {} s", timeout.as_secs()),
        }
    }

    fn ensure_helpers(&self) -> Result<HelperPaths> {
        if let Some(h) = self.helpers.get() {
            return Ok(h.clone());
        }
        self.channel.connect()?;
        let paths = match helpers::host_command(&self.config.compiler)? {
            Some(cmd) => self.helpers_built_here(&cmd)?,
            None => match &self.config.compiler {
                helpers::Compiler::Board(cc) => self.helpers_built_on_board(cc)?,
                other => anyhow::bail!("no way to build helpers with {other:?}"),
            },
        };
        Ok(self.helpers.get_or_init(|| paths).clone())
    }

    fn cell_dir(&self, token: &str) -> String {
        format!("{}/cells/{token}", self.workdir)
    }

    fn run_cell(&self, job: &CellJob, cancel: &Cancel) -> Result<CellRun> {
        let mut round_trips = self.channel.connect()?;
        round_trips += self.refresh_lock()?;
        let dir = self.cell_dir(&job.token);
        let req = Request {
            dir: &dir,
            files: &job.files,
            script: Some(&job.script),
            folder: true,
            keep: false,
            cap: job.limits.archive_bytes(),
        };
        let mut reply = self.trip(&req, job.deadline, Some(cancel))?;
        let mut run = CellRun {
            round_trips: round_trips + 1,
            wall: reply.raw.wall,
            interrupted: reply.raw.interrupted,
            deadline_hit: reply.raw.deadline_hit,
            ..CellRun::default()
        };
        let Some(status) = reply.status else {
            if reply.raw.overflow {
                run.pull.over(format!(
                    "the cell folder's archive ran past {} bytes (`pull_limits.cell_mib` and `files`, with the archive's headers): the transfer was stopped and nothing of it was kept",
                    req.cap
                ));
            }
            run.stderr = reply.stderr;
            return Ok(run);
        };
        run.pull = pull::unpack(reply.body_reader()?, &job.pull_to, &job.limits)?;
        // Files the board wrote: read as data (no link followed), bounded.
        let read = |name: &str| {
            crate::untrusted::read_tail_lossy(&job.pull_to.join(name), 64 << 10).unwrap_or_default()
        };
        run.stdout = read("script.out");
        run.stderr = read("script.err");
        run.leftovers_killed = read(".klo-leftovers").trim().parse().unwrap_or(0);
        let _ = std::fs::remove_file(job.pull_to.join(".klo-leftovers"));
        // The script's own last line says how it ended; the round trip's
        // status is the same number unless the client lost it.
        let own = run
            .stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("klo-cell-exit=")?.trim().parse().ok());
        run.exit_code = Some(own.unwrap_or(status));
        Ok(run)
    }

    fn lock(&self) -> Result<super::BoardLock> {
        self.channel.connect()?;
        let k = keeper::acquire(&self.lock_target())?;
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(k);
        Ok(super::BoardLock::held(LockGuard(self.held.clone())))
    }
}
