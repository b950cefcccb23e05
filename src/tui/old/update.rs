//! `update`: folds one message (a key, a job event) into the [`App`] state. Pure: the effects it
//! needs (start or stop a job) come back as a [`Command`] for the event loop to carry out.

use std::path::PathBuf;
use std::sync::Arc;

use ratatui::crossterm::event::{KeyEvent, KeyEventKind};

use crate::config::TrainConfig;
use crate::data::{Dataset, DatasetKind, CLASSES};
use crate::inversion::{GradientOptions, Objective, Regularisers, StepKind};
use crate::jobs::ablate::AblationEvent;
use crate::model::checkpoint::CheckpointMeta;
use crate::model::train::{Position, TrainEvent};
use crate::model::ArchSpec;
use crate::snapshot;

use super::app::{
    AblationRun, App, DataState, InvModel, JobState, Progress, SourceKind, Tab, MAX_CURVE_POINTS,
    MAX_SPARK_POINTS,
};
use super::invert_worker::{InvEvent, InvRequest, ModelSpec, SharedData};
use super::keys::Action;
use super::results::ResultView;

/// Everything that can change the dashboard.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// The data set finished loading (with a notice if the source was a fallback), or failed.
    DataLoaded(Result<(Arc<Dataset>, Option<String>), String>),
    /// The latest saved training run, found at start.
    SavedRun {
        dir: PathBuf,
        meta: Box<CheckpointMeta>,
    },
    /// The latest saved result of another job, found at start.
    SavedResult(Tab, ResultView),
    /// A training job was spawned into this run directory.
    TrainStarted(PathBuf),
    Train(TrainEvent),
    /// The training job ended (its last events were delivered before this).
    TrainEnded(Result<(), String>),
    /// `classgen attach`: the dashboard follows the events.jsonl of this run directory.
    Attached(PathBuf),
    /// Following the attached run's events.jsonl failed.
    AttachLost(String),
    /// What the ablation job reports.
    Ablation(AblationEvent),
    /// The ablation job ended (its last events were delivered before this).
    AblationEnded(Result<(), String>),
    /// What the inversion worker reports about inversion `id`.
    Inversion {
        id: u64,
        event: InvEvent,
    },
    /// SIGTERM or SIGHUP: leave now, checkpointing a running job.
    Terminate,
}

/// Effects `update` asks the event loop for.
#[derive(Debug, Clone)]
pub enum Command {
    StartTraining {
        config: TrainConfig,
        data: Arc<Dataset>,
        resume: Option<PathBuf>,
    },
    StopTraining,
    /// Loads another data set (it arrives as [`Msg::DataLoaded`]).
    LoadData(DatasetKind),
    /// Runs the study (variants x seeds, each with `recipe`) in its study directory.
    StartAblation {
        variants: Vec<ArchSpec>,
        seeds: Vec<u64>,
        recipe: TrainConfig,
        data: Arc<Dataset>,
    },
    CancelAblation,
    /// Requests for the inversion worker, in order.
    Invert(Vec<InvRequest>),
}

