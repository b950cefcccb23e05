//! The training recipe: what `[train]` in config.toml and `classgen train`'s flags set.

use serde::{Deserialize, Serialize};

/// Learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Cosine decay from the rate to 0 over the whole run.
    Cosine,
}

/// `[train]`: the training recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub arch: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub schedule: Schedule,
    pub augment_shift: usize,
    pub seed: u64,
    pub device: String,
    pub threads: usize,
    pub eval_batch: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            arch: "seed".into(),
            epochs: 5,
            batch_size: 128,
            learning_rate: 1e-3,
            schedule: Schedule::Cosine,
            augment_shift: 2,
            seed: 42,
            device: "cpu".into(),
            threads: 0,
            eval_batch: 1000,
        }
    }
}
