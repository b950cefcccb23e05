//! The event loop: one `tokio::select!` over the terminal's events (crossterm's `EventStream`),
//! the jobs' events, a frame tick and the signals. Messages go through `update`; the
//! [`Command`]s it returns start and stop jobs on their own threads. Draws at most 30 frames a
//! second, and only when something changed. A terminal that goes away (its input ends or
//! fails) ends the dashboard like SIGHUP: running jobs save what they have first.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::app::App;
use super::keys::Keymap;
use super::msg::{Command, JobKind, Msg, Saved};
use super::update::update;
use super::{terminal, view};
use crate::config::Config;
use crate::data::source::LoadRequest;
use crate::data::{DatasetKind, Mode};
use crate::inversion::StartImage;
use crate::jobs::ablate::{self, AblationPlan};
use crate::jobs::baselines::{self, BaselinesPlan};
use crate::jobs::confidence::{self, ConfidencePlan};
use crate::jobs::explain::{self as explain_job, ExplainPlan, ExplainResult};
use crate::jobs::explain_session::{self, ExplainRequest};
use crate::jobs::invert::{self, InvRequest, ModelSpec};
use crate::jobs::invert_sweep::{self, SweepPlan};
use crate::jobs::models::CnnModel;
use crate::jobs::robustness::{self, RobustnessPlan};
use crate::jobs::train;
use crate::jobs::{Job, JobEvent};
use crate::runs::{DataIdentity, EventTail, RunInfo, RunKind, RunStore};

/// Time between frames: 30 per second at most.
const FRAME: Duration = Duration::from_millis(33);

/// How often an attached run's events.jsonl is read for new lines.
const TAIL_EVERY: Duration = Duration::from_millis(250);

/// Longest wait for running jobs to save their work when the dashboard closes.
const SAVE_WAIT: Duration = Duration::from_secs(120);

/// What the dashboard opens with (the subcommand-style flags).
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// `--run RUN`: the CNN to make active.
    pub run: Option<String>,
    /// Whether data flags were given (else a `--run`'s own data is loaded).
    pub data_given: bool,
}

/// A job seen from the loop: its cancel flag and the thread that forwards its events.
struct RunningJob {
    cancel: Arc<AtomicBool>,
    forwarder: JoinHandle<()>,
}

/// The loop's side of the dashboard.
struct Runner {
    tx: UnboundedSender<Msg>,
    config: Config,
    store: RunStore,
    /// What loading a data set needs besides its kind.
    data_request: LoadRequest,
    jobs: HashMap<JobKind, RunningJob>,
    /// Data sets being loaded: each one's cancel flag (ends a Hub download) and thread.
    loading: Vec<(Arc<AtomicBool>, JoinHandle<()>)>,
    /// Requests to the inversion session.
    inversion: Sender<InvRequest>,
    /// Requests to the explain session.
    explain: Sender<ExplainRequest>,
    /// Following another process's run (`classgen attach`).
    attached: Option<EventTail>,
}

/// How the dashboard loads data: the configured source, no progress output.
fn data_request(config: &Config) -> LoadRequest {
    LoadRequest {
        kind: config.data.dataset,
        source: config.data.source,
        dir: config.data.dir().map(Path::to_path_buf),
        hub: config.data.hub_options(false, Arc::default()),
    }
}

/// Runs `work` on a named thread; its outcome arrives as a message.
fn background(
    name: &str,
    tx: UnboundedSender<Msg>,
    work: impl FnOnce() -> Msg + Send + 'static,
) -> anyhow::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .with_context(|| format!("starting the {name} thread"))
}

