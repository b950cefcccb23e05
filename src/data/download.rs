//! One file of a Hub dataset repository into the Hugging Face cache, through hf-hub's async
//! API, with every wait bounded and a cancel honoured at any moment.
//!
//! The download is a future polled beside a watch that ends it (by dropping it, with its
//! runtime and every task hf-hub spawned) when the cancel flag is set, when no answer comes
//! within the timeout, or when a window of the timeout brings less than [`MIN_BYTES_PER_SEC`]
//! times its length: a Hub that drips a byte now and then fails as surely as a silent one.
//! Whatever it leaves in the cache's `blobs/` (hf-hub's `.sync.part` and `.lock` files) is
//! then removed, unless another download holds it.
//!
//! Before hf-hub's download, one `Range: bytes=0-0` request of our own (on hf-hub's client)
//! checks the answer: hf-hub 0.5 panics on a redirect without `Location`, reports a bad status
//! as a long `reqwest` message, and preallocates whatever size the Hub announces.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hf_hub::api::tokio::{ApiBuilder, ApiError, Progress};
use hf_hub::{Cache, Repo, RepoType};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::header::{CONTENT_RANGE, RANGE};

/// The slowest download accepted: below this rate over a whole timeout window, it has stalled.
pub const MIN_BYTES_PER_SEC: u64 = 4096;
/// How often the watch looks at the cancel flag and the progress.
const TICK: Duration = Duration::from_millis(50);

/// Why a download failed.
#[derive(Debug)]
pub enum Failure {
    /// The network or the server, in one line (the URL not included).
    Http(String),
    /// The cancel flag was set.
    Cancelled,
    /// The Hugging Face cache could not be written.
    Cache(std::io::Error),
}

/// Where and how to download.
pub struct Client<'a> {
    pub endpoint: &'a str,
    pub token: Option<&'a str>,
    /// The Hugging Face cache (`HF_HUB_CACHE`).
    pub hub_cache: &'a Path,
    /// How long the Hub may keep us waiting (see the module's doc).
    pub timeout: Duration,
    pub cancel: &'a AtomicBool,
    pub progress: bool,
}

/// A dataset repository at a revision.
fn dataset(repo: &str, revision: &str) -> Repo {
    Repo::with_revision(repo.to_string(), RepoType::Dataset, revision.to_string())
}

/// A file of `repo` at `revision` already in the Hugging Face cache (fetched by hf-hub or by
/// Python's huggingface_hub), with the commit it belongs to.
pub fn cached(
    hub_cache: &Path,
    repo: &str,
    revision: &str,
    file: &str,
) -> Option<(PathBuf, String)> {
    let cache = Cache::new(hub_cache.to_path_buf()).repo(dataset(repo, revision));
    // A commit's snapshot directly (huggingface_hub writes no ref for a commit), else the ref.
    let pinned = cache.pointer_path(revision).join(file);
    let path = if pinned.is_file() {
        pinned
    } else {
        cache.get(file).filter(|p| p.is_file())?
    };
    let commit = commit_of(hub_cache, repo, revision, &path)?;
    Some((path, commit))
}

/// The commit of a snapshot path `…/snapshots/<commit>/<file>`.
fn commit_of(hub_cache: &Path, repo: &str, revision: &str, path: &Path) -> Option<String> {
    let snapshots = Cache::new(hub_cache.to_path_buf())
        .repo(dataset(repo, revision))
        .pointer_path("");
    let commit = path.strip_prefix(snapshots).ok()?.components().next()?;
    Some(commit.as_os_str().to_string_lossy().into_owned())
}

/// Removes a cached file found unusable: its snapshot entry and the blob it points to.
pub fn forget(path: &Path) {
    if let Ok(blob) = std::fs::canonicalize(path) {
        if blob != path {
            let _ = std::fs::remove_file(blob);
        }
    }
    let _ = std::fs::remove_file(path);
}

