//! One cell's lifecycle on a board: build its files (benchmark command,
//! kernel list, the rendered cell script), make the round trip, read what
//! came back, decide its status, and move its folder into place atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use minijinja::context;
use serde::Serialize;

use crate::board::Topology;
use crate::board::freqplan::FreqPlan;
use crate::board::{Cancel, CellJob, CellRun, DATA, EXEC, HelperPaths, JobFile, Transport};
use crate::ingest::{self, CellLog, LogDigest};
use crate::layout::{self, ResultDir};
use crate::matrix::Cell;
use crate::networks;
use crate::record::{CellRecord, LoadCounts, Status};
use crate::render::{Templates, render_str, shell_quote};
use crate::scenario::raw::Submit;

use super::board_ctx;
use super::judge;
use super::kchoice::Choice;
use super::status::CellStatus;
use crate::scenario::{Benchmark, Cores, Scenario};

/// Extra time a cell's round trip gets beyond settle time and timeout: a
/// minute plus 5% of the timeout (the script's own watchdog fires first).
fn deadline_margin(timeout_s: u32) -> Duration {
    Duration::from_secs(60) + Duration::from_secs(timeout_s as u64) / 20
}

static ATTEMPT: AtomicU64 = AtomicU64::new(0);

/// Everything a board worker needs to run cells.
pub struct BoardRun<'a> {
    pub transport: &'a dyn Transport,
    pub topology: &'a Topology,
    pub helpers: HelperPaths,
    pub cores: Vec<u32>,
    pub scenario: &'a Scenario,
    pub templates: &'a Templates,
    pub out_dir: &'a Path,
    pub cancel: Cancel,
    /// Set when the run stops starting cells (`on_failure: bail`, a full
    /// output folder).
    pub halt: &'a super::Halt,
    /// The seed of the run's order within rounds (recorded per cell);
    /// `None` in plan order.
    pub seed: Option<u64>,
    /// Per (board, network): the probe's regime resolved on the board.
    pub regimes: &'a BTreeMap<(String, String), crate::record::RegimeScale>,
    /// For a board on this machine: where its cells register, to find
    /// cells of other runs that overlapped them.
    pub activity: Option<super::activity::Activity>,
    /// The command that puts this board back (`klo-spec board reset`, with
    /// the inventory when it is not the default one).
    pub reset_command: String,
    /// Names this run on the boards (the thermal gate's baseline file):
    /// letters, digits and `-`.
    pub run_token: String,
}

/// One load entry of the cell template: `procs` processes on `core`.
#[derive(Debug, Clone, Serialize)]
struct LoadEntry {
    core: u32,
    mask: String,
    procs: u32,
    t_sleep_us: u64,
    inner_iter: u64,
    log_iter: u32,
}

/// The hex affinity mask of one core, as taskset (util-linux and toybox)
/// takes it: `1` for core 0, `8` for core 3, `10` for core 4.
pub fn core_mask(core: u32) -> String {
    format!(
        "{:x}{}",
        1u32 << (core % 4),
        "0".repeat((core / 4) as usize)
    )
}
fn bench_script(
    r: &BoardRun,
    cell: &Cell,
    choice: &Choice,
    cell_dir: &str,
) -> Result<(String, Vec<JobFile>)> {
    let s = r.scenario;
    let mut files = Vec::new();
    // What a LUT strategy hands the benchmark: a schedule or the LUT.
    if let Some(schedule) = &choice.schedule {
        let text: Vec<&str> = schedule
            .iter()
            .map(|f| if *f { "1" } else { "0" })
            .collect();
        files.push((
            "schedule.txt".to_string(),
            (text.join(" ") + "\n").into_bytes(),
            DATA,
        ));
    }
    if let Some(lut) = &choice.lut_text {
        files.push(("lut.csv".to_string(), lut.clone().into_bytes(), DATA));
    }
    let script = match &s.benchmark {
        Benchmark::Probe(p) => probe_script(r, cell, choice, p, &mut files)?,
        Benchmark::Command(c) => command_script(r, cell, choice, c, cell_dir, &mut files)?,
    };
    Ok((script, files))
}

