//! The Hugging Face Hub source: parquet files with PNG bytes, downloaded with timeouts
//! ([`super::http`]), verified, and converted once to IDX in a cache.
//!
//! Layout under [`HubOptions::cache_dir`]: `<data set>/` (e.g. `mnist/`) holds the four
//! converted IDX files plus a `complete` marker, written last. A download lands in
//! `<data set>/<file>.part<pid>` and is removed once converted: only a conversion of a file that
//! passed every check (size, parquet footer, row count, every row) is cached. When the marker
//! and the four files are there, [`fetch`] touches no network.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use rayon::prelude::*;

use super::dataset::{file_names, DatasetKind, Split, CLASSES, PIXELS, SIDE};
use super::http::{Client, GetError};
use crate::limits::{MAX_DOWNLOAD_BYTES, MAX_PARQUET_ROWS};

/// Name of the marker written once all four IDX files are in place.
const COMPLETE_MARKER: &str = "complete";
/// The IDX prefixes of the two splits, in the order of [`HubFiles::parquet`].
const PREFIXES: [&str; 2] = ["train", "t10k"];
/// The revision downloaded.
pub const REVISION: &str = "main";

/// How to reach the Hub and where to cache what it sends.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Base URL, e.g. `https://huggingface.co` (a local stand-in in tests).
    pub endpoint: String,
    /// Where the converted IDX files live.
    pub cache_dir: PathBuf,
    /// Whether to draw a download progress bar.
    pub progress: bool,
    /// How long any wait on the Hub may last (connect, answer, each read).
    pub timeout: Duration,
}

/// Why the Hub source failed; every variant names the URL or the file, on one line.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The Hub could not be reached or did not send the whole file.
    #[error("{url}: {message}")]
    Download { url: String, message: String },
    /// A downloaded file is not a parquet file of the expected shape.
    #[error("{url}: {message} (nothing was cached)")]
    Invalid { url: String, message: String },
    /// A row (counted from 0) of a parquet file is not a 28x28 image with a label in 0..10.
    #[error("{url}: row {row}: {message} (nothing was cached)")]
    Row {
        url: String,
        row: usize,
        message: String,
    },
    /// The cache could not be written or cleared.
    #[error("{path}: {action}: {error} (data.cache_dir sets another place)")]
    Cache {
        path: PathBuf,
        action: &'static str,
        error: std::io::Error,
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

/// The Hub dataset repository of a data set.
pub fn repo_name(kind: DatasetKind) -> &'static str {
    hub_files(kind).repo
}

/// The Hub's URL of a file of a dataset repo.
fn file_url(endpoint: &str, repo: &str, file: &str) -> String {
    format!(
        "{}/datasets/{repo}/resolve/{REVISION}/{file}",
        endpoint.trim_end_matches('/')
    )
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

/// The cache directory of a data set.
pub fn cache_dir(kind: DatasetKind, options: &HubOptions) -> PathBuf {
    options.cache_dir.join(kind.name())
}

/// Discards a cached conversion found unreadable, so the next [`fetch`] downloads it again.
pub fn discard(dir: &Path) -> Result<(), HubError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HubError::Cache {
            path: dir.to_path_buf(),
            action: "cannot remove the unreadable cached data set (delete it by hand)",
            error: e,
        }),
        _ => Ok(()),
    }
}

/// A download in progress, removed when dropped (converted, failed or interrupted).
struct PartFile(PathBuf);

