//! The Baselines tab: choose the classical models, fit and score them next to the active CNN,
//! watch the table fill in model by model; refit one; the result is saved and shown again on
//! the next start.

use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Cell, List, ListItem, ListState, Paragraph, Row, Table};
use ratatui::Frame;

use super::{block, fmt_duration, key, step_cursor, JobState};
use crate::baselines::BaselineKind;
use crate::config::Config;
use crate::jobs::baselines::{BaselinesEvent, BaselinesResult, Row as ResultRow};
use crate::runs::RunInfo;
use crate::text::{format, results};
use crate::tui::app::{App, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::{Command, JobKind};

/// Every baseline, in the order the tab lists them.
pub const MODELS: [BaselineKind; 5] = [
    BaselineKind::Logreg,
    BaselineKind::Knn,
    BaselineKind::Tree,
    BaselineKind::Forest,
    BaselineKind::Svm,
];

/// Where one model of the job in flight stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Queued,
    Fitting(Instant),
    Predicting(Instant),
    Done,
}

/// The Baselines tab's state.
#[derive(Debug, Clone)]
pub struct BaselinesTab {
    /// Which models `s` fits.
    pub chosen: Vec<BaselineKind>,
    pub cursor: usize,
    pub job: JobState,
    /// The result shown: saved, or filling in.
    pub result: Option<(Option<RunInfo>, BaselinesResult)>,
    /// The models of the job in flight and where each stands.
    pub steps: Vec<(String, Step)>,
}

impl BaselinesTab {
    /// The tab with `[baselines] models` chosen.
    pub fn new(config: &Config) -> Self {
        Self {
            chosen: config.baselines.models.clone(),
            cursor: 0,
            job: JobState::Idle,
            result: None,
            steps: Vec::new(),
        }
    }

    /// Whether a baselines job runs.
    pub fn busy(&self) -> bool {
        self.job.busy()
    }
}

/// Handles a key on the Baselines tab.
pub fn on_action(app: &mut App, action: Action) -> Option<Command> {
    let tab = &mut app.baselines;
    match action {
        Action::Up => tab.cursor = step_cursor(tab.cursor, -1, MODELS.len()),
        Action::Down => tab.cursor = step_cursor(tab.cursor, 1, MODELS.len()),
        Action::Toggle => {
            let kind = MODELS[tab.cursor];
            if let Some(i) = tab.chosen.iter().position(|&k| k == kind) {
                tab.chosen.remove(i);
            } else {
                tab.chosen.push(kind);
                tab.chosen
                    .sort_by_key(|k| MODELS.iter().position(|m| m == k));
            }
        }
        Action::Start | Action::Rerun => {
            if app.heavy_job_running() {
                app.messages
                    .info("a job is running: wait for it or cancel it (x on its tab)");
                return None;
            }
            super::training::ready_data(app)?;
            let tab = &mut app.baselines;
            let (models, carry) = if action == Action::Rerun {
                let carry = tab.result.as_ref().and_then(|(run, _)| run.clone());
                (vec![MODELS[tab.cursor]], carry)
            } else {
                (tab.chosen.clone(), None)
            };
            if models.is_empty() && app.active.is_none() {
                app.messages
                    .info("choose a model first (Space), or make a CNN active (Runs tab)");
                return None;
            }
            let tab = &mut app.baselines;
            tab.job = JobState::Starting;
            tab.steps = models
                .iter()
                .map(|m| (m.to_string(), Step::Queued))
                .chain(app.active.iter().map(|_| ("cnn".to_string(), Step::Queued)))
                .collect();
            if carry.is_none() {
                tab.result = None;
            }
            app.messages.info(format!(
                "baselines: fitting {} on {} training images...",
                models
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                app.dataset().map_or(0, |d| d.train.len())
            ));
            return Some(Command::StartBaselines {
                models,
                cnn: app.active.clone(),
                carry,
            });
        }
        Action::Cancel if tab.busy() => {
            tab.job = JobState::Stopping;
            app.messages
                .info("cancelling the baselines after the model in flight...");
            return Some(Command::Cancel(JobKind::Baselines));
        }
        _ => {}
    }
    None
}

fn set_step(tab: &mut BaselinesTab, model: &str, step: Step) {
    if let Some(s) = tab.steps.iter_mut().find(|(m, _)| m == model) {
        s.1 = step;
    }
}

/// Folds a baselines event into the tab.
pub fn on_event(app: &mut App, event: BaselinesEvent) {
    let tab = &mut app.baselines;
    if tab.job == JobState::Starting {
        tab.job = JobState::Running;
    }
    match event {
        BaselinesEvent::Planned { .. } => {}
        BaselinesEvent::Fitting { model, .. } => {
            set_step(tab, &model, Step::Fitting(Instant::now()))
        }
        BaselinesEvent::Predicting { model, .. } => {
            set_step(tab, &model, Step::Predicting(Instant::now()))
        }
        BaselinesEvent::Scored(row) | BaselinesEvent::Carried(row) => {
            set_step(tab, &row.model, Step::Done);
            // The job's run (and with it the result) is known before its first event.
            if let Some((_, result)) = &mut tab.result {
                result.rows.retain(|r| r.model != row.model);
                result.rows.push(row);
            }
        }
        BaselinesEvent::Notice { message } => app.messages.info(message),
    }
}

/// A baselines job started writing `run`.
pub fn on_started(app: &mut App, run: RunInfo) {
    let tab = &mut app.baselines;
    if let Some(result) = &mut tab.result {
        result.0 = Some(run);
    } else {
        tab.result = Some((
            Some(run.clone()),
            BaselinesResult {
                data: run.record.data.clone(),
                cnn: run.record.model.clone(),
                settings: app.settings.config.baselines.clone(),
                k: app.settings.config.baselines.k,
                rows: Vec::new(),
                complete: false,
            },
        ));
    }
}