/// klo-probe's command line for the cell; its kernel list goes to `files`.
fn probe_script(
    r: &BoardRun,
    cell: &Cell,
    choice: &Choice,
    p: &crate::scenario::raw::ProbeSpec,
    files: &mut Vec<JobFile>,
) -> Result<String> {
    let p = &crate::calibrate::probe_for(p, r.regimes, &cell.coord.board, &cell.coord.network);
    let kernels = networks::kernels(&cell.coord.network, p.ker_scale, p.prod_scale)
        .context("unknown network profile")?;
    files.push(("kernels.txt".to_string(), kernels.into_bytes(), DATA));
    let submit = match p.submit {
        Submit::Native => "native",
        Submit::Deferred => "deferred",
    };
    let device = match p.device {
        crate::scenario::raw::Device::Auto => "auto",
        crate::scenario::raw::Device::Opencl => "opencl",
        crate::scenario::raw::Device::Thread => "thread",
    };
    let mut argv: Vec<String> = vec![
        r.helpers.probe.clone(),
        "-f".into(),
        "kernels.txt".into(),
        "-n".into(),
        cell.coord.network.clone(),
        "-i".into(),
        cell.iterations.to_string(),
        "-k".into(),
        choice.k.max(1).to_string(),
        "-s".into(),
        submit.into(),
        "-d".into(),
        device.into(),
        "-g".into(),
        p.global_size.to_string(),
        "-F".into(),
        p.flush_units.to_string(),
        "-U".into(),
        p.submit_us.to_string(),
    ];
    if let Some(pl) = p.platform {
        argv.extend(["-P".to_string(), pl.to_string()]);
    }
    if choice.schedule.is_some() {
        argv.extend(["-S".to_string(), "schedule.txt".to_string()]);
    }
    if choice.lut_text.is_some() {
        argv.extend(["-L".to_string(), "lut.csv".to_string()]);
    }
    let quoted: Vec<String> = argv.iter().map(|a| shell_quote(a).into_owned()).collect();
    Ok(format!(
        "#!/bin/sh\n# klo-probe for {}\nexec {}\n",
        cell.id,
        quoted.join(" ")
    ))
}

/// The scenario's command, rendered for the cell; its `push` files go to
/// `files`.
fn command_script(
    r: &BoardRun,
    cell: &Cell,
    choice: &Choice,
    c: &crate::scenario::raw::CommandSpec,
    cell_dir: &str,
    files: &mut Vec<JobFile>,
) -> Result<String> {
    let s = r.scenario;
    let push_dir = format!("{cell_dir}/push");
    for f in &s.push {
        let (bytes, _) = crate::untrusted::read_input(&f.source, crate::untrusted::PUSH_MAX)
            .with_context(|| format!("cannot read {}", f.source.display()))?;
        // What the cell's hash covers is what is sent.
        if crate::digest::hex_sha256(&bytes) != f.sha256 {
            anyhow::bail!(
                "{} changed since the scenario was read: run again",
                f.source.display()
            );
        }
        files.push((format!("push/{}", f.name), bytes, f.mode));
    }
    let command = render_str(&c.run, command_context(cell, choice, cell_dir))
        .with_context(|| format!("rendering the benchmark command of {}", cell.id))?;
    let dir = shell_quote(&push_dir);
    Ok(format!(
        "#!/bin/sh\n# benchmark command for {}\ncd {dir} 2>/dev/null || {{ mkdir -p {dir} && cd {dir}; }} || exit 97\n{command}\n",
        cell.id
    ))
}

/// The variables of a command benchmark's `run` template for one cell
/// (`render::COMMAND_VARIABLES`): `lut` and `schedule` are the paths of the
/// files a LUT strategy hands the benchmark, or empty.
pub fn command_context(cell: &Cell, choice: &Choice, cell_dir: &str) -> minijinja::Value {
    let push_dir = format!("{cell_dir}/push");
    let file = |present: bool, name: &str| {
        if present {
            format!("{cell_dir}/{name}")
        } else {
            String::new()
        }
    };
    context! {
        lut => file(choice.lut_text.is_some(), "lut.csv"),
        schedule => file(choice.schedule.is_some(), "schedule.txt"),
        network => cell.coord.network.clone(),
        k => choice.k,
        iterations => cell.iterations,
        strategy => cell.strategy_slug.clone(),
        load => cell.coord.load.clone(),
        cell_id => cell.id.clone(),
        board => cell.coord.board.clone(),
        push_dir => push_dir.to_string(),
        knobs => cell.coord.knobs.clone(),
    }
}

