//! The layout of a result set on disk, in one place: where a scenario's
//! results go (`OUTPUT_DIR/<scenario>/`), the names of its tables and
//! files, and the folders of its cells, their rounds and attempts. Every
//! reader and writer of a result set takes its paths from here; nothing
//! else joins these names. A leaf: it uses nothing of the crate.
//!
//! ```text
//! outputs/<scenario>/
//!   summary.csv rounds.csv checklist.csv checklist.md sweeps.csv
//!   kstrategy.csv samples.csv     the tables (committed)
//!   meta.json scenario.yaml       the run's record and the scenario's text
//!   .lock                         held by the run writing the set
//!   .staging/<token>/             a run in progress (moved into cells/)
//!   .trash/                       results being replaced
//!   cells/<id segments>/r<N>/     round N of a cell (git-ignored):
//!     cell.json bench.log samples.csv
//!     attempts/<n>/               earlier attempts of the round
//! ```

use std::path::{Path, PathBuf};

/// One row per cell.
pub const SUMMARY_CSV: &str = "summary.csv";
/// One row per cell and round.
pub const ROUNDS_CSV: &str = "rounds.csv";
/// One row per check comparison, and its Markdown page.
pub const CHECKLIST_CSV: &str = "checklist.csv";
pub const CHECKLIST_MD: &str = "checklist.md";
/// One row per K sweep and condition.
pub const SWEEPS_CSV: &str = "sweeps.csv";
/// K_opt against K_answer per condition.
pub const KSTRATEGY_CSV: &str = "kstrategy.csv";
/// The sampler's readings: the result set's table, and each run's file.
pub const SAMPLES_CSV: &str = "samples.csv";
/// What the run did and on what (`record::RunMeta`).
pub const META_JSON: &str = "meta.json";
/// The scenario's text as the run read it.
pub const SCENARIO_YAML: &str = "scenario.yaml";

/// In a run's folder: its record (`record::CellRecord`),
pub const CELL_JSON: &str = "cell.json";
/// the benchmark's log,
pub const BENCH_LOG: &str = "bench.log";
/// and the folder of the round's earlier attempts.
pub const ATTEMPTS: &str = "attempts";

/// The folder of one result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultDir {
    root: PathBuf,
}

impl ResultDir {
    /// The result set in `root`.
    pub fn new(root: impl Into<PathBuf>) -> ResultDir {
        ResultDir { root: root.into() }
    }

    /// The result set of scenario `name` under `output_root`
    /// (`outputs/<name>`).
    pub fn of_scenario(output_root: &Path, name: &str) -> ResultDir {
        ResultDir::new(output_root.join(name))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A file at the top of the set: a table, meta.json, scenario.yaml.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn meta_json(&self) -> PathBuf {
        self.file(META_JSON)
    }

    /// The lock file of the run writing the set.
    pub fn lock(&self) -> PathBuf {
        self.root.join(".lock")
    }

    /// Runs in progress, each in a folder of its own.
    pub fn staging(&self) -> PathBuf {
        self.root.join(".staging")
    }

    /// Results on their way out, replaced by newer ones.
    pub fn trash(&self) -> PathBuf {
        self.root.join(".trash")
    }

    /// The raw cells.
    pub fn cells(&self) -> PathBuf {
        self.root.join("cells")
    }

    /// The folder of a cell: one folder per segment of its id. A round's
    /// id (`<id>/r<N>`) gives the round's folder.
    pub fn cell(&self, id: &str) -> PathBuf {
        id.split('/').fold(self.cells(), |p, seg| p.join(seg))
    }

    /// The folder of round `round` of cell `id`.
    pub fn run(&self, id: &str, round: u32) -> PathBuf {
        self.cell(id).join(round_segment(round))
    }

    /// The rounds of cell `id` on disk, sorted.
    pub fn rounds(&self, id: &str) -> Vec<u32> {
        round_folders(&self.cell(id))
    }
}

/// The folder segment of round `round` inside a cell's folder (and the
/// last segment of a round's id).
pub fn round_segment(round: u32) -> String {
    format!("r{round}")
}

/// The rounds of a cell folder (`r<N>` subfolders), sorted.
pub fn round_folders(cell_dir: &Path) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(cell_dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name();
                    let name = name.to_str()?;
                    let n: u32 = name.strip_prefix('r')?.parse().ok()?;
                    (n >= 1 && name == round_segment(n)).then_some(n)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// The record of the run in `run_dir`.
pub fn cell_json(run_dir: &Path) -> PathBuf {
    run_dir.join(CELL_JSON)
}

/// The benchmark's log of the run in `run_dir`.
pub fn bench_log(run_dir: &Path) -> PathBuf {
    run_dir.join(BENCH_LOG)
}

/// The sampler's readings of the run in `run_dir`.
pub fn samples_csv(run_dir: &Path) -> PathBuf {
    run_dir.join(SAMPLES_CSV)
}

/// The earlier attempts of the run in `run_dir`.
pub fn attempts(run_dir: &Path) -> PathBuf {
    run_dir.join(ATTEMPTS)
}

/// Attempt `name`'s folder, relative to its run's folder (as records
/// name it).
pub fn attempt_folder(name: &str) -> String {
    format!("{ATTEMPTS}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_id_is_a_folder_per_segment_and_rounds_are_r_n() {
        let d = ResultDir::of_scenario(Path::new("outputs"), "q");
        assert_eq!(d.root(), Path::new("outputs/q"));
        assert_eq!(d.cell("b/l/x"), Path::new("outputs/q/cells/b/l/x"));
        assert_eq!(d.run("b/l/x", 2), Path::new("outputs/q/cells/b/l/x/r2"));
        assert_eq!(d.cell("b/l/x/r2"), d.run("b/l/x", 2));
        assert_eq!(d.meta_json(), Path::new("outputs/q/meta.json"));
        assert_eq!(attempt_folder("3"), "attempts/3");
    }

    #[test]
    fn round_folders_are_r_n_from_one_only() {
        let t = tempfile::tempdir().unwrap();
        for n in ["r2", "r1", "r0", "r01", "x", "r10"] {
            std::fs::create_dir(t.path().join(n)).unwrap();
        }
        assert_eq!(round_folders(t.path()), [1, 2, 10]);
        assert!(round_folders(&t.path().join("none")).is_empty());
    }
}