impl Client<'_> {
    /// Downloads `file` of the dataset `repo` at `revision` (`url` is its address, for
    /// messages) into the cache: at most `limit` bytes. Returns its snapshot path and commit.
    pub fn get(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        url: &str,
        limit: u64,
    ) -> Result<(PathBuf, String), Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Http(format!("cannot start the download: {e}")))?;
        // A snapshot entry whose blob is gone would stop hf-hub from linking the new one.
        let pointer = Cache::new(self.hub_cache.to_path_buf())
            .repo(dataset(repo, revision))
            .pointer_path(revision)
            .join(file);
        if pointer.symlink_metadata().is_ok() && !pointer.exists() {
            let _ = std::fs::remove_file(&pointer);
        }
        let watch = Watch::new(self.progress, file);
        let result = runtime.block_on(self.watched(repo, revision, file, url, limit, &watch));
        // Dropping the runtime ends every task hf-hub spawned, and releases its locks.
        drop(runtime);
        watch.bar.finish_and_clear();
        let blobs = Cache::new(self.hub_cache.to_path_buf())
            .repo(dataset(repo, revision))
            .blob_path("");
        tidy(&blobs);
        let path = result?;
        let commit = commit_of(self.hub_cache, repo, revision, &path).ok_or_else(|| {
            Failure::Http(format!(
                "hf-hub put the file outside the cache: {}",
                path.display()
            ))
        })?;
        Ok((path, commit))
    }

    /// The download, ended early by the cancel flag or a stall.
    async fn watched(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        url: &str,
        limit: u64,
        watch: &Watch,
    ) -> Result<PathBuf, Failure> {
        let work = self.download(repo, revision, file, url, limit, watch);
        tokio::pin!(work);
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                result = &mut work => return result,
                _ = tick.tick() => {
                    if self.cancel.load(Ordering::Relaxed) {
                        return Err(Failure::Cancelled);
                    }
                    if let Some(message) = watch.stalled(self.timeout) {
                        return Err(Failure::Http(message));
                    }
                }
            }
        }
    }

    async fn download(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        url: &str,
        limit: u64,
        watch: &Watch,
    ) -> Result<PathBuf, Failure> {
        let api = ApiBuilder::from_cache(Cache::new(self.hub_cache.to_path_buf()))
            .with_endpoint(self.endpoint.trim_end_matches('/').to_string())
            .with_token(self.token.map(str::to_string))
            .with_progress(false)
            .with_user_agent("classgen", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| Failure::Http(format!("cannot set up the client: {e}")))?;
        let size = ask(api.client(), url).await?;
        if size > limit {
            return Err(Failure::Http(format!(
                "the file is {size} bytes, more than the {limit}-byte limit"
            )));
        }
        watch.asked();
        let path = api
            .repo(dataset(repo, revision))
            .download_with_progress(file, watch.clone())
            .await
            .map_err(|e| watch.failure(e))?;
        let received = watch.state().received;
        if received != size {
            // A body without a length, cut short: hf-hub kept it, padded with zeros.
            forget(&path);
            return Err(Failure::Http(format!(
                "the connection closed after {received} of {size} bytes"
            )));
        }
        Ok(path)
    }
}

/// Asks for the first byte of `url` and returns the file's size, or why the answer is not
/// one hf-hub can download from.
async fn ask(client: &reqwest::Client, url: &str) -> Result<u64, Failure> {
    let response = client
        .get(url)
        .header(RANGE, "bytes=0-0")
        .send()
        .await
        .map_err(|e| Failure::Http(describe(&e, None)))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(Failure::Http(format!(
            "redirect (HTTP {status}) without a usable Location header"
        )));
    }
    if !status.is_success() {
        return Err(Failure::Http(format!("HTTP {status}")));
    }
    response
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('/').next())
        .and_then(|total| total.trim().parse().ok())
        .ok_or_else(|| {
            Failure::Http(format!(
                "HTTP {status} without a Content-Range (the Hub serves byte ranges)"
            ))
        })
}

/// One line for a request that failed: what failed, then the innermost cause.
fn describe(e: &reqwest::Error, received: Option<(u64, u64)>) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if e.is_connect() {
        "cannot connect".to_string()
    } else if let Some((received, size)) = received.filter(|_| e.is_body() || e.is_decode()) {
        format!("the connection closed after {received} of {size} bytes")
    } else if e.is_request() {
        "bad answer".to_string()
    } else {
        "request failed".to_string()
    };
    let cause = cause.to_string();
    if e.is_connect() || cause != e.to_string() {
        format!("{what}: {cause}")
    } else {
        what
    }
}

