use std::path::Path;

use super::hash::{HashContext, assign};
use super::*;
use crate::error::InputError;
use crate::scenario;

fn parse(text: &str) -> Result<Scenario, InputError> {
    scenario::parse(Path::new("t.yaml"), text)
}

fn cells(text: &str) -> Vec<Cell> {
    expand(&parse(text).expect("valid scenario")).expect("expands")
}

fn ids(text: &str) -> Vec<String> {
    cells(text).into_iter().map(|c| c.id).collect()
}

fn expand_err(text: &str) -> String {
    match parse(text) {
        Ok(s) => expand(&s)
            .map(|_| ())
            .expect_err("expansion should fail")
            .to_string(),
        Err(e) => e.to_string(),
    }
}

const LOADS: &str = "loads:\n  heavy: {procs_per_core: 1, t_sleep_us: 10, inner_iter: 1000, log_iter: 20}\n  light: {procs_per_core: 1, t_sleep_us: 1000, inner_iter: 5000, log_iter: 20}\n";

#[test]
fn axes_multiply_in_declaration_order_first_slowest() {
    let text = format!(
        "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  strategy: [default, {{fixed: 4}}]\n  load: [none, heavy]\n"
    );
    assert_eq!(
        ids(&text),
        vec![
            "local/none/cpu-current/gpu-current/tiny/default",
            "local/heavy/cpu-current/gpu-current/tiny/default",
            "local/none/cpu-current/gpu-current/tiny/fixed-4",
            "local/heavy/cpu-current/gpu-current/tiny/fixed-4",
        ]
    );
    // Swapping the keys swaps the order, never the ids.
    let swapped = format!(
        "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  load: [none, heavy]\n  strategy: [default, {{fixed: 4}}]\n"
    );
    assert_eq!(
        ids(&swapped),
        vec![
            "local/none/cpu-current/gpu-current/tiny/default",
            "local/none/cpu-current/gpu-current/tiny/fixed-4",
            "local/heavy/cpu-current/gpu-current/tiny/default",
            "local/heavy/cpu-current/gpu-current/tiny/fixed-4",
        ]
    );
}

#[test]
fn undeclared_network_axis_takes_all_networks_after_declared_axes() {
    let text =
        format!("name: t\nnetworks: [tiny, squeezenet]\n{LOADS}matrix:\n  load: [none, heavy]\n");
    assert_eq!(
        ids(&text),
        vec![
            "local/none/cpu-current/gpu-current/tiny/default",
            "local/none/cpu-current/gpu-current/squeezenet/default",
            "local/heavy/cpu-current/gpu-current/tiny/default",
            "local/heavy/cpu-current/gpu-current/squeezenet/default",
        ]
    );
}

#[test]
fn a_sweep_is_one_cell_per_k_in_order() {
    let cs = cells(
        "name: t\nnetworks: [tiny]\nmatrix:\n  strategy: [default, {sweep: {k: [8, 1, 32]}}]\n",
    );
    let got: Vec<(String, u32)> = cs.iter().map(|c| (c.strategy_slug.clone(), c.k)).collect();
    assert_eq!(
        got,
        vec![
            ("default".into(), 1),
            ("sweep-k8".into(), 8),
            ("sweep-k1".into(), 1),
            ("sweep-k32".into(), 32)
        ]
    );
}

#[test]
fn frequency_segments_are_readable() {
    let s = "name: t\nnetworks: [tiny]\nmatrix:\n  cpu_freq: [current, {all: min}, {big: max, little: 50%}, {policy4: 1804800, others: keep}]\n  gpu_freq: [max]\n";
    let got: Vec<String> = cells(s)
        .into_iter()
        .map(|c| c.id.split('/').nth(2).unwrap().to_string())
        .collect();
    assert_eq!(
        got,
        vec![
            "cpu-current",
            "cpu-min",
            "cpu-big-max.little-50pct",
            "cpu-others-keep.policy4-1804800"
        ]
    );
    assert!(cells(s)[0].id.contains("/gpu-max/"));
}

