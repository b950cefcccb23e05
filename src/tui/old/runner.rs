//! The event loop: keys, job events and signals become [`Msg`]s for `update`; the [`Command`]s it
//! returns start and stop jobs on worker threads. Draws at most 30 frames a second, and only
//! when something changed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use ratatui::crossterm::event::{self, Event};
use ratatui::DefaultTerminal;

use crate::config::Config;
use crate::data::hub::HubOptions;
use crate::data::source::LoadRequest;
use crate::data::DatasetKind;
use crate::jobs::ablate::{self as ablate_job, AblationPlan};
use crate::jobs::train as train_job;
use crate::model::{checkpoint, ArchSpec};

use super::app::{App, Tab};
use super::invert_worker::{self, InvRequest};
use super::signals::{self, Shutdown};
use super::update::{update, Command, Msg};
use super::{results, view};

/// Time between frames: 30 per second at most.
const FRAME: Duration = Duration::from_millis(33);

/// How often an attached run's events.jsonl is read for new lines.
const TAIL_EVERY: Duration = Duration::from_millis(250);

/// A training job seen from the UI: its cancel flag and the thread forwarding its events.
struct RunningJob {
    cancel: Arc<AtomicBool>,
    forwarder: JoinHandle<()>,
}

/// The loop's side of the dashboard: the message channel and the running jobs.
struct Runner {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    runs_dir: PathBuf,
    /// Architectures from config.toml, besides the built-in ones.
    archs: Vec<ArchSpec>,
    /// What loading a data set needs besides its kind.
    data_request: LoadRequest,
    job: Option<RunningJob>,
    ablation: Option<RunningJob>,
    /// Requests to the inversion worker.
    inversion: Sender<InvRequest>,
    shutdown: Arc<Shutdown>,
}

/// Messages describing what is saved under `runs/`: the latest train run and other results.
pub fn saved_state(runs: &Path) -> Vec<Msg> {
    let mut msgs = Vec::new();
    if let Some(dir) = checkpoint::latest_run(runs, "train") {
        if let Ok(meta) = checkpoint::read_meta(&dir) {
            msgs.push(Msg::SavedRun {
                dir,
                meta: Box::new(meta),
            });
        }
    }
    for (tab, kind) in [
        (Tab::Ablation, "ablat"),
        (Tab::Baselines, "baselines"),
        (Tab::Confidence, "confidence"),
    ] {
        if let Some(file) = results::latest_result_file(runs, kind) {
            if let Ok(view) = results::load(&file) {
                msgs.push(Msg::SavedResult(tab, view));
            }
        }
    }
    msgs
}

/// How the dashboard loads data: the configured source, no progress output.
fn data_request(config: &Config) -> LoadRequest {
    LoadRequest {
        kind: config.data.dataset,
        source: config.data.source,
        dir: config.data.dir().map(Path::to_path_buf),
        hub: HubOptions {
            endpoint: config.data.hub_endpoint.clone(),
            cache_dir: config.data.cache_dir(),
            progress: false,
            timeout: config.data.hub_timeout(),
        },
    }
}

/// Loads a data set on a worker thread; the result arrives as a message.
fn spawn_data_loader(request: LoadRequest, tx: Sender<Msg>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("load-data".into())
        .spawn(move || {
            let result = crate::data::load(&request)
                .map(|l| (Arc::new(l.dataset), l.notice))
                .map_err(|e| e.to_string());
            let _ = tx.send(Msg::DataLoaded(result));
        })
        .context("starting the data loader thread")?;
    Ok(())
}

impl Runner {
    /// Applies a message and carries out the command it yields.
    fn handle(&mut self, app: &mut App, msg: Msg) {
        if let Some(command) = update(app, msg) {
            self.execute(app, command);
        }
    }

    fn execute(&mut self, app: &mut App, command: Command) {
        match command {
            Command::StartTraining {
                config,
                data,
                resume,
            } => {
                let cancel = Arc::new(AtomicBool::new(false));
                let spawned = train_job::spawn_with_archs(
                    &config,
                    &self.archs,
                    data,
                    &self.runs_dir,
                    resume.as_deref(),
                    cancel.clone(),
                )
                .and_then(|job| {
                    let dir = job.run_dir.clone();
                    let tx = self.tx.clone();
                    let shutdown = self.shutdown.clone();
                    let forwarder = std::thread::Builder::new()
                        .name("train-events".into())
                        .spawn(move || {
                            for event in job.events.iter() {
                                let _ = tx.send(Msg::Train(event));
                            }
                            let ended = job.join().map(|_| ()).map_err(|e| format!("{e:#}"));
                            shutdown.job_ended();
                            let _ = tx.send(Msg::TrainEnded(ended));
                        })?;
                    Ok((dir, forwarder))
                });
                match spawned {
                    Ok((dir, forwarder)) => {
                        self.shutdown.job_started(cancel.clone());
                        self.job = Some(RunningJob { cancel, forwarder });
                        self.handle(app, Msg::TrainStarted(dir));
                    }
                    Err(e) => self.handle(app, Msg::TrainEnded(Err(format!("{e:#}")))),
                }
            }
            Command::StopTraining => {
                if let Some(job) = &self.job {
                    job.cancel.store(true, Ordering::Relaxed);
                }
            }
            Command::LoadData(kind) => self.load_data(app, kind),
            Command::StartAblation {
                variants,
                seeds,
                recipe,
                data,
            } => {
                let dir = ablate_job::study_dir(&self.runs_dir, &data, &recipe);
                let plan = AblationPlan {
                    variants,
                    seeds,
                    train: recipe,
                };
                let cancel = Arc::new(AtomicBool::new(false));
                let spawned = ablate_job::spawn(plan, data, dir, cancel.clone()).and_then(|job| {
                    let tx = self.tx.clone();
                    Ok(std::thread::Builder::new()
                        .name("ablate-events".into())
                        .spawn(move || {
                            for event in job.events.iter() {
                                let _ = tx.send(Msg::Ablation(event));
                            }
                            let ended = job.join().map(|_| ()).map_err(|e| format!("{e:#}"));
                            let _ = tx.send(Msg::AblationEnded(ended));
                        })?)
                });
                match spawned {
                    Ok(forwarder) => self.ablation = Some(RunningJob { cancel, forwarder }),
                    Err(e) => self.handle(app, Msg::AblationEnded(Err(format!("{e:#}")))),
                }
            }
            Command::CancelAblation => {
                if let Some(job) = &self.ablation {
                    job.cancel.store(true, Ordering::Relaxed);
                }
            }
            Command::Invert(requests) => {
                for request in requests {
                    if self.inversion.send(request).is_err() {
                        app.status = "the inversion worker has stopped".into();
                        app.inversion.clear();
                        break;
                    }
                }
            }
        }
    }

