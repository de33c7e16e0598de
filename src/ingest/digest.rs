//! A log reduced while it is read, to what the tables, the plots and the
//! K strategies use: its inference records, per inference the sums of its
//! kernel records, per kernel position the sums over the measured
//! inferences, and what the incompleteness checks need. What a digest
//! holds is bounded by the most inferences a cell runs and a cap on kernel
//! positions, never by the size of the log: a log of gigabytes is read in
//! the memory of its inferences.
//!
//! For a log whose every inference starts at the same kernel index and
//! counts up by one (else the log is out of sequence, so incomplete), an
//! inference's first kernel is its record at that index: the digest tells
//! it as it reads.

use super::{InferenceRecord, InferenceRows, KernelRecord, LogMeta, Records};

/// Most inferences a cell runs (`iterations`, checked when a scenario is
/// read): inference numbers from here on are out of range for every cell,
/// and are counted, not kept.
pub const INFERENCES_MAX: u32 = 100_000;
/// Most kernel positions a profile keeps one by one; past it, neighbouring
/// positions are merged two by two (the profile's `width` doubles), so a
/// profile never holds more buckets than this.
pub const PROFILE_MAX: usize = 1 << 16;
/// Most T_prod values a digest keeps as a sample (when asked for one).
pub const SAMPLE_MAX: usize = 4096;

/// What a digest keeps besides what the tables need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    /// A systematic sample of the measured T_prod values (the T_prod plot).
    pub t_prod_sample: bool,
}

/// A sum and a count of values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mean {
    pub sum: f64,
    pub n: u32,
}

impl Mean {
    pub fn add(&mut self, x: f64) {
        self.sum += x;
        self.n += 1;
    }

    pub fn merge(&mut self, o: &Mean) {
        self.sum += o.sum;
        self.n += o.n;
    }

    /// The mean; `None` over no value.
    pub fn value(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// The kernel records of one inference number.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IterSums {
    /// Kernel records of this inference.
    pub records: u64,
    /// T_prod, the inference's first kernel excluded.
    pub t_prod: Mean,
    pub t_ker: Mean,
    /// T_idle, the first kernel excluded, defined values only.
    pub t_idle: Mean,
}

/// Sums over one kernel position (or a bucket of neighbouring ones) of the
/// measured inferences.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KernelSums {
    /// Records.
    pub n: u32,
    /// T_prod of every record, the first kernel's included (the timing
    /// model's per-kernel cost).
    pub t_prod_all: f64,
    /// T_prod, the first kernel excluded (what means show).
    pub t_prod: Mean,
    /// T_ker of every record.
    pub t_ker: f64,
    /// T_idle, the first kernel excluded, defined values only.
    pub t_idle: Mean,
}

impl KernelSums {
    fn merge(&mut self, o: &KernelSums) {
        self.n += o.n;
        self.t_prod_all += o.t_prod_all;
        self.t_prod.merge(&o.t_prod);
        self.t_ker += o.t_ker;
        self.t_idle.merge(&o.t_idle);
    }
}

/// Per kernel position, sums over the measured inferences: bucket `i`
/// holds the kernel indexes `start + i * width` to `start + (i + 1) *
/// width - 1`. At most [`PROFILE_MAX`] buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelProfile {
    /// The kernel index of bucket 0 (the log's first kernel index).
    pub start: u32,
    /// Kernel positions per bucket: 1 (one per kernel) or a power of two;
    /// 0 while empty.
    pub width: u32,
    pub buckets: Vec<KernelSums>,
}

impl KernelProfile {
    /// True when every bucket is one kernel position.
    pub fn exact(&self) -> bool {
        self.width <= 1
    }

    /// Merges neighbouring buckets two by two.
    fn widen(&mut self) {
        let merged: Vec<KernelSums> = self
            .buckets
            .chunks(2)
            .map(|c| {
                let mut s = c[0];
                if let Some(o) = c.get(1) {
                    s.merge(o);
                }
                s
            })
            .collect();
        self.buckets = merged;
        self.width = self.width.saturating_mul(2);
    }

