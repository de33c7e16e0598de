//! What each subcommand does: glue between the command line and the
//! library. Data goes to stdout, progress and errors to stderr.
//! `plan`'s printout is `commands/plan.rs`, `calibrate`'s
//! `commands/calibrate.rs`, the library's option types from the command
//! line `commands/options.rs`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::board::Cancel;
use crate::cli::{BoardCommand, Cli, Command, Common, LutCommand, RunArgs};
use crate::error::UsageError;
use crate::output::{Table, atomic_write};
use crate::render::Templates;
use crate::run::{self, Prepared, RunOptions};
use crate::scenario;

mod calibrate;
mod options;
mod plan;

/// Runs a parsed command line; returns the exit code for success.
pub fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => run_command(a),
        Command::Plan(a) => {
            let mut p = prepare(&a.common)?;
            apply_order(&mut p, a.order);
            print_notes(&p);
            if !a.only.is_empty() {
                let keep = run::select::matching(&p.cells, &a.only)?;
                let mut i = 0;
                p.cells.retain(|_| {
                    i += 1;
                    keep[i - 1]
                });
            }
            plan::print_plan(&p, a.json, &a.output_dir)?;
            Ok(0)
        }
        Command::Analyze(a) => {
            let p = prepare(&a.common)?;
            let analysis = run::analyze_only(&p, &a.output_dir)?;
            run::print_tables(&analysis);
            Ok(0)
        }
        Command::Board(cmd) => board_command(cmd),
        Command::Lut(cmd) => lut_command(cmd),
        Command::Helpers(a) => helpers_command(a),
        Command::Diff(a) => crate::diff::command(&options::diff(a)),
        Command::Show(a) => crate::show::command(&options::show(a)),
        Command::Export(a) => crate::export::command(&options::export(a)),
        Command::Report(a) => crate::report::command(&options::report(a)),
        Command::Boards(a) => {
            crate::board::listing::list(&load_inventory(&a.boards)?, a.json, a.timeout)?;
            Ok(0)
        }
        Command::Calibrate(a) => calibrate::calibrate_command(&a),
        Command::Schema(a) => {
            let text = if a.boards {
                boards_schema_json()
            } else {
                schema_json()
            };
            match a.output {
                Some(path) => atomic_write(&path, text.as_bytes())?,
                None => print!("{text}"),
            }
            Ok(0)
        }
    }
}

/// `klo-spec run`: builds missing LUTs, prepares (calibrating first),
/// runs and prints the tables.
fn run_command(a: RunArgs) -> Result<i32> {
    let cancel = Cancel::default();
    install_signal_handler(&cancel);
    build_missing_luts(&a, &cancel)?;
    let mut p = prepare_calibrating(&a.common, &cancel)?;
    apply_order(&mut p, a.order);
    for name in &a.allow {
        if !p.scenario.preflight.allow.contains(name) {
            p.scenario.preflight.allow.push(name.clone());
        }
    }
    print_notes(&p);
    let wait = a.wait_limit();
    let report = run::run(
        &p,
        &RunOptions {
            output_root: a.output_dir,
            force: a.force,
            progress: !a.quiet,
            only: a.only,
            rerun_failed: a.rerun_failed,
            wait,
        },
        &cancel,
    )?;
    run::print_tables(&report.analysis);
    println!("\nresults: {}", report.out_dir.display());
    report.outcome(&cancel)?;
    Ok(0)
}

/// `klo-spec helpers`: builds the board-side helpers (for this machine
/// or a board) and prints their paths, or writes their sources.
fn helpers_command(a: crate::cli::HelpersArgs) -> Result<i32> {
    match a.sources {
        Some(dir) => {
            for h in crate::board::helpers::ALL {
                let path = dir.join(format!("{}.c", h.name));
                atomic_write(&path, h.source.as_bytes())?;
                println!(
                    "{}  (cc {} -o {} {}.c {})",
                    path.display(),
                    h.cflags.join(" "),
                    h.name,
                    h.name,
                    h.libs.join(" ")
                );
            }
        }
        None => {
            use crate::board::helpers;
            let compiler = match &a.board {
                Some(b) => find_board(&load_inventory(&a.boards)?, b)?.compiler.clone(),
                None => helpers::Compiler::Host(None),
            };
            let Some(cmd) = helpers::host_command(&compiler)? else {
                return Err(UsageError::new(
                    format!("board `{}` builds its helpers itself (`board_cc`)", a.board.unwrap_or_default()),
                    Some("klo-spec sends it the sources at the start of a run; `klo-spec helpers --sources DIR` writes them out".into()),
                )
                .into());
            };
            let built = helpers::build_with(&cmd, &helpers::cache_dir().join("helpers"))?;
            let paths = built.paths();
            println!("{}\n{}", paths.load, paths.probe);
            eprintln!(
                "klo-spec: built for {} with `{}`",
                built.target,
                cmd.join(" ")
            );
        }
    }
    Ok(0)
}

