//! Drawing: `render(frame, app)` draws the tab bar, the current tab, the status line and any
//! overlay (help, quit question). Views only read the [`App`].

mod ablation;
mod inversion;
mod overlay;
mod results;
mod training;

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs, Wrap};
use ratatui::Frame;

use super::app::{App, Tab};

/// The smallest terminal the dashboard draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole dashboard.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return;
    }
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    tab_bar(frame, tabs, app);
    match app.tab {
        Tab::Training => training::render(frame, body, app),
        Tab::Inversion => inversion::render(frame, body, app),
        Tab::Ablation if app.ablation.run.is_some() => ablation::render(frame, body, app),
        Tab::Ablation | Tab::Baselines | Tab::Confidence => results::render(frame, body, app),
    }
    status_line(frame, status, app);
    if app.show_help {
        // The whole screen: the Inversion tab's keys need every line of 80x24.
        overlay::help(frame, area, app);
    }
    if app.confirm_quit {
        overlay::confirm_quit(frame, body);
    }
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "classgen needs a terminal of at least {MIN_WIDTH}x{MIN_HEIGHT}; this one is {}x{}. Enlarge it, or press q to quit.",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .alignment(Alignment::Center),
        area,
    );
}

fn tab_bar(frame: &mut Frame, area: Rect, app: &App) {
    let titles = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{} {}", i + 1, t.title()));
    let tabs = Tabs::new(titles)
        .select(app.tab.index())
        .style(Style::default().fg(Color::Gray))
        .highlight_style(
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
        .divider("│");
    let [left, right] = Layout::horizontal([Constraint::Min(0), Constraint::Length(9)]).areas(area);
    frame.render_widget(tabs, left);
    frame.render_widget(Paragraph::new("classgen".bold()).right_aligned(), right);
}

fn status_line(frame: &mut Frame, area: Rect, app: &App) {
    let hint = "? help  q quit";
    let [left, right] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(hint.len() as u16 + 1),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(Line::from(Span::raw(app.status.as_str()))).style(Style::default().dim()),
        left,
    );
    frame.render_widget(Paragraph::new(hint).right_aligned(), right);
}

/// `done / total` for a gauge, clamped to [0, 1]; 0 when there is no total yet.
fn gauge_ratio(done: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        (done as f64 / total as f64).min(1.0)
    }
}

/// A duration in seconds as `1h02m`, `3m05s` or `12s`.
pub fn fmt_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".into();
    }
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_duration(5.4), "5s");
        assert_eq!(fmt_duration(185.0), "3m05s");
        assert_eq!(fmt_duration(3720.0), "1h02m");
        assert_eq!(fmt_duration(f64::INFINITY), "-");
    }
}
