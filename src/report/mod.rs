//! `klo-spec report`: a result set as a page. Writes `report.html` (one
//! self-contained file: tables, checklist with verdict colours, the plots
//! as inline SVG, the scenario and provenance; no script, no external
//! resource) and `report.md` for GitHub, whose plots are the files in
//! `plots/`. Both are rendered from templates (minijinja) that a user can
//! override: `report.html.j2` and `report.md.j2` in `--templates DIR`
//! (or `./templates`).

mod context;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::error::UsageError;
use crate::output::atomic_write;
use crate::plot;
use crate::results::cells::Cells;
use crate::results::{ResultSet, Source};
pub use context::{Context, build};

pub const HTML_TEMPLATE_NAME: &str = "report.html.j2";
pub const MD_TEMPLATE_NAME: &str = "report.md.j2";
const HTML_TEMPLATE: &str = include_str!("../../templates/report.html.j2");
const MD_TEMPLATE: &str = include_str!("../../templates/report.md.j2");

/// A report template: its text and where it came from.
struct Template {
    name: &'static str,
    text: String,
    origin: Option<PathBuf>,
}

/// `dir/name` when it exists, else the built-in text.
fn template(dir: Option<&Path>, name: &'static str, builtin: &str) -> Result<Template> {
    if let Some(path) = dir.map(|d| d.join(name)).filter(|p| p.exists()) {
        let text = crate::untrusted::read_input_text(&path, crate::untrusted::TEMPLATE_MAX)
            .with_context(|| format!("cannot read the template {}", path.display()))?;
        return Ok(Template {
            name,
            text,
            origin: Some(path),
        });
    }
    Ok(Template {
        name,
        text: builtin.to_string(),
        origin: None,
    })
}

/// Renders one template. HTML templates escape every value for HTML (by
/// the `.html.j2` name); the plots' SVG is inserted with `safe`.
fn render(t: &Template, ctx: &Context) -> Result<String> {
    // Auto-escaping follows the name (minijinja's default: HTML for
    // `.html.j2`, none for `.md.j2`), not the shell quoting of scripts.
    let mut env = crate::render::strict_environment();
    // A table cell of Markdown: `|` would end it, a newline the row.
    env.add_filter("cell", |s: String| crate::text::md_cell(&s));
    let where_ = t
        .origin
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| format!("built-in {}", t.name));
    let bad = |e: minijinja::Error| -> anyhow::Error {
        UsageError::new(
            format!("{where_}: {e:#}"),
            Some(if t.origin.is_some() {
                "fix the template, or remove it to use the built-in one".into()
            } else {
                "this is a bug in klo-spec: please report it".into()
            }),
        )
        .into()
    };
    env.add_template(t.name, &t.text).map_err(bad)?;
    let tmpl = env.get_template(t.name).map_err(bad)?;
    tmpl.render(minijinja::value::Serde(ctx)).map_err(bad)
}

/// A rendered report.
pub struct Report {
    pub html: String,
    pub md: String,
    pub plots: Vec<plot::Plot>,
    pub missing: Vec<plot::Missing>,
}

/// The report of a result set.
pub fn make(
    set: &ResultSet,
    cells: Option<&Cells>,
    templates: Option<&Path>,
    cell: Option<&str>,
) -> Result<Report> {
    let (plots, missing) = plot::all(set, cells, cell)?;
    let ctx = build(set, cells, &plots, &missing)?;
    let html = render(
        &template(templates, HTML_TEMPLATE_NAME, HTML_TEMPLATE)?,
        &ctx,
    )?;
    let md = render(&template(templates, MD_TEMPLATE_NAME, MD_TEMPLATE)?, &ctx)?;
    Ok(Report {
        html,
        md,
        plots,
        missing,
    })
}

/// What `klo-spec report` writes (the command line's `report` arguments).
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The result set.
    pub dir: PathBuf,
    /// Folder with templates overriding the built-in ones; `None`:
    /// ./templates when it holds them.
    pub templates: Option<PathBuf>,
    /// The cell whose kernel sequence is plotted; `None`: the first `ok`
    /// default cell with its raw log.
    pub cell: Option<String>,
    /// Where report.html, report.md and plots/ go; `None`: the result set.
    pub output_dir: Option<PathBuf>,
}

/// The templates folder: the one given, or ./templates when it holds a
/// report template.
fn templates_dir(explicit: &Option<PathBuf>) -> Option<PathBuf> {
    explicit.clone().or_else(|| {
        let d = Path::new("templates");
        (d.join(HTML_TEMPLATE_NAME).is_file() || d.join(MD_TEMPLATE_NAME).is_file())
            .then(|| d.to_path_buf())
    })
}

/// `klo-spec report`: writes report.html, report.md and plots/*.svg and
/// prints their paths.
pub fn command(a: &ReportOptions) -> Result<i32> {
    let set = ResultSet::open(&Source::Dir(a.dir.clone()))?;
    let cells = Cells::load(&set)?;
    if let Some(c) = &cells {
        for (id, why) in &c.unusable {
            eprintln!("klo-spec: cell {id}: its raw log is not used ({why})");
        }
        if c.unusable_more > 0 {
            eprintln!(
                "klo-spec: and {} more runs whose raw logs are not used",
                c.unusable_more
            );
        }
    }
    let report = make(
        &set,
        cells.as_ref(),
        templates_dir(&a.templates).as_deref(),
        a.cell.as_deref(),
    )?;
    let out = a.output_dir.clone().unwrap_or_else(|| a.dir.clone());
    let mut written = Vec::new();
    for p in &report.plots {
        let path = out.join("plots").join(format!("{}.svg", p.name));
        atomic_write(&path, p.svg.as_bytes())?;
        written.push(path);
    }
    // A plot drawn by an earlier report and missing now must not linger
    // beside a report that no longer shows it.
    for m in &report.missing {
        let _ = std::fs::remove_file(out.join("plots").join(format!("{}.svg", m.name)));
    }
    for (name, text) in [("report.html", &report.html), ("report.md", &report.md)] {
        let path = out.join(name);
        atomic_write(&path, text.as_bytes())?;
        written.push(path);
    }
    for p in written {
        println!("{}", p.display());
    }
    Ok(0)
}

#[cfg(test)]
mod tests;