/// Forwards a job's events (wrapped by `wrap`) and its end (by `end`); the job's run is
/// announced first.
fn forward<E: JobEvent, R: Send + 'static>(
    kind: JobKind,
    job: Job<E, R>,
    tx: &UnboundedSender<Msg>,
    wrap: fn(E) -> Msg,
    end: fn(Result<R, String>) -> Msg,
) -> anyhow::Result<RunningJob> {
    if let Some(run) = job.run() {
        let _ = tx.send(Msg::Started(kind, run.clone()));
    }
    let cancel = job.cancel_flag();
    let tx = tx.clone();
    let forwarder = std::thread::Builder::new()
        .name("job-events".into())
        .spawn(move || {
            for event in job.events().iter() {
                let _ = tx.send(wrap(event));
            }
            let ended = job.join().map_err(|e| format!("{e:#}"));
            let _ = tx.send(end(ended));
        })
        .context("starting the job-events thread")?;
    Ok(RunningJob { cancel, forwarder })
}

impl Runner {
    fn load_cnn(&self, run: Option<RunInfo>) -> anyhow::Result<Option<CnnModel>> {
        let device = crate::device::open(&self.config.train.device)?;
        run.map(|r| CnnModel::load(r, &device)).transpose()
    }

    /// Starts job `kind` on a thread: loading its model and spawning it happen off the loop.
    fn launch(
        &mut self,
        kind: JobKind,
        data: Arc<crate::data::Dataset>,
        start: impl FnOnce(&Runner, Arc<crate::data::Dataset>) -> anyhow::Result<RunningJob>,
    ) {
        match start(self, data) {
            Ok(job) => {
                self.jobs.insert(kind, job);
            }
            Err(e) => {
                let _ = self.tx.send(Msg::StartFailed(kind, format!("{e:#}")));
            }
        }
    }

