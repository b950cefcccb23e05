//! Shared by the integration tests: a CNN trained briefly on the bundled sample.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use classgen::config::{Schedule, TrainConfig};
use classgen::data::source::load_sample;
use classgen::data::Dataset;
use classgen::jobs::train as job;

/// A trained model's run directory (alive as long as `_runs`) and the data it saw.
pub struct TrainedSample {
    pub _runs: tempfile::TempDir,
    pub run_dir: PathBuf,
    pub data: Dataset,
}

/// Trains the seed CNN for one epoch (seed 3) on the first `train` / `test` sample images with
/// the study's plain recipe, which gives a confident model fastest.
pub fn train_on_sample(train: usize, test: usize) -> TrainedSample {
    let full = load_sample().unwrap();
    let data = Dataset {
        train: full.train.head(train),
        test: full.test.head(test),
        ..full
    };
    let runs = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        epochs: 1,
        seed: 3,
        schedule: Schedule::Constant,
        augment_shift: 0,
        ..TrainConfig::default()
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let job = job::spawn(&config, Arc::new(data.clone()), runs.path(), None, cancel).unwrap();
    let run_dir = job.run_dir.clone();
    job.events.iter().for_each(drop);
    job.join().unwrap();
    TrainedSample {
        _runs: runs,
        run_dir,
        data,
    }
}