/// The job ended: its result replaces what was shown.
pub fn on_ended(app: &mut App, result: Result<BaselinesResult, String>) -> Vec<Command> {
    let tab = &mut app.baselines;
    tab.job = JobState::Idle;
    tab.steps.clear();
    super::job_ended(
        &mut tab.result,
        &mut app.messages,
        "baselines",
        result,
        |r| {
            let best = r
                .rows
                .iter()
                .max_by(|a, b| a.accuracy.total_cmp(&b.accuracy))
                .map(|b| format!("best {} at {}", b.model, format::percent(b.accuracy)));
            format!(
                "baselines {}: {} models{}",
                if r.complete { "done" } else { "stopped" },
                r.rows.len(),
                best.map_or(String::new(), |b| format!(", {b}"))
            )
        },
    )
}

/// Draws the Baselines tab into `area`.
/// A click at (`x`, `y`) on the Baselines tab (whose body is `body`): on a model of the list,
/// highlights it; on its box, chooses it or not.
pub fn click(app: &mut App, body: Rect, x: u16, y: u16) {
    let first = body.y + 1;
    if x >= body.x + 22 || y < first || y >= first + MODELS.len() as u16 {
        return;
    }
    let index = (y - first) as usize;
    app.baselines.cursor = index;
    if x <= body.x + 4 {
        on_action(app, Action::Toggle);
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.baselines;
    let k = |a| key(app, Tab::Baselines, a);
    let [left, right] =
        Layout::horizontal([Constraint::Length(22), Constraint::Min(0)]).areas(area);
    let [models, help] = Layout::vertical([
        Constraint::Length(MODELS.len() as u16 + 2),
        Constraint::Min(0),
    ])
    .areas(left);
    let items: Vec<ListItem> = MODELS
        .iter()
        .map(|m| {
            let on = tab.chosen.contains(m);
            ListItem::new(format!("[{}] {}", if on { "x" } else { " " }, m.name()))
        })
        .collect();
    let list = List::new(items)
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .block(block("Models"));
    frame.render_stateful_widget(
        list,
        models,
        &mut ListState::default().with_selected(Some(tab.cursor)),
    );
    let hints = vec![
        Line::from(format!("{} choose", k(Action::Toggle))),
        Line::from(format!("{} fit chosen", k(Action::Start))),
        Line::from(format!("{} refit this one", k(Action::Rerun))),
        Line::from(format!("{} cancel", k(Action::Cancel))),
        Line::from(""),
        Line::from(format!("state: {}", tab.job.label())),
    ];
    frame.render_widget(Paragraph::new(hints).dim().block(block("Keys")), help);
    let shown = tab.result.as_ref().and_then(|(run, _)| run.as_ref());
    let right = match super::whose(app, Tab::Baselines, shown) {
        Some(line) if !tab.busy() => {
            let [note, rest] =
                Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(right);
            frame.render_widget(
                Paragraph::new(line).wrap(ratatui::widgets::Wrap { trim: true }),
                note,
            );
            rest
        }
        _ => right,
    };
    table(frame, right, app);
}

fn step_label(step: &Step) -> String {
    match step {
        Step::Queued => "queued".into(),
        Step::Fitting(t) => format!("fitting {}", fmt_duration(t.elapsed().as_secs_f64())),
        Step::Predicting(t) => format!("predicting {}", fmt_duration(t.elapsed().as_secs_f64())),
        Step::Done => "done".into(),
    }
}

fn table(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.baselines;
    let rows_done: &[ResultRow] = tab.result.as_ref().map_or(&[], |(_, r)| r.rows.as_slice());
    let best = rows_done
        .iter()
        .map(|r| r.accuracy)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut rows: Vec<Row> = rows_done
        .iter()
        .map(|r| {
            let style = if r.model == "cnn" {
                Style::default().fg(Color::Cyan)
            } else {
                Style::default()
            };
            let accuracy_style = if r.accuracy == best {
                Style::default()
                    .fg(Color::Green)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            // The accuracy (cell 1) of the best model stands out.
            let cells = results::baseline_cells(r)
                .into_iter()
                .enumerate()
                .map(|(i, text)| {
                    let cell = Cell::from(text);
                    if i == 1 {
                        cell.style(accuracy_style)
                    } else {
                        cell
                    }
                });
            Row::new(cells).style(style)
        })
        .collect();
    for (model, step) in &tab.steps {
        if *step != Step::Done && !rows_done.iter().any(|r| &r.model == model) {
            rows.push(
                Row::new(vec![
                    Cell::from(model.clone()),
                    Cell::from(step_label(step)),
                ])
                .style(Style::default().fg(Color::Yellow)),
            );
        }
    }
    let title = match &tab.result {
        Some((Some(run), r)) => format!(
            "Test accuracy on {} test images ({})",
            r.data.test_images, run.name
        ),
        Some((None, r)) => format!("Test accuracy on {} test images", r.data.test_images),
        None => "Test accuracy".into(),
    };
    if rows.is_empty() {
        frame.render_widget(
            super::placeholder(
                &title,
                format!(
                    "No baselines for this data yet. Choose models with {} and press {} to fit them next to the active CNN.",
                    key(app, Tab::Baselines, Action::Toggle),
                    key(app, Tab::Baselines, Action::Start)
                ),
            ),
            area,
        );
        return;
    }
    let header = Row::new(["model", "accuracy", "fit s", "predict s", "size", "note"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(8),
        Constraint::Length(14),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(header).block(block(&title)),
        area,
    );
}