    fn execute(&mut self, app: &App, command: Command) {
        let data = app.dataset().cloned();
        let cancel = || Arc::new(AtomicBool::new(false));
        match command {
            Command::LoadData(kind) => self.load_data(kind),
            Command::RefreshRuns => send_runs(&self.tx, &self.store),
            Command::LoadHistory(dir) => {
                let history = crate::runs::checkpoint::read_meta(&dir)
                    .map(|m| m.progress.history)
                    .unwrap_or_default();
                let _ = self.tx.send(Msg::History(dir, history));
            }
            Command::ReloadStudy => {
                if let Some(identity) = app.identity() {
                    let study = newest(&self.store.list(), RunKind::Ablate, &identity, |_| true);
                    let found = study.map(|(run, result)| {
                        let held = crate::jobs::study::cells_held(&run.dir);
                        Box::new((run, result, held))
                    });
                    let _ = self.tx.send(Msg::StudyReloaded(found));
                }
            }
            Command::LoadSaved => {
                if let Some(identity) = app.identity() {
                    let saved = saved(&self.store, &identity, app.active.as_ref());
                    let _ = self.tx.send(Msg::Saved(Box::new(saved)));
                }
            }
            Command::StartTraining(plan) => {
                let Some(data) = data else { return };
                let store = self.store.clone();
                let c = cancel();
                self.launch(JobKind::Train, data, move |r, data| {
                    let job = train::spawn(*plan, data, &store, c)?;
                    forward(JobKind::Train, job, &r.tx, Msg::Train, Msg::TrainEnded)
                });
            }
            Command::StartAblation(plan) => {
                let Some(data) = data else { return };
                let store = self.store.clone();
                let c = cancel();
                self.launch(JobKind::Ablate, data, move |r, data| {
                    let plan: AblationPlan = plan;
                    let job = ablate::spawn(plan, data, &store, c)?;
                    forward(
                        JobKind::Ablate,
                        job,
                        &r.tx,
                        Msg::Ablation,
                        Msg::AblationEnded,
                    )
                });
            }
            Command::StartBaselines { models, cnn, carry } => {
                let Some(data) = data else { return };
                let store = self.store.clone();
                let c = cancel();
                self.launch(JobKind::Baselines, data, move |r, data| {
                    let plan = BaselinesPlan {
                        models,
                        settings: r.config.baselines.clone(),
                        cnn: r.load_cnn(cnn)?,
                        eval_batch: r.config.train.eval_batch,
                        carry,
                    };
                    let job = baselines::spawn(plan, data, &store, c)?;
                    forward(
                        JobKind::Baselines,
                        job,
                        &r.tx,
                        Msg::Baselines,
                        Msg::BaselinesEnded,
                    )
                });
            }
            Command::StartConfidence { models, cnn } => {
                let Some(data) = data else { return };
                let store = self.store.clone();
                let c = cancel();
                self.launch(JobKind::Confidence, data, move |r, data| {
                    let plan = ConfidencePlan {
                        models,
                        settings: r.config.baselines.clone(),
                        cnn: r.load_cnn(cnn)?,
                        eval_batch: r.config.train.eval_batch,
                    };
                    let job = confidence::spawn(plan, data, &store, c)?;
                    forward(
                        JobKind::Confidence,
                        job,
                        &r.tx,
                        Msg::Confidence,
                        Msg::ConfidenceEnded,
                    )
                });
            }
            Command::StartRobustness {
                cnn,
                baselines,
                attack_images,
            } => {
                let Some(data) = data else { return };
                let store = self.store.clone();
                let c = cancel();
                self.launch(JobKind::Robustness, data, move |r, data| {
                    let mut settings = r.config.robustness.clone();
                    settings.attack_images = attack_images;
                    let plan = RobustnessPlan {
                        settings,
                        baselines,
                        baseline_settings: r.config.baselines.clone(),
                        attacks: vec![
                            crate::analysis::robustness::AttackKind::Fgsm,
                            crate::analysis::robustness::AttackKind::Pgd,
                        ],
                        cnn: r.load_cnn(cnn)?,
                        eval_batch: r.config.train.eval_batch,
                    };
                    let job = robustness::spawn(plan, data, &store, c)?;
                    forward(
                        JobKind::Robustness,
                        job,
                        &r.tx,
                        Msg::Robustness,
                        Msg::RobustnessEnded,
                    )
                });
            }
            Command::StartSweep {
                cnn,
                lrs,
                starts,
                options,
                confidence,
                snapshots,
            } => {
                let Some(data) = data else { return };
                let store = self.store.clone();
                let c = cancel();
                self.launch(JobKind::InvertSweep, data, move |r, data| {
                    let cnn = r.load_cnn(Some(cnn))?.context("the sweep needs a CNN")?;
                    let plan = SweepPlan {
                        cnn,
                        lrs,
                        starts,
                        options,
                        confidence,
                        snapshots,
                    };
                    let job = invert_sweep::spawn(plan, data, &store, c)?;
                    forward(
                        JobKind::InvertSweep,
                        job,
                        &r.tx,
                        Msg::Sweep,
                        Msg::SweepEnded,
                    )
                });
            }
            Command::Cancel(kind) => {
                if let Some(job) = self.jobs.get(&kind) {
                    job.cancel.store(true, Ordering::Relaxed);
                }
            }
            Command::Invert(requests) => self.invert(requests),
            Command::Explain(request) => {
                if self.explain.send(request).is_err() {
                    let _ = self
                        .tx
                        .send(Msg::Failure("the explain session has stopped".into()));
                }
            }
            Command::StartExplain {
                cnn,
                model,
                image: (tag, label, pixels),
                target,
                settings,
                images,
            } => {
                let Some(data) = data else { return };
                let store = self.store.clone();
                let c = cancel();
                // A test image is named as such, so that its label goes with it.
                let source = match tag.strip_prefix("test-").and_then(|i| i.parse().ok()) {
                    Some(i) if label.is_some() => explain_job::Source::Test(i),
                    _ => explain_job::Source::Pixels { tag, pixels },
                };
                self.launch(JobKind::Explain, data, move |r, data| {
                    let plan = ExplainPlan {
                        sources: vec![source],
                        target,
                        methods: crate::explain::Method::ALL.to_vec(),
                        settings,
                        model,
                        cnn: r.load_cnn(cnn)?,
                        baseline_settings: r.config.baselines.clone(),
                        faithfulness: Some(images),
                        sanity: model == explain_job::ModelChoice::Cnn,
                        snapshots: Some(r.config.paths.snapshots.clone()),
                        layers: false,
                        lookalikes: None,
                    };
                    let job = explain_job::spawn(plan, data, &store, c)?;
                    forward(
                        JobKind::Explain,
                        job,
                        &r.tx,
                        Msg::Explain,
                        Msg::ExplainEnded,
                    )
                });
            }
            Command::ClassifyCanvas { id, run, pixels } => {
                let model = ModelSpec::Cnn {
                    run: Box::new(run),
                    device: self.config.train.device.clone(),
                };
                self.invert(vec![InvRequest::Classify { id, model, pixels }]);
            }
            Command::ImportFile(path) => {
                let _ = background("import", self.tx.clone(), move || {
                    Msg::Imported(import(&path))
                });
            }
            Command::SaveDrawing(canvas) => {
                let dir = self.config.paths.snapshots.clone();
                let name = crate::snapshot::file_name(&["drawing", &crate::fsutil::timestamp()]);
                let image = crate::snapshot::image(&canvas, 1);
                let saved = crate::snapshot::write_png_unique(&dir, &name, &image);
                let _ = self.tx.send(match saved {
                    Ok(path) => Msg::Notice(format!(
                        "drawing saved: {} (28x28; classgen predict --raw reads it)",
                        path.display()
                    )),
                    Err(e) => Msg::Failure(format!("saving the drawing: {e:#}")),
                });
            }
            // Back here once continued; the loop's SIGCONT arm redraws.
            Command::Suspend => terminal::suspend(),
            Command::ExportCharts(charts) => {
                // Drawing a picture takes a moment: off the UI thread.
                let dir = self.config.paths.snapshots.clone();
                let tx = self.tx.clone();
                std::thread::spawn(move || {
                    for (figure, stem) in charts {
                        let _ = tx.send(match crate::text::plot::export(&figure, &dir, &stem) {
                            Ok((png, svg)) => Msg::Notice(format!(
                                "chart saved: {} and {}",
                                png.display(),
                                svg.display()
                            )),
                            Err(e) => Msg::Failure(format!("saving the chart: {e:#}")),
                        });
                    }
                });
            }
        }
    }

