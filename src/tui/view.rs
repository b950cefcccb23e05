//! Drawing: the tab bar, a header with the data in use and the active model, the current tab,
//! the status line with the newest message, and any overlay (help, quit question, the message
//! log, a prompt). Views only read the [`App`].

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Tabs, Wrap};
use ratatui::Frame;

use super::app::{App, DataState, Overlay, Tab};
use super::messages::Level;
use super::tabs;

/// The smallest terminal the dashboard draws in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Where the tab's content goes on a screen of `area`: below the tab bar and the header, above
/// the status line.
pub fn body_area(area: Rect) -> Rect {
    Rect::new(
        area.x,
        area.y + 2,
        area.width,
        area.height.saturating_sub(3),
    )
}

/// Draws the whole dashboard.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return;
    }
    let [tabs_line, header, _, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    tab_bar(frame, tabs_line, app);
    header_line(frame, header, app);
    let body = body_area(area);
    match app.tab {
        Tab::Training => tabs::training::render(frame, body, app),
        Tab::Runs => tabs::runs::render(frame, body, app),
        Tab::Ablation => tabs::ablation::render(frame, body, app),
        Tab::Baselines => tabs::baselines::render(frame, body, app),
        Tab::Confidence => tabs::confidence::render(frame, body, app),
        Tab::Robustness => tabs::robustness::render(frame, body, app),
        Tab::Inversion => tabs::inversion::render(frame, body, app),
        Tab::Draw => tabs::draw::render(frame, body, app),
        Tab::Explain => tabs::explain::render(frame, body, app),
    }
    status_line(frame, status, app);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help(frame, area, app),
        Overlay::ConfirmQuit => confirm_quit(frame, body),
        Overlay::Messages { scroll } => messages(frame, body, app, *scroll),
        Overlay::Prompt(p) => prompt(frame, body, p),
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

/// The tab bar's titles on a screen `width` wide (full titles when they fit, else short
/// ones), and whether they are the full ones.
fn tab_titles(app: &App, width: u16) -> (Vec<String>, bool) {
    let busy: Vec<bool> = Tab::ALL
        .iter()
        .map(|t| match t {
            Tab::Training => app.training.busy(),
            Tab::Ablation => app.ablation.busy(),
            Tab::Baselines => app.baselines.busy(),
            Tab::Confidence => app.confidence.busy(),
            Tab::Robustness => app.robustness.busy(),
            Tab::Inversion => app.inversion.running || app.inversion.sweep.busy(),
            Tab::Explain => app.explain.busy(),
            Tab::Runs | Tab::Draw => false,
        })
        .collect();
    // Each title is "N Title", a '*' when busy, its padding space and the divider; "classgen"
    // takes 9 columns at the right.
    let full: usize = Tab::ALL.iter().map(|t| t.title().len() + 4).sum::<usize>()
        + busy.iter().filter(|b| **b).count();
    let wide = full + 9 <= width as usize;
    let titles = Tab::ALL
        .iter()
        .zip(&busy)
        .enumerate()
        .map(|(i, (t, busy))| {
            let name = if wide { t.title() } else { t.short() };
            format!("{} {name}{}", i + 1, if *busy { "*" } else { "" })
        });
    (titles.collect(), wide)
}

/// The tab whose title is at column `x` of the tab bar.
pub fn tab_at(app: &App, width: u16, x: u16) -> Option<Tab> {
    let (titles, _) = tab_titles(app, width);
    let mut start = 0u16;
    for (title, tab) in titles.iter().zip(Tab::ALL) {
        // Each title, its padding space, then the divider.
        let end = start + title.chars().count() as u16 + 1;
        if (start..end).contains(&x) {
            return Some(tab);
        }
        start = end + 1;
    }
    None
}

fn tab_bar(frame: &mut Frame, area: Rect, app: &App) {
    let (titles, wide) = tab_titles(app, area.width);
    let tabs = Tabs::new(titles)
        .padding("", " ")
        .select(app.tab.index())
        .style(Style::default().fg(Color::Gray))
        .highlight_style(
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
        .divider("│");
    if wide {
        let [left, right] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(9)]).areas(area);
        frame.render_widget(tabs, left);
        frame.render_widget(Paragraph::new("classgen".bold()).right_aligned(), right);
    } else {
        frame.render_widget(tabs, area);
    }
}

