//! Bringing a cell's folder back from its board into the output folder.
//! What a board sends is data, never a path: whatever runs there (a
//! benchmark, a compromised board) decides what the folder holds, so only
//! folders and regular files come back. A symbolic link (`attempts` ->
//! a host folder would receive the next attempt's files, `bench.log` ->
//! a host file would be read as the log), a hard link, a device file, a
//! FIFO, a path that leaves the folder, and the names klo-spec keeps for
//! itself are refused and listed, so that the cell says so; and the sizes
//! are bounded (`pull_limits` in the scenario): per file, per cell, and in
//! files, so a board cannot fill this machine's disk or memory.
//!
//! ssh and adb boards send the folder as a tar archive ([`unpack`]); the
//! local board's folder is moved ([`move_tree`]). Both apply the same rules.

use std::io::Read;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use crate::text::printable;
use crate::untrusted::{self, MIB, PullLimits};

/// Names at the top of a cell folder that klo-spec writes itself: a board
/// sending one back is refused (its `cell.json` would pass for the
/// runner's record, its `attempts` would receive the earlier attempts).
pub const RESERVED: [&str; 2] = [crate::layout::CELL_JSON, crate::layout::ATTEMPTS];
/// The round trip script's own marker (templates/remote.sh.j2): skipped.
const MARKER: &str = ".klo-done";
/// Deepest folder nesting taken.
const MAX_DEPTH: usize = 32;
/// Problems listed by name in a cell's reason; the rest are counted.
const LISTED: usize = 5;

/// What a pull refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullReport {
    /// Entries that are not plain data (links, devices, paths leaving the
    /// folder, reserved names, a malformed archive): the first few, and
    /// how many in all.
    pub rejected: Vec<String>,
    pub rejected_count: usize,
    /// Files over the per-file limit, and the cell over its limits.
    pub too_large: Vec<String>,
    pub too_large_count: usize,
    /// Files and bytes written.
    pub files: u64,
    pub bytes: u64,
}

impl PullReport {
    pub fn reject(&mut self, what: String) {
        if self.rejected.len() < LISTED {
            self.rejected.push(what);
        }
        self.rejected_count += 1;
    }

    pub fn over(&mut self, what: String) {
        if self.too_large.len() < LISTED {
            self.too_large.push(what);
        }
        self.too_large_count += 1;
    }

    /// True when everything came back.
    pub fn is_clean(&self) -> bool {
        self.rejected_count == 0 && self.too_large_count == 0
    }

    fn list(items: &[String], count: usize) -> String {
        let mut s = items.join("; ");
        if count > items.len() {
            s.push_str(&format!(" (and {} more)", count - items.len()));
        }
        s
    }

    /// Why the cell cannot count, for its record: refused entries first.
    pub fn rejected_reason(&self) -> Option<String> {
        (self.rejected_count > 0).then(|| {
            format!(
                "the board sent back what klo-spec does not take (only folders and regular files inside the cell folder come back; none of these was written): {}",
                Self::list(&self.rejected, self.rejected_count)
            )
        })
    }

    /// Why the cell cannot count because of its size.
    pub fn too_large_reason(&self) -> Option<String> {
        (self.too_large_count > 0).then(|| {
            format!(
                "the board sent back more than the pull limits allow (`pull_limits` in the scenario): {}",
                Self::list(&self.too_large, self.too_large_count)
            )
        })
    }
}

/// True for an error of a file system that cannot take more: the run stops
/// on those instead of judging the cell.
fn is_storage(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EROFS)
    )
}

/// A name as messages show it.
fn shown(bytes: &[u8]) -> String {
    format!("`{}`", printable(&String::from_utf8_lossy(bytes)))
}

/// The relative path an archive entry names, or why it is refused.
fn relative(raw: &[u8]) -> Result<PathBuf, &'static str> {
    if raw.first() == Some(&b'/') {
        return Err("is an absolute path");
    }
    let mut out = PathBuf::new();
    let mut depth = 0;
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("leaves the cell folder (`..`)"),
            p => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err("is nested deeper than 32 folders");
                }
                out.push(std::ffi::OsStr::from_bytes(p));
            }
        }
    }
    Ok(out)
}

fn top_name(rel: &Path) -> Option<&str> {
    match rel.components().next() {
        Some(Component::Normal(n)) => n.to_str(),
        _ => None,
    }
}

fn reserved(rel: &Path) -> bool {
    top_name(rel).is_some_and(|n| RESERVED.contains(&n))
}

