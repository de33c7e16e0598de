//! Log ingest: benchmark output to records, then to polars frames.
//!
//! The default parser reads the KLO v1 log contract (docs/architecture.md):
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
//! record or a missing inference is incomplete: never a row of results. So
//! is one whose values cannot be true: a negative or non-finite time, times
//! whose sum overflows, a `net=` that is not the cell's network, kernels
//! numbered with a gap or out of order, a record of an inference beyond the
//! log's count, or an inference with another number of kernel records than
//! the info line's `kernels=` (or than the other inferences).

pub mod digest;
pub mod frames;
pub mod samples;

pub use digest::LogDigest;

/// Which of inferences `0..expected` the records `iters` report; `Err`
/// with the reason at the first one reported twice or out of range.
fn inference_numbers_seen(iters: &[u32], expected: u32) -> Result<Vec<bool>, String> {
    let mut seen = vec![false; expected as usize];
    for &it in iters {
        match seen.get_mut(it as usize) {
            Some(s) if !*s => *s = true,
            Some(_) => return Err(format!("inference {it} is reported twice")),
            None => {
                return Err(format!(
                    "inference {it} is out of range (the cell asked for {expected})"
                ));
            }
        }
    }
    Ok(seen)
}

/// The kernels per inference the info line declares (`kernels=`), if it
/// does; `Err` with the reason when the value is not a number.
fn declared_kernels(info: &BTreeMap<String, String>) -> Result<Option<u64>, String> {
    match info.get("kernels") {
        Some(k) => k.parse().map(Some).map_err(|_| {
            format!(
                "the info line's `kernels={}` is not a number",
                crate::text::quote(k)
            )
        }),
        None => Ok(None),
    }
}

use std::collections::{BTreeMap, HashMap};

use crate::scenario::LogRegexes;

/// Per-kernel records, as columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelRows {
    pub iter: Vec<u32>,
    pub kernel: Vec<u32>,
    /// Per record, its kernel's name as an index into `names`.
    pub name: Vec<u32>,
    /// The kernel names of the log, each once.
    pub names: Vec<String>,
    pub t_prod_us: Vec<f64>,
    pub t_ker_us: Vec<f64>,
    pub t_idle_us: Vec<Option<f64>>,
    pub flush: Vec<bool>,
    pub k: Vec<Option<u32>>,
    /// CPU time of the flush after this kernel, when it was flushed.
    pub t_flush_us: Vec<Option<f64>>,
}

impl KernelRows {
    fn reserve(&mut self, n: usize) {
        self.iter.reserve(n);
        self.kernel.reserve(n);
        self.name.reserve(n);
        self.t_prod_us.reserve(n);
        self.t_ker_us.reserve(n);
        self.t_idle_us.reserve(n);
        self.flush.reserve(n);
        self.k.reserve(n);
        self.t_flush_us.reserve(n);
    }

    /// Record `i`'s kernel name.
    pub fn name(&self, i: usize) -> &str {
        &self.names[self.name[i] as usize]
    }
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
    /// The distinct `net=` values of the records (the first few).
    pub nets: Vec<String>,
    /// The first record out of sequence: (1-based line, what is wrong).
    pub disorder: Option<(usize, String)>,
}

const MAX_MALFORMED: usize = 5;
/// Distinct networks kept in [`CellLog::nets`].
const MAX_NETS: usize = 4;

impl CellLog {
    /// Per kernel record: whether it is its inference's first kernel (the
    /// lowest kernel index of that inference, whatever the numbering base).
    /// Its T_prod is excluded from means and its T_idle is undefined.
    pub fn first_kernel_flags(&self) -> Vec<bool> {
        let rows = || self.kernels.iter.iter().zip(&self.kernels.kernel);
        let max_iter = self.kernels.iter.iter().copied().max().unwrap_or(0);
        if (max_iter as usize) < 4 * self.kernels.iter.len() + 1024 {
            // Inference numbers are small: a table indexed by them.
            let mut first = vec![u32::MAX; max_iter as usize + 1];
            for (it, k) in rows() {
                let e = &mut first[*it as usize];
                *e = (*e).min(*k);
            }
            return rows().map(|(it, k)| first[*it as usize] == *k).collect();
        }
        let mut first: HashMap<u32, u32> = HashMap::new();
        for (it, k) in rows() {
            let e = first.entry(*it).or_insert(*k);
            *e = (*e).min(*k);
        }
        rows().map(|(it, k)| first[it] == *k).collect()
    }

