//! Validation of axis values (frequencies, strategies) and of the
//! selectors of `exclude`, `include` and `checks`.

use std::collections::{BTreeMap, HashSet};

use super::check::{Checker, MAX_K};
use super::raw::{self, Include, Selector};
use super::{CheckSpec, IncludeEntry, Pick};
use crate::axes::{Axis, AxisValue};
use crate::error::suggest;
use crate::scenario::{CpuFreq, FreqValue, GpuFreq, Strategy};

const CLUSTERS: [&str; 7] = ["all", "little", "mid", "big", "prime", "others", "policyN"];

pub(super) fn check_freq_value(c: &mut Checker, path: &str, v: &FreqValue) {
    match v {
        FreqValue::Percent(p) if *p > 100 => c.err(
            path,
            format!("{p}% is above 100%"),
            Some(
                "a percentage picks a frequency between the minimum (0%) and the maximum (100%)"
                    .into(),
            ),
        ),
        FreqValue::Khz(0) => c.err(
            path,
            "a frequency of 0 kHz is not a frequency",
            Some("use `min`, `max`, a kHz value such as 1804800, or a percentage".into()),
        ),
        FreqValue::Khz(k) if *k > 100_000_000 => c.err(
            path,
            format!("{k} kHz is above 100 GHz"),
            Some("frequencies are in kHz: 1.8 GHz is 1800000".into()),
        ),
        _ => {}
    }
}

pub(super) fn check_cpu_freq(c: &mut Checker, path: &str, f: &CpuFreq) {
    let CpuFreq::Clusters(map) = f else { return };
    if map.is_empty() {
        c.err(
            path,
            "an empty cluster map",
            Some("write `current`, or e.g. `{all: min}`".into()),
        );
    }
    for (cluster, v) in map {
        let vpath = format!("{path}.{cluster}");
        let valid = CLUSTERS.contains(&cluster.as_str())
            || cluster
                .strip_prefix("policy")
                .is_some_and(|n| !n.is_empty() && n.chars().all(|d| d.is_ascii_digit()));
        if !valid || cluster == "policyN" {
            let hint = match suggest(cluster, CLUSTERS.iter().copied()) {
                Some(s) => format!(
                    "did you mean `{s}`? Clusters: all, little, mid, big, prime, policy<N> (e.g. policy4), others"
                ),
                None => "clusters: all, little, mid, big, prime, policy<N> (e.g. policy4), others"
                    .into(),
            };
            c.err_key(
                path,
                cluster,
                format!("unknown cluster `{cluster}`"),
                Some(hint),
            );
            continue;
        }
        if cluster == "others" && *v != FreqValue::Keep {
            c.err(&vpath, "`others` can only be `keep`", Some("name the clusters you want to set; `others: keep` says the rest stay as they are".into()));
        } else if cluster != "others" && *v == FreqValue::Keep {
            c.err(
                &vpath,
                format!("`keep` is only for `others`, not for `{cluster}`"),
                Some("to leave a cluster as it is, leave it out and add `others: keep`; to leave the whole CPU, write `cpu_freq: current`".into()),
            );
        }
        check_freq_value(c, &vpath, v);
    }
    if map.contains_key("all") && map.len() > 1 {
        c.err(
            path,
            "`all` cannot be combined with other clusters",
            Some("use `{all: ...}` alone, or name each cluster".into()),
        );
    }
}

pub(super) fn check_gpu_freq(c: &mut Checker, path: &str, g: &GpuFreq) {
    match g {
        GpuFreq::Set(FreqValue::Keep) => c.err(
            path,
            "`keep` is not a GPU frequency",
            Some("to leave the GPU as it is, write `current`".into()),
        ),
        GpuFreq::Set(v) => check_freq_value(c, path, v),
        GpuFreq::Current => {}
    }
}

