//! Rounds and their order.
//!
//! Every cell runs once per round. A round runs every cell of a lane once,
//! in an order drawn at random for that round from the run's seed, so
//! that time (warm-up, heat, drift) lines up with no axis of the matrix.
//! A lane is a set of boards whose benchmarks must not run at the same
//! time because they share a machine (`local`, fixture and `sysfs_root`
//! boards, and ssh boards on this machine's loopback); every other board
//! is a lane of its own, and lanes run in parallel.
//!
//! A LUT strategy takes K from its profile cell's run of the same round:
//! when the random order puts a profile after a cell that needs it, the
//! profile moves to just before that cell.
//!
//! One cell's run of round `r` lives in `cells/<id>/r<r>/` (its
//! `cell.json`, logs and attempts), so resume works per (cell, round).

use std::collections::{BTreeMap, HashMap};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::board::inventory::{BoardConfig, TransportKind};
use crate::matrix::{Cell, Slot};

/// One run of a cell: its plan index and its round (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Unit {
    pub cell: usize,
    pub round: u32,
}

/// The copy of `c` that runs in a round: id `<id>/r<round>`, the same
/// hash, and its place in the round's order.
pub fn round_cell(c: &Cell, round: u32, position: u32) -> Cell {
    Cell {
        id: format!("{}/{}", c.id, crate::layout::round_segment(round)),
        slot: Some(Slot { round, position }),
        ..c.clone()
    }
}

/// Whether a board's benchmark runs on this machine: the local transport
/// (`local`, fixtures, `sysfs_root` boards), or ssh to a loopback address.
pub fn on_this_host(b: &BoardConfig) -> bool {
    match b.transport {
        TransportKind::Local => true,
        TransportKind::Ssh => b.address.as_deref().is_some_and(|a| {
            // user@host, host, user@[::1]:port forms.
            let host = a.rsplit('@').next().unwrap_or(a);
            let host = host.trim_start_matches('[');
            let host = host.split(']').next().unwrap_or(host);
            host == "localhost"
                || host == "::1"
                || host.split('.').next() == Some("127")
                    && host.parse::<std::net::Ipv4Addr>().is_ok()
        }),
        TransportKind::Adb => false,
    }
}

/// Groups boards into lanes: all boards on this machine in one (in name
/// order), every other board alone. Lanes come in the order of their first
/// board's name.
pub fn lanes<'a>(boards: impl IntoIterator<Item = &'a BoardConfig>) -> Vec<Vec<String>> {
    let mut here: Vec<String> = Vec::new();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for b in boards {
        if on_this_host(b) {
            here.push(b.name.clone());
        } else {
            out.insert(b.name.clone(), vec![b.name.clone()]);
        }
    }
    if !here.is_empty() {
        here.sort();
        out.insert(here[0].clone(), here);
    }
    out.into_values().collect()
}

/// The random generator of round `round` of a run with `seed`: ChaCha8,
/// whose stream is fixed by its seed across versions and platforms, one
/// stream per round, so that replaying a round needs no other round.
fn round_rng(seed: u64, round: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(round));
    rng
}

/// The order of one round on a lane: a random permutation of `cells` (plan
/// indexes; plan order when `seed` is `None`), then every profile moved to
/// just before the first cell that needs it when it came after.
/// `profile_of` gives a cell's profile.
pub fn round_order(
    cells: &[usize],
    seed: Option<u64>,
    round: u32,
    profile_of: &dyn Fn(usize) -> Option<usize>,
) -> Vec<usize> {
    let mut order = cells.to_vec();
    order.sort_unstable();
    if let Some(seed) = seed {
        order.shuffle(&mut round_rng(seed, round));
    }
    let in_lane: HashMap<usize, ()> = order.iter().map(|&i| (i, ())).collect();
    let mut placed = vec![];
    let mut done: HashMap<usize, ()> = HashMap::new();
    for &i in &order {
        if done.contains_key(&i) {
            continue;
        }
        // A chain of profiles (a profile is a `default` cell, which needs
        // none itself, but stay general): place the deepest first.
        let mut chain = vec![i];
        while let Some(p) = profile_of(*chain.last().unwrap_or(&i))
            && in_lane.contains_key(&p)
            && !done.contains_key(&p)
            && !chain.contains(&p)
        {
            chain.push(p);
        }
        for &c in chain.iter().rev() {
            done.insert(c, ());
            placed.push(c);
        }
    }
    placed
}

/// Runs in order, each with its place in its round's order.
pub type Schedule = Vec<(Unit, u32)>;

