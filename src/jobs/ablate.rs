//! The ablation job: trains every variant x seed not already done, saving each result as soon
//! as it finishes, so a cancelled or killed study resumes without retraining anything. A study's
//! run directory is keyed by its data and recipe: the same study always lands in the same one.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Job, JobEvent, Reporter};
use crate::ablation::{RunResult, VariantRow};
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::device;
use crate::model::adam::Adam;
use crate::model::train::{check_data, train, Outcome, TrainEvent, TrainProgress, TrainRun};
use crate::model::{ArchSpec, Network};
use crate::runs::{read_json, DataIdentity, Run, RunKind, RunState, RunStore};

/// What the ablation job reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AblationEvent {
    /// The plan: every variant x seed, and how many are already done.
    Planned {
        dir: PathBuf,
        runs: usize,
        done: usize,
    },
    /// A result found on disk (not retrained).
    Reused(RunResult),
    /// A run begins.
    RunStarted {
        variant: String,
        seed: u64,
    },
    /// Progress of the run in flight.
    Train {
        variant: String,
        seed: u64,
        progress: TrainEvent,
    },
    /// A run finished and was saved.
    RunFinished(RunResult),
    /// Stopped on request; finished runs are kept.
    Cancelled,
    Notice {
        message: String,
    },
}

impl JobEvent for AblationEvent {
    fn notice(message: String) -> Self {
        Self::Notice { message }
    }

    fn progress(&self) -> Option<(usize, usize)> {
        match self {
            Self::Train { progress, .. } => progress.progress(),
            _ => None,
        }
    }
}

/// The study to run.
#[derive(Debug, Clone)]
pub struct AblationPlan {
    pub variants: Vec<ArchSpec>,
    pub seeds: Vec<u64>,
    /// The recipe for every run (its `arch` and `seed` are replaced per run).
    pub train: TrainConfig,
}

/// The study's table, as its `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationResult {
    pub data: DataIdentity,
    pub recipe: TrainConfig,
    pub seeds: Vec<u64>,
    /// One row per variant with results, in plan order.
    pub rows: Vec<VariantRow>,
    /// Every finished variant x seed run.
    pub runs: Vec<RunResult>,
}

/// FNV-1a, for a short stable key of the settings.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The key of a study: the same data and recipe always give the same key, so running the same
/// study again reuses what is done.
pub fn study_key(data: &DataIdentity, recipe: &TrainConfig) -> String {
    let mut recipe = recipe.clone();
    recipe.seed = 0;
    recipe.arch.clear();
    recipe.threads = 0;
    recipe.device.clear();
    let key = format!(
        "{}|{}|{}|{}|{}",
        data.dataset,
        data.source,
        data.train_images,
        data.test_images,
        serde_json::to_string(&recipe).unwrap_or_default()
    );
    format!("{}-{:08x}", data.dataset, fnv1a(key.as_bytes()) as u32)
}

/// File of one finished variant x seed run inside a study.
fn result_file(variant: &str, seed: u64) -> String {
    format!("{variant}-seed{seed}.json")
}