    /// The bucket of kernel index `kernel`; `None` below the start (a
    /// kernel out of sequence: the log is incomplete anyway).
    fn bucket(&mut self, kernel: u32) -> Option<&mut KernelSums> {
        if self.width == 0 {
            self.start = kernel;
            self.width = 1;
        }
        let off = kernel.checked_sub(self.start)?;
        while (off / self.width) as usize >= PROFILE_MAX {
            self.widen();
        }
        let i = (off / self.width) as usize;
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, KernelSums::default());
        }
        Some(&mut self.buckets[i])
    }

    /// Adds another profile (another round of the same cell): buckets are
    /// added where their first kernel index falls in this one's buckets.
    pub fn merge(&mut self, o: &KernelProfile) {
        if o.width == 0 {
            return;
        }
        if self.width == 0 {
            *self = o.clone();
            return;
        }
        while self.width < o.width {
            self.widen();
        }
        for (i, b) in o.buckets.iter().enumerate() {
            let first = o.start as u64 + i as u64 * o.width as u64;
            let Ok(first) = u32::try_from(first) else {
                break;
            };
            if let Some(s) = self.bucket(first) {
                s.merge(b);
            }
        }
    }

    /// A copy with neighbouring buckets merged until at most `max` remain
    /// (what a plot draws).
    pub fn coarsened(&self, max: usize) -> KernelProfile {
        let mut p = self.clone();
        while p.buckets.len() > max.max(1) {
            p.widen();
        }
        p
    }

    /// Each bucket with its first and last kernel index.
    pub fn ranges(&self) -> impl Iterator<Item = (u32, u32, &KernelSums)> {
        let (start, width) = (self.start as u64, self.width.max(1) as u64);
        self.buckets.iter().enumerate().map(move |(i, b)| {
            let first = start + i as u64 * width;
            let last = first + width - 1;
            (
                first.min(u32::MAX as u64) as u32,
                last.min(u32::MAX as u64) as u32,
                b,
            )
        })
    }
}

/// A systematic sample of a stream of values: every `stride`-th value,
/// the stride doubling (and every other kept value dropped) whenever more
/// than [`SAMPLE_MAX`] would be kept. Each kept value stands for `stride`
/// values of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub values: Vec<f64>,
    pub stride: u64,
    /// Values seen.
    pub seen: u64,
}

impl Default for Sample {
    fn default() -> Self {
        Sample {
            values: Vec::new(),
            stride: 1,
            seen: 0,
        }
    }
}

impl Sample {
    pub fn add(&mut self, x: f64) {
        if self.seen.is_multiple_of(self.stride) {
            self.values.push(x);
            if self.values.len() > SAMPLE_MAX {
                let mut i = 0;
                self.values.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
        self.seen += 1;
    }
}

/// What a log is reduced to as it is read (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogDigest {
    pub meta: LogMeta,
    keep: Keep,
    /// The inference records in log order: the first `INFERENCES_MAX + 1`
    /// (a log with more has one out of range or twice among those).
    pub inferences: InferenceRows,
    /// Inference records read, all of them.
    pub inference_records: u64,
    /// Per inference number below [`INFERENCES_MAX`]: its kernel records.
    pub per_iter: Vec<IterSums>,
    /// The inference numbers of the kernel records (below the cap), each
    /// once, in the order they first appear.
    order: Vec<u32>,
    /// The first kernel record of an inference number at or past the cap:
    /// how many distinct numbers came before it, and its number.
    beyond: Option<(usize, u32)>,
    /// Kernel records read, all of them.
    pub kernel_records: u64,
    /// The kernel index of the log's first kernel record.
    pub base: Option<u32>,
    /// Sums of every time read, for the overflow check: latency, T_prod,
    /// T_ker, T_idle, flush time.
    totals: [f64; 5],
    /// Over the measured inferences (the warm-up excluded):
    /// per kernel position,
    pub profile: KernelProfile,
    /// the smallest and largest per-kernel K,
    pub k_range: Option<(u32, u32)>,
    /// flush times,
    pub t_flush: Mean,
    /// T_prod (first kernels excluded) and T_ker of every record,
    pub t_prod: Mean,
    pub t_ker: Mean,
    /// and, when kept, a sample of those T_prod values that are positive
    /// (and finite), and a count of those that are 0.
    pub t_prod_sample: Sample,
    pub t_prod_zeros: u64,
}

impl LogDigest {
    pub fn new(keep: Keep) -> LogDigest {
        LogDigest {
            keep,
            ..LogDigest::default()
        }
    }

    /// Why the log cannot count as a complete cell of `expected`
    /// inferences of `network`, or `None`: the same answer as
    /// [`super::CellLog::incomplete_reason`] gives for the whole log (the
    /// fuzz target checks it on every input).
    pub fn incomplete_reason(&self, expected: u32, network: Option<&str>) -> Option<String> {
        if let Some(why) = self.meta.reason(expected, network, self.inference_records) {
            return Some(why);
        }
        if expected > INFERENCES_MAX {
            return Some(format!(
                "the cell asks for {expected} inferences, more than the {INFERENCES_MAX} klo-spec reads"
            ));
        }
        let seen = match super::inference_numbers_seen(&self.inferences.iter, expected) {
            Ok(seen) => seen,
            Err(why) => return Some(why),
        };
        if self.inference_records > self.inferences.iter.len() as u64 {
            // Not reached: more records than kept means one was out of
            // range or repeated among the kept ones.
            return Some(format!(
                "the log has {} inference records, more than the cell's {expected}",
                self.inference_records
            ));
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            return Some(format!("inference {missing} is missing"));
        }
        self.kernels_reason(expected)
            .or_else(|| self.overflow_reason())
    }

