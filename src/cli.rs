//! The command line (clap derive): what each subcommand takes. Doc comments
//! are the help text.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Declarative experiment-spec runner for GPU kernel-launch-overhead (KLO)
/// experiments: one YAML scenario in, a matrix of cells run on boards,
/// result tables and a checklist out.
#[derive(Debug, Parser)]
#[command(name = "klo-spec", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: expand it, run every cell not already done (same
    /// hash), write the tables under OUTPUT_DIR/<name>/ and print the
    /// checklist.
    Run(RunArgs),
    /// Show the cells a scenario expands to, without running anything.
    Plan(PlanArgs),
    /// Rebuild a scenario's tables from the cells on disk, without running.
    Analyze(AnalyzeArgs),
    /// Print the JSON Schema of scenario files (schema.json).
    Schema(SchemaArgs),
    /// Boards: read a board's topology, or put back what cells changed.
    #[command(subcommand)]
    Board(BoardCommand),
    /// LUTs: build one from a result set of K sweeps, or compare two.
    #[command(subcommand)]
    Lut(LutCommand),
    /// Build the board-side helpers (klo-load, klo-probe) for this machine
    /// (or for a board of the inventory) and print their paths, or write
    /// their C sources to a folder.
    Helpers(HelpersArgs),
    /// Compare two result sets: two folders, or one folder at git
    /// revisions. Checklist verdicts that flipped come first, then per cell
    /// and metric: old, new, ratio and a mark (better, worse, unchanged,
    /// new, gone, not comparable). Exit code 1 when anything got worse.
    Diff(DiffArgs),
    /// Print a table of a result set: aligned, verdicts coloured on a
    /// terminal, plain when piped.
    Show(ShowArgs),
    /// Write the tables of a result set as CSV, Markdown and JSON, and the
    /// kernels and inferences frames as Parquet.
    Export(ExportArgs),
    /// Write report.html (self-contained: tables, checklist, SVG plots,
    /// provenance) and report.md with its plots/ for a result set.
    Report(ReportArgs),
    /// List the boards of the inventory (and `local`): transport, address,
    /// root method, work folder, and whether each answers (one round trip
    /// each, in parallel): its CPU, user and missing tools.
    Boards(BoardsArgs),
    /// Measure a board for the reference workload: the time of one host
    /// work unit, one device work unit and a flush, kept in the cache with
    /// the board's identity; probe scenarios with a `regime` size their
    /// networks from it.
    Calibrate(CalibrateArgs),
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The board's name (`local`, or one from the inventory).
    pub board: String,
    /// The board inventory (default: scenarios/boards.yaml when it exists).
    #[arg(long, env = "KLO_SPEC_BOARDS", value_name = "FILE")]
    pub boards: Option<PathBuf>,
    /// Take the probe settings (device, submit, global_size, platform) from
    /// this scenario instead of the flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["device", "submit"])]
    pub scenario: Option<PathBuf>,
    /// The probe's device.
    #[arg(long, value_enum, default_value_t = ProbeDevice::Auto)]
    pub device: ProbeDevice,
    /// The probe's submission mode.
    #[arg(long, value_enum, default_value_t = ProbeSubmit::Deferred)]
    pub submit: ProbeSubmit,
    /// Measure again even when a calibration of this board is kept.
    #[arg(long)]
    pub force: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Folder with templates overriding the built-in ones.
    #[arg(long, env = "KLO_SPEC_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeDevice {
    Auto,
    Opencl,
    Thread,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeSubmit {
    Native,
    Deferred,
}

#[derive(Debug, Args)]
pub struct BoardsArgs {
    /// The board inventory (default: scenarios/boards.yaml when it exists).
    #[arg(long, env = "KLO_SPEC_BOARDS", value_name = "FILE")]
    pub boards: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for each board.
    #[arg(long, default_value_t = 20, value_name = "S")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct Common {
    /// The scenario file.
    pub file: PathBuf,
    /// Folder with templates overriding the built-in ones (cell.sh.j2).
    /// Default: ./templates when it holds cell.sh.j2.
    #[arg(long, env = "KLO_SPEC_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// The board inventory. Default: boards.yaml beside the scenario file
    /// (scenarios/boards.yaml), when there is one.
    #[arg(long, env = "KLO_SPEC_BOARDS", value_name = "FILE")]
    pub boards: Option<PathBuf>,
    /// Override the scenario's `max_cells`.
    #[arg(long, value_name = "N")]
    pub max_cells: Option<usize>,
}