    /// Why the log cannot count as a complete cell of `expected` inferences
    /// of `network` (when the records name one), or `None` when it is
    /// complete.
    pub fn incomplete_reason(&self, expected: u32, network: Option<&str>) -> Option<String> {
        if let Some(why) = head_reason(
            Head {
                info: &self.info,
                end: self.end,
                malformed: &self.malformed,
                nets: &self.nets,
                disorder: &self.disorder,
            },
            expected,
            network,
            self.inferences.iter.len() as u64,
        ) {
            return Some(why);
        }
        let seen = match inference_numbers_seen(&self.inferences.iter, expected) {
            Ok(seen) => seen,
            Err(why) => return Some(why),
        };
        if let Some(missing) = seen.iter().position(|s| !s) {
            return Some(format!("inference {missing} is missing"));
        }
        self.kernels_reason(expected)
            .or_else(|| self.overflow_reason())
    }

    /// Kernel records: each of an inference the log counts, and as many per
    /// inference as the info line's `kernels=` says (or, without one, as
    /// the first inference has).
    fn kernels_reason(&self, expected: u32) -> Option<String> {
        let mut counts = vec![0u64; expected as usize];
        for &it in &self.kernels.iter {
            match counts.get_mut(it as usize) {
                Some(c) => *c += 1,
                None => {
                    return Some(format!(
                        "a kernel record of inference {it} is out of range (the log has {expected})"
                    ));
                }
            }
        }
        if self.kernels.iter.is_empty() && !self.info.contains_key("kernels") {
            // A log without kernel records (a regex parser with no kernel
            // expression): nothing to count.
            return None;
        }
        let declared = match declared_kernels(&self.info) {
            Ok(d) => d,
            Err(why) => return Some(why),
        };
        let want = declared.or(counts.first().copied())?;
        let (it, got) = counts.iter().enumerate().find(|(_, c)| **c != want)?;
        Some(match declared {
            Some(_) => format!(
                "inference {it} has {got} kernel records, the info line says the network has {want} kernels"
            ),
            None => format!("inference {it} has {got} kernel records, inference 0 has {want}"),
        })
    }

    /// Times each finite, but whose sum is not: no mean of them exists.
    fn overflow_reason(&self) -> Option<String> {
        let columns: [(&str, &[f64]); 3] = [
            ("latency_us", &self.inferences.latency_us),
            ("t_prod_us", &self.kernels.t_prod_us),
            ("t_ker_us", &self.kernels.t_ker_us),
        ];
        for (name, v) in columns {
            if !v.iter().sum::<f64>().is_finite() {
                return Some(format!(
                    "the `{name}` values are too large to average (their sum overflows)"
                ));
            }
        }
        let idle: f64 = self.kernels.t_idle_us.iter().flatten().sum();
        let flush: f64 = self.kernels.t_flush_us.iter().flatten().sum();
        for (name, sum) in [("t_idle_us", idle), ("t_flush_us", flush)] {
            if !sum.is_finite() {
                return Some(format!(
                    "the `{name}` values are too large to average (their sum overflows)"
                ));
            }
        }
        None
    }
}

/// Splits `key=value` fields; values may be double-quoted (no escapes).
/// One pass over the bytes (fields are short: a plain loop beats a search
/// call per token); it runs on every field of every record of a campaign.
/// Every split is at an ASCII byte, so the slices stay UTF-8.
fn fields(rest: &str) -> impl Iterator<Item = (&str, &str)> {
    let b = rest.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let key = loop {
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i >= b.len() {
                return None;
            }
            let start = i;
            while i < b.len() && b[i] != b' ' && b[i] != b'=' {
                i += 1;
            }
            if i < b.len() && b[i] == b'=' {
                break &rest[start..i];
            }
            // A word that is not a field: skip it.
        };
        i += 1;
        if i < b.len() && b[i] == b'"' {
            let from = i + 1;
            return Some(match b[from..].iter().position(|&c| c == b'"') {
                Some(len) => {
                    i = from + len + 1;
                    (key, &rest[from..from + len])
                }
                None => {
                    i = b.len();
                    (key, &rest[from..])
                }
            });
        }
        let from = i;
        while i < b.len() && b[i] != b' ' {
            i += 1;
        }
        Some((key, &rest[from..i]))
    })
}

