//! The CNN a job uses: a training run named by the user (`--run`, a path or a bare name), or
//! the newest finished one whose data is the data in use. A model is never used on another
//! data set.

use std::sync::Arc;

use candle_core::Device;

use crate::model::Network;
use crate::runs::checkpoint::{self, CheckpointMeta};
use crate::runs::{DataIdentity, ModelRef, RunInfo, RunKind};

/// A trained CNN, loaded, with the run it comes from.
#[derive(Clone)]
pub struct CnnModel {
    pub run: RunInfo,
    pub meta: CheckpointMeta,
    pub network: Arc<Network>,
}

impl std::fmt::Debug for CnnModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CnnModel({})", self.run.name)
    }
}

impl CnnModel {
    /// Loads the network of training run `run` onto `device`.
    pub fn load(run: RunInfo, device: &Device) -> anyhow::Result<Self> {
        let run = run.expect_kind(RunKind::Train)?;
        let (network, meta) = checkpoint::load_network(&run.dir, device)?;
        Ok(Self {
            run,
            meta,
            network: Arc::new(network),
        })
    }

    /// The record other runs keep of this model.
    pub fn model_ref(&self) -> ModelRef {
        let history = &self.meta.progress.history;
        ModelRef {
            run: self.run.name.clone(),
            dir: self.run.dir.clone(),
            arch: self.meta.arch.name.clone(),
            seed: self.meta.recipe.seed,
            epochs: self.meta.progress.position.epoch,
            test_accuracy: history.last().map(|m| m.test_accuracy),
        }
    }

    /// A short tag for file names: `cnn-<run name>`.
    pub fn tag(&self) -> String {
        format!("cnn-{}", self.run.name)
    }

    /// One line for the user: `NAME (arch, seed S, E epochs, test accuracy A %, state)`.
    pub fn describe(&self) -> String {
        let accuracy = self
            .meta
            .progress
            .history
            .last()
            .map_or("no epoch yet".to_string(), |m| {
                format!("test accuracy {:.2} %", 100.0 * m.test_accuracy)
            });
        format!(
            "{} ({}, seed {}, {} epochs, {accuracy}, {}, trained on {})",
            self.run.dir.display(),
            self.meta.arch.name,
            self.meta.recipe.seed,
            self.meta.progress.position.epoch,
            self.run.state(),
            self.run.record.data
        )
    }

    /// Fails if the model was trained on another data set than `data`; a notice if on other
    /// sizes of the same set (the bundled sample against full MNIST, say).
    pub fn check_data(&self, data: &DataIdentity) -> anyhow::Result<Option<String>> {
        let trained = &self.run.record.data;
        if trained.dataset != data.dataset {
            anyhow::bail!(
                "{}: this CNN was trained on {}, the data in use is {}: a model is not used on another data set (pick a run of {} with --run, or use its data flags)",
                self.run.name,
                trained.dataset,
                data.dataset,
                data.dataset
            );
        }
        Ok((!trained.same_data(data)).then(|| {
            format!(
                "note: {} was trained on {trained}; the data in use is {data}",
                self.run.name
            )
        }))
    }
}
