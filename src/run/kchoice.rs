//! K for the LUT strategies, chosen when a cell runs.
//!
//! - `constant`: K_opt = LUT(mean T_prod, mean T_ker) of the profile cell
//!   (the `default` cell of the same board and network, at the cell's or the
//!   named frequencies, without load for `baseline`, with the cell's load for
//!   `self`), over its measured inferences, first kernel's T_prod excluded.
//! - `static`: a flush schedule from the profile's per-kernel means (the
//!   first kernel's T_prod replaced by the mean of the others, as the
//!   notebook does): from kernel i, K = LUT(means over the next K0 kernels),
//!   refined once more over the K kernels it covers; flush; go on from
//!   i + K. K0 is the LUT's K for the whole profile.
//! - `dynamic`: the benchmark gets the LUT and looks K up itself.
//!
//! A profile runs before the cells that need it in each round (see
//! `rounds.rs`), so it exists when they run.

use std::collections::HashMap;
use std::path::Path;

use super::cell::parse_log;
use super::current_record;
use crate::kstrategy::lut::Lut;
use crate::matrix::Cell;
use crate::matrix::coord::Coord;
use crate::record::KChoice;
use crate::record::Status;
use crate::scenario::raw::{FromProfile, ProfileKind};
use crate::scenario::{Scenario, Strategy};

/// What the benchmark of a cell gets besides its cell.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    /// Flush period: the plan's K, or the one chosen here.
    pub k: u32,
    /// A static schedule: flush after kernel i when `schedule[i]`.
    pub schedule: Option<Vec<bool>>,
    /// The LUT's text, for a dynamic cell.
    pub lut_text: Option<String>,
    pub record: Option<KChoice>,
}

/// The coordinates of a LUT strategy's profile cell.
pub fn profile_coord(cell: &Coord, from: &FromProfile) -> Coord {
    Coord {
        board: cell.board.clone(),
        load: match from.profile {
            ProfileKind::Baseline => "none".into(),
            ProfileKind::SelfLoad => cell.load.clone(),
        },
        cpu_freq: from
            .cpu_freq
            .clone()
            .unwrap_or_else(|| cell.cpu_freq.clone()),
        gpu_freq: from.gpu_freq.unwrap_or(cell.gpu_freq),
        knobs: cell.knobs.clone(),
        network: cell.network.clone(),
        strategy: Strategy::Default,
    }
}

/// The coordinates of a cell's profile cell, when its strategy needs one.
fn wanted_profile(cell: &Cell) -> Option<Coord> {
    match &cell.coord.strategy {
        Strategy::Constant(f) | Strategy::Static(f) => Some(profile_coord(&cell.coord, f)),
        _ => None,
    }
}

/// The profile cell of a cell, when its strategy needs one (a scan of
/// `cells`; [`Profiles`] answers many such questions in constant time).
pub fn profile_of<'a>(cell: &Cell, cells: &'a [Cell]) -> Option<&'a Cell> {
    let want = wanted_profile(cell)?;
    cells.iter().find(|c| c.coord == want)
}

/// The cells of a plan by coordinates, to find profile cells without a
/// scan per cell (a plan of many LUT cells would be quadratic).
pub struct Profiles<'a> {
    cells: &'a [Cell],
    by_coord: HashMap<&'a Coord, usize>,
}

impl<'a> Profiles<'a> {
    pub fn new(cells: &'a [Cell]) -> Self {
        let mut by_coord = HashMap::with_capacity(cells.len());
        for (i, c) in cells.iter().enumerate() {
            // The first cell of a coordinate, as `profile_of` finds it.
            by_coord.entry(&c.coord).or_insert(i);
        }
        Profiles { cells, by_coord }
    }

    /// The index of a cell's profile cell, when its strategy needs one and
    /// the plan has it.
    pub fn index_of(&self, cell: &Cell) -> Option<usize> {
        self.by_coord.get(&wanted_profile(cell)?).copied()
    }

    /// A cell's profile cell, as [`profile_of`].
    pub fn of(&self, cell: &Cell) -> Option<&'a Cell> {
        self.index_of(cell).map(|i| &self.cells[i])
    }
}

/// A profile's measurements: overall and per kernel index, measured
/// inferences only.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileStats {
    pub t_prod_mean: f64,
    pub t_ker_mean: f64,
    pub prod: Vec<f64>,
    pub ker: Vec<f64>,
}

