//! Where each node of a YAML file is: a map from YAML paths (`matrix.load[1]`)
//! to 1-based line and column, built from saphyr-parser's event stream.
//!
//! serde_yaml locates the errors it raises itself; this map locates the ones
//! klo-spec finds after parsing (an unknown load name, an exclude that
//! matches nothing), and gives the declaration order of mapping keys, which
//! decides the order in which matrix axes multiply.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span};

pub use crate::error::Pos;

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

/// Most levels of nested mappings and sequences a file may have: a
/// scenario needs about 8.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a file may expand to once every alias is replaced by what it
/// names: a scenario has hundreds to thousands; an alias bomb ("billion
/// laughs") has billions, and is refused before anything expands it.
pub const MAX_NODES: u64 = 1_000_000;
/// Most bytes of YAML paths the index may hold.
const MAX_PATH_BYTES: usize = 64 << 20;

/// Why a file cannot be indexed.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexError {
    /// The parser rejects it: serde_yaml reports where, in its words.
    Syntax,
    /// It is over a budget (nesting, size after alias expansion): where,
    /// and what.
    Budget(Pos, String),
}

/// Per open collection: its anchor (0: none) and the node count when it
/// started, to size the anchor once it ends.
struct Open {
    anchor: usize,
    start: u64,
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
    /// reports syntax errors with their own location) or it is over a
    /// budget.
    pub fn build(text: &str) -> Option<SourceMap> {
        Self::index(text).ok()
    }

    /// Indexes `text`, within the budgets: at most [`MAX_DEPTH`] levels of
    /// nesting and [`MAX_NODES`] nodes once aliases are expanded (counted,
    /// never expanded: each anchor's size is known when its node ends).
    pub fn index(text: &str) -> Result<SourceMap, IndexError> {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut documents = 0;
        let mut nodes: u64 = 0;
        let mut open: Vec<Open> = Vec::new();
        let mut sizes: HashMap<usize, u64> = HashMap::new();
        let mut path_bytes = 0usize;
        let over = |pos: Pos, nodes: u64| {
            IndexError::Budget(
                pos,
                format!(
                    "the document expands to more than {MAX_NODES} nodes once its aliases are replaced by what they name (at least {nodes} here)"
                ),
            )
        };
        for item in Parser::new_from_str(text) {
            let (event, span) = item.map_err(|e| {
                // The scanner's own limit (255 open flow collections, met
                // before their first event): deep nesting, not a syntax
                // error to hand on (libyaml takes time quadratic in the
                // depth to say the same).
                if e.info().contains("recursion limit") {
                    IndexError::Budget(
                        Pos {
                            line: e.marker().line(),
                            column: e.marker().col() + 1,
                        },
                        format!("mappings and sequences are nested deeper than {MAX_DEPTH} levels"),
                    )
                } else {
                    IndexError::Syntax
                }
            })?;
            let pos = pos_of(&span);
            match &event {
                Event::Scalar(.., anchor, _) => {
                    nodes += 1;
                    if *anchor != 0 {
                        sizes.insert(*anchor, 1);
                    }
                }
                Event::Alias(id) => {
                    nodes = nodes.saturating_add(sizes.get(id).copied().unwrap_or(1));
                }
                Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                    nodes += 1;
                    if open.len() >= MAX_DEPTH {
                        return Err(IndexError::Budget(
                            pos,
                            format!(
                                "mappings and sequences are nested deeper than {MAX_DEPTH} levels"
                            ),
                        ));
                    }
                    open.push(Open {
                        anchor: *anchor,
                        start: nodes - 1,
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    if let Some(o) = open.pop()
                        && o.anchor != 0
                    {
                        sizes.insert(o.anchor, nodes - o.start);
                    }
                }
                _ => {}
            }
            if nodes > MAX_NODES {
                return Err(over(pos, nodes));
            }
            if path_bytes > MAX_PATH_BYTES {
                return Err(IndexError::Budget(
                    pos,
                    "the document's keys are too long to index (more than 64 MiB of paths)".into(),
                ));
            }
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
                        path_bytes += path.len() + value.len();
                        let list = map.keys.entry(path.clone()).or_default();
                        if let Some((_, first)) = list.iter().find(|(k, _)| *k == value) {
                            map.duplicates.push((join(path, &value), pos, *first));
                        } else {
                            list.push((value.to_string(), pos));
                        }
                        *key = Some(value.to_string());
                    } else {
                        let path = map.value_path(&stack);
                        path_bytes += path.len();
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
                        path_bytes += path.len();
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
                    path_bytes += 2 * path.len();
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
        Ok(map)
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
