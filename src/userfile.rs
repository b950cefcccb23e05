//! Reading the files a user names (config, data, weights) with a size bound, and saying what a
//! path is when it is not a regular file, so a FIFO, a device, a symlink loop or a huge file
//! gives a clear error instead of a hang, an abort or "no such file".

use std::fs::FileType;
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

/// Reads `path`, which must be a regular file of at most `limit` bytes: both are checked from
/// its metadata before reading, and the read stops past `limit` should the file grow.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile(describe(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    read_capped(path, limit)
}

/// Reads whatever `path` is (a pipe works: `--config <(...)`), failing once more than `limit`
/// bytes arrive, so `/dev/zero` is an error rather than an endless read.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
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
    fn an_endless_stream_stops_at_the_limit() {
        let err = read_capped(Path::new("/dev/zero"), 1000).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { limit: 1000 }), "{err}");
        let err = read_file(Path::new("/dev/zero"), 1000).unwrap_err();
        assert_eq!(err.to_string(), "is a character device, not a regular file");
    }

    #[test]
    fn a_symlink_loop_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loop");
        std::os::unix::fs::symlink(&path, &path).unwrap();
        let err = read_file(&path, 10).unwrap_err().to_string();
        assert!(err.contains("symbolic links"), "{err}");
    }
}