pub(super) fn check_strategy(c: &mut Checker, path: &str, s: &Strategy) {
    match s {
        Strategy::Default | Strategy::Dynamic => {}
        Strategy::Constant(p) | Strategy::Static(p) => {
            let key = if matches!(s, Strategy::Constant(_)) {
                "constant"
            } else {
                "static"
            };
            if let Some(f) = &p.cpu_freq {
                check_cpu_freq(c, &format!("{path}.{key}.cpu_freq"), f);
            }
            if let Some(g) = &p.gpu_freq {
                check_gpu_freq(c, &format!("{path}.{key}.gpu_freq"), g);
            }
        }
        Strategy::Search(sp) => {
            if sp.k_max < 2 || sp.k_max > MAX_K {
                c.err(
                    &format!("{path}.search.k_max"),
                    format!("k_max must be between 2 and {MAX_K}, got {}", sp.k_max),
                    Some("the search tries K = 1..=k_max".into()),
                );
            }
        }
        Strategy::Fixed(k) => {
            if *k == 0 || *k > MAX_K {
                c.err(
                    &format!("{path}.fixed"),
                    format!("K must be between 1 and {MAX_K}, got {k}"),
                    Some("K is the number of kernels between two flushes".into()),
                );
            }
        }
        Strategy::Sweep(sw) => {
            let kp = format!("{path}.sweep.k");
            if sw.k.is_empty() {
                c.err(
                    &kp,
                    "the sweep has no K values",
                    Some("e.g. `{sweep: {k: [1, 2, 4, 8, 16]}}`".into()),
                );
            }
            let mut seen = HashSet::new();
            for (i, k) in sw.k.iter().enumerate() {
                if *k == 0 || *k > MAX_K {
                    c.err(
                        &format!("{kp}[{i}]"),
                        format!("K must be between 1 and {MAX_K}, got {k}"),
                        Some("K is the number of kernels between two flushes".into()),
                    );
                } else if !seen.insert(k) {
                    c.err(
                        &format!("{kp}[{i}]"),
                        format!("K = {k} appears twice in the sweep"),
                        Some("list each K once: a repeat would be a duplicate cell".into()),
                    );
                }
            }
        }
    }
}

pub(super) struct PickContext<'a> {
    pub(super) boards: &'a [String],
    pub(super) loads: &'a BTreeMap<String, Option<raw::Load>>,
    pub(super) networks: &'a [String],
    pub(super) raw: &'a raw::RawScenario,
}

pub(super) fn check_selector(
    c: &mut Checker,
    ctx: &PickContext,
    path: &str,
    s: &Selector,
    allow_k: bool,
) -> Pick {
    let mut pairs = Vec::new();
    if let Some(b) = &s.board {
        if !ctx.boards.contains(b) {
            let known: Vec<&str> = ctx.boards.iter().map(String::as_str).collect();
            c.unknown(
                &format!("{path}.board"),
                "board",
                b,
                &known,
                "a board from `boards:`",
            );
        }
        pairs.push((Axis::Board, AxisValue::Name(b.clone())));
    }
    if let Some(l) = &s.load {
        if !ctx.loads.contains_key(l) {
            let known: Vec<&str> = ctx.loads.keys().map(String::as_str).collect();
            c.unknown(
                &format!("{path}.load"),
                "load",
                l,
                &known,
                "loads are defined under `loads:`",
            );
        }
        pairs.push((Axis::Load, AxisValue::Name(l.clone())));
    }
    if let Some(f) = &s.cpu_freq {
        check_cpu_freq(c, &format!("{path}.cpu_freq"), f);
        pairs.push((Axis::CpuFreq, AxisValue::Cpu(f.clone())));
    }
    if let Some(g) = &s.gpu_freq {
        check_gpu_freq(c, &format!("{path}.gpu_freq"), g);
        pairs.push((Axis::GpuFreq, AxisValue::Gpu(*g)));
    }
    if let Some(n) = &s.network {
        if !ctx.networks.contains(n) {
            let known: Vec<&str> = ctx.networks.iter().map(String::as_str).collect();
            c.unknown(
                &format!("{path}.network"),
                "network",
                n,
                &known,
                "a network from `networks:`",
            );
        }
        pairs.push((Axis::Network, AxisValue::Name(n.clone())));
    }
    if let Some(st) = &s.strategy {
        check_strategy(c, &format!("{path}.strategy"), st);
        pairs.push((Axis::Strategy, AxisValue::Strategy(st.clone())));
    }
    if let Some(n) = &s.knobs {
        super::check::check_knob_set_name(c, &format!("{path}.knobs"), n, ctx.raw);
        pairs.push((Axis::Knobs, AxisValue::Name(n.clone())));
    }
    if let Some(k) = s.k {
        if !allow_k {
            c.err_key(
                path,
                "k",
                "`k` can only pick cells in checks",
                Some(
                    "to drop some K values of a sweep, list only the K values you want in it"
                        .into(),
                ),
            );
        } else if k == 0 || k > MAX_K {
            c.err(
                &format!("{path}.k"),
                format!("K must be between 1 and {MAX_K}, got {k}"),
                Some("K is the number of kernels between two flushes".into()),
            );
        }
    }
    Pick {
        pairs,
        k: s.k,
        path: path.to_string(),
    }
}

