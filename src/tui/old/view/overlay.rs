//! Overlays drawn over the current tab: the help (from the key table) and the quit question.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table};
use ratatui::Frame;

use crate::tui::app::App;

/// Width of the keys column of the help.
const KEY_COLUMN: u16 = 12;

/// The key help for the current tab, generated from the key table in use.
pub fn help(frame: &mut Frame, area: Rect, app: &App) {
    let tab = app.tab;
    let rows = app.keys.help_rows(tab);
    let height = (rows.len() as u16 + 2).min(area.height);
    let longest = rows.iter().map(|(_, h)| h.len()).max().unwrap_or(0) as u16;
    let width = (KEY_COLUMN + 1 + longest + 2).min(area.width);
    let rect = centered(area, width, height);
    let table = Table::new(
        rows.into_iter()
            .map(|(k, h)| Row::new([Cell::from(k).bold(), Cell::from(h)])),
        [Constraint::Length(KEY_COLUMN), Constraint::Min(0)],
    )
    .block(
        Block::bordered()
            .title(format!(" Keys: {} (Esc or ? closes) ", tab.title()))
            .border_style(Style::default().fg(Color::Yellow)),
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(table, rect);
}

/// Asks whether to quit while a job runs.
pub fn confirm_quit(frame: &mut Frame, area: Rect) {
    let rect = centered(area, 60, 4);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(vec![
            "A job is running. Quit anyway?".into(),
            "Training is checkpointed first.  y: quit  n: stay".into(),
        ])
        .block(
            Block::bordered()
                .title(" Quit? ")
                .border_style(Style::default().fg(Color::Red)),
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