/// Reads a profile cell's measurements from the result set.
pub fn profile_stats(s: &Scenario, out_dir: &Path, profile: &Cell) -> Result<ProfileStats, String> {
    let status = current_record(out_dir, profile).map(|r| r.status);
    if status != Some(Status::Ok) {
        return Err(format!(
            "its profile, cell {}, is {}: it must be ok first",
            profile.id,
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "not run".into())
        ));
    }
    let log = parse_log(s, &crate::layout::ResultDir::new(out_dir).cell(&profile.id))
        .ok_or_else(|| format!("the log of its profile, cell {}, is missing", profile.id))?;
    let (Some(t_prod_mean), Some(t_ker_mean)) = (log.t_prod.value(), log.t_ker.value()) else {
        return Err(format!(
            "its profile, cell {}, has no measured kernels",
            profile.id
        ));
    };
    let p = &log.profile;
    if !p.exact() {
        return Err(format!(
            "its profile, cell {}, has more than {} kernels per inference: a schedule is made for at most that many",
            profile.id,
            crate::ingest::digest::PROFILE_MAX
        ));
    }
    // Per kernel index from 0 (positions before the log's first index
    // have no record: the mean T_prod, and no device time).
    let lead = p.start as usize;
    let prod = std::iter::repeat_n(t_prod_mean, lead)
        .chain(
            p.buckets
                .iter()
                .map(|b| b.t_prod.value().unwrap_or(t_prod_mean)),
        )
        .collect();
    let ker = std::iter::repeat_n(0.0, lead)
        .chain(
            p.buckets
                .iter()
                .map(|b| if b.n > 0 { b.t_ker / b.n as f64 } else { 0.0 }),
        )
        .collect();
    Ok(ProfileStats {
        t_prod_mean,
        t_ker_mean,
        prod,
        ker,
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The static schedule of a profile (see the module docs).
pub fn static_schedule(p: &ProfileStats, lut: &Lut) -> (Vec<bool>, bool) {
    let n = p.prod.len();
    let mut flush = vec![false; n];
    let mut clamped = false;
    let k0 = lut.lookup(p.t_prod_mean, p.t_ker_mean).k.max(1) as usize;
    let mut i = 0;
    while i < n {
        let mut k = k0;
        for _ in 0..2 {
            let end = (i + k).min(n);
            let l = lut.lookup(mean(&p.prod[i..end]), mean(&p.ker[i..end]));
            clamped |= l.clamped;
            k = l.k.max(1) as usize;
        }
        let end = (i + k).min(n);
        flush[end - 1] = true;
        i = end;
    }
    (flush, clamped)
}

/// Chooses what a cell runs with. `lut` is the board's LUT when the
/// strategy needs one.
pub fn choose(
    s: &Scenario,
    out_dir: &Path,
    cells: &[Cell],
    cell: &Cell,
    lut: Option<&Lut>,
) -> Result<Choice, String> {
    let mut choice = Choice {
        k: cell.k,
        ..Choice::default()
    };
    match &cell.coord.strategy {
        Strategy::Constant(_) | Strategy::Static(_) => {
            let lut = lut.ok_or("no LUT for this board")?;
            let profile = profile_of(cell, cells).ok_or("its profile cell is not in the plan")?;
            // A cell of a round takes its profile's run of the same round.
            let profile = match cell.slot {
                Some(slot) => super::rounds::round_cell(profile, slot.round, 0),
                None => profile.clone(),
            };
            let stats = profile_stats(s, out_dir, &profile)?;
            let mut rec = KChoice {
                lut: Some(lut.hash.clone()),
                profile: Some(profile.id.clone()),
                t_prod_us: Some(stats.t_prod_mean),
                t_ker_us: Some(stats.t_ker_mean),
                ..KChoice::default()
            };
            if matches!(cell.coord.strategy, Strategy::Constant(_)) {
                let l = lut.lookup(stats.t_prod_mean, stats.t_ker_mean);
                choice.k = l.k;
                rec.k = Some(l.k);
                rec.clamped = l.clamped;
            } else {
                let (schedule, clamped) = static_schedule(&stats, lut);
                let mut size = 0;
                for f in &schedule {
                    size += 1;
                    if *f {
                        rec.batches.push(size);
                        size = 0;
                    }
                }
                rec.clamped = clamped;
                choice.k = 1;
                choice.schedule = Some(schedule);
            }
            choice.record = Some(rec);
        }
        Strategy::Dynamic => {
            let lut = lut.ok_or("no LUT for this board")?;
            choice.k = 1;
            choice.lut_text = Some(lut.to_text());
            choice.record = Some(KChoice {
                lut: Some(lut.hash.clone()),
                ..KChoice::default()
            });
        }
        _ => {}
    }
    Ok(choice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kstrategy::lut::{Lut, Point};

    #[test]
    fn a_static_schedule_follows_the_profile_segment_by_segment() {
        // Cheap kernels first (K = 2 in this LUT), expensive production later
        // (K = 4).
        let lut = Lut {
            points: vec![
                Point {
                    t_prod_us: 10.0,
                    t_ker_us: 100.0,
                    k_opt: 2,
                    latency_us: None,
                },
                Point {
                    t_prod_us: 100.0,
                    t_ker_us: 100.0,
                    k_opt: 4,
                    latency_us: None,
                },
            ],
            provenance: vec![],
            hash: "h".into(),
        };
        let p = ProfileStats {
            t_prod_mean: 10.0,
            t_ker_mean: 100.0,
            prod: vec![10.0, 10.0, 10.0, 10.0, 100.0, 100.0, 100.0, 100.0, 100.0],
            ker: vec![100.0; 9],
        };
        let (flush, clamped) = static_schedule(&p, &lut);
        let at: Vec<usize> = flush
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at, vec![1, 3, 7, 8]);
        assert!(!clamped);
    }
}
