//! Judging a cell: what came back from its board (its files, read once
//! by [`CellFiles::read`]) and how the round trip went, to its status, its
//! reason and the record's measurements. [`judge`] reads no file: it is
//! tested on values (`tests` below).

use std::path::Path;

use super::board_ctx;
use super::cell::{SMALL_FILE, last_line, parse_log, read_status};
use super::status::CellStatus;
use crate::board::{CellRun, Topology};
use crate::ingest::LogDigest;
use crate::ingest::samples::SamplesSummary;
use crate::matrix::Cell;
use crate::record::{CellRecord, Status, cpu_utilization};
use crate::scenario::Scenario;
use crate::scenario::raw::FreqMismatch;

/// What a cell's folder holds that judging it needs.
#[derive(Debug, Default)]
pub struct CellFiles {
    /// `cell.status` (empty when the file is not there).
    pub status: CellStatus,
    /// `/proc/stat` before and after the benchmark.
    pub stat: Option<(String, String)>,
    /// The sampler's `samples.csv`, summarised.
    pub samples: Option<SamplesSummary>,
    /// The benchmark's log, as a digest.
    pub log: Option<LogDigest>,
    /// The last non-empty line of the benchmark's stderr.
    pub bench_err_last: Option<String>,
}

impl CellFiles {
    /// Reads them from `staging`, each as data (no link followed, within
    /// the scenario's budgets).
    pub fn read(s: &Scenario, staging: &Path) -> CellFiles {
        let small = |name: &str| crate::untrusted::read_lossy(&staging.join(name), SMALL_FILE).ok();
        CellFiles {
            status: read_status(&staging.join("cell.status")).unwrap_or_default(),
            stat: small("stat.before").zip(small("stat.after")),
            samples: crate::ingest::samples::Samples::read(
                &crate::layout::samples_csv(staging),
                s.pull_limits.file_bytes,
            )
            .and_then(|s| s.summary().ok()),
            log: parse_log(s, staging),
            bench_err_last: last_line(&staging.join("bench.err")),
        }
    }
}

/// What judging needs beyond the cell and its files.
pub struct JudgeContext<'a> {
    pub scenario: &'a Scenario,
    pub topology: &'a Topology,
    /// The signal klo-spec got, named for a reason (`SIGINT (Ctrl-C)`).
    pub cancel_cause: String,
    /// A second signal forced the stop.
    pub forced: bool,
    /// The command that puts the board back.
    pub reset_command: &'a str,
}

/// What the benchmark's status is decided from, besides the record.
struct Evidence<'a> {
    st: &'a CellStatus,
    log: &'a Option<LogDigest>,
    bench_err_last: Option<String>,
    freq_problems: &'a [String],
    throttled: &'a [String],
}

/// Fills `record` from the cell's files and round trip and decides its
/// status and reason; gives the log back.
pub fn judge(
    ctx: &JudgeContext,
    cell: &Cell,
    run: CellRun,
    files: CellFiles,
    record: &mut CellRecord,
) -> Option<LogDigest> {
    let CellFiles {
        status: st,
        stat,
        samples,
        log,
        bench_err_last,
    } = files;
    measurements(ctx, &run, &st, stat, samples, record);
    if let Some(l) = &log {
        record.device = l.meta.info.get("device").cloned();
        record.device_info = l.meta.info.clone();
    }

    let mut freq_problems = board_ctx::verify(
        &record.pins,
        &record.freq_before,
        &record.freq_after,
        ctx.scenario.freq_tolerance_pct,
    );
    // The kgsl knobs are held like the frequencies.
    if st.bench_exit.is_some() || st.other.contains_key("bench_exit") {
        freq_problems.extend(board_ctx::verify_knobs(&record.pins, &st.readings));
    }
    let throttled = throttled(record);
    let evidence = Evidence {
        st: &st,
        log: &log,
        bench_err_last,
        freq_problems: &freq_problems,
        throttled: &throttled,
    };
    let (status, reason) = decide(ctx, cell, &run, evidence, record);
    record.status = status;
    record.reason = reason;
    let notes = notes(ctx, &run, &st, status, &freq_problems, record);
    if !notes.is_empty() {
        let mut all: Vec<String> = record.reason.take().into_iter().collect();
        all.extend(notes);
        record.reason = Some(all.join("; "));
    }
    log
}

