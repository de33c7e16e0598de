//! The checklist: each check's comparisons, decided on per-round figures.
//!
//! For a comparison of cell a with cell b, each side gives one figure per
//! ok round (`Inputs::per_round`). Positive figures compare as ratios, on
//! the log scale:
//!
//! - paired by round when both ran ok in at least two of the same rounds:
//!   d[r] = ln a[r] - ln b[r], a one-sample t test on d (df = n - 1);
//! - otherwise Welch's t on the two sides' logs (Welch-Satterthwaite df).
//!
//! A speedup is taken per round against the condition's `default` cell of
//! that round, so a baseline both sides share cancels exactly. The ratio
//! shown is exp(mean d), the ratio the test tested, with its 95% interval;
//! the means shown are geometric means over the rounds tested, so that
//! mean_a / mean_b is that ratio. A figure that can be 0 (T_idle) falls back
//! to the difference scale.
//!
//! Verdicts (margin delta = ln(1 + tolerance)), on p-values Holm-adjusted
//! over the groups of one check:
//!
//! | kind    | PASS                         | FAIL                                                    |
//! |---------|------------------------------|---------------------------------------------------------|
//! | differ  | two-sided p < alpha          | the (1 - 2 alpha) interval inside (-delta, delta)        |
//! | lower   | one-sided p < alpha          | significantly higher, or the interval inside the margin |
//! | higher  | mirror of lower              | mirror of lower                                         |
//! | similar | TOST p < alpha               | the (1 - 2 alpha) interval entirely outside the margin  |
//!
//! Anything else is INCONCLUSIVE, with the minimum detectable effect at the
//! observed noise and the rounds that would detect the observed effect.
//! Benjamini-Hochberg q-values over the whole checklist are shown beside.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;

use super::Inputs;
use super::stats::{self, TTest};
use crate::matrix::groups::{check_pairs, condition_key};
use crate::rows::ChecklistRow;
pub use crate::rows::{CheckTotal, Verdict};
use crate::scenario::{CheckKind, CheckSpec, Metric, Strategy};

/// Power at which the minimum detectable effect and the rounds needed are
/// given.
pub const POWER: f64 = 0.8;
/// Rounds beyond which `rounds_needed` says "more than".
pub const MAX_ROUNDS_NEEDED: u32 = 1000;

/// The id of the A/A check that heads a checklist.
pub const AA_ID: &str = "AA";

/// A comparison of two sides' per-round figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub test: TTest,
    /// Paired by round (else Welch).
    pub paired: bool,
    /// On the log scale (else the difference scale).
    pub log: bool,
    /// Rounds of each side used (equal when paired).
    pub n_a: usize,
    pub n_b: usize,
    /// Means of the rounds used: geometric on the log scale.
    pub mean_a: f64,
    pub mean_b: f64,
    /// Hodges-Lehmann estimate of the difference (estimate's scale).
    pub hl: Option<f64>,
    /// The spread of one round's difference (paired), or of a difference
    /// of one round from each side (Welch): what more rounds divide.
    pub sd_unit: f64,
}

impl Comparison {
    /// Compares `a` with `b` (figures by round); `None` when a side has
    /// fewer than 2 rounds.
    pub fn new(a: &BTreeMap<u32, f64>, b: &BTreeMap<u32, f64>) -> Option<Comparison> {
        let log = a.values().chain(b.values()).all(|v| *v > 0.0);
        let tr = |v: f64| if log { v.ln() } else { v };
        let common: Vec<u32> = a.keys().filter(|r| b.contains_key(r)).copied().collect();
        let center = |v: &[f64]| {
            let m = stats::mean(v);
            if log { m.exp() } else { m }
        };
        if common.len() >= 2 {
            let la: Vec<f64> = common.iter().map(|r| tr(a[r])).collect();
            let lb: Vec<f64> = common.iter().map(|r| tr(b[r])).collect();
            let d: Vec<f64> = la.iter().zip(&lb).map(|(x, y)| x - y).collect();
            let test = TTest::paired(&d)?;
            return Some(Comparison {
                test,
                paired: true,
                log,
                n_a: common.len(),
                n_b: common.len(),
                mean_a: center(&la),
                mean_b: center(&lb),
                hl: stats::hodges_lehmann_paired(&d),
                sd_unit: stats::sd(&d),
            });
        }
        let la: Vec<f64> = a.values().map(|v| tr(*v)).collect();
        let lb: Vec<f64> = b.values().map(|v| tr(*v)).collect();
        let test = TTest::welch(&la, &lb)?;
        Some(Comparison {
            test,
            paired: false,
            log,
            n_a: la.len(),
            n_b: lb.len(),
            mean_a: center(&la),
            mean_b: center(&lb),
            hl: stats::hodges_lehmann_shift(&la, &lb),
            sd_unit: (stats::variance(&la) + stats::variance(&lb)).sqrt(),
        })
    }