/// The cell's `cell.status`, parsed (read as data: no link followed,
/// bounded); `None` when the file is not there.
pub(super) fn read_status(path: &Path) -> Option<CellStatus> {
    crate::untrusted::read_lossy(path, SMALL_FILE)
        .ok()
        .map(|t| CellStatus::parse(&t))
}

/// Most bytes klo-spec reads of a small file a cell wrote (`cell.status`,
/// `/proc/stat` snapshots, the end of `bench.err`).
pub(super) const SMALL_FILE: u64 = 1 << 20;

/// Reads a cell folder's log with the scenario's parser, as a digest: what
/// is held does not grow with the log (see `ingest::digest`).
pub fn parse_log(s: &Scenario, dir: &Path) -> Option<LogDigest> {
    ingest::read_digest(
        &layout::bench_log(dir),
        s.parser.as_ref(),
        s.pull_limits.file_bytes,
        ingest::digest::Keep::default(),
    )
    .ok()
}

/// Reads a cell folder's log whole, every record in columns: for the
/// calibration, whose logs klo-spec's own probe writes at a size it sets.
pub fn parse_log_full(s: &Scenario, dir: &Path) -> Option<CellLog> {
    ingest::read_log(
        &layout::bench_log(dir),
        s.parser.as_ref(),
        s.pull_limits.file_bytes,
    )
    .ok()
}

pub(super) fn last_line(path: &Path) -> Option<String> {
    let text = crate::untrusted::read_tail_lossy(path, 64 << 10).ok()?;
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| crate::text::shorten(l, 300))
}

/// What running a cell gave, once its folder is in place.
pub struct Outcome {
    pub record: CellRecord,
    pub log: Option<LogDigest>,
    /// Set when the board could not be reached or its connection dropped
    /// (the cell may be tried again): what the client said.
    pub unreachable: Option<String>,
    /// Set when the result could not be stored in the output folder (a
    /// full disk, a read-only folder): what the file system said.
    pub storage: Option<String>,
    /// Set when a forced stop cut the cell's cleanup short: what the board
    /// may still have.
    pub left: Option<LeftBehind>,
    /// Set when this run was interrupted and an earlier finished result
    /// stayed in place: its status, and where this attempt was kept.
    pub kept: Option<(Status, String)>,
}

/// One attempt at a cell, judged, its folder still in `.staging/`.
pub struct Attempt {
    pub record: CellRecord,
    pub log: Option<LogDigest>,
    pub unreachable: Option<String>,
    pub storage: Option<String>,
    pub staging: PathBuf,
    pub left: Option<LeftBehind>,
}

/// What a cell whose cleanup a forced stop (a second signal) cut short may
/// have left on its board: pinned frequencies, cores brought online, load
/// processes. `klo-spec board reset` puts it back (the board keeps every
/// value it changed in its state folder until it is restored).
#[derive(Debug, Clone, PartialEq)]
pub struct LeftBehind {
    pub board: String,
    pub cell: String,
    /// One line per kind of change.
    pub items: Vec<String>,
    /// The command that puts the board back.
    pub reset: String,
}

impl LeftBehind {
    /// The lines printed at a forced stop.
    pub fn message(&self) -> String {
        let mut out = format!(
            "forced stop: the cleanup of {} was cut short; board `{}` may still have:",
            self.cell, self.board
        );
        for i in &self.items {
            out.push_str(&format!("\n  {i}"));
        }
        out.push_str(&format!("\nput it back with: {}", self.reset));
        out
    }
}