fn lut_command(cmd: LutCommand) -> Result<i32> {
    use crate::kstrategy::{build, lut};
    match cmd {
        LutCommand::Build(a) => {
            let slice = build::Slice {
                board: a.board,
                load: a.load,
                cpu_freq: a.cpu_freq,
                gpu_freq: a.gpu_freq,
            };
            let l = build::from_result_set(&a.dir, &slice)?;
            atomic_write(&a.output, l.to_text().as_bytes())?;
            let mut t = Table::new(&["t_prod_us", "t_ker_us", "k_opt", "latency_us"]);
            for p in &l.points {
                t.rows.push(vec![
                    format!("{:.2}", p.t_prod_us),
                    format!("{:.2}", p.t_ker_us),
                    p.k_opt.to_string(),
                    crate::output::fmt_f(p.latency_us, 1),
                ]);
            }
            println!("{}", t.to_terminal(&[]));
            eprintln!(
                "klo-spec: wrote {} ({} grid points, hash {})",
                a.output.display(),
                l.points.len(),
                l.hash
            );
            Ok(0)
        }
        LutCommand::Compare(a) => {
            let (x, y) = (lut::Lut::read(&a.a)?, lut::Lut::read(&a.b)?);
            let mut t = Table::new(&[
                "t_prod_us",
                "t_ker_us",
                "k_opt_a",
                "k_opt_b",
                "b_clamped",
                "differs",
            ]);
            let mut differ = 0;
            for (p, l) in lut::compare(&x, &y) {
                let d = p.k_opt != l.k;
                differ += usize::from(d);
                t.rows.push(vec![
                    format!("{:.2}", p.t_prod_us),
                    format!("{:.2}", p.t_ker_us),
                    p.k_opt.to_string(),
                    l.k.to_string(),
                    if l.clamped {
                        "yes".into()
                    } else {
                        String::new()
                    },
                    if d { "*".into() } else { String::new() },
                ]);
            }
            println!("{}", t.to_terminal(&[]));
            println!(
                "{differ} of {} grid points of {} get another K_opt from {} ({} vs {})",
                x.points.len(),
                a.a.display(),
                a.b.display(),
                x.get("condition").unwrap_or("?"),
                y.get("condition").unwrap_or("?")
            );
            Ok(0)
        }
    }
}

/// A scenario whose LUT is missing and that names a `build_with` scenario:
/// runs that one first and builds each missing board's LUT from it.
fn build_missing_luts(a: &RunArgs, cancel: &Cancel) -> Result<()> {
    let s = scenario::load(&a.common.file)?;
    let Some(spec) = &s.lut else { return Ok(()) };
    let Some(build_with) = &spec.build_with else {
        return Ok(());
    };
    let uses = s.axes.iter().any(|ax| {
        ax.values
            .iter()
            .any(|v| matches!(v, crate::axes::AxisValue::Strategy(st) if st.uses_lut()))
    }) || s.include.iter().any(|e| {
        e.pick
            .pairs
            .iter()
            .any(|(_, v)| matches!(v, crate::axes::AxisValue::Strategy(st) if st.uses_lut()))
    });
    let missing: Vec<String> = s
        .boards
        .iter()
        .filter(|b| !spec.path(&s.file, b).exists())
        .cloned()
        .collect();
    if !uses || missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "klo-spec: no LUT yet for {}: measuring it with {} first",
        missing.join(", "),
        build_with.display()
    );
    // The LUT scenario runs on the boards that lack one as well as those
    // its file names (their finished cells are kept, so its tables still
    // cover every board measured).
    let lut_scenario = scenario::load(build_with)?;
    let mut boards = lut_scenario.boards.clone();
    boards.extend(
        missing
            .iter()
            .filter(|b| !boards.contains(b))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let p = run::prepare(
        lut_scenario.on_boards(boards),
        default_templates(&a.common.templates).as_deref(),
        a.common.boards.as_deref(),
    )?;
    print_notes(&p);
    let report = run::run(
        &p,
        &RunOptions {
            output_root: a.output_dir.clone(),
            force: false,
            progress: !a.quiet,
            only: Vec::new(),
            rerun_failed: false,
            wait: a.wait_limit(),
        },
        cancel,
    )?;
    report.outcome(cancel)?;
    for board in missing {
        let slice = crate::kstrategy::build::Slice {
            board: Some(board.clone()),
            ..Default::default()
        };
        let l = crate::kstrategy::build::from_result_set(&report.out_dir, &slice)?;
        let path = spec.path(&s.file, &board);
        atomic_write(&path, l.to_text().as_bytes())?;
        eprintln!(
            "klo-spec: wrote the LUT of {board}: {} ({} grid points)",
            path.display(),
            l.points.len()
        );
    }
    Ok(())
}

