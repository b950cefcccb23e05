//! Exported images: one image upscaled (nearest neighbour), grids (rows = sources, columns =
//! targets) and trajectory strips, as grayscale PNG, and trajectories as animated GIF; all
//! written atomically and never over an existing file (names carry the run that made them, and
//! a name taken anyway gets a `-2`, `-3`... suffix).

use std::path::{Path, PathBuf};

use image::{GrayImage, ImageEncoder, Luma};

use crate::data::SIDE;

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

/// 3x5 bitmaps of the digits 0-9, one row of 3 bits per `u8`, top row first.
const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Draws the digits of `text` (other characters are skipped) in white, each dot `dot` pixels,
/// centred on (`cx`, `cy`).
fn draw_digits(img: &mut GrayImage, text: &str, cx: u32, cy: u32, dot: u32) {
    let digits: Vec<usize> = text
        .chars()
        .filter_map(|c| c.to_digit(10).map(|d| d as usize))
        .collect();
    let width = (digits.len() as u32 * 4).saturating_sub(1) * dot;
    let (x0, y0) = (cx.saturating_sub(width / 2), cy.saturating_sub(5 * dot / 2));
    for (i, &d) in digits.iter().enumerate() {
        for (row, bits) in DIGITS[d].iter().enumerate() {
            for col in 0..3u32 {
                if bits & (0b100 >> col) == 0 {
                    continue;
                }
                for dy in 0..dot {
                    for dx in 0..dot {
                        let x = x0 + (i as u32 * 4 + col) * dot + dx;
                        let y = y0 + row as u32 * dot + dy;
                        if x < img.width() && y < img.height() {
                            img.put_pixel(x, y, Luma([255]));
                        }
                    }
                }
            }
        }
    }
}

/// [`grid`] with a margin that labels its rows (`rows[r]`, e.g. the source's class or seed)
/// on the left and its columns (the targets 0, 1, ...) on top.
pub fn labelled_grid(cells: &[Vec<Option<&[f32]>>], rows: &[String], scale: u32) -> GrayImage {
    let body = grid(cells, scale);
    let cell = SIDE as u32 * scale.max(1);
    let dot = (scale.max(1) / 2).max(1);
    let margin = 14 * dot + GAP;
    let mut out = GrayImage::from_pixel(body.width() + margin, body.height() + margin, Luma([0]));
    for (x, y, v) in body.enumerate_pixels() {
        out.put_pixel(margin + x, margin + y, *v);
    }
    let cols = cells.iter().map(Vec::len).max().unwrap_or(0);
    for c in 0..cols as u32 {
        let cx = margin + c * (cell + GAP) + cell / 2;
        draw_digits(&mut out, &c.to_string(), cx, margin / 2, dot);
    }
    for (r, label) in rows.iter().enumerate() {
        let cy = margin + r as u32 * (cell + GAP) + cell / 2;
        draw_digits(&mut out, label, margin / 2, cy, dot);
    }
    out
}

/// At most `count` of `frames`, spread evenly (first and last always included).
fn pick<'a>(frames: &[&'a [f32]], count: usize) -> Vec<&'a [f32]> {
    let n = frames.len();
    match (n, count.clamp(1, n.max(1))) {
        (0, _) => Vec::new(),
        (_, 1) => vec![frames[n - 1]],
        (_, count) => (0..count)
            .map(|k| frames[k * (n - 1) / (count - 1)])
            .collect(),
    }
}

/// A horizontal strip of at most `count` images spread evenly over `frames` (first and last
/// always included).
pub fn strip(frames: &[&[f32]], count: usize, scale: u32) -> GrayImage {
    let picked: Vec<Option<&[f32]>> = pick(frames, count).into_iter().map(Some).collect();
    grid(&[picked], scale)
}

/// Time between GIF frames and how long the last one is held, in hundredths of a second.
const GIF_DELAY: u16 = 8;
const GIF_HOLD: u16 = 150;

/// A looping animated GIF of at most `count` of `frames` spread evenly (first and last
/// included), each upscaled `scale` times; palette index = grey level, so no colour is lost.
pub fn encode_gif(
    frames: &[&[f32]],
    count: usize,
    scale: u32,
) -> Result<Vec<u8>, gif::EncodingError> {
    let side = (SIDE as u32 * scale.max(1)).min(u32::from(u16::MAX)) as u16;
    let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
    let mut encoder = gif::Encoder::new(Vec::new(), side, side, &palette)?;
    encoder.set_repeat(gif::Repeat::Infinite)?;
    let picked = pick(frames, count);
    for (i, pixels) in picked.iter().enumerate() {
        let img = image(pixels, scale);
        let frame = gif::Frame {
            width: side,
            height: side,
            delay: if i + 1 == picked.len() {
                GIF_HOLD
            } else {
                GIF_DELAY
            },
            buffer: std::borrow::Cow::Borrowed(img.as_raw()),
            ..gif::Frame::default()
        };
        encoder.write_frame(&frame)?;
    }
    encoder.into_inner()
}

/// Writes the trajectory `frames` as `<dir>/<name>.gif` (see [`encode_gif`]), as a new file.
pub fn write_gif(
    dir: &Path,
    name: &str,
    frames: &[&[f32]],
    count: usize,
    scale: u32,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.gif"));
    let bytes = encode_gif(frames, count, scale)
        .map_err(|e| anyhow::anyhow!("encoding {}: {e}", path.display()))?;
    write_new(&path, &bytes)?;
    Ok(path)
}

/// Most `-N` suffixes tried for a name that is taken.
const MAX_SUFFIX: usize = 100;