fn header_line(frame: &mut Frame, area: Rect, app: &App) {
    let data = match &app.data {
        DataState::Ready(d) => format!(
            "{} {} ({}/{})",
            d.kind,
            match &d.origin {
                crate::data::Origin::Dir(p) => p.display().to_string(),
                crate::data::Origin::Hub { .. } => "Hub".into(),
                crate::data::Origin::Sample => "sample".into(),
            },
            d.train.len(),
            d.test.len()
        ),
        DataState::Loading => format!("{} loading...", app.dataset_kind),
        DataState::Failed(_) => format!("{}: failed (! shows why)", app.dataset_kind),
    };
    let line = Line::from(vec![
        Span::styled(" data ", Style::default().fg(Color::Black).bg(Color::Blue)),
        Span::raw(format!(" {data}  ")),
        Span::styled(
            " model ",
            Style::default().fg(Color::Black).bg(Color::Green),
        ),
        Span::raw(format!(" {}", app.active_label())),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn status_line(frame: &mut Frame, area: Rect, app: &App) {
    let hint = "! log  ? help  q quit";
    let [left, right] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(hint.len() as u16 + 1),
    ])
    .areas(area);
    if let Some(m) = app.messages.current() {
        let room = left.width as usize;
        let text = if m.text.chars().count() > room {
            // Cut, and say where the rest is.
            let kept: String = m.text.chars().take(room.saturating_sub(9)).collect();
            format!("{kept}… (! all)")
        } else {
            m.text.clone()
        };
        let style = match m.level {
            Level::Error => Style::default().fg(Color::LightRed),
            Level::Info => Style::default().dim(),
        };
        frame.render_widget(Paragraph::new(Line::from(Span::styled(text, style))), left);
    }
    frame.render_widget(Paragraph::new(hint).right_aligned(), right);
}

/// The key help for the current tab, from the key table in use; in columns (up to three)
/// when one does not fit.
fn help(frame: &mut Frame, area: Rect, app: &App) {
    let tab = app.tab;
    let rows = app.keys.help_rows(tab);
    let room = area.height.saturating_sub(2).max(1) as usize;
    let columns = rows.len().div_ceil(room).clamp(1, 3);
    let per_column = rows.len().div_ceil(columns);
    // Columns side by side, a gap of two between them, each as wide as its longest row where
    // the screen allows; a help text that does not fit ends in "…", never under its neighbour.
    let key_w = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(1) as u16;
    let longest = rows
        .iter()
        .map(|(_, h)| h.chars().count())
        .max()
        .unwrap_or(0) as u16;
    let gaps = 2 * (columns as u16 - 1);
    let width = ((key_w + 1 + longest) * columns as u16 + gaps + 2).min(area.width);
    let height = (per_column as u16 + 2).min(area.height);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let outer = Block::bordered()
        .title(format!(" Keys: {} (Esc or ? closes) ", tab.title()))
        .border_style(Style::default().fg(Color::Yellow));
    let inner = outer.inner(rect);
    frame.render_widget(outer, rect);
    let col_w = inner.width.saturating_sub(gaps) / columns as u16;
    let help_w = col_w.saturating_sub(key_w + 1) as usize;
    for (i, chunk) in rows.chunks(per_column.max(1)).enumerate() {
        let x = inner.x + i as u16 * (col_w + 2);
        let lines: Vec<Line> = chunk
            .iter()
            .map(|(k, h)| {
                let text = if h.chars().count() > help_w {
                    let cut: String = h.chars().take(help_w.saturating_sub(1)).collect();
                    format!("{cut}…")
                } else {
                    h.to_string()
                };
                Line::from(vec![
                    Span::raw(format!("{k:<w$} ", w = key_w as usize)).bold(),
                    Span::raw(text),
                ])
            })
            .collect();
        let part = Rect::new(x, inner.y, col_w, inner.height);
        frame.render_widget(Paragraph::new(lines), part);
    }
}

/// Asks whether to quit while a job runs.
fn confirm_quit(frame: &mut Frame, area: Rect) {
    let rect = centered(area, 62, 4);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(vec![
            "A job is running. Quit anyway?".into(),
            "Training is checkpointed first.  y: quit  other keys: stay".into(),
        ])
        .block(
            Block::bordered()
                .title(" Quit? ")
                .border_style(Style::default().fg(Color::Red)),
        ),
        rect,
    );
}

/// The message log, newest at the bottom, wrapped.
fn messages(frame: &mut Frame, area: Rect, app: &App, scroll: usize) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, rect);
    let lines: Vec<Line> = app
        .messages
        .all()
        .iter()
        .map(|m| {
            let time = format!("{:>4}s ", m.at);
            let style = match m.level {
                Level::Error => Style::default().fg(Color::LightRed),
                Level::Info => Style::default(),
            };
            Line::from(vec![
                Span::raw(time).dim(),
                Span::styled(m.text.clone(), style),
            ])
        })
        .collect();
    let inner_height = rect.height.saturating_sub(2) as usize;
    // Wrapped lines may take more rows than lines; estimate generously from the width.
    let width = rect.width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    let top = rows.saturating_sub(inner_height + scroll);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((top.min(u16::MAX as usize) as u16, 0))
            .block(
                Block::bordered()
                    .title(" Messages (↑/↓ scroll, any other key closes) ")
                    .border_style(Style::default().fg(Color::Yellow)),
            ),
        rect,
    );
}

/// A one-line text prompt with completions under it.
fn prompt(frame: &mut Frame, area: Rect, p: &super::app::Prompt) {
    let height = (p.completions.len().min(8) as u16 + 3).min(area.height);
    let rect = centered(area, area.width.saturating_sub(6).min(100), height);
    frame.render_widget(Clear, rect);
    let mut lines = vec![Line::from(vec![
        Span::raw("> "),
        Span::raw(p.text.clone()).bold(),
        Span::raw("█"),
    ])];
    lines.extend(
        p.completions
            .iter()
            .take(8)
            .map(|c| Line::from(format!("  {c}")).dim()),
    );
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(format!(" {} ", p.title))
                .border_style(Style::default().fg(Color::Yellow)),
        ),
        rect,
    );
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}
