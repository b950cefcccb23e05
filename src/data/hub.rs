//! The Hugging Face Hub source: parquet files with PNG bytes, converted once to IDX in a cache.
//!
//! (Being written; see `fetch`.)

use std::path::PathBuf;

use super::dataset::DatasetKind;

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
    #[error("Hugging Face Hub ({endpoint}): {message}")]
    Download { endpoint: String, message: String },
}

/// Returns a directory holding the data set as the four IDX files, downloading and
/// converting on first use.
pub fn fetch(kind: DatasetKind, options: &HubOptions) -> Result<PathBuf, HubError> {
    let _ = kind;
    Err(HubError::Download {
        endpoint: options.endpoint.clone(),
        message: "not implemented yet".into(),
    })
}