    /// As `CellLog::kernels_reason`, from the counts.
    fn kernels_reason(&self, expected: u32) -> Option<String> {
        // The first kernel record (in log order) of an inference out of
        // range is the first appearance of its number.
        let out_of_range = |it: u32| {
            Some(format!(
                "a kernel record of inference {it} is out of range (the log has {expected})"
            ))
        };
        for (pos, &it) in self.order.iter().enumerate() {
            if let Some((at, b)) = self.beyond
                && at == pos
            {
                return out_of_range(b);
            }
            if it >= expected {
                return out_of_range(it);
            }
        }
        if let Some((_, b)) = self.beyond {
            return out_of_range(b);
        }
        if self.kernel_records == 0 && !self.meta.info.contains_key("kernels") {
            return None;
        }
        let declared = match super::declared_kernels(&self.meta.info) {
            Ok(d) => d,
            Err(why) => return Some(why),
        };
        let count = |it: u32| self.per_iter.get(it as usize).map_or(0, |s| s.records);
        let first = (expected > 0).then(|| count(0));
        let want = declared.or(first)?;
        let (it, got) = (0..expected)
            .map(|it| (it, count(it)))
            .find(|(_, c)| *c != want)?;
        Some(match declared {
            Some(_) => format!(
                "inference {it} has {got} kernel records, the info line says the network has {want} kernels"
            ),
            None => format!("inference {it} has {got} kernel records, inference 0 has {want}"),
        })
    }

    fn overflow_reason(&self) -> Option<String> {
        let names = [
            "latency_us",
            "t_prod_us",
            "t_ker_us",
            "t_idle_us",
            "t_flush_us",
        ];
        names
            .iter()
            .zip(self.totals)
            .find(|(_, sum)| !sum.is_finite())
            .map(|(name, _)| {
                format!("the `{name}` values are too large to average (their sum overflows)")
            })
    }

    /// Per kernel index, means over the measured inferences, for the
    /// timing model: T_prod (the first kernel's included) and T_ker, the
    /// mean flush time and the range of K; `None` unless the kernels are
    /// numbered from 0, one position per bucket, each measured.
    pub fn model_means(&self) -> Option<ModelMeans> {
        let p = &self.profile;
        if p.buckets.is_empty() || p.start != 0 || !p.exact() || p.buckets.iter().any(|b| b.n == 0)
        {
            return None;
        }
        Some(ModelMeans {
            prod: p
                .buckets
                .iter()
                .map(|b| b.t_prod_all / b.n as f64)
                .collect(),
            ker: p.buckets.iter().map(|b| b.t_ker / b.n as f64).collect(),
            flush_us: self.t_flush.value(),
            k_range: self.k_range,
        })
    }

    /// The inference numbers with kernel records and their sums, measured
    /// inferences only, by number.
    pub fn measured_iters(&self) -> impl Iterator<Item = (u32, &IterSums)> {
        self.per_iter
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, s)| s.records > 0)
            .map(|(it, s)| (it as u32, s))
    }
}

/// Per-kernel means for the timing model (see [`LogDigest::model_means`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMeans {
    pub prod: Vec<f64>,
    pub ker: Vec<f64>,
    pub flush_us: Option<f64>,
    pub k_range: Option<(u32, u32)>,
}

impl Records for LogDigest {
    fn kernel(&mut self, r: &KernelRecord<'_>) {
        self.kernel_records += 1;
        let base = *self.base.get_or_insert(r.kernel);
        let first = r.kernel == base;
        self.totals[1] += r.t_prod;
        self.totals[2] += r.t_ker;
        if let Some(x) = r.t_idle {
            self.totals[3] += x;
        }
        if let Some(x) = r.t_flush {
            self.totals[4] += x;
        }
        if r.iter < INFERENCES_MAX {
            let it = r.iter as usize;
            if self.per_iter.len() <= it {
                self.per_iter.resize(it + 1, IterSums::default());
            }
            let s = &mut self.per_iter[it];
            if s.records == 0 {
                self.order.push(r.iter);
            }
            s.records += 1;
            if r.iter > 0 {
                if !first {
                    s.t_prod.add(r.t_prod);
                }
                s.t_ker.add(r.t_ker);
                if let Some(x) = r.t_idle.filter(|_| !first) {
                    s.t_idle.add(x);
                }
            }
        } else if self.beyond.is_none() {
            self.beyond = Some((self.order.len(), r.iter));
        }
        if r.iter == 0 {
            return;
        }
        // The measured inferences.
        if let Some(b) = self.profile.bucket(r.kernel) {
            b.n += 1;
            b.t_prod_all += r.t_prod;
            if !first {
                b.t_prod.add(r.t_prod);
            }
            b.t_ker += r.t_ker;
            if let Some(x) = r.t_idle.filter(|_| !first) {
                b.t_idle.add(x);
            }
        }
        if let Some(f) = r.t_flush {
            self.t_flush.add(f);
        }
        if let Some(k) = r.k {
            self.k_range = Some(self.k_range.map_or((k, k), |(a, b)| (a.min(k), b.max(k))));
        }
        if !first {
            self.t_prod.add(r.t_prod);
            if self.keep.t_prod_sample {
                if r.t_prod > 0.0 && r.t_prod.is_finite() {
                    self.t_prod_sample.add(r.t_prod);
                } else if r.t_prod == 0.0 {
                    self.t_prod_zeros += 1;
                }
            }
        }
        self.t_ker.add(r.t_ker);
    }