/// Kernel names of one log, each stored once: a campaign repeats a
/// network's few names on millions of records.
#[derive(Default)]
struct Names {
    ids: HashMap<String, u32>,
    /// The name last seen at each kernel index: usually the next one there.
    by_kernel: Vec<u32>,
}

impl Names {
    fn id(&mut self, rows: &mut KernelRows, kernel: u32, name: &str) -> u32 {
        if let Some(&id) = self.by_kernel.get(kernel as usize)
            && rows.names[id as usize] == name
        {
            return id;
        }
        let id = match self.ids.get(name) {
            Some(&id) => id,
            None => {
                rows.names.push(name.to_string());
                let id = (rows.names.len() - 1) as u32;
                self.ids.insert(name.to_string(), id);
                id
            }
        };
        let k = kernel as usize;
        if k < 1 << 16 {
            if self.by_kernel.len() <= k {
                self.by_kernel.resize(k + 1, id);
            }
            self.by_kernel[k] = id;
        }
        id
    }
}

fn num<T: std::str::FromStr>(v: &str, key: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("`{key}={v}` is not a number"))
}

/// Powers of ten that an f64 holds exactly.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A plain decimal (`-`, digits, at most one `.`, no exponent) of at most
/// 15 digits, the form every benchmark prints: its digits as an integer
/// divided by a power of ten. Both are exact in an f64 and IEEE division
/// rounds correctly, so the result is the one `str::parse` gives (Clinger's
/// fast path); anything else is `None` and goes to `str::parse`.
fn plain_decimal(v: &str) -> Option<f64> {
    let b = v.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mant: u64 = 0;
    let mut n = 0;
    let mut point: Option<usize> = None;
    for (i, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mant = mant * 10 + (c - b'0') as u64;
                n += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    if n == 0 || n > 15 {
        return None;
    }
    let scale = point.map_or(0, |p| digits.len() - 1 - p);
    let x = mant as f64 / POW10[scale];
    Some(if neg { -x } else { x })
}

fn float(v: &str, key: &str) -> Result<f64, String> {
    match plain_decimal(v) {
        Some(x) => Ok(x),
        None => num(v, key),
    }
}

/// A measured time: a finite number, not negative (`nan` is only allowed
/// for T_idle).
fn time(v: &str, key: &str) -> Result<f64, String> {
    let x: f64 = float(v, key)?;
    if !x.is_finite() {
        Err(format!("`{key}={v}` is not a finite number"))
    } else if x < 0.0 {
        Err(format!("`{key}={v}` is negative: no time is"))
    } else {
        Ok(x)
    }
}

/// An optional time: missing, `nan`, `-` or empty is undefined; otherwise
/// a finite number, not negative.
fn opt_time(v: Option<&str>, key: &str) -> Result<Option<f64>, String> {
    match v {
        None => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("nan") || s == "-" || s.is_empty() => Ok(None),
        Some(s) => time(s, key).map(Some),
    }
}

fn opt_f64(v: Option<&str>, key: &str) -> Result<Option<f64>, String> {
    match v {
        None => Ok(None),
        Some(s) if s.eq_ignore_ascii_case("nan") || s == "-" || s.is_empty() => Ok(None),
        Some(s) => {
            let x = float(s, key)?;
            if x < 0.0 {
                return Err(format!("`{key}={s}` is negative"));
            }
            Ok(x.is_finite().then_some(x))
        }
    }
}

#[derive(Default)]
struct Fields<'a> {
    net: Option<&'a str>,
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
            "net" => &mut self.net,
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

    /// The record these fields make, checked: a kernel record, an
    /// inference record, or what is wrong with it. `net` is called with the
    /// record's network as soon as its inference number parsed.
    fn record(&self, mut net: impl FnMut(&str)) -> Result<Record<'a>, String> {
        let iter: u32 = num(Self::required(self.iter, "iter")?, "iter")?;
        if let Some(n) = self.net {
            net(n);
        }
        if let Some(kernel) = self.kernel {
            let kernel: u32 = num(kernel, "kernel")?;
            let t_prod = time(Self::required(self.t_prod_us, "t_prod_us")?, "t_prod_us")?;
            let t_ker = time(Self::required(self.t_ker_us, "t_ker_us")?, "t_ker_us")?;
            let t_idle = opt_time(self.t_idle_us, "t_idle_us")?;
            let flush = match self.flush {
                None => false,
                Some(f) => num::<u32>(f, "flush")? != 0,
            };
            let k = self.k.map(|k| num::<u32>(k, "k")).transpose()?;
            let t_flush = opt_time(self.t_flush_us, "t_flush_us")?;
            Ok(Record::Kernel(KernelRecord {
                iter,
                kernel,
                name: self.name.unwrap_or(""),
                t_prod,
                t_ker,
                t_idle,
                flush,
                k,
                t_flush,
            }))
        } else if let Some(lat) = self.latency_us {
            let latency = time(lat, "latency_us")?;
            let flushes = self.flushes.map(|f| num::<u32>(f, "flushes")).transpose()?;
            let k_mean = opt_f64(self.k_mean, "k_mean")?;
            Ok(Record::Inference(InferenceRecord {
                iter,
                latency,
                flushes,
                k_mean,
            }))
        } else {
            Err(
                "neither a kernel record (`kernel=`) nor an inference record (`latency_us=`)"
                    .into(),
            )
        }
    }
}

