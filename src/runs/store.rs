//! The run store: creating run directories, the record each keeps (`run.json`), finding runs by
//! kind, data and state, and their typed result files.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::identity::DataIdentity;
use super::lock::{LockError, RunLock};
use super::log::EventLog;
use crate::fsutil::write_atomic;
use crate::model::train::Position;
use crate::userfile::{self, ReadError};

/// File in a run directory that says what the run is.
pub const RECORD: &str = "run.json";
/// File in a run directory holding the job's result.
pub const RESULT: &str = "result.json";

/// Most bytes read from a `run.json` or `result.json` (they are a few KiB to a few MiB).
const MAX_JSON_BYTES: u64 = 256 << 20;

/// The job a run directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Train,
    Ablate,
    Baselines,
    Confidence,
    Robustness,
    Invert,
    InvertGrid,
    InvertSweep,
    Prototypes,
    Explain,
}

impl RunKind {
    /// Every kind, in the order the dashboard lists them.
    pub const ALL: [RunKind; 10] = [
        Self::Train,
        Self::Ablate,
        Self::Baselines,
        Self::Confidence,
        Self::Robustness,
        Self::Invert,
        Self::InvertGrid,
        Self::InvertSweep,
        Self::Prototypes,
        Self::Explain,
    ];

    /// Name as in directory names and tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Ablate => "ablate",
            Self::Baselines => "baselines",
            Self::Confidence => "confidence",
            Self::Robustness => "robustness",
            Self::Invert => "invert",
            Self::InvertGrid => "invert-grid",
            Self::InvertSweep => "invert-sweep",
            Self::Prototypes => "prototypes",
            Self::Explain => "explain",
        }
    }
}

impl fmt::Display for RunKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunState {
    /// A process is writing it.
    Running,
    Finished,
    /// Stopped on request (Ctrl-C, a signal, the dashboard); a training run at a position.
    Stopped {
        at: Option<Position>,
    },
    Failed {
        message: String,
    },
    /// Recorded as running, but no process holds it: killed (the last checkpoint is intact).
    Interrupted,
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Running => f.write_str("running"),
            Self::Finished => f.write_str("finished"),
            Self::Stopped { at: Some(p) } => {
                write!(f, "stopped at epoch {} batch {}", p.epoch + 1, p.batch)
            }
            Self::Stopped { at: None } => f.write_str("stopped"),
            Self::Failed { message } => write!(f, "failed: {message}"),
            Self::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// The CNN a run used (baselines, confidence, robustness, inversions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// The training run's name (its directory under the runs directory).
    pub run: String,
    pub dir: PathBuf,
    pub arch: String,
    pub seed: u64,
    pub epochs: usize,
    pub test_accuracy: Option<f64>,
}

/// What a training run's record says of its network, kept current at every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnSummary {
    pub arch: String,
    pub params: usize,
    pub seed: u64,
    /// Epochs complete, and the epochs the run is set to reach.
    pub epochs: usize,
    pub epochs_planned: usize,
    pub test_accuracy: Option<f64>,
}

/// `run.json`: what every run directory says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub kind: RunKind,
    /// Seconds since the Unix epoch when the run was created.
    pub created: u64,
    /// The classgen version that made it.
    pub classgen: String,
    pub data: DataIdentity,
    /// The CNN the job used, if any.
    pub model: Option<ModelRef>,
    /// For training runs: the network being trained.
    pub cnn: Option<CnnSummary>,
    pub state: RunState,
}