    fn invert(&mut self, requests: Vec<InvRequest>) {
        for request in requests {
            if self.inversion.send(request).is_err() {
                let _ = self
                    .tx
                    .send(Msg::Failure("the inversion session has stopped".into()));
                break;
            }
        }
    }

    fn load_data(&mut self, kind: DatasetKind) {
        let mut request = self.data_request.clone();
        request.kind = kind;
        let cancel = Arc::new(AtomicBool::new(false));
        request.hub.cancel = cancel.clone();
        let tx = self.tx.clone();
        let spawned = background("load-data", tx, move || {
            Msg::DataLoaded(
                crate::data::load(&request)
                    .map(|l| (Arc::new(l.dataset), l.notice))
                    .map_err(|f| match f.notice {
                        Some(notice) => format!("{notice}; {}", f.error),
                        None => f.error.to_string(),
                    }),
            )
        });
        match spawned {
            Ok(thread) => {
                self.loading.retain(|(_, thread)| !thread.is_finished());
                self.loading.push((cancel, thread));
            }
            Err(e) => {
                let _ = self.tx.send(Msg::DataLoaded(Err(format!("{e:#}"))));
            }
        }
    }

    /// Stops running jobs and waits (bounded) until they have saved their work.
    fn stop_and_wait(&mut self) {
        for job in self.jobs.values() {
            job.cancel.store(true, Ordering::Relaxed);
        }
        let deadline = std::time::Instant::now() + SAVE_WAIT;
        // A Hub download ends within a tick of its cancel, removing what it wrote.
        for (cancel, _) in &self.loading {
            cancel.store(true, Ordering::Relaxed);
        }
        for (_, thread) in self.loading.drain(..) {
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for (_, job) in self.jobs.drain() {
            while !job.forwarder.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if job.forwarder.is_finished() {
                let _ = job.forwarder.join();
            }
        }
    }
}

/// Reads an image file as the Inversion tab's source.
fn import(path: &Path) -> Result<StartImage, String> {
    let digit = crate::data::import_file(path, Mode::Mnist).map_err(|e| e.to_string())?;
    let stem = path
        .file_stem()
        .map_or_else(|| "image".into(), |s| s.to_string_lossy().into_owned());
    Ok(StartImage {
        pixels: digit.pixels.to_vec(),
        tag: format!("file-{stem}"),
        label: None,
    })
}

/// The newest result of `kind` on `data` that `keep` accepts.
fn newest<T: serde::de::DeserializeOwned>(
    runs: &[RunInfo],
    kind: RunKind,
    data: &DataIdentity,
    keep: impl Fn(&RunInfo) -> bool,
) -> Option<(RunInfo, T)> {
    runs.iter()
        .filter(|r| r.record.kind == kind && r.record.data.same_data(data) && keep(r))
        .find_map(|r| r.result().ok().map(|result| (r.clone(), result)))
}

/// Lists the runs for the Runs tab: the damaged ones, then the others (a runs directory that
/// is not one is said in the message log).
fn send_runs(tx: &UnboundedSender<Msg>, store: &RunStore) {
    let listing = store.scan().unwrap_or_else(|e| {
        let _ = tx.send(Msg::Failure(e.to_string()));
        crate::runs::Listing::default()
    });
    let _ = tx.send(Msg::DamagedRuns(listing.damaged));
    let _ = tx.send(Msg::Runs(listing.runs));
}

/// The newest saved result of each job on the data in use (confidence and robustness: of the
/// active CNN).
fn saved(store: &RunStore, data: &DataIdentity, active: Option<&RunInfo>) -> Saved {
    let runs = store.list();
    let same_cnn = |r: &RunInfo| r.record.model.as_ref().map(|m| &m.dir) == active.map(|a| &a.dir);
    // The active model's results first; else the newest of the data, whoever's (the tab says
    // whose).
    Saved {
        ablation: newest(&runs, RunKind::Ablate, data, |_| true),
        baselines: newest(&runs, RunKind::Baselines, data, same_cnn)
            .or_else(|| newest(&runs, RunKind::Baselines, data, |_| true)),
        confidence: newest(&runs, RunKind::Confidence, data, same_cnn)
            .or_else(|| newest(&runs, RunKind::Confidence, data, |_| true)),
        robustness: newest(&runs, RunKind::Robustness, data, same_cnn)
            .or_else(|| newest(&runs, RunKind::Robustness, data, |_| true)),
        explain: tables(&runs, data, same_cnn).or_else(|| tables(&runs, data, |_| true)),
    }
}

/// The newest explain run on `data` that `keep` accepts and that measured faithfulness or
/// ran the sanity check.
fn tables(
    runs: &[RunInfo],
    data: &DataIdentity,
    keep: impl Fn(&RunInfo) -> bool,
) -> Option<(RunInfo, ExplainResult)> {
    runs.iter()
        .filter(|r| r.record.kind == RunKind::Explain && r.record.data.same_data(data) && keep(r))
        .find_map(|r| {
            let result: ExplainResult = r.result().ok()?;
            (result.faithfulness.is_some() || result.sanity.is_some()).then(|| (r.clone(), result))
        })
}

/// Runs the dashboard until the user quits or a signal arrives.
pub fn run(config: &Config, start: Start) -> anyhow::Result<Option<u8>> {
    open(config, start, None)
}

/// `classgen attach [RUN]`: the dashboard following the events of a training run another
/// process writes (or replaying a finished one). A missing run is an error before the screen
/// opens.
pub fn attach(config: &Config, run: Option<&str>) -> anyhow::Result<Option<u8>> {
    let store = RunStore::new(&config.paths.runs);
    let info = match run {
        Some(name) => store.find(name)?.expect_kind(RunKind::Train)?,
        None => store.newest(RunKind::Train, |_| true).ok_or_else(|| {
            anyhow::anyhow!(
                "no training run under {} to attach to: start one (classgen train) or name it",
                store.root().display()
            )
        })?,
    };
    let events = info.dir.join(crate::runs::EVENTS);
    match crate::userfile::open_regular(&events) {
        Ok(_) => {}
        Err(crate::userfile::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!(
                "{}: no {} in it yet: its job has not started",
                info.dir.display(),
                crate::runs::EVENTS
            )
        }
        Err(e) => anyhow::bail!("{}: {e}", events.display()),
    }
    open(
        config,
        Start {
            run: Some(info.name.clone()),
            data_given: false,
        },
        Some(info),
    )
}

/// Runs the dashboard; the exit status a signal asked for, if one ended it.
fn open(config: &Config, start: Start, attach: Option<RunInfo>) -> anyhow::Result<Option<u8>> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "the dashboard needs a terminal (stdin and stdout); for scripts use a subcommand (classgen --help)"
        );
    }
    let keys = Keymap::new(&config.keys)?;
    crate::runtime::set_threads(config.train.threads);
    let store = RunStore::new(&config.paths.runs);
    let mut data_request = data_request(config);
    let mut app = App::new(config, keys, super::widgets::halfblock::ColorMode::detect());
    if let Some(name) = &start.run {
        let info = store
            .find(name)
            .and_then(|r| r.expect_kind(RunKind::Train))
            .map_err(|e| anyhow::anyhow!("--run: {e}"))?;
        if !start.data_given {
            // The run's own data, as the subcommands do.
            data_request = info.record.data.load_request(data_request.hub.clone());
            app.dataset_kind = info.record.data.dataset;
        }
        app.wanted_run = Some(info.name.clone());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    let session = invert::open().context("starting the inversion session")?;
    let explainer = explain_session::open().context("starting the explain session")?;
    let (tx, rx) = unbounded_channel();
    let invert_tx = tx.clone();
    let invert_events = std::thread::Builder::new()
        .name("inversion-events".into())
        .spawn(move || {
            for event in session.job.events().iter() {
                if invert_tx.send(Msg::Inversion(event)).is_err() {
                    return;
                }
            }
        })
        .context("starting the inversion events thread")?;
    let explain_tx = tx.clone();
    let explain_events = std::thread::Builder::new()
        .name("explain-events".into())
        .spawn(move || {
            for event in explainer.job.events().iter() {
                if explain_tx.send(Msg::ExplainSession(event)).is_err() {
                    return;
                }
            }
        })
        .context("starting the explain events thread")?;
    let mut runner = Runner {
        tx: tx.clone(),
        config: config.clone(),
        store,
        data_request,
        jobs: HashMap::new(),
        loading: Vec::new(),
        inversion: session.requests,
        explain: explainer.requests,
        attached: None,
    };
    if let Some(info) = attach {
        runner.attached = Some(EventTail::new(&info.dir));
        let _ = tx.send(Msg::Attached(info));
    }
    let kind = runner.data_request.kind;
    runner.load_data(kind);
    send_runs(&tx, &runner.store);
    let mut terminal = terminal::enter().context("setting up the terminal")?;
    if let Ok(size) = terminal.size() {
        app.screen = (size.width, size.height);
    }
    let result = runtime.block_on(event_loop(&mut terminal, &mut app, &mut runner, rx));
    if !runner.jobs.is_empty() {
        app.messages
            .info("stopping: saving what the running jobs have...");
        let _ = terminal.draw(|f| view::render(f, &app));
    }
    runner.stop_and_wait();
    drop(runner);
    terminal::leave();
    let _ = invert_events.join();
    let _ = explain_events.join();
    result.map(|()| app.signalled)
}

