//! The Ablation tab while a study runs (or ran this session): overall and per-run progress, and
//! the variant table filling in as runs finish, the best and the significant rows highlighted.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Gauge, Paragraph, Row, Table};
use ratatui::Frame;

use crate::ablation::VariantRow;
use crate::tui::app::{AblationRun, App, JobState};
use crate::tui::keys::Action;

use super::fmt_duration;

/// Draws the live study into `area` (the caller checked there is one).
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(run) = &app.ablation.run else {
        return;
    };
    let [head, table] = Layout::vertical([Constraint::Length(6), Constraint::Min(0)]).areas(area);
    progress(frame, head, app, run);
    variants(frame, table, run);
}

fn progress(frame: &mut Frame, area: Rect, app: &App, run: &AblationRun) {
    let state = match app.ablation.job {
        JobState::Starting => "starting...",
        JobState::Running => "running",
        JobState::Stopping => "cancelling...",
        JobState::Idle | JobState::Attached if run.finished >= run.total => "finished",
        JobState::Idle | JobState::Attached => "stopped",
    };
    let keys = &app.keys;
    let block = Block::bordered()
        .title(format!(" Ablation study: {state} "))
        .title_bottom(format!(
            " {} start/resume  {} cancel ",
            keys.label(Action::StartAblation),
            keys.label(Action::CancelAblation)
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [dir, overall, current, current_gauge] =
        Layout::vertical([Constraint::Length(1); 4]).areas(inner);
    let dir_text = run
        .dir
        .as_ref()
        .map_or("(planning...)".to_string(), |d| d.display().to_string());
    frame.render_widget(
        Paragraph::new(format!(
            "{dir_text}  ({} variants x {} seeds)",
            run.order.len(),
            run.seeds
        )),
        dir,
    );
    frame.render_widget(
        Gauge::default()
            .gauge_style(Style::default().fg(Color::Green))
            .ratio(super::gauge_ratio(run.finished, run.total))
            .label(format!("runs {}/{}", run.finished, run.total)),
        overall,
    );
    match &run.current {
        Some((variant, seed, p)) => {
            frame.render_widget(
                Paragraph::new(format!(
                    "training {variant} seed {seed}: epoch {}/{}  {:.0} img/s  ETA {}",
                    p.epoch,
                    p.epochs,
                    p.images_per_second,
                    fmt_duration(p.eta_seconds)
                )),
                current,
            );
            let done = p.epoch.saturating_sub(1) * p.batches + p.batch;
            frame.render_widget(
                Gauge::default()
                    .gauge_style(Style::default().fg(Color::Cyan))
                    .ratio(super::gauge_ratio(done, p.epochs * p.batches))
                    .label(format!("batch {}/{}", p.batch, p.batches)),
                current_gauge,
            );
        }
        None => frame.render_widget(Paragraph::new("no run in flight").dim(), current),
    }
}

fn variants(frame: &mut Frame, area: Rect, run: &AblationRun) {
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
        let training = run.current.as_ref().is_some_and(|(v, _, _)| v == variant);
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
