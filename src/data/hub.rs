//! The Hugging Face Hub source: parquet files with PNG bytes, converted once to IDX in a cache.
//!
//! Layout under [`HubOptions::cache_dir`]: `hub/` is hf-hub's own download cache, and
//! `<data set>/` (e.g. `mnist/`) holds the four converted IDX files plus a `complete` marker,
//! written last. When the marker and the four files are there, [`fetch`] touches no network.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use rayon::prelude::*;

use super::dataset::{file_names, DatasetKind, Split, CLASSES, PIXELS, SIDE};

/// Name of the marker written once all four IDX files are in place.
const COMPLETE_MARKER: &str = "complete";
/// The IDX prefixes of the two splits, in the order of [`HubFiles::parquet`].
const PREFIXES: [&str; 2] = ["train", "t10k"];

/// How to reach the Hub and where to cache what it sends.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Base URL, e.g. `https://huggingface.co` (a local stand-in in tests).
    pub endpoint: String,
    /// Where downloads and the converted IDX files live.
    pub cache_dir: PathBuf,
    /// Whether to draw a download progress bar.
    pub progress: bool,
}

/// Why the Hub source failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The Hub could not be reached or did not send a file.
    #[error("Hugging Face Hub ({endpoint}): {message}")]
    Download { endpoint: String, message: String },
    /// A downloaded parquet file could not be read.
    #[error("{path}: cannot read as parquet: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    /// A row (counted from 0) of a parquet file is not a 28x28 image with a label in 0..10.
    #[error("{path}: row {row}: {message}")]
    Row {
        path: PathBuf,
        row: usize,
        message: String,
    },
    /// The converted files could not be written to the cache.
    #[error("{path}: cannot write the converted data set: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where a data set lives on the Hub: a dataset repo and its train and test parquet files.
struct HubFiles {
    repo: &'static str,
    parquet: [&'static str; 2],
}

/// The one table of Hub names.
fn hub_files(kind: DatasetKind) -> HubFiles {
    match kind {
        DatasetKind::Mnist => HubFiles {
            repo: "ylecun/mnist",
            parquet: [
                "mnist/train-00000-of-00001.parquet",
                "mnist/test-00000-of-00001.parquet",
            ],
        },
        DatasetKind::Fashion => HubFiles {
            repo: "zalando-datasets/fashion_mnist",
            parquet: [
                "fashion_mnist/train-00000-of-00001.parquet",
                "fashion_mnist/test-00000-of-00001.parquet",
            ],
        },
    }
}

/// The revision of the Hub repositories classgen reads.
pub const REVISION: &str = "main";

/// The Hub dataset repository of a data set.
pub fn repo_name(kind: DatasetKind) -> &'static str {
    hub_files(kind).repo
}

/// Whether `dir` holds a finished conversion: the marker and all four IDX files.
fn is_complete(dir: &Path) -> bool {
    dir.join(COMPLETE_MARKER).is_file()
        && PREFIXES.iter().all(|prefix| {
            let (images, labels) = file_names(prefix);
            [images, labels]
                .iter()
                .all(|name| dir.join(format!("{name}.gz")).is_file())
        })
}

