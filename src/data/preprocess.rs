//! MNIST's normalisation of a digit, applied to any grey buffer with ink high (a decoded file or
//! the drawing canvas): crop to the ink, fit in 20x20 keeping the aspect ratio, anti-aliased,
//! then place in 28x28 with the centre of mass at pixel (14, 14).

use super::dataset::{PIXELS, SIDE};

/// Side of the box the ink is scaled to fit, as in MNIST.
pub const FIT: usize = 20;
/// An image whose strongest ink is below this (in [0,1]) is blank.
pub const NO_INK: f32 = 0.1;
/// Pixels fainter than this fraction of the strongest ink do not count for the bounding box.
pub const FAINT: f32 = 0.2;

/// A 28x28 image, ink high, ready for a classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Digit {
    /// Row-major pixels in [0,1], as inversion starts take them.
    pub pixels: [f32; PIXELS],
}

impl Digit {
    /// The pixels as bytes (`round(255 v)`), as a [`Split`](super::Split) and
    /// `Network::predict_proba` take them.
    pub fn to_u8(&self) -> [u8; PIXELS] {
        self.pixels
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
    }
}

/// Why a buffer could not be preprocessed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreprocessError {
    #[error("{found} values do not make a {width}x{height} image")]
    Size {
        width: usize,
        height: usize,
        found: usize,
    },
    #[error("no ink: every pixel is below {NO_INK} (a blank image, or all one colour)")]
    NoInk,
}