/// Why the run store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("creating a run directory under {root}: {source}")]
    Create {
        root: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not a classgen run directory (no readable {RECORD})")]
    NotARun(PathBuf),
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("{path}: {error}")]
    Unreadable { path: PathBuf, error: ReadError },
    #[error("{root}: {what}, not a directory (the runs directory, config key paths.runs)")]
    BadRoot { root: PathBuf, what: String },
    #[error("no run '{name}': neither a directory nor a run under {root}")]
    NoSuchRun { name: String, root: PathBuf },
    #[error("{dir}: a {found} run, not a {wanted} run")]
    WrongKind {
        dir: PathBuf,
        found: RunKind,
        wanted: RunKind,
    },
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("no finished CNN run on {data} under {root}; {found}. Train one with `classgen train` and the same data flags, or name one with --run RUN")]
    NoMatchingCnn {
        data: DataIdentity,
        root: PathBuf,
        found: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads and parses a JSON file of at most [`MAX_JSON_BYTES`]: [`RunError::Unreadable`] when it
/// cannot be read (not a regular file, too large), [`RunError::Corrupt`] when it is not the JSON
/// expected.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, RunError> {
    let bytes =
        userfile::read_file(path, MAX_JSON_BYTES).map_err(|error| RunError::Unreadable {
            path: path.to_path_buf(),
            error,
        })?;
    if bytes.is_empty() {
        return Err(RunError::Corrupt {
            path: path.to_path_buf(),
            message: "is empty (0 bytes)".into(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| RunError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| RunError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomic(path, &bytes).map_err(io_error(path))
}

/// A run found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    pub dir: PathBuf,
    /// The directory's name: how commands and the dashboard name the run.
    pub name: String,
    pub record: RunRecord,
    /// Whether a process holds the run's lock now.
    pub live: bool,
}

impl RunInfo {
    /// Reads the run in `dir`: [`RunError::NotARun`] when it has no `run.json` at all, else
    /// the error of a `run.json` that cannot be read or parsed.
    pub fn read(dir: &Path) -> Result<Self, RunError> {
        let path = dir.join(RECORD);
        if let Err(e) = std::fs::symlink_metadata(&path) {
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) {
                return Err(RunError::NotARun(dir.to_path_buf()));
            }
        }
        let record = read_json(&path)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name: dir
                .file_name()
                .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into()),
            record,
            live: RunLock::is_held(dir),
        })
    }

    /// For a training run that no process writes: why its checkpoint cannot be used, if it
    /// cannot (unreadable, not valid, or missing from a run that says it finished).
    fn damaged_checkpoint(&self) -> Option<DamagedRun> {
        let state = self.state();
        if self.record.kind != RunKind::Train || state == RunState::Running {
            return None;
        }
        let file = self.dir.join(super::checkpoint::CHECKPOINT);
        if std::fs::symlink_metadata(&file).is_err() && state != RunState::Finished {
            // Ended before its first checkpoint: failed or stopped, not damaged.
            return None;
        }
        let error = super::checkpoint::read_meta(&self.dir).err()?;
        let text = format!("{error:#}");
        let prefix = format!("{}: ", file.display());
        Some(DamagedRun {
            name: self.name.clone(),
            dir: self.dir.clone(),
            cause: text.strip_prefix(&prefix).unwrap_or(&text).to_string(),
            file,
        })
    }

    /// The state, with a run recorded as running that no process holds read as interrupted.
    pub fn state(&self) -> RunState {
        match &self.record.state {
            RunState::Running if !self.live => RunState::Interrupted,
            s => s.clone(),
        }
    }

    /// Fails unless the run is of `kind`.
    pub fn expect_kind(self, kind: RunKind) -> Result<Self, RunError> {
        if self.record.kind == kind {
            Ok(self)
        } else {
            Err(RunError::WrongKind {
                dir: self.dir,
                found: self.record.kind,
                wanted: kind,
            })
        }
    }

    /// The run's result file, parsed.
    pub fn result<T: DeserializeOwned>(&self) -> Result<T, RunError> {
        read_json(&self.dir.join(RESULT))
    }

    /// A one-line description: `name (kind, data, state)`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} ({}", self.name, self.record.kind);
        if let Some(cnn) = &self.record.cnn {
            text.push_str(&format!(", {} seed {}", cnn.arch, cnn.seed));
        }
        text.push_str(&format!(", {}, {})", self.record.data, self.state()));
        text
    }
}

/// A run this process writes: its directory, held locked, and its record.
#[derive(Debug)]
pub struct Run {
    info: RunInfo,
    _lock: RunLock,
}

impl Run {
    /// The run's directory.
    pub fn dir(&self) -> &Path {
        &self.info.dir
    }

    /// The run's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The record as last written.
    pub fn record(&self) -> &RunRecord {
        &self.info.record
    }

    /// Changes the record and writes it.
    pub fn update(&mut self, change: impl FnOnce(&mut RunRecord)) -> Result<(), RunError> {
        change(&mut self.info.record);
        write_json(&self.info.dir.join(RECORD), &self.info.record)
    }

    /// Records how the run ended.
    pub fn end(&mut self, state: RunState) -> Result<(), RunError> {
        self.update(|r| r.state = state)
    }

    /// Writes the job's result.
    pub fn write_result<T: Serialize>(&self, result: &T) -> Result<PathBuf, RunError> {
        let path = self.info.dir.join(RESULT);
        write_json(&path, result)?;
        Ok(path)
    }

