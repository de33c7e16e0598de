//! Log ingest: benchmark output to records, then to polars frames.
//!
//! The default parser reads the KLO v1 log contract (ARCHITECTURE.md):
//!
//! ```text
//! KLO v1 net=mobilenet_v1 iter=3 kernel=17 name=conv2d_3x3 t_prod_us=41.2 t_ker_us=118.0 t_idle_us=3.5 flush=1 k=8
//! KLO v1 net=mobilenet_v1 iter=3 latency_us=9120.4 flushes=9 k_mean=7.6
//! KLO v1 end iters=10
//! ```
//!
//! Other lines are ignored, and so are unknown `key=value` fields (newer
//! benchmarks may add some). `KLO v1 info key=value key="quoted value"`
//! lines describe the run (device, fallback). `t_idle_us=nan` (or a missing
//! field) is an undefined idle time. A log with no `end` line, a malformed
//! record or a missing inference is incomplete: never a row of results.

pub mod frames;

use std::collections::BTreeMap;

use crate::scenario::LogRegexes;

/// Per-kernel records, as columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelRows {
    pub iter: Vec<u32>,
    pub kernel: Vec<u32>,
    pub name: Vec<String>,
    pub t_prod_us: Vec<f64>,
    pub t_ker_us: Vec<f64>,
    pub t_idle_us: Vec<Option<f64>>,
    pub flush: Vec<bool>,
    pub k: Vec<Option<u32>>,
    /// CPU time of the flush after this kernel, when it was flushed.
    pub t_flush_us: Vec<Option<f64>>,
}

/// Per-inference records, as columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferenceRows {
    pub iter: Vec<u32>,
    pub latency_us: Vec<f64>,
    pub flushes: Vec<Option<u32>>,
    pub k_mean: Vec<Option<f64>>,
}

/// Everything read from one cell's log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellLog {
    pub kernels: KernelRows,
    pub inferences: InferenceRows,
    pub info: BTreeMap<String, String>,
    /// `Some(n)` when the end line was seen (`n` its `iters`, if given).
    pub end: Option<Option<u32>>,
    /// The first malformed records: (1-based line, what is wrong).
    pub malformed: Vec<(usize, String)>,
}

const MAX_MALFORMED: usize = 5;

impl CellLog {
    fn bad(&mut self, line: usize, why: String) {
        if self.malformed.len() < MAX_MALFORMED {
            self.malformed.push((line, why));
        } else if self.malformed.len() == MAX_MALFORMED {
            self.malformed
                .push((line, "more malformed records follow".into()));
        }
    }

    /// Per kernel record: whether it is its inference's first kernel (the
    /// lowest kernel index of that inference, whatever the numbering base).
    /// Its T_prod is excluded from means and its T_idle is undefined.
    pub fn first_kernel_flags(&self) -> Vec<bool> {
        let mut first: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        for (it, k) in self.kernels.iter.iter().zip(&self.kernels.kernel) {
            let e = first.entry(*it).or_insert(*k);
            *e = (*e).min(*k);
        }
        self.kernels
            .iter
            .iter()
            .zip(&self.kernels.kernel)
            .map(|(it, k)| first[it] == *k)
            .collect()
    }

    /// Why the log cannot count as a complete cell of `expected` inferences,
    /// or `None` when it is complete.
    pub fn incomplete_reason(&self, expected: u32) -> Option<String> {
        if let Some((line, why)) = self.malformed.first() {
            return Some(format!("malformed record at line {line}: {why}"));
        }
        let Some(end) = self.end else {
            return Some(format!(
                "no end line: the log stops after {} of {expected} inferences (the benchmark died or was killed)",
                self.inferences.iter.len()
            ));
        };
        if let Some(n) = end
            && n != expected
        {
            return Some(format!(
                "the end line says {n} inferences, the cell asked for {expected}"
            ));
        }
        let mut seen = vec![false; expected as usize];
        for &it in &self.inferences.iter {
            match seen.get_mut(it as usize) {
                Some(s) if !*s => *s = true,
                Some(_) => return Some(format!("inference {it} is reported twice")),
                None => {
                    return Some(format!(
                        "inference {it} is out of range (the cell asked for {expected})"
                    ));
                }
            }
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            return Some(format!("inference {missing} is missing"));
        }
        None
    }
}

/// Splits `key=value` fields; values may be double-quoted (no escapes).
fn fields(rest: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut s = rest;
    std::iter::from_fn(move || {
        let (key, after) = loop {
            s = s.trim_start_matches(' ');
            if s.is_empty() {
                return None;
            }
            let token_end = s.find(' ').unwrap_or(s.len());
            match s[..token_end].find('=') {
                Some(eq) => break (&s[..eq], &s[eq + 1..]),
                // A word that is not a field: skip it.
                None => s = &s[token_end..],
            }
        };
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(' ') {
                Some(sp) => (&after[..sp], &after[sp..]),
                None => (after, ""),
            }
        };
        s = next;
        Some((key, value))
    })
}

fn num<T: std::str::FromStr>(v: &str, key: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("`{key}={v}` is not a number"))
}

/// A measured time: a finite number (`nan` is only allowed for T_idle).
fn time(v: &str, key: &str) -> Result<f64, String> {
    let x: f64 = num(v, key)?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("`{key}={v}` is not a finite number"))
    }
}

