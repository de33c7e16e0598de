//! Reading YAML files (scenarios, the board inventory) into serde types with
//! errors a person can act on: file, line, column, YAML path, and a hint.
//! serde_yaml locates the errors it raises; the source map locates the ones
//! found later and gives mapping keys in declaration order.

pub mod source;

use std::path::Path;

use regex::Regex;
use serde::de::DeserializeOwned;

use crate::error::{Diagnostic, InputError, suggest};
use source::{Pos, SourceMap};

/// Reads `text` (the contents of `path`) as a `T`: an empty file, a key
/// given twice, a syntax error or a type error is a located diagnostic.
/// `what` names the kind of file ("scenario"); `start_hint` says how to
/// start one.
pub fn read<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    what: &str,
    start_hint: &str,
) -> Result<(T, SourceMap), InputError> {
    let source = SourceMap::build(text).unwrap_or_default();
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(InputError::one(
            Diagnostic::new(path, Pos::START, "", format!("the {what} file is empty"))
                .with_hint(start_hint),
        ));
    }
    if let Some((dup, second, first)) = source.duplicates.first() {
        return Err(InputError::one(
            Diagnostic::new(
                path,
                *second,
                dup,
                format!(
                    "key `{}` is given twice",
                    dup.rsplit('.').next().unwrap_or(dup)
                ),
            )
            .with_hint(format!("the first one is at line {}; keep one", first.line)),
        ));
    }
    let value = deserialize(path, text, &source)?;
    Ok((value, source))
}

fn deserialize<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    source: &SourceMap,
) -> Result<T, InputError> {
    let mut track = serde_path_to_error::Track::new();
    let result: Result<T, serde_yaml::Error> = if source.has_merge_keys() {
        // YAML merge keys (`<<: *defaults`) are resolved on a parsed value;
        // errors are then located through the source map by their path.
        serde_yaml::from_str::<serde_yaml::Value>(text).and_then(|mut v| {
            v.apply_merge()?;
            serde_yaml::with::singleton_map_recursive::deserialize(
                serde_path_to_error::Deserializer::new(v, &mut track),
            )
        })
    } else {
        let de = serde_yaml::Deserializer::from_str(text);
        serde_yaml::with::singleton_map_recursive::deserialize(
            serde_path_to_error::Deserializer::new(de, &mut track),
        )
    };
    result.map_err(|err| {
        let yaml_path = track.path().to_string();
        let yaml_path = if yaml_path == "." {
            String::new()
        } else {
            yaml_path
        };
        InputError::one(serde_diagnostic(path, source, &yaml_path, &err))
    })
}

/// Turns a serde_yaml error into a located diagnostic with a hint.
fn serde_diagnostic(
    file: &Path,
    source: &SourceMap,
    yaml_path: &str,
    err: &serde_yaml::Error,
) -> Diagnostic {
    let full = err.to_string();
    let message = strip_serde_decorations(&full);
    let pos = if message.starts_with("missing field") {
        source.locate(yaml_path)
    } else {
        match err.location() {
            Some(l) => Pos {
                line: l.line(),
                column: l.column(),
            },
            None => source.locate(yaml_path),
        }
    };
    // A syntax error has no meaningful YAML path: the parser stopped there.
    let syntax = message.contains("while parsing") || message.contains("while scanning");
    let d = Diagnostic::new(
        file,
        pos,
        if syntax { "" } else { yaml_path },
        message.clone(),
    );
    let hint = if syntax {
        Some("this is not valid YAML here: check brackets, quotes and indentation (spaces only, no tabs) on this line and the one before".to_string())
    } else {
        serde_hint(&message, yaml_path)
    };
    d.with_hint(hint.unwrap_or_else(|| "schema.json documents every key and value; editors with the YAML language server show it as you type".into()))
}

/// serde_yaml prefixes its path and suffixes " at line L column C": both are
/// shown separately.
fn strip_serde_decorations(msg: &str) -> String {
    static SUFFIX: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r" at line \d+ column \d+").expect("valid regex"));
    static PREFIX: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_.\[\]-]+: ").expect("valid regex"));
    let m = SUFFIX.replace_all(msg, "");
    PREFIX
        .replace(&m, "")
        .replace("struct RawScenario", "a scenario mapping")
        .replace("struct RawInventory", "a board inventory mapping")
        .replace("expected u32", "expected a whole number")
        .replace("expected u64", "expected a whole number")
        .replace("expected usize", "expected a whole number")
        .replace("expected f64", "expected a number")
}

fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

fn serde_hint(message: &str, yaml_path: &str) -> Option<String> {
    if message.starts_with("unknown field") || message.starts_with("unknown variant") {
        let names = backticked(message);
        let (got, expected) = names.split_first()?;
        if let Some(s) = suggest(got, expected.iter().copied()) {
            return Some(format!("did you mean `{s}`?"));
        }
        if expected.is_empty() {
            return Some("remove it: this mapping takes no keys".into());
        }
        return Some(format!(
            "valid here: {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if message.starts_with("missing field") {
        let field = backticked(message).first().copied().unwrap_or("the field");
        return Some(format!(
            "add `{field}:`; see schema.json or scenarios/quickstart.yaml"
        ));
    }
    if message.contains("expected newtype variant") || message.contains("expected struct variant") {
        let example = if yaml_path.contains("strategy") {
            "`{fixed: 8}` or `{sweep: {k: [1, 2, 4, 8]}}`"
        } else {
            "`{probe: {}}` or `{command: {run: \"...\"}}`"
        };
        return Some(format!(
            "this option takes a value: write it as a one-key map, e.g. {example}"
        ));
    }
    if message.contains("integer `-") {
        return Some("negative numbers are not allowed here".into());
    }
    if message.ends_with("expected a whole number") {
        return Some("write a whole number, without quotes or units".into());
    }
    if message.ends_with("expected a number") {
        return Some("write a number, e.g. 0.05".into());
    }
    if message.contains("expected a scenario mapping") {
        return Some("a scenario is a YAML mapping: `name: ...`, `networks: [...]`, ... (see scenarios/quickstart.yaml)".into());
    }
    if message.contains("more than one document") {
        return Some("a scenario file holds one YAML document: remove the extra `---`".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_path_prefix_and_location_suffix() {
        assert_eq!(
            strip_serde_decorations(
                "matrix.strategy[1]: unknown variant `fixd`, expected one of `default`, `fixed` at line 3 column 24"
            ),
            "unknown variant `fixd`, expected one of `default`, `fixed`"
        );
        assert_eq!(
            strip_serde_decorations("missing field `name`"),
            "missing field `name`"
        );
        assert_eq!(
            strip_serde_decorations("invalid type: string \"x\", expected u32 at line 1 column 2"),
            "invalid type: string \"x\", expected a whole number"
        );
    }

    #[test]
    fn hints_suggest_the_closest_key() {
        let h = serde_hint(
            "unknown field `iteration`, expected one of `name`, `iterations`, `loads`",
            "",
        );
        assert_eq!(h.as_deref(), Some("did you mean `iterations`?"));
    }
}
