//! `meta.json`: what a run did and on what, written at the end of every
//! run beside the tables, read back by `lut build` (provenance), `report`
//! (the page's provenance), `diff` and the next run (the environments).
//! The JSON is the fields in this order; a field a reader finds missing
//! or of another shape (a result set written by an older klo-spec) reads
//! as its default, so every reader takes what is there.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};

use super::Status;
use crate::board::HelperPaths;
use crate::preflight::{Check, EnvChange};

/// The whole of meta.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunMeta {
    #[serde(deserialize_with = "lenient")]
    pub scenario: ScenarioInfo,
    #[serde(deserialize_with = "lenient")]
    pub klo_spec: KloSpecInfo,
    /// The machine klo-spec ran on.
    #[serde(deserialize_with = "lenient")]
    pub host: HostInfo,
    #[serde(deserialize_with = "lenient")]
    pub boards: BTreeMap<String, BoardInfo>,
    /// The board-side helpers' source hash.
    #[serde(deserialize_with = "lenient")]
    pub helpers_source_sha256: Option<String>,
    /// What each (board, network) regime resolved to.
    #[serde(deserialize_with = "lenient")]
    pub regimes: Vec<RegimeInfo>,
    /// What the run did other than asked.
    #[serde(deserialize_with = "lenient")]
    pub notes: Vec<String>,
    /// Per board: its pre-flight checks and what accepted them.
    #[serde(deserialize_with = "lenient")]
    pub preflight: BTreeMap<String, PreflightInfo>,
    /// Per board: flat `key: value` pairs (see `preflight`).
    #[serde(deserialize_with = "lenient")]
    pub environment: BTreeMap<String, BTreeMap<String, String>>,
    /// The templates overriding the built-in ones.
    #[serde(deserialize_with = "lenient")]
    pub templates: Option<Vec<String>>,
    #[serde(deserialize_with = "lenient")]
    pub run: RunInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScenarioInfo {
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub file: Option<String>,
    /// The hash of the scenario's text.
    #[serde(deserialize_with = "lenient")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KloSpecInfo {
    #[serde(deserialize_with = "lenient")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostInfo {
    #[serde(deserialize_with = "lenient")]
    pub hostname: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub os: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub arch: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub kernel: Option<String>,
}

impl HostInfo {
    /// Its fields in order, as (name, value).
    pub fn fields(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("hostname", self.hostname.as_deref()),
            ("os", self.os.as_deref()),
            ("arch", self.arch.as_deref()),
            ("kernel", self.kernel.as_deref()),
        ]
    }
}

/// One board of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BoardInfo {
    #[serde(deserialize_with = "lenient")]
    pub identity: Option<String>,
    /// The cores its loads could use (`0-3,6`).
    #[serde(deserialize_with = "lenient")]
    pub cores: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub helpers: Option<HelperPaths>,
    #[serde(deserialize_with = "lenient")]
    pub transport: Option<String>,
    /// Why the board was lost during the run, if it was.
    #[serde(deserialize_with = "lenient")]
    pub lost: Option<String>,
}

/// What a regime resolved to for one board and network
/// (`record::RegimeScale`, with its place).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegimeInfo {
    #[serde(deserialize_with = "lenient")]
    pub board: String,
    #[serde(deserialize_with = "lenient")]
    pub network: String,
    #[serde(deserialize_with = "lenient")]
    pub regime: String,
    #[serde(deserialize_with = "lenient")]
    pub ratio: f64,
    #[serde(deserialize_with = "lenient")]
    pub ker_scale: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub calibration: Option<String>,
}

/// One board's pre-flight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PreflightInfo {
    #[serde(deserialize_with = "lenient")]
    pub checks: Vec<Check>,
    #[serde(deserialize_with = "lenient")]
    pub allowed_by: AllowedBy,
}

/// The scenario's pre-flight settings the checks were judged by.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllowedBy {
    /// Checks the scenario (or `--allow`) accepts.
    #[serde(deserialize_with = "lenient")]
    pub scenario: Vec<String>,
    #[serde(deserialize_with = "lenient")]
    pub battery_min_pct: u32,
    #[serde(deserialize_with = "lenient")]
    pub free_mib: u64,
}

