//! Image grids as pictures for reports: square images (a digit, an attribution map, a filter,
//! an activation map) in rows and columns, each column titled and each row labelled in the
//! embedded font. Grey images are drawn as they are; signed maps on white, red for positive
//! and blue for negative, each scaled by its own largest magnitude.

use anyhow::Context;
use plotters::prelude::*;

use super::typeset::Typeset;
use super::{font, FAMILY};

/// One cell of a grid.
#[derive(Debug, Clone, Copy)]
pub enum Tile<'a> {
    /// A square grey image, values in [0,1] (0 black).
    Grey(&'a [f32]),
    /// A square signed map, any scale.
    Signed(&'a [f32]),
    /// Nothing (a method the model has not).
    Empty,
}

/// A grid: column titles, and rows of tiles with a label each.
#[derive(Debug, Clone, Default)]
pub struct TileGrid<'a> {
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<Tile<'a>>)>,
}

/// Pixels per side of a cell, space between cells, text size.
const CELL: u32 = 112;
const GAP: u32 = 6;
const TEXT: u32 = 16;

const INK: RGBColor = RGBColor(20, 20, 20);

/// The colour of `v` in a map whose largest magnitude is `max`: white at 0, red or blue.
fn signed_colour(v: f32, max: f32) -> RGBColor {
    let a = (v / max).clamp(-1.0, 1.0);
    let fade = |t: f32| (255.0 * (1.0 - t.abs())).round() as u8;
    if a >= 0.0 {
        RGBColor(255, fade(a), fade(a))
    } else {
        RGBColor(fade(a), fade(a), 255)
    }
}

/// PNG bytes of `grid`.
pub fn png(grid: &TileGrid) -> anyhow::Result<Vec<u8>> {
    let font = font()?;
    let cols = grid
        .columns
        .len()
        .max(grid.rows.iter().map(|(_, r)| r.len()).max().unwrap_or(0)) as u32;
    let label_chars = grid
        .rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0) as u32;
    let left = label_chars * TEXT * 6 / 10 + 2 * GAP;
    let top = TEXT * 2;
    let width = (left + cols * (CELL + GAP) + GAP).max(1);
    let height = (top + grid.rows.len() as u32 * (CELL + GAP) + GAP).max(1);
    let mut buffer = vec![255u8; width as usize * height as usize * 3];
    {
        let inner = BitMapBackend::with_buffer(&mut buffer, (width, height));
        let root = Typeset { inner, font }.into_drawing_area();
        let style = (FAMILY, TEXT as f64).into_font().color(&INK);
        let centred = style.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
        let x_of = |c: u32| (left + c * (CELL + GAP)) as i32;
        let y_of = |r: u32| (top + r * (CELL + GAP)) as i32;
        let draw = |e: DrawingAreaErrorKind<_>| anyhow::anyhow!("drawing the grid: {e}");
        for (c, title) in grid.columns.iter().enumerate() {
            let x = x_of(c as u32) + CELL as i32 / 2;
            root.draw_text(title, &centred, (x, top as i32 / 2))
                .map_err(draw)?;
        }
        for (r, (label, tiles)) in grid.rows.iter().enumerate() {
            let y = y_of(r as u32);
            let left_style = style.pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ));
            root.draw_text(label, &left_style, (GAP as i32, y + CELL as i32 / 2))
                .map_err(draw)?;
            for (c, tile) in tiles.iter().enumerate() {
                let x = x_of(c as u32);
                let (values, signed) = match tile {
                    Tile::Grey(v) => (*v, false),
                    Tile::Signed(v) => (*v, true),
                    Tile::Empty => continue,
                };
                let side = (values.len() as f64).sqrt().round() as usize;
                if side == 0 || side * side != values.len() {
                    anyhow::bail!("a tile of {} values is not a square image", values.len());
                }
                let max = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let max = max.max(f32::MIN_POSITIVE);
                let px = CELL as f64 / side as f64;
                for (i, &v) in values.iter().enumerate() {
                    let (row, col) = (i / side, i % side);
                    let colour = if signed {
                        signed_colour(v, max)
                    } else {
                        let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                        RGBColor(g, g, g)
                    };
                    let x0 = x + (col as f64 * px).round() as i32;
                    let y0 = y + (row as f64 * px).round() as i32;
                    let x1 = x + ((col + 1) as f64 * px).round() as i32;
                    let y1 = y + ((row + 1) as f64 * px).round() as i32;
                    root.draw(&Rectangle::new([(x0, y0), (x1, y1)], colour.filled()))
                        .map_err(draw)?;
                }
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL as i32, y + CELL as i32)],
                    RGBColor(200, 200, 200).stroke_width(1),
                ))
                .map_err(draw)?;
            }
        }
        root.present().map_err(draw)?;
    }
    let mut bytes = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut bytes),
        &buffer,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
    .context("encoding the grid as PNG")?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The picture's size follows the grid; a positive value is red, a negative blue, zero
    /// white, a grey image grey.
    #[test]
    fn signed_maps_are_red_for_blue_against_and_grey_images_grey() {
        let mut map = vec![0.0f32; 4];
        map[0] = 2.0;
        map[3] = -1.0;
        let grey = [0.5f32; 4];
        let grid = TileGrid {
            columns: vec!["image".into(), "map".into()],
            rows: vec![("test-3".into(), vec![Tile::Grey(&grey), Tile::Signed(&map)])],
        };
        let bytes = png(&grid).unwrap();
        let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        assert_eq!(h, 2 * TEXT + CELL + 2 * GAP);
        let left = w - 2 * (CELL + GAP) - GAP;
        let at =
            |c: u32, x: u32, y: u32| img.get_pixel(left + c * (CELL + GAP) + x, 2 * TEXT + y).0;
        let q = CELL / 4;
        assert_eq!(at(0, q, q), [128, 128, 128]);
        assert_eq!(at(1, q, q), [255, 0, 0], "the largest positive value");
        assert_eq!(at(1, 3 * q, q), [255, 255, 255], "zero");
        let blue = at(1, 3 * q, 3 * q);
        assert!(
            blue[2] == 255 && blue[0] < 200 && blue[0] == blue[1],
            "{blue:?}"
        );
        assert!(png(&TileGrid {
            columns: vec![],
            rows: vec![("x".into(), vec![Tile::Grey(&[0.0; 3])])],
        })
        .is_err());
    }
}