    fn inference(&mut self, r: &InferenceRecord) {
        self.inference_records += 1;
        self.totals[0] += r.latency;
        if self.inferences.iter.len() <= INFERENCES_MAX as usize {
            let i = &mut self.inferences;
            i.iter.push(r.iter);
            i.latency_us.push(r.latency);
            i.flushes.push(r.flushes);
            i.k_mean.push(r.k_mean);
        }
    }

    fn finish(&mut self, meta: LogMeta) {
        self.meta = meta;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{LogMeta, Records};
    use super::*;

    fn rec(iter: u32, kernel: u32, t_prod: f64) -> KernelRecord<'static> {
        KernelRecord {
            iter,
            kernel,
            name: "k",
            t_prod,
            t_ker: 2.0 * t_prod,
            t_idle: Some(1.0),
            flush: false,
            k: Some(1),
            t_flush: None,
        }
    }

    #[test]
    fn a_profile_never_holds_more_than_its_cap_and_keeps_the_sums() {
        let mut d = LogDigest::new(Keep::default());
        // One measured inference of three times PROFILE_MAX kernels.
        let n = 3 * PROFILE_MAX as u32;
        for k in 0..n {
            d.kernel(&rec(1, k, 1.0));
        }
        d.finish(LogMeta::default());
        let p = &d.profile;
        assert!(p.buckets.len() <= PROFILE_MAX, "{}", p.buckets.len());
        assert_eq!(p.width, 4);
        let total: u32 = p.buckets.iter().map(|b| b.n).sum();
        assert_eq!(total, n, "every record is in a bucket");
        assert_eq!(
            p.buckets[0].t_prod.n, 3,
            "the first kernel's T_prod is left out"
        );
        assert!(
            d.model_means().is_none(),
            "no per-kernel model past the cap"
        );
        let c = p.coarsened(100);
        assert!(c.buckets.len() <= 100);
        assert_eq!(c.buckets.iter().map(|b| b.n).sum::<u32>(), n);
        let (first, last, _) = c.ranges().last().unwrap();
        assert!(first < n && n - 1 <= last, "{first}..{last}");
    }

    #[test]
    fn a_sample_is_bounded_and_systematic() {
        let mut s = Sample::default();
        for i in 0..100_000 {
            s.add(i as f64);
        }
        assert!(s.values.len() <= SAMPLE_MAX, "{}", s.values.len());
        assert_eq!(s.seen, 100_000);
        // Every kept value is a multiple of the stride: evenly spread.
        assert!(
            s.values
                .iter()
                .all(|v| (*v as u64).is_multiple_of(s.stride))
        );
        assert_eq!(s.values.len() as u64, 100_000u64.div_ceil(s.stride));
    }

    #[test]
    fn inference_numbers_past_the_cap_are_counted_not_kept() {
        let mut d = LogDigest::new(Keep::default());
        for it in 0..3 {
            d.kernel(&rec(it, 0, 1.0));
        }
        d.kernel(&rec(4_000_000_000, 0, 1.0));
        d.kernel(&rec(3, 0, 1.0));
        assert!(d.per_iter.len() <= 4);
        assert_eq!(d.kernel_records, 5);
        d.finish(LogMeta {
            end: Some(None),
            ..LogMeta::default()
        });
        // No inference records: the first check that fails is theirs.
        assert_eq!(
            d.incomplete_reason(0, None),
            Some("a kernel record of inference 0 is out of range (the log has 0)".into())
        );
        assert_eq!(
            d.kernels_reason(3).unwrap(),
            "a kernel record of inference 4000000000 is out of range (the log has 3)"
        );
    }
}
