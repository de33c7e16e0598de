//! `klo-spec lut build`: a LUT from a result set of K sweeps over synthetic
//! grid points (scenarios/lut.yaml). Per grid point (network) it takes the
//! mean T_prod and T_ker of its `ok` sweep cells and the K with the lowest
//! mean latency. It reads only the committed tables (summary.csv,
//! meta.json), so a LUT can be rebuilt from any revision of them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::lut::Lut;
use crate::error::UsageError;
use crate::layout::{self, ResultDir};
use crate::record::RunMeta;

/// Which slice of a result set a LUT is built from; None means "the only
/// one there is".
#[derive(Debug, Clone, Default)]
pub struct Slice {
    pub board: Option<String>,
    pub load: Option<String>,
    pub cpu_freq: Option<String>,
    pub gpu_freq: Option<String>,
}

fn only<'a>(
    what: &str,
    flag: &str,
    values: &'a [String],
    want: &'a Option<String>,
) -> Result<&'a str> {
    match want {
        Some(w) if values.contains(w) => Ok(w),
        Some(w) => bail!(UsageError::new(
            format!("no {what} `{w}` in the result set"),
            Some(format!("there: {}", values.join(", ")))
        )),
        None if values.len() == 1 => Ok(&values[0]),
        None => bail!(UsageError::new(
            format!(
                "the result set has several {what}s ({}): a LUT is for one",
                values.join(", ")
            ),
            Some(format!("pick one with {flag}"))
        )),
    }
}

/// Builds the LUT of one slice of the result set in `dir`.
pub fn from_result_set(dir: &Path, slice: &Slice) -> Result<Lut> {
    let set = ResultDir::new(dir);
    let summary = set.file(layout::SUMMARY_CSV);
    let bytes =
        std::fs::read(&summary).with_context(|| format!("cannot read {}", summary.display()))?;
    let table =
        crate::output::read::parse_csv(&bytes).with_context(|| format!("{}", summary.display()))?;
    let header: Vec<&str> = table.columns.iter().map(String::as_str).collect();
    let col = |name: &str| {
        table
            .column(name)
            .with_context(|| format!("{}: no column `{name}`", summary.display()))
    };
    let (c_board, c_load, c_cpu, c_gpu, c_net, c_strategy, c_k, c_status) = (
        col("board")?,
        col("load")?,
        col("cpu_freq")?,
        col("gpu_freq")?,
        col("network")?,
        col("strategy")?,
        col("k")?,
        col("status")?,
    );
    let (c_lat, c_prod, c_ker) = (
        col("latency_mean_us")?,
        col("t_prod_mean_us")?,
        col("t_ker_mean_us")?,
    );
    let rows: Vec<Vec<&str>> = table
        .rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    let sweeps: Vec<&Vec<&str>> = rows
        .iter()
        .filter(|r| r[c_strategy].starts_with("sweep-k") && r[c_status] == "ok")
        .collect();
    if sweeps.is_empty() {
        bail!(UsageError::new(
            format!("{} has no ok sweep cells", summary.display()),
            Some(
                "run a LUT scenario first (scenarios/lut.yaml: K sweeps over synthetic networks)"
                    .into()
            )
        ));
    }
    let values = |c: usize| {
        let mut v: Vec<String> = sweeps.iter().map(|r| r[c].to_string()).collect();
        v.sort();
        v.dedup();
        v
    };
    let board = only("board", "--board", &values(c_board), &slice.board)?.to_string();
    let load = only("load", "--load", &values(c_load), &slice.load)?.to_string();
    let cpu = only("cpu_freq", "--cpu-freq", &values(c_cpu), &slice.cpu_freq)?.to_string();
    let gpu = only("gpu_freq", "--gpu-freq", &values(c_gpu), &slice.gpu_freq)?.to_string();
    let mut groups: BTreeMap<String, Vec<(u32, f64, f64, f64)>> = BTreeMap::new();
    for r in sweeps
        .iter()
        .filter(|r| r[c_board] == board && r[c_load] == load && r[c_cpu] == cpu && r[c_gpu] == gpu)
    {
        let num = |c: usize| r[c].parse::<f64>().ok();
        if let (Ok(k), Some(lat), Some(p), Some(kk)) =
            (r[c_k].parse::<u32>(), num(c_lat), num(c_prod), num(c_ker))
        {
            groups
                .entry(r[c_net].to_string())
                .or_default()
                .push((k, p, kk, lat));
        }
    }
    let condition = format!("load-{load}/cpu-{cpu}/gpu-{gpu}");
    let mut provenance = run_provenance(dir, &board, condition, groups.len());
    // What K means depends on how the probe submitted and what a flush
    // cost: a LUT is for scenarios that do the same.
    if let Some(probe) = probe_settings(dir) {
        provenance.push(("probe".to_string(), probe));
    }
    if let Some(device) = device_name(
        dir,
        &sweeps,
        c_board,
        &board,
        header.iter().position(|h| *h == "id"),
    ) {
        provenance.push(("device".to_string(), device));
    }
    provenance.extend([(
        "built_by".to_string(),
        format!("klo-spec {}", env!("CARGO_PKG_VERSION")),
    )]);
    Ok(super::lut::from_sweeps(&groups, provenance))
}

