//! Templates: the minijinja environment that renders board-side scripts and
//! command benchmarks.
//!
//! Every value a template prints is shell-quoted: the environment
//! auto-escapes for the shell, so a template cannot forget. The `q` filter
//! quotes explicitly (and marks the result safe, so it is not quoted twice);
//! `safe` inserts text verbatim and is only for fragments klo-spec has built
//! and quoted itself. Undefined variables are errors, not empty strings.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

/// The cell script template shipped with klo-spec.
pub const CELL_TEMPLATE: &str = include_str!("../templates/cell.sh.j2");
pub const CELL_TEMPLATE_NAME: &str = "cell.sh.j2";
/// The board probe template shipped with klo-spec.
pub const PROBE_TEMPLATE: &str = include_str!("../templates/probe.sh.j2");
pub const PROBE_TEMPLATE_NAME: &str = "probe.sh.j2";

/// Every board-side template, by file name, as shipped.
pub const BUILTIN_TEMPLATES: [(&str, &str); 4] = [
    (CELL_TEMPLATE_NAME, CELL_TEMPLATE),
    ("lib.sh.j2", include_str!("../templates/lib.sh.j2")),
    (PROBE_TEMPLATE_NAME, PROBE_TEMPLATE),
    ("reset.sh.j2", include_str!("../templates/reset.sh.j2")),
];

/// Board-side scripts of the ssh and adb transports (the round trip, the
/// board lock, board-side helper builds, the board check) and the run's
/// pre-flight. Built in: a templates folder does not override them, and
/// they are not part of cell hashes (they move data or read the board;
/// they do not change what a cell measures).
pub const TRANSPORT_TEMPLATES: [(&str, &str); 5] = [
    ("remote.sh.j2", include_str!("../templates/remote.sh.j2")),
    ("lock.sh.j2", include_str!("../templates/lock.sh.j2")),
    ("build.sh.j2", include_str!("../templates/build.sh.j2")),
    ("check.sh.j2", include_str!("../templates/check.sh.j2")),
    (
        "preflight.sh.j2",
        include_str!("../templates/preflight.sh.j2"),
    ),
];

/// Quotes `s` for a POSIX shell: plain words stay as they are, anything else
/// is single-quoted (a `'` inside becomes `'\''`).
pub fn shell_quote(s: &str) -> Cow<'_, str> {
    // No `=` (a word like `A=1` in command position is an assignment) and
    // no `~` (tilde expansion).
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:,+@%".contains(&b));
    if plain {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("'{}'", s.replace('\'', r"'\''")))
    }
}

fn value_text(value: &Value) -> Result<String, Error> {
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
    }
    if value.is_none() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "none cannot be printed into a shell script",
        ));
    }
    Ok(match value.as_str() {
        Some(s) => s.to_string(),
        None => value.to_string(),
    })
}

/// The settings every klo-spec template shares: undefined variables are
/// errors; block tags leave no blank lines; a trailing newline is kept.
pub fn strict_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    env
}

/// The environment every board-side script and command renders in.
pub fn environment() -> Environment<'static> {
    let mut env = strict_environment();
    env.set_auto_escape_callback(|_| AutoEscape::Custom("shell".into()));
    env.set_formatter(|out, _state, value| {
        if value.is_safe() {
            return out
                .write_str(value.as_str().unwrap_or_default())
                .map_err(Error::from);
        }
        let text = value_text(value)?;
        out.write_str(&shell_quote(&text)).map_err(Error::from)
    });
    env.add_filter("q", |value: Value| -> Result<Value, Error> {
        let text = value_text(&value)?;
        Ok(Value::from_safe_string(shell_quote(&text).into_owned()))
    });
    env
}

/// The variables a command benchmark's `run` template can use.
pub const COMMAND_VARIABLES: [&str; 11] = [
    "network",
    "k",
    "iterations",
    "strategy",
    "load",
    "cell_id",
    "board",
    "push_dir",
    "lut",
    "schedule",
    "knobs",
];

