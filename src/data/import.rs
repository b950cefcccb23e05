//! Your own images: a PNG or JPEG file of any size, colour or grey, with or without alpha,
//! decoded into grey ink (bright on black) and turned into an MNIST-style [`Digit`] by
//! [`preprocess`](super::preprocess).

use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayAlphaImage, ImageDecoder, ImageError, ImageFormat, ImageReader};

use super::dataset::{PIXELS, SIDE};
use super::preprocess::{self, Digit};

pub use crate::limits::MAX_PIXELS;

/// What to do with a decoded image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// The MNIST steps: ink from the background, crop, fit 20x20, centre of mass at the centre.
    #[default]
    Mnist,
    /// The pixels as they are (grey, transparent = black): the image must be 28x28, white on black.
    Raw,
}

/// The background of a picture, read from its border.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// Most of the border is transparent: ink is what is opaque.
    Transparent,
    /// Light ink on this dark grey level (the border's median): kept as it is.
    Dark(u8),
    /// Dark ink on this light grey level (the border's median): inverted.
    Light(u8),
}

/// Why an image file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source} (expected a PNG or JPEG file)", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{}: is {what}, not a regular file (expected a PNG or JPEG file)", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("{} is empty (0 bytes); expected a PNG or JPEG image", path.display())]
    Empty { path: PathBuf },
    #[error("{} is not a PNG or JPEG image: {found}", path.display())]
    Unsupported { path: PathBuf, found: String },
    #[error(
        "{} is {width}x{height} pixels; classgen reads images of at most {} megapixels: scale it down",
        path.display(), MAX_PIXELS / 1_000_000
    )]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("{} is a truncated or corrupt {format} image: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        format: String,
        reason: String,
    },
    #[error("{} has no ink: it is blank or all one colour; expected a digit on a plain background", path.display())]
    NoInk { path: PathBuf },
    #[error("{} is {width}x{height}; raw mode (--raw) expects an MNIST-style image of exactly {SIDE}x{SIDE}", path.display())]
    NotMnistSize {
        path: PathBuf,
        width: usize,
        height: usize,
    },
}

/// A decoded image: grey levels with alpha, any size.
#[derive(Debug, Clone)]
pub struct Picture(GrayAlphaImage);