/// Where a LUT comes from, as its result set's meta.json says: the board
/// and its identity, the helpers, the condition, the scenario's hash
/// (`unknown` for what meta.json lacks).
fn run_provenance(
    dir: &Path,
    board: &str,
    condition: String,
    grid_points: usize,
) -> Vec<(String, String)> {
    let meta = RunMeta::read(&ResultDir::new(dir).meta_json()).unwrap_or_default();
    let s = |v: Option<&String>| v.map_or("unknown", String::as_str).to_string();
    vec![
        ("board".to_string(), board.to_string()),
        (
            "board_identity".to_string(),
            s(meta.boards.get(board).and_then(|b| b.identity.as_ref())),
        ),
        (
            "helpers".to_string(),
            s(meta.helpers_source_sha256.as_ref()),
        ),
        ("condition".to_string(), condition),
        (
            "source".to_string(),
            format!(
                "{} (scenario sha256 {})",
                dir.display(),
                s(meta.scenario.sha256.as_ref())
            ),
        ),
        ("grid_points".to_string(), grid_points.to_string()),
    ]
}

/// `submit=deferred flush_units=12000`: the settings that define K, from
/// the result set's copy of its scenario (a probe benchmark only).
fn probe_settings(dir: &Path) -> Option<String> {
    let text = crate::untrusted::read_input_text(
        &ResultDir::new(dir).file(layout::SCENARIO_YAML),
        crate::untrusted::YAML_MAX,
    )
    .ok()?;
    let doc = crate::yaml::parse_value(&text).ok()?;
    let bench = doc.get("benchmark");
    if bench.is_some_and(|b| b.get("probe").is_none()) {
        return None;
    }
    let probe = bench
        .and_then(|b| b.get("probe"))
        .cloned()
        .filter(|v| !v.is_null())
        .unwrap_or(serde_yaml::Value::Mapping(Default::default()));
    let spec: crate::scenario::raw::ProbeSpec = serde_yaml::from_value(probe).ok()?;
    Some(probe_key(&spec))
}

/// The probe settings a LUT and a scenario must share.
pub fn probe_key(p: &crate::scenario::raw::ProbeSpec) -> String {
    format!(
        "submit={} flush_units={}",
        serde_json::to_value(p.submit)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        p.flush_units
    )
}

/// The device the sweeps ran on, as the probe reported it (an OpenCL
/// device's name, or `thread`), from the first sweep cell's first round.
fn device_name(
    dir: &Path,
    sweeps: &[&Vec<&str>],
    c_board: usize,
    board: &str,
    c_id: Option<usize>,
) -> Option<String> {
    let c_id = c_id?;
    let row = sweeps.iter().find(|r| r[c_board] == board)?;
    // Its first round's record.
    let set = ResultDir::new(dir);
    let round = *set.rounds(row[c_id]).first()?;
    let rec = crate::record::CellRecord::read(&layout::cell_json(&set.run(row[c_id], round)))?;
    device_of(&rec)
}

/// The device a cell ran on: the OpenCL device's name, or `thread`.
pub fn device_of(rec: &crate::record::CellRecord) -> Option<String> {
    rec.device_info
        .get("opencl_device")
        .cloned()
        .or_else(|| rec.device.clone())
}