impl Drop for PartFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Returns a directory holding the data set as the four IDX files, downloading, verifying and
/// converting on first use.
pub fn fetch(kind: DatasetKind, options: &HubOptions) -> Result<PathBuf, HubError> {
    let dir = cache_dir(kind, options);
    if is_complete(&dir) {
        return Ok(dir);
    }
    let files = hub_files(kind);
    let cache_error = |path: &Path, action| {
        let path = path.to_path_buf();
        move |error| HubError::Cache {
            path: path.clone(),
            action,
            error,
        }
    };
    std::fs::create_dir_all(&dir).map_err(cache_error(&dir, "cannot create the cache"))?;
    let marker = dir.join(COMPLETE_MARKER);
    match std::fs::remove_file(&marker) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(cache_error(&marker, "cannot update the cache")(e))
        }
        _ => {}
    }
    let client = Client::new(options.timeout);
    // Download both files before converting either, so a network failure shows at once.
    let download = |name: &str| -> Result<(String, PartFile), HubError> {
        let url = file_url(&options.endpoint, files.repo, name);
        let base = name.rsplit('/').next().unwrap_or(name);
        let part = PartFile(dir.join(format!("{base}.part{}", std::process::id())));
        let write_error = cache_error(&part.0, "cannot write the download");
        let mut file = std::fs::File::create(&part.0).map_err(&write_error)?;
        match client.get(&url, &mut file, MAX_DOWNLOAD_BYTES, options.progress) {
            Ok(_) => Ok((url, part)),
            Err(GetError::Write(e)) => Err(write_error(e)),
            Err(GetError::Http(message)) => Err(HubError::Download { url, message }),
        }
    };
    let parquet = [download(files.parquet[0])?, download(files.parquet[1])?];
    for ((url, part), prefix) in parquet.iter().zip(PREFIXES) {
        read_split(&part.0, url)?
            .write(&dir, prefix)
            .map_err(cache_error(&dir, "cannot write the converted data set"))?;
    }
    let note = format!(
        "converted from {}: {}\n",
        file_url(&options.endpoint, files.repo, ""),
        files.parquet.join(", ")
    );
    crate::fsutil::write_atomic(&marker, note.as_bytes())
        .map_err(cache_error(&marker, "cannot write the cache"))?;
    Ok(dir)
}

/// Reads a downloaded parquet file (from `url`) of `image {bytes: PNG}` and `label: int64` rows
/// into a split, after checking its footer: a row count in 1..=[`MAX_PARQUET_ROWS`] that the
/// row groups agree with, and as many rows read as it declares.
fn read_split(path: &Path, url: &str) -> Result<Split, HubError> {
    let invalid = |message: String| HubError::Invalid {
        url: url.to_string(),
        message,
    };
    let not_parquet =
        |e: parquet::errors::ParquetError| invalid(format!("not a valid parquet file: {e}"));
    let row_error = |row: usize, message: String| HubError::Row {
        url: url.to_string(),
        row,
        message,
    };
    let file =
        std::fs::File::open(path).map_err(|e| invalid(format!("cannot read the download: {e}")))?;
    let reader = SerializedFileReader::new(file).map_err(not_parquet)?;
    let metadata = reader.metadata();
    let declared = metadata.file_metadata().num_rows();
    let in_groups: i64 = metadata.row_groups().iter().map(|g| g.num_rows()).sum();
    if !(1..=MAX_PARQUET_ROWS as i64).contains(&declared) || in_groups != declared {
        return Err(invalid(format!(
            "the parquet footer declares {declared} rows ({in_groups} in its row groups), expected 1..={MAX_PARQUET_ROWS}"
        )));
    }
    let mut rows = Vec::new();
    for (i, row) in reader.get_row_iter(None).map_err(not_parquet)?.enumerate() {
        let row = row.map_err(not_parquet)?;
        rows.push(png_and_label(&row).map_err(|message| row_error(i, message))?);
    }
    if rows.len() as i64 != declared {
        return Err(invalid(format!(
            "the parquet footer declares {declared} rows, the file holds {}",
            rows.len()
        )));
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

/// Decodes PNG bytes to 8-bit grey pixels, which must be 28x28 (checked from the header,
/// before decoding).
fn decode_png(png: &[u8]) -> Result<Vec<u8>, String> {
    let not_png = |e: image::ImageError| format!("not a PNG image: {e}");
    let decoder =
        image::ImageReader::with_format(std::io::Cursor::new(png), image::ImageFormat::Png)
            .into_decoder()
            .map_err(not_png)?;
    let (width, height) = image::ImageDecoder::dimensions(&decoder);
    if (width, height) != (SIDE as u32, SIDE as u32) {
        return Err(format!("image is {width}x{height}, expected {SIDE}x{SIDE}"));
    }
    let pixels = image::DynamicImage::from_decoder(decoder)
        .map_err(not_png)?
        .into_luma8()
        .into_raw();
    debug_assert_eq!(pixels.len(), PIXELS);
    Ok(pixels)
}