/// What the record takes from the round trip and the files as they are.
fn measurements(
    ctx: &JudgeContext,
    run: &CellRun,
    st: &CellStatus,
    stat: Option<(String, String)>,
    samples: Option<SamplesSummary>,
    record: &mut CellRecord,
) {
    record.wall_s = (run.wall.as_secs_f64() * 1000.0).round() / 1000.0;
    record.round_trips = run.round_trips;
    record.script_exit = run.exit_code;
    record.bench_exit = st.bench_exit;
    record.signal = st.signal.clone();
    record.loads.alive_before = st.loads_alive_before;
    record.loads.alive_after = st.loads_alive_after;
    record.loads.left_after_cleanup = st.loads_left;
    record.leftovers_killed_by_runner = run.leftovers_killed;
    record.foreign_cpu_pct = run.foreign_cpu.and_then(|(s, cpus)| {
        let wall = run.wall.as_secs_f64();
        (wall > 0.0 && cpus > 0).then(|| (1000.0 * s / (wall * cpus as f64)).round() / 10.0)
    });
    if let Some((b, a)) = stat {
        let util = cpu_utilization(&b, &a);
        record.cpu_util_pct = util.get("cpu").map(|u| (u * 10.0).round() / 10.0);
        record.cpu_util_per_cpu = util
            .into_iter()
            .filter(|(k, _)| k != "cpu")
            .map(|(k, v)| (k, (v * 10.0).round() / 10.0))
            .collect();
    }
    record.freq_before = board_ctx::readings(&st.readings, "before", ctx.topology);
    record.freq_after = board_ctx::readings(&st.readings, "after", ctx.topology);
    record.cores_onlined = st.cores_onlined.clone();
    record.daemons_stopped = st.daemons_stopped.clone();
    record.stale_state_restored = st.stale_state;
    record.samples = samples;
    record.thermal = ctx
        .scenario
        .thermal
        .as_ref()
        .map(|t| board_ctx::thermal_record(st, t, ctx.topology));
}

/// With a thermal gate, a zone above its limit or a pinned frequency
/// that moved during the benchmark makes the cell `throttled`: why.
fn throttled(record: &CellRecord) -> Vec<String> {
    match &record.thermal {
        Some(t) => {
            let pinned: Vec<String> = record
                .pins
                .cpu
                .iter()
                .map(|p| p.name.clone())
                .chain(record.pins.gpu.as_ref().map(|_| "gpu".to_string()))
                .collect();
            let mut v = t.over_limit();
            v.extend(
                board_ctx::changes(&record.freq_before, &record.freq_after)
                    .into_iter()
                    .filter(|c| {
                        pinned
                            .iter()
                            .any(|p| c.split(' ').next() == Some(p.as_str()))
                    })
                    .map(|c| format!("pinned frequency moved: {c}")),
            );
            v
        }
        None => Vec::new(),
    }
}

/// The cell's status and reason, in order of precedence: the round
/// trip's account first, then the board's setup and cleanup, then the
/// benchmark's own.
fn decide(
    ctx: &JudgeContext,
    cell: &Cell,
    run: &CellRun,
    ev: Evidence,
    record: &CellRecord,
) -> (Status, Option<String>) {
    round_trip_status(ctx, run, ev.st, record)
        .or_else(|| board_status(ctx, ev.st, record))
        .unwrap_or_else(|| benchmark_status(ctx, cell, ev, record))
}

/// What the pull refused, a process that escaped, the runner's deadline,
/// a stop or a signal.
fn round_trip_status(
    ctx: &JudgeContext,
    run: &CellRun,
    st: &CellStatus,
    record: &CellRecord,
) -> Option<(Status, Option<String>)> {
    // The runner's deadline TERMs the script, which records the signal: a
    // deadline is a timeout unless a cancellation came first. What the
    // board sent back and the pull refused comes first: such a cell is
    // never a result, whatever its files say.
    Some(if let Some(why) = run.pull.rejected_reason() {
        (Status::Rejected, Some(why))
    } else if let Some(why) = run.pull.too_large_reason() {
        (Status::TooLarge, Some(why))
    } else if let Some(n) = st.escaped_left {
        (
            Status::Error,
            Some(format!(
                "{} process(es) the benchmark started outside its process group (setsid, a double fork) were still running after ten rounds of kills: stop them (their environment holds KLO_SPEC_CELL=...-cell) before the next run",
                n
            )),
        )
    } else if run.deadline_hit && !run.interrupted {
        (
            Status::Timeout,
            Some("the cell script outlived its deadline and was killed by the runner".into()),
        )
    } else if run.interrupted {
        // The cell script was told by the runner (TERM); what stopped the
        // run is the signal klo-spec received.
        let mut why = format!("stopped by {} to klo-spec", ctx.cancel_cause);
        if ctx.forced && !st.finished {
            why.push_str(&format!(
                "; a second signal forced the stop: the cell's cleanup was cut short (run `{}`)",
                ctx.reset_command
            ));
        }
        (Status::Interrupted, Some(why))
    } else if let Some(sig) = &record.signal {
        (
            Status::Interrupted,
            Some(format!(
                "the cell script was stopped by SIG{sig}, which klo-spec did not send"
            )),
        )
    } else {
        return None;
    })
}