/// Returns a directory holding the data set as the four IDX files, downloading and
/// converting on first use.
pub fn fetch(kind: DatasetKind, options: &HubOptions) -> Result<PathBuf, HubError> {
    let dir = options.cache_dir.join(kind.name());
    if is_complete(&dir) {
        return Ok(dir);
    }
    let files = hub_files(kind);
    let download_error = |message: String| HubError::Download {
        endpoint: options.endpoint.clone(),
        message,
    };
    let api = ApiBuilder::from_cache(Cache::new(options.cache_dir.join("hub")))
        .with_endpoint(options.endpoint.clone())
        .with_progress(options.progress)
        .build()
        .map_err(|e| download_error(format!("cannot set up the client: {e}")))?;
    let repo = api.repo(Repo::with_revision(
        files.repo.to_string(),
        RepoType::Dataset,
        REVISION.to_string(),
    ));
    // Download both files before converting either, so a network failure shows at once.
    let download = |name: &str| {
        repo.get(name).map_err(|e| {
            download_error(format!(
                "cannot download {name} from dataset {}: {e}",
                files.repo
            ))
        })
    };
    let parquet = [download(files.parquet[0])?, download(files.parquet[1])?];

    let marker = dir.join(COMPLETE_MARKER);
    let cache_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HubError::Cache { path, source }
    };
    match std::fs::remove_file(&marker) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(cache_error(&marker)(e)),
        _ => {}
    }
    for (path, prefix) in parquet.iter().zip(PREFIXES) {
        read_split(path)?
            .write(&dir, prefix)
            .map_err(cache_error(&dir))?;
    }
    let note = format!(
        "converted from {}/datasets/{}: {}\n",
        options.endpoint,
        files.repo,
        files.parquet.join(", ")
    );
    crate::fsutil::write_atomic(&marker, note.as_bytes()).map_err(cache_error(&marker))?;
    Ok(dir)
}

/// Reads a parquet file of `image {bytes: PNG}` and `label: int64` rows into a split.
fn read_split(path: &Path) -> Result<Split, HubError> {
    let parquet_error = |source| HubError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let row_error = |row: usize, message: String| HubError::Row {
        path: path.to_path_buf(),
        row,
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| parquet_error(e.into()))?;
    let reader = SerializedFileReader::new(file).map_err(parquet_error)?;
    let mut rows = Vec::new();
    for (i, row) in reader
        .get_row_iter(None)
        .map_err(parquet_error)?
        .enumerate()
    {
        let row = row.map_err(parquet_error)?;
        rows.push(png_and_label(&row).map_err(|message| row_error(i, message))?);
    }
    // PNG decoding dominates the conversion: spread it over the cores.
    let images = rows
        .par_iter()
        .enumerate()
        .map(|(i, (png, _))| decode_png(png).map_err(|message| row_error(i, message)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Split {
        images: images.concat(),
        labels: rows.into_iter().map(|(_, label)| label).collect(),
    })
}

/// The field named `name` of a row.
fn column<'a>(row: &'a Row, name: &str) -> Result<&'a Field, String> {
    row.get_column_iter()
        .find(|(n, _)| n.as_str() == name)
        .map(|(_, field)| field)
        .ok_or_else(|| format!("no column '{name}'"))
}

/// The PNG bytes and the checked label of a row.
fn png_and_label(row: &Row) -> Result<(Vec<u8>, u8), String> {
    let png = match column(row, "image")? {
        Field::Group(image) => match column(image, "bytes")? {
            Field::Bytes(bytes) => bytes.data().to_vec(),
            _ => return Err("image.bytes is missing or not binary".into()),
        },
        _ => return Err("image is missing or not a group {bytes, path}".into()),
    };
    let label = match column(row, "label")? {
        Field::Long(label) => *label,
        _ => return Err("label is missing or not an int64".into()),
    };
    let label = u8::try_from(label)
        .ok()
        .filter(|&l| usize::from(l) < CLASSES)
        .ok_or_else(|| format!("label {label} outside 0..{CLASSES}"))?;
    Ok((png, label))
}

/// Decodes PNG bytes to 8-bit grey pixels, which must be 28x28.
fn decode_png(png: &[u8]) -> Result<Vec<u8>, String> {
    let image = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .map_err(|e| format!("not a PNG image: {e}"))?;
    if (image.width(), image.height()) != (SIDE as u32, SIDE as u32) {
        return Err(format!(
            "image is {}x{}, expected {SIDE}x{SIDE}",
            image.width(),
            image.height()
        ));
    }
    let pixels = image.into_luma8().into_raw();
    debug_assert_eq!(pixels.len(), PIXELS);
    Ok(pixels)
}