    /// An estimate-scale value as a ratio a / b.
    pub fn ratio(&self, x: f64) -> f64 {
        if self.log {
            x.exp()
        } else {
            1.0 + x / self.mean_b
        }
    }

    /// The margin of a relative tolerance on the estimate's scale.
    pub fn margin(&self, tolerance: f64) -> f64 {
        if self.log {
            (1.0 + tolerance).ln()
        } else {
            tolerance * self.mean_b.abs()
        }
    }

    /// The test's name for the table.
    pub fn name(&self) -> String {
        format!(
            "{} t{}",
            if self.paired { "paired" } else { "welch" },
            if self.log { " (log)" } else { "" }
        )
    }

    /// The rounds column: `5` paired, `4+5` unpaired.
    pub fn rounds(&self) -> String {
        if self.paired {
            self.n_a.to_string()
        } else {
            format!("{}+{}", self.n_a, self.n_b)
        }
    }

    /// P-value of the hypothesis a check of `kind` states, and of the
    /// opposite direction (directional kinds; else NaN).
    pub fn p_values(&self, kind: CheckKind, tolerance: f64) -> (f64, f64) {
        let t = &self.test;
        match kind {
            CheckKind::Differ => (t.p_two(), f64::NAN),
            CheckKind::Lower => (t.p_less(), t.p_greater()),
            CheckKind::Higher => (t.p_greater(), t.p_less()),
            CheckKind::Similar => (t.p_equivalent(self.margin(tolerance)), f64::NAN),
        }
    }

    /// The one-tail level a directional or two-sided test of `kind` uses.
    fn alpha_side(kind: CheckKind, alpha: f64) -> f64 {
        match kind {
            CheckKind::Differ | CheckKind::Similar => alpha / 2.0,
            CheckKind::Lower | CheckKind::Higher => alpha,
        }
    }

    /// Decides a check of `kind` on this comparison, given its p-values
    /// after adjustment (see the module docs).
    pub fn decide(
        &self,
        kind: CheckKind,
        tolerance: f64,
        alpha: f64,
        p_adj: f64,
        p_other_adj: f64,
    ) -> (Verdict, String) {
        let delta = self.margin(tolerance);
        let (lo, hi) = self.test.ci(1.0 - 2.0 * alpha);
        let inside = -delta < lo && hi < delta;
        let outside = lo >= delta || hi <= -delta;
        let tol_pct = tolerance * 100.0;
        let equivalent = format!(
            "equivalent within {tol_pct:.0}%: the {:.0}% interval of the ratio is inside it",
            100.0 * (1.0 - 2.0 * alpha)
        );
        match kind {
            CheckKind::Differ if p_adj < alpha => (Verdict::Pass, String::new()),
            CheckKind::Differ if inside => (Verdict::Fail, equivalent),
            CheckKind::Differ => (
                Verdict::Inconclusive,
                format!("neither different nor equivalent within {tol_pct:.0}%"),
            ),
            CheckKind::Lower | CheckKind::Higher => {
                let other = if kind == CheckKind::Lower {
                    "higher"
                } else {
                    "lower"
                };
                if p_adj < alpha {
                    (Verdict::Pass, String::new())
                } else if p_other_adj < alpha {
                    (Verdict::Fail, format!("a is significantly {other} than b"))
                } else if inside {
                    (Verdict::Fail, equivalent)
                } else {
                    (Verdict::Inconclusive, "no significant difference".into())
                }
            }
            CheckKind::Similar if p_adj < alpha => (Verdict::Pass, equivalent),
            CheckKind::Similar if outside => (
                Verdict::Fail,
                format!(
                    "differ by more than {tol_pct:.0}%: the {:.0}% interval of the ratio lies outside it",
                    100.0 * (1.0 - 2.0 * alpha)
                ),
            ),
            CheckKind::Similar => (
                Verdict::Inconclusive,
                format!("not shown equivalent within {tol_pct:.0}%"),
            ),
        }
    }

