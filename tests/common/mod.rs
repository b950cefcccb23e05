//! Shared by the integration tests: a CNN trained briefly on the bundled sample, and training
//! through the job engine.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use classgen::config::{Schedule, TrainConfig};
use classgen::data::source::load_sample;
use classgen::data::Dataset;
use classgen::jobs::train::{self as job, TrainPlan, TrainResult};
use classgen::runs::RunStore;

/// A trained model's run directory (alive as long as `_runs`) and the data it saw.
pub struct TrainedSample {
    pub _runs: tempfile::TempDir,
    pub run_dir: PathBuf,
    pub data: Dataset,
}

/// The study's plain recipe (constant rate, no augmentation) for `epochs` with `seed`.
pub fn plain(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        seed,
        schedule: Schedule::Constant,
        augment_shift: 0,
        ..TrainConfig::default()
    }
}

/// Trains a new run of `recipe` on `data` under `store` to its end.
pub fn train(store: &RunStore, recipe: &TrainConfig, data: &Arc<Dataset>) -> TrainResult {
    let plan = TrainPlan::New {
        recipe: recipe.clone(),
        custom_archs: Vec::new(),
    };
    let job = job::spawn(plan, data.clone(), store, Arc::new(AtomicBool::new(false))).unwrap();
    job.events().iter().for_each(drop);
    job.join().unwrap()
}

/// The first `train` / `test` images of the bundled sample.
pub fn sample_head(train: usize, test: usize) -> Dataset {
    let full = load_sample().unwrap();
    Dataset {
        train: full.train.head(train),
        test: full.test.head(test),
        ..full
    }
}

/// Trains the seed CNN for one epoch (seed 3) on the first `train` / `test` sample images with
/// the study's plain recipe, which gives a confident model fastest.
pub fn train_on_sample(train: usize, test: usize) -> TrainedSample {
    let data = sample_head(train, test);
    let runs = tempfile::tempdir().unwrap();
    let result = self::train(
        &RunStore::new(runs.path()),
        &plain(1, 3),
        &Arc::new(data.clone()),
    );
    TrainedSample {
        _runs: runs,
        run_dir: result.run.dir,
        data,
    }
}
