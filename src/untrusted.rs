//! Reading files klo-spec did not write itself: what came back from a board
//! (a cell's logs, its status file, its `/proc/stat` snapshots) and files a
//! scenario names. Such a file is data, never a path: it is opened without
//! following a symbolic link, only when it is a regular file (a FIFO would
//! block the read forever, a device could stream without end), and read up
//! to a byte budget, never without one.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Bytes in a mebibyte, for limits written in MiB.
pub const MIB: u64 = 1 << 20;

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
