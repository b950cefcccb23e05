//! The Ablation tab: the study `[ablation]` describes (variants x seeds), started, resumed
//! (finished runs are reused) and cancelled from the keyboard; overall and per-run progress, and
//! the variant table filling in, the best and the significant rows highlighted. A saved study
//! on the same data shows on start.

use std::path::PathBuf;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Gauge, Paragraph, Row, Table};
use ratatui::Frame;

use super::training::Progress;
use super::{fmt_duration, gauge_ratio, key, placeholder, JobState};
use crate::ablation::{RunResult, VariantRow};
use crate::config::{AblationConfig, Config, TrainConfig};
use crate::jobs::ablate::{AblationEvent, AblationPlan, AblationResult};
use crate::model::train::TrainEvent;
use crate::model::ArchSpec;
use crate::runs::RunInfo;
use crate::tui::app::{App, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::{Command, JobKind};

/// A study shown: live, or saved.
#[derive(Debug, Clone, Default)]
pub struct Study {
    pub dir: Option<PathBuf>,
    /// Variant x seed runs planned, and finished so far (reused ones included).
    pub total: usize,
    pub finished: usize,
    /// Variants in table order, and the seeds each is trained with.
    pub order: Vec<String>,
    pub seeds: usize,
    /// Runs trained side by side (from the plan; 1 for a saved study).
    pub at_once: usize,
    /// The runs in flight: variant, seed, and progress of each, in the order they started.
    pub in_flight: Vec<(String, u64, Progress)>,
    pub results: Vec<RunResult>,
    /// Cells other processes are training now (a study followed from its files).
    pub elsewhere: usize,
    /// The table of `results` (mean ± std, delta and Welch's test against `seed`).
    pub rows: Vec<VariantRow>,
}

impl Study {
    /// A saved study as the tab shows it.
    pub fn saved(run: &RunInfo, result: &AblationResult) -> Self {
        let order: Vec<String> = result.rows.iter().map(|r| r.variant.clone()).collect();
        Self {
            dir: Some(run.dir.clone()),
            // Studies saved before `cells` was kept: every row with every seed.
            total: match result.cells {
                0 => order.len() * result.seeds.len(),
                cells => cells,
            },
            finished: result.runs.len(),
            order,
            seeds: result.seeds.len(),
            at_once: 1,
            in_flight: Vec::new(),
            results: result.runs.clone(),
            rows: result.rows.clone(),
            elsewhere: 0,
        }
    }
}

/// The Ablation tab's state.
#[derive(Debug, Clone)]
pub struct AblationTab {
    /// `[ablation]` of the config (variants, seeds, epochs).
    pub config: AblationConfig,
    /// `[train]` of the config: the recipe of every run (as `classgen ablate` uses it, so both
    /// find the same study).
    pub recipe: TrainConfig,
    pub job: JobState,
    pub study: Option<Study>,
}

impl AblationTab {
    /// The tab for `config`'s `[ablation]` and `[train]`.
    pub fn new(config: &Config) -> Self {
        Self {
            config: config.ablation.clone(),
            recipe: config.train.clone(),
            job: JobState::Idle,
            study: None,
        }
    }

    /// Whether a study runs.
    pub fn busy(&self) -> bool {
        self.job.busy()
    }
}

/// Handles a key on the Ablation tab.
pub fn on_action(app: &mut App, action: Action) -> Option<Command> {
    match action {
        Action::Start => start(app),
        Action::Cancel if app.ablation.job == JobState::Running => {
            app.ablation.job = JobState::Stopping;
            app.messages
                .info("cancelling the study: the run in flight is dropped...");
            Some(Command::Cancel(JobKind::Ablate))
        }
        _ => None,
    }
}

/// Starts (or resumes: finished runs are reused) the study `[ablation]` describes.
fn start(app: &mut App) -> Option<Command> {
    if app.heavy_job_running() {
        app.messages
            .info("a job is running: wait for it or cancel it (x on its tab)");
        return None;
    }
    super::training::ready_data(app)?;
    let a = &app.ablation;
    let variants: Result<Vec<ArchSpec>, String> = a
        .config
        .variants
        .iter()
        .map(|v| ArchSpec::by_name(v, &app.settings.config.archs))
        .collect();
    let variants = match variants {
        Ok(v) => v,
        Err(e) => {
            app.messages.error(format!("ablation.variants: {e}"));
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
    a.study = Some(Study {
        order: a.config.variants.clone(),
        seeds: seeds.len(),
        total: variants.len() * seeds.len(),
        ..Study::default()
    });
    app.messages.info("starting the ablation study...");
    let runs_at_once = app.ablation.config.runs_at_once;
    Some(Command::StartAblation(AblationPlan {
        variants,
        seeds,
        train: recipe,
        runs_at_once,
    }))
}

/// Folds an ablation event into the tab.
pub fn on_event(app: &mut App, event: AblationEvent) {
    let a = &mut app.ablation;
    if a.job == JobState::Starting {
        a.job = JobState::Running;
    }
    let Some(run) = &mut a.study else {
        return;
    };
    match event {
        AblationEvent::Planned(plan) => {
            app.messages.info(format!(
                "study {}: {}",
                plan.dir.display(),
                crate::text::results::study_plan(&plan)
            ));
            run.total = plan.runs;
            run.at_once = plan.at_once;
            run.dir = Some(plan.dir);
        }
        AblationEvent::Reused(r) | AblationEvent::RunFinished(r) => {
            run.in_flight
                .retain(|(v, s, _)| (v, *s) != (&r.variant, r.seed));
            run.finished += 1;
            run.results
                .retain(|o| (&o.variant, o.seed) != (&r.variant, r.seed));
            run.results.push(r);
            run.rows = crate::ablation::table(&run.results, &run.order, "seed");
        }
        AblationEvent::RunStarted { variant, seed } => {
            run.in_flight.push((variant, seed, Progress::default()));
        }
        AblationEvent::Train {
            variant,
            seed,
            progress,
        } => {
            let Some((_, _, p)) = run
                .in_flight
                .iter_mut()
                .find(|(v, s, _)| (v, *s) == (&variant, seed))
            else {
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
                _ => {}
            }
        }
        AblationEvent::Cancelled => {
            run.in_flight.clear();
            app.messages.info(format!(
                "study cancelled after {}/{} runs; finished runs are kept, s resumes",
                run.finished, run.total
            ));
        }
        AblationEvent::Notice { message } => app.messages.info(message),
    }
}

/// The study ended.
pub fn on_ended(app: &mut App, result: Result<AblationResult, String>) -> Vec<Command> {
    let a = &mut app.ablation;
    a.job = JobState::Idle;
    if let Some(run) = &mut a.study {
        run.in_flight.clear();
    }
    match result {
        Err(e) => app.messages.error(format!("ablation failed: {e}")),
        Ok(r) => {
            if let Some(study) = a.study.as_ref().filter(|s| s.finished >= s.total) {
                let dir = study.dir.as_ref().map(|d| d.display().to_string());
                app.messages.info(format!(
                    "study finished: {} runs in {}",
                    r.runs.len(),
                    dir.unwrap_or_default()
                ));
            }
        }
    }
    vec![Command::RefreshRuns]
}

/// Draws the Ablation tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(run) = &app.ablation.study else {
        let a = &app.ablation;
        frame.render_widget(
            placeholder(
                "Ablation",
                format!(
                    "No study on this data yet. {} trains {} variants x {} seeds x {} epochs ([ablation] in config.toml: {}); finished runs are kept, so a cancelled study resumes.",
                    key(app, Tab::Ablation, Action::Start),
                    a.config.variants.len(),
                    a.config.seeds,
                    a.config.epochs,
                    a.config.variants.join(", ")
                ),
            ),
            area,
        );
        return;
    };
    // Borders, the directory, the overall gauge and a line per run that can be in flight.
    let lines = 4 + run.at_once.max(run.in_flight.len()).max(1) as u16;
    let [head, table] =
        Layout::vertical([Constraint::Length(lines), Constraint::Min(0)]).areas(area);
    progress(frame, head, app, run);
    variants(frame, table, run);
}

fn progress(frame: &mut Frame, area: Rect, app: &App, run: &Study) {
    let state = match app.ablation.job {
        JobState::Starting => "starting...".to_string(),
        JobState::Running => "running".into(),
        JobState::Stopping => "cancelling...".into(),
        JobState::Idle | JobState::Attached if run.finished >= run.total => "finished".into(),
        JobState::Idle | JobState::Attached if run.elsewhere > 0 => format!(
            "{} cell{} training in other processes",
            run.elsewhere,
            if run.elsewhere == 1 { "" } else { "s" }
        ),
        JobState::Idle | JobState::Attached => "stopped (s resumes)".into(),
    };
    let block = Block::bordered()
        .title(format!(" Ablation study: {state} "))
        .title_bottom(format!(
            " {} start/resume  {} cancel ",
            key(app, Tab::Ablation, Action::Start),
            key(app, Tab::Ablation, Action::Cancel)
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [dir, overall, runs] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);
    let dir_text = run
        .dir
        .as_ref()
        .map_or("(planning...)".to_string(), |d| d.display().to_string());
    frame.render_widget(
        Paragraph::new(format!(
            "{dir_text}  ({} variants x {} seeds)",
            // A study followed from its files lists only the variants with finished cells.
            run.order.len().max(run.total / run.seeds.max(1)),
            run.seeds
        )),
        dir,
    );
    frame.render_widget(
        Gauge::default()
            .gauge_style(Style::default().fg(Color::Green))
            .ratio(gauge_ratio(run.finished, run.total))
            .label(format!("runs {}/{}", run.finished, run.total)),
        overall,
    );
    if run.in_flight.is_empty() {
        frame.render_widget(Paragraph::new("no run in flight").dim(), runs);
    }
    let texts: Vec<String> = run
        .in_flight
        .iter()
        .map(|(variant, seed, p)| {
            format!(
                "{variant} seed {seed}: epoch {}/{}  {:.0} img/s  ETA {}",
                p.epoch,
                p.epochs,
                p.images_per_second,
                fmt_duration(p.eta_seconds)
            )
        })
        .collect();
    // The texts in one column, as wide as the longest; the gauges share the rest.
    let width = texts
        .iter()
        .map(|t| t.chars().count() + 1)
        .max()
        .unwrap_or(0) as u16;
    let width = width.min(runs.width.saturating_sub(12));
    let lines = Layout::vertical(vec![Constraint::Length(1); texts.len()]).split(runs);
    for (((_, _, p), text), &line) in run.in_flight.iter().zip(texts).zip(lines.iter()) {
        let [left, bar] =
            Layout::horizontal([Constraint::Length(width), Constraint::Min(0)]).areas(line);
        frame.render_widget(Paragraph::new(text), left);
        let done = p.epoch.saturating_sub(1) * p.batches + p.batch;
        frame.render_widget(
            Gauge::default()
                .gauge_style(Style::default().fg(Color::Cyan))
                .ratio(gauge_ratio(done, p.epochs * p.batches))
                .label(format!("batch {}/{}", p.batch, p.batches)),
            bar,
        );
    }
}

fn variants(frame: &mut Frame, area: Rect, run: &Study) {
    let best = run
        .rows
        .iter()
        .map(|r| r.accuracy.mean)
        .fold(f64::NEG_INFINITY, f64::max);
    let header = Row::new([
        "variant",
        "params",
        "seeds",
        "accuracy %",
        "delta",
        "p",
        "verdict",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = run.order.iter().map(|variant| {
        let done = run.results.iter().filter(|r| &r.variant == variant).count();
        let training = run.in_flight.iter().any(|(v, _, _)| v == variant);
        let seeds = format!("{done}/{}{}", run.seeds, if training { " *" } else { "" });
        match run.rows.iter().find(|r| &r.variant == variant) {
            Some(r) => row(r, seeds, r.accuracy.mean >= best),
            None => Row::new([
                Cell::from(variant.clone()),
                Cell::from("-"),
                Cell::from(seeds),
                Cell::from(if training { "training..." } else { "-" }),
                Cell::from(""),
                Cell::from(""),
                Cell::from(""),
            ])
            .style(Style::default().fg(Color::DarkGray)),
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(14),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Min(0),
        ],
    )
    .header(header)
    .block(
        Block::bordered()
            .title(" Variants ")
            .title_bottom(Line::from(vec![
                " best ".green().bold(),
                " significant (p < 0.05 vs seed) ".yellow(),
                " * training ".into(),
            ])),
    );
    frame.render_widget(table, area);
}

fn row(r: &VariantRow, seeds: String, best: bool) -> Row<'static> {
    let a = &r.accuracy;
    let significant = r.welch.is_some_and(|w| w.p < 0.05);
    let style = if best {
        Style::default()
            .fg(Color::Green)
            .add_modifier(Modifier::BOLD)
    } else if significant {
        Style::default().fg(Color::Yellow)
    } else {
        Style::default()
    };
    Row::new([
        r.variant.clone(),
        r.params.to_string(),
        seeds,
        format!("{:.2} ± {:.2}", a.mean * 100.0, a.std * 100.0),
        r.delta.map_or("-".into(), |d| format!("{:+.2}", d * 100.0)),
        r.welch.map_or("-".into(), |w| format!("{:.3}", w.p)),
        r.verdict.clone(),
    ])
    .style(style)
}