    fn load_data(&mut self, app: &mut App, kind: DatasetKind) {
        let mut request = self.data_request.clone();
        request.kind = kind;
        if let Err(e) = spawn_data_loader(request, self.tx.clone()) {
            self.handle(app, Msg::DataLoaded(Err(format!("{e:#}"))));
        }
    }

    /// Stops running jobs and waits until training has checkpointed (an ablation keeps its
    /// finished runs; the one in flight is dropped).
    fn stop_and_wait(&mut self) {
        for job in [self.job.take(), self.ablation.take()]
            .into_iter()
            .flatten()
        {
            job.cancel.store(true, Ordering::Relaxed);
            let _ = job.forwarder.join();
        }
    }
}

/// Follows `dir/events.jsonl` on a thread: new events arrive as [`Msg::Train`]. Ends when the
/// dashboard does (its channel closes) or the file cannot be read.
fn spawn_follower(dir: &Path, tx: Sender<Msg>) -> anyhow::Result<()> {
    let mut tail = super::attach::EventTail::new(dir.join(train_job::EVENTS));
    std::thread::Builder::new()
        .name("attach".into())
        .spawn(move || loop {
            match tail.poll() {
                Ok(events) => {
                    for event in events {
                        if tx.send(Msg::Train(event)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Msg::AttachLost(e.to_string()));
                    return;
                }
            }
            std::thread::sleep(TAIL_EVERY);
        })
        .context("starting the events follower")?;
    Ok(())
}

/// Runs the dashboard until the user quits or a signal arrives.
pub fn run(config: &Config) -> anyhow::Result<()> {
    run_with(config, None)
}

/// `classgen attach [RUN]`: the dashboard following the events of a run another process
/// writes (or replaying a finished one). A missing run is an error before the screen opens.
pub fn attach(config: &Config, run: Option<&str>) -> anyhow::Result<()> {
    let dir = super::attach::resolve_run(&config.paths.runs, run)?;
    run_with(config, Some(dir))
}

fn run_with(config: &Config, attach: Option<PathBuf>) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the dashboard needs a terminal (stdin and stdout); for scripts use a subcommand (classgen --help)"
        );
    }
    crate::runtime::set_threads(config.train.threads);
    let shutdown = Arc::new(Shutdown::default());
    signals::watch(shutdown.clone())
        .context("installing handlers for SIGTERM, SIGHUP and SIGINT")?;
    let (tx, rx) = channel();
    let (inversion, requests) = channel();
    invert_worker::spawn(requests, tx.clone()).context("starting the inversion worker")?;
    let mut runner = Runner {
        tx: tx.clone(),
        rx,
        runs_dir: config.paths.runs.clone(),
        archs: config.archs.clone(),
        data_request: data_request(config),
        job: None,
        ablation: None,
        inversion,
        shutdown: shutdown.clone(),
    };
    let mut app = App::new(config, super::widgets::halfblock::ColorMode::detect());
    if let Some(dir) = attach {
        runner.handle(&mut app, Msg::Attached(dir.clone()));
        spawn_follower(&dir, tx.clone())?;
    }
    for msg in saved_state(&config.paths.runs) {
        runner.handle(&mut app, msg);
    }
    spawn_data_loader(runner.data_request.clone(), tx)?;
    let mut terminal = super::terminal::enter().context("setting up the terminal")?;
    let result = event_loop(&mut terminal, &mut app, &mut runner, &shutdown);
    if runner.job.is_some() || runner.ablation.is_some() {
        app.status = "stopping: saving a checkpoint...".into();
        let _ = terminal.draw(|f| view::render(f, &app));
    }
    runner.stop_and_wait();
    super::terminal::leave();
    result
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    runner: &mut Runner,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let mut dirty = true;
    while !app.quit {
        if dirty {
            terminal.draw(|f| view::render(f, app))?;
            dirty = false;
        }
        let deadline = Instant::now() + FRAME;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !event::poll(left)? {
                break;
            }
            match event::read()? {
                Event::Key(key) => {
                    runner.handle(app, Msg::Key(key));
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
            if app.quit {
                return Ok(());
            }
        }
        if shutdown.requested() {
            runner.handle(app, Msg::Terminate);
        }
        while let Ok(msg) = runner.rx.try_recv() {
            if matches!(msg, Msg::TrainEnded(_)) {
                if let Some(job) = runner.job.take() {
                    let _ = job.forwarder.join();
                }
            }
            if matches!(msg, Msg::AblationEnded(_)) {
                if let Some(job) = runner.ablation.take() {
                    let _ = job.forwarder.join();
                }
            }
            runner.handle(app, msg);
            dirty = true;
        }
    }
    Ok(())
}
