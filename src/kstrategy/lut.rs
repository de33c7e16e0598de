//! The LUT: (T_prod, T_ker) to K_opt over a grid, measured on a board.
//!
//! File format (CSV with `#` provenance lines first):
//!
//! ```text
//! # klo-spec LUT v1
//! # board: rb5
//! # board_identity: fixture|qcom
//! # helpers: <sha256 of the board-side helpers' sources>
//! # condition: cpu-min/gpu-max
//! # source: outputs/lut (scenario sha256 ...)
//! # probe: submit=deferred flush_units=12000
//! # device: <the OpenCL device's name, or thread>
//! # data_sha256: <sha256 of the lines below, each ending in \n>
//! t_prod_us,t_ker_us,k_opt,latency_us
//! 21.4,38.9,4,1520.3
//! ```
//!
//! Lookup: the grid point nearest to (T_prod, T_ker) in log space
//! (distance over ln T_prod and ln T_ker; a tie goes to the earlier row), so
//! that a 2x step counts the same at 10 µs as at 1000 µs. A query outside the
//! grid's range on either axis is clamped to it (the nearest point) and
//! reported. A LUT whose data does not hash to its recorded `data_sha256`
//! was changed after it was built, and is refused; so is one without a
//! `data_sha256` (nothing says where its numbers come from), one with a
//! K_opt outside 1..=4096 or without rows, and one of more than 100,000 rows.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::digest::hex_sha256;

/// One grid point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t_prod_us: f64,
    pub t_ker_us: f64,
    pub k_opt: u32,
    pub latency_us: Option<f64>,
}

/// A LUT and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Lut {
    pub points: Vec<Point>,
    /// `# key: value` lines, in file order.
    pub provenance: Vec<(String, String)>,
    /// sha256 of the whole file (first 16 hex digits): what cells record.
    pub hash: String,
}

/// The result of a lookup.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lookup {
    pub k: u32,
    /// The grid point used.
    pub point: Point,
    /// The query was outside the grid on some axis.
    pub clamped: bool,
}

pub const HEADER: &str = "t_prod_us,t_ker_us,k_opt,latency_us";
/// Most grid points a LUT may have.
pub const MAX_ROWS: usize = 100_000;

fn data_text(points: &[Point]) -> String {
    let mut out = format!("{HEADER}\n");
    for p in points {
        let lat = p.latency_us.map(|l| format!("{l:.1}")).unwrap_or_default();
        out.push_str(&format!(
            "{:.2},{:.2},{},{}\n",
            p.t_prod_us, p.t_ker_us, p.k_opt, lat
        ));
    }
    out
}

impl Lut {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.provenance
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The file's text: provenance (with a fresh `data_sha256`), then data.
    pub fn to_text(&self) -> String {
        let data = data_text(&self.points);
        let mut out = String::from("# klo-spec LUT v1\n");
        for (k, v) in self.provenance.iter().filter(|(k, _)| k != "data_sha256") {
            out.push_str(&format!("# {k}: {v}\n"));
        }
        out.push_str(&format!("# data_sha256: {}\n", hex_sha256(data.as_bytes())));
        out + &data
    }

