//! Drawing shared by the headless commands and the dashboard: charts (ratatui's `Chart`, with
//! labelled axes) and table cells, rendered into a terminal frame or into plain text lines, and
//! the same charts as pictures (`plot`, from the figures of `figures`).

pub mod charts;
pub mod figures;
pub mod format;
pub mod plot;
pub mod results;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

/// The symbols of `buffer`, one string per row, trailing spaces removed.
pub fn buffer_lines(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (area.top()..area.bottom())
        .map(|y| {
            let row: String = (area.left()..area.right())
                .map(|x| buffer[(x, y)].symbol())
                .collect();
            row.trim_end().to_string()
        })
        .collect()
}

/// Lines of a `width` x `height` area after `draw` has rendered into it.
pub fn render_lines(width: u16, height: u16, draw: impl FnOnce(Rect, &mut Buffer)) -> Vec<String> {
    let area = Rect::new(0, 0, width, height);
    let mut buffer = Buffer::empty(area);
    draw(area, &mut buffer);
    buffer_lines(&buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::widgets::{Paragraph, Widget};

    #[test]
    fn rows_come_back_as_text_without_trailing_spaces() {
        let lines = render_lines(6, 2, |area, buf| Paragraph::new("ab\ncd").render(area, buf));
        assert_eq!(lines, vec!["ab".to_string(), "cd".to_string()]);
    }
}
