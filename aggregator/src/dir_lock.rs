//! One owner per directory: a server's data directory and its ingest log
//! are each held by an exclusive `flock` for as long as the process runs,
//! so a second server pointed at them stops at once instead of sharing one
//! ingest log with the first.
//!
//! The lock file also says who holds it (pid, what, since when), so the
//! refusal can name the other process. The kernel drops the lock when its
//! holder exits, however it exits: a stale file never blocks a start.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The name of the lock file in a locked directory.
pub const LOCK_FILE: &str = "augur.lock";

/// Why a directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    /// Another process holds it.
    #[error(
        "{dir} is in use: its lock {lock} is held by {holder}; stop that process first, or give this one another directory"
    )]
    Held {
        /// The directory.
        dir: PathBuf,
        /// Its lock file.
        lock: PathBuf,
        /// Who holds it, as its lock file says.
        holder: String,
    },
    /// The directory or its lock file could not be made or locked.
    #[error("locking {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

/// An exclusive lock on a directory, held until dropped or the process ends.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Creates `dir` if needed and locks it for `holder` (what this process
    /// is, e.g. `augur up`), or says who holds it.
    pub fn acquire(dir: &Path, holder: &str) -> Result<DirLock, DirLockError> {
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| DirLockError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::WouldBlock {
                return Err(io_error(&path)(error));
            }
            let mut text = String::new();
            let _ = file.take(4096).read_to_string(&mut text);
            let holder = text.trim();
            return Err(DirLockError::Held {
                dir: dir.to_owned(),
                lock: path,
                holder: if holder.is_empty() {
                    "another process".into()
                } else {
                    holder.to_owned()
                },
            });
        }
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let note = format!(
            "pid {} ({holder}, since Unix time {since})\n",
            std::process::id()
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(note.as_bytes()))
            .map_err(io_error(&path))?;
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), "augur up").unwrap();
        let error = DirLock::acquire(dir.path(), "augur server")
            .unwrap_err()
            .to_string();
        assert!(error.contains("is in use"), "{error}");
        assert!(error.contains(LOCK_FILE), "{error}");
        assert!(
            error.contains(&format!("pid {} (augur up", std::process::id())),
            "{error}"
        );
        drop(first);
        let second = DirLock::acquire(dir.path(), "augur server").unwrap();
        let text = std::fs::read_to_string(second.path()).unwrap();
        assert!(text.contains("(augur server, since"), "{text}");
    }
}