fn opt_f64(v: Option<&str>, key: &str) -> Result<Option<f64>, String> {
    match v {
        None => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("nan") || s == "-" || s.is_empty() => Ok(None),
        Some(s) => {
            let x: f64 = num(s, key)?;
            Ok(x.is_finite().then_some(x))
        }
    }
}

#[derive(Default)]
struct Fields<'a> {
    iter: Option<&'a str>,
    kernel: Option<&'a str>,
    name: Option<&'a str>,
    t_prod_us: Option<&'a str>,
    t_ker_us: Option<&'a str>,
    t_idle_us: Option<&'a str>,
    flush: Option<&'a str>,
    k: Option<&'a str>,
    t_flush_us: Option<&'a str>,
    latency_us: Option<&'a str>,
    flushes: Option<&'a str>,
    k_mean: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn set(&mut self, key: &str, value: &'a str) {
        let slot = match key {
            "iter" => &mut self.iter,
            "kernel" => &mut self.kernel,
            "name" => &mut self.name,
            "t_prod_us" => &mut self.t_prod_us,
            "t_ker_us" => &mut self.t_ker_us,
            "t_idle_us" => &mut self.t_idle_us,
            "flush" => &mut self.flush,
            "k" => &mut self.k,
            "t_flush_us" => &mut self.t_flush_us,
            "latency_us" => &mut self.latency_us,
            "flushes" => &mut self.flushes,
            "k_mean" => &mut self.k_mean,
            _ => return,
        };
        *slot = Some(value);
    }

    fn required(v: Option<&'a str>, key: &str) -> Result<&'a str, String> {
        v.ok_or_else(|| format!("`{key}` is missing"))
    }

    fn push(&self, log: &mut CellLog) -> Result<(), String> {
        let iter: u32 = num(Self::required(self.iter, "iter")?, "iter")?;
        if let Some(kernel) = self.kernel {
            let kernel: u32 = num(kernel, "kernel")?;
            let t_prod = time(Self::required(self.t_prod_us, "t_prod_us")?, "t_prod_us")?;
            let t_ker = time(Self::required(self.t_ker_us, "t_ker_us")?, "t_ker_us")?;
            let t_idle = opt_f64(self.t_idle_us, "t_idle_us")?;
            let flush = match self.flush {
                None => false,
                Some(f) => num::<u32>(f, "flush")? != 0,
            };
            let k = self.k.map(|k| num::<u32>(k, "k")).transpose()?;
            let r = &mut log.kernels;
            r.iter.push(iter);
            r.kernel.push(kernel);
            r.name.push(self.name.unwrap_or("").to_string());
            r.t_prod_us.push(t_prod);
            r.t_ker_us.push(t_ker);
            r.t_idle_us.push(t_idle);
            r.flush.push(flush);
            r.k.push(k);
            r.t_flush_us.push(opt_f64(self.t_flush_us, "t_flush_us")?);
        } else if let Some(lat) = self.latency_us {
            let latency = time(lat, "latency_us")?;
            let flushes = self.flushes.map(|f| num::<u32>(f, "flushes")).transpose()?;
            let k_mean = opt_f64(self.k_mean, "k_mean")?;
            let r = &mut log.inferences;
            r.iter.push(iter);
            r.latency_us.push(latency);
            r.flushes.push(flushes);
            r.k_mean.push(k_mean);
        } else {
            return Err(
                "neither a kernel record (`kernel=`) nor an inference record (`latency_us=`)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Parses a log in the KLO v1 contract.
pub fn parse_klo(text: &str) -> CellLog {
    let mut log = CellLog::default();
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("KLO v1 ") else {
            continue;
        };
        let rest = rest.trim_end();
        if let Some(end) = rest.strip_prefix("end") {
            let iters = fields(end)
                .find(|(k, _)| *k == "iters")
                .and_then(|(_, v)| v.parse().ok());
            log.end = Some(iters);
            continue;
        }
        if let Some(info) = rest.strip_prefix("info") {
            for (k, v) in fields(info) {
                log.info.insert(k.to_string(), v.to_string());
            }
            continue;
        }
        let mut f = Fields::default();
        for (k, v) in fields(rest) {
            f.set(k, v);
        }
        if let Err(why) = f.push(&mut log) {
            log.bad(i + 1, why);
        }
    }
    log
}

/// Parses a log with a scenario's regular expressions.
pub fn parse_regex(text: &str, re: &LogRegexes) -> CellLog {
    let mut log = CellLog::default();
    for (i, line) in text.lines().enumerate() {
        if re.end.is_match(line) {
            log.end = Some(None);
            continue;
        }
        let caps = re
            .kernel
            .as_ref()
            .and_then(|k| k.captures(line))
            .or_else(|| re.inference.captures(line));
        let Some(caps) = caps else { continue };
        let mut f = Fields::default();
        for name in [
            "iter",
            "kernel",
            "name",
            "t_prod_us",
            "t_ker_us",
            "t_idle_us",
            "flush",
            "k",
            "t_flush_us",
            "latency_us",
            "flushes",
            "k_mean",
        ] {
            if let Some(m) = caps.name(name) {
                f.set(name, m.as_str());
            }
        }
        if let Err(why) = f.push(&mut log) {
            log.bad(i + 1, why);
        }
    }
    log
}

#[cfg(test)]
mod tests;
