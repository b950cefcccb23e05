//! The Hugging Face Hub source: parquet files with PNG bytes, downloaded by hf-hub into the
//! Hugging Face cache ([`super::download`]), verified, and converted once to IDX.
//!
//! Two caches, as Hugging Face users expect: the parquet files live in the Hugging Face cache
//! ([`HubOptions::hub_cache`], `HF_HUB_CACHE`), shared with Python's huggingface_hub (a file
//! it fetched is used as is, and the other way round); the conversion lives under
//! [`HubOptions::cache_dir`] in `<data set>/<revision>/` (e.g. `mnist/77f3…/`): the four IDX
//! files plus a `complete` marker, written last, naming the commit converted. Only a
//! conversion of files that passed every check (size, parquet footer, row count, every row)
//! is kept; a parquet file that fails them leaves the Hugging Face cache too. When the marker
//! and the four files are there, or both parquet files are in the Hugging Face cache,
//! [`fetch`] touches no network; with `HF_HUB_OFFLINE` set it never does.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::{Field, Row};
use rayon::prelude::*;

use super::dataset::{file_names, DatasetKind, Split, CLASSES, PIXELS, SIDE};
use super::download::{self, Failure};
use crate::limits::{MAX_DOWNLOAD_BYTES, MAX_PARQUET_ROWS};

/// Name of the marker written once all four IDX files are in place.
const COMPLETE_MARKER: &str = "complete";
/// The IDX prefixes of the two splits, in the order of [`HubFiles::parquet`].
const PREFIXES: [&str; 2] = ["train", "t10k"];
/// The Hub's address when neither `HF_ENDPOINT` nor `data.hub_endpoint` names another.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// Largest token file read.
const MAX_TOKEN_BYTES: u64 = 4096;

/// How to reach the Hub and where to cache what it sends.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Base URL, e.g. `https://huggingface.co` (a local stand-in in tests).
    pub endpoint: String,
    /// Where the converted IDX files live (`data.cache_dir`).
    pub cache_dir: PathBuf,
    /// The Hugging Face cache, where the parquet files live (`HF_HUB_CACHE`).
    pub hub_cache: PathBuf,
    /// The access token sent to the Hub (`HF_TOKEN`), if any.
    pub token: Option<String>,
    /// Use only the caches (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Whether to draw a download progress bar.
    pub progress: bool,
    /// How long the Hub may keep a download waiting, or slower than
    /// [`download::MIN_BYTES_PER_SEC`] over a whole window of it.
    pub timeout: Duration,
    /// Set to end a download at once (signals, the dashboard quitting).
    pub cancel: Arc<AtomicBool>,
}

/// The Hugging Face environment variables classgen honours, as huggingface_hub reads them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HfEnv {
    /// `HF_ENDPOINT`.
    pub endpoint: Option<String>,
    /// `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
    /// `~/.cache/huggingface/hub`.
    pub hub_cache: PathBuf,
    /// `HF_TOKEN`, else the file `HF_TOKEN_PATH`, else `$HF_HOME/token`.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE` is 1, true, yes or on.
    pub offline: bool,
}

impl HfEnv {
    /// Reads the process's environment.
    pub fn read() -> Self {
        Self::from_lookup(|key| std::env::var_os(key))
    }

    /// Reads the variables through `var`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let set = |key: &str| var(key).filter(|v| !v.is_empty());
        let hf_home = set("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            set("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"))
                .join("huggingface")
        });
        let token_file = set("HF_TOKEN_PATH").map_or_else(|| hf_home.join("token"), PathBuf::from);
        let token = set("HF_TOKEN")
            .map(|t| t.to_string_lossy().into_owned())
            .or_else(|| {
                let bytes = crate::userfile::read_file(&token_file, MAX_TOKEN_BYTES).ok()?;
                Some(String::from_utf8_lossy(&bytes).into_owned())
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Self {
            endpoint: set("HF_ENDPOINT").map(|e| e.to_string_lossy().into_owned()),
            hub_cache: set("HF_HUB_CACHE").map_or_else(|| hf_home.join("hub"), PathBuf::from),
            token,
            offline: set("HF_HUB_OFFLINE").is_some_and(|v| {
                ["1", "true", "yes", "on"]
                    .contains(&v.to_string_lossy().trim().to_ascii_lowercase().as_str())
            }),
        }
    }
}