/// Normalises a `width` x `height` row-major buffer, ink high in [0,1] (values outside are
/// clamped, non-finite ones are background), into an MNIST-style [`Digit`]:
/// 1. crop to the bounding box of the pixels at least [`FAINT`] times the strongest ink;
/// 2. scale the crop to fit [`FIT`]x[`FIT`] keeping its aspect ratio, by area averaging (each
///    output pixel is the mean of the source area it covers: anti-aliased, like MNIST);
/// 3. stretch so that the strongest pixel is 1;
/// 4. place it in 28x28 so that its centre of mass is at pixel (14, 14), as in MNIST (rounded to
///    a whole pixel, and moved back inside the frame if the ink would leave it).
pub fn preprocess(width: usize, height: usize, ink: &[f32]) -> Result<Digit, PreprocessError> {
    if width.checked_mul(height) != Some(ink.len()) {
        return Err(PreprocessError::Size {
            width,
            height,
            found: ink.len(),
        });
    }
    let clean: Vec<f32> = ink
        .iter()
        .map(|&v| {
            if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    fit(width, &clean).ok_or(PreprocessError::NoInk)
}

/// [`preprocess`] for a row-major buffer `width` wide of values in [0,1];
/// `None` when it has no ink.
pub(super) fn fit(width: usize, ink: &[f32]) -> Option<Digit> {
    let strongest = ink.iter().copied().fold(0.0f32, f32::max);
    if strongest < NO_INK {
        return None;
    }
    let (x0, y0, w, h) = bounding_box(width, ink, FAINT * strongest)?;
    let scale = FIT as f64 / w.max(h) as f64;
    let fit_w = ((w as f64 * scale).round() as usize).clamp(1, FIT);
    let fit_h = ((h as f64 * scale).round() as usize).clamp(1, FIT);
    let patch = area_resample(ink, width, (x0, y0, w, h), fit_w, fit_h);
    let peak = patch.iter().copied().fold(0.0f32, f32::max);
    if peak <= 0.0 {
        return None;
    }
    let (cx, cy) = centre_of_mass(&patch, fit_w);
    let centre = SIDE as f64 / 2.0;
    let ox = ((centre - cx).round().max(0.0) as usize).min(SIDE - fit_w);
    let oy = ((centre - cy).round().max(0.0) as usize).min(SIDE - fit_h);
    let mut pixels = [0.0; PIXELS];
    for (y, row) in patch.chunks(fit_w).enumerate() {
        for (x, &v) in row.iter().enumerate() {
            pixels[(oy + y) * SIDE + ox + x] = v / peak;
        }
    }
    Some(Digit { pixels })
}

/// `(x, y, width, height)` of the pixels at or above `threshold` in a row-major buffer.
fn bounding_box(width: usize, ink: &[f32], threshold: f32) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (y, row) in ink.chunks(width).enumerate() {
        for (x, _) in row.iter().enumerate().filter(|(_, &v)| v >= threshold) {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    (x0 != usize::MAX).then(|| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// The `(x, y, w, h)` region of a `stride`-wide buffer averaged down (or up) to `out_w` x `out_h`.
fn area_resample(
    src: &[f32],
    stride: usize,
    (x0, y0, w, h): (usize, usize, usize, usize),
    out_w: usize,
    out_h: usize,
) -> Vec<f32> {
    let wx = area_weights(w, out_w);
    let wy = area_weights(h, out_h);
    let mut out = Vec::with_capacity(out_w * out_h);
    for (ys, yw) in &wy {
        for (xs, xw) in &wx {
            let mut sum = 0.0f64;
            for (j, &a) in yw.iter().enumerate() {
                let row = (y0 + ys + j) * stride + x0 + xs;
                let line: f64 = xw
                    .iter()
                    .zip(&src[row..row + xw.len()])
                    .map(|(&b, &v)| f64::from(b * v))
                    .sum();
                sum += f64::from(a) * line;
            }
            out.push(sum as f32);
        }
    }
    out
}

/// For each of `dst` output cells over `src` source pixels: the first source pixel it covers and
/// the weights (overlap / cell width, summing to 1) of the pixels from there on.
fn area_weights(src: usize, dst: usize) -> Vec<(usize, Vec<f32>)> {
    let cell = src as f64 / dst as f64;
    (0..dst)
        .map(|i| {
            let (a, b) = (i as f64 * cell, (i + 1) as f64 * cell);
            let first = (a.floor() as usize).min(src - 1);
            let last = (b.ceil() as usize).clamp(first + 1, src);
            let weights = (first..last)
                .map(|j| {
                    let overlap = b.min(j as f64 + 1.0) - a.max(j as f64);
                    (overlap.max(0.0) / cell) as f32
                })
                .collect();
            (first, weights)
        })
        .collect()
}

/// Centre of mass `(x, y)` of a `width`-wide buffer in pixel indices (as MNIST placed it at
/// pixel (14, 14)); the middle if empty.
fn centre_of_mass(pixels: &[f32], width: usize) -> (f64, f64) {
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (y, row) in pixels.chunks(width).enumerate() {
        for (x, &v) in row.iter().enumerate() {
            let v = f64::from(v);
            mass += v;
            mx += v * x as f64;
            my += v * y as f64;
        }
    }
    let height = pixels.len() / width.max(1);
    if mass > 0.0 {
        (mx / mass, my / mass)
    } else {
        ((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `width` x `height` black buffer with the rectangle `(x, y, w, h)` at `value`.
    fn rect(
        width: usize,
        height: usize,
        (x, y, w, h): (usize, usize, usize, usize),
        value: f32,
    ) -> Vec<f32> {
        let mut ink = vec![0.0; width * height];
        for row in y..y + h {
            ink[row * width + x..row * width + x + w].fill(value);
        }
        ink
    }

    /// `(x, y, w, h)` of the non-zero pixels of a digit.
    fn digit_box(digit: &Digit) -> (usize, usize, usize, usize) {
        bounding_box(SIDE, &digit.pixels, 1e-6).unwrap()
    }

    fn assert_centred(digit: &Digit) {
        let (cx, cy) = centre_of_mass(&digit.pixels, SIDE);
        assert!(
            (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
            "centre of mass ({cx}, {cy})"
        );
    }

    #[test]
    fn a_tall_stroke_is_cropped_and_fits_20_high_keeping_its_aspect() {
        // 10 x 40 of ink in a 100 x 90 buffer: 20 high, 5 wide.
        let digit = preprocess(100, 90, &rect(100, 90, (70, 3, 10, 40), 0.8)).unwrap();
        let (_, _, w, h) = digit_box(&digit);
        assert_eq!((w, h), (5, 20));
        assert_centred(&digit);
        assert_eq!(
            digit.pixels.iter().copied().fold(0.0, f32::max),
            1.0,
            "stretched to 1"
        );
    }

    #[test]
    fn a_wide_small_stroke_is_scaled_up_to_20_wide() {
        let digit = preprocess(28, 28, &rect(28, 28, (2, 2, 8, 2), 1.0)).unwrap();
        let (_, _, w, h) = digit_box(&digit);
        assert_eq!((w, h), (20, 5));
        assert_centred(&digit);
    }

    #[test]
    fn downscaling_averages_areas() {
        // A 40 x 40 checkerboard of 1-pixel squares averages to a flat 0.5 grey, stretched to 1;
        // its mass at index 9.5 of 20 lands on 14 rounded: 5 to 24.
        let board: Vec<f32> = (0..1600).map(|i| ((i % 40 + i / 40) % 2) as f32).collect();
        let digit = preprocess(40, 40, &board).unwrap();
        assert_eq!(digit_box(&digit), (5, 5, 20, 20));
        assert!(digit
            .pixels
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0).abs() < 1e-5));
        let weights = area_weights(3, 2);
        assert_eq!(weights[0].0, 0);
        assert_eq!(weights[1].0, 1);
        assert!((weights[0].1.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((weights[1].1[0] - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn the_centre_of_mass_lands_at_the_centre() {
        // An L: a heavy foot pulls the mass down and right of the box's middle.
        let mut ink = rect(60, 60, (5, 5, 4, 40), 1.0);
        for (a, b) in ink.iter_mut().zip(rect(60, 60, (5, 41, 30, 4), 1.0)) {
            *a = a.max(b);
        }
        let digit = preprocess(60, 60, &ink).unwrap();
        assert_centred(&digit);
        let (x, y, w, h) = digit_box(&digit);
        assert_eq!((w, h), (15, 20));
        assert_ne!((x, y), (6, 4), "the box is not simply centred: the mass is");
    }

    #[test]
    fn ink_at_one_side_stays_inside_the_frame() {
        // A heavy bar at the left and a faint dot far right: centring the mass would push the
        // dot out of the frame, so the patch stops at the edge.
        let mut ink = rect(40, 40, (0, 0, 4, 40), 1.0);
        ink[39] = 0.2;
        let digit = preprocess(40, 40, &ink).unwrap();
        let (x, _, w, _) = digit_box(&digit);
        assert_eq!((x, w), (8, 20));
    }

    #[test]
    fn faint_noise_does_not_count_for_the_crop() {
        let mut ink = rect(50, 50, (20, 10, 8, 30), 0.9);
        for (i, v) in ink.iter_mut().enumerate() {
            *v += 0.05 * ((i * 7919) % 3) as f32; // up to 0.1, below FAINT * 0.9
        }
        ink[0] = 0.15;
        let digit = preprocess(50, 50, &ink).unwrap();
        let (_, _, w, h) = digit_box(&digit);
        assert_eq!(h, 20);
        assert!(w <= 7, "the crop is the stroke, not the noise: {w} wide");
    }

    #[test]
    fn blank_and_mis_sized_buffers_are_errors() {
        assert_eq!(
            preprocess(28, 28, &[0.0; PIXELS]),
            Err(PreprocessError::NoInk)
        );
        assert_eq!(
            preprocess(28, 28, &[0.05; PIXELS]),
            Err(PreprocessError::NoInk)
        );
        assert_eq!(preprocess(0, 0, &[]), Err(PreprocessError::NoInk));
        assert_eq!(
            preprocess(28, 28, &[f32::NAN; PIXELS]),
            Err(PreprocessError::NoInk)
        );
        let err = preprocess(28, 27, &[1.0; PIXELS]).unwrap_err();
        assert_eq!(err.to_string(), "784 values do not make a 28x27 image");
        assert!(preprocess(usize::MAX, 2, &[]).is_err());
    }

    #[test]
    fn to_u8_rounds_and_clamps() {
        let mut digit = Digit {
            pixels: [0.0; PIXELS],
        };
        digit.pixels[..4].copy_from_slice(&[0.5, 1.0, 1.5, -1.0]);
        assert_eq!(digit.to_u8()[..4], [128, 255, 255, 0]);
    }
}
