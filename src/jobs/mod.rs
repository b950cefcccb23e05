//! The job engine: every long piece of work (train, ablate, baselines, confidence, robustness,
//! the interactive inversion, the inversion grid and sweep, the noise prototypes, explain) runs
//! on its own thread behind one [`Job`] handle: typed events on a channel, a cancel flag, a
//! typed result. Each job also logs its events to its run's `events.jsonl` and saves its result
//! through the run store. The headless commands and the dashboard are two consumers of the same
//! jobs.

pub mod ablate;
pub mod baselines;
pub mod confidence;
pub mod explain;
pub mod explain_layers;
pub mod explain_session;
pub mod invert;
pub mod invert_grid;
pub mod invert_sweep;
pub mod models;
pub mod prototypes;
pub mod robustness;
pub mod study;
pub mod train;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::runs::{DataIdentity, EventLog, ModelRef, Run, RunInfo, RunKind, RunState, RunStore};

/// An event a job reports.
pub trait JobEvent: Serialize + Send + 'static {
    /// A notice for the user, as this job's event.
    fn notice(message: String) -> Self;

    /// For frequent progress events: `(done, total)` of the stretch they belong to, so the log
    /// keeps only a few of them. `None` (the default) logs every event.
    fn progress(&self) -> Option<(usize, usize)> {
        None
    }
}

/// Which progress events reach the log: one when 5 % of a stretch has passed since the last one
/// logged, or every [`Thinning::EVERY`], so the file stays small (about 20 lines per epoch).
#[derive(Debug)]
struct Thinning {
    last: usize,
    last_at: Instant,
}

impl Thinning {
    const EVERY: Duration = Duration::from_secs(10);

    fn keep(&mut self, done: usize, total: usize) -> bool {
        if done < self.last {
            // A new stretch (the next epoch).
            self.last = 0;
        }
        let step = (total / 20).max(1);
        let keep =
            done >= self.last + step || done >= total || self.last_at.elapsed() >= Self::EVERY;
        if keep {
            self.last = done;
            self.last_at = Instant::now();
        }
        keep
    }
}

/// A job's side of its events: sends each to the consumer and appends it to the run's log.
/// A log that cannot be written is reported once and then left alone; the job goes on.
pub struct Reporter<E> {
    tx: Sender<E>,
    log: RefCell<Option<EventLog>>,
    thinning: RefCell<Thinning>,
}

impl<E: JobEvent> Reporter<E> {
    fn new(tx: Sender<E>, log: Option<EventLog>) -> Self {
        Self {
            tx,
            log: RefCell::new(log),
            thinning: RefCell::new(Thinning {
                last: 0,
                last_at: Instant::now(),
            }),
        }
    }

    /// Reports `event`.
    pub fn emit(&self, event: E) {
        let logged = event
            .progress()
            .is_none_or(|(done, total)| self.thinning.borrow_mut().keep(done, total));
        if logged {
            let failed = self.log.borrow_mut().as_mut().and_then(|log| {
                log.append(&event)
                    .err()
                    .map(|e| format!("{}: {e}; progress goes on without it", log.path().display()))
            });
            if let Some(message) = failed {
                *self.log.borrow_mut() = None;
                let _ = self.tx.send(E::notice(message));
            }
        }
        // A closed receiver only means nobody is watching; the job goes on.
        let _ = self.tx.send(event);
    }

    /// Reports a notice.
    pub fn notice(&self, message: impl Into<String>) {
        self.emit(E::notice(message.into()));
    }
}

/// A job running on its own thread.
pub struct Job<E, R> {
    events: Receiver<E>,
    cancel: Arc<AtomicBool>,
    handle: JoinHandle<anyhow::Result<R>>,
    run: Option<RunInfo>,
}

impl<E: JobEvent, R: Send + 'static> Job<E, R> {
    /// Runs `work` on a thread named `name`; its events go to [`Job::events`] and to `log`.
    pub fn spawn<F>(
        name: &str,
        log: Option<EventLog>,
        cancel: Arc<AtomicBool>,
        work: F,
    ) -> anyhow::Result<Self>
    where
        F: FnOnce(&Reporter<E>, &AtomicBool) -> anyhow::Result<R> + Send + 'static,
    {
        let (tx, events) = channel();
        let flag = cancel.clone();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let reporter = Reporter::new(tx, log);
                work(&reporter, &flag)
            })
            .map_err(|e| anyhow::anyhow!("cannot start the {name} thread: {e}"))?;
        Ok(Self {
            events,
            cancel,
            handle,
            run: None,
        })
    }
}