/// Applies `msg` to `app`; returns the effect to run, if any.
pub fn update(app: &mut App, msg: Msg) -> Option<Command> {
    match msg {
        Msg::Key(key) => on_key(app, &key),
        Msg::DataLoaded(Ok((data, notice))) => {
            app.dataset_kind = data.kind;
            app.status = notice.unwrap_or_else(|| {
                format!(
                    "data: {} from {} ({} train, {} test)",
                    data.kind,
                    data.origin,
                    data.train.len(),
                    data.test.len()
                )
            });
            app.data = DataState::Ready(data);
            None
        }
        Msg::DataLoaded(Err(e)) => {
            app.status = format!("data: {e}");
            app.data = DataState::Failed(e);
            None
        }
        Msg::SavedRun { dir, meta } => {
            let t = &mut app.training;
            if t.job == JobState::Idle && t.run_dir.is_none() {
                t.run_dir = Some(dir);
                t.history = meta.history;
                t.position = meta.position;
                t.run_epochs = meta.config.epochs;
            }
            None
        }
        Msg::SavedResult(tab, view) => {
            let slot = match tab {
                Tab::Ablation => &mut app.results.ablation,
                Tab::Baselines => &mut app.results.baselines,
                Tab::Confidence => &mut app.results.confidence,
                Tab::Training | Tab::Inversion => return None,
            };
            *slot = Some(view);
            None
        }
        Msg::TrainStarted(dir) => {
            app.status = format!("training in {}", dir.display());
            app.training.run_dir = Some(dir);
            None
        }
        Msg::Train(event) => {
            on_train_event(app, event);
            None
        }
        Msg::TrainEnded(result) => {
            let t = &mut app.training;
            t.job = JobState::Idle;
            t.progress = None;
            match result {
                Err(e) => app.status = format!("training failed: {e}"),
                Ok(()) if t.position.epoch >= t.run_epochs => {
                    if let Some(m) = t.history.last() {
                        app.status = format!(
                            "finished {} epochs: test accuracy {:.2}%",
                            m.epoch,
                            m.test_accuracy * 100.0
                        );
                    }
                }
                Ok(()) => {}
            }
            None
        }
        Msg::Attached(dir) => {
            let t = &mut app.training;
            t.job = JobState::Attached;
            t.history.clear();
            t.loss_curve.clear();
            t.acc_curve.clear();
            t.position = Position::default();
            t.progress = None;
            app.status = format!("attached to {}: following its events", dir.display());
            t.run_dir = Some(dir);
            None
        }
        Msg::AttachLost(e) => {
            app.status = format!("attach: {e}");
            None
        }
        Msg::Ablation(event) => {
            on_ablation_event(app, event);
            None
        }
        Msg::AblationEnded(result) => {
            let a = &mut app.ablation;
            a.job = JobState::Idle;
            if let Some(run) = &mut a.run {
                run.current = None;
            }
            match result {
                Err(e) => app.status = format!("ablation failed: {e}"),
                Ok(()) => {
                    if let Some(run) = a.run.as_ref().filter(|r| r.finished >= r.total) {
                        let dir = run.dir.as_ref().map(|d| d.display().to_string());
                        app.status = format!(
                            "study finished: {} runs in {}",
                            run.total,
                            dir.unwrap_or_default()
                        );
                    }
                }
            }
            None
        }
        Msg::Inversion { id, event } => {
            on_inversion_event(app, id, event);
            None
        }
        Msg::Terminate => {
            app.quit = true;
            None
        }
    }
}

fn on_inversion_event(app: &mut App, id: u64, event: InvEvent) {
    let inv = &mut app.inversion;
    match event {
        InvEvent::Snapshot(Ok(paths)) => {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            app.status = format!("snapshot: {}", names.join(", "));
        }
        InvEvent::Snapshot(Err(e)) => app.status = format!("snapshot failed: {e}"),
        _ if id != inv.id || !inv.active => {}
        InvEvent::Notice(text) => app.status = text,
        InvEvent::Frame(frame) => {
            for (history, value) in [
                (&mut inv.p_target, frame.p_target),
                (&mut inv.grad_norm, frame.grad_norm),
            ] {
                history.push(value);
                if history.len() > MAX_SPARK_POINTS {
                    history.drain(..history.len() - MAX_SPARK_POINTS);
                }
            }
            inv.frame = Some(frame);
        }
        InvEvent::Stopped(reason) => {
            inv.running = false;
            inv.stopped = Some(reason);
            let step = inv.frame.as_ref().map_or(0, |f| f.step);
            app.status = format!("inversion stopped at step {step}: {}", reason.describe());
        }
        InvEvent::Failed(e) => {
            inv.clear();
            app.status = format!("inversion: {e}");
        }
    }
}