impl HubOptions {
    /// Options from the config's keys and the environment: `HF_ENDPOINT` overrides
    /// `data.hub_endpoint` (empty: [`DEFAULT_ENDPOINT`]).
    pub fn new(
        config_endpoint: &str,
        cache_dir: PathBuf,
        timeout: Duration,
        env: HfEnv,
        progress: bool,
        cancel: Arc<AtomicBool>,
    ) -> Self {
        let endpoint = env
            .endpoint
            .or_else(|| (!config_endpoint.is_empty()).then(|| config_endpoint.to_string()))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Self {
            endpoint,
            cache_dir,
            hub_cache: env.hub_cache,
            token: env.token,
            offline: env.offline,
            progress,
            timeout,
            cancel,
        }
    }
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
    /// A cache could not be written or cleared.
    #[error("{path}: {action}: {error} ({setting} sets another place)")]
    Cache {
        path: PathBuf,
        action: &'static str,
        error: std::io::Error,
        setting: &'static str,
    },
    /// `HF_HUB_OFFLINE` is set and a file is in neither cache.
    #[error("{url}: not in the Hugging Face cache {} and HF_HUB_OFFLINE is set (unset it to download)", cache.display())]
    Offline { url: String, cache: PathBuf },
    /// The download or the conversion was cancelled (a signal, or the dashboard quitting).
    #[error("{url}: download cancelled (nothing partial was kept)")]
    Cancelled { url: String },
}

/// Where a data set lives on the Hub: a dataset repo at a revision, and its train and test
/// parquet files.
struct HubFiles {
    repo: &'static str,
    revision: &'static str,
    parquet: [&'static str; 2],
}

/// The one table of Hub names. MNIST is pinned to a commit (the one its parquet files were
/// published at), so a run records exactly what it read.
fn hub_files(kind: DatasetKind) -> HubFiles {
    match kind {
        DatasetKind::Mnist => HubFiles {
            repo: "ylecun/mnist",
            revision: "77f3279092a1c1579b2250db8eafed0ad422088c",
            parquet: [
                "mnist/train-00000-of-00001.parquet",
                "mnist/test-00000-of-00001.parquet",
            ],
        },
        // No commit could be checked from here: `main`, the commit it resolves to recorded.
        DatasetKind::Fashion => HubFiles {
            repo: "zalando-datasets/fashion_mnist",
            revision: "main",
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

/// The revision of a data set's repository that is downloaded.
pub fn revision(kind: DatasetKind) -> &'static str {
    hub_files(kind).revision
}

/// The Hub's URL of a file of a dataset repo.
fn file_url(endpoint: &str, repo: &str, revision: &str, file: &str) -> String {
    format!(
        "{}/datasets/{repo}/resolve/{revision}/{file}",
        endpoint.trim_end_matches('/')
    )
}

/// The commit of a finished conversion in `dir`: the marker's first line, with all four IDX
/// files there.
fn converted_commit(dir: &Path) -> Option<String> {
    let complete = PREFIXES.iter().all(|prefix| {
        let (images, labels) = file_names(prefix);
        [images, labels]
            .iter()
            .all(|name| dir.join(format!("{name}.gz")).is_file())
    });
    let marker = crate::userfile::read_file(&dir.join(COMPLETE_MARKER), 4096).ok()?;
    let commit = String::from_utf8(marker)
        .ok()?
        .lines()
        .next()?
        .trim()
        .to_string();
    (complete && !commit.is_empty()).then_some(commit)
}

/// The directory of a data set's conversion.
pub fn cache_dir(kind: DatasetKind, options: &HubOptions) -> PathBuf {
    options.cache_dir.join(kind.name()).join(revision(kind))
}

/// Discards a cached conversion found unreadable, so the next [`fetch`] converts it again.
pub fn discard(dir: &Path) -> Result<(), HubError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HubError::Cache {
            path: dir.to_path_buf(),
            action: "cannot remove the unreadable cached data set (delete it by hand)",
            error: e,
            setting: "data.cache_dir",
        }),
        _ => Ok(()),
    }
}

/// A converted data set: the directory of its four IDX files, and the commit they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub dir: PathBuf,
    pub commit: String,
}

/// A parquet file at hand in the Hugging Face cache.
struct Parquet {
    url: String,
    path: PathBuf,
    commit: String,
}

/// Finds `file` in the Hugging Face cache or downloads it there.
fn obtain(files: &HubFiles, file: &str, options: &HubOptions) -> Result<Parquet, HubError> {
    let url = file_url(&options.endpoint, files.repo, files.revision, file);
    if let Some((path, commit)) =
        download::cached(&options.hub_cache, files.repo, files.revision, file)
    {
        return Ok(Parquet { url, path, commit });
    }
    if options.offline {
        return Err(HubError::Offline {
            url,
            cache: options.hub_cache.clone(),
        });
    }
    let client = download::Client {
        endpoint: &options.endpoint,
        token: options.token.as_deref(),
        hub_cache: &options.hub_cache,
        timeout: options.timeout,
        cancel: &options.cancel,
        progress: options.progress,
    };
    match client.get(files.repo, files.revision, file, &url, MAX_DOWNLOAD_BYTES) {
        Ok((path, commit)) => Ok(Parquet { url, path, commit }),
        Err(Failure::Http(message)) => Err(HubError::Download { url, message }),
        Err(Failure::Cancelled) => Err(HubError::Cancelled { url }),
        Err(Failure::Cache(error)) => Err(HubError::Cache {
            path: options.hub_cache.clone(),
            action: "cannot write the Hugging Face cache",
            error,
            setting: "HF_HUB_CACHE",
        }),
    }
}

