//! The ten class probabilities as horizontal bars, the target's in yellow.

use ratatui::buffer::Buffer;
use ratatui::layout::{Direction, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Widget};

use crate::data::CLASSES;

/// Bars of `probs` labelled with (the first letters of) `names`, in a block titled `title`.
pub struct ProbabilityBars<'a> {
    pub probs: [f32; CLASSES],
    pub names: [&'a str; CLASSES],
    pub target: usize,
    pub title: String,
}

impl Widget for ProbabilityBars<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let bars: Vec<Bar> = self
            .probs
            .iter()
            .enumerate()
            .map(|(c, &p)| {
                let color = if c == self.target {
                    Color::Yellow
                } else {
                    Color::Cyan
                };
                Bar::default()
                    .label(Line::raw(self.names[c].chars().take(5).collect::<String>()))
                    .value((p.clamp(0.0, 1.0) * 1000.0).round() as u64)
                    .text_value(format!("{p:.2}"))
                    .style(Style::default().fg(color))
            })
            .collect();
        BarChart::default()
            .direction(Direction::Horizontal)
            .block(Block::bordered().title(self.title))
            .bar_width(1)
            .bar_gap(0)
            .max(1000)
            .data(BarGroup::default().bars(&bars))
            .render(area, buf);
    }
}