    /// Parses a LUT file's text; `name` is used in messages.
    pub fn parse(text: &str, name: &str) -> Result<Lut> {
        let mut provenance = Vec::new();
        let mut data_lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if let Some(c) = line.strip_prefix('#') {
                if let Some((k, v)) = c.split_once(':') {
                    provenance.push((k.trim().to_string(), v.trim().to_string()));
                }
                continue;
            }
            if line.trim().is_empty() {
                continue;
            }
            data_lines.push((i + 1, line));
        }
        let Some(((_, header), rows)) = data_lines.split_first() else {
            bail!("{name}: no data: a LUT needs the line `{HEADER}` and rows")
        };
        if header.trim() != HEADER && header.trim() != "t_prod_us,t_ker_us,k_opt" {
            bail!("{name}: the first data line must be `{HEADER}`, not `{header}`");
        }
        let mut points = Vec::new();
        for (line_no, row) in rows {
            let f: Vec<&str> = row.split(',').map(str::trim).collect();
            let num =
                |i: usize, what: &str| -> Result<f64> {
                    let v: f64 =
                        f.get(i).copied().unwrap_or("").parse().with_context(|| {
                            format!("{name}:{line_no}: `{what}` is not a number")
                        })?;
                    if !(v.is_finite() && v > 0.0) {
                        bail!("{name}:{line_no}: `{what}` must be a positive number");
                    }
                    Ok(v)
                };
            let k: u32 = f
                .get(2)
                .copied()
                .unwrap_or("")
                .parse()
                .with_context(|| format!("{name}:{line_no}: `k_opt` is not a whole number"))?;
            if k == 0 || k > crate::scenario::check::MAX_K {
                bail!(
                    "{name}:{line_no}: `k_opt` must be between 1 and {}, not {k}",
                    crate::scenario::check::MAX_K
                );
            }
            if points.len() == MAX_ROWS {
                bail!(
                    "{name}:{line_no}: more than {MAX_ROWS} rows: a LUT is a grid of conditions, not a log"
                );
            }
            let latency_us = match f.get(3).copied().filter(|s| !s.is_empty()) {
                Some(_) => Some(num(3, "latency_us")?),
                None => None,
            };
            points.push(Point {
                t_prod_us: num(0, "t_prod_us")?,
                t_ker_us: num(1, "t_ker_us")?,
                k_opt: k,
                latency_us,
            });
        }
        if points.is_empty() {
            bail!("{name}: the LUT has no rows");
        }
        let lut = Lut {
            points,
            provenance,
            hash: hex_sha256(text.as_bytes())[..16].to_string(),
        };
        let Some(recorded) = lut.get("data_sha256") else {
            bail!(
                "{name}: it has no `# data_sha256:` line, so nothing says its data is what `klo-spec lut build` measured; rebuild it with `klo-spec lut build`"
            );
        };
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        if hex_sha256(body.as_bytes()) != recorded {
            bail!(
                "{name}: its data does not match its recorded provenance (data_sha256): the LUT was changed after it was built; rebuild it with `klo-spec lut build`"
            );
        }
        Ok(lut)
    }

    /// Reads a LUT file: a regular file (a FIFO, a device or a folder is
    /// refused, not read) of at most 16 MiB.
    pub fn read(path: &Path) -> Result<Lut> {
        let text = crate::untrusted::read_input_text(path, crate::untrusted::LUT_MAX)
            .with_context(|| format!("cannot read the LUT {}", path.display()))?;
        Lut::parse(&text, &path.display().to_string())
    }

    /// K_opt for (T_prod, T_ker): see the module docs.
    pub fn lookup(&self, t_prod_us: f64, t_ker_us: f64) -> Lookup {
        let (x, y) = (t_prod_us.max(1e-9).ln(), t_ker_us.max(1e-9).ln());
        let point = *self
            .points
            .iter()
            .min_by(|a, b| {
                let d = |p: &Point| (p.t_prod_us.ln() - x).powi(2) + (p.t_ker_us.ln() - y).powi(2);
                d(a).total_cmp(&d(b))
            })
            .expect("a parsed LUT has rows");
        let range = |f: fn(&Point) -> f64| {
            let v: Vec<f64> = self.points.iter().map(f).collect();
            (
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        };
        let (pl, ph) = range(|p| p.t_prod_us);
        let (kl, kh) = range(|p| p.t_ker_us);
        let clamped = t_prod_us < pl || t_prod_us > ph || t_ker_us < kl || t_ker_us > kh;
        Lookup {
            k: point.k_opt,
            point,
            clamped,
        }
    }
}