/// The inventory given with --boards, else scenarios/boards.yaml when it
/// exists, else only `local`.
fn load_inventory(explicit: &Option<PathBuf>) -> Result<crate::board::inventory::Inventory> {
    let file = explicit
        .clone()
        .or_else(|| Some(PathBuf::from("scenarios/boards.yaml")).filter(|p| p.is_file()));
    Ok(match &file {
        Some(f) => crate::board::inventory::load(f)?,
        None => crate::board::inventory::Inventory::default(),
    })
}

fn find_board<'a>(
    inventory: &'a crate::board::inventory::Inventory,
    board: &str,
) -> Result<&'a crate::board::BoardConfig> {
    inventory.get(board).ok_or_else(|| {
        let names = inventory.names();
        UsageError::new(
            format!("unknown board `{}`", crate::text::quote(board)),
            Some(match crate::error::suggest(board, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? Boards: {}", names.join(", ")),
                None => format!("boards: {}", names.join(", ")),
            }),
        )
        .into()
    })
}

fn board_command(cmd: BoardCommand) -> Result<i32> {
    let (BoardCommand::Probe(a) | BoardCommand::Reset(a)) = &cmd;
    let inventory = load_inventory(&a.boards)?;
    let config = find_board(&inventory, &a.board)?;
    let templates = Templates::load(default_templates(&None).as_deref())?;
    let board = crate::board::connect(config, &templates)?;
    match cmd {
        BoardCommand::Probe(a) => {
            if a.write && a.board == "local" {
                return Err(UsageError::new(
                    "`local` is read afresh at every run: there is nothing to keep".to_string(),
                    Some("--write is for inventory boards".into()),
                )
                .into());
            }
            // A probe reads (and tries writing) the board's frequency files:
            // not while a run's cell is measuring on it.
            let _lock = board.lock()?;
            let topo = crate::board::topology(board.as_ref(), &templates, true, None)?;
            if a.write {
                let Some(path) = crate::board::saved_topology(&inventory, &a.board) else {
                    return Err(UsageError::new(
                        "--write keeps the reading beside the board inventory, and there is none".to_string(),
                        Some("give the inventory with --boards FILE (or create scenarios/boards.yaml)".into()),
                    )
                    .into());
                };
                atomic_write(
                    &path,
                    (serde_json::to_string_pretty(&topo)? + "\n").as_bytes(),
                )?;
                eprintln!("klo-spec: wrote {}", path.display());
            }
            if a.json {
                let json = serde_json::to_string_pretty(&topo)?;
                println!("{}", crate::text::json_safe(&json));
                return Ok(0);
            }
            print_topology(&a.board, &topo);
            Ok(0)
        }
        BoardCommand::Reset(_) => {
            let _lock = board.lock()?;
            let state = format!("{}/state", board.workdir());
            let script = templates.render_reset(&state)?;
            let out = board.run_script(&script, std::time::Duration::from_secs(120));
            match out {
                Ok(text) => {
                    // What the board printed: shown, not acted on.
                    print!("{}", crate::text::printable_lines(&text));
                    Ok(0)
                }
                Err(e) => Err(e.context(format!("resetting board `{}`: some values could not be put back (they stay in {state}/saved)", config.name))),
            }
        }
    }
}

