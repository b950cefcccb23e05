//! The Confidence tab: m(x) histograms as braille charts (one model, or two side by side, on a
//! linear or log scale), the reliability diagram, the table of quantiles and calibration, the
//! confusion matrix, and the mistakes of the selected model, drawn as images, sorted by
//! confidence: Enter opens one in the Explain tab (which pixels the wrong answer rests on), `i`
//! in the Inversion tab with its true label as the target.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use super::{block, key, placeholder, step_cursor, JobState};
use crate::baselines::BaselineKind;
use crate::data::SIDE;
use crate::jobs::confidence::{ConfidenceEvent, ConfidenceResult, ModelConfidence, ModelName};
use crate::runs::RunInfo;
use crate::text::charts::PALETTE;
use crate::text::results;
use crate::tui::app::{App, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::{Command, JobKind};
use crate::tui::widgets::halfblock::HalfBlockImage;

/// What the lower part of the tab shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Histograms, reliability and the table.
    #[default]
    Overview,
    Confusion,
    Mistakes,
}

/// The Confidence tab's state.
#[derive(Debug, Clone, Default)]
pub struct ConfidenceTab {
    pub job: JobState,
    pub result: Option<(Option<RunInfo>, ConfidenceResult)>,
    /// Index of the selected model in the result.
    pub selected: usize,
    /// Two histograms side by side (the selected model and the next).
    pub pair: bool,
    pub log: bool,
    pub view: View,
    /// The highlighted mistake of the selected model.
    pub mistake: usize,
    /// The model whose probabilities are being computed.
    pub computing: Option<ModelName>,
}

impl ConfidenceTab {
    /// Whether an analysis runs.
    pub fn busy(&self) -> bool {
        self.job.busy()
    }

    /// The selected model's analysis.
    pub fn model(&self) -> Option<&ModelConfidence> {
        let (_, r) = self.result.as_ref()?;
        r.models
            .get(self.selected.min(r.models.len().saturating_sub(1)))
    }

    fn models(&self) -> usize {
        self.result.as_ref().map_or(0, |(_, r)| r.models.len())
    }
}

/// The models an analysis covers: the CNN (if one is active) and the configured baselines.
/// The active CNN and the models chosen on the Baselines tab.
fn models(app: &App) -> Vec<ModelName> {
    let baselines: Vec<BaselineKind> = app.baselines.chosen.clone();
    app.active
        .iter()
        .map(|_| ModelName::Cnn)
        .chain(baselines.into_iter().map(ModelName::of))
        .collect()
}

/// Handles a key on the Confidence tab.
pub fn on_action(app: &mut App, action: Action) -> Option<Command> {
    let tab = &mut app.confidence;
    let n = tab.models();
    match action {
        Action::Start => {
            if app.heavy_job_running() {
                app.messages
                    .info("a job is running: wait for it or cancel it (x on its tab)");
                return None;
            }
            super::training::ready_data(app)?;
            let models = models(app);
            let tab = &mut app.confidence;
            tab.job = JobState::Starting;
            tab.result = None;
            tab.selected = 0;
            tab.mistake = 0;
            app.messages.info(
                "confidence: reusing saved probabilities where a baselines run has them, fitting the rest...",
            );
            return Some(Command::StartConfidence {
                models,
                cnn: app.active.clone(),
            });
        }
        Action::Cancel if tab.busy() => {
            tab.job = JobState::Stopping;
            return Some(Command::Cancel(JobKind::Confidence));
        }
        Action::Left => {
            tab.selected = step_cursor(tab.selected, -1, n);
            tab.mistake = 0;
        }
        Action::Right => {
            tab.selected = step_cursor(tab.selected, 1, n);
            tab.mistake = 0;
        }
        Action::PairView => tab.pair = !tab.pair,
        Action::LogScale => tab.log = !tab.log,
        Action::CycleView => {
            tab.view = match tab.view {
                View::Overview => View::Confusion,
                View::Confusion => View::Mistakes,
                View::Mistakes => View::Overview,
            }
        }
        Action::Up | Action::Down => {
            let count = tab.model().map_or(0, |m| m.mistakes.len());
            let delta = if action == Action::Up { -1 } else { 1 };
            tab.mistake = step_cursor(tab.mistake, delta, count);
            tab.view = View::Mistakes;
        }
        Action::Choose | Action::InvertMistake => {
            let m = tab.model()?;
            let Some(mistake) = m.mistakes.get(tab.mistake).copied() else {
                app.messages
                    .info("no mistake to open (v shows the mistakes)");
                return None;
            };
            let (label, model) = (m.label.clone(), m.model);
            let names = app.class_names();
            let name = |c: u8| names.get(usize::from(c)).copied().unwrap_or("?");
            let what = format!(
                "test image {} ({label} says {}, m(x) {:.3}; its label is {})",
                mistake.index,
                name(mistake.predicted),
                mistake.confidence,
                name(mistake.label)
            );
            if action == Action::Choose {
                app.messages
                    .info(format!("{what}: which pixels made {label} say so"));
                return super::explain::open_mistake(app, mistake.index, model);
            }
            app.messages
                .info(format!("{what}: inverting it towards its label"));
            return super::inversion::open_test_image(app, mistake.index, mistake.label.into());
        }
        _ => {}
    }
    None
}