fn on_key(app: &mut App, key: &KeyEvent) -> Option<Command> {
    if key.kind != KeyEventKind::Press {
        return None;
    }
    let action = app.keys.action_for(app.tab, key);
    if action == Some(Action::ForceQuit) {
        app.quit = true;
        return None;
    }
    if app.confirm_quit {
        use ratatui::crossterm::event::KeyCode;
        app.confirm_quit = false;
        if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('q')) {
            app.quit = true;
        }
        return None;
    }
    if app.show_help && key.code == ratatui::crossterm::event::KeyCode::Esc {
        app.show_help = false;
        return None;
    }
    on_action(app, action?)
}

fn on_action(app: &mut App, action: Action) -> Option<Command> {
    let job = app.training.job;
    let idle = job == JobState::Idle;
    let attached = job == JobState::Attached;
    let edit = |app: &mut App, f: &dyn Fn(&mut TrainConfig)| {
        if app.training.job == JobState::Idle {
            f(&mut app.training.config);
        } else {
            app.status = "stop the run first (x) to change its settings".into();
        }
        None
    };
    match action {
        Action::Quit if app.job_running() => {
            app.confirm_quit = true;
            None
        }
        Action::Quit | Action::ForceQuit => {
            app.quit = true;
            None
        }
        Action::NextTab => go(app, app.tab.shifted(1)),
        Action::PrevTab => go(app, app.tab.shifted(-1)),
        Action::GoTo(tab) => go(app, tab),
        Action::ToggleHelp => {
            app.show_help = !app.show_help;
            None
        }
        Action::StartTraining | Action::ResumeTraining | Action::StopTraining if attached => {
            app.status = attached_notice(app);
            None
        }
        Action::StartTraining | Action::ResumeTraining if app.ablation.job != JobState::Idle => {
            app.status = "an ablation study is running (Ablation tab, x cancels it)".into();
            None
        }
        Action::StartTraining | Action::ResumeTraining if !idle => {
            app.status = "a run is already going; x stops it".into();
            None
        }
        Action::StartTraining => {
            let data = ready_data(app)?;
            let t = &mut app.training;
            t.job = JobState::Starting;
            t.run_dir = None;
            t.history.clear();
            t.loss_curve.clear();
            t.acc_curve.clear();
            t.position = Position::default();
            t.run_epochs = t.config.epochs;
            app.status = "starting a new run...".into();
            Some(Command::StartTraining {
                config: t.config.clone(),
                data,
                resume: None,
            })
        }
        Action::ResumeTraining => {
            let Some(dir) = app.training.run_dir.clone() else {
                app.status = "no run to resume: s starts one".into();
                return None;
            };
            let data = ready_data(app)?;
            let t = &mut app.training;
            t.job = JobState::Starting;
            app.status = format!("resuming {}...", dir.display());
            Some(Command::StartTraining {
                config: t.config.clone(),
                data,
                resume: Some(dir),
            })
        }
        Action::StopTraining if matches!(job, JobState::Running | JobState::Starting) => {
            app.training.job = JobState::Stopping;
            app.status = "stopping: saving a checkpoint...".into();
            Some(Command::StopTraining)
        }
        Action::StopTraining => None,
        Action::CycleDataset => cycle_dataset(app),
        Action::CycleArch => {
            let archs = app.training.archs.clone();
            edit(app, &|c| {
                let at = archs.iter().position(|a| a.name == c.arch);
                let next = at.map_or(0, |i| (i + 1) % archs.len().max(1));
                if let Some(a) = archs.get(next) {
                    c.arch = a.name.clone();
                }
            })
        }
        Action::StartAblation => start_ablation(app),
        Action::CancelAblation if app.ablation.job == JobState::Running => {
            app.ablation.job = JobState::Stopping;
            app.status = "cancelling the study: the run in flight is dropped...".into();
            Some(Command::CancelAblation)
        }
        Action::CancelAblation => None,
        Action::ToggleModel => {
            app.inversion.model = match app.inversion.model {
                InvModel::Cnn => InvModel::Knn,
                InvModel::Knn => InvModel::Cnn,
            };
            let image = app.inversion.image;
            set_source(app, image)
        }
        Action::CycleSource => {
            app.inversion.source = match app.inversion.source {
                SourceKind::Test => SourceKind::Noise,
                SourceKind::Noise => SourceKind::Blank,
                SourceKind::Blank => SourceKind::Test,
            };
            let image = app.inversion.image;
            set_source(app, image)
        }
        Action::ToggleRegularisers => {
            let preset = app.inversion.reg_preset;
            if app.inversion.model == InvModel::Knn {
                app.status =
                    "regularisers apply to the CNN's gradient inversion (m switches)".into();
            }
            set_options(app, move |o| {
                o.reg = if o.reg.any() {
                    Regularisers::default()
                } else {
                    preset
                }
            })
        }
        Action::EpochsUp => edit(app, &|c| c.epochs = (c.epochs + 1).min(1000)),
        Action::EpochsDown => edit(app, &|c| c.epochs = c.epochs.saturating_sub(1).max(1)),
        Action::LrUp => edit(app, &|c| c.learning_rate = (c.learning_rate * 2.0).min(1.0)),
        Action::LrDown => edit(app, &|c| {
            c.learning_rate = (c.learning_rate / 2.0).max(1e-7)
        }),
        Action::SeedUp => edit(app, &|c| c.seed = c.seed.wrapping_add(1)),
        Action::SeedDown => edit(app, &|c| c.seed = c.seed.wrapping_sub(1)),
        Action::PrevImage => browse(app, -1),
        Action::NextImage => browse(app, 1),
        Action::NextClass => {
            app.inversion.source = SourceKind::Test;
            let data = app.dataset()?;
            let test = &data.test;
            let current = app.inversion.image.min(test.len().saturating_sub(1));
            let wanted = (*test.labels.get(current)? + 1) % 10;
            let n = test.len();
            let image = (1..=n)
                .map(|d| (current + d) % n)
                .find(|&i| test.labels[i] == wanted)
                .unwrap_or(current);
            set_source(app, image)
        }
        Action::TargetUp => set_options(app, |o| o.target = (o.target + 1) % CLASSES),
        Action::TargetDown => set_options(app, |o| o.target = (o.target + CLASSES - 1) % CLASSES),
        Action::CycleLoss => set_options(app, |o| {
            o.objective = match o.objective {
                Objective::Naive => Objective::Log,
                Objective::Log => Objective::Logit,
                Objective::Logit => Objective::Naive,
            }
        }),
        Action::ToggleStepKind => set_options(app, |o| {
            o.step = match o.step {
                StepKind::Raw => StepKind::Normalized,
                StepKind::Normalized => StepKind::Raw,
            }
        }),
        Action::InvLrUp => set_options(app, |o| o.lr = (o.lr * 2.0).min(100.0)),
        Action::InvLrDown => set_options(app, |o| o.lr = (o.lr / 2.0).max(1e-5)),
        Action::RunPause if app.inversion.running => {
            app.inversion.running = false;
            Some(Command::Invert(vec![InvRequest::Pause]))
        }
        Action::RunPause => drive_inversion(app, InvRequest::Run),
        Action::SingleStep => drive_inversion(app, InvRequest::Step),
        Action::ResetInversion => {
            let image = app.inversion.image;
            set_source(app, image)
        }
        Action::Snapshot => snapshot_request(app),
    }
}

