//! The study job: the cells of an ablation or a training sweep, each claimed, trained and saved
//! as soon as it finishes, so a cancelled or killed study resumes without retraining anything,
//! and several processes (a Slurm array's tasks) can share one study. A study's run directory is
//! keyed by its data and every cell's definition: the same study always lands in the same one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::study::{study_dir, CellTask, StudyDir, TaskState};
pub use super::study::{study_key, AblationResult, Cell, Study};
use super::{Job, JobEvent, Reporter};
use crate::ablation::RunResult;
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::device;
use crate::model::adam::Adam;
use crate::model::train::{check_data, train, Outcome, TrainEvent, TrainProgress, TrainRun};
use crate::model::{ArchSpec, Network};
use crate::runs::lock::{LockError, RunLock};
use crate::runs::{
    read_json, write_json, DataIdentity, RunInfo, RunKind, RunRecord, RunState, RunStore, RECORD,
};

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

/// An ablation: every variant with every seed, compared with `seed`.
#[derive(Debug, Clone)]
pub struct AblationPlan {
    pub variants: Vec<ArchSpec>,
    pub seeds: Vec<u64>,
    /// The recipe for every run (its `arch` and `seed` are replaced per run).
    pub train: TrainConfig,
    /// Runs trained side by side on the CPU (`ablation.runs_at_once`).
    pub runs_at_once: usize,
}

impl From<AblationPlan> for Study {
    fn from(plan: AblationPlan) -> Self {
        let cells = plan
            .variants
            .iter()
            .flat_map(|arch| {
                plan.seeds.iter().map(|&seed| {
                    let mut recipe = plan.train.clone();
                    recipe.arch = arch.name.clone();
                    recipe.seed = seed;
                    Cell {
                        label: arch.name.clone(),
                        arch: arch.clone(),
                        recipe,
                    }
                })
            })
            .collect();
        Study {
            cells,
            baseline: "seed".into(),
            recipe: plan.train,
            runs_at_once: plan.runs_at_once,
        }
    }
}

/// Starts the whole study on `data` in its run directory under `store`: every cell not done
/// and not claimed by another process, `runs_at_once` side by side. The directory is held
/// for the whole study (a second whole-study process is refused; `--cell` processes share it).
pub fn spawn(
    plan: impl Into<Study>,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<AblationEvent, AblationResult>> {
    let study: Study = plan.into();
    check_data(&data).map_err(anyhow::Error::msg)?;
    let identity = DataIdentity::of(&data);
    let mut run = store
        .create_keyed(
            RunKind::Ablate,
            &study_key(&identity, &study),
            identity,
            None,
        )
        .with_context(|| format!("creating the study under {}", store.root().display()))?;
    let log = run.event_log()?;
    let info = run.info().clone();
    Ok(
        Job::spawn("ablate", Some(log), cancel, move |reporter, cancel| {
            let all: Vec<usize> = (0..study.cells.len()).collect();
            let dir = StudyDir::new(run.dir());
            let ended = run_cells(&study, &data, &dir, &all, reporter, cancel);
            let state = super::ended_state(&ended, |ran| {
                if ran.table.missing.is_empty() {
                    RunState::Finished
                } else {
                    RunState::Stopped { at: None }
                }
            });
            let recorded = run.end(state);
            let ran = ended?;
            recorded?;
            Ok(ran.table)
        })?
        .in_run(info),
    )
}

/// How one `--cell` process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CellEnd {
    /// Trained now and saved.
    Trained(Box<RunResult>),
    /// Finished earlier (by any process): skipped.
    AlreadyDone(Box<RunResult>),
    /// Another process holds the cell's claim (it says who).
    Held(String),
    /// Stopped on request before the end.
    Stopped,
}

/// A `--cell` process's end, and the study's table as it then stood.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRun {
    pub end: CellEnd,
    pub table: AblationResult,
}

/// Opens the study directory of `study` on `data` for a process that runs some of its cells:
/// created if new (with its `run.json`), held shared (refused while a whole-study process holds
/// it), its record marked running unless it is complete.
fn open_shared(
    store: &RunStore,
    identity: &DataIdentity,
    study: &Study,
) -> anyhow::Result<(StudyDir, RunLock)> {
    let dir = study_dir(store.root(), identity, study);
    std::fs::create_dir_all(&dir.dir)
        .with_context(|| format!("creating the study directory {}", dir.dir.display()))?;
    let shared = RunLock::share(&dir.dir)?;
    let path = dir.dir.join(RECORD);
    let record = match read_json::<RunRecord>(&path) {
        Ok(r) if r.kind != RunKind::Ablate => {
            anyhow::bail!("{}: a {} run, not a study", dir.dir.display(), r.kind)
        }
        Ok(r) if r.state == RunState::Finished => r,
        Ok(r) => RunRecord {
            state: RunState::Running,
            ..r
        },
        Err(_) => RunRecord {
            kind: RunKind::Ablate,
            created: crate::runs::now(),
            classgen: env!("CARGO_PKG_VERSION").to_string(),
            data: identity.clone(),
            model: None,
            cnn: None,
            state: RunState::Running,
        },
    };
    write_json(&path, &record)?;
    Ok((dir, shared))
}