/// Checks that `source` is a valid template (for validation before a run).
pub fn check_template(source: &str) -> Result<(), String> {
    let env = environment();
    env.template_from_str(source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Renders a one-off template (a command benchmark's `run`).
pub fn render_str(source: &str, ctx: Value) -> Result<String> {
    let env = environment();
    env.render_str(source, ctx)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The board-side templates (cell, probe and reset scripts and the shell
/// library they include): a user's folder overrides the built-in ones file
/// by file.
#[derive(Debug, Clone)]
pub struct Templates {
    /// (file name, text, the file it was read from or None when built in).
    files: Vec<(&'static str, String, Option<PathBuf>)>,
}

impl Templates {
    /// Reads each template from `dir` when it has one; the built-in one
    /// otherwise. Each is checked before use.
    pub fn load(dir: Option<&Path>) -> Result<Templates> {
        let mut files = Vec::new();
        for (name, builtin) in BUILTIN_TEMPLATES {
            // Anything there is read: a FIFO or a folder is refused by
            // name, not passed over for the built-in one.
            let path = dir.map(|d| d.join(name)).filter(|p| p.exists());
            let (text, origin) = match path {
                Some(path) => {
                    let text =
                        crate::untrusted::read_input_text(&path, crate::untrusted::TEMPLATE_MAX)
                            .with_context(|| {
                                format!("cannot read the template {}", path.display())
                            })?;
                    check_template(&text).map_err(|e| {
                        crate::error::UsageError::new(
                            format!("{}: {e}", path.display()),
                            Some("fix the template or remove it to use the built-in one".into()),
                        )
                    })?;
                    (text, Some(path))
                }
                None => (builtin.to_string(), None),
            };
            files.push((name, text, origin));
        }
        Ok(Templates { files })
    }

    /// The templates read from files (not built in), for provenance.
    pub fn overrides(&self) -> Vec<&Path> {
        self.files
            .iter()
            .filter_map(|(_, _, o)| o.as_deref())
            .collect()
    }

    /// One hash over every template's text: part of each cell's hash.
    pub fn hash(&self) -> String {
        let all: Vec<&str> = self.files.iter().map(|(_, t, _)| t.as_str()).collect();
        crate::digest::hex_sha256(all.join("\0").as_bytes())
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String> {
        let mut env = environment();
        for (n, text, _) in &self.files {
            env.add_template_owned(n.to_string(), text.clone())?;
        }
        for (n, text) in TRANSPORT_TEMPLATES {
            env.add_template(n, text)?;
        }
        env.get_template(name)?
            .render(ctx)
            .map_err(|e| anyhow::anyhow!("rendering {name}: {e:#}"))
    }

    pub fn render_cell(&self, ctx: Value) -> Result<String> {
        self.render(CELL_TEMPLATE_NAME, ctx)
    }

    pub fn render_probe(&self, sysfs_root: &str) -> Result<String> {
        self.render(
            PROBE_TEMPLATE_NAME,
            minijinja::context! { sysfs_root => sysfs_root },
        )
    }

    /// Renders any board-side template by file name (`lib.sh.j2`).
    pub fn render_named(&self, name: &str, ctx: Value) -> Result<String> {
        self.render(name, ctx)
    }

    pub fn render_reset(&self, state_dir: &str) -> Result<String> {
        self.render(
            "reset.sh.j2",
            minijinja::context! { board => minijinja::context! { state_dir => state_dir } },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn plain_words_stay_and_the_rest_is_single_quoted() {
        assert_eq!(shell_quote("mobilenet_v1"), "mobilenet_v1");
        assert_eq!(shell_quote("/tmp/a-b/c.txt"), "/tmp/a-b/c.txt");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$(touch /tmp/x)"), "'$(touch /tmp/x)'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("~root"), "'~root'");
        assert_eq!(shell_quote("a;b"), "'a;b'");
    }

    #[test]
    fn every_printed_value_is_quoted_and_q_is_not_doubled() {
        let out = render_str(
            "run {{ net }} {{ net | q }} {{ n }}",
            context! { net => "x; rm -rf /", n => 3 },
        )
        .unwrap();
        assert_eq!(out, "run 'x; rm -rf /' 'x; rm -rf /' 3");
    }

    #[test]
    fn undefined_variables_are_errors() {
        let err = render_str("run {{ netwrok }}", context! { network => "x" }).unwrap_err();
        assert!(err.to_string().contains("undefined"), "{err}");
    }

    #[test]
    fn quoted_values_round_trip_through_a_real_shell() {
        for nasty in [
            "a b",
            "$(echo pwned)",
            "`id`",
            "it's",
            "\"q\"",
            "a\nb",
            "-n",
            "*",
            "x;echo y",
            "&&",
        ] {
            let script = render_str("printf '%s' {{ v }}", context! { v => nasty }).unwrap();
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                nasty,
                "script: {script}"
            );
        }
    }
}
