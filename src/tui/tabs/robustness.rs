//! The Robustness tab: accuracy against Gaussian noise as one braille line chart with a line
//! per model, and the FGSM / PGD table of the active CNN; run with a chosen number of attack
//! images, cancellable, saved.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, Table};
use ratatui::Frame;

use super::{block, key, placeholder, JobState};
use crate::config::Config;
use crate::jobs::robustness::{RobustnessEvent, RobustnessResult};
use crate::runs::RunInfo;
use crate::text::results;
use crate::tui::app::{App, Tab};
use crate::tui::keys::Action;
use crate::tui::msg::{Command, JobKind};

/// The fewest and most attack images the tab offers.
const ATTACK_IMAGES: (usize, usize) = (50, 10_000);

/// The Robustness tab's state.
#[derive(Debug, Clone)]
pub struct RobustnessTab {
    pub job: JobState,
    pub result: Option<(Option<RunInfo>, RobustnessResult)>,
    /// Test images the attacks use.
    pub attack_images: usize,
    /// Noise scores and attacks planned in the job in flight.
    pub planned: (usize, usize),
    /// The last complete result, shown while a new one is measured.
    pub previous: Option<(Option<RunInfo>, RobustnessResult)>,
    /// The first attack row shown (the table scrolls).
    pub scroll: usize,
}

impl RobustnessTab {
    /// The tab with `[robustness] attack_images`.
    pub fn new(config: &Config) -> Self {
        Self {
            job: JobState::Idle,
            result: None,
            attack_images: config.robustness.attack_images,
            planned: (0, 0),
            previous: None,
            scroll: 0,
        }
    }

    /// Whether a robustness job runs.
    pub fn busy(&self) -> bool {
        self.job.busy()
    }

    /// The result on screen: the one being measured once it has a row, else the last one.
    pub fn shown(&self) -> Option<&(Option<RunInfo>, RobustnessResult)> {
        match (&self.result, &self.previous) {
            (Some(r), Some(p)) if r.1.noise.is_empty() && r.1.attacks.is_empty() => Some(p),
            (Some(r), _) => Some(r),
            (None, p) => p.as_ref(),
        }
    }
}

/// Handles a key on the Robustness tab.
pub fn on_action(app: &mut App, action: Action) -> Option<Command> {
    let tab = &mut app.robustness;
    match action {
        Action::Start => {
            if app.heavy_job_running() {
                app.messages
                    .info("a job is running: wait for it or cancel it (x on its tab)");
                return None;
            }
            super::training::ready_data(app)?;
            let tab = &mut app.robustness;
            tab.job = JobState::Starting;
            // The last result stays on screen until the new one has rows of its own.
            if let Some(old) = tab.result.take() {
                tab.previous = Some(old);
            }
            tab.scroll = 0;
            let images = tab.attack_images;
            app.messages.info(format!(
                "robustness: noise on every model, then FGSM and PGD on {images} test images..."
            ));
            return Some(Command::StartRobustness {
                cnn: app.active.clone(),
                baselines: app.baselines.chosen.clone(),
                attack_images: images,
            });
        }
        Action::Cancel if tab.busy() => {
            tab.job = JobState::Stopping;
            return Some(Command::Cancel(JobKind::Robustness));
        }
        Action::LimitUp => {
            tab.attack_images = (tab.attack_images * 2).clamp(ATTACK_IMAGES.0, ATTACK_IMAGES.1)
        }
        Action::LimitDown => {
            tab.attack_images = (tab.attack_images / 2).clamp(ATTACK_IMAGES.0, ATTACK_IMAGES.1)
        }
        Action::Up => tab.scroll = tab.scroll.saturating_sub(1),
        Action::Down => {
            let rows = tab.shown().map_or(0, |(_, r)| r.attacks.len());
            tab.scroll = (tab.scroll + 1).min(rows.saturating_sub(1));
        }
        _ => {}
    }
    None
}

/// Folds a robustness event into the tab.
pub fn on_event(app: &mut App, event: RobustnessEvent) {
    let tab = &mut app.robustness;
    if tab.job == JobState::Starting {
        tab.job = JobState::Running;
    }
    let Some((_, result)) = &mut tab.result else {
        return;
    };
    match event {
        RobustnessEvent::Planned {
            noise,
            attacks,
            noise_images,
        } => {
            tab.planned = (noise, attacks);
            result.noise_images = noise_images;
        }
        RobustnessEvent::Fitting { model, .. } => {
            app.messages.info(format!("robustness: fitting {model}..."))
        }
        RobustnessEvent::Noise(row) => result.noise.push(row),
        RobustnessEvent::Attack(a) => result.attacks.push(a),
        RobustnessEvent::Notice { message } => app.messages.info(message),
    }
}

