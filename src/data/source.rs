//! Choosing where a data set comes from: a directory, the Hugging Face Hub, or the bundled sample.

use std::path::{Path, PathBuf};

use super::dataset::{file_names, Dataset, DatasetKind, Origin, Split};
use super::hub::{self, HubError, HubOptions};
use super::idx::IdxError;
use crate::userfile;

/// Which source to load from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A directory if one is given, else the Hub (cached), else the bundled sample.
    Auto,
    /// Only the directory given by `--data-dir` / `data.dir`.
    Dir,
    /// Only the Hugging Face Hub (or its cache).
    Hub,
    /// Only the bundled MNIST sample.
    Sample,
}

/// Why a data set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{dir}: no {wanted}[.gz] (expected the four MNIST-layout IDX files: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, gzipped or raw)")]
    MissingFile { dir: PathBuf, wanted: String },
    #[error("{0}: no such directory (--data-dir / data.dir must name a folder holding the four MNIST IDX files)")]
    NoSuchDir(PathBuf),
    #[error("{path}: is {what}, not a directory (--data-dir / data.dir must name a folder holding the four MNIST IDX files)")]
    NotADir { path: PathBuf, what: &'static str },
    #[error("{path}: cannot read: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "data source 'dir' needs a directory: pass --data-dir DIR or set data.dir in config.toml"
    )]
    NoDir,
    #[error(transparent)]
    Idx(#[from] IdxError),
    #[error("Hugging Face Hub: {0}; for local files use --data-dir DIR")]
    Hub(HubError),
    #[error("there is no bundled sample of {0}: use --data-dir DIR (Debian: apt-get install dataset-fashion-mnist, then --data-dir /usr/share/datasets/fashion-mnist) or the Hub")]
    NoSample(DatasetKind),
}

/// The sample compiled into the binary (see data/README.md).
mod sample {
    pub const TRAIN_IMAGES: &[u8] =
        include_bytes!("../../data/mnist-sample/train-images-idx3-ubyte.gz");
    pub const TRAIN_LABELS: &[u8] =
        include_bytes!("../../data/mnist-sample/train-labels-idx1-ubyte.gz");
    pub const TEST_IMAGES: &[u8] =
        include_bytes!("../../data/mnist-sample/t10k-images-idx3-ubyte.gz");
    pub const TEST_LABELS: &[u8] =
        include_bytes!("../../data/mnist-sample/t10k-labels-idx1-ubyte.gz");
}

/// Loads the bundled 8,000/2,000 MNIST sample.
pub fn load_sample() -> Result<Dataset, DataError> {
    let name = |n: &str| Path::new("<bundled sample>").join(n);
    let split = |images: &[u8], img_name, labels: &[u8], lab_name| {
        Split::decode(
            images.to_vec(),
            &name(img_name),
            labels.to_vec(),
            &name(lab_name),
        )
    };
    Ok(Dataset {
        kind: DatasetKind::Mnist,
        origin: Origin::Sample,
        train: split(
            sample::TRAIN_IMAGES,
            "train-images",
            sample::TRAIN_LABELS,
            "train-labels",
        )?,
        test: split(
            sample::TEST_IMAGES,
            "t10k-images",
            sample::TEST_LABELS,
            "t10k-labels",
        )?,
    })
}

/// Finds `name` or `name.gz` in `dir`: the first regular file; else what the first of them
/// that exists is (a FIFO, a symlink loop, unreadable); else missing.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let mut problem = None;
    for path in [dir.join(name), dir.join(format!("{name}.gz"))] {
        let found = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => return Ok(path),
            Ok(meta) => IdxError::NotAFile {
                path,
                what: userfile::describe(meta.file_type()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => IdxError::Io { path, error },
        };
        problem.get_or_insert(found);
    }
    Err(problem.map_or_else(
        || DataError::MissingFile {
            dir: dir.to_path_buf(),
            wanted: name.to_string(),
        },
        DataError::Idx,
    ))
}

/// Loads the four standard IDX files from a directory.
pub fn load_dir(dir: &Path, kind: DatasetKind) -> Result<Dataset, DataError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(meta) => {
            return Err(DataError::NotADir {
                path: dir.to_path_buf(),
                what: userfile::describe(meta.file_type()),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DataError::NoSuchDir(dir.to_path_buf()))
        }
        Err(error) => {
            return Err(DataError::Io {
                path: dir.to_path_buf(),
                error,
            })
        }
    }
    let split = |prefix: &str| -> Result<Split, DataError> {
        let (images, labels) = file_names(prefix);
        Ok(Split::read(
            &find_file(dir, &images)?,
            &find_file(dir, &labels)?,
        )?)
    };
    Ok(Dataset {
        kind,
        origin: Origin::Dir(dir.to_path_buf()),
        train: split("train")?,
        test: split("t10k")?,
    })
}

/// Loads through the Hub (or its caches). A cached conversion that cannot be read is
/// discarded and made again; `notes` says so, and whether that worked.
pub fn load_hub(
    kind: DatasetKind,
    options: &HubOptions,
    notes: &mut Vec<String>,
) -> Result<Dataset, DataError> {
    let fetched = hub::fetch(kind, options).map_err(DataError::Hub)?;
    let (dataset, fetched) = match load_dir(&fetched.dir, kind) {
        Ok(dataset) => (dataset, fetched),
        Err(e) => {
            hub::discard(&fetched.dir).map_err(DataError::Hub)?;
            let discarded = format!("notice: discarded the unreadable cached {kind} ({e})");
            let again = hub::fetch(kind, options)
                .map_err(DataError::Hub)
                .and_then(|fetched| Ok((load_dir(&fetched.dir, kind)?, fetched)));
            match again {
                Ok(loaded) => {
                    notes.push(format!("{discarded}; converted it again"));
                    loaded
                }
                Err(error) => {
                    notes.push(format!("{discarded}; getting it again failed"));
                    return Err(error);
                }
            }
        }
    };
    Ok(Dataset {
        origin: Origin::Hub {
            dir: fetched.dir,
            commit: fetched.commit,
        },
        ..dataset
    })
}