/// What a cell may have left on its board when a forced stop cut its
/// cleanup short; `None` when its cleanup finished (its `cell.status` says
/// `finished=1`). From what the cell script noted before it was killed
/// where that came back, else from what the cell was to do.
fn left_behind(
    r: &BoardRun,
    cell: &Cell,
    staging: &Path,
    record: &CellRecord,
) -> Option<LeftBehind> {
    let read = read_status(&staging.join("cell.status"));
    // Nothing came back (a remote board's round trip was cut): the plan.
    let known = read.is_some();
    let st = read.unwrap_or_default();
    if st.finished {
        return None;
    }
    let mut items = Vec::new();
    if !st.restored {
        let cpu: Vec<String> = record
            .pins
            .cpu
            .iter()
            .map(|p| format!("{} (policy{}) at {} kHz", p.name, p.policy, p.khz))
            .collect();
        if !cpu.is_empty() {
            items.push(format!("CPU frequencies pinned: {}", cpu.join(", ")));
        }
        if let Some(g) = &record.pins.gpu {
            items.push(format!(
                "GPU frequency pinned at {} kHz ({})",
                g.khz, g.path
            ));
        }
        let onlined: Vec<u32> = if known {
            record.cores_onlined.clone()
        } else {
            board_ctx::build(
                &r.transport.config().sysfs_root,
                r.topology,
                &record.pins,
                &record.loads.cores,
            )
            .online
            .iter()
            .map(|o| o.cpu)
            .collect()
        };
        if !onlined.is_empty() {
            items.push(format!(
                "cores brought online: {}",
                crate::board::format_cores(&onlined)
            ));
        }
    }
    if record.loads.started > 0 && st.loads_left.is_none() {
        let local = r.transport.config().transport == crate::board::inventory::TransportKind::Local;
        items.push(format!(
            "{} load process(es) on cores {}{}",
            record.loads.started,
            crate::board::format_cores(&record.loads.cores),
            if local {
                format!(
                    " (klo-spec killed {} process(es) the cell left)",
                    record.leftovers_killed_by_runner
                )
            } else {
                String::new()
            }
        ));
    }
    if items.is_empty() {
        items.push("values the cell changed and did not put back (the board keeps them in its state folder)".into());
    }
    Some(LeftBehind {
        board: cell.coord.board.clone(),
        cell: cell.id.clone(),
        items,
        reset: r.reset_command.clone(),
    })
}