#[test]
fn exclude_drops_partial_matches() {
    let text = format!(
        "name: t\nnetworks: [tiny, squeezenet]\n{LOADS}matrix:\n  load: [none, heavy, light]\n  strategy: [default, {{fixed: 4}}]\nexclude:\n  - {{load: none, strategy: {{fixed: 4}}}}\n  - {{network: squeezenet, load: light}}\n"
    );
    let got = ids(&text);
    assert_eq!(got.len(), 3 * 2 * 2 - 2 - 2);
    assert!(
        !got.iter()
            .any(|i| i.contains("/none/") && i.ends_with("fixed-4"))
    );
    assert!(
        !got.iter()
            .any(|i| i.contains("/light/") && i.contains("squeezenet"))
    );
}

#[test]
fn an_exclude_that_matches_nothing_is_located() {
    let text = format!(
        "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  load: [none, heavy]\nexclude:\n  - {{load: light}}\n"
    );
    let err = expand_err(&text);
    assert!(
        err.starts_with("t.yaml:9:5: this `exclude` entry matches no combination"),
        "{err}"
    );
}

/// GitHub Actions' documented include example, with fruit -> load,
/// animal -> network, color -> iterations and shape -> timeout_s.
#[test]
fn include_follows_github_actions_semantics() {
    let text = "\
name: t
networks: [tiny, squeezenet]
loads:
  apple: {procs_per_core: 1, t_sleep_us: 1, inner_iter: 1, log_iter: 1}
  pear: {procs_per_core: 1, t_sleep_us: 2, inner_iter: 1, log_iter: 1}
  banana: {procs_per_core: 1, t_sleep_us: 3, inner_iter: 1, log_iter: 1}
matrix:
  load: [apple, pear]
  network: [tiny, squeezenet]
include:
  - {iterations: 3}
  - {iterations: 5, network: tiny}
  - {load: apple, timeout_s: 7}
  - {load: banana, network: squeezenet}
";
    let got: Vec<(String, String, u32, u32)> = cells(text)
        .into_iter()
        .map(|c| (c.coord.load, c.coord.network, c.iterations, c.timeout_s))
        .collect();
    let row = |l: &str, n: &str, it, t| (l.to_string(), n.to_string(), it, t);
    assert_eq!(
        got,
        vec![
            row("apple", "tiny", 5, 7),
            row("apple", "squeezenet", 3, 7),
            row("pear", "tiny", 5, 600),
            row("pear", "squeezenet", 3, 600),
            // No original combination has banana: a new one, scenario defaults.
            row("banana", "squeezenet", 11, 600),
        ]
    );
}

#[test]
fn include_only_extends_original_combinations() {
    // The second entry would extend the combination the first one added, but
    // include entries only match original combinations: it adds another,
    // which has the same id.
    let text = format!(
        "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  load: [none]\ninclude:\n  - {{load: heavy}}\n  - {{load: heavy, iterations: 4}}\n"
    );
    let err = expand_err(&text);
    assert!(
        err.contains("cell `local/heavy/cpu-current/gpu-current/tiny/default` would appear twice"),
        "{err}"
    );
    assert!(err.starts_with("t.yaml:10:5:"), "{err}");
}

#[test]
fn a_new_include_combination_must_name_multi_valued_axes() {
    let text = format!(
        "name: t\nnetworks: [tiny, squeezenet]\n{LOADS}matrix:\n  load: [none]\ninclude:\n  - {{load: heavy}}\n"
    );
    let err = expand_err(&text);
    assert!(err.contains("does not say its `network`"), "{err}");
}

