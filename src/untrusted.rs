//! Reading files klo-spec did not write itself: what came back from a board
//! (a cell's logs, its status file, its `/proc/stat` snapshots) and files a
//! scenario names. A file from a board is data, never a path: it is opened
//! without following a symbolic link ([`read`]). A file a person names (a
//! scenario, an inventory, a pushed file, a LUT) may be reached through
//! their own links ([`read_input`]). Either is read only when it is a
//! regular file (a FIFO would block the read forever, a device could stream
//! without end) and up to a byte budget, never without one.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Bytes in a mebibyte, for limits written in MiB.
pub const MIB: u64 = 1 << 20;

/// How much may come back from one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullLimits {
    /// Most bytes of one file.
    pub file_bytes: u64,
    /// Most bytes of all the files of a cell.
    pub cell_bytes: u64,
    /// Most files (and folders) in a cell.
    pub files: u64,
}

/// Default `pull_limits.file_mib`.
pub const DEFAULT_FILE_MIB: u32 = 256;
/// Default `pull_limits.cell_mib`.
pub const DEFAULT_CELL_MIB: u32 = 1024;
/// Default `pull_limits.files`.
pub const DEFAULT_FILES: u32 = 10_000;

impl Default for PullLimits {
    fn default() -> Self {
        PullLimits::new(DEFAULT_FILE_MIB, DEFAULT_CELL_MIB, DEFAULT_FILES)
    }
}

impl PullLimits {
    pub fn new(file_mib: u32, cell_mib: u32, files: u32) -> PullLimits {
        PullLimits {
            file_bytes: file_mib as u64 * MIB,
            cell_bytes: cell_mib as u64 * MIB,
            files: files as u64,
        }
    }

    /// Most bytes a tar archive of a folder within these limits takes: its
    /// data, a header and padding per entry (and long names), the end.
    pub fn archive_bytes(&self) -> u64 {
        self.cell_bytes
            .saturating_add(self.files.saturating_add(16).saturating_mul(3 * 512))
            .saturating_add(MIB)
    }
}

/// What a path is when it is not a regular file, in words.
pub fn kind_of(ft: &std::fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_dir() {
        "a folder"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn not_regular(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file"),
    )
}

/// The error of a file over its budget.
pub fn too_large(size: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "it holds {} bytes, more than the limit of {limit} bytes",
            if size == u64::MAX {
                "more".to_string()
            } else {
                size.to_string()
            }
        ),
    )
}

/// Opens `path` for reading when it is a regular file: its last component
/// is not followed when it is a symbolic link, and a FIFO, device, socket
/// or folder is refused before it is opened (opening a FIFO blocks; opening
/// a device can have effects). The file opened is checked to be the one
/// looked at. Returns the file and its size.
pub fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(not_regular(kind_of(&meta.file_type())));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                not_regular("a symbolic link")
            } else {
                e
            }
        })?;
    let now = file.metadata()?;
    if !now.file_type().is_file() || now.ino() != meta.ino() || now.dev() != meta.dev() {
        return Err(io::Error::other(
            "it was replaced while it was being opened",
        ));
    }
    Ok((file, now.len()))
}

/// Most bytes of a scenario or board inventory file.
pub const YAML_MAX: u64 = 4 * MIB;
/// Most bytes of a LUT file.
pub const LUT_MAX: u64 = 16 * MIB;
/// Most bytes of one file a command benchmark pushes to the board.
pub const PUSH_MAX: u64 = 256 * MIB;
/// Most bytes of a template file.
pub const TEMPLATE_MAX: u64 = 4 * MIB;

/// A byte count as a person reads it: `4 MiB`, `1500 bytes`.
pub fn size_text(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Opens a file a person named (links followed: they are theirs) when it
/// is a regular file: a FIFO, device, socket or folder is refused before it
/// is opened. Returns the file, its size and its permission bits.
pub fn open_input(path: &Path) -> io::Result<(File, u64, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(not_regular(kind_of(&meta.file_type())));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let now = file.metadata()?;
    if !now.file_type().is_file() || now.ino() != meta.ino() || now.dev() != meta.dev() {
        return Err(io::Error::other(
            "it was replaced while it was being opened",
        ));
    }
    Ok((file, now.len(), now.permissions().mode() & 0o7777))
}

/// Reads a file a person named (see [`open_input`]) of at most `limit`
/// bytes; also returns its permission bits.
pub fn read_input(path: &Path, limit: u64) -> io::Result<(Vec<u8>, u32)> {
    let (file, size, mode) = open_input(path)?;
    if size > limit {
        return Err(too_large(size, limit));
    }
    let mut out = Vec::with_capacity(size as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(too_large(u64::MAX, limit));
    }
    Ok((out, mode))
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_text(path: &Path, limit: u64) -> io::Result<String> {
    let (bytes, _) = read_input(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (byte {} is not)",
                e.utf8_error().valid_up_to() + 1
            ),
        )
    })
}