/// What [`load`] was asked for.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub kind: DatasetKind,
    pub source: SourceKind,
    pub dir: Option<PathBuf>,
    pub hub: HubOptions,
}

/// A loaded data set, and a notice for the user if the source was a fallback.
pub struct Loaded {
    pub dataset: Dataset,
    pub notice: Option<String>,
}

/// Why [`load`] failed, and a notice of what happened on the way (shown before the error).
#[derive(Debug)]
pub struct LoadFailure {
    pub notice: Option<String>,
    pub error: DataError,
}

impl From<DataError> for LoadFailure {
    fn from(error: DataError) -> Self {
        Self {
            notice: None,
            error,
        }
    }
}

/// Loads a data set from the requested source; `auto` tries dir, Hub, then the sample (not
/// after a cancel).
pub fn load(request: &LoadRequest) -> Result<Loaded, LoadFailure> {
    let mut notes = Vec::new();
    let notice = |notes: &[String]| (!notes.is_empty()).then(|| notes.join("; "));
    let dataset = match request.source {
        SourceKind::Dir => {
            let dir = request.dir.as_deref().ok_or(DataError::NoDir)?;
            load_dir(dir, request.kind)?
        }
        SourceKind::Hub => match load_hub(request.kind, &request.hub, &mut notes) {
            Ok(dataset) => dataset,
            Err(error) => {
                return Err(LoadFailure {
                    notice: notice(&notes),
                    error,
                })
            }
        },
        SourceKind::Sample if request.kind == DatasetKind::Mnist => load_sample()?,
        SourceKind::Sample => return Err(DataError::NoSample(request.kind).into()),
        SourceKind::Auto => match &request.dir {
            Some(dir) => load_dir(dir, request.kind)?,
            None => match load_hub(request.kind, &request.hub, &mut notes) {
                Ok(dataset) => dataset,
                Err(error @ DataError::Hub(HubError::Cancelled { .. })) => {
                    return Err(LoadFailure {
                        notice: notice(&notes),
                        error,
                    })
                }
                Err(error) if request.kind == DatasetKind::Mnist => {
                    let cause = match error {
                        DataError::Hub(e) => format!("the Hugging Face Hub failed: {e}"),
                        e => e.to_string(),
                    };
                    notes.push(format!(
                        "notice: using the bundled MNIST sample (8,000 train / 2,000 test), not full MNIST: {cause}"
                    ));
                    load_sample()?
                }
                Err(error) => {
                    return Err(LoadFailure {
                        notice: notice(&notes),
                        error,
                    })
                }
            },
        },
    };
    Ok(Loaded {
        dataset,
        notice: notice(&notes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_stratified_8000_2000() {
        let data = load_sample().unwrap();
        assert_eq!(data.train.len(), 8000);
        assert_eq!(data.test.len(), 2000);
        let mut train = [0usize; 10];
        let mut test = [0usize; 10];
        data.train
            .labels
            .iter()
            .for_each(|&l| train[l as usize] += 1);
        data.test.labels.iter().for_each(|&l| test[l as usize] += 1);
        for c in 0..10 {
            let total = train[c] + test[c];
            let expected_test = (total as f64 * 0.2).round() as usize;
            assert_eq!(test[c], expected_test, "class {c}");
        }
        // The split is fixed: pin the first labels of each split.
        assert_eq!(&data.train.labels[..8], &[0, 8, 5, 2, 4, 4, 5, 2]);
        assert_eq!(&data.test.labels[..8], &[4, 6, 1, 3, 4, 0, 2, 8]);
    }

    #[test]
    fn missing_dir_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_dir(dir.path(), DatasetKind::Mnist).err().unwrap();
        assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
        let err = load_dir(&dir.path().join("nope"), DatasetKind::Mnist)
            .err()
            .unwrap();
        assert!(err.to_string().contains("no such directory"), "{err}");
    }

    #[test]
    fn a_symlink_loop_or_fifo_is_named_for_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let looped = dir.path().join("loop");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        let err = load_dir(&looped, DatasetKind::Mnist)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("loop: cannot read") && err.contains("symbolic links"),
            "{err}"
        );

        let images = dir.path().join("train-images-idx3-ubyte");
        std::os::unix::fs::symlink(&images, &images).unwrap();
        let err = load_dir(dir.path(), DatasetKind::Mnist)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte: cannot read"),
            "{err}"
        );
        assert!(err.contains("symbolic links"), "{err}");

        std::fs::remove_file(&images).unwrap();
        let c_path = std::ffi::CString::new(images.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path and creates a file; nothing else.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = load_dir(dir.path(), DatasetKind::Mnist)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte: is a FIFO (named pipe)"),
            "{err}"
        );
        let err = load_dir(&images, DatasetKind::Mnist)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("is a FIFO (named pipe), not a directory"),
            "{err}"
        );
    }
}