/// Values the board could not put back, a gate that never let the cell
/// go, a setup step that failed.
fn board_status(
    ctx: &JudgeContext,
    st: &CellStatus,
    record: &CellRecord,
) -> Option<(Status, Option<String>)> {
    Some(if let Some(n) = st.restore_failed {
        let files = st.restore_errors.join(" ");
        (
            Status::Error,
            Some(format!(
                "{n} value(s) could not be put back ({files}): run `{}`",
                ctx.reset_command
            )),
        )
    } else if st.error_kind.as_deref() == Some("too_hot") {
        let hot: Vec<String> = record
            .thermal
            .iter()
            .flat_map(|t| &t.zones)
            .filter_map(|z| {
                Some(format!(
                    "{} ({}) at {:.1} °C, limit {:.1} °C",
                    z.zone, z.kind, z.gate_c?, z.limit_c?
                ))
            })
            .collect();
        (
            Status::TooHot,
            Some(format!(
                "{}: {}; the cell was not run (thermal.on_timeout: run_flagged runs it anyway)",
                st.error.as_deref().unwrap_or("too hot"),
                hot.join(", ")
            )),
        )
    } else if let Some(e) = &st.error {
        let status = if st.error_kind.as_deref() == Some("load") {
            Status::LoadFailed
        } else {
            Status::SetupFailed
        };
        (status, Some(e.clone()))
    } else {
        return None;
    })
}

/// The benchmark's account: how it ended, its log, its loads, the
/// thermal and frequency read-backs.
fn benchmark_status(
    ctx: &JudgeContext,
    cell: &Cell,
    ev: Evidence,
    record: &CellRecord,
) -> (Status, Option<String>) {
    let Evidence {
        st,
        log,
        bench_err_last,
        freq_problems,
        throttled,
    } = ev;
    if st.timed_out {
        (
            Status::Timeout,
            Some(format!(
                "the benchmark ran longer than {} s and was killed",
                cell.timeout_s
            )),
        )
    } else if record.bench_exit != Some(0) {
        let why = bench_err_last.unwrap_or_else(|| "no message on stderr".into());
        let code = record
            .bench_exit
            .map(|c| c.to_string())
            .unwrap_or_else(|| "no status".into());
        (
            Status::Failed,
            Some(format!("the benchmark exited with {code}: {why}")),
        )
    } else if let Some(why) = log.as_ref().map_or(Some("no log".to_string()), |l| {
        l.incomplete_reason(cell.iterations, Some(&cell.coord.network))
    }) {
        (Status::Incomplete, Some(why))
    } else if record.loads.alive_after.unwrap_or(0) < record.loads.started {
        (
            Status::LoadDied,
            Some(format!(
                "only {} of {} load processes were still running when the benchmark ended: make the load last longer (log_iter)",
                record.loads.alive_after.unwrap_or(0),
                record.loads.started
            )),
        )
    } else if !throttled.is_empty() {
        (Status::Throttled, Some(throttled.join("; ")))
    } else if !freq_problems.is_empty() && ctx.scenario.freq_mismatch == FreqMismatch::Fail {
        (Status::FreqMismatch, Some(freq_problems.join("; ")))
    } else {
        (Status::Ok, None)
    }
}

