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

/// The nodes of a document counted as if its aliases were expanded.
#[derive(Default)]
struct NodeCount {
    nodes: u64,
    open: Vec<Open>,
    /// Per anchor, the nodes of what it names.
    sizes: HashMap<usize, u64>,
}

impl NodeCount {
    /// Counts `event`'s nodes; fails past [`MAX_DEPTH`] or [`MAX_NODES`].
    fn count(&mut self, event: &Event, pos: Pos) -> Result<(), IndexError> {
        match event {
            Event::Scalar(.., anchor, _) => {
                self.nodes += 1;
                if *anchor != 0 {
                    self.sizes.insert(*anchor, 1);
                }
            }
            Event::Alias(id) => {
                self.nodes = self
                    .nodes
                    .saturating_add(self.sizes.get(id).copied().unwrap_or(1));
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                self.nodes += 1;
                if self.open.len() >= MAX_DEPTH {
                    return Err(IndexError::Budget(
                        pos,
                        format!("mappings and sequences are nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                self.open.push(Open {
                    anchor: *anchor,
                    start: self.nodes - 1,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(o) = self.open.pop()
                    && o.anchor != 0
                {
                    self.sizes.insert(o.anchor, self.nodes - o.start);
                }
            }
            _ => {}
        }
        if self.nodes > MAX_NODES {
            return Err(IndexError::Budget(
                pos,
                format!(
                    "the document expands to more than {MAX_NODES} nodes once its aliases are replaced by what they name (at least {} here)",
                    self.nodes
                ),
            ));
        }
        Ok(())
    }
}

/// The map being built from the events of the first document.
#[derive(Default)]
struct Indexer {
    map: SourceMap,
    stack: Vec<Frame>,
    documents: u32,
    /// Bytes of paths held so far.
    path_bytes: usize,
}

impl Indexer {
    /// Records `event` at `pos`. False at a second document, where
    /// indexing stops.
    fn record(&mut self, event: Event, pos: Pos) -> bool {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return false;
                }
            }
            Event::Scalar(value, ..) => self.scalar(&value, pos),
            Event::Alias(_) => {
                if let Some(Frame::Map {
                    key: key @ None, ..
                }) = self.stack.last_mut()
                {
                    *key = Some("*alias".to_string());
                } else {
                    self.value(pos);
                }
            }
            Event::MappingStart(..) => self.start(true, pos),
            Event::SequenceStart(..) => self.start(false, pos),
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                SourceMap::value_done(&mut self.stack);
            }
            _ => {}
        }
        true
    }

    /// A scalar: a mapping key (noted in order, duplicates recorded) or a
    /// value.
    fn scalar(&mut self, value: &str, pos: Pos) {
        if let Some(Frame::Map {
            path,
            key: key @ None,
        }) = self.stack.last_mut()
        {
            // A mapping key.
            self.path_bytes += path.len() + value.len();
            let list = self.map.keys.entry(path.clone()).or_default();
            if let Some((_, first)) = list.iter().find(|(k, _)| *k == value) {
                self.map.duplicates.push((join(path, value), pos, *first));
            } else {
                list.push((value.to_string(), pos));
            }
            *key = Some(value.to_string());
        } else {
            self.value(pos);
        }
    }

    /// A scalar or alias value: its position, under its path.
    fn value(&mut self, pos: Pos) {
        let path = self.map.value_path(&self.stack);
        self.path_bytes += path.len();
        self.map.nodes.entry(path).or_insert(pos);
        SourceMap::value_done(&mut self.stack);
    }

    /// A mapping (`map`) or sequence starts: its position, and a frame for
    /// its contents.
    fn start(&mut self, map: bool, pos: Pos) {
        let path = if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            // A complex key: index it under a placeholder name.
            "?".to_string()
        } else {
            self.map.value_path(&self.stack)
        };
        self.path_bytes += 2 * path.len();
        self.map.nodes.entry(path.clone()).or_insert(pos);
        self.stack.push(if map {
            Frame::Map { path, key: None }
        } else {
            Frame::Seq { path, index: 0 }
        });
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
        let mut indexer = Indexer::default();
        let mut count = NodeCount::default();
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
            count.count(&event, pos)?;
            if indexer.path_bytes > MAX_PATH_BYTES {
                return Err(IndexError::Budget(
                    pos,
                    "the document's keys are too long to index (more than 64 MiB of paths)".into(),
                ));
            }
            if !indexer.record(event, pos) {
                break;
            }
        }
        Ok(indexer.map)
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