/// `--rounds` and `--seed`, for `run` and `plan`.
#[derive(Debug, Clone, Copy, Args)]
pub struct RoundArgs {
    /// Override the scenario's `rounds`: every cell runs once per round.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rounds: Option<u32>,
    /// Override the scenario's `seed` of the random order within rounds
    /// (meta.json records the seed of every run; give it to replay an order).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub order: RoundArgs,
    /// Where result sets go: OUTPUT_DIR/<scenario name>/.
    #[arg(
        long,
        env = "KLO_SPEC_OUTPUTS",
        default_value = "outputs",
        value_name = "DIR"
    )]
    pub output_dir: PathBuf,
    /// Rerun every cell, even those already done with the same hash.
    #[arg(long, conflicts_with = "rerun_failed")]
    pub force: bool,
    /// Run only the cells whose id matches PATTERN (a glob: `*` any text,
    /// `?` one character, `[ab]` one of a set), e.g. '*/heavy/*'. Repeat
    /// it or separate patterns with commas; a pattern that matches no cell
    /// is an error. Tables still cover every cell on disk.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',', action = ArgAction::Append)]
    pub only: Vec<String>,
    /// Run only the cells whose last result (same hash) is not `ok`
    /// (failed, timeout, interrupted, ...); missing cells are left alone.
    #[arg(long)]
    pub rerun_failed: bool,
    /// When another run holds a board or the output folder, wait for it
    /// (saying whom for) instead of refusing.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 2) [default:
    /// wait as long as it takes]
    #[arg(long, value_name = "S", requires = "wait")]
    pub wait_timeout: Option<u64>,
    /// Accept a failing pre-flight check for this run: it is recorded in
    /// meta.json as `allowed` instead of stopping the run. Repeat it or
    /// separate names with commas.
    #[arg(long, value_name = "CHECK", value_delimiter = ',', action = ArgAction::Append,
          value_parser = clap::builder::PossibleValuesParser::new(crate::preflight::CHECKS))]
    pub allow: Vec<String>,
    /// No progress output on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

impl RunArgs {
    /// How long `--wait` waits, if at all.
    pub fn wait_limit(&self) -> Option<std::time::Duration> {
        self.wait.then(|| {
            self.wait_timeout
                .map(std::time::Duration::from_secs)
                .unwrap_or(std::time::Duration::MAX)
        })
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub order: RoundArgs,
    /// Show only the cells whose id matches PATTERN (as `run --only`).
    #[arg(long, value_name = "PATTERN", value_delimiter = ',', action = ArgAction::Append)]
    pub only: Vec<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Where earlier results are (OUTPUT_DIR/<scenario name>/): their run
    /// times estimate this plan's, and their noise what it can detect.
    #[arg(
        long,
        env = "KLO_SPEC_OUTPUTS",
        default_value = "outputs",
        value_name = "DIR"
    )]
    pub output_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where result sets are: OUTPUT_DIR/<scenario name>/.
    #[arg(
        long,
        env = "KLO_SPEC_OUTPUTS",
        default_value = "outputs",
        value_name = "DIR"
    )]
    pub output_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum BoardCommand {
    /// Read a board's CPUs online, clusters (little/big/prime, policyN),
    /// available frequencies and governors, GPU (kgsl, Mali, devfreq),
    /// core_ctl, and whether klo-spec may write them; refreshes the cache
    /// that `run` and `plan` use.
    Probe(BoardArgs),
    /// Put back every value klo-spec cells changed on a board and did not
    /// restore (after a killed runner or a lost board), and kill load
    /// processes they left.
    Reset(BoardArgs),
}

#[derive(Debug, Subcommand)]
pub enum LutCommand {
    /// Build a LUT from the K sweeps of a result set (e.g. outputs/lut from
    /// scenarios/lut.yaml): per grid point, the mean T_prod and T_ker and
    /// the K with the lowest mean latency.
    Build(LutBuildArgs),
    /// Show where two LUTs give a different K_opt (e.g. one per frequency).
    Compare(LutCompareArgs),
}

#[derive(Debug, Args)]
pub struct LutBuildArgs {
    /// The result set: outputs/<scenario>.
    pub dir: PathBuf,
    /// The LUT file to write.
    #[arg(long, short)]
    pub output: PathBuf,
    /// The board, when the result set has several.
    #[arg(long)]
    pub board: Option<String>,
    /// The load, when the result set has several (as in summary.csv).
    #[arg(long)]
    pub load: Option<String>,
    /// The CPU frequency setting, when the result set has several (as in
    /// summary.csv: `min`, `current`, ...).
    #[arg(long)]
    pub cpu_freq: Option<String>,
    /// The GPU frequency setting, when the result set has several.
    #[arg(long)]
    pub gpu_freq: Option<String>,
}

#[derive(Debug, Args)]
pub struct LutCompareArgs {
    pub a: PathBuf,
    pub b: PathBuf,
}

#[derive(Debug, Args)]
pub struct BoardArgs {
    /// The board's name (`local`, or one from the inventory).
    pub board: String,
    /// The board inventory (default: scenarios/boards.yaml when it exists).
    #[arg(long, env = "KLO_SPEC_BOARDS", value_name = "FILE")]
    pub boards: Option<PathBuf>,
    /// Print JSON instead of a table (probe).
    #[arg(long)]
    pub json: bool,
    /// Also keep the reading beside the inventory, in topology/BOARD.json,
    /// where `plan` and `run` use it without reaching the board (probe).
    #[arg(long)]
    pub write: bool,
}