/// Per (t_prod, t_ker) of `a`: K_opt in `a` and what `b` says there.
pub fn compare(a: &Lut, b: &Lut) -> Vec<(Point, Lookup)> {
    a.points
        .iter()
        .map(|p| (*p, b.lookup(p.t_prod_us, p.t_ker_us)))
        .collect()
}

/// Builds a LUT from measured sweeps: per grid point, the mean T_prod and
/// T_ker of its cells and the K with the lowest mean latency.
pub fn from_sweeps(
    groups: &BTreeMap<String, Vec<(u32, f64, f64, f64)>>,
    provenance: Vec<(String, String)>,
) -> Lut {
    let mut points: Vec<Point> = groups
        .values()
        .filter(|cells| !cells.is_empty())
        .map(|cells| {
            let n = cells.len() as f64;
            let (k, _, _, lat) = *cells
                .iter()
                .min_by(|a, b| a.3.total_cmp(&b.3).then(a.0.cmp(&b.0)))
                .expect("not empty");
            Point {
                t_prod_us: cells.iter().map(|c| c.1).sum::<f64>() / n,
                t_ker_us: cells.iter().map(|c| c.2).sum::<f64>() / n,
                k_opt: k,
                latency_us: Some(lat),
            }
        })
        .collect();
    points.sort_by(|a, b| {
        a.t_prod_us
            .total_cmp(&b.t_prod_us)
            .then(a.t_ker_us.total_cmp(&b.t_ker_us))
    });
    let mut lut = Lut {
        points,
        provenance,
        hash: String::new(),
    };
    let text = lut.to_text();
    lut.hash = hex_sha256(text.as_bytes())[..16].to_string();
    lut
}

/// The grid of a model LUT: T_prod and T_ker per kernel (µs), doubling.
pub const MODEL_T_PROD_US: [f64; 8] = [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0];
pub const MODEL_T_KER_US: [f64; 10] = [
    5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 2560.0,
];
/// The K a model LUT chooses from, and the kernels of its inferences.
pub const MODEL_KS: [u32; 10] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32];
pub const MODEL_KERNELS: usize = 30;