/// Folds a confidence event into the tab.
pub fn on_event(app: &mut App, event: ConfidenceEvent) {
    let tab = &mut app.confidence;
    if tab.job == JobState::Starting {
        tab.job = JobState::Running;
    }
    match event {
        ConfidenceEvent::Planned { .. } => {}
        ConfidenceEvent::Computing { model } => tab.computing = Some(model),
        ConfidenceEvent::Analysed(m) => {
            tab.computing = None;
            app.messages.info(format!(
                "confidence: {} done (probabilities: {})",
                m.label, m.source
            ));
            if let Some((_, result)) = &mut tab.result {
                result.models.push(*m);
            }
        }
        ConfidenceEvent::Notice { message } => app.messages.info(message),
    }
}

/// A confidence job started writing `run`.
pub fn on_started(app: &mut App, run: RunInfo) {
    app.messages.info(format!("confidence in {}", run.name));
    app.confidence.result = Some((
        Some(run.clone()),
        ConfidenceResult {
            data: run.record.data.clone(),
            cnn: run.record.model.clone(),
            bins: app.settings.config.baselines.histogram_bins,
            ece_bins: app.settings.config.baselines.ece_bins,
            models: Vec::new(),
            complete: false,
        },
    ));
}

/// The analysis ended: its result is shown.
pub fn on_ended(app: &mut App, result: Result<ConfidenceResult, String>) -> Vec<Command> {
    let tab = &mut app.confidence;
    tab.job = JobState::Idle;
    tab.computing = None;
    super::job_ended(
        &mut tab.result,
        &mut app.messages,
        "confidence",
        result,
        |r| {
            format!(
                "confidence {} for {} models",
                if r.complete { "done" } else { "stopped" },
                r.models.len()
            )
        },
    )
}

/// Draws the Confidence tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.confidence;
    let k = |a| key(app, Tab::Confidence, a);
    let [body, hint] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
    let hint_text = format!(
        "{} run {}/{} model {} pair {} log {} view {} explain {} invert | {}",
        k(Action::Start),
        k(Action::Left),
        k(Action::Right),
        k(Action::PairView),
        k(Action::LogScale),
        k(Action::CycleView),
        k(Action::Choose),
        k(Action::InvertMistake),
        match (tab.job, tab.computing) {
            (JobState::Running, Some(m)) => format!("computing {}", m.name()),
            (job, _) => job.label().to_string(),
        }
    );
    let shown = tab.result.as_ref().and_then(|(run, _)| run.as_ref());
    let line = super::whose(app, Tab::Confidence, shown).unwrap_or(Line::from(hint_text).dim());
    frame.render_widget(Paragraph::new(line), hint);
    let Some(m) = tab.model() else {
        let text = if tab.busy() {
            format!(
                "Analysing: {}. Each model's histogram shows here as soon as it is done.",
                tab.computing
                    .map_or("reading saved probabilities".into(), |m| format!(
                        "computing {}",
                        m.name()
                    ))
            )
        } else {
            format!(
                "No confidence analysis for this data yet. Press {} to analyse the active CNN and the baselines ([baselines] models): m(x) = the largest softmax probability of each test image.",
                k(Action::Start)
            )
        };
        frame.render_widget(placeholder("Confidence", text), body);
        return;
    };
    match tab.view {
        View::Overview => overview(frame, body, app, m),
        View::Confusion => confusion(frame, body, m, app.class_names()),
        View::Mistakes => mistakes(frame, body, app, m),
    }
}

fn overview(frame: &mut Frame, area: Rect, app: &App, m: &ModelConfidence) {
    let tab = &app.confidence;
    let table_height = (tab.models() as u16 + 3).min(area.height / 2);
    let [charts, table_area] =
        Layout::vertical([Constraint::Min(8), Constraint::Length(table_height)]).areas(area);
    let second = tab
        .result
        .as_ref()
        .and_then(|(_, r)| r.models.get((tab.selected + 1) % r.models.len().max(1)))
        .filter(|other| tab.pair && other.label != m.label);
    let [hist, reliability] =
        Layout::horizontal([Constraint::Percentage(68), Constraint::Percentage(32)]).areas(charts);
    match second {
        Some(other) => {
            let [a, b] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(hist);
            histogram(frame, a, m, tab.log, PALETTE[0]);
            histogram(frame, b, other, tab.log, PALETTE[1]);
        }
        None => histogram(frame, hist, m, tab.log, PALETTE[0]),
    }
    frame.render_widget(&results::reliability_chart(m, PALETTE[0]), reliability);
    summary_table(frame, table_area, app);
}

