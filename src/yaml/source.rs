//! Where each node of a YAML file is: a map from YAML paths (`matrix.load[1]`)
//! to 1-based line and column, built from saphyr-parser's event stream.
//!
//! serde_yaml locates the errors it raises itself; this map locates the ones
//! klo-spec finds after parsing (an unknown load name, an exclude that
//! matches nothing), and gives the declaration order of mapping keys, which
//! decides the order in which matrix axes multiply.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span};

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// Positions of the nodes of one YAML document, by path.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    nodes: HashMap<String, Pos>,
    keys: HashMap<String, Vec<(String, Pos)>>,
    /// Keys that appear twice in one mapping: (path of the second, first position).
    pub duplicates: Vec<(String, Pos, Pos)>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

impl SourceMap {
    /// Indexes `text`. Returns `None` when the parser rejects it (serde_yaml
    /// reports syntax errors with their own location).
    pub fn build(text: &str) -> Option<SourceMap> {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut documents = 0;
        for item in Parser::new_from_str(text) {
            let (event, span) = item.ok()?;
            let pos = pos_of(&span);
            match event {
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents > 1 {
                        break;
                    }
                }
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Map {
                        path,
                        key: key @ None,
                    }) = stack.last_mut()
                    {
                        // A mapping key.
                        let list = map.keys.entry(path.clone()).or_default();
                        if let Some((_, first)) = list.iter().find(|(k, _)| *k == value) {
                            map.duplicates.push((join(path, &value), pos, *first));
                        } else {
                            list.push((value.to_string(), pos));
                        }
                        *key = Some(value.to_string());
                    } else {
                        let path = map.value_path(&stack);
                        map.nodes.entry(path).or_insert(pos);
                        Self::value_done(&mut stack);
                    }
                }
                Event::Alias(_) => {
                    if let Some(Frame::Map {
                        key: key @ None, ..
                    }) = stack.last_mut()
                    {
                        *key = Some("*alias".to_string());
                    } else {
                        let path = map.value_path(&stack);
                        map.nodes.entry(path).or_insert(pos);
                        Self::value_done(&mut stack);
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let path = if let Some(Frame::Map { key: None, .. }) = stack.last() {
                        // A complex key: index it under a placeholder name.
                        "?".to_string()
                    } else {
                        map.value_path(&stack)
                    };
                    map.nodes.entry(path.clone()).or_insert(pos);
                    stack.push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Map { path, key: None }
                    } else {
                        Frame::Seq { path, index: 0 }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    Self::value_done(&mut stack);
                }
                _ => {}
            }
        }
        Some(map)
    }

    fn value_path(&self, stack: &[Frame]) -> String {
        match stack.last() {
            None => String::new(),
            Some(Frame::Map { path, key }) => join(path, key.as_deref().unwrap_or("?")),
            Some(Frame::Seq { path, index }) => format!("{path}[{index}]"),
        }
    }

    fn value_done(stack: &mut [Frame]) {
        match stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { index, .. }) => *index += 1,
            None => {}
        }
    }

    /// Position of the node at `path`, or of its nearest located ancestor.
    pub fn locate(&self, path: &str) -> Pos {
        let mut p = path.trim_start_matches('.');
        loop {
            if let Some(pos) = self.nodes.get(p) {
                return *pos;
            }
            if p.is_empty() {
                return Pos::START;
            }
            // Strip the last `.key` or `[i]`.
            let cut = p.rfind(['.', '[']).unwrap_or(0);
            p = &p[..cut];
        }
    }

    /// Position of the key `key` in the mapping at `path` (for errors about a
    /// key itself), falling back to the value's position.
    pub fn locate_key(&self, path: &str, key: &str) -> Pos {
        self.keys
            .get(path)
            .and_then(|keys| keys.iter().find(|(k, _)| k == key).map(|(_, p)| *p))
            .unwrap_or_else(|| self.locate(&join(path, key)))
    }

    /// True when some mapping uses a YAML merge key (`<<`).
    pub fn has_merge_keys(&self) -> bool {
        self.keys
            .values()
            .any(|k| k.iter().any(|(name, _)| name == "<<"))
            || self.duplicates.iter().any(|d| d.0.ends_with("<<"))
    }

    /// Keys of the mapping at `path`, in declaration order.
    pub fn keys(&self, path: &str) -> Vec<&str> {
        self.keys
            .get(path)
            .map(|k| k.iter().map(|(k, _)| k.as_str()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
name: demo
loads:
  heavy: {procs_per_core: 2}
matrix:
  strategy: [default, {fixed: 4}]
  load:
    - none
    - heavy
";

    #[test]
    fn locates_nested_nodes_and_keys() {
        let map = SourceMap::build(DOC).unwrap();
        assert_eq!(map.locate("name"), Pos { line: 1, column: 7 });
        assert_eq!(
            map.locate("loads.heavy.procs_per_core"),
            Pos {
                line: 3,
                column: 27
            }
        );
        assert_eq!(
            map.locate("matrix.strategy[1]"),
            Pos {
                line: 5,
                column: 23
            }
        );
        assert_eq!(
            map.locate("matrix.strategy[1].fixed"),
            Pos {
                line: 5,
                column: 31
            }
        );
        assert_eq!(map.locate("matrix.load[1]"), Pos { line: 8, column: 7 });
        assert_eq!(map.locate_key("matrix", "load"), Pos { line: 6, column: 3 });
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let map = SourceMap::build(DOC).unwrap();
        assert_eq!(map.locate("matrix.load[7].x"), map.locate("matrix.load"));
        assert_eq!(map.locate("nothing.here"), Pos::START);
    }

    #[test]
    fn keeps_key_order_and_finds_duplicates() {
        let map = SourceMap::build(DOC).unwrap();
        assert_eq!(map.keys("matrix"), vec!["strategy", "load"]);
        let dup = SourceMap::build("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(dup.duplicates.len(), 1);
        assert_eq!(dup.duplicates[0].0, "a");
        assert_eq!(dup.duplicates[0].1, Pos { line: 3, column: 1 });
    }
}