/// Handles one message and carries out what it asks for.
fn handle(app: &mut App, runner: &mut Runner, msg: Msg) {
    // A job's end frees its slot before the state hears of it.
    let ended = match &msg {
        Msg::TrainEnded(_) => Some(JobKind::Train),
        Msg::AblationEnded(_) => Some(JobKind::Ablate),
        Msg::BaselinesEnded(_) => Some(JobKind::Baselines),
        Msg::ConfidenceEnded(_) => Some(JobKind::Confidence),
        Msg::RobustnessEnded(_) => Some(JobKind::Robustness),
        Msg::ExplainEnded(_) => Some(JobKind::Explain),
        Msg::SweepEnded(_) => Some(JobKind::InvertSweep),
        _ => None,
    };
    if let Some(job) = ended.and_then(|k| runner.jobs.remove(&k)) {
        let _ = job.forwarder.join();
    }
    for command in update(app, msg) {
        runner.execute(app, command);
    }
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    runner: &mut Runner,
    mut rx: UnboundedReceiver<Msg>,
) -> anyhow::Result<()> {
    let mut events = EventStream::new();
    let mut frame = tokio::time::interval(FRAME);
    let mut tail = tokio::time::interval(TAIL_EVERY);
    let mut reload = tokio::time::interval(crate::tui::msg::RELOAD_EVERY);
    let mut term = signal(SignalKind::terminate()).context("watching SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("watching SIGHUP")?;
    let mut int = signal(SignalKind::interrupt()).context("watching SIGINT")?;
    // Job control: SIGTSTP (`kill -TSTP`; Ctrl-Z comes as a key in raw mode) suspends, and
    // SIGCONT (`fg`) takes the terminal again.
    let mut tstp = signal(SignalKind::from_raw(libc::SIGTSTP)).context("watching SIGTSTP")?;
    let mut cont = signal(SignalKind::from_raw(libc::SIGCONT)).context("watching SIGCONT")?;
    let mut dirty = true;
    while !app.quit {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => { handle(app, runner, Msg::Key(key)); dirty = true; }
                Some(Ok(Event::Mouse(mouse))) => { handle(app, runner, Msg::Mouse(mouse)); dirty = true; }
                Some(Ok(Event::Resize(w, h))) => { handle(app, runner, Msg::Resize(w, h)); dirty = true; }
                Some(Ok(_)) => {}
                // The terminal is gone: leave as on SIGHUP, saving first.
                Some(Err(_)) | None => handle(app, runner, Msg::Terminate { reason: "the terminal went away".into(), status: 129 }),
            },
            Some(msg) = rx.recv() => { handle(app, runner, msg); dirty = true; }
            _ = frame.tick() => {
                // Jobs in flight show elapsed times: redraw while one runs.
                if dirty || app.job_running() {
                    if terminal.draw(|f| view::render(f, app)).is_err() {
                        handle(app, runner, Msg::Terminate { reason: "the terminal went away".into(), status: 129 });
                    }
                    dirty = false;
                }
            }
            _ = tail.tick(), if runner.attached.is_some() => {
                let polled = runner.attached.as_mut().map(|t| t.poll::<crate::model::train::TrainEvent>());
                match polled {
                    Some(Ok(events)) => {
                        for event in events {
                            handle(app, runner, Msg::Train(event));
                        }
                        dirty = true;
                    }
                    Some(Err(e)) => {
                        runner.attached = None;
                        handle(app, runner, Msg::AttachLost(e.to_string()));
                    }
                    None => {}
                }
            }
            _ = reload.tick() => handle(app, runner, Msg::Reload),
            _ = tstp.recv() => terminal::suspend(),
            _ = cont.recv() => {
                // Both buffers emptied, so the next draw repaints every cell of the cleared
                // screen (not `Terminal::clear`: it asks the terminal for the cursor, which
                // waits on the event reader's lock while the event stream holds it).
                terminal.swap_buffers();
                let resumed = terminal::resume();
                match resumed.and_then(|()| terminal.size()) {
                    // The window may have changed while stopped.
                    Ok(size) => handle(app, runner, Msg::Resize(size.width, size.height)),
                    Err(_) => handle(app, runner, Msg::Terminate { reason: "the terminal went away".into(), status: 129 }),
                }
                dirty = true;
            }
            _ = term.recv() => handle(app, runner, Msg::Terminate { reason: "SIGTERM".into(), status: 143 }),
            _ = hup.recv() => handle(app, runner, Msg::Terminate { reason: "SIGHUP".into(), status: 129 }),
            _ = int.recv() => handle(app, runner, Msg::Terminate { reason: "SIGINT".into(), status: 130 }),
        }
    }
    Ok(())
}
