//! Errors a caller matches on, and the process exit codes they map to.
//!
//! Exit codes (documented in the README):
//! - 0: success;
//! - 1: the run finished but some cells failed, or a runtime error (board,
//!   compiler, file system);
//! - 2: bad input: a scenario, board or command line that does not validate.
//!   Nothing is written;
//! - 130: interrupted (Ctrl-C, SIGTERM, SIGHUP) after cleaning up.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column in a source file (where a diagnostic points;
/// `yaml::source` finds them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;
pub const EXIT_INTERRUPTED: i32 = 130;

/// One located problem in a user's file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// YAML path of the offending node (`matrix.load[1]`), empty for the root.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Most characters of a diagnostic's message or hint: a value quoted in
/// it (a 10 MB string where a number was expected) is shortened to its
/// start and end.
pub const MESSAGE_MAX: usize = 600;
/// Most characters of the YAML path a diagnostic shows.
const PATH_MAX: usize = 200;
/// Diagnostics printed before the rest are only counted.
pub const DIAGNOSTICS_SHOWN: usize = 50;

impl Diagnostic {
    /// A located problem. The message, hint and YAML path hold values from
    /// the file: each is made printable (no terminal escape sequence gets
    /// through) and shortened.
    pub fn new(file: &Path, pos: Pos, path: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            path: crate::text::shorten(path.trim_start_matches('.'), PATH_MAX),
            message: crate::text::shorten(&message.into(), MESSAGE_MAX),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(crate::text::shorten(&hint.into(), MESSAGE_MAX));
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            crate::text::printable(&self.file.display().to_string()),
            self.line,
            self.column,
            self.message
        )?;
        if !self.path.is_empty() {
            write!(f, " (at `{}`)", self.path)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Bad input: one or more located problems. Maps to exit code 2.
#[derive(Debug, Clone)]
pub struct InputError {
    pub diagnostics: Vec<Diagnostic>,
}

impl InputError {
    pub fn one(d: Diagnostic) -> Self {
        InputError {
            diagnostics: vec![d],
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().take(DIAGNOSTICS_SHOWN).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.diagnostics.len() > DIAGNOSTICS_SHOWN {
            write!(
                f,
                "\n... and {} more problems like these",
                self.diagnostics.len() - DIAGNOSTICS_SHOWN
            )?;
        }
        if self.diagnostics.len() > 1 {
            write!(f, "\n{} problems found", self.diagnostics.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// A problem with the command line or the board that is the user's to fix
/// but has no file position (an output folder that is not one, a board that
/// cannot do what the scenario asks). Maps to exit code 2.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
pub struct UsageError {
    pub message: String,
    pub hint: Option<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>, hint: Option<String>) -> Self {
        UsageError {
            message: message.into(),
            hint,
        }
    }
}

/// A board or an output folder is held by another klo-spec run (the
/// holder's PID and host in `holder`). Maps to exit code 2; `--wait` waits
/// instead.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message} ({holder})\n  hint: {hint}")]
pub struct Busy {
    /// What is held: `board `rb5` is in use by another klo-spec run`.
    pub message: String,
    /// `pid N on HOST`, as the lock says.
    pub holder: String,
    pub hint: String,
}

/// The run was interrupted by a signal; cleanup has been done.
#[derive(Debug, Clone, thiserror::Error)]
#[error("interrupted: {0}")]
pub struct Interrupted(pub String);

/// Some cells failed; the tables were written for the others.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{failed} of {total} cells did not finish cleanly (see the status column of summary.csv)")]
pub struct CellsFailed {
    pub failed: usize,
    pub total: usize,
}

/// The exit code for an error that reached `main`.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.is::<InputError>() || cause.is::<UsageError>() || cause.is::<Busy>() {
            return EXIT_BAD_INPUT;
        }
        if cause.is::<Interrupted>() {
            return EXIT_INTERRUPTED;
        }
    }
    EXIT_FAILED
}

/// "did you mean" for a misspelt name among `candidates`.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["heavy", "light", "none"];
        assert_eq!(suggest("heavvy", names), Some("heavy"));
        assert_eq!(suggest("lihgt", names), Some("light"));
        assert_eq!(suggest("medium", names), None);
    }

    #[test]
    fn diagnostics_print_file_line_column_path_and_hint() {
        let d = Diagnostic::new(
            Path::new("s.yaml"),
            Pos { line: 3, column: 9 },
            "matrix.load[0]",
            "unknown load `hevy`",
        )
        .with_hint("did you mean `heavy`?");
        assert_eq!(
            d.to_string(),
            "s.yaml:3:9: unknown load `hevy` (at `matrix.load[0]`)\n  hint: did you mean `heavy`?"
        );
    }
}
