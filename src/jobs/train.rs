//! The training job: sets up (or resumes) a run directory, trains on a worker thread, streams
//! [`TrainEvent`]s and writes them to `events.jsonl` beside the checkpoint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;

use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::model::adam::Adam;
use crate::model::checkpoint::{self, CheckpointMeta};
use crate::model::train::{train, Outcome, TrainEvent, TrainRun};
use crate::model::{ArchSpec, Network};

/// File in a run directory that logs every event as one JSON line (batch events thinned by
/// [`BatchThinning`]).
pub const EVENTS: &str = "events.jsonl";

/// Which batch events go to the log: one when 5 % of an epoch has passed since the last one
/// logged, or [`BatchThinning::EVERY`] seconds, so `classgen attach` sees live progress while the
/// file stays small (at most ~20 batch lines per epoch, plus one per interval on slow ones).
#[derive(Debug)]
pub struct BatchThinning {
    last_batch: usize,
    last_at: std::time::Instant,
}

impl BatchThinning {
    /// Longest gap between logged batch events.
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(10);

    fn new() -> Self {
        Self {
            last_batch: 0,
            last_at: std::time::Instant::now(),
        }
    }

    /// Whether to log a batch event at `batch` of `batches`.
    pub fn keep(&mut self, batch: usize, batches: usize) -> bool {
        if batch < self.last_batch {
            // A new epoch.
            self.last_batch = 0;
        }
        let step = (batches / 20).max(1);
        let keep = batch >= self.last_batch + step || self.last_at.elapsed() >= Self::EVERY;
        if keep {
            self.last_batch = batch;
            self.last_at = std::time::Instant::now();
        }
        keep
    }
}

/// A running training job.
pub struct TrainJob {
    pub run_dir: PathBuf,
    pub events: Receiver<TrainEvent>,
    pub cancel: Arc<AtomicBool>,
    handle: JoinHandle<anyhow::Result<(Outcome, CheckpointMeta)>>,
}

impl TrainJob {
    /// Waits for the job and returns how it ended and the final checkpoint metadata.
    pub fn join(self) -> anyhow::Result<(Outcome, CheckpointMeta)> {
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the training thread panicked"))?
    }
}

