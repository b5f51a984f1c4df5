//! File-system primitives with the crate's policies built in: private modes whatever the
//! umask, counted writes, and fsync helpers.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{IoContext, StoreError};
use crate::stats::{Stats, Written};

/// Mode of every file the store creates.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of every directory the store creates.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Creates `path` (which must not exist) with mode 0600.
///
/// The mode given to `open` is filtered by the umask, and std offers no safe umask setter,
/// so the mode is set again on the open file: 0600 whatever the umask was.
pub(crate) fn create_new_private(path: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .context("create", path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))
        .context("set the mode of", path)?;
    Ok(file)
}

/// Opens `path` for appending, creating it with mode 0600 if missing. An existing file
/// keeps its mode: it is the user's.
pub(crate) fn open_append_private(path: &Path) -> Result<File, StoreError> {
    match OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(file) => {
            file.set_permissions(Permissions::from_mode(FILE_MODE))
                .context("set the mode of", path)?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .context("open", path),
        Err(e) => Err(StoreError::io("create", path, e)),
    }
}

/// Creates `dir` and any missing parents with mode 0700 (exactly: see
/// [`create_new_private`]). Directories that exist are left as they are.
pub(crate) fn create_private_dirs(dir: &Path) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(d) = cursor.filter(|d| !d.as_os_str().is_empty()) {
        if d.is_dir() {
            break;
        }
        missing.push(d);
        cursor = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(DIR_MODE).create(d) {
            Ok(()) => fs::set_permissions(d, Permissions::from_mode(DIR_MODE))
                .context("set the mode of", d)?,
            // Another process made it meanwhile: it is not ours to chmod.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(StoreError::io("create directory", d, e)),
        }
    }
    Ok(())
}

/// fsync of a directory, which makes the renames and creations in it durable.
pub(crate) fn sync_dir(dir: &Path, stats: &Stats) -> Result<(), StoreError> {
    let d = File::open(dir).context("open directory", dir)?;
    stats.fsync();
    d.sync_all().context("fsync", dir)
}

/// `write_all`, counting every `write` call in `stats` (the write path's cost measure).
pub(crate) fn write_counted(
    file: &mut File,
    mut data: &[u8],
    stats: &Stats,
    target: Written,
) -> io::Result<()> {
    while !data.is_empty() {
        stats.write_call(target);
        match file.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                stats.bytes_written(n);
                data = &data[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads `len` bytes at `offset` (fewer at end of file).
pub(crate) fn read_at(file: &mut File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// `path` with `suffix` appended to its last component (`FILE` → `FILE.lock`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Whether process `pid` exists on this host (signal 0). A process we may not signal
/// exists too.
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}

/// How long ago `path` was last modified (zero if in the future or unknown).
pub(crate) fn age(path: &Path) -> Option<Duration> {
    let modified = fs::metadata(path).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default(),
    )
}

/// This host's name as Maildir wants it in file names: `/` and `:` escaped as octal, and
/// anything else outside 0x21–0x7E replaced, so names stay one token.
pub(crate) fn maildir_host() -> String {
    let uname = rustix::system::uname();
    let raw = uname.nodename().to_string_lossy();
    let mut host = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '/' => host.push_str("\\057"),
            ':' => host.push_str("\\072"),
            '!'..='~' => host.push(c),
            _ => host.push('_'),
        }
    }
    if host.is_empty() {
        host.push_str("localhost");
    }
    host
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_is_alive_and_nonsense_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0x7fff_fff0));
        assert!(!pid_alive(u32::MAX));
    }

    #[test]
    fn suffixes_and_parents() {
        assert_eq!(
            with_suffix(Path::new("/a/mbox"), ".lock"),
            Path::new("/a/mbox.lock")
        );
        assert_eq!(parent_dir(Path::new("mbox")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/a/mbox")), Path::new("/a"));
    }

    #[test]
    fn host_is_one_token() {
        let h = maildir_host();
        assert!(!h.is_empty());
        assert!(
            h.bytes()
                .all(|b| (0x21..=0x7E).contains(&b) && b != b'/' && b != b':')
        );
    }
}