/// Writes `bytes` as a new file `path`, atomically: the name is claimed first (an empty file
/// made with create-new), then filled through a temporary file and a rename. A file already
/// there is never replaced: that is an error of kind `AlreadyExists`.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let fail = |e: std::io::Error| WriteError {
        path: path.to_path_buf(),
        error: e,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(fail)?;
    crate::fsutil::write_atomic(path, bytes).map_err(|e| {
        let _ = std::fs::remove_file(path);
        fail(e)
    })
}

/// A snapshot file that could not be written (or whose name was taken).
#[derive(Debug, thiserror::Error)]
#[error("writing {}: {error}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub error: std::io::Error,
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

/// Writes `img` as the new file `<dir>/<name>.png` (an error if it exists); returns the path.
pub fn write_png(dir: &Path, name: &str, img: &GrayImage) -> anyhow::Result<PathBuf> {
    write_png_bytes(dir, name, &encode_png(img)?)
}

/// Writes PNG `bytes` as a new file `<name>.png` (never over another); returns its path.
pub fn write_png_bytes(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.png"));
    write_new(&path, bytes)?;
    Ok(path)
}

/// Writes `img` as a new PNG named `<name>.png`, or `<name>-2.png`, `<name>-3.png`... if that
/// is taken; returns the path (its stem is the name to give the image's companions).
pub fn write_png_unique(dir: &Path, name: &str, img: &GrayImage) -> anyhow::Result<PathBuf> {
    let bytes = encode_png(img)?;
    for n in 1..=MAX_SUFFIX {
        let path = match n {
            1 => dir.join(format!("{name}.png")),
            n => dir.join(format!("{name}-{n}.png")),
        };
        match write_new(&path, &bytes) {
            Ok(()) => return Ok(path),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!(
        "{}: {name}.png and {MAX_SUFFIX} numbered variants are taken",
        dir.display()
    )
}

/// Most characters kept of each part of a file name (a long file stem as the source), so a
/// name stays well under the 255 bytes file systems allow.
const MAX_PART: usize = 64;

/// A file name saying what made an image, e.g. `cnn_test-17_to7_log-normalized_step36`.
/// Parts are joined with `_`; characters other than `[A-Za-z0-9.-]` become `-`; each part is
/// cut to its first [`MAX_PART`] characters.
pub fn file_name(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.chars()
                .take(MAX_PART)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::PIXELS;

    /// A PNG's gray pixels as values in [0,1].
    fn decode_png(bytes: &[u8]) -> image::ImageResult<Vec<f32>> {
        let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)?.to_luma8();
        Ok(img
            .as_raw()
            .iter()
            .take(PIXELS)
            .map(|&v| f32::from(v) / 255.0)
            .collect())
    }

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
    fn a_labelled_grid_has_a_margin_with_the_row_and_column_numbers() {
        let img = [1.0f32; 784];
        let cells = vec![vec![Some(&img[..]); 2]; 1];
        let plain = grid(&cells, 2);
        let labelled = labelled_grid(&cells, &["7".to_string()], 2);
        let margin = labelled.width() - plain.width();
        assert_eq!(labelled.height() - plain.height(), margin);
        // Some label dots are lit in the top margin (the columns) and the left one (the row).
        let lit = |x0: u32, y0: u32, w: u32, h: u32| {
            (x0..x0 + w).any(|x| (y0..y0 + h).any(|y| labelled.get_pixel(x, y)[0] == 255))
        };
        assert!(lit(margin, 0, plain.width(), margin), "column labels");
        assert!(lit(0, margin, margin, plain.height()), "row labels");
        assert!(!lit(0, 0, margin, margin), "the corner stays empty");
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
    fn a_png_written_at_x1_decodes_to_the_same_pixels() {
        let data = crate::data::source::load_sample().unwrap();
        let pixels: Vec<f32> = data
            .test
            .image(7)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = write_png(dir.path(), "digit", &image(&pixels, 1)).unwrap();
        assert_eq!(path, dir.path().join("digit.png"));
        let decoded = decode_png(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(decoded, pixels);
    }

    #[test]
    fn a_gif_holds_the_picked_frames_as_grey_levels() {
        let frames: Vec<Vec<f32>> = (0..10).map(|k| vec![k as f32 / 9.0; PIXELS]).collect();
        let refs: Vec<&[f32]> = frames.iter().map(Vec::as_slice).collect();
        let bytes = encode_gif(&refs, 4, 1).unwrap();
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        let mut decoder = options.read_info(&bytes[..]).unwrap();
        let mut levels = Vec::new();
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            assert_eq!((frame.width, frame.height), (28, 28));
            levels.push(frame.buffer[0]);
        }
        // Frames 0, 3, 6 and 9 of 10: grey levels 0, 85, 170, 255.
        assert_eq!(levels, vec![0, 85, 170, 255]);
    }

    #[test]
    fn a_snapshot_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(&[1.0; PIXELS], 1);
        let first = write_png_unique(dir.path(), "digit", &img).unwrap();
        let second = write_png_unique(dir.path(), "digit", &image(&[0.0; PIXELS], 1)).unwrap();
        assert_eq!(first, dir.path().join("digit.png"));
        assert_eq!(second, dir.path().join("digit-2.png"));
        assert_eq!(
            decode_png(&std::fs::read(&first).unwrap()).unwrap(),
            vec![1.0; PIXELS]
        );
        let err = write_png(dir.path(), "digit", &img).unwrap_err();
        assert!(err.to_string().contains("digit.png"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no stray files"
        );
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name(&["cnn", "test:3", "", "to 7"]), "cnn_test-3_to-7");
        let long = "x".repeat(300);
        assert_eq!(file_name(&["run", &long]).len(), 4 + MAX_PART);
    }
}