/// Runs exactly cell `index` of `study` into its study directory (skipped if finished, left
/// to its holder if another process has claimed it). When the study is then complete, its
/// record is marked finished.
pub fn spawn_cell(
    study: Study,
    index: usize,
    data: Arc<Dataset>,
    store: &RunStore,
    cancel: Arc<AtomicBool>,
) -> anyhow::Result<Job<AblationEvent, CellRun>> {
    if index >= study.cells.len() {
        anyhow::bail!(
            "--cell {index}: the study has {} cells (0 to {})",
            study.cells.len(),
            study.cells.len().saturating_sub(1)
        );
    }
    check_data(&data).map_err(anyhow::Error::msg)?;
    let identity = DataIdentity::of(&data);
    let (dir, shared) = open_shared(store, &identity, &study)?;
    let info = RunInfo::read(&dir.dir)?;
    Ok(
        Job::spawn("ablate-cell", None, cancel, move |reporter, cancel| {
            let _shared = shared;
            let end = match dir.result(index) {
                Some(r) => CellEnd::AlreadyDone(Box::new(r)),
                None => {
                    let ran = run_cells(&study, &data, &dir, &[index], reporter, cancel)?;
                    if let Some((_, holder)) = ran.held.into_iter().next() {
                        CellEnd::Held(holder)
                    } else if let Some(r) = dir.result(index) {
                        if ran.trained.contains(&index) {
                            CellEnd::Trained(Box::new(r))
                        } else {
                            CellEnd::AlreadyDone(Box::new(r))
                        }
                    } else {
                        CellEnd::Stopped
                    }
                }
            };
            let table = dir.write_table(&study, &identity)?;
            if table.missing.is_empty() {
                let path = dir.dir.join(RECORD);
                if let Ok(mut record) = read_json::<RunRecord>(&path) {
                    record.state = RunState::Finished;
                    write_json(&path, &record)?;
                }
            }
            Ok(CellRun { end, table })
        })?
        .in_run(info),
    )
}

/// What a worker tells the study: an event of its run, how the cell at `index` ended, or that
/// another process holds it.
enum FromWorker {
    Event(AblationEvent),
    Ended(usize, anyhow::Result<Claimed>),
    Held(usize, String),
}

/// How a claimed cell ended.
enum Claimed {
    /// Trained and saved.
    Saved(RunResult),
    /// Another process finished it before the claim.
    Reused,
    /// Cancelled or halted.
    Stopped,
}

/// How often the study looks at the cancel flag while no worker reports.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// What [`run_cells`] did.
struct Ran {
    /// Cells trained and saved by this process.
    trained: Vec<usize>,
    /// Cells another process held, with who holds them.
    held: Vec<(usize, String)>,
    /// The table of every finished cell of the study.
    table: AblationResult,
}

/// Trains the cells `selected` of `study` that are not finished, each claimed first (a cell
/// another process holds is left to it). On the CPU, up to `study.runs_at_once` cells train
/// side by side, each on its own pool with its share of the threads; each worker saves its
/// cell's result before releasing the claim, and this thread reports and rewrites the table.
fn run_cells(
    study: &Study,
    data: &Dataset,
    dir: &StudyDir,
    selected: &[usize],
    reporter: &Reporter<AblationEvent>,
    cancel: &AtomicBool,
) -> anyhow::Result<Ran> {
    let identity = DataIdentity::of(data);
    let mut pending = Vec::new();
    let mut done = 0;
    for &i in selected {
        match dir.result(i) {
            Some(r) => {
                done += 1;
                reporter.emit(AblationEvent::Reused(r));
            }
            None => pending.push(i),
        }
    }
    let device_name = study
        .cells
        .first()
        .map_or("cpu", |c| c.recipe.device.as_str());
    let device = device::open(device_name)?;
    let threads = rayon::current_num_threads().max(1);
    let at_once = if device.is_cpu() {
        study.runs_at_once.min(threads).min(pending.len()).max(1)
    } else {
        1
    };
    let threads_per_run = (threads / at_once).max(1);
    reporter.emit(AblationEvent::Planned(StudyPlan {
        dir: dir.dir.clone(),
        runs: selected.len(),
        done,
        at_once,
        threads_per_run,
    }));
    // The workers' cancel flag: set on cancellation or when a run fails.
    let halt = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let mut trained = Vec::new();
    let mut held = Vec::new();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = channel::<FromWorker>();
        let work = Worker {
            study,
            data,
            dir,
            device: &device,
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
                FromWorker::Held(index, holder) => {
                    reporter.notice(format!(
                        "{}: cell {index} is running in another process ({holder}); left to it",
                        study.cells[index].describe()
                    ));
                    held.push((index, holder));
                }
                FromWorker::Ended(_, Ok(Claimed::Reused)) => {}
                FromWorker::Ended(_, Ok(Claimed::Stopped)) => cancelled = true,
                FromWorker::Ended(_, Err(e)) => {
                    halt.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
                FromWorker::Ended(index, Ok(Claimed::Saved(result))) => {
                    reporter.emit(AblationEvent::RunFinished(result));
                    trained.push(index);
                    if let Err(e) = dir.write_table(study, &identity) {
                        halt.store(true, Ordering::Relaxed);
                        failure.get_or_insert(e);
                    }
                }
            }
        }
        if cancelled {
            reporter.emit(AblationEvent::Cancelled);
        }
        failure.map_or(Ok(()), Err)
    })?;
    let table = dir.write_table(study, &identity)?;
    Ok(Ran {
        trained,
        held,
        table,
    })
}

