//! The ten class probabilities as horizontal bars, each labelled with its class's whole name
//! (cut only when the panel is too narrow), the target's in yellow.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Widget};

use crate::data::CLASSES;

/// Bars of `probs` labelled with `names`, in a block titled `title`.
pub struct ProbabilityBars<'a> {
    pub probs: [f32; CLASSES],
    pub names: [&'a str; CLASSES],
    pub target: usize,
    pub title: String,
}

/// Eighths of a cell, for bars finer than a column.
const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

impl Widget for ProbabilityBars<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = Block::bordered().title(self.title);
        let inner = block.inner(area);
        block.render(area, buf);
        let longest = self
            .names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(1);
        // Room for the value (" 0.00") and a bar of at least 4 columns.
        let name_w = longest
            .min((inner.width as usize).saturating_sub(10))
            .max(1);
        let bar_w = (inner.width as usize).saturating_sub(name_w + 6);
        for (c, &p) in self.probs.iter().enumerate().take(inner.height as usize) {
            let y = inner.y + c as u16;
            let color = if c == self.target {
                Color::Yellow
            } else {
                Color::Cyan
            };
            let name: String = self.names[c].chars().take(name_w).collect();
            buf.set_stringn(inner.x, y, &name, name_w, Style::default().fg(color));
            let p = if p.is_finite() {
                p.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let eighths = (f64::from(p) * bar_w as f64 * 8.0).round() as usize;
            let mut bar: String = "█".repeat(eighths / 8);
            if eighths % 8 > 0 {
                bar.push(EIGHTHS[eighths % 8]);
            }
            let x = inner.x + name_w as u16 + 1;
            buf.set_stringn(x, y, &bar, bar_w, Style::default().fg(color));
            let value = format!("{p:.2}");
            let vx = inner.x + inner.width.saturating_sub(value.len() as u16);
            buf.set_string(vx, y, value, Style::default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_class_names_fit_a_28_column_panel() {
        let names = crate::data::DatasetKind::Fashion.class_names();
        let mut probs = [0.0; CLASSES];
        probs[0] = 0.75;
        let lines = crate::text::render_lines(28, 12, |area, buf| {
            ProbabilityBars {
                probs,
                names,
                target: 0,
                title: " p(class) ".into(),
            }
            .render(area, buf)
        });
        let text = lines.join("\n");
        for name in names {
            assert!(text.contains(name), "{name} cut:\n{text}");
        }
        assert!(
            lines[1].contains("0.75") && lines[1].contains('█'),
            "{text}"
        );
    }
}
