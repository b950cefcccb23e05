//! The Training tab: the next run's recipe (editable), the run in progress (or the active
//! model's saved run) as loss and accuracy curves with gauges, and the curves of the runs marked
//! on the Runs tab, each in its own colour.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Gauge, Paragraph};
use ratatui::Frame;

use super::{block, fmt_duration, gauge_ratio, key, JobState};
use crate::config::{Config, TrainConfig};
use crate::jobs::train::{TrainPlan, TrainResult};
use crate::model::train::{EpochMetrics, Outcome, Position, TrainEvent};
use crate::model::ArchSpec;
use crate::runs::RunInfo;
use crate::text::charts::{smooth, AxisSpec, ChartSpec, Series, PALETTE};
use crate::tui::app::{App, DataState, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::{Command, JobKind};

/// Most points kept per live curve; beyond it every other point is dropped.
pub const MAX_CURVE_POINTS: usize = 2000;

/// Live progress of a training job.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Progress {
    pub epoch: usize,
    pub epochs: usize,
    pub batch: usize,
    pub batches: usize,
    pub images_per_second: f64,
    pub eta_seconds: f64,
}

/// The Training tab's state.
#[derive(Debug, Clone)]
pub struct TrainingTab {
    /// The recipe the next start uses.
    pub recipe: TrainConfig,
    /// Architectures to choose from: the built-in ones, then config.toml's `[[arch]]`.
    pub archs: Vec<ArchSpec>,
    pub job: JobState,
    /// The run being trained (or followed) in this session.
    pub run: Option<RunInfo>,
    pub position: Position,
    /// Epochs the live run is set to reach.
    pub run_epochs: usize,
    /// Per-epoch metrics of the live run.
    pub history: Vec<EpochMetrics>,
    /// Each batch's training loss: (epoch as a fraction, loss), drawn smoothed.
    pub loss_curve: Vec<(f64, f64)>,
    /// Each batch's training accuracy: (epoch as a fraction, accuracy in %).
    pub acc_curve: Vec<(f64, f64)>,
    pub progress: Option<Progress>,
    /// How the charts are drawn: log loss axis, smoothing, cursor.
    pub view: ChartView,
    /// A resume that makes a finished run longer, waiting for a second `r`.
    pub confirm_extend: Option<std::path::PathBuf>,
}

/// Chart settings of the Training tab.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartView {
    /// The loss axis on a log scale.
    pub log_loss: bool,
    /// TensorBoard's smoothing weight of the per-batch curve (0 = raw).
    pub smoothing: f64,
    /// The epoch the cursor reads, if shown.
    pub cursor: Option<f64>,
}

impl Default for ChartView {
    fn default() -> Self {
        Self {
            log_loss: false,
            smoothing: 0.6,
            cursor: None,
        }
    }
}

/// The smoothing weights `w` steps through.
pub const SMOOTHING: [f64; 6] = [0.0, 0.6, 0.8, 0.9, 0.95, 0.99];

impl TrainingTab {
    /// The tab with `config`'s recipe for the next run.
    pub fn new(config: &Config) -> Self {
        Self {
            recipe: config.train.clone(),
            archs: ArchSpec::builtins()
                .into_iter()
                .map(|(a, _)| a)
                .chain(config.archs.iter().cloned())
                .collect(),
            job: JobState::Idle,
            run: None,
            position: Position::default(),
            run_epochs: config.train.epochs,
            history: Vec::new(),
            loss_curve: Vec::new(),
            acc_curve: Vec::new(),
            progress: None,
            view: ChartView::default(),
            confirm_extend: None,
        }
    }

    /// Whether this process trains now.
    pub fn busy(&self) -> bool {
        self.job.busy()
    }

    /// Forgets the live curves and progress (the run's saved history is drawn instead).
    pub fn clear_live(&mut self) {
        self.history.clear();
        self.loss_curve.clear();
        self.acc_curve.clear();
        self.position = Position::default();
        self.progress = None;
    }
}