impl<E, R> Job<E, R> {
    /// The job as writing `run`.
    fn in_run(mut self, run: RunInfo) -> Self {
        self.run = Some(run);
        self
    }

    /// The run the job writes, if it writes one.
    pub fn run(&self) -> Option<&RunInfo> {
        self.run.as_ref()
    }

    /// The job's events, in order; the channel closes when the job ends.
    pub fn events(&self) -> &Receiver<E> {
        &self.events
    }

    /// Asks the job to stop: it saves what it can and ends.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// The flag [`Job::cancel`] sets, for signal handlers.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Waits for the job and returns its result.
    pub fn join(self) -> anyhow::Result<R> {
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the job's thread panicked"))?
    }
}

/// A job's result that says whether the job got to its end (or was cancelled on the way).
pub trait Outcome {
    fn complete(&self) -> bool;
}

/// Starts `work` as a job of `kind` in a new run under `store`, on data `data` with model
/// `model`: its events go to the run's log, and its end is recorded in the run (finished,
/// stopped when the result is not complete, or failed with the error).
pub fn spawn_in_new_run<E, R, F>(
    kind: RunKind,
    store: &RunStore,
    data: DataIdentity,
    model: Option<ModelRef>,
    cancel: Arc<AtomicBool>,
    work: F,
) -> anyhow::Result<Job<E, R>>
where
    E: JobEvent,
    R: Outcome + Send + 'static,
    F: FnOnce(&Run, &Reporter<E>, &AtomicBool) -> anyhow::Result<R> + Send + 'static,
{
    let mut run = store.create(kind, data, model)?;
    let log = run.event_log()?;
    let info = run.info().clone();
    let job = Job::spawn(kind.name(), Some(log), cancel, move |reporter, cancel| {
        let ended = work(&run, reporter, cancel);
        run.end(ended_state(&ended, |r| {
            if r.complete() {
                RunState::Finished
            } else {
                RunState::Stopped { at: None }
            }
        }))?;
        ended
    })?;
    Ok(job.in_run(info))
}

/// The state a run ends in: `ok` of its result, or failed with the error's whole chain.
fn ended_state<T>(ended: &anyhow::Result<T>, ok: impl FnOnce(&T) -> RunState) -> RunState {
    match ended {
        Ok(r) => ok(r),
        Err(e) => RunState::Failed {
            message: format!("{e:#}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, PartialEq)]
    enum Ev {
        Step(usize),
        Note(String),
    }

    impl JobEvent for Ev {
        fn notice(message: String) -> Self {
            Ev::Note(message)
        }
        fn progress(&self) -> Option<(usize, usize)> {
            match self {
                Ev::Step(i) => Some((*i, 100)),
                Ev::Note(_) => None,
            }
        }
    }

    #[test]
    fn events_reach_the_consumer_whole_and_the_log_thinned() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let job = Job::spawn(
            "test",
            Some(log),
            Arc::new(AtomicBool::new(false)),
            |r, _| {
                for i in 1..=100 {
                    r.emit(Ev::Step(i));
                }
                r.notice("done");
                Ok(7)
            },
        )
        .unwrap();
        let events: Vec<Ev> = job.events().iter().collect();
        assert_eq!(job.join().unwrap(), 7);
        assert_eq!(events.len(), 101);
        assert_eq!(events[100], Ev::Note("done".into()));
        let text = std::fs::read_to_string(dir.path().join(crate::runs::EVENTS)).unwrap();
        let lines = text.lines().count();
        // 20 progress lines (every 5 %), plus any the 10 s rule adds on a slow machine, and the note.
        assert!((21..101).contains(&lines), "{lines} lines:\n{text}");
        assert!(text.ends_with("{\"Note\":\"done\"}\n"), "{text}");
    }

    #[test]
    fn cancel_reaches_the_work_and_errors_come_back() {
        let job: Job<Ev, ()> =
            Job::spawn("test", None, Arc::new(AtomicBool::new(false)), |_, c| {
                while !c.load(Ordering::Relaxed) {
                    std::thread::yield_now();
                }
                anyhow::bail!("stopped as asked")
            })
            .unwrap();
        job.cancel();
        assert_eq!(job.join().unwrap_err().to_string(), "stopped as asked");
    }
}