fn go(app: &mut App, tab: Tab) -> Option<Command> {
    app.tab = tab;
    None
}

fn ready_data(app: &mut App) -> Option<Arc<Dataset>> {
    match &app.data {
        DataState::Ready(d) => Some(d.clone()),
        DataState::Loading => {
            app.status = "the data set is still loading".into();
            None
        }
        DataState::Failed(e) => {
            app.status = format!("no data set: {e}");
            None
        }
    }
}

/// Steps through the source: test images, or noise seeds.
fn browse(app: &mut App, delta: isize) -> Option<Command> {
    match app.inversion.source {
        SourceKind::Test => {}
        SourceKind::Noise => {
            let inv = &mut app.inversion;
            inv.noise_seed = inv.noise_seed.wrapping_add_signed(delta as i64);
            let image = inv.image;
            return set_source(app, image);
        }
        SourceKind::Blank => {
            app.status = "the blank source has no variants (f switches the source)".into();
            return None;
        }
    }
    let n = app.dataset()?.test.len() as isize;
    if n > 0 {
        let image = (app.inversion.image as isize + delta).rem_euclid(n) as usize;
        return set_source(app, image);
    }
    None
}

/// A new source image: the current inversion is dropped (the next run starts from it).
fn set_source(app: &mut App, image: usize) -> Option<Command> {
    let was_running = app.inversion.running;
    app.inversion.image = image;
    app.inversion.clear();
    was_running.then(|| Command::Invert(vec![InvRequest::Pause]))
}

