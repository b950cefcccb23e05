//! Exported images: one image upscaled (nearest neighbour), grids (rows = sources, columns =
//! targets) and trajectory strips, as grayscale PNG written atomically.

use std::path::{Path, PathBuf};

use image::{GrayImage, ImageEncoder, Luma};

use crate::data::{PIXELS, SIDE};

/// Gap between grid cells, in output pixels, and its grey level.
const GAP: u32 = 2;
const GAP_GREY: u8 = 128;

/// A pixel in [0,1] as a byte (rounded, clamped).
pub fn to_byte(p: f32) -> u8 {
    (p.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// One 28x28 image (784 values in [0,1]) upscaled `scale` times (nearest neighbour).
pub fn image(pixels: &[f32], scale: u32) -> GrayImage {
    let scale = scale.max(1);
    let side = SIDE as u32 * scale;
    GrayImage::from_fn(side, side, |x, y| {
        let i = (y / scale) as usize * SIDE + (x / scale) as usize;
        Luma([pixels.get(i).copied().map_or(0, to_byte)])
    })
}

/// A grid of images: `cells[row][col]`, `None` left grey; rows may differ in length.
pub fn grid(cells: &[Vec<Option<&[f32]>>], scale: u32) -> GrayImage {
    let cell = SIDE as u32 * scale.max(1);
    let rows = cells.len() as u32;
    let cols = cells.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let size = |n: u32| n * cell + n.saturating_sub(1) * GAP;
    let mut out = GrayImage::from_pixel(size(cols), size(rows), Luma([GAP_GREY]));
    for (r, row) in cells.iter().enumerate() {
        for (c, pixels) in row.iter().enumerate() {
            if let Some(p) = pixels {
                let img = image(p, scale);
                let (x0, y0) = (c as u32 * (cell + GAP), r as u32 * (cell + GAP));
                for (x, y, v) in img.enumerate_pixels() {
                    out.put_pixel(x0 + x, y0 + y, *v);
                }
            }
        }
    }
    out
}

/// A horizontal strip of at most `count` images spread evenly over `frames` (first and last
/// always included).
pub fn strip(frames: &[&[f32]], count: usize, scale: u32) -> GrayImage {
    let n = frames.len();
    let count = count.clamp(1, n.max(1));
    let picked: Vec<Option<&[f32]>> = if n == 0 {
        Vec::new()
    } else if count == 1 {
        vec![Some(frames[n - 1])]
    } else {
        (0..count)
            .map(|k| Some(frames[k * (n - 1) / (count - 1)]))
            .collect()
    };
    grid(&[picked], scale)
}

/// PNG bytes of a grayscale image.
pub fn encode_png(img: &GrayImage) -> image::ImageResult<Vec<u8>> {
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes).write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::L8,
    )?;
    Ok(bytes)
}

/// Writes `img` as `<dir>/<name>.png` atomically; returns the path.
pub fn write_png(dir: &Path, name: &str, img: &GrayImage) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.png"));
    let bytes = encode_png(img)?;
    crate::fsutil::write_atomic(&path, &bytes)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// A file name saying what made an image, e.g. `cnn_test-17_to7_log-normalized_step36`.
/// Parts are joined with `_`; characters other than `[A-Za-z0-9.-]` become `-`.
pub fn file_name(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// Decodes a PNG's gray pixels at x1 scale back to 784 values in [0,1] (for checks and tools).
pub fn decode_png(bytes: &[u8]) -> image::ImageResult<Vec<f32>> {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)?.to_luma8();
    Ok(img
        .as_raw()
        .iter()
        .take(PIXELS)
        .map(|&v| f32::from(v) / 255.0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upscale_is_nearest_neighbour_and_grid_has_gaps() {
        let mut p = vec![0f32; PIXELS];
        p[0] = 1.0;
        let img = image(&p, 3);
        assert_eq!(img.dimensions(), (84, 84));
        assert_eq!(img.get_pixel(2, 2)[0], 255);
        assert_eq!(img.get_pixel(3, 0)[0], 0);
        let g = grid(&[vec![Some(&p[..]), None]], 1);
        assert_eq!(g.dimensions(), (28 * 2 + GAP, 28));
        assert_eq!(g.get_pixel(28, 0)[0], GAP_GREY);
        assert_eq!(g.get_pixel(30, 0)[0], GAP_GREY, "a missing cell is grey");
    }

    #[test]
    fn strip_keeps_first_and_last() {
        let frames: Vec<Vec<f32>> = (0..10).map(|k| vec![k as f32 / 9.0; PIXELS]).collect();
        let refs: Vec<&[f32]> = frames.iter().map(Vec::as_slice).collect();
        let s = strip(&refs, 4, 1);
        assert_eq!(s.width(), 4 * 28 + 3 * GAP);
        assert_eq!(s.get_pixel(0, 0)[0], 0);
        assert_eq!(s.get_pixel(s.width() - 1, 0)[0], 255);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name(&["cnn", "test:3", "", "to 7"]), "cnn_test-3_to-7");
    }
}