/// Starts the study on `data` in its run directory under `store`.
pub fn spawn(
    plan: AblationPlan,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<AblationEvent, AblationResult>> {
    check_data(&data).map_err(anyhow::Error::msg)?;
    let identity = DataIdentity::of(&data);
    let mut run = store
        .create_keyed(
            RunKind::Ablate,
            &study_key(&identity, &plan.train),
            identity,
            None,
        )
        .with_context(|| format!("creating the study under {}", store.root().display()))?;
    let log = run.event_log()?;
    let info = run.info().clone();
    Ok(
        Job::spawn("ablate", Some(log), cancel, move |reporter, cancel| {
            let ended = run_study(&plan, &data, &run, reporter, cancel);
            let state = super::ended_state(&ended, |(_, complete)| {
                if *complete {
                    RunState::Finished
                } else {
                    RunState::Stopped { at: None }
                }
            });
            let recorded = run.end(state);
            let (result, _) = ended?;
            recorded?;
            Ok(result)
        })?
        .in_run(info),
    )
}

/// The table of `results` as the study's result.
fn table(plan: &AblationPlan, data: &Dataset, results: &[RunResult]) -> AblationResult {
    let order: Vec<String> = plan.variants.iter().map(|v| v.name.clone()).collect();
    AblationResult {
        data: DataIdentity::of(data),
        recipe: plan.train.clone(),
        seeds: plan.seeds.clone(),
        rows: crate::ablation::table(results, &order, "seed"),
        runs: results.to_vec(),
    }
}

/// Runs the study; returns the table of every result of the plan that exists, and whether the
/// plan is complete.
fn run_study(
    plan: &AblationPlan,
    data: &Dataset,
    run: &Run,
    reporter: &Reporter<AblationEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<(AblationResult, bool)> {
    let dir = run.dir();
    let total = plan.variants.len() * plan.seeds.len();
    let saved =
        |v: &ArchSpec, s: u64| read_json::<RunResult>(&dir.join(result_file(&v.name, s))).ok();
    let done = plan
        .variants
        .iter()
        .flat_map(|v| plan.seeds.iter().map(move |&s| (v, s)))
        .filter(|(v, s)| saved(v, *s).is_some())
        .count();
    reporter.emit(AblationEvent::Planned {
        dir: dir.to_path_buf(),
        runs: total,
        done,
    });
    let device = device::open(&plan.train.device)?;
    let mut results = Vec::new();
    for arch in &plan.variants {
        for &seed in &plan.seeds {
            if let Some(r) = saved(arch, seed) {
                reporter.emit(AblationEvent::Reused(r.clone()));
                results.push(r);
                continue;
            }
            reporter.emit(AblationEvent::RunStarted {
                variant: arch.name.clone(),
                seed,
            });
            let Some(result) = train_one(plan, arch, seed, data, &device, reporter, cancel)? else {
                reporter.emit(AblationEvent::Cancelled);
                let result = table(plan, data, &results);
                run.write_result(&result)?;
                return Ok((result, false));
            };
            run.write_file(
                &result_file(&arch.name, seed),
                &serde_json::to_vec_pretty(&result)?,
            )?;
            reporter.emit(AblationEvent::RunFinished(result.clone()));
            results.push(result);
            run.write_result(&table(plan, data, &results))?;
        }
    }
    let result = table(plan, data, &results);
    run.write_result(&result)?;
    Ok((result, true))
}

/// Trains one variant with one seed; `None` if cancelled.
fn train_one(
    plan: &AblationPlan,
    arch: &ArchSpec,
    seed: u64,
    data: &Dataset,
    device: &candle_core::Device,
    reporter: &Reporter<AblationEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<Option<RunResult>> {
    let mut config = plan.train.clone();
    config.seed = seed;
    config.arch = arch.name.clone();
    let net = Network::new(arch, seed, device)?;
    let mut adam = Adam::new(net.vars().cloned().collect())?;
    let mut progress = TrainProgress::default();
    let emit = |event| {
        reporter.emit(AblationEvent::Train {
            variant: arch.name.clone(),
            seed,
            progress: event,
        })
    };
    let run = TrainRun {
        config: &config,
        data,
        events: &emit,
        cancel,
    };
    // A study keeps results, not checkpoints: a killed run is trained again.
    let outcome = train(&run, &net, &mut adam, &mut progress, &mut |_, _, _| {
        Ok(None)
    })?;
    if outcome != Outcome::Finished {
        return Ok(None);
    }
    let started = Instant::now();
    net.predict_proba(&data.test.images, plan.train.eval_batch)?;
    let inference = data.test.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let history = progress.history;
    let last = history.last().map(|m| m.test_accuracy).unwrap_or(0.0);
    let seconds = history.iter().map(|m| m.seconds).sum::<f64>() / history.len().max(1) as f64;
    Ok(Some(RunResult {
        variant: arch.name.clone(),
        seed,
        params: arch.params(),
        test_accuracy: last,
        seconds_per_epoch: seconds,
        inference_images_per_second: inference,
        history,
    }))
}