/// Applies a settings change to the inversion; a live one gets the new settings.
fn set_options(app: &mut App, f: impl Fn(&mut GradientOptions)) -> Option<Command> {
    let inv = &mut app.inversion;
    f(&mut inv.options);
    if inv.model == InvModel::Knn {
        // The k-NN inverter takes its settings at the start: begin again with them.
        let image = inv.image;
        return set_source(app, image);
    }
    inv.stopped = None;
    inv.active
        .then(|| Command::Invert(vec![InvRequest::SetOptions(inv.options.clone())]))
}

/// Requests that (re)start the inversion from the source image, or why it cannot start.
fn start_inversion(app: &mut App) -> Result<Vec<InvRequest>, String> {
    let data = app
        .dataset()
        .cloned()
        .ok_or("the data set is still loading")?;
    let start = app.source_pixels().ok_or("the test split is empty")?;
    let inv = &app.inversion;
    let model = match inv.model {
        InvModel::Cnn => ModelSpec::Cnn {
            model_dir: app
                .training
                .run_dir
                .clone()
                .ok_or("no trained model yet: train one on the Training tab (1, then s)")?,
            device: app.device.clone(),
        },
        InvModel::Knn => {
            app.status = format!(
                "k-NN: building the index over {} training images...",
                data.train.len()
            );
            ModelSpec::Knn {
                data: SharedData(data),
                k: inv.knn_k,
                pca_dims: inv.knn_pca_dims,
                index_seed: inv.knn_seed,
                settings: inv.knn.clone(),
            }
        }
    };
    let inv = &mut app.inversion;
    inv.clear();
    inv.id += 1;
    inv.active = true;
    Ok(vec![InvRequest::Reset {
        id: inv.id,
        model,
        start,
        options: inv.options.clone(),
    }])
}

/// Runs `then` on the current inversion, starting one first if there is none.
fn drive_inversion(app: &mut App, then: InvRequest) -> Option<Command> {
    let mut requests = Vec::new();
    if !app.inversion.active {
        match start_inversion(app) {
            Ok(r) => requests = r,
            Err(e) => {
                app.status = e;
                return None;
            }
        }
    }
    app.inversion.running = then == InvRequest::Run;
    requests.push(then);
    Some(Command::Invert(requests))
}

fn snapshot_request(app: &mut App) -> Option<Command> {
    let inv = &app.inversion;
    let Some(frame) = &inv.frame else {
        app.status = "nothing to export yet: Space runs the inversion".into();
        return None;
    };
    let o = &inv.options;
    let method = match inv.model {
        InvModel::Cnn if o.reg.any() => {
            format!("{}-{}-{}", o.objective.name(), o.step.name(), o.reg.tag())
        }
        InvModel::Cnn => format!("{}-{}", o.objective.name(), o.step.name()),
        InvModel::Knn => format!("k{}-mask{}", inv.knn_k, inv.knn.mask),
    };
    let name = snapshot::file_name(&[
        inv.model.name(),
        &app.source_tag(),
        &format!("to{}", o.target),
        &method,
        &format!("step{}", frame.step),
    ]);
    Some(Command::Invert(vec![InvRequest::Snapshot {
        dir: inv.snapshots.clone(),
        name,
        scale: inv.scale,
        strip: inv.strip,
    }]))
}