impl Picture {
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.0.width() as usize
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.0.height() as usize
    }

    /// The background, from the border pixels: transparent if most are, else light or dark by
    /// the median grey level of the opaque ones.
    pub fn background(&self) -> Background {
        let (w, h) = (self.width(), self.height());
        let mut histogram = [0usize; 256];
        let (mut border, mut opaque) = (0usize, 0usize);
        for (x, y, p) in self.0.enumerate_pixels() {
            let (x, y) = (x as usize, y as usize);
            if x != 0 && y != 0 && x + 1 != w && y + 1 != h {
                continue;
            }
            border += 1;
            if p.0[1] >= 128 {
                opaque += 1;
                histogram[usize::from(p.0[0])] += 1;
            }
        }
        if opaque * 2 < border || opaque == 0 {
            return Background::Transparent;
        }
        let mut seen = 0;
        let median = histogram
            .iter()
            .position(|&n| {
                seen += n;
                seen * 2 >= opaque
            })
            .unwrap_or(0) as u8;
        if median >= 128 {
            Background::Light(median)
        } else {
            Background::Dark(median)
        }
    }

    /// Ink in [0,1], row-major: the contrast with the [`background`](Self::background), stretched
    /// so that black on white paper (or white on black) is 1, times the alpha (transparent is
    /// background).
    pub fn ink(&self) -> Vec<f32> {
        let background = self.background();
        let contrast = |l: f32| match background {
            Background::Transparent => 1.0,
            Background::Light(bg) => (f32::from(bg) - l) / f32::from(bg),
            Background::Dark(bg) => (l - f32::from(bg)) / (255.0 - f32::from(bg)),
        };
        self.0
            .pixels()
            .map(|p| contrast(f32::from(p.0[0])).clamp(0.0, 1.0) * f32::from(p.0[1]) / 255.0)
            .collect()
    }

    /// The grey levels in [0,1] as they are, composited on black (raw mode).
    pub fn raw(&self) -> Vec<f32> {
        self.0
            .pixels()
            .map(|p| f32::from(p.0[0]) * f32::from(p.0[1]) / (255.0 * 255.0))
            .collect()
    }

    /// The digit in `mode`; `path` names the file in errors.
    pub fn to_digit(&self, path: &Path, mode: Mode) -> Result<Digit, ImportError> {
        let (width, height) = (self.width(), self.height());
        match mode {
            Mode::Raw if (width, height) != (SIDE, SIDE) => Err(ImportError::NotMnistSize {
                path: path.to_path_buf(),
                width,
                height,
            }),
            Mode::Raw => {
                let mut pixels = [0.0; PIXELS];
                pixels.copy_from_slice(&self.raw());
                Ok(Digit { pixels })
            }
            Mode::Mnist => preprocess::fit(width, &self.ink()).ok_or(ImportError::NoInk {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Reads a PNG or JPEG file into a digit (the command line's `FILE` and `--from file:PATH`).
pub fn import_file(path: &Path, mode: Mode) -> Result<Digit, ImportError> {
    decode_file(path)?.to_digit(path, mode)
}

/// [`import_file`] for a file's bytes; `path` names it in errors.
pub fn import_bytes(bytes: &[u8], path: &Path, mode: Mode) -> Result<Digit, ImportError> {
    decode_bytes(bytes, path)?.to_digit(path, mode)
}

/// Decodes a PNG or JPEG file (recognised by its content, not its name).
pub fn decode_file(path: &Path) -> Result<Picture, ImportError> {
    let unreadable = |source| ImportError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = crate::userfile::open_regular(path).map_err(|e| match e {
        crate::userfile::ReadError::NotAFile(what) => ImportError::NotAFile {
            path: path.to_path_buf(),
            what,
        },
        crate::userfile::ReadError::Io(source) => unreadable(source),
        e @ crate::userfile::ReadError::TooLarge { .. } => {
            unreadable(io::Error::other(e.to_string()))
        }
    })?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.len() == 0 {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
        });
    }
    decode(BufReader::new(file), path)
}

/// [`decode_file`] for a file's bytes; `path` names it in errors.
pub fn decode_bytes(bytes: &[u8], path: &Path) -> Result<Picture, ImportError> {
    if bytes.is_empty() {
        return Err(ImportError::Empty {
            path: path.to_path_buf(),
        });
    }
    decode(Cursor::new(bytes), path)
}

/// Sniffs the format, checks the dimensions from the header, then decodes.
fn decode<R: BufRead + Seek>(mut reader: R, path: &Path) -> Result<Picture, ImportError> {
    let path_buf = || path.to_path_buf();
    let unreadable = |source| ImportError::Unreadable {
        path: path_buf(),
        source,
    };
    let too_large = |width, height| ImportError::TooLarge {
        path: path_buf(),
        width,
        height,
    };
    let check = |(width, height): (u32, u32)| {
        if u64::from(width) * u64::from(height) > MAX_PIXELS {
            Err(too_large(width, height))
        } else {
            Ok(())
        }
    };
    // The PNG decoder allocates a row as it opens: check the size it claims first.
    if let Some(size) = png_size(&mut reader).map_err(unreadable)? {
        check(size)?;
    }
    let reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(unreadable)?;
    let format = match reader.format() {
        Some(format @ (ImageFormat::Png | ImageFormat::Jpeg)) => format,
        Some(other) => {
            return Err(ImportError::Unsupported {
                path: path_buf(),
                found: format!("it looks like {}", format_name(other)),
            })
        }
        None => {
            return Err(ImportError::Unsupported {
                path: path_buf(),
                found: "its first bytes are no image signature classgen knows".into(),
            })
        }
    };
    let name = format_name(format);
    let decoder = reader
        .into_decoder()
        .map_err(|e| decoding_error(path, &name, e))?;
    let (width, height) = decoder.dimensions();
    check((width, height))?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        ImageError::Limits(_) => too_large(width, height),
        e => decoding_error(path, &name, e),
    })?;
    Ok(Picture(image.to_luma_alpha8()))
}

/// Width and height from the header (IHDR, the first chunk) if the bytes start as a PNG;
/// the reader is left where it was.
fn png_size<R: Read + Seek>(reader: &mut R) -> io::Result<Option<(u32, u32)>> {
    let start = reader.stream_position()?;
    let mut head = Vec::with_capacity(24);
    reader.by_ref().take(24).read_to_end(&mut head)?;
    reader.seek(SeekFrom::Start(start))?;
    let be = |at: usize| {
        head.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    };
    let is_png = head.starts_with(b"\x89PNG\r\n\x1a\n") && head.get(12..16) == Some(b"IHDR");
    Ok(match (is_png, be(16), be(20)) {
        (true, Some(width), Some(height)) => Some((width, height)),
        _ => None,
    })
}

/// An `image` error while decoding, as an [`ImportError`] naming `path`.
fn decoding_error(path: &Path, format: &str, e: ImageError) -> ImportError {
    match e {
        ImageError::IoError(source) if source.kind() != io::ErrorKind::UnexpectedEof => {
            ImportError::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        }
        ImageError::Unsupported(e) => ImportError::Unsupported {
            path: path.to_path_buf(),
            found: e.to_string(),
        },
        e => ImportError::Corrupt {
            path: path.to_path_buf(),
            format: format.to_string(),
            reason: e.to_string(),
        },
    }
}

/// `PNG`, `JPEG`, `GIF`, ...: the format's usual file extension, in capitals.
fn format_name(format: ImageFormat) -> String {
    match format {
        ImageFormat::Jpeg => "JPEG".into(),
        other => other
            .extensions_str()
            .first()
            .map_or_else(|| format!("{other:?}"), |e| e.to_uppercase()),
    }
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, Luma, Rgba, RgbaImage};

    use super::*;

    fn encode(image: impl Into<DynamicImage>, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image.into().write_to(&mut bytes, format).unwrap();
        bytes.into_inner()
    }

    /// A `width` x `height` grey image of `paper` with a `pen` bar at x 10..16, y 5..35.
    fn bar(width: u32, height: u32, paper: u8, pen: u8) -> GrayImage {
        GrayImage::from_fn(width, height, |x, y| {
            Luma([if (10..16).contains(&x) && (5..35).contains(&y) {
                pen
            } else {
                paper
            }])
        })
    }

    fn picture(image: impl Into<DynamicImage>) -> Picture {
        decode_bytes(&encode(image, ImageFormat::Png), Path::new("t.png")).unwrap()
    }

    fn err(bytes: &[u8]) -> ImportError {
        import_bytes(bytes, Path::new("my7.png"), Mode::Mnist).unwrap_err()
    }

    #[test]
    fn dark_on_light_is_detected_and_inverted() {
        let dark_on_light = picture(bar(40, 40, 255, 0));
        assert_eq!(dark_on_light.background(), Background::Light(255));
        let light_on_dark = picture(bar(40, 40, 0, 255));
        assert_eq!(light_on_dark.background(), Background::Dark(0));
        assert_eq!(dark_on_light.ink(), light_on_dark.ink());
        assert_eq!(dark_on_light.ink()[5 * 40 + 10], 1.0);
        assert_eq!(dark_on_light.ink()[0], 0.0);
        let path = Path::new("t.png");
        assert_eq!(
            dark_on_light.to_digit(path, Mode::Mnist).unwrap(),
            light_on_dark.to_digit(path, Mode::Mnist).unwrap()
        );
    }

    #[test]
    fn grey_paper_is_the_background_and_colour_becomes_grey() {
        // Pencil (grey 50) on grey paper (200): ink (200 - 50) / 200, no ink where the paper is.
        let pencil = picture(bar(40, 40, 200, 50));
        assert_eq!(pencil.background(), Background::Light(200));
        assert_eq!(pencil.ink()[5 * 40 + 10], 0.75);
        assert_eq!(pencil.ink()[0], 0.0);
        // Blue ink on white, in RGB: its luma is dark, so it is ink.
        let blue = image::RgbImage::from_fn(40, 40, |x, y| {
            let pen = (10..16).contains(&x) && (5..35).contains(&y);
            image::Rgb(if pen { [20, 40, 160] } else { [255, 255, 255] })
        });
        let blue = picture(blue);
        assert_eq!(blue.background(), Background::Light(255));
        assert!(blue.ink()[5 * 40 + 10] > 0.7);
    }

    #[test]
    fn transparent_is_background_whatever_the_ink_colour() {
        let on_glass = |pen: [u8; 3]| {
            picture(RgbaImage::from_fn(40, 40, |x, y| {
                if (10..16).contains(&x) && (5..35).contains(&y) {
                    Rgba([pen[0], pen[1], pen[2], 255])
                } else {
                    Rgba([255, 255, 255, 0])
                }
            }))
        };
        let black = on_glass([0, 0, 0]);
        assert_eq!(black.background(), Background::Transparent);
        assert_eq!(black.ink(), on_glass([255, 255, 255]).ink());
        assert_eq!(black.ink(), picture(bar(40, 40, 0, 255)).ink());
    }

    #[test]
    fn raw_mode_keeps_the_pixels_and_needs_28x28() {
        let grey = GrayImage::from_fn(28, 28, |x, y| Luma([(x * 9 + y) as u8]));
        let digit = import_bytes(
            &encode(grey.clone(), ImageFormat::Png),
            Path::new("r.png"),
            Mode::Raw,
        )
        .unwrap();
        assert_eq!(digit.to_u8().to_vec(), grey.into_raw());
        let wrong = encode(bar(28, 40, 0, 255), ImageFormat::Png);
        let e = import_bytes(&wrong, Path::new("r.png"), Mode::Raw).unwrap_err();
        assert!(matches!(
            e,
            ImportError::NotMnistSize {
                width: 28,
                height: 40,
                ..
            }
        ));
        assert!(
            e.to_string().contains("r.png is 28x40") && e.to_string().contains("28x28"),
            "{e}"
        );
    }

    #[test]
    fn jpeg_is_read_too() {
        // An L (the bar and a foot), so that its centre of mass is not half-way between pixels.
        let l = GrayImage::from_fn(40, 40, |x, y| {
            let ink = (10..16).contains(&x) && (5..35).contains(&y)
                || (10..26).contains(&x) && (29..35).contains(&y);
            Luma([if ink { 0 } else { 255 }])
        });
        let read =
            |format| import_bytes(&encode(l.clone(), format), Path::new("l"), Mode::Mnist).unwrap();
        let (jpeg, png) = (read(ImageFormat::Jpeg), read(ImageFormat::Png));
        let diff: f32 = jpeg
            .pixels
            .iter()
            .zip(&png.pixels)
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(
            diff / (PIXELS as f32) < 0.02,
            "mean difference {}",
            diff / PIXELS as f32
        );
    }

    #[test]
    fn empty_not_an_image_and_other_formats_are_named() {
        let e = err(b"");
        assert!(matches!(e, ImportError::Empty { .. }));
        assert_eq!(
            e.to_string(),
            "my7.png is empty (0 bytes); expected a PNG or JPEG image"
        );
        let e = err(b"just some text, not pixels");
        assert!(matches!(e, ImportError::Unsupported { .. }));
        assert!(
            e.to_string()
                .starts_with("my7.png is not a PNG or JPEG image"),
            "{e}"
        );
        let e = err(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;");
        assert!(matches!(e, ImportError::Unsupported { .. }));
        assert!(e.to_string().contains("it looks like GIF"), "{e}");
    }

    #[test]
    fn truncated_files_are_corrupt() {
        let png = encode(bar(40, 40, 255, 0), ImageFormat::Png);
        for cut in [8, 20, 40, png.len() - 13] {
            let e = err(&png[..cut]);
            assert!(
                matches!(e, ImportError::Corrupt { .. }),
                "cut at {cut}: {e:?}"
            );
            assert!(
                e.to_string()
                    .starts_with("my7.png is a truncated or corrupt PNG image"),
                "{e}"
            );
        }
        let jpeg = encode(bar(40, 40, 255, 0), ImageFormat::Jpeg);
        let e = err(&jpeg[..4]);
        assert!(e.to_string().contains("corrupt JPEG"), "{e}");
    }

    #[test]
    fn one_colour_images_have_no_ink() {
        for paper in [255, 0, 100] {
            let e = err(&encode(bar(40, 40, paper, paper), ImageFormat::Png));
            assert!(matches!(e, ImportError::NoInk { .. }));
            assert!(e.to_string().starts_with("my7.png has no ink"), "{e}");
        }
        let clear = RgbaImage::from_pixel(30, 30, Rgba([0, 0, 0, 0]));
        assert!(matches!(
            err(&encode(clear, ImageFormat::Png)),
            ImportError::NoInk { .. }
        ));
        let snow = encode(bar(40, 40, 255, 255), ImageFormat::Jpeg);
        assert!(matches!(err(&snow), ImportError::NoInk { .. }));
    }

    #[test]
    fn huge_dimensions_are_refused_from_the_header() {
        // A JPEG whose frame header (SOF0: FF C0, length, precision, height, width) claims
        // 65535 x 65535: refused without decoding the 4 gigapixels.
        let mut jpeg = encode(bar(40, 40, 255, 0), ImageFormat::Jpeg);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF; 4]);
        let e = err(&jpeg);
        assert!(
            matches!(
                e,
                ImportError::TooLarge {
                    width: 65535,
                    height: 65535,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "my7.png is 65535x65535 pixels; classgen reads images of at most 64 megapixels: scale it down"
        );
    }

    #[test]
    fn unreadable_paths_say_why() {
        let missing = Path::new("tests/data/no-such-digit.png");
        let e = import_file(missing, Mode::Mnist).unwrap_err();
        assert!(
            matches!(&e, ImportError::Unreadable { source, .. } if source.kind() == io::ErrorKind::NotFound)
        );
        assert!(
            e.to_string()
                .starts_with("cannot read tests/data/no-such-digit.png: "),
            "{e}"
        );
        let e = import_file(Path::new("src"), Mode::Mnist).unwrap_err();
        assert_eq!(
            e.to_string(),
            "src: is a directory, not a regular file (expected a PNG or JPEG file)"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            import_file(&empty, Mode::Mnist),
            Err(ImportError::Empty { .. })
        ));
        let good = dir.path().join("bar.jpeg.txt");
        std::fs::write(&good, encode(bar(40, 40, 255, 0), ImageFormat::Png)).unwrap();
        assert!(
            import_file(&good, Mode::Mnist).is_ok(),
            "the content decides, not the name"
        );
    }
}
