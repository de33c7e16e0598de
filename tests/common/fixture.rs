//! Fixture sysfs trees (tests/fixtures/sysfs): copies a test runs a board
//! on, and comparisons with the original.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ROOT;

/// Every file of a tree, by relative path.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// A fixture tree of tests/fixtures/sysfs.
pub fn fixture(tree: &str) -> PathBuf {
    Path::new(ROOT).join("tests/fixtures/sysfs").join(tree)
}

/// The files of `copy` that differ from fixture `tree` (or are only on one
/// side), leaving out those `skip` accepts.
pub fn tree_differences(copy: &Path, tree: &str, skip: &dyn Fn(&Path) -> bool) -> Vec<String> {
    let (a, b) = (snapshot(copy), snapshot(&fixture(tree)));
    let mut differ: Vec<String> = a
        .iter()
        .filter(|(k, v)| !skip(k) && b.get(*k) != Some(v))
        .map(|(k, v)| format!("{}: {:?}", k.display(), String::from_utf8_lossy(v)))
        .collect();
    differ.extend(
        b.keys()
            .filter(|k| !skip(k) && !a.contains_key(*k))
            .map(|k| format!("{}: missing", k.display())),
    );
    differ
}

/// Every file klo-spec may change is as in the fixture. Thermal zones'
/// temperatures are the kernel's (the emulation heats them under load and
/// cools them after), not values klo-spec writes and restores.
pub fn assert_same_tree(copy: &Path, tree: &str) {
    let differ = tree_differences(copy, tree, &|p| {
        p.starts_with("class/thermal") && p.file_name().is_some_and(|n| n == "temp")
    });
    assert!(differ.is_empty(), "{tree} changed: {differ:?}");
}
