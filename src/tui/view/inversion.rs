//! The Inversion tab: the source image drawn with half blocks. The live inversion (engine on
//! branch `inversion`) is not wired yet; the tab says so.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::data::SIDE;
use crate::tui::app::App;
use crate::tui::widgets::halfblock::HalfBlockImage;

/// Draws the Inversion tab into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let [source, rest] =
        Layout::horizontal([Constraint::Length(SIDE as u16 + 4), Constraint::Min(0)]).areas(area);
    match app.dataset() {
        Some(data) if !data.test.is_empty() => {
            let i = app.inversion.image.min(data.test.len() - 1);
            let label = data.test.labels[i] as usize;
            let class = data.class_names().get(label).copied().unwrap_or("?");
            let block = Block::bordered().title(" Source ");
            let inner = block.inner(source);
            frame.render_widget(block, source);
            let [image, caption] =
                Layout::vertical([Constraint::Length(SIDE as u16 / 2 + 1), Constraint::Min(0)])
                    .areas(inner);
            let image = Rect {
                x: image.x + 1,
                width: image.width.saturating_sub(1),
                ..image
            };
            frame.render_widget(
                HalfBlockImage {
                    pixels: data.test.image(i),
                    width: SIDE,
                    height: SIDE,
                    mode: app.color,
                },
                image,
            );
            frame.render_widget(
                Paragraph::new(vec![
                    Line::raw(format!("test {}/{}", i + 1, data.test.len())),
                    Line::raw(format!("label {class}")),
                    "←/→ browse, c class".dim().into(),
                ]),
                caption,
            );
        }
        _ => frame.render_widget(
            Paragraph::new("waiting for the data set...")
                .block(Block::bordered().title(" Source ")),
            source,
        ),
    }
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw("Live inversion is not wired into the dashboard yet."),
            Line::raw(""),
            Line::raw(
                "The engine (gradient ascent on the CNN, k-NN pseudo-gradient) is being built \
                 on branch `inversion`; once merged, this panel shows the image as the model \
                 steps it, p(target) and gradient-norm sparklines and the 10 class \
                 probabilities.",
            ),
        ])
        .wrap(Wrap { trim: true })
        .block(Block::bordered().title(" Inversion ")),
        rest,
    );
}
