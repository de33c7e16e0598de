//! Content hashes of cells. A cell's hash covers everything that defines
//! its result: its coordinates and K, the resolved load, iterations,
//! timeout and settle time, the benchmark (for the probe: the kernel list it
//! runs; for a command: its template, pushed files and parser), the
//! board-side helpers' sources and build flags, the cell script template
//! and the board's identity. A rerun skips a finished cell whose hash is
//! unchanged; `diff` calls cells with different hashes not comparable.

use std::collections::BTreeMap;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::Cell;
use crate::digest::hex_digest;
use crate::networks;
use crate::scenario::{Benchmark, Scenario};

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
            let kernels = networks::kernels(network, p).unwrap_or_default();
            json!({"probe": p, "kernels": kernels})
        }
        Benchmark::Command(c) => {
            let push: Vec<_> = s.push.iter().map(|f| json!([f.name, f.sha256])).collect();
            json!({"command": c.run, "parser": c.parser, "push": push})
        }
    }
}

/// Fills in `cell.hash` for every cell. `extra[i]` (when present) is more
/// material for cell `i`: what its frequency settings resolve to on its
/// board.
pub fn assign(s: &Scenario, cells: &mut [Cell], ctx: &HashContext, extra: &[serde_json::Value]) {
    let mut per_network: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    for n in &s.networks {
        per_network.insert(n, benchmark_material(s, n));
    }
    for (i, cell) in cells.iter_mut().enumerate() {
        let c = &cell.coord;
        let material = json!({
            "v": 1,
            "coord": c,
            "k": cell.k,
            "iterations": cell.iterations,
            "timeout_s": cell.timeout_s,
            "load_settle_ms": s.load_settle_ms,
            "load": s.load(&c.load),
            "benchmark": per_network.get(c.network.as_str()),
            "helpers": ctx.helpers,
            "template": ctx.template,
            "board": ctx.boards.get(&c.board),
            "pins": extra.get(i),
        });
        let digest = Sha256::digest(material.to_string().as_bytes());
        let mut h = hex_digest(digest.as_slice());
        h.truncate(HASH_LEN);
        cell.hash = h;
    }
}
