//! The training job: a new run directory (or a resumed one, locked), training on the job's
//! thread, a checkpoint generation after every epoch and on cancel, the run's record kept
//! current, every event in `events.jsonl`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::{Job, JobEvent, Reporter};
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::model::adam::Adam;
use crate::model::train::{check_data, train, Outcome, TrainEvent, TrainProgress, TrainRun};
use crate::model::{ArchSpec, Network};
use crate::runs::checkpoint::{self, CheckpointMeta};
use crate::runs::{CnnSummary, DataIdentity, Run, RunInfo, RunKind, RunState, RunStore};

impl JobEvent for TrainEvent {
    fn notice(message: String) -> Self {
        TrainEvent::Notice { message }
    }

    fn progress(&self) -> Option<(usize, usize)> {
        match self {
            TrainEvent::Batch { batch, batches, .. } => Some((*batch, *batches)),
            _ => None,
        }
    }
}

/// What to train.
#[derive(Debug)]
pub enum TrainPlan {
    /// A new run of `recipe` (its `arch` looked up among the built-ins and `custom_archs`).
    New {
        recipe: TrainConfig,
        custom_archs: Vec<ArchSpec>,
    },
    /// Continue `run` with its own recipe; `epochs` changes the total to reach (recorded),
    /// `device` where it runs.
    Resume {
        run: Box<RunInfo>,
        epochs: Option<usize>,
        device: Option<String>,
    },
}

/// How a training job ended.
#[derive(Debug)]
pub struct TrainResult {
    pub outcome: Outcome,
    pub meta: CheckpointMeta,
    pub run: RunInfo,
}

/// The record's view of a checkpoint.
fn summary(meta: &CheckpointMeta) -> CnnSummary {
    CnnSummary {
        arch: meta.arch.name.clone(),
        params: meta.params,
        seed: meta.recipe.seed,
        epochs: meta.progress.position.epoch,
        epochs_planned: meta.recipe.epochs,
        test_accuracy: meta.progress.history.last().map(|m| m.test_accuracy),
    }
}

/// Checks that a resumed run's data is the data it was trained on.
pub fn check_same_data(run: &RunInfo, data: &DataIdentity) -> anyhow::Result<()> {
    let recorded = &run.record.data;
    if !recorded.same_data(data) {
        anyhow::bail!(
            "{}: the run was trained on {recorded}; the data given is {data}: resume it on the same data (or start a new run)",
            run.name
        );
    }
    Ok(())
}

/// Starts training on `data` (already loaded: for a resume, the run's own data).
pub fn spawn(
    plan: TrainPlan,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<TrainEvent, TrainResult>> {
    check_data(&data).map_err(anyhow::Error::msg)?;
    let identity = DataIdentity::of(&data);
    let mut notices = Vec::new();
    let (mut run, net, adam, meta) = match plan {
        TrainPlan::Resume {
            run,
            epochs,
            device,
        } => {
            let run = run.expect_kind(RunKind::Train)?;
            check_same_data(&run, &identity)?;
            let stored = checkpoint::read_meta(&run.dir)?;
            let device_name = device.unwrap_or(stored.recipe.device);
            let device = crate::device::open(&device_name)?;
            let (net, adam, mut meta) = checkpoint::load_for_resume(&run.dir, &device)?;
            meta.recipe.device = device_name;
            notices.extend(checkpoint::stray_generations(&run.dir, &meta));
            if let Some(epochs) = epochs.filter(|&e| e != meta.recipe.epochs) {
                if epochs < meta.progress.position.epoch {
                    anyhow::bail!(
                        "--epochs {epochs}: the run has already trained {} epochs",
                        meta.progress.position.epoch
                    );
                }
                notices.push(format!(
                    "recipe changed on resume: epochs {} -> {epochs}",
                    meta.recipe.epochs
                ));
                meta.recipe.epochs = epochs;
            }
            let run = store.reopen(&run)?;
            (run, net, adam, meta)
        }
        TrainPlan::New {
            recipe,
            custom_archs,
        } => {
            let arch =
                ArchSpec::by_name(&recipe.arch, &custom_archs).map_err(anyhow::Error::msg)?;
            let device = crate::device::open(&recipe.device)?;
            let net = Network::new(&arch, recipe.seed, &device)?;
            let adam = Adam::new(net.vars().cloned().collect())?;
            let meta = CheckpointMeta::fresh(&arch, identity.clone(), &recipe);
            let run = store.create(RunKind::Train, identity, None)?;
            (run, net, adam, meta)
        }
    };
    run.update(|r| r.cnn = Some(summary(&meta)))?;
    let log = run.event_log()?;
    let info = run.info().clone();
    Ok(
        Job::spawn("train", Some(log), cancel, move |reporter, cancel| {
            for message in notices {
                reporter.notice(message);
            }
            let ended = run_training(&mut run, net, adam, meta, &data, reporter, cancel);
            let state = super::ended_state(&ended, |(outcome, _)| match outcome {
                Outcome::Finished => RunState::Finished,
                Outcome::Cancelled(at) => RunState::Stopped { at: Some(*at) },
            });
            let recorded = run.end(state);
            let (outcome, meta) = ended?;
            recorded?;
            Ok(TrainResult {
                outcome,
                meta,
                run: run.info().clone(),
            })
        })?
        .in_run(info),
    )
}

/// Trains, saving each checkpoint generation and the record after it.
fn run_training(
    run: &mut Run,
    net: Network,
    mut adam: Adam,
    mut meta: CheckpointMeta,
    data: &Dataset,
    reporter: &Reporter<TrainEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<(Outcome, CheckpointMeta)> {
    let recipe = meta.recipe.clone();
    let mut progress = meta.progress.clone();
    let emit = |e| reporter.emit(e);
    let training = TrainRun {
        config: &recipe,
        data,
        events: &emit,
        cancel,
    };
    let dir = run.dir().to_path_buf();
    let mut save = |net: &Network, adam: &Adam, progress: &TrainProgress| {
        meta.progress = progress.clone();
        let path = checkpoint::save(&dir, net, adam, &mut meta)?;
        let cnn = summary(&meta);
        run.update(|r| r.cnn = Some(cnn))?;
        Ok(Some(path))
    };
    let outcome = train(&training, &net, &mut adam, &mut progress, &mut save)?;
    meta.progress = progress;
    Ok((outcome, meta))
}