/// A board's reading as `board probe` prints it: the tables, then what
/// klo-spec cannot set there and why.
fn print_topology(board: &str, topo: &crate::board::Topology) {
    println!("{}", topo.table().to_terminal(&[]));
    if !topo.thermal.is_empty() {
        println!("{}", topo.thermal_table().to_terminal(&[]));
    }
    if !topo.devfreq.is_empty() {
        println!("{}", topo.devfreq_table().to_terminal(&[]));
    }
    let idle = topo.idle_table();
    if !idle.rows.is_empty() {
        println!("{}", idle.to_terminal(&[]));
    }
    let online = crate::board::format_cores(&topo.online);
    println!(
        "board {}: cores online {online} of {}",
        board,
        crate::board::format_cores(&topo.all_cores())
    );
    if topo.policies.is_empty() {
        println!("no cpufreq: this board cannot set CPU frequencies (use `cpu_freq: current`)");
    } else if !topo.cpufreq_writable() {
        println!(
            "cpufreq is read-only here (not root?): frequencies can be read, not set (use `cpu_freq: current`, or `root: sudo` in the inventory)"
        );
    }
    // Each control file that cannot be written, and why (the
    // scripts' uid, the file's owner and mode, SELinux).
    for d in &topo.denied {
        println!(
            "not writable: {}: {}",
            crate::text::printable(&d.path),
            crate::text::printable(&d.reason)
        );
    }
    match &topo.gpu {
        None => println!(
            "no GPU frequency control found (kgsl, Mali, devfreq): use `gpu_freq: current`"
        ),
        Some(g) if g.kind == crate::board::topology::GpuKind::Kgsl => {
            match g.kgsl_control() {
                Err(missing) => println!(
                    "kgsl GPU without devfreq/ or power-level files (missing {}): its frequency cannot be set (use `gpu_freq: current`)",
                    missing.join(", ")
                ),
                Ok(crate::board::topology::KgslControl::Pwrlevel) => println!(
                    "kgsl GPU without devfreq/: pinned through max_pwrlevel/min_pwrlevel (levels 0-{}, kHz: {})",
                    g.levels.len().saturating_sub(1),
                    g.levels
                        .iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                Ok(_) => {}
            }
            let ro = g.unwritable();
            if !ro.is_empty() {
                println!(
                    "GPU files read-only here (not root?): {} (use `gpu_freq: current`, or `root: sudo` in the inventory)",
                    ro.join(", ")
                );
            }
        }
        Some(_) => {}
    }
}

fn default_templates(explicit: &Option<PathBuf>) -> Option<PathBuf> {
    explicit.clone().or_else(|| {
        let d = Path::new("templates");
        d.join(crate::render::CELL_TEMPLATE_NAME)
            .is_file()
            .then(|| d.to_path_buf())
    })
}

/// What the run will do other than asked, on stderr before it starts.
fn print_notes(p: &Prepared) {
    for n in &p.notes {
        eprintln!("note: {n}");
    }
}

fn prepare(c: &Common) -> Result<Prepared> {
    let mut s = scenario::load(&c.file)?;
    if let Some(m) = c.max_cells {
        s.max_cells = m;
    }
    run::prepare(
        s,
        default_templates(&c.templates).as_deref(),
        c.boards.as_deref(),
    )
}

/// As `prepare`, calibrating first the boards the scenario's regimes need.
fn prepare_calibrating(c: &Common, cancel: &Cancel) -> Result<Prepared> {
    let mut s = scenario::load(&c.file)?;
    if let Some(m) = c.max_cells {
        s.max_cells = m;
    }
    run::prepare_calibrating(
        s,
        default_templates(&c.templates).as_deref(),
        c.boards.as_deref(),
        Some(cancel),
    )
}

/// `--rounds` and `--seed` over the scenario's.
fn apply_order(p: &mut Prepared, o: crate::cli::RoundArgs) {
    if let Some(r) = o.rounds {
        p.scenario.rounds = r;
    }
    if let Some(seed) = o.seed {
        p.scenario.seed = Some(seed);
    }
}

fn install_signal_handler(cancel: &Cancel) {
    // SIGINT, SIGTERM and SIGHUP: the first asks the running cell to clean
    // up and stops scheduling; the second stops without waiting. The first
    // signal is kept, so that records and messages name it. The action runs
    // in the signal handler: atomics and write(2) only, nothing that
    // allocates or locks.
    const FIRST: &[u8] = b"\nklo-spec: stopping: cleaning up the running cell (again to force)\n";
    const AGAIN: &[u8] = b"\nklo-spec: forcing the stop\n";
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let c = cancel.clone();
        // SAFETY: the action is async-signal-safe (see above).
        let _ = unsafe {
            signal_hook::low_level::register(sig, move || {
                let msg = if c.escalate_by(sig) == 1 {
                    FIRST
                } else {
                    AGAIN
                };
                libc::write(libc::STDERR_FILENO, msg.as_ptr().cast(), msg.len());
            })
        };
    }
}

/// The board inventory's JSON Schema, as committed in boards.schema.json.
pub fn boards_schema_json() -> String {
    let schema = schemars::schema_for!(crate::board::inventory::RawInventory);
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}

/// The scenario JSON Schema, as committed in schema.json.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(scenario::raw::RawScenario);
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}
