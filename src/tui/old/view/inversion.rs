//! The Inversion tab: the source image and the image the model is stepping, drawn with half
//! blocks; the ten class probabilities as bars; p(target) and gradient norm over the steps as
//! sparklines; the settings and their keys.

use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, Block, Paragraph, Sparkline};
use ratatui::Frame;

use crate::data::{PIXELS, SIDE};
use crate::snapshot::to_byte;
use crate::tui::app::{App, InvModel, SourceKind};
use crate::tui::keys::Action;
use crate::tui::widgets::halfblock::HalfBlockImage;

/// Cells of a bordered 28x28 half-block image with two caption lines.
const IMAGE_BLOCK: (u16, u16) = (SIDE as u16 + 2, SIDE as u16 / 2 + 4);

/// Draws the Inversion tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let [top, bottom] =
        Layout::vertical([Constraint::Length(IMAGE_BLOCK.1), Constraint::Min(0)]).areas(area);
    let [source, current, probs] = Layout::horizontal([
        Constraint::Length(IMAGE_BLOCK.0),
        Constraint::Length(IMAGE_BLOCK.0),
        Constraint::Min(0),
    ])
    .areas(top);
    source_panel(frame, source, app);
    current_panel(frame, current, app);
    probabilities(frame, probs, app);
    settings_and_traces(frame, bottom, app);
}

/// A bordered image with caption lines under it.
fn image_block(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    pixels: &[u8],
    caption: Vec<Line>,
    app: &App,
) {
    let block = Block::bordered().title(title.to_string());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [image, text] =
        Layout::vertical([Constraint::Length(SIDE as u16 / 2), Constraint::Min(0)]).areas(inner);
    frame.render_widget(
        HalfBlockImage {
            pixels,
            width: SIDE,
            height: SIDE,
            mode: app.color,
        },
        image,
    );
    frame.render_widget(Paragraph::new(caption), text);
}

fn source_panel(frame: &mut Frame, area: Rect, app: &App) {
    let inv = &app.inversion;
    let k = |a| app.keys.label(a);
    if inv.source != SourceKind::Test {
        let pixels: Vec<u8> = app
            .source_pixels()
            .unwrap_or_default()
            .iter()
            .map(|&p| to_byte(p))
            .collect();
        let caption = match inv.source {
            SourceKind::Noise => vec![
                Line::raw(format!("noise, seed {}", inv.noise_seed)),
                Line::raw(format!(
                    "({}/{}, {})",
                    k(Action::PrevImage),
                    k(Action::NextImage),
                    k(Action::CycleSource)
                )),
            ],
            _ => vec![
                Line::raw("blank"),
                Line::raw(format!("({})", k(Action::CycleSource))),
            ],
        };
        image_block(frame, area, " Source ", &pixels, caption, app);
        return;
    }
    match app.dataset() {
        Some(data) if !data.test.is_empty() => {
            let i = app.inversion.image.min(data.test.len() - 1);
            let label = data.test.labels[i] as usize;
            let class = data.class_names().get(label).copied().unwrap_or("?");
            let caption = vec![
                Line::raw(format!("test {}/{}", i + 1, data.test.len())),
                Line::raw(format!(
                    "label {class}  ({}/{}, {})",
                    k(Action::PrevImage),
                    k(Action::NextImage),
                    k(Action::NextClass)
                )),
            ];
            image_block(frame, area, " Source ", data.test.image(i), caption, app);
        }
        _ => frame.render_widget(
            Paragraph::new("waiting for the data set...")
                .block(Block::bordered().title(" Source ")),
            area,
        ),
    }
}

fn current_panel(frame: &mut Frame, area: Rect, app: &App) {
    let inv = &app.inversion;
    match &inv.frame {
        Some(f) if f.pixels.len() == PIXELS => {
            let pixels: Vec<u8> = f.pixels.iter().map(|&p| to_byte(p)).collect();
            let caption = vec![
                Line::raw(format!("step {}  p(target) {:.3}", f.step, f.p_target)),
                Line::raw(format!("L2 {:.2}  L∞ {:.2}", f.l2, f.linf)),
            ];
            image_block(frame, area, " Inverted ", &pixels, caption, app);
        }
        _ => frame.render_widget(
            Paragraph::new(vec![
                Line::raw("Space runs the inversion,"),
                Line::raw(". takes one step."),
                Line::raw(""),
                Line::raw(match app.inversion.model {
                    InvModel::Cnn => "The model: the CNN shown",
                    InvModel::Knn => "The model: k-NN over the",
                }),
                Line::raw(match app.inversion.model {
                    InvModel::Cnn => "on the Training tab.",
                    InvModel::Knn => "training split.",
                }),
            ])
            .block(Block::bordered().title(" Inverted ")),
            area,
        ),
    }
}