/// A LUT from the timing model: per grid point, the K with the lowest
/// model latency for an inference of [`MODEL_KERNELS`] kernels of that
/// T_prod and T_ker, at the flush cost and submission latency given.
pub fn from_model(costs: super::model::Costs, provenance: Vec<(String, String)>) -> Lut {
    use super::model;
    let mut points = Vec::new();
    for &t_prod_us in &MODEL_T_PROD_US {
        for &t_ker_us in &MODEL_T_KER_US {
            let profile = model::Profile {
                t_prod: vec![t_prod_us; MODEL_KERNELS],
                t_ker: vec![t_ker_us; MODEL_KERNELS],
            };
            if let Some((k_opt, lat)) = model::argmin_k(&profile, &MODEL_KS, costs) {
                points.push(Point {
                    t_prod_us,
                    t_ker_us,
                    k_opt,
                    latency_us: Some((lat * 10.0).round() / 10.0),
                });
            }
        }
    }
    let mut lut = Lut {
        points,
        provenance,
        hash: String::new(),
    };
    let text = lut.to_text();
    lut.hash = hex_sha256(text.as_bytes())[..16].to_string();
    lut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_lut_chooses_larger_k_when_flushes_cost_more() {
        let lut = |flush_us| {
            from_model(
                super::super::model::Costs {
                    flush_us,
                    submit_us: 100.0,
                },
                vec![("board".into(), "b".into())],
            )
        };
        let (cheap, costly) = (lut(1.0), lut(200.0));
        assert_eq!(cheap.points.len(), 80);
        // A host-bound point (T_prod 80, T_ker 20): with costly flushes the
        // best K is larger.
        let k = |l: &Lut| l.lookup(80.0, 20.0).k;
        assert!(k(&costly) > k(&cheap), "{} {}", k(&costly), k(&cheap));
        // The text round-trips with its hash.
        let text = costly.to_text();
        let back = Lut::parse(&text, "model").unwrap();
        assert_eq!(back.points.len(), 80);
        assert_eq!(back.lookup(80.0, 20.0).k, k(&costly));
    }

    fn grid() -> Lut {
        let mut g = BTreeMap::new();
        for (i, (p, k, best)) in [
            (10.0, 100.0, 2u32),
            (10.0, 400.0, 1),
            (40.0, 100.0, 8),
            (40.0, 400.0, 4),
        ]
        .into_iter()
        .enumerate()
        {
            g.insert(
                format!("{i}"),
                vec![(best, p, k, 1000.0), (best + 1, p, k, 1100.0)],
            );
        }
        from_sweeps(&g, vec![("board".into(), "local".into())])
    }

    #[test]
    fn lookup_at_between_and_outside_grid_points() {
        let lut = grid();
        assert_eq!(lut.lookup(10.0, 100.0).k, 2);
        assert_eq!(lut.lookup(40.0, 400.0).k, 4);
        assert!(!lut.lookup(40.0, 400.0).clamped);
        // Between points, the nearest in log space: 15 is nearer 10 than 40
        // (ln 1.5 < ln 2.67), 300 nearer 400 than 100.
        assert_eq!(lut.lookup(15.0, 300.0).k, 1);
        assert_eq!(lut.lookup(30.0, 150.0).k, 8);
        // Outside: clamped to the nearest point, and said so.
        let out = lut.lookup(500.0, 50.0);
        assert_eq!((out.k, out.clamped), (8, true));
    }

    #[test]
    fn the_file_round_trips_and_edits_are_refused() {
        let lut = grid();
        let text = lut.to_text();
        let back = Lut::parse(&text, "x.csv").unwrap();
        assert_eq!(back.points.len(), 4);
        assert_eq!(back.get("board"), Some("local"));
        assert_eq!(back.hash, lut.hash);
        let edited = text.replace(",2,", ",3,");
        let err = Lut::parse(&edited, "x.csv").unwrap_err().to_string();
        assert!(
            err.contains("does not match its recorded provenance"),
            "{err}"
        );
        assert!(
            Lut::parse("t_prod_us,t_ker_us,k_opt\n1,2,0\n", "y.csv")
                .unwrap_err()
                .to_string()
                .contains("between 1 and 4096, not 0")
        );
    }

    /// A LUT whose provenance hashes its data, as `lut build` writes it.
    fn sealed(data: &str) -> String {
        format!(
            "# klo-spec LUT v1\n# data_sha256: {}\n{data}",
            hex_sha256(data.as_bytes())
        )
    }

    #[test]
    fn a_lut_without_its_data_hash_or_with_values_out_of_range_is_refused() {
        let data = "t_prod_us,t_ker_us,k_opt,latency_us\n10.00,100.00,4,1000.0\n";
        assert!(Lut::parse(&sealed(data), "ok.csv").is_ok());
        let err = Lut::parse(data, "bare.csv").unwrap_err().to_string();
        assert!(err.contains("no `# data_sha256:` line"), "{err}");
        let err = Lut::parse(&sealed(&data.replace(",4,", ",5000,")), "k.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("k.csv:4: `k_opt` must be between 1 and 4096, not 5000"),
            "{err}"
        );
        let err = Lut::parse(&sealed(&data.replace("10.00", "inf")), "t.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("positive number"), "{err}");
        let mut many = String::from("t_prod_us,t_ker_us,k_opt,latency_us\n");
        for i in 0..=MAX_ROWS {
            many.push_str(&format!("{}.0,1.0,1,\n", i + 1));
        }
        let err = Lut::parse(&sealed(&many), "m.csv").unwrap_err().to_string();
        assert!(err.contains("more than 100000 rows"), "{err}");
        let err = Lut::parse(&sealed("t_prod_us,t_ker_us,k_opt,latency_us\n"), "e.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no rows"), "{err}");
    }
}