/// The run itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    #[serde(deserialize_with = "lenient")]
    pub started_at: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub finished_at: Option<String>,
    /// Seconds, to a tenth.
    #[serde(deserialize_with = "lenient")]
    pub wall_s: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub cells_total: usize,
    #[serde(deserialize_with = "lenient")]
    pub order: OrderInfo,
    /// Runs planned (cells x rounds), selected (`--only`,
    /// `--rerun-failed`), run, and skipped (done before).
    #[serde(deserialize_with = "lenient")]
    pub runs_total: usize,
    #[serde(deserialize_with = "lenient")]
    pub runs_selected: usize,
    #[serde(deserialize_with = "lenient")]
    pub runs_run: usize,
    #[serde(deserialize_with = "lenient")]
    pub runs_skipped: usize,
    #[serde(deserialize_with = "lenient")]
    pub resume: ResumeInfo,
    #[serde(deserialize_with = "lenient")]
    pub only: Vec<String>,
    #[serde(deserialize_with = "lenient")]
    pub rerun_failed: bool,
    #[serde(deserialize_with = "lenient")]
    pub force: bool,
    /// `keep_going` or `bail`.
    #[serde(deserialize_with = "lenient")]
    pub on_failure: String,
    #[serde(deserialize_with = "lenient")]
    pub bailed_after: Option<Bailed>,
    #[serde(deserialize_with = "lenient")]
    pub interrupted: bool,
    /// How the boards' environments differ from the earlier runs' in the
    /// same result set.
    #[serde(deserialize_with = "lenient")]
    pub environment_changed: Vec<EnvChange>,
    /// Runs (cell and round) per status.
    #[serde(deserialize_with = "lenient")]
    pub by_status: Option<BTreeMap<String, usize>>,
}

/// The order the runs were taken in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderInfo {
    #[serde(deserialize_with = "lenient")]
    pub rounds: u32,
    /// The seed of the random order (`None` for `order: plan`).
    #[serde(deserialize_with = "lenient")]
    pub seed: Option<u64>,
    /// `random` or `plan`.
    #[serde(deserialize_with = "lenient")]
    pub order: String,
    #[serde(deserialize_with = "lenient")]
    pub how: String,
    /// Boards that ran one after the other, per lane.
    #[serde(deserialize_with = "lenient")]
    pub lanes: Vec<Vec<String>>,
}

/// What resume found in the result set before the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResumeInfo {
    #[serde(deserialize_with = "lenient")]
    pub done: usize,
    #[serde(deserialize_with = "lenient")]
    pub missing: usize,
    #[serde(deserialize_with = "lenient")]
    pub changed: usize,
    /// Runs that had failed, per status.
    #[serde(deserialize_with = "lenient")]
    pub failed_before: BTreeMap<String, usize>,
    /// Runs a killed runner left, recorded as interrupted.
    #[serde(deserialize_with = "lenient")]
    pub cut_off: Vec<String>,
    #[serde(deserialize_with = "lenient")]
    pub profiles_added: usize,
}

/// The cell after which `on_failure: bail` stopped the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bailed {
    pub id: String,
    pub status: Status,
}

impl RunMeta {
    /// Reads meta.json's bytes: an error only when they are not JSON.
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<RunMeta> {
        let v: serde_json::Value = serde_json::from_slice(bytes)?;
        Ok(serde_json::from_value(v).unwrap_or_default())
    }

    /// Reads a meta.json file; `None` when it cannot be read or is not
    /// JSON.
    pub fn read(path: &std::path::Path) -> Option<RunMeta> {
        RunMeta::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// The file's text: pretty JSON and a newline.
    pub fn to_text(&self) -> serde_json::Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

/// Reads a field as `T`, or `T`'s default when it has another shape.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every committed meta.json reads back and writes out to the same
    /// bytes: the fields, their order and their numbers are the file's.
    #[test]
    fn committed_meta_files_round_trip_byte_for_byte() {
        let outputs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("outputs");
        let mut seen = 0;
        for e in std::fs::read_dir(outputs).unwrap().flatten() {
            let path = e.path().join(crate::layout::META_JSON);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let meta = RunMeta::from_slice(text.as_bytes()).unwrap();
            assert_eq!(meta.to_text().unwrap(), text, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 5, "{seen} meta.json files");
    }

    #[test]
    fn missing_and_odd_fields_read_as_their_defaults() {
        let m = RunMeta::from_slice(
            br#"{"templates": "built-in", "scenario": {"sha256": "ab"}, "run": {"wall_s": "x", "by_status": {"ok": 3}}}"#,
        )
        .unwrap();
        assert_eq!(m.templates, None);
        assert_eq!(m.scenario.sha256.as_deref(), Some("ab"));
        assert_eq!(m.run.wall_s, None);
        assert_eq!(m.run.by_status.unwrap()["ok"], 3);
        assert!(m.environment.is_empty());
        assert_eq!(RunMeta::from_slice(b"[1]").unwrap(), RunMeta::default());
        assert!(RunMeta::from_slice(b"{").is_err());
    }
}