/// A new regular file at `path` (never through a link), mode 0755 when
/// `exec`, else 0644.
fn create(path: &Path, exec: bool) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if exec { 0o755 } else { 0o644 })
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Counts a file of `size` bytes against the limits; false (and the reason
/// noted) when it must not be written. `stop` is set when no later file
/// may be written either.
fn admit(
    report: &mut PullReport,
    limits: &PullLimits,
    name: &str,
    size: u64,
    stop: &mut bool,
) -> bool {
    if report.files + 1 > limits.files {
        report.over(format!(
            "more than {} files and folders (`pull_limits.files`): {name} and what follows were not written",
            limits.files
        ));
        *stop = true;
        return false;
    }
    if size > limits.file_bytes {
        report.over(format!(
            "{name} holds {size} bytes, more than the {} MiB of `pull_limits.file_mib`: not written",
            limits.file_bytes / MIB
        ));
        return false;
    }
    if report.bytes.saturating_add(size) > limits.cell_bytes {
        report.over(format!(
            "the files hold more than the {} MiB of `pull_limits.cell_mib`: {name} and what follows were not written",
            limits.cell_bytes / MIB
        ));
        *stop = true;
        return false;
    }
    report.files += 1;
    report.bytes += size;
    true
}

/// Unpacks a tar archive a board sent back into `to`: folders and regular
/// files only, inside `to`, within `limits`; everything else is refused
/// and listed in the report (nothing of it is written). An error is only a
/// folder here that cannot be written (a full disk, a read-only folder).
pub fn unpack(archive: impl Read, to: &Path, limits: &PullLimits) -> Result<PullReport> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut report = PullReport::default();
    let mut a = tar::Archive::new(archive);
    let entries = match a.entries() {
        Ok(e) => e,
        Err(e) => {
            report.reject(format!("the archive cannot be read: {e}"));
            return Ok(report);
        }
    };
    let mut stop = false;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                report.reject(format!(
                    "the archive is malformed after {} file(s): {}",
                    report.files,
                    printable(&e.to_string())
                ));
                break;
            }
        };
        let raw = entry.path_bytes().into_owned();
        let name = shown(&raw);
        let rel = match relative(&raw) {
            Ok(r) => r,
            Err(why) => {
                report.reject(format!("{name} {why}"));
                continue;
            }
        };
        let ty = entry.header().entry_type();
        if rel.as_os_str().is_empty() && ty.is_dir() {
            continue; // `.` itself
        }
        if rel == Path::new(MARKER) {
            continue;
        }
        if ty.is_pax_global_extensions() {
            continue; // describes the archive, names no file
        }
        if !(ty.is_dir() || ty.is_file() || ty.is_contiguous()) {
            report.reject(format!("{name} is {}", refused_kind(&entry, ty)));
            continue;
        }
        if reserved(&rel) {
            report.reject(format!("{name} is a name klo-spec writes itself"));
            continue;
        }
        let target = to.join(&rel);
        let size = if ty.is_dir() { 0 } else { entry.size() };
        if !admit(&mut report, limits, &name, size, &mut stop) {
            if stop {
                break;
            }
            continue;
        }
        if let Err(e) = write_entry(&mut entry, ty, &target, size) {
            if !ty.is_dir() {
                // Not half a file: a truncated one could pass for a log.
                let _ = std::fs::remove_file(&target);
            }
            if is_storage(&e) {
                return Err(e).with_context(|| format!("cannot write {}", target.display()));
            }
            report.reject(format!(
                "{name} cannot be written: {}",
                printable(&e.to_string())
            ));
        }
    }
    Ok(report)
}

/// What an entry that is neither a folder nor a regular file is, as the
/// report says it: a link (and to what), a device file, a FIFO, ...
fn refused_kind<R: Read>(entry: &tar::Entry<'_, R>, ty: tar::EntryType) -> String {
    let link = entry
        .link_name_bytes()
        .map(|l| format!(" (to {})", shown(&l)))
        .unwrap_or_default();
    if ty.is_symlink() {
        format!("a symbolic link{link}")
    } else if ty.is_hard_link() {
        format!("a hard link{link}")
    } else if ty.is_character_special() || ty.is_block_special() {
        "a device file".to_string()
    } else if ty.is_fifo() {
        "a FIFO (named pipe)".to_string()
    } else {
        format!("a tar entry of type {ty:?}")
    }
}

/// Writes an admitted entry at `target`: a folder, or a regular file of
/// `size` bytes (never through a link, executable when the archive says
/// so) that must hold all of them.
fn write_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    ty: tar::EntryType,
    target: &Path,
    size: u64,
) -> std::io::Result<()> {
    if ty.is_dir() {
        return std::fs::create_dir_all(target);
    }
    let exec = entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = create(target, exec)?;
    let copied = std::io::copy(&mut (&mut *entry).take(size), &mut f)?;
    if copied != size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the archive ends inside it ({copied} of {size} bytes)"),
        ));
    }
    Ok(())
}

