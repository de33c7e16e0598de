//! What the report templates see: plain data built from a result set (its
//! tables, meta.json, scenario copy, raw cells when present) and its plots.
//! Every list is ordered and no clock is read, so the same inputs render
//! the same page.

use anyhow::Result;

use serde::Serialize;
use serde_json::Value;

use crate::output::Table;
use crate::plot::{Missing, Plot};
use crate::results::ResultSet;
use crate::results::cells::Cells;
use crate::rows::{CheckTotal, KstrategyRow, SummaryRow, Verdict};

/// Summary columns the report shows (summary.csv has them all).
const SUMMARY_COLUMNS: [&str; 16] = [
    "id",
    "status",
    "rounds",
    "latency_mean_us",
    "latency_ci_low_us",
    "latency_ci_high_us",
    "latency_cv_between_pct",
    "t_prod_mean_us",
    "t_ker_mean_us",
    "t_idle_mean_us",
    "k_mean",
    "speedup",
    "cpu_util_pct",
    "loads_alive",
    "device",
    "noise",
];

const CHECKLIST_COLUMNS: [&str; 14] = [
    "check",
    "group",
    "metric",
    "kind",
    "rounds",
    "test",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "p_holm",
    "q_bh",
    "verdict",
    "note",
];

/// A table cut to some columns, and to its first [`ROWS_SHOWN`] rows;
/// `class` is a CSS class per row (from its status or verdict), for colour.
#[derive(Debug, Serialize)]
pub struct TableView {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub classes: Vec<String>,
    /// The same table as Markdown, for report.md (with a line saying how
    /// many rows are not shown, when some are not).
    pub markdown: String,
    /// Rows not shown.
    pub more: usize,
}

/// Most rows of a table a report shows (the page of a plan of a million
/// cells would be gigabytes): the rest are counted, and every row is in
/// the table's CSV file.
pub const ROWS_SHOWN: usize = 1000;

fn view(t: &Table, columns: &[&str], class_column: Option<&str>) -> TableView {
    let idx: Vec<usize> = if columns.is_empty() {
        (0..t.columns.len()).collect()
    } else {
        columns.iter().filter_map(|c| t.column(c)).collect()
    };
    let shown = &t.rows[..t.rows.len().min(ROWS_SHOWN)];
    let cut = Table {
        columns: idx.iter().map(|&i| t.columns[i].clone()).collect(),
        rows: shown
            .iter()
            .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
            .collect(),
    };
    let more = t.rows.len() - shown.len();
    let class_idx = class_column.and_then(|c| t.column(c));
    let classes = shown
        .iter()
        .map(|r| class_idx.map(|i| css_class(&r[i])).unwrap_or_default())
        .collect();
    let mut markdown = if cut.rows.is_empty() {
        String::new()
    } else {
        cut.to_markdown()
    };
    if more > 0 {
        markdown.push_str(&format!(
            "\nThe first {ROWS_SHOWN} rows are shown; {more} more are in the table's CSV file.\n"
        ));
    }
    TableView {
        markdown,
        columns: cut.columns,
        rows: cut.rows,
        classes,
        more,
    }
}

/// `pass`, `fail`, `inconclusive`, `ok` or `bad`: the colour of a verdict
/// or a status.
fn css_class(value: &str) -> String {
    match value.parse::<Verdict>() {
        Ok(v) => v.css_class(),
        Err(_) if value == "ok" => "ok",
        Err(_) if value.is_empty() => "",
        Err(_) => "bad",
    }
    .to_string()
}

/// One line of the provenance list.
#[derive(Debug, Serialize)]
pub struct Fact {
    pub name: String,
    pub value: String,
}

fn fact(name: &str, value: impl Into<String>) -> Fact {
    Fact {
        name: name.into(),
        value: value.into(),
    }
}