/// One kernel record of a log, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelRecord<'a> {
    pub iter: u32,
    pub kernel: u32,
    pub name: &'a str,
    pub t_prod: f64,
    pub t_ker: f64,
    pub t_idle: Option<f64>,
    pub flush: bool,
    pub k: Option<u32>,
    pub t_flush: Option<f64>,
}

/// One inference record of a log, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InferenceRecord {
    pub iter: u32,
    pub latency: f64,
    pub flushes: Option<u32>,
    pub k_mean: Option<f64>,
}

enum Record<'a> {
    Kernel(KernelRecord<'a>),
    Inference(InferenceRecord),
}

/// What a log says besides its records: the info line, the end line, and
/// what is wrong with it (malformed records, other networks, kernels out
/// of sequence).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogMeta {
    pub info: BTreeMap<String, String>,
    /// `Some(n)` when the end line was seen (`n` its `iters`, if given).
    pub end: Option<Option<u32>>,
    /// The first malformed records: (1-based line, what is wrong).
    pub malformed: Vec<(usize, String)>,
    /// The distinct `net=` values of the records (the first few).
    pub nets: Vec<String>,
    /// The first record out of sequence: (1-based line, what is wrong).
    pub disorder: Option<(usize, String)>,
}

impl LogMeta {
    fn bad(&mut self, line: usize, why: String) {
        if self.malformed.len() < MAX_MALFORMED {
            self.malformed.push((line, why));
        } else if self.malformed.len() == MAX_MALFORMED {
            self.malformed
                .push((line, "more malformed records follow".into()));
        }
    }

    fn net(&mut self, net: &str) {
        if !self.nets.iter().any(|n| n == net) && self.nets.len() < MAX_NETS {
            self.nets.push(net.to_string());
        }
    }

    /// The first reasons a log is incomplete (see [`head_reason`]);
    /// `inferences`: inference records read.
    fn reason(&self, expected: u32, network: Option<&str>, inferences: u64) -> Option<String> {
        head_reason(
            Head {
                info: &self.info,
                end: self.end,
                malformed: &self.malformed,
                nets: &self.nets,
                disorder: &self.disorder,
            },
            expected,
            network,
            inferences,
        )
    }
}

