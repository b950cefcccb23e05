//! A greyscale image drawn with half blocks: each cell shows two pixels stacked, the upper one as
//! the foreground of '▀' and the lower one as the background. Terminal cells are about twice as
//! tall as wide, so a 28x28 image takes 28x14 cells with square pixels.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::widgets::Widget;

/// How grey levels become terminal colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// 24-bit RGB.
    TrueColor,
    /// The xterm 256-colour grey ramp (232 = darkest, 255 = lightest).
    Ansi256,
}

impl ColorMode {
    /// Truecolor when `COLORTERM` says so (truecolor or 24bit), else the 256-colour ramp.
    pub fn detect() -> Self {
        match std::env::var("COLORTERM") {
            Ok(v) if v == "truecolor" || v == "24bit" => Self::TrueColor,
            _ => Self::Ansi256,
        }
    }

    /// The colour of grey level `v` (0 black, 255 white).
    pub fn grey(self, v: u8) -> Color {
        match self {
            Self::TrueColor => Color::Rgb(v, v, v),
            Self::Ansi256 => Color::Indexed(232 + ((v as u16 * 23 + 127) / 255) as u8),
        }
    }
}

/// A `width` x `height` greyscale image (row-major u8 pixels), drawn from the area's top left.
/// Rows and columns that do not fit are cut off.
pub struct HalfBlockImage<'a> {
    pub pixels: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub mode: ColorMode,
}

impl HalfBlockImage<'_> {
    /// Cells the image needs: (columns, rows).
    pub fn size(&self) -> (u16, u16) {
        (self.width as u16, self.height.div_ceil(2) as u16)
    }
}

impl Widget for HalfBlockImage<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (cols, rows) = self.size();
        let pixel = |x: usize, y: usize| {
            if y < self.height {
                self.pixels.get(y * self.width + x).copied().unwrap_or(0)
            } else {
                0
            }
        };
        for row in 0..rows.min(area.height) {
            for col in 0..cols.min(area.width) {
                let (x, y) = (col as usize, row as usize * 2);
                if let Some(cell) = buf.cell_mut((area.x + col, area.y + row)) {
                    cell.set_symbol("▀")
                        .set_fg(self.mode.grey(pixel(x, y)))
                        .set_bg(self.mode.grey(pixel(x, y + 1)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 28x28 test image: pixel (x, y) = 8 * x + y, so every pixel is distinct in each column.
    fn ramp() -> Vec<u8> {
        (0..28 * 28)
            .map(|i| (8 * (i % 28) + i / 28) as u8)
            .collect()
    }

    #[test]
    fn renders_two_pixels_per_cell_truecolor() {
        let pixels = ramp();
        let image = HalfBlockImage {
            pixels: &pixels,
            width: 28,
            height: 28,
            mode: ColorMode::TrueColor,
        };
        assert_eq!(image.size(), (28, 14));
        let area = Rect::new(2, 1, 30, 16);
        let mut buf = Buffer::empty(area);
        image.render(area, &mut buf);
        for row in 0..14u16 {
            for col in 0..28u16 {
                let cell = &buf[(2 + col, 1 + row)];
                let upper = (8 * col + 2 * row) as u8;
                assert_eq!(cell.symbol(), "▀");
                assert_eq!(cell.fg, Color::Rgb(upper, upper, upper), "({col},{row})");
                assert_eq!(cell.bg, Color::Rgb(upper + 1, upper + 1, upper + 1));
            }
        }
        // Outside the image: untouched.
        assert_eq!(buf[(30, 1)].symbol(), " ");
        assert_eq!(buf[(2, 15)].symbol(), " ");
    }

    #[test]
    fn falls_back_to_the_256_colour_grey_ramp() {
        let mode = ColorMode::Ansi256;
        assert_eq!(mode.grey(0), Color::Indexed(232));
        assert_eq!(mode.grey(255), Color::Indexed(255));
        assert_eq!(mode.grey(128), Color::Indexed(244));
        let pixels = [0u8, 255, 255, 0];
        let area = Rect::new(0, 0, 2, 1);
        let mut buf = Buffer::empty(area);
        HalfBlockImage {
            pixels: &pixels,
            width: 2,
            height: 2,
            mode,
        }
        .render(area, &mut buf);
        assert_eq!(
            (buf[(0, 0)].fg, buf[(0, 0)].bg),
            (Color::Indexed(232), Color::Indexed(255))
        );
        assert_eq!(
            (buf[(1, 0)].fg, buf[(1, 0)].bg),
            (Color::Indexed(255), Color::Indexed(232))
        );
    }

    #[test]
    fn odd_heights_and_small_areas_are_clipped_safely() {
        let pixels = [200u8; 3 * 3];
        let area = Rect::new(0, 0, 2, 1);
        let mut buf = Buffer::empty(area);
        HalfBlockImage {
            pixels: &pixels,
            width: 3,
            height: 3,
            mode: ColorMode::TrueColor,
        }
        .render(area, &mut buf);
        assert_eq!(buf[(1, 0)].fg, Color::Rgb(200, 200, 200));
    }
}
