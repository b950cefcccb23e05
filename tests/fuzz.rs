//! Property tests ("fuzzing" with a fixed budget) of the parsers that read user files: IDX,
//! config.toml and images (PNG, JPEG). They must never panic and never allocate from a size a
//! header claims beyond the bytes present (or, for images, beyond a bound checked first).
//! `scripts/fuzz.sh` runs them with a larger budget.

use std::io::Cursor;
use std::path::Path;

use classgen::config::Config;
use classgen::data::idx::{self, encode};
use classgen::data::import::{import_bytes, ImportError, MAX_PIXELS};
use classgen::data::{preprocess, Digit, Mode, PreprocessError};
use image::{GrayImage, ImageFormat, Luma};
use proptest::prelude::*;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_SIGNATURE: &[u8] = &[0xFF, 0xD8, 0xFF];

/// A `width` x `height` PNG or JPEG: a black block in the middle third of white paper.
fn image_file(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = GrayImage::from_fn(width, height, |x, y| {
        let middle = |v: u32, n: u32| (n / 3..n - n / 3).contains(&v);
        Luma([if middle(x, width) && middle(y, height) {
            0
        } else {
            255
        }])
    });
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

/// Every pixel in [0,1] and the strongest at 1, as `preprocess` promises.
fn is_normalised(digit: &Digit) -> bool {
    let peak = digit.pixels.iter().copied().fold(0.0f32, f32::max);
    digit.pixels.iter().all(|v| (0.0..=1.0).contains(v)) && (peak - 1.0).abs() < 1e-6
}

proptest! {
    /// Arbitrary bytes: an error or a consistent array, never a panic.
    #[test]
    fn idx_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), dims in 1u8..4) {
        if let Ok(array) = idx::parse(&bytes, dims, Path::new("fuzz")) {
            let declared: usize = array.dims.iter().product();
            prop_assert_eq!(array.data.len(), declared);
            prop_assert!(array.data.len() <= bytes.len());
        }
    }

    /// A valid header whose sizes lie: rejected before anything is allocated from them.
    #[test]
    fn lying_headers_are_rejected(dims in proptest::collection::vec(0u32..=u32::MAX, 3), body in 0usize..64) {
        let mut bytes = encode(&[0, 0, 0], &[]);
        for (i, d) in dims.iter().enumerate() {
            bytes[4 + 4 * i..8 + 4 * i].copy_from_slice(&d.to_be_bytes());
        }
        bytes.extend(std::iter::repeat_n(7u8, body));
        let declared = dims.iter().map(|&d| d as u128).product::<u128>();
        let result = idx::parse(&bytes, 3, Path::new("fuzz"));
        prop_assert_eq!(result.is_ok(), declared == body as u128);
    }

    /// Gzip-looking garbage goes through the decoder without panicking.
    #[test]
    fn gzip_garbage_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..128)) {
        let mut bytes = vec![0x1f, 0x8b];
        bytes.extend(tail);
        let _ = idx::decode(bytes, 3, Path::new("fuzz.gz"));
    }

    /// Arbitrary text as config.toml: a config or an error, never a panic.
    #[test]
    fn config_parse_never_panics(text in "\\PC{0,200}") {
        let _ = Config::parse(&text, Path::new("fuzz.toml"));
    }

    /// Arbitrary bytes, alone or after a PNG or JPEG signature: an error or a digit, never a panic.
    #[test]
    fn image_import_never_panics(
        signature in prop::sample::select(vec![&b""[..], PNG_SIGNATURE, JPEG_SIGNATURE]),
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let bytes = [signature, &tail[..]].concat();
        if let Ok(digit) = import_bytes(&bytes, Path::new("fuzz"), Mode::Mnist) {
            prop_assert!(is_normalised(&digit));
        }
        let _ = import_bytes(&bytes, Path::new("fuzz"), Mode::Raw);
    }

    /// A PNG or JPEG of any size cut anywhere: an error naming the file or a digit; whole, a digit.
    #[test]
    fn truncated_images_never_panic(
        width in 3u32..90,
        height in 3u32..90,
        jpeg in any::<bool>(),
        cut in 0.0f64..1.0,
    ) {
        let format = if jpeg { ImageFormat::Jpeg } else { ImageFormat::Png };
        let bytes = image_file(width, height, format);
        let end = (bytes.len() as f64 * cut) as usize;
        match import_bytes(&bytes[..end], Path::new("cut.img"), Mode::Mnist) {
            Ok(digit) => prop_assert!(is_normalised(&digit)),
            Err(e) => prop_assert!(e.to_string().contains("cut.img"), "{}", e),
        }
        let whole = import_bytes(&bytes, Path::new("whole.img"), Mode::Mnist);
        prop_assert!(whole.is_ok(), "{:?}", whole);
    }

    /// A PNG header claiming any size: above the bound refused before decoding, never a panic.
    #[test]
    fn claimed_image_sizes_are_checked_first(
        width in prop_oneof![1u32..100, 1u32..1 << 31],
        height in prop_oneof![1u32..100, 1u32..1 << 31],
    ) {
        let mut png = image_file(9, 9, ImageFormat::Png);
        // IHDR: length (8..12), type (12..16), width (16..20), height (20..24), ..., CRC (29..33).
        png[16..20].copy_from_slice(&width.to_be_bytes());
        png[20..24].copy_from_slice(&height.to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(&png[12..29]);
        png[29..33].copy_from_slice(&crc.sum().to_be_bytes());
        let result = import_bytes(&png, Path::new("claims.png"), Mode::Mnist);
        if u64::from(width) * u64::from(height) > MAX_PIXELS {
            prop_assert!(matches!(result, Err(ImportError::TooLarge { .. })), "{:?}", result);
        }
    }

    /// Any buffer of any size: a normalised digit, or the error saying why not.
    #[test]
    fn preprocess_takes_any_buffer(
        (width, height, mut values) in (0usize..50, 0usize..50).prop_flat_map(|(w, h)| {
            let value = prop_oneof![
                3 => Just(0.0f32),
                3 => -0.5f32..1.5,
                1 => Just(f32::NAN),
                1 => Just(f32::INFINITY),
            ];
            (Just(w), Just(h), proptest::collection::vec(value, w * h))
        }),
        extra in 0usize..3,
    ) {
        values.extend(std::iter::repeat_n(1.0, extra));
        match preprocess(width, height, &values) {
            Ok(digit) => prop_assert!(extra == 0 && is_normalised(&digit)),
            Err(PreprocessError::Size { found, .. }) => prop_assert!(extra > 0 && found == values.len()),
            Err(PreprocessError::NoInk) => prop_assert!(extra == 0),
        }
    }

    /// Known keys with arbitrary values: every error names the file.
    #[test]
    fn config_errors_name_the_file(
        key in prop::sample::select(vec![
            "train.epochs", "train.batch_size", "train.learning_rate", "train.device",
            "train.arch", "data.dataset", "data.source", "ablation.seeds", "ablation.variants",
        ]),
        value in prop::sample::select(vec!["0", "-1", "1e400", "\"x\"", "[]", "true", "3", "\"cuda:9\"", "nan"]),
    ) {
        let (section, name) = key.split_once('.').unwrap_or(("", key));
        let text = format!("[{section}]\n{name} = {value}\n");
        if let Err(e) = Config::parse(&text, Path::new("fuzz.toml")) {
            let message = e.to_string();
            prop_assert!(message.contains("fuzz.toml") || message.contains(key), "{}", message);
        }
    }
}

/// Cases found by fuzzing, kept as regressions.
#[test]
fn regression_zero_sized_dims_with_trailing_byte() {
    let mut bytes = encode(&[0, 28, 28], &[]);
    bytes.push(1);
    assert!(idx::parse(&bytes, 3, Path::new("r")).is_err());
}