/// What [`head_reason`] reads of a log.
struct Head<'a> {
    info: &'a BTreeMap<String, String>,
    end: Option<Option<u32>>,
    malformed: &'a [(usize, String)],
    nets: &'a [String],
    disorder: &'a Option<(usize, String)>,
}

/// The first reasons a log is incomplete, before its records are counted:
/// a malformed record, another network, kernels out of sequence, no end
/// line (`inferences` records read), another count on the end line.
fn head_reason(
    h: Head<'_>,
    expected: u32,
    network: Option<&str>,
    inferences: u64,
) -> Option<String> {
    if let Some((line, why)) = h.malformed.first() {
        return Some(format!("malformed record at line {line}: {why}"));
    }
    if let Some(network) = network {
        let info_net = h.info.get("net").filter(|n| *n != network);
        if let Some(other) = h.nets.iter().find(|n| *n != network).or(info_net) {
            return Some(format!(
                "the log is of network `{}`, the cell ran `{network}`",
                crate::text::quote(other)
            ));
        }
    }
    if let Some((line, why)) = h.disorder {
        return Some(format!(
            "kernel records out of sequence at line {line}: {why}"
        ));
    }
    let Some(end) = h.end else {
        return Some(format!(
            "no end line: the log stops after {inferences} of {expected} inferences (the benchmark died or was killed)"
        ));
    };
    if let Some(n) = end
        && n != expected
    {
        return Some(format!(
            "the end line says {n} inferences, the cell asked for {expected}"
        ));
    }
    None
}

/// Where a log's checked records go: every record, in log order, then
/// what else the log said.
pub trait Records {
    fn kernel(&mut self, r: &KernelRecord<'_>);
    fn inference(&mut self, r: &InferenceRecord);
    fn finish(&mut self, meta: LogMeta);
}

/// A [`CellLog`] being read: its columns, and its kernel names so far.
#[derive(Default)]
struct Columns {
    log: CellLog,
    names: Names,
}

impl Records for Columns {
    fn kernel(&mut self, r: &KernelRecord<'_>) {
        let k = &mut self.log.kernels;
        k.iter.push(r.iter);
        k.kernel.push(r.kernel);
        let name = self.names.id(k, r.kernel, r.name);
        k.name.push(name);
        k.t_prod_us.push(r.t_prod);
        k.t_ker_us.push(r.t_ker);
        k.t_idle_us.push(r.t_idle);
        k.flush.push(r.flush);
        k.k.push(r.k);
        k.t_flush_us.push(r.t_flush);
    }

    fn inference(&mut self, r: &InferenceRecord) {
        let i = &mut self.log.inferences;
        i.iter.push(r.iter);
        i.latency_us.push(r.latency);
        i.flushes.push(r.flushes);
        i.k_mean.push(r.k_mean);
    }