/// Starts training: a new run under `runs_dir`, or continuing the checkpoint in `resume`.
/// With `cancel` set the job checkpoints and stops between batches.
pub fn spawn(
    config: &TrainConfig,
    data: Arc<Dataset>,
    runs_dir: &Path,
    resume: Option<&Path>,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<TrainJob> {
    spawn_with_archs(config, &[], data, runs_dir, resume, cancel)
}

/// [`spawn`], also knowing `custom_archs` (defined in config.toml) besides the built-in ones.
pub fn spawn_with_archs(
    config: &TrainConfig,
    custom_archs: &[ArchSpec],
    data: Arc<Dataset>,
    runs_dir: &Path,
    resume: Option<&Path>,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<TrainJob> {
    let device = crate::device::open(&config.device)?;
    let (run_dir, net, adam, meta) = match resume {
        Some(dir) => {
            let (net, adam, mut meta) = checkpoint::load_for_resume(dir, &device)?;
            if meta.dataset != data.kind {
                anyhow::bail!(
                    "{}: checkpoint was trained on {}, not {}",
                    dir.display(),
                    meta.dataset,
                    data.kind
                );
            }
            // The stored recipe wins, but a resume may ask for more epochs.
            let epochs = config.epochs.max(meta.config.epochs);
            meta.config.epochs = epochs;
            (dir.to_path_buf(), net, adam, meta)
        }
        None => {
            let arch = ArchSpec::by_name(&config.arch, custom_archs).map_err(anyhow::Error::msg)?;
            let net = Network::new(&arch, config.seed, &device)?;
            let adam = Adam::new(net.vars().cloned().collect())?;
            let run_dir = crate::fsutil::new_run_dir(runs_dir, "train").with_context(|| {
                format!("creating a run directory under {}", runs_dir.display())
            })?;
            let meta = CheckpointMeta::fresh(&arch, &data, config);
            (run_dir, net, adam, meta)
        }
    };
    let (to_ui, events) = channel();
    let dir = run_dir.clone();
    let flag = cancel.clone();
    let handle = std::thread::Builder::new()
        .name("train".into())
        .spawn(move || run_logged(&dir, net, adam, meta, &data, &to_ui, &flag))?;
    Ok(TrainJob {
        run_dir,
        events,
        cancel,
        handle,
    })
}

/// Opens an event log for appending, first cutting a partial last line (left by a process
/// killed mid-write) so every line stays valid JSON.
pub fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    if let Ok(bytes) = std::fs::read(path) {
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            file.set_len(keep as u64)?;
        }
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Trains, appending every event to `events.jsonl` and forwarding it.
fn run_logged(
    dir: &Path,
    net: Network,
    mut adam: Adam,
    mut meta: CheckpointMeta,
    data: &Dataset,
    forward: &std::sync::mpsc::Sender<TrainEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<(Outcome, CheckpointMeta)> {
    let log_path = dir.join(EVENTS);
    let mut log = open_log(&log_path).with_context(|| format!("opening {}", log_path.display()))?;
    let (tx, rx) = channel();
    let config = meta.config.clone();
    let outcome = std::thread::scope(|s| {
        let logger = s.spawn(move || -> std::io::Result<()> {
            let mut thinning = BatchThinning::new();
            for event in rx {
                // Per-batch events are many: log a few per epoch.
                let log_it = match &event {
                    TrainEvent::Batch { batch, batches, .. } => thinning.keep(*batch, *batches),
                    _ => true,
                };
                if log_it {
                    if let Ok(line) = serde_json::to_string(&event) {
                        writeln!(log, "{line}")?;
                    }
                }
                let _ = forward.send(event);
            }
            Ok(())
        });
        let run = TrainRun {
            config: &config,
            data,
            run_dir: Some(dir),
            events: &tx,
            cancel,
        };
        let outcome = train(&run, &net, &mut adam, &mut meta);
        drop(tx);
        let logged = logger
            .join()
            .map_err(|_| anyhow::anyhow!("event logger panicked"))?;
        logged.with_context(|| format!("writing {}", log_path.display()))?;
        outcome
    })?;
    Ok((outcome, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_events_are_thinned_to_about_twenty_per_epoch() {
        let mut thinning = BatchThinning::new();
        let kept: Vec<usize> = (1..=2)
            .flat_map(|_| 1..=100)
            .filter(|&b| thinning.keep(b, 100))
            .collect();
        // No timing assertion: a slow machine may log a few more (every 10 s), never fewer.
        assert!(kept.len() >= 40 && kept.len() <= 45, "{kept:?}");
        assert_eq!(&kept[..3], &[5, 10, 15]);
    }

    #[test]
    fn logged_batches_reach_the_events_file() {
        let data = Arc::new(crate::data::source::load_sample().unwrap());
        let mut small = (*data).clone();
        small.train.images.truncate(256 * crate::data::PIXELS);
        small.train.labels.truncate(256);
        small.test.images.truncate(100 * crate::data::PIXELS);
        small.test.labels.truncate(100);
        let config = TrainConfig {
            arch: "narrow".into(),
            epochs: 1,
            batch_size: 4,
            ..TrainConfig::default()
        };
        let runs = tempfile::tempdir().unwrap();
        let job = spawn(
            &config,
            Arc::new(small),
            runs.path(),
            None,
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        let dir = job.run_dir.clone();
        job.join().unwrap();
        let text = std::fs::read_to_string(dir.join(EVENTS)).unwrap();
        let batches = text
            .lines()
            .filter(|l| l.contains("\"event\":\"batch\""))
            .count();
        // 64 batches: one line per 3 (5 %), plus any the 10 s rule adds on a slow machine.
        assert!(
            (20..64).contains(&batches),
            "{batches} batch lines:\n{text}"
        );
    }
}
