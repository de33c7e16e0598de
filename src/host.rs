//! This machine and the time now, as klo-spec records them: lock holders
//! (`pid N on HOST`), meta.json's `host`, cell records' times. A leaf: it
//! uses nothing of the crate.

use std::time::SystemTime;

/// This machine's host name, for lock holders and meta.json.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// What this process is, as lock holders are written: `pid N on HOST`.
pub fn this_process() -> String {
    format!("pid {} on {}", std::process::id(), hostname())
}

/// This machine's kernel release (empty when it cannot be read).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_default()
}

/// The time now, RFC 3339 in UTC to the second (`2026-12-06T13:12:24Z`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