    fn finish(&mut self, meta: LogMeta) {
        let LogMeta {
            info,
            end,
            malformed,
            nets,
            disorder,
        } = meta;
        let log = &mut self.log;
        log.info = info;
        log.end = end;
        log.malformed = malformed;
        log.nets = nets;
        log.disorder = disorder;
    }
}

/// The kernel numbering of a log, checked record by record: each inference
/// starts at the log's first kernel index (0 or 1, whatever the benchmark
/// uses) and counts up by one.
#[derive(Default)]
struct Sequence {
    base: Option<u32>,
    /// Per inference, the last kernel index seen.
    last: HashMap<u32, u32>,
}

impl Sequence {
    fn next(&mut self, iter: u32, kernel: u32) -> Result<(), String> {
        let base = *self.base.get_or_insert(kernel);
        match self.last.insert(iter, kernel) {
            None if kernel != base => Err(format!(
                "inference {iter} starts at kernel {kernel}, the log's first inference at kernel {base}"
            )),
            Some(prev) if Some(kernel) != prev.checked_add(1) => Err(format!(
                "kernel {kernel} of inference {iter} follows kernel {prev} (a gap or a repeat: kernels count up by one)"
            )),
            _ => Ok(()),
        }
    }
}

/// Reads the fields of a record written in the contract's canonical order
/// (as klo-probe prints them), one `key=` after the other:
///
/// ```text
/// net= iter= kernel= name= t_prod_us= t_ker_us= t_idle_us= flush= k= [t_flush_us=]
///     [t_enq_us= t_start_us= t_end_us=]
/// net= iter= latency_us= flushes= k_mean=
/// ```
///
/// Nearly every record of a campaign is one of these, and checking the
/// expected key where it must be is much cheaper than finding and matching
/// every key. Any other shape (another order, a missing, repeated, unknown
/// or quoted field) gives `None`, and the record goes through the general
/// reader, [`fields`]; for the records this accepts, both give the same
/// fields (a test runs both over the fuzz corpus).
fn canonical(rest: &str) -> Option<Fields<'_>> {
    #[derive(Clone, Copy)]
    struct Cursor<'a> {
        s: &'a str,
        i: usize,
    }
    impl<'a> Cursor<'a> {
        /// The value of `key`, which must be the next field. (A key of
        /// a known length: compared inline, not by a call to memcmp.)
        fn field<const N: usize>(&mut self, key: &[u8; N]) -> Option<&'a str> {
            let b = self.s.as_bytes();
            while self.i < b.len() && b[self.i] == b' ' {
                self.i += 1;
            }
            let at = &b[self.i..];
            if !(at.first_chunk::<N>() == Some(key) && at.get(N) == Some(&b'=')) {
                return None;
            }
            let from = self.i + N + 1;
            if b.get(from) == Some(&b'"') {
                return None;
            }
            let mut end = from;
            while end < b.len() && b[end] != b' ' {
                end += 1;
            }
            self.i = end;
            Some(&self.s[from..end])
        }

        /// True when only spaces are left.
        fn done(&self) -> bool {
            self.s.as_bytes()[self.i..].iter().all(|&c| c == b' ')
        }

        /// The next field is `key` (read on a copy: the cursor stays).
        fn next_is<const N: usize>(&self, key: &[u8; N]) -> bool {
            let mut peek = *self;
            peek.field(key).is_some()
        }
    }
    let mut c = Cursor { s: rest, i: 0 };
    let mut f = Fields {
        net: Some(c.field(b"net")?),
        iter: Some(c.field(b"iter")?),
        ..Fields::default()
    };
    if c.next_is(b"kernel") {
        f.kernel = Some(c.field(b"kernel")?);
        f.name = Some(c.field(b"name")?);
        f.t_prod_us = Some(c.field(b"t_prod_us")?);
        f.t_ker_us = Some(c.field(b"t_ker_us")?);
        f.t_idle_us = Some(c.field(b"t_idle_us")?);
        f.flush = Some(c.field(b"flush")?);
        f.k = Some(c.field(b"k")?);
        if c.next_is(b"t_flush_us") {
            f.t_flush_us = Some(c.field(b"t_flush_us")?);
        }
        if c.next_is(b"t_enq_us") {
            // The kernel's timeline: read by the report's timeline plot
            // from the log itself, not a statistic (the general reader
            // passes over these fields too).
            c.field(b"t_enq_us")?;
            c.field(b"t_start_us")?;
            c.field(b"t_end_us")?;
        }
    } else {
        f.latency_us = Some(c.field(b"latency_us")?);
        f.flushes = Some(c.field(b"flushes")?);
        f.k_mean = Some(c.field(b"k_mean")?);
    }
    c.done().then_some(f)
}

/// The longest line a log reader holds: a longer KLO v1 record is
/// malformed, a longer line of anything else is passed over as chatter.
/// Every line is read through a buffer of this size at most, so that a log
/// of any size (a line of gigabytes without a break included) is read in
/// bounded memory.
pub const LINE_MAX: usize = 1 << 20;

/// What a log is read with: the KLO v1 contract (with or without its
/// canonical-order reader, for the tests) or a scenario's expressions.
#[derive(Clone, Copy)]
enum Grammar<'r> {
    Klo { fast: bool },
    Regex(&'r LogRegexes),
}

/// Reads a log's lines one at a time into a [`Records`] sink, checking
/// each record (values, network, kernel sequence) as it goes.
struct Reader<'r, S> {
    grammar: Grammar<'r>,
    meta: LogMeta,
    seq: Sequence,
    sink: S,
    line: usize,
}