    /// Writes another file of the run (saved probabilities, say), atomically.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, RunError> {
        let path = self.info.dir.join(name);
        write_atomic(&path, bytes).map_err(io_error(&path))?;
        Ok(path)
    }

    /// Opens the run's event log.
    pub fn event_log(&self) -> Result<EventLog, RunError> {
        EventLog::open(&self.info.dir).map_err(io_error(&self.info.dir.join(super::EVENTS)))
    }

    /// The run as others see it.
    pub fn info(&self) -> &RunInfo {
        &self.info
    }
}

/// Seconds since the Unix epoch (the clock of run ages).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The runs directory and everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStore {
    root: PathBuf,
}

impl RunStore {
    /// The store under `root` (created when the first run is).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The runs directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn record(kind: RunKind, data: DataIdentity, model: Option<ModelRef>) -> RunRecord {
        RunRecord {
            kind,
            created: now(),
            classgen: env!("CARGO_PKG_VERSION").to_string(),
            data,
            model,
            cnn: None,
            state: RunState::Running,
        }
    }

    fn start(&self, dir: PathBuf, record: RunRecord) -> Result<Run, RunError> {
        let lock = RunLock::acquire(&dir)?;
        let mut run = Run {
            info: RunInfo {
                name: dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into()),
                dir,
                record,
                live: true,
            },
            _lock: lock,
        };
        run.update(|_| {})?;
        Ok(run)
    }

    /// A new run directory `<timestamp>-<kind>` with its record (state running), locked.
    pub fn create(
        &self,
        kind: RunKind,
        data: DataIdentity,
        model: Option<ModelRef>,
    ) -> Result<Run, RunError> {
        self.check_root()?;
        let dir = crate::fsutil::new_run_dir(&self.root, kind.name()).map_err(|source| {
            RunError::Create {
                root: self.root.clone(),
                source,
            }
        })?;
        let started = self.start(dir.clone(), Self::record(kind, data, model));
        if started.is_err() {
            // Nothing of the new run is worth keeping (a `lock` alone would look like a run).
            let _ = std::fs::remove_dir_all(&dir);
        }
        started
    }

    /// The run directory `<kind>-<key>`: made if new, else taken over (locked, state running)
    /// so a study with the same settings resumes where it stopped.
    pub fn create_keyed(
        &self,
        kind: RunKind,
        key: &str,
        data: DataIdentity,
        model: Option<ModelRef>,
    ) -> Result<Run, RunError> {
        self.check_root()?;
        let dir = self.root.join(format!("{}-{key}", kind.name()));
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let record = match RunInfo::read(&dir) {
            Ok(info) => RunRecord {
                state: RunState::Running,
                model,
                ..info.expect_kind(kind)?.record
            },
            Err(RunError::NotARun(_)) => Self::record(kind, data, model),
            Err(e) => return Err(e),
        };
        self.start(dir, record)
    }

    /// Takes over an existing run to continue it (a resumed training): locked, state running.
    pub fn reopen(&self, info: &RunInfo) -> Result<Run, RunError> {
        let record = RunRecord {
            state: RunState::Running,
            ..info.record.clone()
        };
        self.start(info.dir.clone(), record)
    }

    /// The run `name` means: a path to a run directory, or a run's name under the store.
    pub fn find(&self, name: &str) -> Result<RunInfo, RunError> {
        let as_path = Path::new(name);
        let under_root = self.root.join(name);
        if as_path.is_dir() {
            RunInfo::read(as_path)
        } else if under_root.is_dir() {
            RunInfo::read(&under_root)
        } else {
            Err(RunError::NoSuchRun {
                name: name.to_string(),
                root: self.root.clone(),
            })
        }
    }

    /// Fails unless the runs directory is a directory or does not exist yet (then it is made
    /// when the first run is): a regular file or a symlink loop named `paths.runs` is an error.
    pub fn check_root(&self) -> Result<(), RunError> {
        let bad = |what: &str| RunError::BadRoot {
            root: self.root.clone(),
            what: what.to_string(),
        };
        match std::fs::metadata(&self.root) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(meta) => Err(bad(&format!("is {}", userfile::describe(meta.file_type())))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::symlink_metadata(&self.root) {
                    Ok(_) => Err(bad("is a symbolic link to nothing")),
                    Err(_) => Ok(()),
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(bad("is a symbolic link loop")),
            Err(e) => Err(bad(&format!("cannot be read ({e})"))),
        }
    }

    /// Every run, newest first, and the damaged ones (by name): a `run.json` that cannot be read,
    /// or a training run no process writes whose checkpoint cannot be read (or that says it
    /// finished without one). Directories without a `run.json` are not runs and are skipped.
    /// Fails when the runs directory is not a directory.
    pub fn scan(&self) -> Result<Listing, RunError> {
        self.check_root()?;
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Listing::default()),
            Err(source) => {
                return Err(RunError::Io {
                    path: self.root.clone(),
                    source,
                })
            }
        };
        let mut listing = Listing::default();
        for dir in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if !dir.is_dir() {
                continue;
            }
            match RunInfo::read(&dir) {
                Ok(info) => match info.damaged_checkpoint() {
                    Some(damaged) => listing.damaged.push(damaged),
                    None => listing.runs.push(info),
                },
                Err(RunError::NotARun(_)) => {}
                Err(e) => listing.damaged.push(DamagedRun::new(&dir, &e)),
            }
        }
        listing
            .runs
            .sort_by(|a, b| (b.record.created, &b.name).cmp(&(a.record.created, &a.name)));
        listing.damaged.sort_by(|a, b| b.name.cmp(&a.name));
        Ok(listing)
    }

    /// Every run, newest first (damaged ones and an unreadable runs directory left out: see
    /// [`RunStore::scan`]).
    pub fn list(&self) -> Vec<RunInfo> {
        self.scan().map(|l| l.runs).unwrap_or_default()
    }

    /// The newest run of `kind` that `keep` accepts.
    pub fn newest(&self, kind: RunKind, keep: impl Fn(&RunInfo) -> bool) -> Option<RunInfo> {
        self.list()
            .into_iter()
            .find(|r| r.record.kind == kind && keep(r))
    }

    /// The newest finished training run on the same data as `data`; the damaged runs passed
    /// over (see [`RunStore::scan`]) are named in [`CnnChoice::skipped`]. The error lists the
    /// training runs there are, and the damaged ones.
    pub fn newest_finished_cnn(&self, data: &DataIdentity) -> Result<CnnChoice, RunError> {
        let listing = self.scan()?;
        let skipped: Vec<String> = listing.damaged.iter().map(DamagedRun::describe).collect();
        let trains: Vec<&RunInfo> = listing
            .runs
            .iter()
            .filter(|r| r.record.kind == RunKind::Train)
            .collect();
        if let Some(run) = trains
            .iter()
            .find(|r| r.state() == RunState::Finished && r.record.data.same_data(data))
        {
            return Ok(CnnChoice {
                run: (**run).clone(),
                skipped,
            });
        }
        let mut found = match (trains.len(), skipped.len()) {
            (0, 0) => "there is no training run".to_string(),
            (0, _) => "there is no readable training run".to_string(),
            _ => format!(
                "training runs there: {}",
                trains
                    .iter()
                    .take(5)
                    .map(|r| r.describe())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        if !skipped.is_empty() {
            found.push_str(&format!("; damaged runs there: {}", skipped.join("; ")));
        }
        Err(RunError::NoMatchingCnn {
            data: data.clone(),
            root: self.root.clone(),
            found,
        })
    }
}

/// The default CNN: the run chosen, and the damaged runs passed over (each named with its
/// file and cause), for a notice.
#[derive(Debug, Clone)]
pub struct CnnChoice {
    pub run: RunInfo,
    pub skipped: Vec<String>,
}

/// What the runs directory holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// Every readable run, newest first.
    pub runs: Vec<RunInfo>,
    /// Directories whose `run.json` cannot be read, by name (newest first).
    pub damaged: Vec<DamagedRun>,
}