fn histogram(frame: &mut Frame, area: Rect, m: &ModelConfidence, log: bool, color: Color) {
    frame.render_widget(&results::histogram_chart(m, log, color), area);
}

fn summary_table(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.confidence;
    let Some((_, result)) = &tab.result else {
        return;
    };
    let rows = result.models.iter().enumerate().map(|(i, m)| {
        let cells = results::confidence_cells(m);
        let style = if i == tab.selected {
            Style::default()
                .add_modifier(Modifier::BOLD)
                .fg(Color::Cyan)
        } else {
            Style::default()
        };
        Row::new(cells).style(style)
    });
    let header = Row::new([
        "model", "acc", "Q.05", "Q.10", "Q.25", "Q.50", "Q.75", ">0.999", "ECE", "m ok", "m bad",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(7),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(block("m(x) quantiles and calibration")),
        area,
    );
}

fn confusion(frame: &mut Frame, area: Rect, m: &ModelConfidence, names: [&str; 10]) {
    let max_off = m
        .confusion
        .iter()
        .enumerate()
        .flat_map(|(t, row)| row.iter().enumerate().filter(move |(p, _)| *p != t))
        .map(|(_, &c)| c)
        .max()
        .unwrap_or(0)
        .max(1);
    // Rows by the whole class name; columns by as much of it as their width allows.
    let label_w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(1)
        .max(10) as u16;
    let col_w = (area.width.saturating_sub(2 + label_w) / 10)
        .saturating_sub(1)
        .clamp(5, label_w);
    let cut = |n: &str| n.chars().take(col_w as usize).collect::<String>();
    let header =
        Row::new(std::iter::once("true\\pred".to_string()).chain(names.iter().map(|n| cut(n))))
            .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = m.confusion.iter().enumerate().map(|(t, row)| {
        let cells = std::iter::once(Cell::from(names[t].to_string()).bold()).chain(
            row.iter().enumerate().map(|(p, &c)| {
                let style = if p == t {
                    Style::default().fg(Color::Green)
                } else if c == 0 {
                    Style::default().fg(Color::DarkGray)
                } else {
                    // Redder with more confusions.
                    let heat = (55 + 200 * c / max_off) as u8;
                    Style::default().fg(Color::Rgb(255, 255 - heat, 255 - heat))
                };
                Cell::from(c.to_string()).style(style)
            }),
        );
        Row::new(cells)
    });
    let widths = std::iter::once(Constraint::Length(label_w))
        .chain(std::iter::repeat_n(Constraint::Length(col_w), 10));
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(block(&format!(
                "{}: confusion matrix (rows: true class, columns: predicted)",
                m.label
            ))),
        area,
    );
}

fn mistakes(frame: &mut Frame, area: Rect, app: &App, m: &ModelConfidence) {
    let tab = &app.confidence;
    let [list, image] =
        Layout::horizontal([Constraint::Min(30), Constraint::Length(SIDE as u16 + 2)]).areas(area);
    let names = app.dataset().map(|d| d.class_names());
    let name = |c: u8| {
        names
            .as_ref()
            .and_then(|n| n.get(usize::from(c)).copied())
            .unwrap_or("?")
            .to_string()
    };
    let rows = m.mistakes.iter().map(|x| {
        Row::new(vec![
            x.index.to_string(),
            name(x.label),
            name(x.predicted),
            format!("{:.4}", x.confidence),
        ])
    });
    let header = Row::new(["test", "true", "predicted", "m(x)"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let table = Table::new(
        rows,
        [
            Constraint::Length(6),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(7),
        ],
    )
    .header(header)
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    .block(block(&format!(
        "{}: {} mistakes, most confident first",
        m.label,
        m.mistakes.len()
    )));
    let mut state = TableState::default().with_selected(Some(tab.mistake));
    frame.render_stateful_widget(table, list, &mut state);
    let panel = block("image");
    let inner = panel.inner(image);
    frame.render_widget(panel, image);
    let chosen = m.mistakes.get(tab.mistake);
    match (chosen, app.dataset()) {
        (Some(x), Some(d)) if x.index < d.test.len() => {
            let [pic, caption] =
                Layout::vertical([Constraint::Length(SIDE as u16 / 2), Constraint::Min(0)])
                    .areas(inner);
            frame.render_widget(HalfBlockImage::new(d.test.image(x.index), app.color), pic);
            frame.render_widget(
                Paragraph::new(vec![
                    Line::from(format!(
                        "true {} → said {}",
                        name(x.label),
                        name(x.predicted)
                    )),
                    Line::from(format!("m(x) {:.4}", x.confidence)),
                    Line::from(format!(
                        "{} explains, {} inverts to {}",
                        key(app, Tab::Confidence, Action::Choose),
                        key(app, Tab::Confidence, Action::InvertMistake),
                        name(x.label)
                    ))
                    .dim(),
                ]),
                caption,
            );
        }
        _ => frame.render_widget(Paragraph::new("no mistake selected").dim(), inner),
    }
}