/// Handles a key on the Training tab.
pub fn on_action(app: &mut App, action: Action) -> Vec<Command> {
    let job = app.training.job;
    if job == JobState::Attached
        && matches!(
            action,
            Action::Start | Action::ResumeTraining | Action::Cancel
        )
    {
        app.messages.info("attached: this dashboard only watches the run; the process that trains it starts and stops it");
        return Vec::new();
    }
    if action != Action::ResumeTraining {
        app.training.confirm_extend = None;
    }
    match action {
        Action::ResumeTraining => resume(app, None),
        _ => on_recipe_action(app, action).into_iter().collect(),
    }
}

/// Keys that start or stop a run, change the next run's recipe or the charts.
fn on_recipe_action(app: &mut App, action: Action) -> Option<Command> {
    let job = app.training.job;
    let edit = |app: &mut App, f: &dyn Fn(&mut TrainConfig, &[ArchSpec])| {
        if app.training.busy() {
            app.messages
                .info("stop the run first (x) to change the next run's settings");
        } else {
            let archs = app.training.archs.clone();
            f(&mut app.training.recipe, &archs);
        }
        None
    };
    match action {
        Action::Start | Action::ResumeTraining if app.heavy_job_running() => {
            app.messages
                .info("a job is running (a training, study, baselines or analysis): wait for it or cancel it");
            None
        }
        Action::Start => {
            ready_data(app)?;
            let t = &mut app.training;
            t.job = JobState::Starting;
            t.run = None;
            t.clear_live();
            t.run_epochs = t.recipe.epochs;
            app.messages.info("starting a new run...");
            Some(Command::StartTraining(Box::new(TrainPlan::New {
                recipe: app.training.recipe.clone(),
                custom_archs: app.settings.config.archs.clone(),
            })))
        }
        Action::Cancel if matches!(job, JobState::Running | JobState::Starting) => {
            app.training.job = JobState::Stopping;
            app.messages.info("stopping: saving a checkpoint...");
            Some(Command::Cancel(JobKind::Train))
        }
        Action::Cancel => None,
        Action::CycleDataset => super::super::update::cycle_dataset(app),
        Action::CycleArch => edit(app, &|c, archs| {
            let at = archs.iter().position(|a| a.name == c.arch);
            let next = at.map_or(0, |i| (i + 1) % archs.len().max(1));
            if let Some(a) = archs.get(next) {
                c.arch = a.name.clone();
            }
        }),
        Action::EpochsUp => edit(app, &|c, _| c.epochs = (c.epochs + 1).min(1000)),
        Action::EpochsDown => edit(app, &|c, _| c.epochs = c.epochs.saturating_sub(1).max(1)),
        Action::LrUp => edit(app, &|c, _| {
            c.learning_rate = (c.learning_rate * 2.0).min(1.0)
        }),
        Action::LrDown => edit(app, &|c, _| {
            c.learning_rate = (c.learning_rate / 2.0).max(1e-7)
        }),
        Action::SeedUp => edit(app, &|c, _| c.seed = c.seed.wrapping_add(1)),
        Action::SeedDown => edit(app, &|c, _| c.seed = c.seed.wrapping_sub(1)),
        Action::LogScale => {
            app.training.view.log_loss = !app.training.view.log_loss;
            None
        }
        Action::Smoothing => {
            let v = &mut app.training.view;
            let at = SMOOTHING
                .iter()
                .position(|&w| w >= v.smoothing)
                .unwrap_or(0);
            v.smoothing = SMOOTHING[(at + 1) % SMOOTHING.len()];
            app.messages
                .info(format!("per-batch curve smoothing {:.2}", v.smoothing));
            None
        }
        Action::CursorLeft | Action::CursorRight => {
            let epochs = shown_epochs(app).max(1) as f64;
            let v = &mut app.training.view;
            let step = (epochs / 30.0).ceil().max(1.0);
            let delta = if action == Action::CursorLeft {
                -step
            } else {
                step
            };
            v.cursor = match v.cursor {
                None if delta > 0.0 => Some(0.0),
                None => Some(epochs),
                Some(x) if x + delta < -1e-9 || x + delta > epochs + 1e-9 => {
                    app.messages.info("cursor off: [ and ] bring it back");
                    None
                }
                Some(x) => Some(x + delta),
            };
            None
        }
        _ => None,
    }
}