fn probabilities(frame: &mut Frame, area: Rect, app: &App) {
    let inv = &app.inversion;
    let names = app
        .dataset()
        .map(|d| d.class_names())
        .unwrap_or(crate::data::DatasetKind::Mnist.class_names());
    let probs = inv.frame.as_ref().map(|f| f.probs).unwrap_or_default();
    let bars: Vec<Bar> = probs
        .iter()
        .enumerate()
        .map(|(c, &p)| {
            let label: String = names[c].chars().take(5).collect();
            let style = if c == inv.options.target {
                Style::default().fg(Color::Yellow)
            } else {
                Style::default().fg(Color::Cyan)
            };
            Bar::default()
                .label(Line::raw(label))
                .value((p.clamp(0.0, 1.0) * 1000.0).round() as u64)
                .text_value(format!("{p:.2}"))
                .style(style)
        })
        .collect();
    frame.render_widget(
        BarChart::default()
            .direction(Direction::Horizontal)
            .block(Block::bordered().title(" p(class) "))
            .bar_width(1)
            .bar_gap(0)
            .max(1000)
            .data(ratatui::widgets::BarGroup::default().bars(&bars)),
        area,
    );
}

fn settings_and_traces(frame: &mut Frame, area: Rect, app: &App) {
    let inv = &app.inversion;
    let o = &inv.options;
    let state = if inv.running {
        "running".to_string()
    } else if let Some(reason) = inv.stopped {
        reason.describe().to_string()
    } else if inv.active {
        "paused".into()
    } else {
        "ready".into()
    };
    let [settings, model_line, p_line, g_line, hint] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    let k = |a| app.keys.label(a);
    frame.render_widget(
        Paragraph::new(format!(
            " target {} ({}/{})  loss {} ({})  step {} ({})  lr {} ({}/{})  {state}",
            o.target,
            k(Action::TargetUp),
            k(Action::TargetDown),
            o.objective.name(),
            k(Action::CycleLoss),
            o.step.name(),
            k(Action::ToggleStepKind),
            o.lr,
            k(Action::InvLrUp),
            k(Action::InvLrDown),
        )),
        settings,
    );
    let model = match inv.model {
        InvModel::Cnn => "CNN (gradient)".to_string(),
        InvModel::Knn => format!("k-NN k={} (pseudo-gradient)", inv.knn_k),
    };
    let reg = if o.reg.any() {
        o.reg.tag()
    } else {
        "off".into()
    };
    frame.render_widget(
        Paragraph::new(format!(
            " model {model} ({})  regularisers {reg} ({})",
            k(Action::ToggleModel),
            k(Action::ToggleRegularisers)
        )),
        model_line,
    );
    trace(
        frame,
        p_line,
        "p(target)",
        &inv.p_target,
        Some(1.0),
        Color::Yellow,
    );
    trace(
        frame,
        g_line,
        "grad norm",
        &inv.grad_norm,
        None,
        Color::Magenta,
    );
    frame.render_widget(
        Paragraph::new(format!(
            " {} run/pause  {} step  {} reset  {} snapshot  {} source",
            k(Action::RunPause),
            k(Action::SingleStep),
            k(Action::ResetInversion),
            k(Action::Snapshot),
            k(Action::CycleSource)
        ))
        .dim(),
        hint,
    );
}

/// One labelled sparkline of the latest values that fit; `max` fixes the scale (else the
/// largest value shown).
fn trace(
    frame: &mut Frame,
    area: Rect,
    label: &str,
    values: &[f32],
    max: Option<f32>,
    color: Color,
) {
    let [name, spark, last] = Layout::horizontal([
        Constraint::Length(11),
        Constraint::Min(0),
        Constraint::Length(10),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(format!(" {label}")), name);
    let shown = &values[values.len().saturating_sub(spark.width as usize)..];
    let top = max.unwrap_or_else(|| shown.iter().copied().fold(0.0, f32::max));
    let scaled: Vec<u64> = shown
        .iter()
        .map(|&v| {
            if top > 0.0 && v.is_finite() {
                (v / top * 1000.0).round().max(0.0) as u64
            } else {
                0
            }
        })
        .collect();
    frame.render_widget(
        Sparkline::default()
            .data(&scaled)
            .max(1000)
            .style(Style::default().fg(color)),
        spark,
    );
    if let Some(v) = values.last() {
        frame.render_widget(Paragraph::new(format!(" {v:.3e}")), last);
    }
}