fn on_train_event(app: &mut App, event: TrainEvent) {
    let t = &mut app.training;
    match event {
        TrainEvent::Started {
            epochs,
            batches_per_epoch,
            from,
            ..
        } => {
            if t.job == JobState::Starting {
                t.job = JobState::Running;
            }
            // A resumed run starts again from its checkpoint: forget what came after it.
            t.history.retain(|m| m.epoch <= from.epoch);
            let resumed_at =
                from.epoch as f64 + from.batch as f64 / batches_per_epoch.max(1) as f64;
            t.loss_curve.retain(|p| p.0 <= resumed_at);
            t.acc_curve.retain(|p| p.0 <= resumed_at);
            t.run_epochs = epochs;
            t.position = from;
            t.progress = Some(Progress {
                epoch: from.epoch + 1,
                epochs,
                batch: from.batch,
                batches: batches_per_epoch,
                ..Progress::default()
            });
        }
        TrainEvent::Batch {
            epoch,
            batch,
            batches,
            loss,
            accuracy,
            images_per_second,
            eta_seconds,
            ..
        } => {
            t.position.batch = batch;
            t.progress = Some(Progress {
                epoch,
                epochs: t.run_epochs,
                batch,
                batches,
                images_per_second,
                eta_seconds,
            });
            let x = (epoch - 1) as f64 + batch as f64 / batches.max(1) as f64;
            push_point(&mut t.loss_curve, (x, loss));
            push_point(&mut t.acc_curve, (x, accuracy * 100.0));
        }
        TrainEvent::Epoch(m) => {
            t.position = Position {
                epoch: m.epoch,
                batch: 0,
            };
            t.history.retain(|h| h.epoch < m.epoch);
            if t.job == JobState::Attached && m.epoch >= t.run_epochs {
                t.progress = None;
                app.status = format!(
                    "the attached run finished {} epochs: test accuracy {:.2}%",
                    m.epoch,
                    m.test_accuracy * 100.0
                );
            }
            t.history.push(m);
        }
        TrainEvent::Checkpoint { path } => {
            app.status = format!("checkpoint saved: {}", path.display());
        }
        TrainEvent::Cancelled { at } if t.job == JobState::Attached => {
            t.position = at;
            t.progress = None;
            app.status = format!(
                "the attached run stopped at epoch {} batch {}; classgen train --resume continues it",
                at.epoch + 1,
                at.batch
            );
        }
        TrainEvent::Cancelled { at } => {
            t.position = at;
            app.status = format!(
                "stopped at epoch {} batch {}; checkpoint kept, r resumes",
                at.epoch + 1,
                at.batch
            );
        }
    }
}

/// Appends a point, halving the curve's resolution when it grows past [`MAX_CURVE_POINTS`].
fn push_point(curve: &mut Vec<(f64, f64)>, point: (f64, f64)) {
    curve.push(point);
    if curve.len() > MAX_CURVE_POINTS {
        let mut i = 0;
        curve.retain(|_| {
            i += 1;
            i % 2 == 0
        });
    }
}

/// What a training key says while attached to another process's run.
fn attached_notice(app: &App) -> String {
    let dir = app
        .training
        .run_dir
        .as_ref()
        .map(|d| d.display().to_string());
    format!(
        "attached: this dashboard only watches {}; the process that runs it starts and stops it",
        dir.unwrap_or_default()
    )
}