    /// What would decide an INCONCLUSIVE row: the minimum detectable
    /// effect (a relative change, 0.1 = 10%) at power [`POWER`], and the
    /// rounds that would detect the observed effect (None above
    /// [`MAX_ROUNDS_NEEDED`]).
    pub fn what_would_decide(&self, kind: CheckKind, alpha: f64) -> (f64, Option<u32>) {
        let side = Self::alpha_side(kind, alpha);
        let mde = self.test.mde(side, POWER);
        let mde_rel = (self.ratio(mde) - 1.0).abs();
        let needed =
            stats::rounds_needed(self.sd_unit, self.test.est, side, POWER, MAX_ROUNDS_NEEDED);
        (mde_rel, needed)
    }
}

/// The frequency axis in which cells `a` and `b` differ (their own settings
/// or those their K was chosen at), when the board could not make that
/// difference real: the setting was left at the board's current one, or
/// the board only plays frequencies on a sysfs tree while the benchmark
/// runs at this machine's speed. Their comparison then says nothing about
/// frequency; the reason is returned.
fn frequency_not_real(inp: &Inputs, a: usize, b: usize) -> Option<String> {
    let settings = |i: usize| {
        let c = &inp.cells[i].coord;
        let from = match &c.strategy {
            Strategy::Constant(f) | Strategy::Static(f) => Some(f),
            _ => None,
        };
        let cpu = from.and_then(|f| f.cpu_freq.clone());
        let gpu = from.and_then(|f| f.gpu_freq);
        (
            (
                c.cpu_freq.clone(),
                cpu.unwrap_or_else(|| c.cpu_freq.clone()),
            ),
            (c.gpu_freq, gpu.unwrap_or(c.gpu_freq)),
        )
    };
    let left = |axis: &str| {
        [a, b]
            .iter()
            .any(|&i| inp.runs[i].iter().any(|r| r.record.pins.left_unset(axis)))
    };
    let (sa, sb) = (settings(a), settings(b));
    let board = &inp.cells[a].coord.board;
    let differs: Vec<&str> = [("cpu_freq", sa.0 != sb.0), ("gpu_freq", sa.1 != sb.1)]
        .into_iter()
        .filter(|(_, d)| *d)
        .map(|(x, _)| x)
        .collect();
    for axis in &differs {
        if left(axis) {
            return Some(format!(
                "{axis} was not applied on board `{board}` (left at its current setting): a and b ran at the same frequencies"
            ));
        }
    }
    if !differs.is_empty() && inp.played_freq.contains(board) {
        return Some(format!(
            "{} on board `{board}` is played on a sysfs tree: the benchmark ran at this machine's own speed in a and b",
            differs.join(" and ")
        ));
    }
    None
}

/// One row of the checklist before the p-values of its family are
/// adjusted.
struct Pending {
    check: usize,
    group: String,
    a: usize,
    b: usize,
    /// The comparison, or why there is none.
    cmp: Result<Comparison, String>,
    /// Raw p of the check's hypothesis and of the opposite direction.
    p: f64,
    p_other: f64,
}

/// One comparison of a check: its group and the indexes of cells a and b.
type GroupPair = (String, usize, usize);

