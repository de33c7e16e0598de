//! The end of a run: each board's environment (compared with the earlier
//! runs' in the same result set) and meta.json ([`RunMeta`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::lanes::Plan;
use super::{HaltReason, Prepared, RunOptions};
use crate::board::{Cancel, HelperPaths, format_cores, helpers};
use crate::digest::hex_sha256;
use crate::preflight::{EnvChange, Preflight};
use crate::record::CellRecord;
use crate::record::meta::{
    AllowedBy, Bailed, BoardInfo, HostInfo, KloSpecInfo, OrderInfo, PreflightInfo, RegimeInfo,
    ResumeInfo, RunInfo, RunMeta, ScenarioInfo,
};

/// Per board: flat `key: value` pairs.
pub(super) type Environments = BTreeMap<String, BTreeMap<String, String>>;

/// The environment of each board: the pre-flight's reading, and what the
/// benchmark said of the device (from this run's cells, else as the
/// result set recorded it before); and how it differs from the earlier
/// runs' (said on stderr: their results are mixed with this run's).
pub(super) fn environments(
    p: &Prepared,
    out_dir: &Path,
    preflights: &BTreeMap<String, Preflight>,
    results: &[(usize, CellRecord)],
) -> (Environments, Vec<EnvChange>) {
    let earlier_env = RunMeta::read(&crate::layout::ResultDir::new(out_dir).meta_json())
        .map(|m| m.environment)
        .unwrap_or_default();
    let mut environment: Environments = BTreeMap::new();
    for (board, pf) in preflights {
        let mut env = pf.environment.clone();
        let device = results
            .iter()
            .filter(|(i, _)| p.cells[*i].coord.board == *board)
            .map(|(_, r)| &r.device_info)
            .find(|d| {
                d.keys()
                    .any(|k| crate::preflight::DEVICE_ENVIRONMENT.contains(&k.as_str()))
            });
        match device {
            Some(d) => {
                for k in crate::preflight::DEVICE_ENVIRONMENT {
                    if let Some(v) = d.get(k) {
                        env.insert(format!("device.{k}"), v.clone());
                    }
                }
            }
            None => {
                if let Some(old) = earlier_env.get(board) {
                    env.extend(
                        old.iter()
                            .filter(|(k, _)| k.starts_with("device."))
                            .map(|(k, v)| (k.clone(), v.clone())),
                    );
                }
            }
        }
        environment.insert(board.clone(), env);
    }
    // A result set whose earlier runs were measured in another environment
    // (a kernel update between two sessions) says so.
    let env_changes = crate::preflight::compare_environments(&earlier_env, &environment);
    if !env_changes.is_empty() {
        eprintln!(
            "klo-spec: warning: the environment changed since the earlier runs in {} (their results are mixed with this run's in the tables; `--force` measures everything again):",
            out_dir.display()
        );
        for line in crate::preflight::describe_changes(&env_changes) {
            eprintln!("  {}", crate::text::printable_lines(&line));
        }
    }
    (environment, env_changes)
}

/// What meta.json records of a run, besides the prepared scenario and
/// the options.
pub(super) struct Facts<'a> {
    pub helper_paths: &'a BTreeMap<String, HelperPaths>,
    pub lost: &'a BTreeMap<String, String>,
    pub preflights: &'a BTreeMap<String, Preflight>,
    pub environment: Environments,
    pub env_changes: Vec<EnvChange>,
    pub plan: &'a Plan,
    pub started_at: String,
    pub t0: Instant,
    pub runs_run: usize,
    pub halted: &'a Option<HaltReason>,
    pub by_status: BTreeMap<String, usize>,
}

