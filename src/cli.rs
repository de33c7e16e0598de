//! The command line (clap derive): what each subcommand takes. Doc comments
//! are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Build the board-side helpers (klo-load, klo-probe) for this machine
    /// (or for a board of the inventory) and print their paths, or write
    /// their C sources to a folder.
    Helpers(HelpersArgs),
    /// List the boards of the inventory (and `local`): transport, address,
    /// root method, work folder, and whether each answers (one round trip
    /// each, in parallel): its CPU, user and missing tools.
    Boards(BoardsArgs),
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

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where result sets go: OUTPUT_DIR/<scenario name>/.
    #[arg(
        long,
        env = "KLO_SPEC_OUTPUTS",
        default_value = "outputs",
        value_name = "DIR"
    )]
    pub output_dir: PathBuf,
    /// Rerun every cell, even those already done with the same hash.
    #[arg(long)]
    pub force: bool,
    /// No progress output on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
