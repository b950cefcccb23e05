//! The ablation job: trains every variant x seed not already done, saving each result as soon
//! as it finishes, so a cancelled or killed study resumes without retraining anything. A study's
//! run directory is keyed by its data and recipe: the same study always lands in the same one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

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
    /// The plan: every variant x seed, how many are already done, and how they train.
    Planned(StudyPlan),
    /// A result found on disk (not retrained).
    Reused(RunResult),
    /// A run begins (with `at_once` above 1, others may be in flight).
    RunStarted {
        variant: String,
        seed: u64,
    },
    /// Progress of a run in flight.
    Train {
        variant: String,
        seed: u64,
        progress: TrainEvent,
    },
    /// A run finished and was saved.
    RunFinished(RunResult),
    /// Stopped on request; finished runs are kept, runs in flight are dropped.
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

/// A study's plan as it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyPlan {
    pub dir: PathBuf,
    /// Variant x seed runs in the plan, and how many are already done.
    pub runs: usize,
    pub done: usize,
    /// Runs trained side by side, and the threads each has.
    pub at_once: usize,
    pub threads_per_run: usize,
}

/// The study to run.
#[derive(Debug, Clone)]
pub struct AblationPlan {
    pub variants: Vec<ArchSpec>,
    pub seeds: Vec<u64>,
    /// The recipe for every run (its `arch` and `seed` are replaced per run).
    pub train: TrainConfig,
    /// Runs trained side by side on the CPU (`ablation.runs_at_once`).
    pub runs_at_once: usize,
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

/// The table of `results` (each with its index in the plan) as the study's result, its runs
/// in plan order.
fn table(plan: &AblationPlan, data: &Dataset, results: &[(usize, RunResult)]) -> AblationResult {
    let order: Vec<String> = plan.variants.iter().map(|v| v.name.clone()).collect();
    let mut sorted: Vec<&(usize, RunResult)> = results.iter().collect();
    sorted.sort_by_key(|(i, _)| *i);
    let runs: Vec<RunResult> = sorted.into_iter().map(|(_, r)| r.clone()).collect();
    AblationResult {
        data: DataIdentity::of(data),
        recipe: plan.train.clone(),
        seeds: plan.seeds.clone(),
        rows: crate::ablation::table(&runs, &order, "seed"),
        runs,
    }
}

/// What a worker tells the study: an event of its run, or how the run at `index` of the plan
/// ended (`None`: cancelled).
enum FromWorker {
    Event(AblationEvent),
    Ended(usize, anyhow::Result<Option<RunResult>>),
}

/// How often the study looks at the cancel flag while no worker reports.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// Runs the study; returns the table of every result of the plan that exists, and whether the
/// plan is complete. On the CPU, up to `plan.runs_at_once` runs train side by side, each on its
/// own pool with its share of the threads; this thread alone reports and writes files.
fn run_study(
    plan: &AblationPlan,
    data: &Dataset,
    run: &Run,
    reporter: &Reporter<AblationEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<(AblationResult, bool)> {
    let dir = run.dir();
    let runs: Vec<(&ArchSpec, u64)> = plan
        .variants
        .iter()
        .flat_map(|v| plan.seeds.iter().map(move |&s| (v, s)))
        .collect();
    let mut results: Vec<(usize, RunResult)> = Vec::new();
    let mut pending = Vec::new();
    for (i, &(arch, seed)) in runs.iter().enumerate() {
        match read_json::<RunResult>(&dir.join(result_file(&arch.name, seed))) {
            Ok(r) => results.push((i, r)),
            Err(_) => pending.push(i),
        }
    }
    let device = device::open(&plan.train.device)?;
    let threads = rayon::current_num_threads().max(1);
    let at_once = if device.is_cpu() {
        plan.runs_at_once.min(threads).min(pending.len()).max(1)
    } else {
        1
    };
    let threads_per_run = (threads / at_once).max(1);
    reporter.emit(AblationEvent::Planned(StudyPlan {
        dir: dir.to_path_buf(),
        runs: runs.len(),
        done: results.len(),
        at_once,
        threads_per_run,
    }));
    for (_, r) in &results {
        reporter.emit(AblationEvent::Reused(r.clone()));
    }
    // The workers' cancel flag: set on cancellation or when a run fails.
    let halt = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let ended = std::thread::scope(|scope| -> anyhow::Result<bool> {
        let (tx, rx) = channel::<FromWorker>();
        let work = Worker {
            plan,
            data,
            device: &device,
            runs: &runs,
            pending: &pending,
            next: &next,
            halt: &halt,
            at_once,
        };
        for w in 0..at_once {
            let started = work.start(scope, w, threads_per_run, tx.clone());
            if let Err(e) = started {
                halt.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        drop(tx);
        let mut failure = None;
        let mut cancelled = false;
        loop {
            if cancel.load(Ordering::Relaxed) {
                halt.store(true, Ordering::Relaxed);
            }
            let message = match rx.recv_timeout(CANCEL_POLL) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match message {
                FromWorker::Event(event) => reporter.emit(event),
                FromWorker::Ended(_, Ok(None)) => cancelled = true,
                FromWorker::Ended(_, Err(e)) => {
                    halt.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
                FromWorker::Ended(index, Ok(Some(result))) => {
                    let saved = save_run(plan, data, run, &mut results, index, result, reporter);
                    if let Err(e) = saved {
                        halt.store(true, Ordering::Relaxed);
                        failure.get_or_insert(e);
                    }
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(!cancelled && results.len() == runs.len()),
        }
    })?;
    if !ended {
        reporter.emit(AblationEvent::Cancelled);
    }
    let result = table(plan, data, &results);
    run.write_result(&result)?;
    Ok((result, ended))
}

/// Saves the run at `index` of the plan and the study's table so far, then reports it.
fn save_run(
    plan: &AblationPlan,
    data: &Dataset,
    run: &Run,
    results: &mut Vec<(usize, RunResult)>,
    index: usize,
    result: RunResult,
    reporter: &Reporter<AblationEvent>,
) -> anyhow::Result<()> {
    run.write_file(
        &result_file(&result.variant, result.seed),
        &serde_json::to_vec_pretty(&result)?,
    )?;
    reporter.emit(AblationEvent::RunFinished(result.clone()));
    results.push((index, result));
    run.write_result(&table(plan, data, results))?;
    Ok(())
}

/// What every worker shares: the plan, the runs still to do and which one comes next.
#[derive(Clone, Copy)]
struct Worker<'a> {
    plan: &'a AblationPlan,
    data: &'a Dataset,
    device: &'a candle_core::Device,
    runs: &'a [(&'a ArchSpec, u64)],
    /// Indices into `runs` of the runs to train, taken in order.
    pending: &'a [usize],
    next: &'a AtomicUsize,
    halt: &'a AtomicBool,
    /// How many workers train side by side (recorded in each result).
    at_once: usize,
}

impl<'a> Worker<'a> {
    /// Starts worker `w`: it trains pending runs one after another on its own pool of
    /// `threads` threads until none is left or the study halts.
    fn start<'scope>(
        self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        w: usize,
        threads: usize,
        tx: Sender<FromWorker>,
    ) -> anyhow::Result<()>
    where
        'a: 'scope,
    {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |t| format!("ablate-{w}.{t}"))
            .build()
            .context("starting a thread pool for the study")?;
        std::thread::Builder::new()
            .name(format!("ablate-{w}"))
            .spawn_scoped(scope, move || {
                while !self.halt.load(Ordering::Relaxed) {
                    let taken = self.next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = self.pending.get(taken) else {
                        break;
                    };
                    let (arch, seed) = self.runs[index];
                    let send = |event| {
                        // A closed receiver means the study is over; the run stops on `halt`.
                        let _ = tx.send(FromWorker::Event(event));
                    };
                    send(AblationEvent::RunStarted {
                        variant: arch.name.clone(),
                        seed,
                    });
                    let ended = pool.install(|| self.train(arch, seed, &send));
                    let _ = tx.send(FromWorker::Ended(index, ended));
                }
            })
            .context("starting a study worker")?;
        Ok(())
    }

    /// Trains one variant with one seed on the current pool; `None` if cancelled or halted.
    fn train(
        &self,
        arch: &ArchSpec,
        seed: u64,
        send: &dyn Fn(AblationEvent),
    ) -> anyhow::Result<Option<RunResult>> {
        let mut config = self.plan.train.clone();
        config.seed = seed;
        config.arch = arch.name.clone();
        let net = Network::new(arch, seed, self.device)?;
        let mut adam = Adam::new(net.vars().cloned().collect())?;
        let mut progress = TrainProgress::default();
        let emit = |event| {
            send(AblationEvent::Train {
                variant: arch.name.clone(),
                seed,
                progress: event,
            })
        };
        let run = TrainRun {
            config: &config,
            data: self.data,
            events: &emit,
            cancel: self.halt,
        };
        // A study keeps results, not checkpoints: a killed run is trained again.
        let outcome = train(&run, &net, &mut adam, &mut progress, &mut |_, _, _| {
            Ok(None)
        })?;
        if outcome != Outcome::Finished {
            return Ok(None);
        }
        let history = progress.history;
        let last = history.last().map(|m| m.test_accuracy).unwrap_or(0.0);
        // The last epoch's evaluation classified the whole test split: its time is the speed.
        let eval_seconds = history.last().map_or(0.0, |m| m.eval_seconds);
        let inference = self.data.test.len() as f64 / eval_seconds.max(1e-9);
        let seconds = history.iter().map(|m| m.seconds).sum::<f64>() / history.len().max(1) as f64;
        Ok(Some(RunResult {
            variant: arch.name.clone(),
            seed,
            params: arch.params(),
            test_accuracy: last,
            seconds_per_epoch: seconds,
            inference_images_per_second: inference,
            history,
            threads: rayon::current_num_threads(),
            runs_at_once: self.at_once,
        }))
    }
}