/// Moves a cell folder on this machine (the local board's) into `to` under
/// the same rules as [`unpack`]: regular files are renamed (copied across
/// file systems), folders recreated; links, hard-linked files, devices,
/// FIFOs and sockets stay behind and are listed.
pub fn move_tree(from: &Path, to: &Path, limits: &PullLimits) -> Result<PullReport> {
    let mut report = PullReport::default();
    let mut stop = false;
    walk(from, to, Path::new(""), limits, &mut report, &mut stop)?;
    Ok(report)
}

fn walk(
    from: &Path,
    to: &Path,
    rel: &Path,
    limits: &PullLimits,
    report: &mut PullReport,
    stop: &mut bool,
) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .with_context(|| format!("cannot read {}", from.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if *stop {
            return Ok(());
        }
        let file_name = e.file_name();
        let rel = rel.join(&file_name);
        let name = shown(rel.as_os_str().as_bytes());
        if reserved(&rel) && rel.components().count() == 1 {
            report.reject(format!("{name} is a name klo-spec writes itself"));
            continue;
        }
        // Not followed: the entry itself.
        let Ok(meta) = e.metadata() else { continue };
        let ft = meta.file_type();
        let source = e.path();
        let target = to.join(&file_name);
        if ft.is_dir() {
            if rel.components().count() > MAX_DEPTH {
                report.reject(format!("{name} is nested deeper than 32 folders"));
                continue;
            }
            if !admit(report, limits, &name, 0, stop) {
                continue;
            }
            walk(&source, &target, &rel, limits, report, stop)?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                report.reject(format!(
                    "{name} is a hard link (the file has {} names)",
                    meta.nlink()
                ));
                continue;
            }
            if !admit(report, limits, &name, meta.len(), stop) {
                continue;
            }
            let moved = match std::fs::rename(&source, &target) {
                Ok(()) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                    copy_file(&source, &target, limits)
                }
                Err(e) => Err(e),
            };
            match moved {
                // Renamed as it was when looked at: a file swapped for a
                // link meanwhile does not stay.
                Ok(()) => match std::fs::symlink_metadata(&target) {
                    Ok(m) if m.file_type().is_file() && m.nlink() == 1 => {}
                    Ok(m) => {
                        let _ = std::fs::remove_file(&target);
                        report.reject(format!(
                            "{name} became {} while it was moved",
                            untrusted::kind_of(&m.file_type())
                        ));
                    }
                    Err(_) => {}
                },
                Err(err) if is_storage(&err) => {
                    return Err(err).with_context(|| format!("cannot write {}", target.display()));
                }
                Err(err) => report.reject(format!(
                    "{name} cannot be moved: {}",
                    printable(&err.to_string())
                )),
            }
        } else {
            let mut what = untrusted::kind_of(&ft).to_string();
            if ft.is_symlink()
                && let Ok(to) = std::fs::read_link(&source)
            {
                what.push_str(&format!(" (to {})", shown(to.as_os_str().as_bytes())));
            }
            report.reject(format!("{name} is {what}"));
        }
    }
    Ok(())
}

