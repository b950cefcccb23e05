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
}

impl RobustnessTab {
    /// The tab with `[robustness] attack_images`.
    pub fn new(config: &Config) -> Self {
        Self {
            job: JobState::Idle,
            result: None,
            attack_images: config.robustness.attack_images,
            planned: (0, 0),
        }
    }

    /// Whether a robustness job runs.
    pub fn busy(&self) -> bool {
        self.job.busy()
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
            tab.result = None;
            let images = tab.attack_images;
            app.messages.info(format!(
                "robustness: noise on every model, then FGSM and PGD on {images} test images..."
            ));
            return Some(Command::StartRobustness {
                cnn: app.active.clone(),
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
        RobustnessEvent::Planned { noise, attacks } => tab.planned = (noise, attacks),
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
    let Some((_, result)) = &tab.result else {
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
    let [chart_area, table_area] = Layout::vertical([
        Constraint::Min(8),
        Constraint::Length((attack_rows + 3).min(body.height / 2)),
    ])
    .areas(body);
    let chart = results::noise_chart(
        result,
        format!(
            "accuracy under Gaussian noise ({} test images)",
            result.noise_images
        ),
    );
    frame.render_widget(&chart, chart_area);
    if result.attacks.is_empty() {
        frame.render_widget(
            placeholder(
                "Attacks",
                "no attack results (they need an active CNN)".into(),
            ),
            table_area,
        );
        return;
    }
    let rows = result.attacks.iter().map(|a| {
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
                "FGSM / PGD on {cnn} ({} images)",
                result.attack_images
            ))),
        table_area,
    );
}