/// Distinct non-empty values of a field over rows, in first-seen order,
/// joined ("" when every row's is empty).
fn distinct_values<'a, T: 'a>(
    rows: impl IntoIterator<Item = &'a T>,
    field: impl Fn(&'a T) -> &'a str,
) -> String {
    let mut set = std::collections::HashSet::new();
    let mut seen: Vec<&str> = Vec::new();
    for r in rows {
        let v = field(r);
        if !v.is_empty() && set.insert(v) {
            seen.push(v);
        }
    }
    seen.join(", ")
}

/// The CPU and GPU frequencies asked and as read back on the board
/// (summary.csv's `cpu_khz` and `gpu_khz`, where the klo-spec that ran
/// wrote them).
fn frequencies(summary: &[SummaryRow]) -> Vec<Fact> {
    type Field = fn(&SummaryRow) -> &str;
    let frequencies: [(&str, Field, Field); 2] = [
        ("CPU frequency", |r| &r.cpu_freq, |r| &r.cpu_khz),
        ("GPU frequency", |r| &r.gpu_freq, |r| &r.gpu_khz),
    ];
    frequencies
        .into_iter()
        .map(|(name, asked, read)| {
            let back = distinct_values(summary, read);
            fact(
                name,
                format!(
                    "asked: {}; read back (kHz): {}",
                    distinct_values(summary, asked),
                    if back.is_empty() {
                        "not recorded in this result set"
                    } else {
                        &back
                    }
                ),
            )
        })
        .collect()
}

/// The LUTs the cells looked K up in (summary.csv's, else kstrategy.csv's).
fn lut(summary: &[SummaryRow], kstrategy: &[KstrategyRow]) -> Fact {
    let mut luts = distinct_values(summary, |r| &r.lut);
    if luts.is_empty() {
        luts = distinct_values(kstrategy, |r| &r.lut);
    }
    fact(
        "LUT",
        if luts.is_empty() {
            "none: no cell of this result set looks K up in a LUT".to_string()
        } else {
            format!("sha256 {luts}")
        },
    )
}

fn provenance(
    set: &ResultSet,
    summary: &[SummaryRow],
    kstrategy: &[KstrategyRow],
    cells: Option<&Cells>,
) -> Vec<Fact> {
    let mut out = Vec::new();
    let meta = set.meta.clone().unwrap_or_default();
    out.push(fact("result set", set.label.clone()));
    if let Some(f) = meta.scenario.file {
        out.push(fact("scenario file", f));
    }
    if let Some(h) = meta.scenario.sha256 {
        out.push(fact("scenario sha256", h));
    }
    for (name, b) in &meta.boards {
        let identity = b.identity.clone().unwrap_or_default();
        let cores = b.cores.clone().unwrap_or_default();
        out.push(fact(
            &format!("board {name}"),
            format!("{identity}; cores {cores}"),
        ));
    }
    out.push(fact("devices", distinct_values(summary, |r| &r.device)));
    if let Some(c) = cells {
        for (k, v) in c.device_info() {
            out.push(fact(&format!("device {k}"), v));
        }
    }
    out.extend(frequencies(summary));
    out.push(lut(summary, kstrategy));
    if let Some(v) = meta.klo_spec.version {
        out.push(fact("klo-spec (run)", v));
    }
    out.push(fact("klo-spec (report)", env!("CARGO_PKG_VERSION")));
    if let Some(h) = meta.helpers_source_sha256 {
        out.push(fact("helper sources sha256", h));
    }
    if let Some(t) = &meta.templates {
        // As JSON (`["templates/cell.sh.j2"]`).
        out.push(fact(
            "cell template",
            serde_json::to_string(t).unwrap_or_default(),
        ));
    }
    let host: Vec<&str> = meta.host.fields().iter().filter_map(|(_, v)| *v).collect();
    if !host.is_empty() {
        out.push(fact("host", host.join(", ")));
    }
    let run = &meta.run;
    if let (Some(a), Some(b)) = (&run.started_at, &run.finished_at) {
        // As JSON writes it (`73.6`, `74.0`).
        let wall = run
            .wall_s
            .map(|w| format!(" ({} s)", Value::from(w)))
            .unwrap_or_default();
        out.push(fact("run", format!("{a} to {b}{wall}")));
    }
    if let Some(s) = &run.by_status {
        let parts: Vec<String> = s.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push(fact("cells by status", parts.join(", ")));
    }
    out
}

/// A plot for the templates: its SVG inline and its file for report.md.
#[derive(Debug, Serialize)]
pub struct PlotView {
    pub name: String,
    pub title: String,
    pub caption: String,
    pub svg: String,
    pub file: String,
}

#[derive(Debug, Serialize)]
pub struct MissingView {
    pub title: String,
    pub reason: String,
}

/// Everything a report template can use.
#[derive(Debug, Serialize)]
pub struct Context {
    pub name: String,
    pub description: String,
    pub label: String,
    pub cells: usize,
    pub by_status: Vec<(String, usize)>,
    pub summary: TableView,
    pub checklist: TableView,
    pub checks: Vec<CheckTotal>,
    pub sweeps: TableView,
    pub plots: Vec<PlotView>,
    pub missing_plots: Vec<MissingView>,
    pub provenance: Vec<Fact>,
    pub scenario: String,
    pub version: String,
}

/// Builds the context of a result set and its plots.
pub fn build(
    set: &ResultSet,
    cells: Option<&Cells>,
    plots: &[Plot],
    missing: &[Missing],
) -> Result<Context> {
    let summary = set.summary_rows()?;
    let checklist = set.checklist_rows()?;
    let kstrategy = set.kstrategy_rows()?;
    let scenario: Option<serde_yaml::Value> = set
        .scenario_text
        .as_deref()
        .and_then(|t| crate::yaml::parse_value(t).ok());
    let field = |k: &str| {
        scenario
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .map(|s| s.trim().to_string())
    };
    let mut by_status: Vec<(String, usize)> = Vec::new();
    for r in &summary {
        let s = r.status.as_str();
        match by_status.iter_mut().find(|x| x.0 == s) {
            Some(x) => x.1 += 1,
            None => by_status.push((s.to_string(), 1)),
        }
    }
    Ok(Context {
        name: field("name").unwrap_or_else(|| set.label.clone()),
        description: field("description").unwrap_or_default(),
        label: set.label.clone(),
        cells: summary.len(),
        by_status,
        summary: view(&set.summary, &SUMMARY_COLUMNS, Some("status")),
        checklist: view(&set.checklist, &CHECKLIST_COLUMNS, Some("verdict")),
        checks: CheckTotal::of(
            checklist
                .iter()
                .map(|r| (r.check.as_str(), r.title.as_str(), r.verdict)),
        ),
        sweeps: view(&set.sweeps, &[], None),
        plots: plots
            .iter()
            .map(|p| PlotView {
                name: p.name.to_string(),
                title: p.title.clone(),
                caption: p.caption.clone(),
                svg: p.svg.clone(),
                file: format!("plots/{}.svg", p.name),
            })
            .collect(),
        missing_plots: missing
            .iter()
            .map(|m| MissingView {
                title: m.title.clone(),
                reason: m.reason.clone(),
            })
            .collect(),
        provenance: provenance(set, &summary, &kstrategy, cells),
        scenario: set.scenario_text.clone().unwrap_or_default(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}
