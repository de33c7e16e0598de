//! The board knobs of a scenario: the top-level `kgsl`, `cpuidle`,
//! `devfreq` and `mali`, and the named `knob_sets` the `knobs` axis picks
//! from. Both are checked by the same code, so a problem in a set is
//! located at `knob_sets.NAME.<key>` and reads like one at the top.

use std::collections::{BTreeMap, HashSet};

use super::Knobs;
use super::check::Checker;
use super::raw::{self, KgslKnobs, MaliKnobs};
use crate::axes::STOCK_KNOBS;
use crate::axes::freq::{DevfreqSetting, FreqValue};

/// The knobs as written at `prefix` (`""` for the top level,
/// `knob_sets.NAME.` for a set), checked.
pub(super) fn check_knobs(
    c: &mut Checker,
    prefix: &str,
    kgsl: Option<KgslKnobs>,
    cpuidle: &Option<BTreeMap<String, u32>>,
    devfreq: &Option<DevfreqSetting>,
    mali: &Option<MaliKnobs>,
) -> Knobs {
    let kgsl = kgsl.unwrap_or_default();
    for (name, v) in kgsl.given() {
        let max = if name == "idle_timer" { 3_600_000 } else { 1 };
        c.range(
            &format!("{prefix}kgsl.{name}"),
            &format!("`{name}`"),
            v,
            0,
            max,
        );
    }
    let devfreq = check_devfreq(c, prefix, devfreq);
    if let Some(policy) = mali.as_ref().and_then(|m| m.power_policy.as_ref())
        && (policy.is_empty()
            || !policy
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        c.err(
            &format!("{prefix}mali.power_policy"),
            format!("`{policy}` is not a power policy name"),
            Some("give one of the names the board's power_policy file lists, e.g. `always_on` or `coarse_demand` (`klo-spec board probe BOARD` shows them)".into()),
        );
    }
    if let Some(idle) = cpuidle {
        check_cpuidle(c, prefix, idle);
    }
    Knobs {
        kgsl,
        cpuidle: cpuidle.clone(),
        devfreq,
        mali: mali.clone().unwrap_or_default(),
    }
}

fn check_devfreq(
    c: &mut Checker,
    prefix: &str,
    setting: &Option<DevfreqSetting>,
) -> Vec<(String, FreqValue, globset::GlobMatcher)> {
    let mut devfreq = Vec::new();
    let key = format!("{prefix}devfreq");
    for (glob, value) in setting.iter().flat_map(|d| d.0.iter()) {
        let path = format!("{key}.{glob}");
        if *value == FreqValue::Keep {
            c.err(&path, "`keep` is not a devfreq value", Some("give `min`, `max`, a value the device lists, or a percentage (`50%`); leave the device out to keep it as it is".into()));
            continue;
        }
        match globset::Glob::new(glob) {
            Ok(g) if !glob.trim().is_empty() => devfreq.push((glob.clone(), *value, g.compile_matcher())),
            _ => c.err_key(
                &key,
                glob,
                format!("`{glob}` is not a glob on devfreq device names"),
                Some("`*ddr*`, `*bw*`, `soc:qcom,cpu-llcc-ddr-bw` (`klo-spec board probe BOARD` lists the devices)".into()),
            ),
        }
    }
    if setting.as_ref().is_some_and(|d| d.0.is_empty()) {
        c.err(&key, "`devfreq` is empty", Some("name a device glob and a value, e.g. `devfreq: {\"*ddr*\": max}`, or leave `devfreq` out".into()));
    }
    devfreq
}

fn check_cpuidle(c: &mut Checker, prefix: &str, idle: &BTreeMap<String, u32>) {
    let key = format!("{prefix}cpuidle");
    if idle.is_empty() {
        c.err(
            &key,
            "`cpuidle` is empty",
            Some("name a cluster and the deepest idle state to keep, e.g. `cpuidle: {all: 0}`, or leave `cpuidle` out".into()),
        );
    }
    for (cluster, deepest) in idle {
        let path = format!("{key}.{cluster}");
        let known = matches!(cluster.as_str(), "all" | "little" | "mid" | "big" | "prime")
            || cluster
                .strip_prefix("mid")
                .is_some_and(|n| n.parse::<u32>().is_ok())
            || cluster
                .strip_prefix("policy")
                .is_some_and(|n| n.parse::<u32>().is_ok());
        if !known {
            c.err_key(
                &key,
                cluster,
                format!("`{cluster}` is not a cluster"),
                Some("clusters: `all`, `little`, `mid`, `big`, `prime`, `policyN` (`klo-spec board probe BOARD` lists a board's)".into()),
            );
        }
        c.range(&path, &format!("`cpuidle.{cluster}`"), *deepest, 0, 9);
    }
}

/// `knob_sets`: names that can be id segments, distinct ignoring case, not
/// `stock`, each setting something.
pub(super) fn check_knob_sets(
    c: &mut Checker,
    raw: &BTreeMap<String, raw::KnobSet>,
) -> BTreeMap<String, Knobs> {
    let mut sets = BTreeMap::new();
    let mut lower = HashSet::new();
    for (name, set) in raw {
        let path = format!("knob_sets.{name}");
        if !c.slug(&path, "knob set name", name) {
            continue;
        }
        if name.eq_ignore_ascii_case(STOCK_KNOBS) {
            c.err(
                &path,
                format!("`{STOCK_KNOBS}` is the built-in knob set (the scenario's own knobs) and cannot be defined"),
                Some("give this set another name, e.g. `no_deep_idle`; the scenario's top-level `cpuidle`, `devfreq`, `kgsl` and `mali` are what `stock` sets".into()),
            );
            continue;
        }
        if !lower.insert(name.to_lowercase()) {
            c.err(
                &path,
                format!("knob set `{name}` differs from another set's name only in case"),
                Some("cell ids and folders would collide: rename one".into()),
            );
            continue;
        }
        if set == &raw::KnobSet::default() {
            c.err(
                &path,
                format!("knob set `{name}` sets nothing"),
                Some("give it `cpuidle`, `devfreq`, `kgsl` or `mali`, or use `stock` on the axis for the scenario's own knobs".into()),
            );
            continue;
        }
        let knobs = check_knobs(
            c,
            &format!("{path}."),
            set.kgsl,
            &set.cpuidle,
            &set.devfreq,
            &set.mali,
        );
        sets.insert(name.clone(), knobs);
    }
    sets
}