/// meta.json of a run that ends now.
pub(super) fn build(p: &Prepared, opts: &RunOptions, cancel: &Cancel, f: Facts) -> RunMeta {
    let s = &p.scenario;
    RunMeta {
        scenario: ScenarioInfo {
            name: s.name.clone(),
            file: Some(s.file.display().to_string()),
            sha256: Some(hex_sha256(s.text.as_bytes())),
        },
        klo_spec: KloSpecInfo {
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        },
        host: HostInfo {
            hostname: Some(crate::host::hostname()),
            os: Some(std::env::consts::OS.to_string()),
            arch: Some(std::env::consts::ARCH.to_string()),
            kernel: Some(crate::host::kernel_release()),
        },
        boards: boards(p, &f),
        helpers_source_sha256: Some(helpers::source_hash()),
        regimes: p
            .regimes
            .iter()
            .map(|((b, n), r)| RegimeInfo {
                board: b.clone(),
                network: n.clone(),
                regime: r.regime.clone(),
                ratio: r.ratio,
                ker_scale: r.ker_scale,
                calibration: r.calibration.clone(),
            })
            .collect(),
        notes: p.notes.clone(),
        preflight: preflights(p, &f),
        environment: f.environment.clone(),
        templates: Some(
            p.templates
                .overrides()
                .iter()
                .map(|o| o.display().to_string())
                .collect(),
        ),
        run: run_info(p, opts, cancel, f),
    }
}

/// Each board: what it is, its cores and helpers, whether it was lost.
fn boards(p: &Prepared, f: &Facts) -> BTreeMap<String, BoardInfo> {
    p.boards
        .keys()
        .map(|b| {
            let info = BoardInfo {
                identity: Some(p.identities[b].clone()),
                cores: Some(format_cores(&p.cores[b])),
                helpers: f.helper_paths.get(b).cloned(),
                transport: Some(p.boards[b].config().describe()),
                lost: f.lost.get(b).cloned(),
            };
            (b.clone(), info)
        })
        .collect()
}

/// Each board's pre-flight checks and the settings they were judged by.
fn preflights(p: &Prepared, f: &Facts) -> BTreeMap<String, PreflightInfo> {
    let s = &p.scenario;
    f.preflights
        .iter()
        .map(|(b, pf)| {
            let info = PreflightInfo {
                checks: pf.checks.clone(),
                allowed_by: AllowedBy {
                    scenario: s.preflight.allow.clone(),
                    battery_min_pct: s.preflight.battery_min_pct,
                    free_mib: s.preflight.free_mib,
                },
            };
            (b.clone(), info)
        })
        .collect()
}

/// The run itself: its times, order, what resume found and how it ended.
fn run_info(p: &Prepared, opts: &RunOptions, cancel: &Cancel, f: Facts) -> RunInfo {
    let s = &p.scenario;
    let (plan, resume) = (f.plan, &f.plan.resume);
    RunInfo {
        started_at: Some(f.started_at),
        finished_at: Some(crate::host::now_rfc3339()),
        wall_s: Some((f.t0.elapsed().as_secs_f64() * 10.0).round() / 10.0),
        cells_total: p.cells.len(),
        order: OrderInfo {
            rounds: plan.rounds,
            seed: plan.random.then_some(plan.seed),
            order: if plan.random { "random" } else { "plan" }.to_string(),
            how: "every cell once per round; within a round, a random order drawn from the seed (ChaCha8, one stream per round); profiles before the cells that take K from them".to_string(),
            lanes: plan.schedules.iter().map(|(lane, _)| lane.clone()).collect(),
        },
        runs_total: p.cells.len() * plan.rounds as usize,
        runs_selected: resume.selected,
        runs_run: f.runs_run,
        runs_skipped: if opts.force { 0 } else { resume.done },
        resume: ResumeInfo {
            done: resume.done,
            missing: resume.missing,
            changed: resume.changed,
            failed_before: resume.failed.clone(),
            cut_off: plan.cut_off.iter().map(|c| c.id.clone()).collect(),
            profiles_added: resume.profiles_added,
        },
        only: opts.only.clone(),
        rerun_failed: opts.rerun_failed,
        force: opts.force,
        on_failure: match s.on_failure {
            crate::scenario::OnFailure::KeepGoing => "keep_going",
            crate::scenario::OnFailure::Bail => "bail",
        }
        .to_string(),
        bailed_after: match f.halted {
            Some(HaltReason::Bail { id, status }) => Some(Bailed {
                id: id.clone(),
                status: *status,
            }),
            _ => None,
        },
        interrupted: cancel.is_cancelled(),
        environment_changed: f.env_changes,
        by_status: Some(f.by_status),
    }
}
