//! `cell.status`: the cell script's account of what happened on the
//! board, one `key=value` line per fact, written as it goes (so a cell
//! cut off midway still says how far it got). [`CellStatus::parse`] reads
//! it into one typed value; the runner judges the cell from that value
//! only. The keys (written by `templates/cell.sh.j2` and the `note`
//! function of `templates/lib.sh.j2`):
//!
//! | key | when |
//! |---|---|
//! | `stale_state=1`, `stale_processes_killed=N` | an earlier cell's changes / processes were found and put back / killed first |
//! | `core_onlined=N` (repeated) | a core the cell brought online |
//! | `daemon_stopped=NAME` (repeated), `daemon_started=NAME` | a daemon stopped for the cell, started again at cleanup |
//! | `freq_before.X`, `freq_after.X`, `knob_before.X`, `knob_after.X` | read-backs just before and after the benchmark |
//! | `temp_gate.Z`, `temp_start.Z`, `temp_end.Z`, `thermal_limit_le.Z`, `thermal_wait_cs=N`, `thermal_flagged=1` | the thermal gate and record |
//! | `error_kind=K`, `error=MESSAGE` | a setup step failed (`load`, `too_hot`, ...) |
//! | `loads_started=N`, `loads_alive_before=N`, `loads_alive_after=N`, `loads_left=N` | load processes started, alive before and after the benchmark, left after the kill |
//! | `bench_exit=N`, `timed_out=1`, `signal=NAME` | how the benchmark ended; a signal the script got |
//! | `bench_children_killed=1` | the benchmark left processes in its group; killed |
//! | `bench_killed=1`, `bench_left=1` | at cleanup the benchmark's group was still running (killed), or still alive after the kill |
//! | `escaped_killed=N`, `escaped_left=N` | processes outside the group found by the cell's marker: killed / still alive after ten rounds |
//! | `restore_error=FILE` (repeated), `restore_failed=N`, `restored=1` | putting the board back |
//! | `finished=1` | the cleanup ran to its end |
//!
//! A key given several times keeps every value; a key this version does
//! not know, or a number that does not parse, is kept in `other`.

use std::collections::BTreeMap;

/// `cell.status`, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellStatus {
    pub stale_state: bool,
    pub stale_processes_killed: Option<u32>,
    pub cores_onlined: Vec<u32>,
    pub daemons_stopped: Vec<String>,
    pub daemons_started: Vec<String>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    pub thermal_wait_cs: Option<u64>,
    pub thermal_flagged: bool,
    pub loads_started: Option<u32>,
    pub loads_alive_before: Option<u32>,
    pub loads_alive_after: Option<u32>,
    pub loads_left: Option<u32>,
    pub bench_exit: Option<i32>,
    pub timed_out: bool,
    pub signal: Option<String>,
    pub bench_children_killed: bool,
    pub bench_killed: bool,
    pub bench_left: bool,
    pub escaped_killed: Option<u32>,
    pub escaped_left: Option<u32>,
    pub restore_errors: Vec<String>,
    pub restore_failed: Option<u32>,
    pub restored: bool,
    pub finished: bool,
    /// Read-backs and temperatures, by their whole key (`freq_before.big`,
    /// `knob_after.force_clk_on`, `temp_start.cpu-0-0`,
    /// `thermal_limit_le.cpu-0-0`): values as written.
    pub readings: BTreeMap<String, String>,
    /// Keys not known to this version, and known ones whose value did not
    /// parse, as written (repeated values space-separated).
    pub other: BTreeMap<String, String>,
}

/// Prefixes of the keys kept in [`CellStatus::readings`].
const READING_PREFIXES: [&str; 8] = [
    "freq_before.",
    "freq_after.",
    "knob_before.",
    "knob_after.",
    "temp_gate.",
    "temp_start.",
    "temp_end.",
    "thermal_limit_le.",
];

impl CellStatus {
    /// Parses the file's text. Lines without `=` are ignored; nothing in
    /// it is an error (it comes from the board: data, not a contract the
    /// runner can enforce).
    pub fn parse(text: &str) -> CellStatus {
        let mut s = CellStatus::default();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                s.add(k, v);
            }
        }
        s
    }

    fn add(&mut self, key: &str, value: &str) {
        fn num<T: std::str::FromStr>(v: &str) -> Option<T> {
            v.trim().parse().ok()
        }
        let parsed = match key {
            "stale_state" => set(&mut self.stale_state),
            "stale_processes_killed" => put(&mut self.stale_processes_killed, num(value)),
            "core_onlined" => num(value).map(|c| self.cores_onlined.push(c)).is_some(),
            "daemon_stopped" => push_words(&mut self.daemons_stopped, value),
            "daemon_started" => push_words(&mut self.daemons_started, value),
            "error_kind" => append(&mut self.error_kind, value),
            "error" => append(&mut self.error, value),
            "thermal_wait_cs" => put(&mut self.thermal_wait_cs, num(value)),
            "thermal_flagged" => set(&mut self.thermal_flagged),
            "loads_started" => put(&mut self.loads_started, num(value)),
            "loads_alive_before" => put(&mut self.loads_alive_before, num(value)),
            "loads_alive_after" => put(&mut self.loads_alive_after, num(value)),
            "loads_left" => put(&mut self.loads_left, num(value)),
            "bench_exit" => put(&mut self.bench_exit, num(value)),
            "timed_out" => set(&mut self.timed_out),
            "signal" => append(&mut self.signal, value),
            "bench_children_killed" => set(&mut self.bench_children_killed),
            "bench_killed" => set(&mut self.bench_killed),
            "bench_left" => set(&mut self.bench_left),
            "escaped_killed" => put(&mut self.escaped_killed, num(value)),
            "escaped_left" => put(&mut self.escaped_left, num(value)),
            "restore_error" => {
                self.restore_errors.push(value.to_string());
                true
            }
            "restore_failed" => put(&mut self.restore_failed, num(value)),
            "restored" => set(&mut self.restored),
            "finished" => set(&mut self.finished),
            _ if READING_PREFIXES.iter().any(|p| key.starts_with(p)) => {
                join(&mut self.readings, key, value);
                true
            }
            _ => false,
        };
        if !parsed {
            join(&mut self.other, key, value);
        }
    }
}

