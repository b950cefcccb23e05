//! `update`: folds one message (a key, a job event) into the [`App`] state. Pure: the effects it
//! needs (start or stop a job) come back as a [`Command`] for the event loop to carry out.

use std::path::PathBuf;
use std::sync::Arc;

use ratatui::crossterm::event::{KeyEvent, KeyEventKind};

use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::model::checkpoint::CheckpointMeta;
use crate::model::train::{Position, TrainEvent};

use super::app::{App, DataState, JobState, Progress, Tab, MAX_CURVE_POINTS};
use super::keys::{self, Action};
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
}

/// Applies `msg` to `app`; returns the effect to run, if any.
pub fn update(app: &mut App, msg: Msg) -> Option<Command> {
    match msg {
        Msg::Key(key) => on_key(app, &key),
        Msg::DataLoaded(Ok((data, notice))) => {
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
        Msg::Terminate => {
            app.quit = true;
            None
        }
    }
}

fn on_key(app: &mut App, key: &KeyEvent) -> Option<Command> {
    if key.kind != KeyEventKind::Press {
        return None;
    }
    let action = keys::action_for(app.tab, key);
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
            let data = app.dataset()?;
            let test = &data.test;
            let current = app.inversion.image.min(test.len().saturating_sub(1));
            let wanted = (*test.labels.get(current)? + 1) % 10;
            let n = test.len();
            app.inversion.image = (1..=n)
                .map(|d| (current + d) % n)
                .find(|&i| test.labels[i] == wanted)
                .unwrap_or(current);
            None
        }
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

fn browse(app: &mut App, delta: isize) -> Option<Command> {
    let n = app.dataset()?.test.len() as isize;
    if n > 0 {
        app.inversion.image = (app.inversion.image as isize + delta).rem_euclid(n) as usize;
    }
    None
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
            t.history.push(m);
        }
        TrainEvent::Checkpoint { path } => {
            app.status = format!("checkpoint saved: {}", path.display());
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