#[derive(Debug, Args)]
pub struct HelpersArgs {
    /// Write the C sources here instead of building (to build them with
    /// another compiler, on another machine).
    #[arg(long, value_name = "DIR", conflicts_with = "board")]
    pub sources: Option<PathBuf>,
    /// Build for this board of the inventory with its compiler (`cc`, a
    /// cross compiler, or `ndk`) instead of for this machine; prints the
    /// paths of the builds on this machine.
    #[arg(long, value_name = "BOARD")]
    pub board: Option<String>,
    /// The board inventory (default: scenarios/boards.yaml when it exists).
    #[arg(long, env = "KLO_SPEC_BOARDS", value_name = "FILE")]
    pub boards: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The schema of the board inventory (boards.schema.json) instead.
    #[arg(long)]
    pub boards: bool,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// A metric `diff` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffMetric {
    /// Mean latency per inference (lower is better).
    Latency,
    /// Mean T_prod, host time per kernel (lower is better).
    #[value(name = "t_prod")]
    TProd,
    /// Mean T_ker, device time per kernel (lower is better).
    #[value(name = "t_ker")]
    TKer,
    /// Mean T_idle, device idle gap per kernel (lower is better).
    #[value(name = "t_idle")]
    TIdle,
    /// Speedup over the condition's default cell (higher is better).
    Speedup,
}

/// How `diff` orders its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffSort {
    /// By cell id, then metric.
    Id,
    /// Largest relative change first.
    Ratio,
    /// Worse first, then better, not comparable, gone, new, unchanged.
    Mark,
}

/// How `diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Aligned text, marks coloured on a terminal.
    Table,
    /// Markdown (for a pull request or an issue).
    Md,
    /// JSON (for scripts).
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old result set (e.g. outputs/quickstart); with --rev, the folder
    /// read at the revision(s).
    pub old: PathBuf,
    /// The new result set. Not with --rev.
    pub new: Option<PathBuf>,
    /// Read OLD at this git revision and compare it with the working tree;
    /// given twice (--rev A --rev B), compare OLD at A with OLD at B. Read
    /// through git, nothing is checked out.
    #[arg(long, value_name = "REV", action = ArgAction::Append)]
    pub rev: Vec<String>,
    /// Metrics to compare, comma-separated [default: all]
    #[arg(long, short, value_enum, value_delimiter = ',')]
    pub metric: Vec<DiffMetric>,
    /// Smallest relative change, in percent, that can be better or worse.
    #[arg(long, default_value_t = 5.0, value_name = "PCT")]
    pub threshold: f64,
    /// Significance level of the noise tests (family-wise, Holm-adjusted
    /// over the whole diff).
    #[arg(long, default_value_t = 0.01, value_name = "P")]
    pub alpha: f64,
    /// Leave out rows marked unchanged.
    #[arg(long)]
    pub only_changed: bool,
    /// Row order.
    #[arg(long, value_enum, default_value_t = DiffSort::Id)]
    pub sort: DiffSort,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
}

/// A table of a result set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableName {
    /// One row per cell (summary.csv).
    Summary,
    /// One row per check comparison (checklist.csv).
    Checklist,
    /// One row per K sweep and condition (sweeps.csv).
    Sweeps,
    /// K_opt against K_answer per condition (kstrategy.csv, where the run
    /// wrote one).
    Kstrategy,
    /// One row per kernel of every measured cell, from the raw cells.
    Kernels,
    /// One row per inference of every measured cell, from the raw cells.
    Inferences,
}

/// How `show` prints a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// Aligned text, verdicts and statuses coloured on a terminal.
    Table,
    Csv,
    Md,
    Json,
}

/// A file format of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Csv,
    Md,
    Json,
    /// Only for the kernels and inferences frames.
    Parquet,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The result set (e.g. outputs/quickstart).
    pub dir: PathBuf,
    /// Which table.
    #[arg(value_enum, default_value_t = TableName::Summary)]
    pub table: TableName,
    /// Read the table at this git revision instead of the working tree.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Columns to print, comma-separated [default for the table format: a
    /// readable selection of the summary and checklist; otherwise all]
    #[arg(long, short, value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// Print every column.
    #[arg(long, conflicts_with = "columns")]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ShowFormat::Table)]
    pub format: ShowFormat,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The result set (e.g. outputs/quickstart).
    pub dir: PathBuf,
    /// Read the tables at this git revision (the frames need the raw cells,
    /// which git does not hold).
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Tables to export, comma-separated [default: all there are]
    #[arg(long, short, value_enum, value_delimiter = ',')]
    pub table: Vec<TableName>,
    /// Formats, comma-separated [default: csv, md and json for the tables,
    /// parquet for the frames]
    #[arg(long, short, value_enum, value_delimiter = ',')]
    pub format: Vec<TableFormat>,
    /// Where the files go [default: DIR/export]
    #[arg(long, short, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The result set (e.g. outputs/quickstart).
    pub dir: PathBuf,
    /// Folder with templates overriding the built-in report.html.j2 and
    /// report.md.j2. Default: ./templates when it holds them.
    #[arg(long, env = "KLO_SPEC_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// The cell whose kernel sequence is plotted [default: the first `ok`
    /// default cell with its raw log]
    #[arg(long, value_name = "ID")]
    pub cell: Option<String>,
    /// Where report.html, report.md and plots/ go [default: DIR]
    #[arg(long, short, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
