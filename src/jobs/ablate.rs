//! The ablation job: trains every variant x seed not already done, saving each result as soon
//! as it finishes, so a cancelled or killed study resumes without retraining anything.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::ablation::RunResult;
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::device;
use crate::model::adam::Adam;
use crate::model::checkpoint::CheckpointMeta;
use crate::model::train::{train, Outcome, TrainEvent, TrainRun};
use crate::model::{ArchSpec, Network};

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
    RunStarted { variant: String, seed: u64 },
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
}

/// The study to run.
pub struct AblationPlan {
    pub variants: Vec<ArchSpec>,
    pub seeds: Vec<u64>,
    /// The recipe for every run (its `arch` and `seed` are replaced per run).
    pub train: TrainConfig,
}

/// FNV-1a, for a short stable key of the settings.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The directory of a study: the same data and recipe always map to the same directory, so
/// running the same study again reuses what is done.
pub fn study_dir(runs: &Path, data: &Dataset, recipe: &TrainConfig) -> PathBuf {
    let mut recipe = recipe.clone();
    recipe.seed = 0;
    recipe.arch.clear();
    recipe.threads = 0;
    let key = format!(
        "{}|{}|{}|{}|{}",
        data.kind,
        data.origin,
        data.train.len(),
        data.test.len(),
        serde_json::to_string(&recipe).unwrap_or_default()
    );
    runs.join(format!(
        "ablate-{}-{:08x}",
        data.kind,
        fnv1a(key.as_bytes()) as u32
    ))
}

/// The study's table so far, as `result.json` (what the dashboard shows).
pub const RESULT: &str = "result.json";

fn write_table(dir: &Path, plan: &AblationPlan, results: &[RunResult]) -> anyhow::Result<()> {
    let order: Vec<String> = plan.variants.iter().map(|v| v.name.clone()).collect();
    let rows: Vec<serde_json::Value> = crate::ablation::table(results, &order, "seed")
        .iter()
        .map(|r| {
            serde_json::json!({
                "variant": r.variant, "params": r.params, "runs": r.accuracy.n,
                "acc_mean": r.accuracy.mean, "acc_std": r.accuracy.std,
                "s_per_epoch": r.seconds_per_epoch, "infer_per_s": r.inference_images_per_second.round(),
                "delta": r.delta, "p": r.welch.map(|w| w.p), "verdict": r.verdict,
            })
        })
        .collect();
    let json = serde_json::json!({ "study": dir, "variants": rows });
    let path = dir.join(RESULT);
    crate::fsutil::write_atomic(&path, serde_json::to_string_pretty(&json)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn result_path(dir: &Path, variant: &str, seed: u64) -> PathBuf {
    dir.join(format!("{variant}-seed{seed}.json"))
}

/// Reads every saved result in a study directory.
pub fn load_results(dir: &Path) -> Vec<RunResult> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut results: Vec<RunResult> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("-seed"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    results.sort_by(|a, b| (&a.variant, a.seed).cmp(&(&b.variant, b.seed)));
    results
}

/// Runs the study in `dir`, sending events; returns all results of the plan that exist.
pub fn run(
    plan: &AblationPlan,
    data: &Dataset,
    dir: &Path,
    events: &Sender<AblationEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<Vec<RunResult>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let settings = serde_json::json!({
        "dataset": data.kind, "origin": data.origin.to_string(),
        "train_images": data.train.len(), "test_images": data.test.len(), "recipe": plan.train,
    });
    crate::fsutil::write_atomic(
        &dir.join("settings.json"),
        serde_json::to_string_pretty(&settings)?.as_bytes(),
    )
    .with_context(|| format!("writing {}", dir.display()))?;
    let send = |e| {
        let _ = events.send(e);
    };
    let existing = load_results(dir);
    let find = |v: &str, s: u64| {
        existing
            .iter()
            .find(|r| r.variant == v && r.seed == s)
            .cloned()
    };
    let total = plan.variants.len() * plan.seeds.len();
    let done = plan
        .variants
        .iter()
        .flat_map(|v| plan.seeds.iter().map(move |&s| (v, s)))
        .filter(|(v, s)| find(&v.name, *s).is_some())
        .count();
    send(AblationEvent::Planned {
        dir: dir.to_path_buf(),
        runs: total,
        done,
    });
    let device = device::open(&plan.train.device)?;
    let mut results = Vec::new();
    for arch in &plan.variants {
        for &seed in &plan.seeds {
            if let Some(r) = find(&arch.name, seed) {
                send(AblationEvent::Reused(r.clone()));
                results.push(r);
                continue;
            }
            send(AblationEvent::RunStarted {
                variant: arch.name.clone(),
                seed,
            });
            let Some(result) = train_one(plan, arch, seed, data, &device, events, cancel)? else {
                send(AblationEvent::Cancelled);
                return Ok(results);
            };
            let path = result_path(dir, &arch.name, seed);
            crate::fsutil::write_atomic(&path, serde_json::to_string_pretty(&result)?.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            send(AblationEvent::RunFinished(result.clone()));
            results.push(result);
            write_table(dir, plan, &results)?;
        }
    }
    Ok(results)
}

/// Trains one variant with one seed; `None` if cancelled.
fn train_one(
    plan: &AblationPlan,
    arch: &ArchSpec,
    seed: u64,
    data: &Dataset,
    device: &candle_core::Device,
    events: &Sender<AblationEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<Option<RunResult>> {
    let mut config = plan.train.clone();
    config.seed = seed;
    config.arch = arch.name.clone();
    let net = Network::new(arch, seed, device)?;
    let mut adam = Adam::new(net.vars().cloned().collect())?;
    let mut meta = CheckpointMeta::fresh(arch, data, &config);
    let (tx, rx) = channel();
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            for event in rx {
                let _ = events.send(AblationEvent::Train {
                    variant: arch.name.clone(),
                    seed,
                    progress: event,
                });
            }
        });
        let run = TrainRun {
            config: &config,
            data,
            run_dir: None,
            events: &tx,
            cancel,
        };
        let outcome = train(&run, &net, &mut adam, &mut meta);
        drop(tx);
        outcome
    })?;
    if outcome != Outcome::Finished {
        return Ok(None);
    }
    let started = Instant::now();
    net.predict_proba(&data.test.images, plan.train.eval_batch)?;
    let inference = data.test.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let last = meta.history.last().map(|m| m.test_accuracy).unwrap_or(0.0);
    let seconds =
        meta.history.iter().map(|m| m.seconds).sum::<f64>() / meta.history.len().max(1) as f64;
    Ok(Some(RunResult {
        variant: arch.name.clone(),
        seed,
        params: arch.params(),
        test_accuracy: last,
        seconds_per_epoch: seconds,
        inference_images_per_second: inference,
        history: meta.history,
    }))
}

/// A running ablation job.
pub struct AblationJob {
    pub events: std::sync::mpsc::Receiver<AblationEvent>,
    pub cancel: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<anyhow::Result<Vec<RunResult>>>,
}

impl AblationJob {
    /// Waits for the job; returns every result of the plan that exists.
    pub fn join(self) -> anyhow::Result<Vec<RunResult>> {
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the ablation thread panicked"))?
    }
}

/// Starts the study on a worker thread.
pub fn spawn(
    plan: AblationPlan,
    data: Arc<Dataset>,
    dir: PathBuf,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<AblationJob> {
    let (tx, events) = channel();
    let flag = cancel.clone();
    let handle = std::thread::Builder::new()
        .name("ablate".into())
        .spawn(move || run(&plan, &data, &dir, &tx, &flag))?;
    Ok(AblationJob {
        events,
        cancel,
        handle,
    })
}
