//! The client side of a remote transport (ssh, adb), as `remote`, `keeper`
//! and the clients themselves share it: the [`Channel`] trait, unique
//! board folder names, and how a client's exit reads in messages.

use std::process::Command;

use anyhow::Result;

use super::inventory::RootMethod;

/// The client side of a remote transport.
pub trait Channel: Send + Sync {
    /// `ssh` or `adb`.
    fn kind(&self) -> &'static str;
    /// Opens (or checks) the connection; returns the round trips it took.
    fn connect(&self) -> Result<u32>;
    /// The client command that runs the shell command line `remote` on the
    /// board.
    fn command(&self, remote: &str) -> Command;
    /// True when a client exit without the status line means the client
    /// (the connection), not the board, failed.
    fn client_failed(&self, exit: Option<i32>) -> bool;
    /// Forget that the connection was checked (it was lost).
    fn reset(&self);
    /// Where the board is, for messages.
    fn address(&self) -> String;
    /// How round trips get root: the inventory's method, or for `auto`
    /// the one [`Channel::connect`] found.
    fn root(&self) -> RootMethod;
}

static TOKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A board folder name unique to this process and call.
pub fn token(what: &str) -> String {
    let n = TOKEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{what}-{}-{n}", std::process::id())
}

/// How a client ended, for messages: `exited with 255`.
pub fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exited with {c}"),
        None => "was killed by a signal".into(),
    }
}