/// A record for a cell, before it runs.
pub(super) fn new_record(cell: &Cell, plan: &FreqPlan, choice: &Choice) -> CellRecord {
    CellRecord {
        id: cell.id.clone(),
        hash: cell.hash.clone(),
        status: Status::Error,
        reason: None,
        board: cell.coord.board.clone(),
        k: choice.k,
        iterations: cell.iterations,
        started_at: crate::host::now_rfc3339(),
        wall_s: 0.0,
        bench_exit: None,
        script_exit: None,
        signal: None,
        loads: LoadCounts::default(),
        leftovers_killed_by_runner: 0,
        cpu_util_pct: None,
        cpu_util_per_cpu: BTreeMap::new(),
        device: None,
        device_info: BTreeMap::new(),
        round_trips: 0,
        pins: plan.clone(),
        freq_before: BTreeMap::new(),
        freq_after: BTreeMap::new(),
        cores_onlined: Vec::new(),
        daemons_stopped: Vec::new(),
        stale_state_restored: false,
        k_choice: choice.record.clone(),
        search: None,
        log_dir: None,
        attempt: 1,
        earlier_attempts: Vec::new(),
        round: cell.slot.map(|s| s.round),
        position: cell.slot.map(|s| s.position),
        seed: None,
        overlapped: Vec::new(),
        foreign_cpu_pct: None,
        regime: None,
        thermal: None,
        samples: None,
        klo_spec_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Records a cell that cannot run (its K could not be chosen), without
/// touching the board.
pub fn refuse(
    r: &BoardRun,
    cell: &Cell,
    plan: &FreqPlan,
    status: Status,
    reason: String,
) -> CellRecord {
    let mut record = new_record(
        cell,
        plan,
        &Choice {
            k: cell.k,
            ..Choice::default()
        },
    );
    record.status = status;
    record.reason = Some(reason);
    let token = format!(
        "{}-{}-{}",
        cell.hash,
        std::process::id(),
        ATTEMPT.fetch_add(1, Ordering::SeqCst)
    );
    let staging = ResultDir::new(r.out_dir).staging().join(&token);
    match finalize(r.out_dir, cell, &staging, &record) {
        Ok(Placed::Result) => {}
        Ok(Placed::Aside { earlier, folder }) => {
            record.reason = Some(format!(
                "{}; the earlier {earlier} result is kept, this run is in {folder}",
                record.reason.take().unwrap_or_default()
            ));
        }
        Err(e) => {
            record.status = Status::Error;
            record.reason = Some(format!("{e:#}"));
        }
    }
    record
}

/// Why a record left in `.staging/` by a run that never came back says
/// `interrupted`: written before the round trip, replaced once it ends.
pub fn cut_off_reason() -> String {
    format!(
        "cut off: klo-spec (pid {} on {}) stopped while this cell ran and could not record its end (killed?); found by a later run",
        std::process::id(),
        crate::host::hostname()
    )
}

/// Runs attempt `n` of one cell into a folder of its own under
/// `.staging/`, with its `cell.json`, and judges it. Before the round trip
/// the folder holds a record that says `interrupted` (see
/// [`cut_off_reason`]), so a runner killed mid-cell leaves a trace that the
/// next run turns into the cell's record. `lost_before` holds why earlier
/// tries of this attempt lost the board. Nothing under `cells/` changes.
pub fn attempt(
    r: &BoardRun,
    cell: &Cell,
    plan: &FreqPlan,
    choice: &Choice,
    n: u32,
    lost_before: &[String],
) -> Attempt {
    let token = format!(
        "{}-{}-{}",
        cell.hash,
        std::process::id(),
        ATTEMPT.fetch_add(1, Ordering::SeqCst)
    );
    let staging = ResultDir::new(r.out_dir).staging().join(&token);
    let mut record = new_record(cell, plan, choice);
    record.attempt = n;
    record.seed = cell.slot.and(r.seed);
    record.regime = r
        .regimes
        .get(&(cell.coord.board.clone(), cell.coord.network.clone()))
        .cloned();
    let mut marker = record.clone();
    marker.status = Status::Interrupted;
    marker.reason = Some(cut_off_reason());
    if let Err(e) = write_marker(&staging, &marker) {
        // Nothing can be stored: the cell does not run at all.
        record.reason = Some(format!("{e:#}"));
        return Attempt {
            record,
            log: None,
            unreachable: None,
            storage: Some(format!("{e:#}")),
            staging,
            left: None,
        };
    }
    let registration = r.activity.as_ref().map(|a| a.begin(&cell.id));
    let outcome = run_round_trip(r, cell, plan, choice, &token, &staging, &mut record);
    if let Some(reg) = registration {
        record.overlapped = reg.end();
    }
    let (mut unreachable, mut storage) = (None, None);
    let log = match outcome {
        Ok(run) => {
            let files = judge::CellFiles::read(r.scenario, &staging);
            let ctx = judge::JudgeContext {
                scenario: r.scenario,
                topology: r.topology,
                cancel_cause: r.cancel.cause().to_string(),
                forced: r.cancel.is_forced(),
                reset_command: &r.reset_command,
            };
            judge::judge(&ctx, cell, run, files, &mut record)
        }
        Err(e) => {
            if let Some(u) = e.downcast_ref::<crate::board::Unreachable>() {
                unreachable = Some(u.detail.clone());
            }
            // A pull that failed for lack of space stops the run.
            if super::attempts::is_storage_error(&e) {
                storage = Some(format!("{e:#}"));
            }
            record.status = Status::Error;
            record.reason = Some(format!("{e:#}"));
            None
        }
    };
    if !lost_before.is_empty() {
        let note = format!(
            "tried {} time(s) before, the connection was lost: {}",
            lost_before.len(),
            lost_before.join("; ")
        );
        record.reason = Some(match record.reason.take() {
            Some(r) => format!("{r}; {note}"),
            None => note,
        });
    }
    if let Err(e) = write_record(&staging, &record) {
        storage.get_or_insert(format!("{e:#}"));
    }
    // A forced stop may have cut the cleanup short (a cell that finished
    // its cleanup says so in cell.status).
    let left = r
        .cancel
        .is_forced()
        .then(|| left_behind(r, cell, &staging, &record))
        .flatten();
    Attempt {
        record,
        log,
        unreachable,
        storage,
        staging,
        left,
    }
}

/// Writes the placeholder `cell.json` of a cell about to run into its
/// staging folder: a plain write, no fsync (a staging folder never outlives
/// its run: the next run removes what a crash left).
fn write_marker(dir: &Path, record: &CellRecord) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(record)? + "\n";
    let path = layout::cell_json(dir);
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `cell.json` into a cell folder (atomically).
pub fn write_record(dir: &Path, record: &CellRecord) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(record)? + "\n";
    crate::output::atomic_write(&layout::cell_json(dir), json.as_bytes())
}

fn run_round_trip(
    r: &BoardRun,
    cell: &Cell,
    plan: &FreqPlan,
    choice: &Choice,
    token: &str,
    staging: &Path,
    record: &mut CellRecord,
) -> Result<CellRun> {
    let s = r.scenario;
    let dir = r.transport.cell_dir(token);
    let (bench, mut files) = bench_script(r, cell, choice, &dir)?;
    files.push(("bench.sh".into(), bench.into_bytes(), EXEC));

    let mut loads = Vec::new();
    if let Some(l) = s.load(&cell.coord.load) {
        let cores = match &l.cores {
            Cores::All => r.cores.clone(),
            Cores::List(list) => list.clone(),
        };
        record.loads.cores = cores.clone();
        for core in cores {
            loads.push(LoadEntry {
                core,
                mask: core_mask(r.transport.load_cpu(core)),
                procs: l.procs_per_core,
                t_sleep_us: l.t_sleep_us,
                inner_iter: l.inner_iter,
                log_iter: l.log_iter,
            });
        }
    }
    let loads_total: u32 = loads.iter().map(|l| l.procs).sum();
    record.loads.started = loads_total;
    let settle_s = format!("{:.3}", s.load_settle_ms as f64 / 1000.0);
    let settle_ceil_s = s.load_settle_ms.div_ceil(1000);
    let ctx = board_ctx::build(
        &r.transport.config().sysfs_root,
        r.topology,
        plan,
        &record.loads.cores,
    );
    let thermal = board_ctx::thermal(
        &r.transport.config().sysfs_root,
        r.topology,
        s.thermal.as_ref(),
        &r.run_token,
    );
    let sampler = board_ctx::sampler(
        &r.transport.config().sysfs_root,
        r.topology,
        s.sampler.as_ref(),
    );
    let script = r.templates.render_cell(context! {
        cell => context! { id => cell.id.clone(), dir => dir.clone(), timeout_s => cell.timeout_s, settle_s => settle_s, settle_ceil_s => settle_ceil_s },
        board => context! {
            state_dir => format!("{}/state", r.transport.workdir()),
            freq_settle_s => format!("{:.3}", s.freq_settle_ms as f64 / 1000.0),
        },
        load_bin => r.helpers.load.clone(),
        loads => minijinja::Value::from(minijinja::value::Serde(&loads)),
        loads_total => loads_total,
        cpu_pins => minijinja::Value::from(minijinja::value::Serde(&ctx.cpu_pins)),
        gpu_pin => minijinja::Value::from(minijinja::value::Serde(&ctx.gpu_pin)),
        online => minijinja::Value::from(minijinja::value::Serde(&ctx.online)),
        core_ctl => minijinja::Value::from(minijinja::value::Serde(&ctx.core_ctl)),
        reads => minijinja::Value::from(minijinja::value::Serde(&ctx.reads)),
        knobs => minijinja::Value::from(minijinja::value::Serde(&ctx.knobs)),
        stop_daemons => minijinja::Value::from(
            record.pins.stopped.iter().map(|d| context! { name => d, comm => crate::preflight::comm_name(d) }).collect::<Vec<_>>(),
        ),
        thermal => minijinja::Value::from(minijinja::value::Serde(&thermal)),
        sampler => minijinja::Value::from(minijinja::value::Serde(&sampler)),
    })?;
    files.push(("cell.sh".into(), script.into_bytes(), EXEC));

    // The thermal gate's wait comes first (and a poll past its timeout).
    let gate = s.thermal.as_ref().map_or(Duration::ZERO, |t| {
        Duration::from_secs_f64(t.timeout_s + t.poll_s)
    });
    let deadline = gate
        + Duration::from_millis(s.load_settle_ms as u64)
        + Duration::from_secs(cell.timeout_s as u64)
        + deadline_margin(cell.timeout_s);
    let job = CellJob {
        token: token.to_string(),
        files,
        script: "cell.sh".into(),
        pull_to: staging.to_path_buf(),
        deadline,
        limits: s.pull_limits,
    };
    r.transport.run_cell(&job, &r.cancel)
}

/// Writes cell.json into the staging folder and moves it to `cells/<id>`,
/// replacing an earlier result only once the new one is complete on disk,
/// and never a finished result by an interrupted run (see [`place`]).
pub fn finalize(
    out_dir: &Path,
    cell: &Cell,
    staging: &Path,
    record: &CellRecord,
) -> Result<Placed> {
    write_record(staging, record)?;
    place(out_dir, &cell.id, staging)
}

/// Where a run's folder went.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    /// It is the cell's result now.
    Result,
    /// It says `interrupted` and an earlier finished result (any status but
    /// `interrupted`) was in place: that one stays, byte for byte, and this
    /// run's folder is kept for inspection in its `attempts/` (`folder`,
    /// relative to the cell's folder).
    Aside { earlier: Status, folder: String },
}