/// The checks of a plan, each with its comparisons.
type Checks = Vec<(CheckSpec, Vec<GroupPair>)>;

/// The A/A pairs of a plan: in each condition, the cells that run with the
/// same fixed K under two names (`default` is K = 1, `{fixed: K}`, a
/// sweep's K). Each pair is (first by id, another).
pub fn aa_pairs(inp: &Inputs) -> Vec<(usize, usize)> {
    let mut by: BTreeMap<(String, u32), Vec<usize>> = BTreeMap::new();
    for (i, c) in inp.cells.iter().enumerate() {
        if matches!(
            c.coord.strategy,
            Strategy::Default | Strategy::Fixed(_) | Strategy::Sweep(_)
        ) && c.k > 0
        {
            by.entry((condition_key(c), c.k)).or_default().push(i);
        }
    }
    let mut pairs = Vec::new();
    for (_, mut v) in by {
        v.sort_by(|x, y| inp.cells[*x].id.cmp(&inp.cells[*y].id));
        for &j in &v[1..] {
            pairs.push((v[0], j));
        }
    }
    pairs
}

/// The checks of a plan, each with its comparisons: the A/A check first
/// (latency, similar, 5%, 0.05) when the plan has A/A pairs and the
/// scenario asks for the noise floor, then the scenario's. Also the A/A
/// pairs.
fn checks_of(inp: &Inputs) -> Result<(Checks, Vec<(usize, usize)>)> {
    let mut specs: Checks = Vec::new();
    let aa = if inp.scenario.noise_floor == crate::scenario::raw::NoiseFloor::Auto {
        aa_pairs(inp)
    } else {
        Vec::new()
    };
    if !aa.is_empty() {
        let spec = CheckSpec {
            id: AA_ID.into(),
            title: "A/A: do two names for identical settings agree (the noise floor)?".into(),
            metric: Metric::Latency,
            kind: CheckKind::Similar,
            a: crate::scenario::Pick::default(),
            b: crate::scenario::Pick::default(),
            tolerance: 0.05,
            alpha: 0.05,
            path: String::new(),
        };
        let pairs = aa
            .iter()
            .map(|&(a, b)| {
                let c = &inp.cells[a];
                (format!("{}/k{}", condition_key(c), c.k), b, a)
            })
            .collect();
        specs.push((spec, pairs));
    }
    for check in &inp.scenario.checks {
        let pairs = check_pairs(check, inp.cells)
            .map_err(|e| anyhow::anyhow!("check {}: {}", check.id, e.message))?;
        specs.push((
            check.clone(),
            pairs.into_iter().map(|p| (p.group, p.a, p.b)).collect(),
        ));
    }
    Ok((specs, aa))
}

/// The comparison of cells `a` and `b` on `check`'s metric, or why there
/// is none. `base(i)` is cell i's speedup baseline.
fn compare_cells(
    inp: &Inputs,
    check: &CheckSpec,
    a: usize,
    b: usize,
    base: &dyn Fn(usize) -> Option<usize>,
) -> Result<Comparison, String> {
    let figures = |i: usize| inp.per_round(i, check.metric, base(i));
    if check.metric == Metric::Speedup && (base(a).is_none() || base(b).is_none()) {
        return Err("no ok `default` cell to compute the speedup against".to_string());
    }
    if let Some(why) = frequency_not_real(inp, a, b) {
        return Err(why);
    }
    let (fa, fb) = (figures(a), figures(b));
    if fa.len() < 2 || fb.len() < 2 {
        let st = |i: usize, n: usize| format!("{} ({n} ok round(s))", inp.status(i));
        return Err(format!(
            "too few ok rounds to test: a is {}, b is {}; a check needs 2 rounds a side",
            st(a, fa.len()),
            st(b, fb.len())
        ));
    }
    Comparison::new(&fa, &fb).ok_or_else(|| "a figure is not finite".to_string())
}

