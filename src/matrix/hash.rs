//! Content hashes of cells. A cell's hash covers everything that defines
//! its result: its coordinates and K, the resolved load, iterations,
//! timeout and settle time, the benchmark (for the probe: the kernel list it
//! runs; for a command: its template, pushed files and parser), the
//! board-side helpers' sources and build flags, the cell script template
//! and the board's identity. A rerun skips a finished cell whose hash is
//! unchanged; `diff` calls cells with different hashes not comparable.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::Cell;
use super::coord::Coord;
use crate::digest::hex_sha256;
use crate::networks;
use crate::scenario::{Benchmark, Load, Scenario};

/// Hex digits kept of a cell hash: 64 bits, plenty for one scenario.
pub const HASH_LEN: usize = 16;

/// What the hashes depend on beyond the scenario.
#[derive(Debug, Clone, Default)]
pub struct HashContext {
    /// Board name to identity (for `local`: CPU model, core count, arch).
    pub boards: BTreeMap<String, String>,
    /// Hash of the helper sources and build flags.
    pub helpers: String,
    /// Hash of the cell script template's text.
    pub template: String,
}

/// What the benchmark of a cell runs, as hashed.
fn benchmark_material(s: &Scenario, network: &str) -> serde_json::Value {
    match &s.benchmark {
        Benchmark::Probe(p) => {
            let kernels = networks::kernels(network, p.ker_scale, p.prod_scale).unwrap_or_default();
            json!({"probe": p, "kernels": kernels})
        }
        Benchmark::Command(c) => {
            let push: Vec<_> = s.push.iter().map(|f| json!([f.name, f.sha256])).collect();
            json!({"command": c.run, "parser": c.parser, "push": push})
        }
    }
}

/// What a cell's hash is taken over, serialized straight into the digest
/// (no `serde_json::Value` per cell). Its JSON is byte for byte what the
/// `json!` object of the same keys gave (`tests::same_bytes_as_a_json_object`),
/// so hashes of finished results stay valid.
#[derive(Serialize)]
struct Material<'a> {
    v: u32,
    coord: &'a Coord,
    k: u32,
    iterations: u32,
    timeout_s: u32,
    load_settle_ms: u32,
    load: Option<&'a Load>,
    /// The network's benchmark material, serialized once per network.
    benchmark: Option<&'a RawValue>,
    helpers: &'a str,
    template: &'a str,
    board: Option<&'a String>,
    pins: Option<&'a serde_json::Value>,
}

fn material<'a>(
    s: &'a Scenario,
    cell: &'a Cell,
    ctx: &'a HashContext,
    benchmark: Option<&'a RawValue>,
    pins: Option<&'a serde_json::Value>,
) -> Material<'a> {
    let c = &cell.coord;
    Material {
        v: 1,
        coord: c,
        k: cell.k,
        iterations: cell.iterations,
        timeout_s: cell.timeout_s,
        load_settle_ms: s.load_settle_ms,
        load: s.load(&c.load),
        benchmark,
        helpers: &ctx.helpers,
        template: &ctx.template,
        board: ctx.boards.get(&c.board),
        pins,
    }
}

/// Fills in `cell.hash` for every cell, on every core. `extra[i]` (when
/// present) is more material for cell `i`: what its frequency settings
/// resolve to on its board.
pub fn assign(s: &Scenario, cells: &mut [Cell], ctx: &HashContext, extra: &[serde_json::Value]) {
    let mut per_network: BTreeMap<&str, Box<RawValue>> = BTreeMap::new();
    for n in &s.networks {
        let json = benchmark_material(s, n).to_string();
        per_network.insert(
            n,
            RawValue::from_string(json).expect("serde_json's own output"),
        );
    }
    cells
        .par_iter_mut()
        .enumerate()
        .for_each_init(Vec::new, |buf, (i, cell)| {
            buf.clear();
            let benchmark = per_network.get(cell.coord.network.as_str()).map(|b| &**b);
            serde_json::to_writer(&mut *buf, &material(s, cell, ctx, benchmark, extra.get(i)))
                .expect("serializing to memory");
            let mut h = hex_sha256(buf);
            h.truncate(HASH_LEN);
            cell.hash = h;
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The hash material as the first versions built it: a `json!` object
    /// per cell. Finished results carry hashes of this text.
    fn reference(
        s: &Scenario,
        cell: &Cell,
        ctx: &HashContext,
        pins: Option<&serde_json::Value>,
    ) -> String {
        let c = &cell.coord;
        json!({
            "v": 1,
            "coord": c,
            "k": cell.k,
            "iterations": cell.iterations,
            "timeout_s": cell.timeout_s,
            "load_settle_ms": s.load_settle_ms,
            "load": s.load(&c.load),
            "benchmark": benchmark_material(s, &c.network),
            "helpers": ctx.helpers,
            "template": ctx.template,
            "board": ctx.boards.get(&c.board),
            "pins": pins,
        })
        .to_string()
    }

    #[test]
    fn same_bytes_as_a_json_object() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.yaml");
        std::fs::write(
            &f,
            "name: h\nboards: [local]\nnetworks: [tiny, synth-20-1000-2000]\nloads:\n  none: null\n  heavy: {procs_per_core: 2, t_sleep_us: 0, inner_iter: 1000, log_iter: 3, cores: [0]}\n\
             matrix:\n  load: [none, heavy]\n  strategy: [default, {fixed: 3}, {sweep: {k: [1, 2]}}, {search: {k_max: 8}}]\n",
        )
        .unwrap();
        let s = crate::scenario::load(&f).unwrap();
        let mut cells = crate::matrix::expand(&s).unwrap();
        let ctx = HashContext {
            boards: [("local".to_string(), "cpu \"x\" 2 cores".to_string())].into(),
            helpers: "abc".into(),
            template: "def".into(),
        };
        let extra: Vec<_> = (0..cells.len())
            .map(|i| {
                if i % 2 == 0 {
                    json!({"cpu": {"0": 1.5e6}, "lut": "é"})
                } else {
                    json!(null)
                }
            })
            .collect();
        // The last cell has no extra material.
        let extra = &extra[..cells.len() - 1];
        assign(&s, &mut cells, &ctx, extra);
        assert!(cells.len() > 8);
        for (i, cell) in cells.iter().enumerate() {
            let text = reference(&s, cell, &ctx, extra.get(i));
            let mut want = hex_sha256(text.as_bytes());
            want.truncate(HASH_LEN);
            assert_eq!(cell.hash, want, "{}", cell.id);
        }
    }
}