/// A run directory whose `run.json` cannot be read: truncated, empty, not JSON, not a regular
/// file, unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedRun {
    pub name: String,
    pub dir: PathBuf,
    /// The file at fault.
    pub file: PathBuf,
    /// Why it cannot be read.
    pub cause: String,
}

impl DamagedRun {
    fn new(dir: &Path, error: &RunError) -> Self {
        let (file, cause) = match error {
            RunError::Corrupt { path, message } => (path.clone(), message.clone()),
            RunError::Unreadable { path, error } => (path.clone(), error.to_string()),
            RunError::Io { path, source } => (path.clone(), source.to_string()),
            other => (dir.join(RECORD), other.to_string()),
        };
        Self {
            name: dir
                .file_name()
                .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into()),
            dir: dir.to_path_buf(),
            file,
            cause,
        }
    }

    /// `name (FILE: cause)`.
    pub fn describe(&self) -> String {
        format!("{} ({}: {})", self.name, self.file.display(), self.cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetKind;
    use crate::runs::identity::DataSource;

    fn data(dataset: DatasetKind, train: usize) -> DataIdentity {
        DataIdentity {
            dataset,
            source: DataSource::Sample,
            train_images: train,
            test_images: 10,
        }
    }

    /// Numbers read back from a run's files are the numbers written, to the last bit: a
    /// mean of 0.9572499999999999 read as its neighbour 0.9572500000000001 printed 95.73 on
    /// the dashboard where the command that wrote it printed 95.72.
    #[test]
    fn floats_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        let values: Vec<f64> = vec![
            0.9572499999999999,
            0.1 + 0.2,
            1.0 / 3.0,
            5e-324,
            9.977538994382561e3,
        ];
        write_json(&path, &values).unwrap();
        let back: Vec<f64> = read_json(&path).unwrap();
        for (a, b) in values.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} read back as {b}");
        }
    }

    fn train_run(store: &RunStore, data: DataIdentity, state: RunState, order: u8) -> String {
        let mut run = store.create(RunKind::Train, data.clone(), None).unwrap();
        run.update(|r| {
            r.cnn = Some(CnnSummary {
                arch: "seed".into(),
                params: 1,
                seed: 1,
                epochs: 1,
                epochs_planned: 1,
                test_accuracy: Some(0.9),
            })
        })
        .unwrap();
        run.end(state).unwrap();
        // A checkpoint's metadata, so the run can be chosen as a model.
        let meta = crate::runs::checkpoint::CheckpointMeta {
            generation: 1,
            ..crate::runs::checkpoint::CheckpointMeta::fresh(
                &crate::model::ArchSpec::seed(),
                data,
                &crate::config::TrainConfig::default(),
            )
        };
        write_json(&run.dir().join(crate::runs::checkpoint::CHECKPOINT), &meta).unwrap();
        // Names are per second: make each distinct, later ones newer.
        let name = format!("{order}-{}", run.name());
        std::fs::rename(run.dir(), store.root().join(&name)).unwrap();
        name
    }

    #[test]
    fn finds_runs_by_kind_data_and_state() {
        let root = tempfile::tempdir().unwrap();
        let store = RunStore::new(root.path());
        let mnist = data(DatasetKind::Mnist, 80);
        let finished = train_run(&store, mnist.clone(), RunState::Finished, 1);
        let stopped = RunState::Stopped {
            at: Some(Position { epoch: 0, batch: 3 }),
        };
        train_run(&store, mnist.clone(), stopped, 2);
        train_run(
            &store,
            data(DatasetKind::Fashion, 80),
            RunState::Finished,
            3,
        );
        train_run(&store, data(DatasetKind::Mnist, 8), RunState::Finished, 4);
        let found = store.newest_finished_cnn(&mnist).unwrap().run;
        assert_eq!(
            found.name, finished,
            "stopped, fashion and other sizes are skipped"
        );
        assert_eq!(store.find(&finished).unwrap().dir, found.dir);
        let err = store
            .newest_finished_cnn(&data(DatasetKind::Fashion, 1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no finished CNN run on fashion"), "{err}");
        assert!(err.contains("stopped at epoch 1 batch 3"), "{err}");
        assert!(store.newest(RunKind::Baselines, |_| true).is_none());
    }

    #[test]
    fn a_run_left_running_by_a_dead_process_reads_as_interrupted() {
        let root = tempfile::tempdir().unwrap();
        let store = RunStore::new(root.path());
        let run = store
            .create(RunKind::Robustness, data(DatasetKind::Mnist, 8), None)
            .unwrap();
        let dir = run.dir().to_path_buf();
        assert_eq!(
            store.find(&dir.display().to_string()).unwrap().state(),
            RunState::Running
        );
        drop(run);
        assert_eq!(RunInfo::read(&dir).unwrap().state(), RunState::Interrupted);
        let err = RunInfo::read(root.path()).unwrap_err();
        assert!(matches!(err, RunError::NotARun(_)), "{err}");
    }

    #[test]
    fn a_keyed_run_is_taken_over_and_a_second_writer_refused() {
        let root = tempfile::tempdir().unwrap();
        let store = RunStore::new(root.path());
        let id = data(DatasetKind::Mnist, 8);
        let first = store
            .create_keyed(RunKind::Ablate, "mnist-1", id.clone(), None)
            .unwrap();
        let err = store
            .create_keyed(RunKind::Ablate, "mnist-1", id.clone(), None)
            .unwrap_err();
        assert!(matches!(err, RunError::Locked(_)), "{err}");
        let created = first.record().created;
        drop(first);
        let again = store
            .create_keyed(RunKind::Ablate, "mnist-1", id, None)
            .unwrap();
        assert_eq!(again.record().created, created);
        assert_eq!(again.name(), "ablate-mnist-1");
    }

    #[test]
    fn damaged_runs_are_listed_with_their_file_and_cause_and_never_chosen() {
        let root = tempfile::tempdir().unwrap();
        let store = RunStore::new(root.path());
        let mnist = data(DatasetKind::Mnist, 80);
        let good = train_run(&store, mnist.clone(), RunState::Finished, 1);
        let cases: [(&str, &[u8], &str); 4] = [
            ("2-truncated", b"{\"kind\": \"tra", "EOF while parsing"),
            ("3-empty", b"", "is empty (0 bytes)"),
            ("4-binary", b"\x00\xff\xfe\x01", "expected value"),
            ("5-fifo", b"", "is a FIFO (named pipe), not a regular file"),
        ];
        for (name, bytes, _) in &cases {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            if name.ends_with("fifo") {
                let made = std::process::Command::new("mkfifo")
                    .arg(dir.join(RECORD))
                    .status();
                assert!(made.unwrap().success());
            } else {
                std::fs::write(dir.join(RECORD), bytes).unwrap();
            }
        }
        // A finished run whose checkpoint cannot be read (as old NaN runs left them).
        let broken = train_run(&store, mnist.clone(), RunState::Finished, 6);
        let checkpoint = root
            .path()
            .join(&broken)
            .join(crate::runs::checkpoint::CHECKPOINT);
        std::fs::write(&checkpoint, b"{\"arch\": null}").unwrap();
        let listing = store.scan().unwrap();
        assert_eq!(listing.runs.len(), 1);
        let damaged: Vec<(&str, String)> = listing
            .damaged
            .iter()
            .map(|d| (d.name.as_str(), d.describe()))
            .collect();
        assert_eq!(damaged.len(), 5, "{damaged:?}");
        assert_eq!(damaged[0].0, broken);
        for ((name, _, cause), (listed, text)) in cases.iter().rev().zip(&damaged[1..]) {
            assert_eq!(name, listed);
            let file = root.path().join(name).join(RECORD);
            assert!(
                text.contains(&format!("{}: {cause}", file.display())),
                "{text}"
            );
        }
        let choice = store.newest_finished_cnn(&mnist).unwrap();
        assert_eq!(choice.run.name, good);
        assert_eq!(choice.skipped.len(), 5, "{:?}", choice.skipped);
        assert!(
            choice
                .skipped
                .iter()
                .any(|s| s.starts_with(&broken) && s.contains(&checkpoint.display().to_string())),
            "{:?}",
            choice.skipped
        );
    }

    #[test]
    fn a_runs_directory_that_is_a_file_or_a_loop_is_named_with_its_key() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("runs");
        std::fs::write(&file, b"").unwrap();
        let looped = root.path().join("loop");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        for (path, what) in [
            (&file, "is a regular file"),
            (&looped, "is a symbolic link loop"),
        ] {
            let store = RunStore::new(path);
            let expected = format!(
                "{}: {what}, not a directory (the runs directory, config key paths.runs)",
                path.display()
            );
            assert_eq!(store.scan().unwrap_err().to_string(), expected);
            let err = store
                .create(RunKind::Train, data(DatasetKind::Mnist, 8), None)
                .unwrap_err();
            assert_eq!(err.to_string(), expected);
        }
        let missing = RunStore::new(root.path().join("not-yet"));
        assert_eq!(missing.scan().unwrap(), Listing::default());
    }

    #[test]
    fn a_run_whose_record_cannot_be_written_leaves_no_directory() {
        let root = tempfile::tempdir().unwrap();
        let store = RunStore::new(root.path());
        let mut id = data(DatasetKind::Mnist, 8);
        id.source = DataSource::Dir {
            path: PathBuf::from(
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"bad\xffname"),
            ),
        };
        assert!(store.create(RunKind::Train, id, None).is_err());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