#[test]
fn include_can_set_a_defaulted_axis_on_every_combination() {
    // `strategy` is not declared: it is not an original key, so the entry
    // matches every combination and sets it.
    let text = format!(
        "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  load: [none, heavy]\ninclude:\n  - {{strategy: {{fixed: 8}}}}\n"
    );
    assert!(ids(&text).iter().all(|i| i.ends_with("/fixed-8")));
}

#[test]
fn duplicate_ids_from_two_sweeps_are_errors() {
    let err = expand_err(
        "name: t\nnetworks: [tiny]\nmatrix:\n  strategy: [{sweep: {k: [1, 2]}}, {sweep: {k: [2, 4]}}]\n",
    );
    assert!(err.contains("sweep-k2` would appear twice"), "{err}");
}

#[test]
fn the_size_cap_is_enforced_and_located() {
    let text = "name: t\nnetworks: [tiny]\nmax_cells: 3\nmatrix:\n  strategy: [{sweep: {k: [1, 2, 4, 8]}}]\n";
    let err = expand_err(text);
    assert!(
        err.starts_with("t.yaml:3:12: the matrix expands to 4 cells, over the cap of 3"),
        "{err}"
    );
}

#[test]
fn empty_axes_and_unknown_names_are_located_with_suggestions() {
    let err = expand_err(&format!(
        "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  load: []\n"
    ));
    assert!(err.starts_with("t.yaml:7:9: axis `load` is empty"), "{err}");
    let err = expand_err(&format!(
        "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  load: [none, haevy]\n"
    ));
    assert!(
        err.starts_with("t.yaml:7:16: unknown load `haevy`"),
        "{err}"
    );
    assert!(err.contains("did you mean `heavy`?"), "{err}");
    let err = expand_err("name: t\nnetworks: [tiny]\nmatrix:\n  network: [tinny]\n");
    assert!(
        err.contains("unknown network `tinny`") && err.contains("did you mean `tiny`?"),
        "{err}"
    );
}

#[test]
fn hashes_are_stable_and_local_to_the_cell() {
    let ctx = HashContext {
        helpers: "h".into(),
        template: "t".into(),
        ..Default::default()
    };
    let hashed = |text: &str| {
        let s = parse(text).unwrap();
        let mut c = expand(&s).unwrap();
        assign(&s, &mut c, &ctx, &[]);
        c.into_iter().map(|c| (c.id, c.hash)).collect::<Vec<_>>()
    };
    let one = hashed(&format!(
        "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  load: [none, heavy]\n"
    ));
    let two = hashed(&format!(
        "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  load: [none, heavy, light]\n"
    ));
    assert_eq!(
        one,
        hashed(&format!(
            "name: t\nnetworks: [tiny]\n{LOADS}matrix:\n  load: [none, heavy]\n"
        ))
    );
    // Adding a value to an axis leaves the other cells' hashes alone...
    assert_eq!(&two[..2], &one[..]);
    // ...and changing a load's definition changes its cells' hashes only.
    let changed = hashed(&format!(
        "name: t\nnetworks: [tiny]\n{}matrix:\n  load: [none, heavy]\n",
        LOADS.replace("t_sleep_us: 10,", "t_sleep_us: 11,")
    ));
    assert_eq!(changed[0], one[0]);
    assert_ne!(changed[1].1, one[1].1);
    assert!(one.iter().all(|(_, h)| h.len() == hash::HASH_LEN));
}

#[test]
fn a_huge_matrix_is_refused_before_it_is_built() {
    let nets: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
    let ks: Vec<String> = (1..=4096).map(|k| k.to_string()).collect();
    let text = format!(
        "name: t\nbenchmark: {{command: {{run: x}}}}\nnetworks: [{}]\nmax_cells: 100000000\nmatrix:\n  strategy: [{{sweep: {{k: [{}]}}}}]\n",
        nets.join(", "),
        ks.join(", ")
    );
    let t = std::time::Instant::now();
    let err = expand_err(&text);
    assert!(
        err.contains("(1228800 cells) before `exclude`, too many to expand"),
        "{err}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
}