/// The status of the finished record at `target` when the run in
/// `staging` was interrupted: a stopped run measured nothing and must not
/// replace what a finished one found (a `--force` rerun stopped by Ctrl-C,
/// a runner killed during one).
fn finished_before(target: &Path, staging: &Path) -> Option<Status> {
    let new = CellRecord::read(&layout::cell_json(staging))?;
    if new.status != Status::Interrupted {
        return None;
    }
    let old = CellRecord::read(&layout::cell_json(target))?;
    (!matches!(old.status, Status::Interrupted | Status::NotRun)).then_some(old.status)
}

/// Moves a complete cell folder from `.staging/` to `cells/<id>` in one
/// step, replacing what was there; an interrupted run beside a finished
/// result goes into that result's `attempts/interrupted-<n>/` instead.
pub fn place(out_dir: &Path, id: &str, staging: &Path) -> Result<Placed> {
    let set = ResultDir::new(out_dir);
    let target = set.cell(id);
    let parent = target.parent().context("cell path has a parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    if !target.exists() {
        std::fs::rename(staging, &target)
            .with_context(|| format!("cannot move the cell into {}", target.display()))?;
        return Ok(Placed::Result);
    }
    if let Some(earlier) = finished_before(&target, staging) {
        let attempts = layout::attempts(&target);
        std::fs::create_dir_all(&attempts)
            .with_context(|| format!("cannot create {}", attempts.display()))?;
        let name = (1..)
            .map(|n| format!("interrupted-{n}"))
            .find(|n| !attempts.join(n).exists())
            .unwrap_or_default();
        std::fs::rename(staging, attempts.join(&name)).with_context(|| {
            format!(
                "cannot keep the interrupted run in {}",
                attempts.join(&name).display()
            )
        })?;
        return Ok(Placed::Aside {
            earlier,
            folder: layout::attempt_folder(&name),
        });
    }
    // Swap the new folder and the old one in one step, then drop the old.
    if exchange(staging, &target).is_ok() {
        let _ = std::fs::remove_dir_all(staging);
        return Ok(Placed::Result);
    }
    // A file system without RENAME_EXCHANGE: two renames, and the old result
    // goes back if the second fails.
    let trash = set.trash().join(staging.file_name().unwrap_or_default());
    std::fs::create_dir_all(trash.parent().context("trash has a parent")?)?;
    std::fs::rename(&target, &trash)
        .with_context(|| format!("cannot move the old {} aside", target.display()))?;
    if let Err(e) = std::fs::rename(staging, &target) {
        let _ = std::fs::rename(&trash, &target);
        return Err(e).with_context(|| format!("cannot move the cell into {}", target.display()));
    }
    let _ = std::fs::remove_dir_all(&trash);
    Ok(Placed::Result)
}

/// Atomically swaps two paths (Linux renameat2 with RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_hex_for_taskset() {
        assert_eq!(core_mask(0), "1");
        assert_eq!(core_mask(3), "8");
        assert_eq!(core_mask(4), "10");
        assert_eq!(core_mask(7), "80");
        assert_eq!(core_mask(65), "2".to_string() + &"0".repeat(16));
    }
}