/// Returns the directory holding the data set as the four IDX files, and the commit they
/// came from, downloading, verifying and converting on first use.
pub fn fetch(kind: DatasetKind, options: &HubOptions) -> Result<Fetched, HubError> {
    let dir = cache_dir(kind, options);
    if let Some(commit) = converted_commit(&dir) {
        return Ok(Fetched { dir, commit });
    }
    let files = hub_files(kind);
    // Both files before converting either, so a network failure shows at once.
    let parquet = [
        obtain(&files, files.parquet[0], options)?,
        obtain(&files, files.parquet[1], options)?,
    ];
    let cache_error = |path: &Path, action| {
        let path = path.to_path_buf();
        move |error| HubError::Cache {
            path: path.clone(),
            action,
            error,
            setting: "data.cache_dir",
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
    for (file, prefix) in parquet.iter().zip(PREFIXES) {
        let split = read_split(&file.path, &file.url, &options.cancel).inspect_err(|e| {
            // A file that fails the checks is not kept for the next try (nor for Python).
            if matches!(e, HubError::Invalid { .. } | HubError::Row { .. }) {
                download::forget(&file.path);
            }
        })?;
        split
            .write(&dir, prefix)
            .map_err(cache_error(&dir, "cannot write the converted data set"))?;
    }
    let commit = parquet[0].commit.clone();
    let note = format!(
        "{commit}\nconverted from {}: {}\n",
        file_url(&options.endpoint, files.repo, &commit, ""),
        files.parquet.join(", ")
    );
    crate::fsutil::write_atomic(&marker, note.as_bytes())
        .map_err(cache_error(&marker, "cannot write the cache"))?;
    Ok(Fetched { dir, commit })
}

/// Reads a downloaded parquet file (from `url`) of `image {bytes: PNG}` and `label: int64` rows
/// into a split, after checking its footer: a row count in 1..=[`MAX_PARQUET_ROWS`] that the
/// row groups agree with, and as many rows read as it declares. Ends early once `cancel` is set.
fn read_split(path: &Path, url: &str, cancel: &AtomicBool) -> Result<Split, HubError> {
    let cancelled = || HubError::Cancelled {
        url: url.to_string(),
    };
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
        if cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
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
        .map(|(i, (png, _))| {
            if cancel.load(Ordering::Relaxed) {
                return Err(cancelled());
            }
            decode_png(png).map_err(|message| row_error(i, message))
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment `vars` describes (name, value).
    fn env(vars: &[(&str, &str)]) -> HfEnv {
        HfEnv::from_lookup(|key| {
            vars.iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| OsString::from(value))
        })
    }

    #[test]
    fn the_hugging_face_variables_take_precedence_as_in_huggingface_hub() {
        let none = env(&[("HOME", "/home/u")]);
        assert_eq!(none.hub_cache, Path::new("/home/u/.cache/huggingface/hub"));
        assert_eq!((none.endpoint, none.offline), (None, false));
        let xdg = env(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/x")]);
        assert_eq!(xdg.hub_cache, Path::new("/x/huggingface/hub"));
        let home = env(&[("XDG_CACHE_HOME", "/x"), ("HF_HOME", "/hf")]);
        assert_eq!(home.hub_cache, Path::new("/hf/hub"));
        let cache = env(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/cache")]);
        assert_eq!(cache.hub_cache, Path::new("/cache"));
        for (value, offline) in [
            ("1", true),
            ("ON", true),
            ("yes", true),
            ("0", false),
            ("", false),
        ] {
            assert_eq!(
                env(&[("HF_HUB_OFFLINE", value)]).offline,
                offline,
                "{value}"
            );
        }
    }

    #[test]
    fn hf_token_wins_over_the_token_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "hf_from_file\n").unwrap();
        let home = dir.path().to_str().unwrap();
        assert_eq!(
            env(&[("HF_HOME", home)]).token.as_deref(),
            Some("hf_from_file")
        );
        assert_eq!(
            env(&[("HF_HOME", home), ("HF_TOKEN", "hf_env")])
                .token
                .as_deref(),
            Some("hf_env")
        );
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "hf_path").unwrap();
        let path = elsewhere.to_str().unwrap();
        assert_eq!(
            env(&[("HF_HOME", home), ("HF_TOKEN_PATH", path)])
                .token
                .as_deref(),
            Some("hf_path")
        );
        // A token "file" that is a directory is no token, and no error.
        assert_eq!(env(&[("HF_TOKEN_PATH", home)]).token, None);
    }

    #[test]
    fn hf_endpoint_overrides_the_config_key() {
        let options = |config: &str, vars: &[(&str, &str)]| {
            HubOptions::new(
                config,
                PathBuf::from("c"),
                Duration::from_secs(1),
                env(vars),
                false,
                Arc::default(),
            )
            .endpoint
        };
        assert_eq!(options("", &[]), DEFAULT_ENDPOINT);
        assert_eq!(options("http://mirror", &[]), "http://mirror");
        assert_eq!(
            options("http://mirror", &[("HF_ENDPOINT", "http://env")]),
            "http://env"
        );
    }
}
