//! Reader and writer for the IDX format MNIST ships in (gzip or raw, detected from the bytes).
//!
//! The reader never trusts a header: the declared sizes must match the bytes actually present
//! before anything is allocated from them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::limits::MAX_IDX_BYTES;
use crate::userfile::{self, ReadError};

/// The IDX type code for unsigned bytes, the only element type MNIST uses.
const TYPE_U8: u8 = 0x08;
/// Gzip's two magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What went wrong reading an IDX file; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("{path}: cannot read: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: is {what}, not a regular file")]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("{path}: not an IDX file: expected magic 00 00 08 0{expected_dims}, found {found}")]
    BadMagic {
        path: PathBuf,
        expected_dims: u8,
        found: String,
    },
    #[error("{path}: truncated: header declares {declared} bytes of data, file has {actual}")]
    Truncated {
        path: PathBuf,
        declared: u64,
        actual: u64,
    },
    #[error("{path}: {extra} bytes after the data the header declares")]
    TrailingBytes { path: PathBuf, extra: u64 },
    #[error("{path}: expected {expected}, found {found}")]
    Shape {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path}: larger than the {MAX_IDX_BYTES}-byte limit for an IDX file (on disk or decompressed)")]
    TooLarge { path: PathBuf },
}

/// A decoded IDX array of bytes: its dimensions and its data in row-major order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Gunzips `raw` if it starts with the gzip magic; `path` names it in errors.
fn gunzip_if_needed(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>, IdxError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(raw.as_slice())
        .take(MAX_IDX_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|error| IdxError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    if out.len() as u64 > MAX_IDX_BYTES {
        return Err(IdxError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// Parses IDX bytes that must have `n_dims` dimensions of unsigned bytes.
pub fn parse(bytes: &[u8], n_dims: u8, path: &Path) -> Result<IdxArray, IdxError> {
    let header_len = 4 + 4 * n_dims as usize;
    let bad_magic = || IdxError::BadMagic {
        path: path.to_path_buf(),
        expected_dims: n_dims,
        found: bytes
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    if bytes.len() < 4 || bytes[..4] != [0, 0, TYPE_U8, n_dims] {
        return Err(bad_magic());
    }
    if bytes.len() < header_len {
        return Err(IdxError::Truncated {
            path: path.to_path_buf(),
            declared: header_len as u64,
            actual: bytes.len() as u64,
        });
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    // u64 arithmetic cannot overflow for at most three u32 factors... but be explicit anyway.
    let declared = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    let actual = (bytes.len() - header_len) as u64;
    if declared > actual {
        return Err(IdxError::Truncated {
            path: path.to_path_buf(),
            declared,
            actual,
        });
    }
    if declared < actual {
        return Err(IdxError::TrailingBytes {
            path: path.to_path_buf(),
            extra: actual - declared,
        });
    }
    Ok(IdxArray {
        dims,
        data: bytes[header_len..].to_vec(),
    })
}

/// Decodes IDX bytes (gzip or raw) with `n_dims` dimensions; `path` names them in errors.
pub fn decode(raw: Vec<u8>, n_dims: u8, path: &Path) -> Result<IdxArray, IdxError> {
    parse(&gunzip_if_needed(raw, path)?, n_dims, path)
}

/// Reads the bytes of an IDX file (gzip or raw): a regular file of at most [`MAX_IDX_BYTES`],
/// checked from its metadata before reading.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, IdxError> {
    let path_buf = path.to_path_buf();
    userfile::read_file(path, MAX_IDX_BYTES).map_err(|e| match e {
        ReadError::Io(error) => IdxError::Io {
            path: path_buf,
            error,
        },
        ReadError::NotAFile(what) => IdxError::NotAFile {
            path: path_buf,
            what,
        },
        ReadError::TooLarge { .. } => IdxError::TooLarge { path: path_buf },
    })
}

/// Reads an IDX file (gzip or raw) with `n_dims` dimensions.
pub fn read(path: &Path, n_dims: u8) -> Result<IdxArray, IdxError> {
    decode(read_bytes(path)?, n_dims, path)
}

/// Checks that an array holds `[n, rows, cols]` images.
pub fn check_images(
    array: &IdxArray,
    path: &Path,
    rows: usize,
    cols: usize,
) -> Result<(), IdxError> {
    if array.dims[1..] != [rows, cols] {
        return Err(IdxError::Shape {
            path: path.to_path_buf(),
            expected: format!("images of {rows}x{cols}"),
            found: format!("images of {}x{}", array.dims[1], array.dims[2]),
        });
    }
    Ok(())
}

/// Checks that every label of an array is below `n_classes`.
pub fn check_labels(array: &IdxArray, path: &Path, n_classes: usize) -> Result<(), IdxError> {
    if let Some((i, &label)) = array
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= n_classes)
    {
        return Err(IdxError::Shape {
            path: path.to_path_buf(),
            expected: format!("labels in 0..{n_classes}"),
            found: format!("label {label} at item {i}"),
        });
    }
    Ok(())
}

/// Encodes an array of bytes as IDX.
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Writes an IDX file, gzip-compressed when the name ends in `.gz`, atomically.
pub fn write(path: &Path, dims: &[usize], data: &[u8]) -> std::io::Result<()> {
    let raw = encode(dims, data);
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&raw)?;
        gz.finish()?
    } else {
        raw
    };
    crate::fsutil::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PathBuf {
        PathBuf::from("x.idx")
    }

    #[test]
    fn round_trip_raw_bytes() {
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let bytes = encode(&[2, 3, 4], &data);
        let back = parse(&bytes, 3, &p()).unwrap();
        assert_eq!(back.dims, vec![2, 3, 4]);
        assert_eq!(back.data, data);
    }

    #[test]
    fn wrong_dimension_count_is_bad_magic() {
        let bytes = encode(&[5], &[0; 5]);
        let err = parse(&bytes, 3, &p()).unwrap_err();
        assert!(matches!(err, IdxError::BadMagic { .. }), "{err}");
        assert!(err.to_string().contains("x.idx"));
    }

    #[test]
    fn huge_declared_size_is_rejected_without_allocating() {
        let mut bytes = encode(&[1, 1, 1], &[0]);
        bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        bytes[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = parse(&bytes, 3, &p()).unwrap_err();
        assert!(matches!(err, IdxError::Truncated { .. }), "{err}");
    }

    #[test]
    fn short_header_is_truncated() {
        let err = parse(&[0, 0, 8, 3, 0, 0], 3, &p()).unwrap_err();
        assert!(matches!(err, IdxError::Truncated { .. }), "{err}");
    }

    #[test]
    fn a_huge_raw_file_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-images-idx3-ubyte");
        // Sparse: 3 GiB on paper, nothing on disk.
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(3 << 30).unwrap();
        let err = read(&path, 3).unwrap_err();
        assert!(matches!(err, IdxError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
    }

    #[test]
    fn a_fifo_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path and creates a file; nothing else.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = read(&path, 1).unwrap_err().to_string();
        assert!(err.contains("labels: is a FIFO (named pipe)"), "{err}");
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode(&[2], &[1, 2]);
        bytes.push(3);
        let err = parse(&bytes, 1, &p()).unwrap_err();
        assert!(
            matches!(err, IdxError::TrailingBytes { extra: 1, .. }),
            "{err}"
        );
    }
}
