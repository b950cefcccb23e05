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

/// What an image's pixels are.
#[derive(Debug, Clone, Copy)]
pub enum Pixels<'a> {
    /// Grey levels, 0 black to 255 white.
    Grey(&'a [u8]),
    /// Signed changes in [-1, 1]: red for more ink, blue for less, black for none.
    Signed(&'a [f32]),
    /// A grey image with signed values in [-1, 1] laid over it: red where positive, blue
    /// where negative, as strong as the value; the image shows through where it is near 0.
    Overlay { grey: &'a [u8], signed: &'a [f32] },
}

/// A `width` x `height` image (row-major), drawn from the area's top left, each pixel `scale`
/// cells wide and `scale` half-cells high (square on a terminal). What does not fit is cut off.
pub struct HalfBlockImage<'a> {
    pub pixels: Pixels<'a>,
    pub width: usize,
    pub height: usize,
    pub scale: usize,
    pub mode: ColorMode,
}

impl<'a> HalfBlockImage<'a> {
    /// A 28x28 greyscale image at one cell per pixel column.
    pub fn new(pixels: &'a [u8], mode: ColorMode) -> Self {
        Self {
            pixels: Pixels::Grey(pixels),
            width: crate::data::SIDE,
            height: crate::data::SIDE,
            scale: 1,
            mode,
        }
    }

    /// A 28x28 map of signed changes.
    pub fn signed(changes: &'a [f32], mode: ColorMode) -> Self {
        Self {
            pixels: Pixels::Signed(changes),
            ..Self::new(&[], mode)
        }
    }

    /// A 28x28 grey image with a signed map over it.
    pub fn overlay(grey: &'a [u8], signed: &'a [f32], mode: ColorMode) -> Self {
        Self {
            pixels: Pixels::Overlay { grey, signed },
            ..Self::new(&[], mode)
        }
    }

    /// The same pixels read as a `side` x `side` image (a smaller one).
    pub fn sized(self, side: usize) -> Self {
        Self {
            width: side,
            height: side,
            ..self
        }
    }

    /// The same image, each pixel `scale` (at least 1) cells wide.
    pub fn scaled(self, scale: usize) -> Self {
        Self {
            scale: scale.max(1),
            ..self
        }
    }

    /// Cells the image needs: (columns, rows).
    pub fn size(&self) -> (u16, u16) {
        let s = self.scale.max(1);
        (
            (self.width * s) as u16,
            (self.height * s).div_ceil(2) as u16,
        )
    }

    /// The colour of pixel (x, y); black outside.
    fn color(&self, x: usize, y: usize) -> Color {
        if x >= self.width || y >= self.height {
            return self.mode.grey(0);
        }
        let i = y * self.width + x;
        match self.pixels {
            Pixels::Grey(p) => self.mode.grey(p.get(i).copied().unwrap_or(0)),
            Pixels::Signed(d) => {
                let v = d.get(i).copied().unwrap_or(0.0).clamp(-1.0, 1.0);
                let level = (v.abs() * 255.0).round() as u8;
                match self.mode {
                    ColorMode::TrueColor if v > 0.0 => Color::Rgb(level, level / 5, level / 5),
                    ColorMode::TrueColor => Color::Rgb(level / 5, level / 3, level),
                    // The 256-colour cube: red or blue of 6 levels.
                    ColorMode::Ansi256 => {
                        let step = (v.abs() * 5.0).round() as u8;
                        if step == 0 {
                            Color::Indexed(16)
                        } else if v > 0.0 {
                            Color::Indexed(16 + 36 * step)
                        } else {
                            Color::Indexed(16 + step)
                        }
                    }
                }
            }
            Pixels::Overlay { grey, signed } => {
                let g = f32::from(grey.get(i).copied().unwrap_or(0)) / 255.0;
                let v = signed.get(i).copied().unwrap_or(0.0).clamp(-1.0, 1.0);
                let tint = if v > 0.0 {
                    [1.0, 0.2, 0.2]
                } else {
                    [0.2, 0.33, 1.0]
                };
                let a = v.abs();
                let [r, gg, b] = tint.map(|t| to_level((g * (1.0 - a) + t * a) * 255.0));
                match self.mode {
                    ColorMode::TrueColor => Color::Rgb(r, gg, b),
                    ColorMode::Ansi256 if a < 0.2 => self.mode.grey(to_level(g * 255.0)),
                    // The 256-colour cube entry nearest the blend.
                    ColorMode::Ansi256 => {
                        let c = |v: u8| (u16::from(v) * 5 + 127) / 255;
                        Color::Indexed((16 + 36 * c(r) + 6 * c(gg) + c(b)) as u8)
                    }
                }
            }
        }
    }
}

/// A colour level from a value in [0, 255].
fn to_level(v: f32) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

impl Widget for HalfBlockImage<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (cols, rows) = self.size();
        let s = self.scale.max(1);
        for row in 0..rows.min(area.height) {
            for col in 0..cols.min(area.width) {
                let x = col as usize / s;
                let (upper, lower) = (row as usize * 2 / s, (row as usize * 2 + 1) / s);
                if let Some(cell) = buf.cell_mut((area.x + col, area.y + row)) {
                    cell.set_symbol("▀")
                        .set_fg(self.color(x, upper))
                        .set_bg(self.color(x, lower));
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
        let image = HalfBlockImage::new(&pixels, ColorMode::TrueColor);
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
            pixels: Pixels::Grey(&pixels),
            width: 2,
            height: 2,
            scale: 1,
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
            pixels: Pixels::Grey(&pixels),
            width: 3,
            height: 3,
            scale: 1,
            mode: ColorMode::TrueColor,
        }
        .render(area, &mut buf);
        assert_eq!(buf[(1, 0)].fg, Color::Rgb(200, 200, 200));
    }

    #[test]
    fn a_scaled_image_repeats_each_pixel_in_a_square_of_cells() {
        let pixels = ramp();
        let image = HalfBlockImage::new(&pixels, ColorMode::TrueColor).scaled(2);
        assert_eq!(image.size(), (56, 28));
        let area = Rect::new(0, 0, 56, 28);
        let mut buf = Buffer::empty(area);
        image.render(area, &mut buf);
        // Pixel (3, 5) covers columns 6-7 and half-rows 10-11, i.e. row 5 top and bottom.
        let v = 8 * 3 + 5;
        for col in [6, 7] {
            assert_eq!(buf[(col, 5)].fg, Color::Rgb(v, v, v));
            assert_eq!(buf[(col, 5)].bg, Color::Rgb(v, v, v));
        }
    }

    #[test]
    fn signed_changes_are_red_up_blue_down_black_at_zero() {
        let mut changes = vec![0.0f32; 784];
        changes[0] = 1.0;
        changes[28] = -1.0;
        let area = Rect::new(0, 0, 28, 14);
        let mut buf = Buffer::empty(area);
        HalfBlockImage::signed(&changes, ColorMode::TrueColor).render(area, &mut buf);
        assert_eq!(buf[(0, 0)].fg, Color::Rgb(255, 51, 51));
        assert_eq!(buf[(0, 0)].bg, Color::Rgb(51, 85, 255));
        assert_eq!(buf[(1, 0)].fg, Color::Rgb(0, 0, 0));
    }
}