/// A flag: its key is there.
fn set(flag: &mut bool) -> bool {
    *flag = true;
    true
}

/// A single value: the first one given stays (the script writes each once;
/// a repeat is kept in `other` by the caller). False when it did not parse.
fn put<T>(slot: &mut Option<T>, value: Option<T>) -> bool {
    match value {
        Some(v) if slot.is_none() => {
            *slot = Some(v);
            true
        }
        _ => false,
    }
}

/// Text: a repeat is kept, space-separated.
fn append(slot: &mut Option<String>, value: &str) -> bool {
    match slot {
        Some(s) => {
            s.push(' ');
            s.push_str(value);
        }
        None => *slot = Some(value.to_string()),
    }
    true
}

fn push_words(list: &mut Vec<String>, value: &str) -> bool {
    list.extend(value.split_whitespace().map(String::from));
    true
}

fn join(map: &mut BTreeMap<String, String>, key: &str, value: &str) {
    map.entry(key.to_string())
        .and_modify(|e| {
            e.push(' ');
            e.push_str(value);
        })
        .or_insert_with(|| value.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_the_script_writes_is_kept() {
        let text = "stale_state=1\nstale_processes_killed=2\ncore_onlined=6\ncore_onlined=7\n\
            daemon_stopped=perfd\ndaemon_started=perfd\nfreq_before.big=1800000\nknob_after.idle_timer=10000\n\
            temp_start.cpu-0=41000\nthermal_limit_le.cpu-0=1\nthermal_wait_cs=250\nthermal_flagged=1\n\
            loads_started=8\nloads_alive_before=8\nloads_alive_after=7\nbench_exit=0\ntimed_out=1\n\
            signal=TERM\nbench_children_killed=1\nbench_killed=1\nbench_left=1\nescaped_killed=3\n\
            escaped_left=1\nloads_left=0\nrestore_error=/sys/a\nrestore_error=daemon perfd\n\
            restore_failed=2\nerror_kind=load\nerror=taskset: failed\nfinished=1\nnew_key=x=y\nno equals sign\n";
        let s = CellStatus::parse(text);
        assert!(s.stale_state && s.thermal_flagged && s.timed_out && s.finished);
        assert!(s.bench_children_killed && s.bench_killed && s.bench_left);
        assert!(!s.restored);
        assert_eq!(s.stale_processes_killed, Some(2));
        assert_eq!(s.cores_onlined, [6, 7]);
        assert_eq!(
            (s.daemons_stopped.as_slice(), s.daemons_started.as_slice()),
            (&["perfd".to_string()][..], &["perfd".to_string()][..])
        );
        assert_eq!(s.readings.len(), 4);
        assert_eq!(s.readings["freq_before.big"], "1800000");
        assert_eq!(s.thermal_wait_cs, Some(250));
        assert_eq!(
            (
                s.loads_started,
                s.loads_alive_before,
                s.loads_alive_after,
                s.loads_left
            ),
            (Some(8), Some(8), Some(7), Some(0))
        );
        assert_eq!(s.bench_exit, Some(0));
        assert_eq!(s.signal.as_deref(), Some("TERM"));
        assert_eq!((s.escaped_killed, s.escaped_left), (Some(3), Some(1)));
        assert_eq!(s.restore_errors, ["/sys/a", "daemon perfd"]);
        assert_eq!(s.restore_failed, Some(2));
        assert_eq!(s.error_kind.as_deref(), Some("load"));
        assert_eq!(s.error.as_deref(), Some("taskset: failed"));
        assert_eq!(
            s.other,
            BTreeMap::from([("new_key".to_string(), "x=y".to_string())])
        );
    }

    #[test]
    fn a_value_that_does_not_parse_is_kept_aside() {
        let s = CellStatus::parse("bench_exit=zero\nloads_left=-1\nbench_exit=3\n");
        assert_eq!(s.bench_exit, Some(3));
        assert_eq!(s.loads_left, None);
        assert_eq!(s.other["bench_exit"], "zero");
        assert_eq!(s.other["loads_left"], "-1");
        assert_eq!(CellStatus::parse(""), CellStatus::default());
    }
}