/// Every comparison of every check, its p-values not yet adjusted.
fn pending(
    inp: &Inputs,
    specs: &[(CheckSpec, Vec<GroupPair>)],
    base: &dyn Fn(usize) -> Option<usize>,
) -> Vec<Pending> {
    let mut pending: Vec<Pending> = Vec::new();
    for (ci, (check, pairs)) in specs.iter().enumerate() {
        for (group, a, b) in pairs {
            let (a, b) = (*a, *b);
            let cmp = compare_cells(inp, check, a, b, base);
            let (p, p_other) = match &cmp {
                // The A/A check also asks whether the two names differ.
                Ok(c) if check.id == AA_ID => {
                    (c.p_values(check.kind, check.tolerance).0, c.test.p_two())
                }
                Ok(c) => c.p_values(check.kind, check.tolerance),
                Err(_) => (f64::NAN, f64::NAN),
            };
            pending.push(Pending {
                check: ci,
                group: group.clone(),
                a,
                b,
                cmp,
                p,
                p_other,
            });
        }
    }
    pending
}

/// The adjusted p-values of each pending row: Holm within each check (of
/// its hypothesis and of the opposite direction), Benjamini-Hochberg over
/// the checklist (the A/A check aside).
struct Adjusted {
    p_holm: Vec<f64>,
    p_other_holm: Vec<f64>,
    q_bh: Vec<f64>,
}

fn adjust(specs: &[(CheckSpec, Vec<GroupPair>)], pending: &[Pending]) -> Adjusted {
    let mut p_holm = vec![f64::NAN; pending.len()];
    let mut p_other_holm = vec![f64::NAN; pending.len()];
    for ci in 0..specs.len() {
        let idx: Vec<usize> = (0..pending.len())
            .filter(|&i| pending[i].check == ci)
            .collect();
        let h = stats::holm(&idx.iter().map(|&i| pending[i].p).collect::<Vec<_>>());
        let ho = stats::holm(&idx.iter().map(|&i| pending[i].p_other).collect::<Vec<_>>());
        for (k, &i) in idx.iter().enumerate() {
            p_holm[i] = h[k];
            p_other_holm[i] = ho[k];
        }
    }
    let family: Vec<usize> = (0..pending.len())
        .filter(|&i| specs[pending[i].check].0.id != AA_ID)
        .collect();
    let q = stats::benjamini_hochberg(&family.iter().map(|&i| pending[i].p).collect::<Vec<_>>());
    let mut q_bh = vec![f64::NAN; pending.len()];
    for (k, &i) in family.iter().enumerate() {
        q_bh[i] = q[k];
    }
    Adjusted {
        p_holm,
        p_other_holm,
        q_bh,
    }
}

/// The verdict of a pending row on `check`, its note, and whether it is an
/// A/A pair that was tested and whether it differs.
fn verdict_of(
    row: &Pending,
    check: &CheckSpec,
    p_holm: f64,
    p_other_holm: f64,
) -> (Verdict, String, bool, bool) {
    let c = match &row.cmp {
        Err(why) => return (Verdict::Inconclusive, why.clone(), false, false),
        Ok(c) => c,
    };
    let (mut v, mut note) = c.decide(
        check.kind,
        check.tolerance,
        check.alpha,
        p_holm,
        p_other_holm,
    );
    if check.id != AA_ID {
        return (v, note, false, false);
    }
    // Two names for one setting that differ: the environment moved
    // between them.
    let differ = v != Verdict::Pass && p_other_holm < check.alpha;
    if differ {
        v = Verdict::Fail;
        note = format!(
            "identical settings differ by {:.1}% (p {:.2e}): the environment was not stable",
            (c.ratio(c.test.est) - 1.0) * 100.0,
            c.test.p_two()
        );
    }
    (v, note, true, differ)
}

