use super::*;
use crate::results::fixture;

#[test]
fn the_pages_hold_the_tables_plots_and_provenance() {
    let set = fixture::quick("outputs/q");
    let r = make(&set, None, None, None).unwrap();
    let html = &r.html;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 3, "the plots are inline");
    assert!(html.contains("<figure id=\"plot-sweep\">"));
    assert!(
        html.contains("not drawn, it needs a cell&#x27;s raw log"),
        "missing plots say why"
    );
    assert!(html.contains("<tr class=\"pass\">"), "verdict colours");
    assert!(html.contains("class=\"verdict\">INCONCLUSIVE</td>"));
    assert!(html.contains("<dt>LUT</dt>"));
    assert!(html.contains("read back (kHz): not recorded in this result set"));
    assert!(!html.contains("<script"), "no script");
    let own = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for external in ["http://", "https://", "src=", "href=\"http", "url("] {
        assert!(!own.contains(external), "no external resource: {external}");
    }
    // The description is the user's text: escaped, not markup.
    assert!(
        html.contains("a &lt;b&gt;test&lt;&#x2f;b&gt; set"),
        "{html}"
    );

    let md = &r.md;
    assert!(md.contains("![Latency vs K (flush period) per sweep](plots/sweep.svg)"));
    assert!(md.contains("| C1 | a question | 1 | 0 | 0 |"));
    assert!(md.contains("| id | status | rounds |"));

    let again = make(&set, None, None, None).unwrap();
    assert_eq!(
        (&again.html, &again.md),
        (&r.html, &r.md),
        "same inputs, same pages"
    );
}

#[test]
fn provenance_shows_frequencies_read_back_and_the_lut_where_recorded() {
    let mut set = fixture::quick("q");
    for (col, v) in [
        ("cpu_khz", "policy0=1804800"),
        ("gpu_khz", "587000"),
        ("lut", "9f86d081"),
    ] {
        let i = match set.summary.column(col) {
            Some(i) => i,
            None => {
                set.summary.columns.push(col.into());
                for r in &mut set.summary.rows {
                    r.push(String::new());
                }
                set.summary.columns.len() - 1
            }
        };
        for r in &mut set.summary.rows {
            r[i] = v.into();
        }
    }
    let html = make(&set, None, None, None).unwrap().html;
    assert!(
        html.contains("asked: current; read back (kHz): policy0=1804800"),
        "{html}"
    );
    assert!(html.contains("read back (kHz): 587000"));
    assert!(html.contains("<dd>sha256 9f86d081</dd>"));
}

#[test]
fn user_templates_override_and_their_errors_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(MD_TEMPLATE_NAME),
        "# {{ name }}: {{ cells }} cells{% for p in plots %} {{ p.name }}{% endfor %}\n",
    )
    .unwrap();
    let set = fixture::quick("q");
    let r = make(&set, None, Some(dir.path()), None).unwrap();
    assert_eq!(r.md, "# test: 10 cells tprod sweep speedup");
    assert!(
        r.html.contains("<!DOCTYPE html>"),
        "the HTML page stays built in"
    );

    std::fs::write(dir.path().join(HTML_TEMPLATE_NAME), "{{ no_such_value }}").unwrap();
    let err = make(&set, None, Some(dir.path()), None).err().unwrap();
    assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
    assert!(err.to_string().contains("report.html.j2"), "{err:#}");
}

#[test]
fn the_builtin_templates_are_the_shipped_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    assert_eq!(
        std::fs::read_to_string(root.join(HTML_TEMPLATE_NAME)).unwrap(),
        HTML_TEMPLATE
    );
    assert_eq!(
        std::fs::read_to_string(root.join(MD_TEMPLATE_NAME)).unwrap(),
        MD_TEMPLATE
    );
}