pub(super) fn check_include(
    c: &mut Checker,
    ctx: &PickContext,
    i: usize,
    e: &Include,
) -> IncludeEntry {
    let path = format!("include[{i}]");
    let sel = Selector {
        board: e.board.clone(),
        load: e.load.clone(),
        cpu_freq: e.cpu_freq.clone(),
        gpu_freq: e.gpu_freq,
        network: e.network.clone(),
        strategy: e.strategy.clone(),
        knobs: e.knobs.clone(),
        k: None,
    };
    let pick = check_selector(c, ctx, &path, &sel, false);
    if let Some(it) = e.iterations {
        c.range(
            &format!("{path}.iterations"),
            "`iterations`",
            it,
            2,
            100_000,
        );
    }
    if let Some(t) = e.timeout_s {
        c.range(&format!("{path}.timeout_s"), "`timeout_s`", t, 1, 86_400);
    }
    if pick.pairs.is_empty() && e.iterations.is_none() && e.timeout_s.is_none() {
        c.err(
            &path,
            "an empty `include` entry",
            Some("give axis values and/or `iterations`/`timeout_s`".into()),
        );
    }
    IncludeEntry {
        pick,
        iterations: e.iterations,
        timeout_s: e.timeout_s,
    }
}

pub(super) fn check_checks(
    c: &mut Checker,
    ctx: &PickContext,
    checks: &[raw::Check],
) -> Vec<CheckSpec> {
    let mut ids = HashSet::new();
    let mut out = Vec::new();
    for (i, ch) in checks.iter().enumerate() {
        let path = format!("checks[{i}]");
        if c.slug(&format!("{path}.id"), "check id", &ch.id) && !ids.insert(ch.id.clone()) {
            c.err(
                &format!("{path}.id"),
                format!("check id `{}` is used twice", ch.id),
                None,
            );
        }
        let a = check_selector(c, ctx, &format!("{path}.a"), &ch.a, true);
        let b = check_selector(c, ctx, &format!("{path}.b"), &ch.b, true);
        if a.pairs.is_empty() && a.k.is_none() {
            c.err(
                &format!("{path}.a"),
                "`a` picks nothing",
                Some("give the axis values of one side, e.g. `a: {load: heavy}`".into()),
            );
        }
        if b.pairs.is_empty() && b.k.is_none() {
            c.err(
                &format!("{path}.b"),
                "`b` picks nothing",
                Some("give the axis values of the other side, e.g. `b: {load: none}`".into()),
            );
        }
        if a.pairs == b.pairs && a.k == b.k && !a.pairs.is_empty() {
            c.err(
                &path,
                "`a` and `b` pick the same cells",
                Some("a check compares two different conditions".into()),
            );
        }
        c.range(
            &format!("{path}.tolerance"),
            "`tolerance`",
            ch.tolerance,
            0.0,
            10.0,
        );
        c.range(
            &format!("{path}.alpha"),
            "`alpha`",
            ch.alpha,
            0.000_001,
            0.5,
        );
        out.push(CheckSpec {
            id: ch.id.clone(),
            title: ch.title.clone(),
            metric: ch.metric,
            kind: ch.kind,
            a,
            b,
            tolerance: ch.tolerance,
            alpha: ch.alpha,
            path,
        });
    }
    out
}