/// What to do about a file that could not be read, for a hint: `default`
/// unless the error says more.
pub fn input_hint(e: &io::Error, what: &str, default: &str) -> String {
    match e.kind() {
        io::ErrorKind::FileTooLarge => {
            format!("{what} is far smaller than that: is this the right file?")
        }
        io::ErrorKind::InvalidInput => format!(
            "give {what} as a regular file: a FIFO, a device, a socket or a folder is not read"
        ),
        io::ErrorKind::InvalidData => format!("save {what} as UTF-8 text"),
        _ => default.to_string(),
    }
}

/// Checks a tree a person names (a fixture board's sysfs tree) before it is
/// copied and read: folders and regular files only (no links, which could
/// lead out of it; no FIFO or device, which a copy would block on or read
/// without end), at most `max_entries` entries 32 folders deep, each file
/// at most `max_file` bytes. Returns what is wrong with the first entry
/// that is not so.
pub fn check_tree(root: &Path, max_entries: usize, max_file: u64) -> Result<(), String> {
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut seen = 0usize;
    while let Some((dir, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| format!("`{}` cannot be read: {e}", dir.display()))?;
        for e in entries {
            let e = e.map_err(|e| format!("`{}` cannot be read: {e}", dir.display()))?;
            let path = e.path();
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| format!("`{}` cannot be read: {e}", path.display()))?;
            seen += 1;
            if seen > max_entries {
                return Err(format!(
                    "it holds more than {max_entries} files and folders"
                ));
            }
            let ft = meta.file_type();
            if ft.is_dir() {
                if depth + 1 > 32 {
                    return Err(format!(
                        "`{}` is nested deeper than 32 folders",
                        path.display()
                    ));
                }
                stack.push((path, depth + 1));
            } else if !ft.is_file() {
                return Err(format!(
                    "`{}` is {}, not a regular file",
                    crate::text::quote(&path.display().to_string()),
                    kind_of(&ft)
                ));
            } else if meta.len() > max_file {
                return Err(format!(
                    "`{}` holds {} bytes, more than {}",
                    crate::text::quote(&path.display().to_string()),
                    meta.len(),
                    size_text(max_file)
                ));
            }
        }
    }
    Ok(())
}

/// Reads a regular file of at most `limit` bytes (see [`open_regular`]).
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let (file, size) = open_regular(path)?;
    if size > limit {
        return Err(too_large(size, limit));
    }
    let mut out = Vec::with_capacity(size as usize);
    // The file may grow while it is read: never past the budget.
    file.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(too_large(u64::MAX, limit));
    }
    Ok(out)
}

/// [`read`], or `None` when there is no such file.
pub fn read_optional(path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    match read(path, limit) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`read`] as text; bytes that are not UTF-8 become U+FFFD.
pub fn read_lossy(path: &Path, limit: u64) -> io::Result<String> {
    read(path, limit).map(|b| match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The last `limit` bytes of a regular file (all of a shorter one), as
/// text: a long error output is read at its end, where the reason is.
pub fn read_tail_lossy(path: &Path, limit: u64) -> io::Result<String> {
    let (mut file, size) = open_regular(path)?;
    if size > limit {
        file.seek(SeekFrom::Start(size - limit))?;
    }
    let mut out = Vec::new();
    file.take(limit).read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_and_folders_are_refused_and_files_are_read_within_budget() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read(&file, 10).unwrap(), b"0123456789");
        let e = read(&file, 9).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("10 bytes"), "{e}");
        assert_eq!(read_tail_lossy(&file, 3).unwrap(), "789");

        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let e = read(&link, 100).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");

        let fifo = dir.path().join("p");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Refused at once, not a read that waits for a writer forever.
        let e = read(&fifo, 100).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");

        let e = read(dir.path(), 100).unwrap_err();
        assert!(e.to_string().contains("folder"), "{e}");
        let e = read(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        assert!(
            read_optional(&dir.path().join("none"), 1)
                .unwrap()
                .is_none()
        );
    }
}