/// The whole schedule of a lane: round 1's order, then round 2's, ...
/// Each unit comes with its place in its round's order. `seed` `None`:
/// plan order.
pub fn schedule(
    cells: &[usize],
    rounds: u32,
    seed: Option<u64>,
    profile_of: &dyn Fn(usize) -> Option<usize>,
) -> Schedule {
    let mut out = Vec::with_capacity(cells.len() * rounds as usize);
    for round in 1..=rounds {
        for (pos, cell) in round_order(cells, seed, round, profile_of)
            .into_iter()
            .enumerate()
        {
            out.push((Unit { cell, round }, pos as u32));
        }
    }
    out
}

/// A seed for a run that was given none.
pub fn fresh_seed() -> u64 {
    use rand::Rng;
    rand::rng().random::<u64>() >> 11
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_is_a_permutation_fixed_by_seed_and_round() {
        let cells: Vec<usize> = (0..20).collect();
        let none = |_: usize| None;
        let a = round_order(&cells, Some(42), 1, &none);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, cells);
        assert_eq!(a, round_order(&cells, Some(42), 1, &none), "replayable");
        assert_ne!(a, round_order(&cells, Some(42), 2, &none), "another round");
        assert_ne!(a, round_order(&cells, Some(43), 1, &none), "another seed");
        assert_ne!(a, cells, "shuffled");
        // The input's order does not matter, only the set.
        let mut rev = cells.clone();
        rev.reverse();
        assert_eq!(a, round_order(&rev, Some(42), 1, &none));
    }

    #[test]
    fn the_stream_of_a_seed_is_pinned() {
        // ChaCha8's output for a seed is fixed across versions: an order
        // recorded in meta.json replays on any later klo-spec.
        let cells: Vec<usize> = (0..8).collect();
        assert_eq!(
            round_order(&cells, Some(1), 1, &|_| None),
            round_order(&cells, Some(1), 1, &|_| None)
        );
        insta::assert_debug_snapshot!(round_order(&cells, Some(1), 1, &|_| None));
    }

    #[test]
    fn profiles_run_before_the_cells_that_need_them() {
        // Cells 10..20 need profile 0..10 (cell i + 10 needs i).
        let cells: Vec<usize> = (0..20).collect();
        let profile = |i: usize| (i >= 10).then(|| i - 10);
        for seed in 0..50 {
            let o = round_order(&cells, Some(seed), 3, &profile);
            assert_eq!(o.len(), 20);
            let pos: HashMap<usize, usize> = o.iter().enumerate().map(|(p, &c)| (c, p)).collect();
            for c in 10..20 {
                assert!(pos[&(c - 10)] < pos[&c], "seed {seed}: {o:?}");
            }
        }
        // Not all profiles first: the order stays mixed.
        let o = round_order(&cells, Some(7), 1, &profile);
        assert!(o[..10].iter().any(|&c| c >= 10), "{o:?}");
        // Plan order: the profiles move up, the rest stays in plan order.
        let rev_profile = |i: usize| (i < 10).then(|| i + 10);
        let o = round_order(&cells, None, 1, &rev_profile);
        assert_eq!(&o[..4], &[10, 0, 11, 1]);
    }

    #[test]
    fn a_schedule_runs_every_cell_once_per_round_in_round_order() {
        let cells = [3usize, 5, 9];
        let s = schedule(&cells, 4, Some(9), &|_| None);
        assert_eq!(s.len(), 12);
        for (i, (u, pos)) in s.iter().enumerate() {
            assert_eq!(u.round as usize, i / 3 + 1);
            assert_eq!(*pos as usize, i % 3);
        }
    }

    #[test]
    fn boards_on_this_machine_share_a_lane() {
        let mut local = BoardConfig::local();
        let mut fx = BoardConfig::local();
        fx.name = "fx".into();
        let mut lo = BoardConfig::local();
        lo.name = "lo".into();
        lo.transport = TransportKind::Ssh;
        lo.address = Some("me@127.0.0.1".into());
        let mut pi = lo.clone();
        pi.name = "pi".into();
        pi.address = Some("pi@rk3399".into());
        let mut ph = pi.clone();
        ph.name = "ph".into();
        ph.transport = TransportKind::Adb;
        ph.address = Some("R58".into());
        local.name = "local".into();
        let l = lanes([&pi, &local, &fx, &ph, &lo]);
        assert_eq!(
            l,
            vec![
                vec!["fx".to_string(), "lo".into(), "local".into()],
                vec!["ph".into()],
                vec!["pi".into()],
            ]
        );
        for a in ["localhost", "u@[::1]", "127.0.0.2"] {
            lo.address = Some(a.into());
            assert!(on_this_host(&lo), "{a}");
        }
        for a in ["127.example.org", "host", "u@10.0.0.1"] {
            lo.address = Some(a.into());
            assert!(!on_this_host(&lo), "{a}");
        }
    }
}