/// A robustness job started writing `run`.
pub fn on_started(app: &mut App, run: RunInfo) {
    let r = &app.settings.config.robustness;
    app.robustness.result = Some((
        Some(run.clone()),
        RobustnessResult {
            data: run.record.data.clone(),
            cnn: run.record.model.clone(),
            sigmas: r.sigmas.clone(),
            noise_images: 0,
            noise_seed: r.seed,
            noise: Vec::new(),
            attack_images: app.robustness.attack_images,
            pgd_steps: r.pgd_steps,
            pgd_step_size: r.pgd_step_size,
            attacks: Vec::new(),
            complete: false,
        },
    ));
}

/// The job ended: its result is shown.
pub fn on_ended(app: &mut App, result: Result<RobustnessResult, String>) -> Vec<Command> {
    let tab = &mut app.robustness;
    tab.job = JobState::Idle;
    if result.as_ref().is_ok_and(|r| r.complete) {
        tab.previous = None;
    }
    super::job_ended(
        &mut tab.result,
        &mut app.messages,
        "robustness",
        result,
        |r| {
            format!(
                "robustness {}: {} noise scores, {} attacks",
                if r.complete { "done" } else { "stopped" },
                r.noise.len(),
                r.attacks.len()
            )
        },
    )
}

/// Draws the Robustness tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let tab = &app.robustness;
    let k = |a| key(app, Tab::Robustness, a);
    let [body, hint] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
    let progress = if tab.busy() {
        let done = tab
            .result
            .as_ref()
            .map_or((0, 0), |(_, r)| (r.noise.len(), r.attacks.len()));
        format!(
            "  {}/{} noise, {}/{} attacks",
            done.0, tab.planned.0, done.1, tab.planned.1
        )
    } else {
        String::new()
    };
    frame.render_widget(
        Paragraph::new(
            Line::from(format!(
                "{} measure  {}/{} attack images: {}  {} cancel  state: {}{progress}",
                k(Action::Start),
                k(Action::LimitUp),
                k(Action::LimitDown),
                tab.attack_images,
                k(Action::Cancel),
                tab.job.label()
            ))
            .dim(),
        ),
        hint,
    );
    let Some((shown_run, result)) = tab.shown() else {
        frame.render_widget(
            placeholder(
                "Robustness",
                format!(
                    "No robustness result for this data yet. Press {} to measure accuracy under Gaussian noise for the active CNN and the baselines, then FGSM and PGD attacks on the CNN.",
                    k(Action::Start)
                ),
            ),
            body,
        );
        return;
    };
    let attack_rows = result.attacks.len() as u16;
    let [whose_area, chart_area, table_area] = Layout::vertical([
        Constraint::Length(u16::from(
            super::whose(app, Tab::Robustness, shown_run.as_ref()).is_some(),
        )),
        Constraint::Min(8),
        Constraint::Length((attack_rows.max(1) + 3).min(body.height / 2)),
    ])
    .areas(body);
    if let Some(line) = super::whose(app, Tab::Robustness, shown_run.as_ref()) {
        frame.render_widget(Paragraph::new(line), whose_area);
    }
    let images = if result.noise_images > 0 {
        format!("{} test images", result.noise_images)
    } else {
        "measuring...".into()
    };
    let previous_note = if tab.busy()
        && tab
            .previous
            .as_ref()
            .is_some_and(|p| std::ptr::eq(&p.1, result))
    {
        ", the last result: a new one is being measured"
    } else {
        ""
    };
    let chart = results::noise_chart(
        result,
        format!("accuracy under Gaussian noise ({images}){previous_note}"),
    );
    frame.render_widget(&chart, chart_area);
    if result.attacks.is_empty() {
        let text = if tab.busy() {
            "the attacks follow the noise levels: FGSM and PGD on the active CNN".to_string()
        } else if result.cnn.is_none() {
            format!(
                "no attack results: attacks need a CNN, and this result was made without one; {} measures with the active model",
                k(Action::Start)
            )
        } else {
            format!(
                "no attack results (stopped before them): {} measures again",
                k(Action::Start)
            )
        };
        frame.render_widget(placeholder("Attacks", text), table_area);
        return;
    }
    let visible = table_area.height.saturating_sub(3) as usize;
    let first = tab
        .scroll
        .min(result.attacks.len().saturating_sub(visible.max(1)));
    let rows = result
        .attacks
        .iter()
        .skip(first)
        .take(visible.max(1))
        .map(|a| {
            let style = if a.success_rate > 0.5 {
                Style::default().fg(Color::LightRed)
            } else {
                Style::default()
            };
            Row::new(results::attack_cells(a)).style(style)
        });
    let header = Row::new([
        "attack", "kind", "eps", "clean", "accuracy", "success", "mean L2", "L-inf",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(6),
    ];
    let cnn = result.cnn.as_ref().map_or("-".into(), |c| c.run.clone());
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(block(&format!(
                "FGSM / PGD on {cnn} ({} images){}",
                result.attack_images,
                if result.attacks.len() > visible {
                    format!(
                        ", rows {}-{} of {} ({}/{} scroll)",
                        first + 1,
                        (first + visible).min(result.attacks.len()),
                        result.attacks.len(),
                        k(Action::Up),
                        k(Action::Down)
                    )
                } else {
                    String::new()
                }
            ))),
        table_area,
    );
}