/// Notes that go after the reason, whatever the status.
fn notes(
    ctx: &JudgeContext,
    run: &CellRun,
    st: &CellStatus,
    status: Status,
    freq_problems: &[String],
    record: &CellRecord,
) -> Vec<String> {
    let mut notes = Vec::new();
    if status == Status::Ok && !freq_problems.is_empty() {
        notes.push(format!(
            "frequencies off (freq_mismatch: warn): {}",
            freq_problems.join("; ")
        ));
    }
    let moved = board_ctx::changes(&record.freq_before, &record.freq_after);
    if !moved.is_empty() {
        notes.push(format!(
            "frequency changed during the benchmark: {}",
            moved.join(", ")
        ));
    }
    if record.thermal.as_ref().is_some_and(|t| t.flagged) {
        notes.push(format!(
            "started too hot: the board did not cool down within thermal.timeout_s ({} s) and the cell ran anyway (on_timeout: run_flagged)",
            ctx.scenario.thermal.as_ref().map_or(0.0, |t| t.timeout_s)
        ));
    }
    if record.stale_state_restored {
        notes.push("an earlier run's changes were found on the board and put back first".into());
    }
    if st.bench_children_killed {
        notes.push("the benchmark left processes running; they were killed".to_string());
    }
    if st.bench_killed && !matches!(status, Status::Interrupted | Status::Timeout) {
        notes.push(
            "the benchmark was still running when the cell's cleanup began; it was killed"
                .to_string(),
        );
    }
    if st.bench_left {
        notes.push(
            "processes of the benchmark were still there after the cell's cleanup killed them"
                .to_string(),
        );
    }
    if let Some(n) = st.escaped_killed {
        notes.push(format!(
            "the benchmark started {n} process(es) that left its process group (setsid, a double fork); found by the cell's marker and killed"
        ));
    }
    if let Some(n) = st.loads_started
        && n != record.loads.started
    {
        notes.push(format!(
            "the cell script started {n} load process(es), {} were planned",
            record.loads.started
        ));
    }
    if run.leftovers_killed > 0 {
        notes.push(format!(
            "the runner killed {} process(es) the cell script left behind",
            run.leftovers_killed
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::freqplan::FreqPlan;
    use crate::run::kchoice::Choice;
    use std::time::Duration;

    const LOG: &str = "KLO v1 info probe=1 device=thread\n\
        KLO v1 net=tiny iter=0 kernel=0 name=a t_prod_us=9.0 t_ker_us=5.0 t_idle_us=nan flush=1 k=1\n\
        KLO v1 net=tiny iter=0 latency_us=20.0 flushes=1 k_mean=1.00\n\
        KLO v1 net=tiny iter=1 kernel=0 name=a t_prod_us=9.0 t_ker_us=5.0 t_idle_us=1.0 flush=1 k=1\n\
        KLO v1 net=tiny iter=1 latency_us=21.0 flushes=1 k_mean=1.00\n\
        KLO v1 end iters=2\n";

    /// A scenario of one cell (two inferences of `tiny`, a load of two
    /// processes), read from a file once: everything after it is values.
    fn setup() -> (Scenario, Cell) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.yaml");
        std::fs::write(
            &f,
            "name: j\nboards: [local]\nnetworks: [tiny]\niterations: 2\nloads:\n  l: {procs_per_core: 2, t_sleep_us: 0, inner_iter: 1000, log_iter: 3, cores: [0]}\nmatrix:\n  load: [l]\n",
        )
        .unwrap();
        let s = crate::scenario::load(&f).unwrap();
        let cell = crate::matrix::expand(&s).unwrap().remove(0);
        (s, cell)
    }

    fn run() -> CellRun {
        CellRun {
            exit_code: Some(0),
            stdout: String::new(),
            stderr: String::new(),
            wall: Duration::from_millis(1500),
            round_trips: 1,
            interrupted: false,
            deadline_hit: false,
            leftovers_killed: 0,
            foreign_cpu: None,
            pull: Default::default(),
        }
    }

    fn judged(status: &str, log: Option<&str>, run: CellRun) -> CellRecord {
        let (s, cell) = setup();
        let topo = Topology::default();
        let ctx = JudgeContext {
            scenario: &s,
            topology: &topo,
            cancel_cause: "SIGINT (Ctrl-C)".into(),
            forced: false,
            reset_command: "klo-spec board reset local",
        };
        let mut record =
            super::super::cell::new_record(&cell, &FreqPlan::default(), &Choice::default());
        // As the round trip sets it: two processes on core 0.
        record.loads.started = 2;
        let files = CellFiles {
            status: CellStatus::parse(status),
            log: log.map(|t| crate::ingest::digest_text(t, None, Default::default())),
            bench_err_last: Some("segfault".into()),
            ..Default::default()
        };
        judge(&ctx, &cell, run, files, &mut record);
        record
    }

    const CLEAN: &str = "loads_started=2\nloads_alive_before=2\nbench_exit=0\nloads_alive_after=2\nloads_left=0\nrestored=1\nfinished=1\n";

    #[test]
    fn a_clean_cell_is_ok_and_its_counts_reach_the_record() {
        let r = judged(CLEAN, Some(LOG), run());
        assert_eq!(r.status, Status::Ok, "{:?}", r.reason);
        assert_eq!(r.reason, None);
        assert_eq!(
            (
                r.loads.alive_before,
                r.loads.alive_after,
                r.loads.left_after_cleanup
            ),
            (Some(2), Some(2), Some(0))
        );
        assert_eq!(r.bench_exit, Some(0));
        assert_eq!(r.device.as_deref(), Some("thread"));
        assert_eq!(r.wall_s, 1.5);
    }

    #[test]
    fn each_account_of_the_script_gives_its_status() {
        let cases: [(&str, Option<&str>, Status, &str); 8] = [
            (
                "bench_exit=139\nloads_alive_after=2\n",
                Some(LOG),
                Status::Failed,
                "exited with 139: segfault",
            ),
            (
                "bench_exit=0\nloads_alive_after=2\n",
                Some("KLO v1 end iters=2\n"),
                Status::Incomplete,
                "",
            ),
            (
                "bench_exit=0\nloads_alive_after=2\n",
                None,
                Status::Incomplete,
                "no log",
            ),
            (
                "bench_exit=0\nloads_alive_after=1\n",
                Some(LOG),
                Status::LoadDied,
                "only 1 of 2 load processes",
            ),
            (
                "bench_exit=0\nloads_alive_after=2\ntimed_out=1\n",
                Some(LOG),
                Status::Timeout,
                "ran longer than",
            ),
            (
                "error_kind=load\nerror=taskset: no such core\n",
                None,
                Status::LoadFailed,
                "taskset: no such core",
            ),
            (
                "error_kind=setup\nerror=cannot write\n",
                None,
                Status::SetupFailed,
                "cannot write",
            ),
            (
                "bench_exit=0\nloads_alive_after=2\nrestore_failed=2\nrestore_error=/a\nrestore_error=/b\n",
                Some(LOG),
                Status::Error,
                "2 value(s) could not be put back (/a /b): run `klo-spec board reset local`",
            ),
        ];
        for (status, log, want, why) in cases {
            let r = judged(status, log, run());
            assert_eq!(r.status, want, "{status}: {:?}", r.reason);
            assert!(
                r.reason.as_deref().unwrap_or("").contains(why),
                "{status}: {:?}",
                r.reason
            );
        }
    }

    #[test]
    fn the_round_trip_comes_before_what_the_files_say() {
        let mut cut = run();
        cut.interrupted = true;
        let r = judged(CLEAN, Some(LOG), cut);
        assert_eq!(r.status, Status::Interrupted);
        assert_eq!(
            r.reason.as_deref(),
            Some("stopped by SIGINT (Ctrl-C) to klo-spec")
        );
        let mut late = run();
        late.deadline_hit = true;
        assert_eq!(judged(CLEAN, Some(LOG), late).status, Status::Timeout);
        let r = judged(&format!("{CLEAN}signal=HUP\n"), Some(LOG), run());
        assert_eq!(r.status, Status::Interrupted);
        assert!(
            r.reason
                .unwrap()
                .contains("SIGHUP, which klo-spec did not send")
        );
        let r = judged(&format!("{CLEAN}escaped_left=3\n"), Some(LOG), run());
        assert_eq!(r.status, Status::Error);
        assert!(
            r.reason
                .unwrap()
                .starts_with("3 process(es) the benchmark started outside")
        );
    }

    /// Keys that once reached nothing: a benchmark that outlived the
    /// cleanup, one still running at it, a load count other than planned.
    #[test]
    fn what_survived_the_cleanup_reaches_the_record() {
        let r = judged(
            &format!("{CLEAN}bench_left=1\nbench_killed=1\nescaped_killed=2\n"),
            Some(LOG),
            run(),
        );
        assert_eq!(r.status, Status::Ok);
        let why = r.reason.unwrap();
        assert!(
            why.contains("still there after the cell's cleanup killed them"),
            "{why}"
        );
        assert!(
            why.contains("still running when the cell's cleanup began"),
            "{why}"
        );
        assert!(
            why.contains("2 process(es) that left its process group"),
            "{why}"
        );
        let r = judged(
            &CLEAN.replace("loads_started=2", "loads_started=1"),
            Some(LOG),
            run(),
        );
        assert!(
            r.reason
                .unwrap()
                .contains("started 1 load process(es), 2 were planned")
        );
    }
}
