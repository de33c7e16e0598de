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
    // A byte-order mark is not content (an editor on Windows may write
    // one): it is skipped, and line 1 keeps its columns.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Within budgets before serde_yaml sees it: nesting, and the size
    // once aliases are expanded ("billion laughs").
    let source = match SourceMap::index(text) {
        Ok(map) => map,
        Err(source::IndexError::Syntax) => SourceMap::default(),
        Err(source::IndexError::Budget(pos, why)) => {
            return Err(InputError::one(
                Diagnostic::new(path, pos, "", format!("the {what} file is refused: {why}"))
                    .with_hint(format!(
                        "a {what} is a small document: write each value out (anchors and aliases are for a few repeated blocks) and keep nesting shallow"
                    )),
            ));
        }
    };
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

/// Parses YAML that klo-spec wrote or keeps (a result set's copy of its
/// scenario) into a value, within the same budgets as a scenario: nesting
/// and the size once aliases are expanded are checked before serde_yaml
/// expands anything.
pub fn parse_value(text: &str) -> Result<serde_yaml::Value, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Err(source::IndexError::Budget(pos, why)) = SourceMap::index(text) {
        return Err(format!("line {}, column {}: {why}", pos.line, pos.column));
    }
    serde_yaml::from_str(text).map_err(|e| e.to_string())
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

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        other: Option<serde_yaml::Value>,
    }

    fn read_doc(text: &str) -> Result<Doc, InputError> {
        read::<Doc>(Path::new("d.yaml"), text, "scenario", "start").map(|(d, _)| d)
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_expands_and_located() {
        let mut text = String::from(
            "name: x
other:
  l0: &l0 [x, x, x, x, x, x, x, x, x, x]
",
        );
        for i in 1..10 {
            let refs = vec![format!("*l{}", i - 1); 10].join(", ");
            text.push_str(&format!(
                "  l{i}: &l{i} [{refs}]
"
            ));
        }
        let t = std::time::Instant::now();
        let err = read_doc(&text).unwrap_err();
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        let d = &err.diagnostics[0];
        assert!(d.message.contains("more than 1000000 nodes"), "{d}");
        // Where the expansion passes the budget: an alias of `l5`, whose
        // 10^6 nodes cross it.
        assert_eq!(d.line, 8, "{d}");
        // A few aliases are fine.
        assert!(
            read_doc(
                "name: x
other: {a: &a [1, 2], b: *a, c: *a}
"
            )
            .is_ok()
        );
    }

    #[test]
    fn deep_nesting_is_refused_at_once_and_located() {
        let depth = 200_000;
        let text = format!(
            "name: x
other: {}1{}
",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        );
        let t = std::time::Instant::now();
        let err = read_doc(&text).unwrap_err();
        assert!(
            t.elapsed() < std::time::Duration::from_millis(900),
            "{:?}",
            t.elapsed()
        );
        let d = &err.diagnostics[0];
        assert!(d.message.contains("nested deeper than 64 levels"), "{d}");
        // The 64th `{` opens the 65th level (the document's mapping is the
        // first).
        assert_eq!((d.line, d.column), (2, 8 + 4 * 63), "{d}");
        let seq = format!(
            "name: x
other: {}1{}
",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert!(
            read_doc(&seq).unwrap_err().diagnostics[0]
                .message
                .contains("nested deeper")
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped_and_positions_stay_right() {
        let d = read_doc("\u{feff}name: x\nother: [1]\n").unwrap();
        assert_eq!(d.name, "x");
        let err = read_doc("\u{feff}name: [1]\n").unwrap_err();
        let d = &err.diagnostics[0];
        assert_eq!((d.line, d.column), (1, 7), "{d}");
    }

    #[test]
    fn messages_quoting_a_long_value_are_shortened() {
        let long = "9".repeat(100_000);
        let err = read_doc(&format!("name: [{long}x]\n")).unwrap_err();
        let d = &err.diagnostics[0];
        assert!(
            d.message.chars().count() <= 700,
            "{} characters",
            d.message.len()
        );
        let err = read_doc(&format!("name: x\n{long}: 1\n")).unwrap_err();
        assert!(err.to_string().len() < 2000, "{}", err.to_string().len());
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