impl<'r, S: Records> Reader<'r, S> {
    fn new(grammar: Grammar<'r>, sink: S) -> Self {
        Reader {
            grammar,
            meta: LogMeta::default(),
            seq: Sequence::default(),
            sink,
            line: 0,
        }
    }

    /// The next line (without its line break). `cut`: the line ran past
    /// [`LINE_MAX`] and `line` is its start only.
    fn line(&mut self, line: &str, cut: bool) {
        self.line += 1;
        let n = self.line;
        match self.grammar {
            Grammar::Klo { fast } => {
                let Some(rest) = line.strip_prefix("KLO v1 ") else {
                    return;
                };
                if cut {
                    self.meta.bad(
                        n,
                        format!("the line is longer than {LINE_MAX} bytes: no record is"),
                    );
                    return;
                }
                let rest = rest.trim_end();
                if let Some(end) = rest.strip_prefix("end") {
                    let iters = fields(end)
                        .find(|(k, _)| *k == "iters")
                        .and_then(|(_, v)| v.parse().ok());
                    self.meta.end = Some(iters);
                    return;
                }
                if let Some(info) = rest.strip_prefix("info") {
                    for (k, v) in fields(info) {
                        self.meta.info.insert(k.to_string(), v.to_string());
                    }
                    return;
                }
                let f = match fast.then(|| canonical(rest)).flatten() {
                    Some(f) => f,
                    None => {
                        let mut f = Fields::default();
                        for (k, v) in fields(rest) {
                            f.set(k, v);
                        }
                        f
                    }
                };
                self.fields(&f, n);
            }
            Grammar::Regex(re) => {
                if cut {
                    return;
                }
                if re.end.is_match(line) {
                    self.meta.end = Some(None);
                    return;
                }
                let caps = re
                    .kernel
                    .as_ref()
                    .and_then(|k| k.captures(line))
                    .or_else(|| re.inference.captures(line));
                let Some(caps) = caps else { return };
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
                self.fields(&f, n);
            }
        }
    }

    fn fields(&mut self, f: &Fields<'_>, line: usize) {
        let meta = &mut self.meta;
        match f.record(|net| meta.net(net)) {
            Ok(Record::Kernel(k)) => {
                self.sink.kernel(&k);
                if self.meta.disorder.is_none()
                    && let Err(why) = self.seq.next(k.iter, k.kernel)
                {
                    self.meta.disorder = Some((line, why));
                }
            }
            Ok(Record::Inference(i)) => self.sink.inference(&i),
            Err(why) => self.meta.bad(line, why),
        }
    }

    fn text(mut self, text: &str) -> S {
        for line in text.lines() {
            self.line(line, false);
        }
        self.finish()
    }

    /// Reads `input` to its end, a line at a time (see [`for_each_line`]).
    fn read(mut self, input: impl std::io::Read) -> std::io::Result<S> {
        for_each_line(input, |line, cut| self.line(line, cut))?;
        Ok(self.finish())
    }

    fn finish(mut self) -> S {
        self.sink.finish(std::mem::take(&mut self.meta));
        self.sink
    }
}