/// The run the tab shows: the one trained in this session, else the active model.
pub fn shown_run(app: &App) -> Option<&RunInfo> {
    app.training.run.as_ref().or(app.active.as_ref())
}

/// Epochs along the charts' x axis.
fn shown_epochs(app: &App) -> usize {
    let saved = shown_run(app)
        .and_then(|r| r.record.cnn.as_ref())
        .map_or(0, |c| c.epochs_planned.max(c.epochs));
    saved.max(app.training.run_epochs)
}

/// Resumes `run` (the shown run when `None`) to the epochs set; making a finished run longer
/// asks first (a second `r`). Its saved history is read, so the charts keep its first epochs.
pub fn resume(app: &mut App, run: Option<RunInfo>) -> Vec<Command> {
    let Some(run) = run.or_else(|| shown_run(app).cloned()) else {
        app.messages
            .info("no run to resume: s starts one, or pick one on the Runs tab (2)");
        return Vec::new();
    };
    if app.heavy_job_running() {
        app.messages.info(
            "a job is running (a training, study, baselines or analysis): wait for it or cancel it",
        );
        return Vec::new();
    }
    if run.record.kind != crate::runs::RunKind::Train {
        app.messages
            .info(format!("{} is not a training run", run.name));
        return Vec::new();
    }
    let epochs = app.training.recipe.epochs;
    let done = run.record.cnn.as_ref().map_or(0, |c| c.epochs);
    if run.record.state == crate::runs::RunState::Finished {
        if epochs <= done {
            app.messages.info(format!(
                "{} is finished at {done} epochs: raise the epochs (e) above {done} to train it longer",
                run.name
            ));
            return Vec::new();
        }
        if app.training.confirm_extend.as_ref() != Some(&run.dir) {
            app.messages.info(format!(
                "{} is finished at {done} epochs: r again trains it on to {epochs} (it stays one run, longer)",
                run.name
            ));
            app.training.confirm_extend = Some(run.dir.clone());
            return Vec::new();
        }
    }
    app.training.confirm_extend = None;
    if ready_data(app).is_none() {
        return Vec::new();
    }
    let mut commands = Vec::new();
    if app.runs.history(&run.dir).is_none() {
        commands.push(Command::LoadHistory(run.dir.clone()));
    }
    let t = &mut app.training;
    t.job = JobState::Starting;
    t.run = Some(run.clone());
    t.clear_live();
    app.messages
        .info(format!("resuming {} to {epochs} epochs...", run.name));
    commands.push(Command::StartTraining(Box::new(TrainPlan::Resume {
        run: Box::new(run),
        epochs: Some(epochs),
        device: None,
    })));
    commands
}

/// The data set, or why there is none (said on the status line).
pub fn ready_data(app: &mut App) -> Option<std::sync::Arc<crate::data::Dataset>> {
    match &app.data {
        DataState::Ready(d) => Some(d.clone()),
        DataState::Loading => {
            app.messages.info("the data set is still loading");
            None
        }
        DataState::Failed(e) => {
            let e = format!("no data set: {e}");
            app.messages.error(e);
            None
        }
    }
}

/// A training job started writing `run`.
pub fn on_started(app: &mut App, run: RunInfo) {
    app.messages
        .info(format!("training in {}", run.dir.display()));
    app.training.run = Some(run);
}