/// What every worker shares: the study, the cells still to do and which one comes next.
#[derive(Clone, Copy)]
struct Worker<'a> {
    study: &'a Study,
    data: &'a Dataset,
    dir: &'a StudyDir,
    device: &'a candle_core::Device,
    /// Indices of the cells to train, taken in order.
    pending: &'a [usize],
    next: &'a AtomicUsize,
    halt: &'a AtomicBool,
    /// How many workers train side by side (recorded in each result).
    at_once: usize,
}

impl<'a> Worker<'a> {
    /// Starts worker `w`: it claims and trains pending cells one after another on its own pool
    /// of `threads` threads until none is left or the study halts.
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
                    // A closed receiver means the study is over; the run stops on `halt`.
                    let ended = match self.dir.claim(index) {
                        Ok(claim) => {
                            let ended = pool.install(|| self.run_claimed(index, &tx));
                            drop(claim);
                            ended
                        }
                        Err(LockError::Held { pid, .. }) => {
                            let holder = self
                                .dir
                                .task(index)
                                .filter(|t| t.pid.to_string() == pid)
                                .map_or_else(|| format!("PID {pid}"), |t| t.describe());
                            let _ = tx.send(FromWorker::Held(index, holder));
                            continue;
                        }
                        Err(e) => Err(e.into()),
                    };
                    let _ = tx.send(FromWorker::Ended(index, ended));
                }
            })
            .context("starting a study worker")?;
        Ok(())
    }

    /// Trains claimed cell `index` (unless another process finished it meanwhile), saving its
    /// result and recording in its task file how it ended.
    fn run_claimed(&self, index: usize, tx: &Sender<FromWorker>) -> anyhow::Result<Claimed> {
        if let Some(r) = self.dir.result(index) {
            let _ = tx.send(FromWorker::Event(AblationEvent::Reused(r)));
            return Ok(Claimed::Reused);
        }
        let cell = &self.study.cells[index];
        let mut task = CellTask::this_process();
        self.dir.save_task(index, &task)?;
        let send = |event| {
            let _ = tx.send(FromWorker::Event(event));
        };
        send(AblationEvent::RunStarted {
            variant: cell.label.clone(),
            seed: cell.recipe.seed,
        });
        let ended = self.train(cell, &send).and_then(|r| match r {
            Some(r) => {
                self.dir.save_result(index, &r)?;
                Ok(Claimed::Saved(r))
            }
            None => Ok(Claimed::Stopped),
        });
        task.state = match &ended {
            Ok(Claimed::Saved(_)) => TaskState::Done,
            Ok(_) => TaskState::Stopped,
            Err(e) => TaskState::Failed {
                message: format!("{e:#}"),
            },
        };
        let recorded = self.dir.save_task(index, &task);
        let ended = ended?;
        recorded?;
        Ok(ended)
    }

    /// Trains one cell on the current pool; `None` if cancelled or halted.
    fn train(
        &self,
        cell: &Cell,
        send: &dyn Fn(AblationEvent),
    ) -> anyhow::Result<Option<RunResult>> {
        let config = &cell.recipe;
        let seed = config.seed;
        let arch = &cell.arch;
        let net = Network::new(arch, seed, self.device)?;
        let mut adam = Adam::new(net.vars().cloned().collect())?;
        let mut progress = TrainProgress::default();
        let emit = |event| {
            send(AblationEvent::Train {
                variant: cell.label.clone(),
                seed,
                progress: event,
            })
        };
        let run = TrainRun {
            config,
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
            variant: cell.label.clone(),
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