/// Copies a regular file (not through a link) within the per-file limit.
fn copy_file(from: &Path, to: &Path, limits: &PullLimits) -> std::io::Result<()> {
    let (src, _) = untrusted::open_regular(from)?;
    let mut dst = create(to, false)?;
    let n = std::io::copy(&mut src.take(limits.file_bytes + 1), &mut dst)?;
    if n > limits.file_bytes {
        drop(dst);
        let _ = std::fs::remove_file(to);
        return Err(untrusted::too_large(n, limits.file_bytes));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar archive of raw entries: (path, type, content, link target).
    fn archive(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, ty, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*ty);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Written raw: set_path refuses `..` and absolute paths, which
            // a hostile board's tar does not.
            let name = &mut h.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    use tar::EntryType as T;

    #[test]
    fn folders_and_files_come_back_and_the_marker_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let a = archive(&[
            ("./", T::Directory, b"", ""),
            ("./.klo-done", T::Regular, b"", ""),
            ("./bench.log", T::Regular, b"x\n", ""),
            ("./push/", T::Directory, b"", ""),
            ("./push/.klo-done", T::Regular, b"mine\n", ""),
            ("./push/data.bin", T::Regular, &[0, 255, 10], ""),
        ]);
        let r = unpack(a.as_slice(), dir.path(), &PullLimits::default()).unwrap();
        assert!(r.is_clean(), "{r:?}");
        assert!(!dir.path().join(".klo-done").exists());
        assert_eq!(std::fs::read(dir.path().join("bench.log")).unwrap(), b"x\n");
        assert!(dir.path().join("push/.klo-done").exists());
        assert_eq!(
            std::fs::read(dir.path().join("push/data.bin")).unwrap(),
            [0, 255, 10]
        );
    }

    #[test]
    fn links_devices_fifos_escaping_paths_and_reserved_names_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("cell");
        let a = archive(&[
            (
                "./attempts",
                T::Symlink,
                b"",
                outside.path().to_str().unwrap(),
            ),
            ("./bench.log", T::Symlink, b"", "/etc/passwd"),
            ("./bench.err", T::Link, b"", "/etc/passwd"),
            ("./zero", T::Char, b"", ""),
            ("./p", T::Fifo, b"", ""),
            ("../escaped", T::Regular, b"gotcha", ""),
            ("/tmp/absolute", T::Regular, b"gotcha", ""),
            ("./push/../../escaped2", T::Regular, b"gotcha", ""),
            ("./cell.json", T::Regular, b"{}", ""),
            ("./attempts/1/cell.json", T::Regular, b"{}", ""),
            ("./ok.txt", T::Regular, b"fine", ""),
        ]);
        let r = unpack(a.as_slice(), &to, &PullLimits::default()).unwrap();
        assert_eq!(r.rejected_count, 10, "{r:?}");
        let why = r.rejected_reason().unwrap();
        assert!(
            why.contains("`./attempts` is a symbolic link (to `"),
            "{why}"
        );
        assert!(
            why.contains("`./bench.log` is a symbolic link (to `/etc/passwd`)"),
            "{why}"
        );
        assert!(why.contains("and 5 more"), "{why}");
        // Only the plain file was written, and nothing outside.
        let names: Vec<_> = std::fs::read_dir(&to)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["ok.txt"]);
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        assert!(!dir.path().join("escaped").exists());
        assert!(!dir.path().join("escaped2").exists());
        assert!(!Path::new("/tmp/absolute").exists());
    }

    #[test]
    fn sizes_are_bounded_per_file_per_cell_and_in_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![b'x'; 3 * MIB as usize];
        let a = archive(&[
            ("./big", T::Regular, &big, ""),
            ("./small", T::Regular, b"s", ""),
        ]);
        let limits = PullLimits::new(2, 10, 100);
        let r = unpack(a.as_slice(), dir.path(), &limits).unwrap();
        assert_eq!(r.rejected_count, 0);
        assert_eq!(r.too_large_count, 1);
        assert!(
            r.too_large_reason()
                .unwrap()
                .contains("`./big` holds 3145728 bytes")
        );
        assert!(!dir.path().join("big").exists());
        assert!(dir.path().join("small").exists());

        let dir = tempfile::tempdir().unwrap();
        let r = unpack(a.as_slice(), dir.path(), &PullLimits::new(4, 2, 100)).unwrap();
        assert!(r.too_large_reason().unwrap().contains("cell_mib"), "{r:?}");
        assert!(
            !dir.path().join("small").exists(),
            "nothing after the cell limit"
        );

        let dir = tempfile::tempdir().unwrap();
        let r = unpack(a.as_slice(), dir.path(), &PullLimits::new(4, 10, 1)).unwrap();
        assert!(
            r.too_large_reason().unwrap().contains("more than 1 files"),
            "{r:?}"
        );
    }

    #[test]
    fn a_truncated_or_garbage_archive_is_refused_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let a = archive(&[("./bench.log", T::Regular, &[b'x'; 4000], "")]);
        let r = unpack(&a[..1024], dir.path(), &PullLimits::default()).unwrap();
        assert!(r.rejected_count >= 1, "{r:?}");
        assert!(!dir.path().join("bench.log").exists(), "no half file");
        let r = unpack(&[7u8; 2048][..], dir.path(), &PullLimits::default()).unwrap();
        assert!(r.rejected_count >= 1, "{r:?}");
    }

    #[test]
    fn the_local_move_takes_only_folders_and_regular_files() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let from = dir.path().join("board");
        std::fs::create_dir_all(from.join("push/deep")).unwrap();
        std::fs::write(from.join("bench.log"), "log").unwrap();
        std::fs::write(from.join("push/deep/data"), "d").unwrap();
        symlink("/etc/passwd", from.join("push/deep/link")).unwrap();
        symlink(outside.path(), from.join("attempts")).unwrap();
        std::fs::write(from.join("twice"), "t").unwrap();
        std::fs::hard_link(from.join("twice"), from.join("push/twice2")).unwrap();
        let fifo = std::ffi::CString::new(from.join("p").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let to = dir.path().join("staging");
        let r = move_tree(&from, &to, &PullLimits::default()).unwrap();
        assert_eq!(r.rejected_count, 5, "{r:?}");
        assert_eq!(
            std::fs::read_to_string(to.join("bench.log")).unwrap(),
            "log"
        );
        assert_eq!(
            std::fs::read_to_string(to.join("push/deep/data")).unwrap(),
            "d"
        );
        for gone in ["push/deep/link", "attempts", "twice", "push/twice2", "p"] {
            assert!(std::fs::symlink_metadata(to.join(gone)).is_err(), "{gone}");
        }
    }
}
