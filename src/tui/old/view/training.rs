//! The Training tab: loss and accuracy curves, progress gauges, the recipe.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, Gauge, GraphType, Paragraph};
use ratatui::Frame;

use crate::tui::app::{App, JobState, TrainingState};
use crate::tui::keys::Action;

use super::fmt_duration;

/// Draws the Training tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.training;
    let [charts, side] =
        Layout::horizontal([Constraint::Min(40), Constraint::Length(34)]).areas(area);
    let [loss, acc] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    let epochs = t.run_epochs.max(t.history.len()).max(1) as f64;
    let train_loss: Vec<(f64, f64)> = t
        .history
        .iter()
        .map(|m| (m.epoch as f64, m.train_loss))
        .collect();
    let test_loss: Vec<(f64, f64)> = t
        .history
        .iter()
        .map(|m| (m.epoch as f64, m.test_loss))
        .collect();
    let train_acc: Vec<(f64, f64)> = t
        .history
        .iter()
        .map(|m| (m.epoch as f64, m.train_accuracy * 100.0))
        .collect();
    let test_acc: Vec<(f64, f64)> = t
        .history
        .iter()
        .map(|m| (m.epoch as f64, m.test_accuracy * 100.0))
        .collect();
    let loss_max = t
        .loss_curve
        .iter()
        .chain(&train_loss)
        .chain(&test_loss)
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let loss_top = if loss_max > 0.0 { loss_max * 1.1 } else { 1.0 };
    let acc_min = t
        .acc_curve
        .iter()
        .chain(&train_acc)
        .chain(&test_acc)
        .map(|p| p.1)
        .fold(100.0f64, f64::min);
    let acc_bottom = ((acc_min / 10.0).floor() * 10.0).clamp(0.0, 90.0);
    chart(
        frame,
        loss,
        " Loss ",
        [
            ("train (live)", &t.loss_curve, Color::Cyan),
            ("train", &train_loss, Color::Blue),
            ("test", &test_loss, Color::Yellow),
        ],
        epochs,
        (0.0, loss_top),
        |v| format!("{v:.2}"),
    );
    chart(
        frame,
        acc,
        " Accuracy % ",
        [
            ("train (live)", &t.acc_curve, Color::Cyan),
            ("train", &train_acc, Color::Blue),
            ("test", &test_acc, Color::Yellow),
        ],
        epochs,
        (acc_bottom, 100.0),
        |v| format!("{v:.0}"),
    );
    side_panel(frame, side, app);
}

/// One line of a chart: legend name, points, colour.
type Series<'a> = (&'a str, &'a [(f64, f64)], Color);

fn chart(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    series: [Series; 3],
    epochs: f64,
    (lo, hi): (f64, f64),
    label: fn(f64) -> String,
) {
    let datasets = series
        .into_iter()
        .filter(|(_, data, _)| !data.is_empty())
        .map(|(name, data, color)| {
            Dataset::default()
                .name(name)
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(color))
                .data(data)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(title))
        .x_axis(
            Axis::default()
                .title("epoch")
                .bounds([0.0, epochs])
                .labels(["0".to_string(), format!("{epochs:.0}")]),
        )
        .y_axis(Axis::default().bounds([lo, hi]).labels([
            label(lo),
            label((lo + hi) / 2.0),
            label(hi),
        ]))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    frame.render_widget(chart, area);
}

fn side_panel(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.training;
    let [recipe, progress] =
        Layout::vertical([Constraint::Length(9), Constraint::Min(0)]).areas(area);
    let c = &t.config;
    let k = |a| app.keys.label(a);
    let pair = |a, b| format!("({}/{})", k(a), k(b));
    let dataset = match app.dataset() {
        Some(d) if d.kind == app.dataset_kind => d.kind.to_string(),
        _ => format!("{} (loading)", app.dataset_kind),
    };
    let lines: Vec<Line> = vec![
        format!("arch      {}  ({})", c.arch, k(Action::CycleArch)).into(),
        format!("data      {dataset}  ({})", k(Action::CycleDataset)).into(),
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
            k(Action::StartTraining),
            k(Action::ResumeTraining),
            k(Action::StopTraining)
        )
        .dim()
        .into(),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Next run ")),
        recipe,
    );
    let block = Block::bordered().title(" Run ");
    let inner = block.inner(progress);
    frame.render_widget(block, progress);
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
            .ratio(super::gauge_ratio(epoch, epochs))
            .label(format!("epochs {epoch}/{epochs}")),
        epoch_gauge,
    );
    frame.render_widget(
        Gauge::default()
            .gauge_style(Style::default().fg(Color::Cyan))
            .ratio(super::gauge_ratio(batch, batches))
            .label(if batches > 0 {
                format!("batch {batch}/{batches}")
            } else {
                "batch -".into()
            }),
        batch_gauge,
    );
    frame.render_widget(Paragraph::new(run_info(t)), info);
}

fn run_info(t: &TrainingState) -> Vec<Line<'static>> {
    let state = match t.job {
        JobState::Idle if t.run_dir.is_some() => "saved",
        JobState::Idle => "none (s starts)",
        JobState::Starting => "starting...",
        JobState::Running => "running",
        JobState::Stopping => "stopping...",
        JobState::Attached => "attached",
    };
    let mut lines: Vec<Line> = vec![format!("state     {state}").into()];
    if let Some(dir) = &t.run_dir {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        lines.push(format!("run       {}", name.unwrap_or_default()).into());
    }
    if let Some(p) = &t.progress {
        lines.push(format!("images/s  {:.0}", p.images_per_second).into());
        lines.push(format!("ETA       {}", fmt_duration(p.eta_seconds)).into());
    }
    if let Some(m) = t.history.last() {
        lines.push(format!("epoch {}: test {:.2}%", m.epoch, m.test_accuracy * 100.0).into());
        lines.push(format!("          {:.0} img/s", m.images_per_second).into());
    }
    lines
}
