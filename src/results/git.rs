//! Reading a result set's committed files at a git revision, through
//! `git cat-file` (no checkout: the working tree is never touched). The
//! folder may have been removed or renamed since: it is located through its
//! nearest existing ancestor.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::error::UsageError;

/// A folder inside a git repository: the repository's top level and the
/// folder's path in it (`/`-separated, empty for the top level).
#[derive(Debug, Clone, PartialEq)]
pub struct RepoPath {
    pub top: PathBuf,
    pub rel: String,
}

fn git(dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("cannot run git (reading a result set at a revision needs it on PATH)")
}

/// Locates `dir` in its repository. `dir` itself need not exist.
pub fn locate(dir: &Path) -> Result<RepoPath> {
    let abs = std::path::absolute(dir)
        .with_context(|| format!("cannot resolve the path {}", dir.display()))?;
    // The nearest existing ancestor anchors the lookup; the rest is joined
    // back as written.
    let mut existing = abs.as_path();
    let mut rest: Vec<String> = Vec::new();
    while !existing.is_dir() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_string_lossy().into_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    rest.reverse();
    let out = git(existing, &["rev-parse", "--show-toplevel"])?;
    if !out.status.success() {
        return Err(UsageError::new(
            format!("{} is not inside a git repository", dir.display()),
            Some("--rev reads committed tables; without git, compare two folders: klo-spec diff OLD NEW".into()),
        )
        .into());
    }
    let top = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let top = top.canonicalize().unwrap_or(top);
    let anchor = existing
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", existing.display()))?;
    let inside = anchor.strip_prefix(&top).with_context(|| {
        format!(
            "{} is outside the repository {}",
            anchor.display(),
            top.display()
        )
    })?;
    let mut parts: Vec<String> = Vec::new();
    for c in inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .chain(rest)
    {
        match Path::new(&c).components().next() {
            Some(Component::ParentDir) => {
                parts.pop();
            }
            Some(Component::CurDir) | None => {}
            _ => parts.push(c),
        }
    }
    Ok(RepoPath {
        top,
        rel: parts.join("/"),
    })
}

/// The commit `rev` names, abbreviated; bad input when it names none.
pub fn resolve(repo: &RepoPath, rev: &str) -> Result<String> {
    if rev.starts_with('-') {
        return Err(UsageError::new(format!("`{rev}` is not a revision"), None).into());
    }
    let spec = format!("{rev}^{{commit}}");
    let out = git(
        &repo.top,
        &["rev-parse", "--verify", "--quiet", "--short", &spec],
    )?;
    if !out.status.success() {
        return Err(UsageError::new(
            format!(
                "unknown revision `{rev}` in the repository {}",
                repo.top.display()
            ),
            Some("use a commit, branch or tag that exists: git log --oneline -- <folder>".into()),
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The bytes of `file` (relative to the folder) at `commit`, or `None` when
/// the commit has no such file.
pub fn read(repo: &RepoPath, commit: &str, file: &str) -> Result<Option<Vec<u8>>> {
    let path = if repo.rel.is_empty() {
        file.to_string()
    } else {
        format!("{}/{file}", repo.rel)
    };
    let spec = format!("{commit}:{path}");
    if !git(&repo.top, &["cat-file", "-e", &spec])?.status.success() {
        return Ok(None);
    }
    let out = git(&repo.top, &["cat-file", "blob", &spec])?;
    if !out.status.success() {
        anyhow::bail!(
            "git cat-file blob {spec} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Some(out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn reads_a_file_at_two_commits_and_after_its_folder_is_gone() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path();
        sh(repo, &["init", "-q"]);
        let set = repo.join("outputs/a");
        std::fs::create_dir_all(&set).unwrap();
        std::fs::write(set.join("summary.csv"), "one\n").unwrap();
        sh(repo, &["add", "."]);
        sh(repo, &["commit", "-qm", "one"]);
        std::fs::write(set.join("summary.csv"), "two\n").unwrap();
        sh(repo, &["commit", "-qam", "two"]);

        let loc = locate(&set).unwrap();
        assert_eq!(loc.rel, "outputs/a");
        let first = resolve(&loc, "HEAD~1").unwrap();
        assert_eq!(
            read(&loc, &first, "summary.csv").unwrap().unwrap(),
            b"one\n"
        );
        assert_eq!(
            read(&loc, "HEAD", "summary.csv").unwrap().unwrap(),
            b"two\n"
        );
        assert_eq!(read(&loc, "HEAD", "sweeps.csv").unwrap(), None);

        std::fs::remove_dir_all(repo.join("outputs")).unwrap();
        let gone = locate(&set).unwrap();
        assert_eq!(gone, loc, "a removed folder is found through its parent");
        let err = resolve(&loc, "no-such-rev").unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
    }

    #[test]
    fn outside_a_repository_is_bad_input() {
        let d = tempfile::tempdir().unwrap();
        let err = locate(d.path()).unwrap_err();
        assert!(
            err.to_string().contains("not inside a git repository"),
            "{err:#}"
        );
    }
}