/// The checklist row of a pending comparison, with its verdict and note.
fn checklist_row(
    inp: &Inputs,
    check: &CheckSpec,
    row: &Pending,
    (p_holm, q_bh): (f64, f64),
    verdict: Verdict,
    note: String,
) -> ChecklistRow {
    let opt = |x: f64| (!x.is_nan()).then_some(x);
    let cmp = row.cmp.as_ref().ok();
    let (mde, needed) = match (verdict, cmp) {
        (Verdict::Inconclusive, Some(c)) if check.kind != CheckKind::Similar => {
            let (m, n) = c.what_would_decide(check.kind, check.alpha);
            (
                Some(100.0 * m),
                n.map(|n| n.to_string())
                    .unwrap_or_else(|| format!(">{MAX_ROUNDS_NEEDED}")),
            )
        }
        _ => (None, String::new()),
    };
    let ci = cmp.map(|c| c.test.ci(0.95));
    ChecklistRow {
        check: check.id.clone(),
        title: check.title.clone(),
        group: row.group.clone(),
        metric: check.metric.name().into(),
        kind: check.kind.name().into(),
        a: inp.cells[row.a].id.clone(),
        b: inp.cells[row.b].id.clone(),
        rounds: cmp.map(|c| c.rounds()).unwrap_or_default(),
        test: cmp.map(|c| c.name()).unwrap_or_default(),
        mean_a: cmp.map(|c| c.mean_a),
        mean_b: cmp.map(|c| c.mean_b),
        ratio: cmp.map(|c| c.ratio(c.test.est)),
        ratio_ci_low: cmp.zip(ci).map(|(c, ci)| c.ratio(ci.0)),
        ratio_ci_high: cmp.zip(ci).map(|(c, ci)| c.ratio(ci.1)),
        hl_ratio: cmp.and_then(|c| c.hl.map(|h| c.ratio(h))),
        df: cmp.map(|c| c.test.df),
        p_value: opt(row.p),
        p_holm: opt(p_holm),
        q_bh: opt(q_bh),
        verdict,
        mde_pct: mde,
        rounds_needed: needed,
        note,
    }
}

/// The noise-floor line of an A/A check over `pairs` pairs.
fn noise_floor(pairs: usize, tested: usize, differ: usize) -> String {
    if differ > 0 {
        format!(
            "A/A: {differ} of {pairs} pairs of identical settings differ: the environment was NOT stable during this run; treat every verdict with suspicion"
        )
    } else {
        format!(
            "A/A: {pairs} pair(s) of identical settings under two names, {tested} tested, none differ"
        )
    }
}

/// The checklist's rows, its totals, and the noise-floor line when an A/A
/// check ran.
pub(super) fn checklist(
    inp: &Inputs,
) -> Result<(Vec<ChecklistRow>, Vec<CheckTotal>, Option<String>)> {
    // The `default` cell of each condition with an ok round: the speedup
    // baseline.
    let default_of: HashMap<String, usize> = inp
        .cells
        .iter()
        .enumerate()
        .filter(|(i, c)| c.coord.strategy == Strategy::Default && inp.any_ok(*i))
        .map(|(i, c)| (condition_key(c), i))
        .collect();
    let base = |i: usize| default_of.get(&condition_key(&inp.cells[i])).copied();
    let (specs, aa) = checks_of(inp)?;
    let pending = pending(inp, &specs, &base);
    let adj = adjust(&specs, &pending);

    let mut rows = Vec::with_capacity(pending.len());
    let mut totals: Vec<CheckTotal> = specs
        .iter()
        .map(|(c, _)| CheckTotal::new(&c.id, &c.title))
        .collect();
    let (mut aa_tested, mut aa_differ) = (0, 0);
    for (i, row) in pending.iter().enumerate() {
        let check = &specs[row.check].0;
        let (verdict, note, tested, differ) =
            verdict_of(row, check, adj.p_holm[i], adj.p_other_holm[i]);
        aa_tested += usize::from(tested);
        aa_differ += usize::from(differ);
        totals[row.check].add(verdict);
        rows.push(checklist_row(
            inp,
            check,
            row,
            (adj.p_holm[i], adj.q_bh[i]),
            verdict,
            note,
        ));
    }
    let floor =
        (aa_tested > 0 || !aa.is_empty()).then(|| noise_floor(aa.len(), aa_tested, aa_differ));
    Ok((rows, totals, floor))
}