/// Switches to the next data set (mnist, fashion) when nothing uses the current one.
fn cycle_dataset(app: &mut App) -> Option<Command> {
    if app.training_busy() || app.training.job == JobState::Attached {
        app.status = "the data set cannot change while a job uses it".into();
        return None;
    }
    if app.inversion.running {
        app.status = "pause the inversion first (Inversion tab)".into();
        return None;
    }
    let kind = match app.dataset_kind {
        DatasetKind::Mnist => DatasetKind::Fashion,
        DatasetKind::Fashion => DatasetKind::Mnist,
    };
    app.dataset_kind = kind;
    app.data = DataState::Loading;
    app.inversion.image = 0;
    app.inversion.clear();
    app.status = format!("loading {kind}...");
    Some(Command::LoadData(kind))
}

/// Starts (or resumes: finished runs are reused) the study `[ablation]` describes.
fn start_ablation(app: &mut App) -> Option<Command> {
    if app.training_busy() {
        app.status = "a training or ablation job is running: stop it first".into();
        return None;
    }
    let data = ready_data(app)?;
    let a = &app.ablation;
    let variants: Result<Vec<ArchSpec>, String> = a
        .config
        .variants
        .iter()
        .map(|v| {
            app.training
                .archs
                .iter()
                .find(|s| &s.name == v)
                .cloned()
                .ok_or_else(|| format!("ablation.variants: unknown architecture '{v}'"))
        })
        .collect();
    let variants = match variants {
        Ok(v) => v,
        Err(e) => {
            app.status = e;
            return None;
        }
    };
    let mut recipe = a.recipe.clone();
    recipe.epochs = a.config.epochs;
    let seeds: Vec<u64> = (0..a.config.seeds as u64)
        .map(|i| recipe.seed.wrapping_add(i))
        .collect();
    let a = &mut app.ablation;
    a.job = JobState::Starting;
    a.run = Some(AblationRun {
        order: a.config.variants.clone(),
        seeds: seeds.len(),
        total: variants.len() * seeds.len(),
        ..AblationRun::default()
    });
    app.status = "starting the ablation study...".into();
    Some(Command::StartAblation {
        variants,
        seeds,
        recipe,
        data,
    })
}

fn on_ablation_event(app: &mut App, event: AblationEvent) {
    let a = &mut app.ablation;
    if a.job == JobState::Starting {
        a.job = JobState::Running;
    }
    let Some(run) = &mut a.run else {
        return;
    };
    match event {
        AblationEvent::Planned { dir, runs, done } => {
            app.status = format!("study {}: {runs} runs, {done} already done", dir.display());
            run.dir = Some(dir);
            run.total = runs;
        }
        AblationEvent::Reused(r) | AblationEvent::RunFinished(r) => {
            run.current = None;
            run.finished += 1;
            run.results
                .retain(|o| (&o.variant, o.seed) != (&r.variant, r.seed));
            run.results.push(r);
            run.rows = crate::ablation::table(&run.results, &run.order, "seed");
        }
        AblationEvent::RunStarted { variant, seed } => {
            run.current = Some((variant, seed, Progress::default()));
        }
        AblationEvent::Train { progress, .. } => {
            let Some((_, _, p)) = &mut run.current else {
                return;
            };
            match progress {
                TrainEvent::Started {
                    epochs,
                    batches_per_epoch,
                    ..
                } => {
                    p.epochs = epochs;
                    p.batches = batches_per_epoch;
                    p.epoch = 1;
                }
                TrainEvent::Batch {
                    epoch,
                    batch,
                    batches,
                    images_per_second,
                    eta_seconds,
                    ..
                } => {
                    p.epoch = epoch;
                    p.batch = batch;
                    p.batches = batches;
                    p.images_per_second = images_per_second;
                    p.eta_seconds = eta_seconds;
                }
                TrainEvent::Epoch(m) => {
                    p.epoch = m.epoch + 1;
                    p.batch = 0;
                }
                TrainEvent::Checkpoint { .. } | TrainEvent::Cancelled { .. } => {}
            }
        }
        AblationEvent::Cancelled => {
            run.current = None;
            app.status = format!(
                "study cancelled after {}/{} runs; finished runs are kept, s resumes",
                run.finished, run.total
            );
        }
    }
}
