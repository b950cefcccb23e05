//! An exclusive lock on a run directory while a process writes it, so two writers (two
//! `--resume` of one run) never interleave; a second writer is refused with the holder's PID.

use std::fs::{File, OpenOptions, TryLockError};

use crate::userfile::{self, ReadError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// File in a run directory that a writing process holds locked, with its PID inside.
pub const LOCK: &str = "lock";

/// A held lock; released when dropped (and by the OS when the process dies, even by kill -9).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{dir}: another classgen process (PID {pid}) is writing this run; wait for it to end or stop it")]
    Held { dir: String, pid: String },
    #[error("{path}: {error}")]
    Open { path: String, error: ReadError },
    #[error("{path}: cannot lock: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl RunLock {
    /// Takes the lock of `dir` without waiting, and writes this process's PID into it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let (mut file, path) = Self::take(dir, File::try_lock)?;
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }

    /// Holds `dir`'s lock shared: any number of processes may share it (the processes running
    /// cells of one study), none while a process holds it whole with [`RunLock::acquire`].
    pub fn share(dir: &Path) -> Result<Self, LockError> {
        let (file, _) = Self::take(dir, File::try_lock_shared)?;
        Ok(Self { _file: file })
    }

    /// Opens `dir`'s lock file (checked to be a regular file) and locks it with `lock` without
    /// waiting; a holder is named by the PID it wrote.
    fn take(
        dir: &Path,
        lock: fn(&File) -> Result<(), TryLockError>,
    ) -> Result<(File, std::path::PathBuf), LockError> {
        let path = dir.join(LOCK);
        let mut file = userfile::open(
            &path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )
        .map_err(|e| LockError::Open {
            path: path.display().to_string(),
            error: e,
        })?;
        match lock(&file) {
            Ok(()) => Ok((file, path)),
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                Err(LockError::Held {
                    dir: dir.display().to_string(),
                    pid: match pid.trim() {
                        "" => "unknown".into(),
                        p => p.to_string(),
                    },
                })
            }
            Err(TryLockError::Error(e)) => Err(LockError::Io {
                path: path.display().to_string(),
                source: e,
            }),
        }
    }

    /// Whether some process (this one included) holds the lock of `dir` now, whole or shared.
    /// A `lock` that is not a regular file (a FIFO, say) is held by nobody.
    pub fn is_held(dir: &Path) -> bool {
        let Ok(file) = userfile::open_regular(&dir.join(LOCK)) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(TryLockError::WouldBlock) => true,
            Err(TryLockError::Error(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!RunLock::is_held(dir.path()));
        let lock = RunLock::acquire(dir.path()).unwrap();
        assert!(RunLock::is_held(dir.path()));
        let err = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("PID {}", std::process::id())),
            "{err}"
        );
        drop(lock);
        assert!(!RunLock::is_held(dir.path()));
        let whole = RunLock::acquire(dir.path()).unwrap();
        assert!(
            RunLock::share(dir.path()).is_err(),
            "held whole: not shared"
        );
        drop(whole);
        let a = RunLock::share(dir.path()).unwrap();
        let b = RunLock::share(dir.path()).unwrap();
        assert!(RunLock::is_held(dir.path()), "a shared hold counts as held");
        assert!(RunLock::acquire(dir.path()).is_err(), "shared: not whole");
        drop((a, b));
        assert!(!RunLock::is_held(dir.path()));
    }

    #[test]
    fn a_fifo_lock_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(LOCK);
        let made = std::process::Command::new("mkfifo").arg(&lock).status();
        assert!(made.unwrap().success());
        // Both calls would block for ever on a FIFO opened for reading: bounded on a thread.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let held = RunLock::is_held(&path);
            let _ = tx.send((
                held,
                RunLock::acquire(&path)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            ));
        });
        let (held, acquired) = rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        assert!(!held);
        assert_eq!(
            acquired,
            Err(format!(
                "{}: is a FIFO (named pipe), not a regular file",
                lock.display()
            ))
        );
    }
}