/// Folds a training event into the tab.
pub fn on_event(app: &mut App, event: TrainEvent) {
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
            batch_loss,
            batch_accuracy,
            images_per_second,
            eta_seconds,
            ..
        } => {
            // Each batch's own values (the epoch's running mean for logs that lack them), so
            // the curve does not jump where an epoch's mean starts again.
            let (loss, accuracy) = if batch_loss > 0.0 {
                (batch_loss, batch_accuracy)
            } else {
                (loss, accuracy)
            };
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
                app.messages.info(format!(
                    "the attached run finished {} epochs: test accuracy {:.2}%",
                    m.epoch,
                    m.test_accuracy * 100.0
                ));
            }
            t.history.push(m);
        }
        TrainEvent::Checkpoint { .. } => {}
        TrainEvent::Cancelled { at } if t.job == JobState::Attached => {
            t.position = at;
            t.progress = None;
            app.messages.info(format!(
                "the attached run stopped at epoch {} batch {}; classgen train --resume continues it",
                at.epoch + 1,
                at.batch
            ));
        }
        TrainEvent::Cancelled { at } => {
            t.position = at;
            app.messages.info(format!(
                "stopped at epoch {} batch {}; checkpoint kept, r resumes",
                at.epoch + 1,
                at.batch
            ));
        }
        TrainEvent::Notice { message } => app.messages.info(message),
    }
}

/// The training job ended: a finished run becomes the active model.
pub fn on_ended(app: &mut App, result: Result<TrainResult, String>) -> Vec<Command> {
    let t = &mut app.training;
    t.job = JobState::Idle;
    t.progress = None;
    let mut commands = vec![Command::RefreshRuns];
    match result {
        Err(e) => app.messages.error(format!("training failed: {e}")),
        Ok(result) => {
            t.run = Some(result.run.clone());
            if result.outcome == Outcome::Finished {
                if let Some(m) = result.meta.progress.history.last() {
                    app.messages.info(format!(
                        "finished {} epochs: test accuracy {:.2}%; {} is now the active model",
                        m.epoch,
                        m.test_accuracy * 100.0,
                        result.run.name
                    ));
                }
                commands.extend(super::runs::activate(app, result.run));
            }
        }
    }
    commands
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

/// Draws the Training tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let side_width = if area.width >= 120 { 40 } else { 34 };
    let [charts, side] =
        Layout::horizontal([Constraint::Min(40), Constraint::Length(side_width)]).areas(area);
    let [loss, acc] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    let (loss_chart, acc_chart) = charts_of(app);
    frame.render_widget(&loss_chart, loss);
    frame.render_widget(&acc_chart, acc);
    side_panel(frame, side, app);
}

/// The shown run's per-epoch history: what it saved before this session's live epochs, then
/// those (a resume keeps the epochs before it).
fn shown_history(app: &App) -> Vec<EpochMetrics> {
    let t = &app.training;
    let saved = shown_run(app)
        .and_then(|r| app.runs.history(&r.dir))
        .unwrap_or(&[]);
    let first_live = t.history.first().map(|m| m.epoch);
    saved
        .iter()
        .filter(|m| first_live.is_none_or(|f| m.epoch < f))
        .chain(&t.history)
        .cloned()
        .collect()
}

