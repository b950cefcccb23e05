//! Opening every file classgen reads (config, data, images, weights, run files) only when it is a
//! regular file, checked without blocking, and reading it with a size bound, so a FIFO, a
//! device, a symlink loop or a huge file gives a clear error instead of a hang, an abort or
//! "no such file".

use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::path::Path;

/// Why a file could not be read; the caller names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read: {0}")]
    Io(std::io::Error),
    #[error("is {0}, not a regular file")]
    NotAFile(&'static str),
    #[error("is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
}

impl ReadError {
    /// The error as an `io::Error` (a file that is not regular: `InvalidInput`, with the message).
    pub fn into_io(self) -> std::io::Error {
        match self {
            Self::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// What a file type is, for messages: "a directory", "a FIFO (named pipe)", ...
pub fn describe(kind: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Opens `path` with `options` only if it is a regular file. The open itself cannot block
/// (`O_NONBLOCK`: a FIFO without a writer would otherwise wait for ever, deaf to signals) and
/// the check is made on the opened file (`fstat`), so nothing can swap the file in between.
/// Every file classgen reads or appends to is opened here.
pub fn open(path: &Path, options: &OpenOptions) -> Result<File, ReadError> {
    let mut options = options.clone();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return ReadError::NotAFile("a symbolic link loop");
        }
        ReadError::Io(e)
    })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile(describe(meta.file_type())));
    }
    // On a regular file O_NONBLOCK changes nothing; reads and writes behave as usual.
    Ok(file)
}

/// [`open`] for reading.
pub fn open_regular(path: &Path) -> Result<File, ReadError> {
    open(path, OpenOptions::new().read(true))
}

/// Reads `path`, which must be a regular file of at most `limit` bytes: both are checked on
/// the opened file before reading, and the read stops past `limit` should the file grow.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path)?;
    let len = file.metadata().map_err(ReadError::Io)?.len();
    if len > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_limit_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let file = std::fs::File::create(&path).unwrap();
        // Sparse: 1 TiB on paper, nothing on disk; reading it would take hours.
        file.set_len(1 << 40).unwrap();
        let err = read_file(&path, 1 << 20).unwrap_err();
        assert!(
            matches!(err, ReadError::TooLarge { limit } if limit == 1 << 20),
            "{err}"
        );
        assert!(read_file(dir.path(), 10)
            .unwrap_err()
            .to_string()
            .contains("a directory"));
    }

    #[test]
    fn a_device_is_refused_before_reading() {
        let err = read_file(Path::new("/dev/zero"), 1000).unwrap_err();
        assert_eq!(err.to_string(), "is a character device, not a regular file");
    }

    #[test]
    fn a_fifo_without_a_writer_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        // Without a writer a blocking open would never return: run it on a thread and bound
        // the wait, so a regression fails instead of hanging.
        let (tx, rx) = std::sync::mpsc::channel();
        let opened = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(
                read_file(&opened, 10)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        });
        let result = rx.recv_timeout(std::time::Duration::from_secs(30));
        assert_eq!(
            result,
            Ok(Err("is a FIFO (named pipe), not a regular file".to_string()))
        );
        let appending = open(
            &path,
            OpenOptions::new().append(true).read(true).create(true),
        );
        assert!(matches!(appending, Err(ReadError::NotAFile(_))));
    }

    #[test]
    fn a_symlink_loop_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loop");
        std::os::unix::fs::symlink(&path, &path).unwrap();
        let err = read_file(&path, 10).unwrap_err().to_string();
        assert_eq!(err, "is a symbolic link loop, not a regular file");
    }
}