/// Removes what interrupted downloads left in a `blobs/` directory: each `.sync.part` and
/// `.lock` file whose lock no one holds.
fn tidy(blobs: &Path) {
    let Ok(entries) = std::fs::read_dir(blobs) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(stem) = name
            .strip_suffix(".sync.part")
            .or_else(|| name.strip_suffix(".lock"))
        else {
            continue;
        };
        let lock = blobs.join(format!("{stem}.lock"));
        match std::fs::File::open(&lock) {
            Ok(file) => {
                if !try_lock(&file) {
                    continue;
                }
                let _ = std::fs::remove_file(blobs.join(format!("{stem}.sync.part")));
                let _ = std::fs::remove_file(&lock);
            }
            // A part without its lock: its download is over.
            Err(_) => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Whether an exclusive lock on `file` was free (it is released when the file closes).
fn try_lock(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock only reads the descriptor, which `file` keeps open for this call.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// What the watch knows of the download in progress.
struct State {
    /// Start of the current window: the request, or the last window that brought enough.
    window_start: Instant,
    window_bytes: u64,
    /// The body has started (hf-hub called `init`).
    body: bool,
    received: u64,
    size: u64,
}

/// The download's progress, shared by hf-hub's callbacks and the watch.
#[derive(Clone)]
struct Watch {
    state: Arc<Mutex<State>>,
    bar: ProgressBar,
}

impl Watch {
    fn new(progress: bool, file: &str) -> Self {
        let bar = if progress {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar.set_message(file.rsplit('/').next().unwrap_or(file).to_string());
        Self {
            state: Arc::new(Mutex::new(State {
                window_start: Instant::now(),
                window_bytes: 0,
                body: false,
                received: 0,
                size: 0,
            })),
            bar,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Our own request was answered: hf-hub's gets a window of its own.
    fn asked(&self) {
        self.state().window_start = Instant::now();
    }

    /// Why the download has stalled, if it has: no answer within `timeout`, or too little in
    /// the last window of `timeout`. A window that brought enough starts the next one.
    fn stalled(&self, timeout: Duration) -> Option<String> {
        let mut state = self.state();
        if state.window_start.elapsed() < timeout {
            return None;
        }
        if !state.body {
            return Some(format!(
                "no answer within {timeout:?} (data.hub_timeout_secs)"
            ));
        }
        let floor = ((MIN_BYTES_PER_SEC as f64 * timeout.as_secs_f64()) as u64).max(1);
        if state.window_bytes < floor {
            return Some(format!(
                "stalled: {} of {} bytes arrived, less than {floor} in the last {timeout:?} (data.hub_timeout_secs)",
                state.received, state.size
            ));
        }
        state.window_start = Instant::now();
        state.window_bytes = 0;
        None
    }

    /// One line for an error of hf-hub's download.
    fn failure(&self, e: ApiError) -> Failure {
        let (received, size) = {
            let state = self.state();
            (state.received, state.size)
        };
        match e {
            ApiError::RequestError(e) => Failure::Http(describe(&e, Some((received, size)))),
            ApiError::IoError(e) => Failure::Cache(e),
            ApiError::TooManyRetries(e) => self.failure(*e),
            ApiError::LockAcquisition(path) => Failure::Http(format!(
                "another download holds {} (try again once it ends)",
                path.display()
            )),
            e => Failure::Http(format!("the answer is not one hf-hub can use: {e}")),
        }
    }
}

impl Progress for Watch {
    async fn init(&mut self, size: usize, _filename: &str) {
        {
            let mut state = self.state();
            state.body = true;
            state.size = size as u64;
            state.window_start = Instant::now();
            state.window_bytes = 0;
        }
        self.bar.set_length(size as u64);
    }

    async fn update(&mut self, size: usize) {
        {
            let mut state = self.state();
            state.received += size as u64;
            state.window_bytes += size as u64;
        }
        self.bar.inc(size as u64);
    }

    async fn finish(&mut self) {}
}