/// Calls `f` with each line of `input` (without its line break; a CR
/// before it goes too), as `str::lines` splits a text, reading a buffer at
/// a time: a line is held whole only up to [`LINE_MAX`] bytes; a longer one
/// comes with `cut` set and only its start. A byte that is not UTF-8 (a
/// benchmark's chatter in a legacy encoding) becomes U+FFFD, which a
/// record's number or name then shows as malformed.
pub fn for_each_line(
    input: impl std::io::Read,
    mut f: impl FnMut(&str, bool),
) -> std::io::Result<()> {
    use std::io::BufRead;
    fn text(line: &[u8], cut: bool, f: &mut impl FnMut(&str, bool)) {
        match std::str::from_utf8(line) {
            Ok(t) => f(t, cut),
            Err(_) => f(&String::from_utf8_lossy(line), cut),
        }
    }
    fn ended(line: &[u8], cut: bool, f: &mut impl FnMut(&str, bool)) {
        let line = match line.last() {
            Some(b'\r') if !cut => &line[..line.len() - 1],
            _ => line,
        };
        text(line, cut, f);
    }
    let mut input = std::io::BufReader::with_capacity(256 << 10, input);
    let mut held: Vec<u8> = Vec::new();
    let mut cut = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let Some(at) = memchr::memchr(b'\n', buf) else {
            // No line break in the buffer: keep the start of the line.
            let room = LINE_MAX.saturating_sub(held.len());
            cut |= buf.len() > room;
            held.extend_from_slice(&buf[..buf.len().min(room)]);
            let n = buf.len();
            input.consume(n);
            continue;
        };
        if held.is_empty() && !cut {
            // The usual case: the whole line is in the reader's buffer.
            ended(&buf[..at], false, &mut f);
        } else {
            let room = LINE_MAX.saturating_sub(held.len());
            cut |= at > room;
            held.extend_from_slice(&buf[..at.min(room)]);
            ended(&held, cut, &mut f);
            held.clear();
            cut = false;
        }
        input.consume(at + 1);
    }
    if !held.is_empty() || cut {
        // The last line, without a line break (kept as it is, as
        // `str::lines` does).
        text(&held, cut, &mut f);
    }
    Ok(())
}

fn grammar(regexes: Option<&LogRegexes>) -> Grammar<'_> {
    match regexes {
        Some(re) => Grammar::Regex(re),
        None => Grammar::Klo { fast: true },
    }
}

/// Reads the log at `path` into `sink`: with the scenario's regular
/// expressions when it has some, else the KLO v1 contract; a line at a
/// time, so that what is held is what the sink keeps. The log came from a
/// board: it is read only when it is a regular file (no link followed, no
/// FIFO or device) of at most `limit` bytes.
pub fn read_into<S: Records>(
    path: &std::path::Path,
    regexes: Option<&LogRegexes>,
    limit: u64,
    sink: S,
) -> std::io::Result<S> {
    use std::io::Read;
    let (file, size) = crate::untrusted::open_regular(path)?;
    if size > limit {
        return Err(crate::untrusted::too_large(size, limit));
    }
    Reader::new(grammar(regexes), sink).read(file.take(limit))
}

/// Reads every record of the log at `path` into columns (see
/// [`read_into`]): what a log holds, whole. For the logs klo-spec writes
/// itself (calibration) and the tests; results are read as
/// [`LogDigest`]s, whose size does not grow with the log.
pub fn read_log(
    path: &std::path::Path,
    regexes: Option<&LogRegexes>,
    limit: u64,
) -> std::io::Result<CellLog> {
    read_into(path, regexes, limit, Columns::default()).map(|c| c.log)
}

/// Reads the log at `path` as a [`LogDigest`] (see [`read_into`]).
pub fn read_digest(
    path: &std::path::Path,
    regexes: Option<&LogRegexes>,
    limit: u64,
    keep: digest::Keep,
) -> std::io::Result<LogDigest> {
    read_into(path, regexes, limit, LogDigest::new(keep))
}

/// Parses a log in the KLO v1 contract.
pub fn parse_klo(text: &str) -> CellLog {
    parse_klo_with(text, true)
}

/// [`parse_klo`], with or without the canonical-order reader (the tests
/// compare the two).
fn parse_klo_with(text: &str, fast: bool) -> CellLog {
    let mut cols = Columns::default();
    // Room for a record per line (most lines are kernel records), so the
    // columns grow once instead of doubling through a long log.
    cols.log
        .kernels
        .reserve(memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1);
    Reader::new(Grammar::Klo { fast }, cols).text(text).log
}

/// Parses a log with a scenario's regular expressions.
pub fn parse_regex(text: &str, re: &LogRegexes) -> CellLog {
    Reader::new(Grammar::Regex(re), Columns::default())
        .text(text)
        .log
}

/// A log's text as a [`LogDigest`] (the tests and the fuzz target compare
/// it with the whole log).
pub fn digest_text(text: &str, regexes: Option<&LogRegexes>, keep: digest::Keep) -> LogDigest {
    Reader::new(grammar(regexes), LogDigest::new(keep)).text(text)
}

#[cfg(test)]
mod tests;