/// The loss and accuracy charts: the shown run as one set of lines (its smoothed per-batch
/// curve while this session trains it, its per-epoch train and test points), and the test lines
/// of the other runs marked on the Runs tab.
pub fn charts_of(app: &App) -> (ChartSpec<'_>, ChartSpec<'_>) {
    let t = &app.training;
    let history = shown_history(app);
    let shown = shown_run(app);
    let name = shown.map_or("this run".into(), |r| short_name(&r.name));
    let per_epoch = |f: &dyn Fn(&EpochMetrics) -> f64, h: &[EpochMetrics]| -> Vec<(f64, f64)> {
        h.iter().map(|m| (m.epoch as f64, f(m))).collect()
    };
    let mut loss_lines = Vec::new();
    let mut acc_lines = Vec::new();
    if !t.loss_curve.is_empty() {
        let w = t.view.smoothing;
        loss_lines.push(Series::line(
            format!("{name} batch"),
            smooth(&t.loss_curve, w),
            Color::Cyan,
        ));
        acc_lines.push(Series::line(
            format!("{name} batch"),
            smooth(&t.acc_curve, w),
            Color::Cyan,
        ));
    }
    for (label, color, loss_of, acc_of) in [
        (
            "train",
            Color::Green,
            (|m: &EpochMetrics| m.train_loss) as fn(&EpochMetrics) -> f64,
            (|m: &EpochMetrics| m.train_accuracy * 100.0) as fn(&EpochMetrics) -> f64,
        ),
        (
            "test",
            Color::Yellow,
            |m: &EpochMetrics| m.test_loss,
            |m: &EpochMetrics| m.test_accuracy * 100.0,
        ),
    ] {
        if history.is_empty() {
            continue;
        }
        loss_lines.push(Series::line(
            format!("{name} {label}"),
            per_epoch(&loss_of, &history),
            color,
        ));
        acc_lines.push(Series::line(
            format!("{name} {label}"),
            per_epoch(&acc_of, &history),
            color,
        ));
    }
    // The other marked runs: their test lines, one colour each.
    const COMPARE: [usize; 6] = [2, 4, 5, 7, 8, 6];
    let others = app
        .runs
        .compared()
        .into_iter()
        .filter(|(run, _)| shown.is_none_or(|s| s.dir != run.dir));
    for (i, (run, h)) in others.enumerate() {
        let color = PALETTE[COMPARE[i % COMPARE.len()]];
        let label = format!("{} test", short_name(&run.name));
        loss_lines.push(Series::line(
            label.clone(),
            per_epoch(&|m| m.test_loss, h),
            color,
        ));
        acc_lines.push(Series::line(
            label,
            per_epoch(&|m| m.test_accuracy * 100.0, h),
            color,
        ));
    }
    let epochs = loss_lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(shown_epochs(app).max(1) as f64, f64::max)
        .ceil();
    let values = |lines: &[Series]| -> Vec<f64> {
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .collect()
    };
    let loss_values = values(&loss_lines);
    let loss_max = loss_values.iter().copied().fold(0.0f64, f64::max);
    let loss_y = if t.view.log_loss {
        let low = loss_values
            .iter()
            .copied()
            .filter(|&v| v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let low = if low.is_finite() { low * 0.8 } else { 1e-3 };
        AxisSpec::new("loss", [low, (loss_max * 1.25).max(low * 10.0)]).log(true)
    } else {
        AxisSpec::new(
            "loss",
            [0.0, if loss_max > 0.0 { loss_max * 1.05 } else { 1.0 }],
        )
    };
    let acc_min = values(&acc_lines).into_iter().fold(100.0f64, f64::min);
    let acc_bottom = ((acc_min / 10.0).floor() * 10.0).clamp(0.0, 90.0);
    let x = AxisSpec::new("epoch", [0.0, epochs]).integer();
    let keys = |a| key(app, Tab::Training, a);
    let loss_title = format!(
        "Loss ({} log, {} smooth {:.2})",
        keys(Action::LogScale),
        keys(Action::Smoothing),
        t.view.smoothing
    );
    let loss_chart =
        ChartSpec::new(loss_title, x.clone(), loss_y, loss_lines).cursor(t.view.cursor);
    let acc_chart = ChartSpec::new(
        "Accuracy %",
        x,
        AxisSpec::new("accuracy %", [acc_bottom, 100.0]),
        acc_lines,
    )
    .cursor(t.view.cursor);
    // The two charts draw the same lines: one legend (the loss chart's) says which is which,
    // unless the cursor asks each chart for its values.
    let acc_chart = if t.view.cursor.is_none() {
        acc_chart.without_legend()
    } else {
        acc_chart
    };
    (loss_chart, acc_chart)
}

/// `20261201-101500-train` reads as `1201-101500`, `20261201-101500-train-2` as `1201-101500-2`:
/// month, day and time to the second, and the suffix that tells runs of one second apart.
pub fn short_name(name: &str) -> String {
    let parts: Vec<&str> = name.split('-').collect();
    match parts.as_slice() {
        [date, time, rest @ ..] if date.len() == 8 && time.len() == 6 => {
            let suffix = rest
                .iter()
                .skip(1)
                .map(|p| format!("-{p}"))
                .collect::<String>();
            format!("{}-{time}{suffix}", &date[4..])
        }
        _ => name.chars().take(16).collect(),
    }
}

fn side_panel(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.training;
    let [recipe, progress] =
        Layout::vertical([Constraint::Length(9), Constraint::Min(0)]).areas(area);
    let c = &t.recipe;
    let k = |a| key(app, Tab::Training, a);
    let pair = |a, b| format!("({}/{})", k(a), k(b));
    let lines: Vec<Line> = vec![
        format!("arch      {}  ({})", c.arch, k(Action::CycleArch)).into(),
        format!(
            "data      {}  ({})",
            app.dataset_kind,
            k(Action::CycleDataset)
        )
        .into(),
        format!(
            "epochs    {}   {}",
            c.epochs,
            pair(Action::EpochsUp, Action::EpochsDown)
        )
        .into(),
        format!(
            "lr        {:.2e} {}",
            c.learning_rate,
            pair(Action::LrUp, Action::LrDown)
        )
        .into(),
        format!(
            "seed      {}   {}",
            c.seed,
            pair(Action::SeedUp, Action::SeedDown)
        )
        .into(),
        format!("batch     {}  {:?}", c.batch_size, c.schedule).into(),
        format!(
            "{} start  {} resume  {} stop",
            k(Action::Start),
            k(Action::ResumeTraining),
            k(Action::Cancel)
        )
        .dim()
        .into(),
    ];
    frame.render_widget(Paragraph::new(lines).block(block("Next run")), recipe);
    let panel = block("Run");
    let inner = panel.inner(progress);
    frame.render_widget(panel, progress);
    let [epoch_gauge, batch_gauge, info] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let (epoch, epochs, batch, batches) = match &t.progress {
        Some(p) => (p.epoch.saturating_sub(1), p.epochs, p.batch, p.batches),
        None => (t.position.epoch, t.run_epochs, t.position.batch, 0),
    };
    frame.render_widget(
        Gauge::default()
            .gauge_style(Style::default().fg(Color::Green))
            .ratio(gauge_ratio(epoch, epochs))
            .label(format!("epochs {epoch}/{epochs}")),
        epoch_gauge,
    );
    frame.render_widget(
        Gauge::default()
            .gauge_style(Style::default().fg(Color::Cyan))
            .ratio(gauge_ratio(batch, batches))
            .label(if batches > 0 {
                format!("batch {batch}/{batches}")
            } else {
                "batch -".into()
            }),
        batch_gauge,
    );
    frame.render_widget(Paragraph::new(run_info(app)), info);
}

fn run_info(app: &App) -> Vec<Line<'static>> {
    let t = &app.training;
    let state = match (t.job, &t.run) {
        (JobState::Idle, Some(_)) => "saved",
        (JobState::Idle, None) => "none (s starts)",
        (job, _) => job.label(),
    };
    let mut lines: Vec<Line> = vec![format!("state     {state}").into()];
    if let Some(run) = &t.run {
        lines.push(format!("run       {}", run.name).into());
    }
    if let Some(p) = &t.progress {
        lines.push(format!("images/s  {:.0}", p.images_per_second).into());
        lines.push(format!("ETA       {}", fmt_duration(p.eta_seconds)).into());
    }
    if let Some(m) = t.history.last() {
        lines.push(format!("epoch {}: test {:.2}%", m.epoch, m.test_accuracy * 100.0).into());
        lines.push(format!("          {:.0} img/s", m.images_per_second).into());
    }
    let compared = app.runs.marked.len();
    if compared > 0 {
        lines.push(format!("comparing {compared} marked run(s)").dim().into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_shorten_to_month_day_time() {
        assert_eq!(short_name("20261201-101500-train"), "1201-101500");
        assert_eq!(short_name("20261201-101500-train-2"), "1201-101500-2");
        assert_eq!(short_name("mine"), "mine");
    }
}
