//! Your own images: test digits of the bundled sample written as files the way a user's would
//! differ from MNIST (larger, shifted, dark on light, colour, JPEG, transparent), read back by
//! the import: a CNN classifies them like the originals.

use std::path::{Path, PathBuf};

use classgen::data::import::{decode_file, import_file, Background, Mode};
use classgen::data::source::load_sample;
use classgen::data::{preprocess, Split, SIDE};
use classgen::inversion::start::first_confident;
use classgen::model::Network;
use classgen::runs::checkpoint;
use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

mod common;

/// The committed test image: this test-split image of the bundled sample, a 7.
const SEVEN: usize = 11;
const SEVEN_PNG: &str = "tests/data/seven.png";

fn grey(test: &Split, index: usize) -> GrayImage {
    GrayImage::from_raw(SIDE as u32, SIDE as u32, test.image(index).to_vec()).unwrap()
}

/// The digit at 200x200, at (90, 35) on 320x260 cream paper in blue ink.
fn on_paper(digit: &GrayImage) -> RgbImage {
    let big = imageops::resize(digit, 200, 200, FilterType::Triangle);
    let (paper, pen) = ([250.0, 246.0, 235.0], [20.0, 30.0, 110.0]);
    RgbImage::from_fn(320, 260, |x, y| {
        let inside = (90..290).contains(&x) && (35..235).contains(&y);
        let v = if inside {
            f32::from(big.get_pixel(x - 90, y - 35).0[0]) / 255.0
        } else {
            0.0
        };
        Rgb([0, 1, 2].map(|c: usize| (paper[c] + (pen[c] - paper[c]) * v).round() as u8))
    })
}

/// The digit at 200x200 in black ink on a transparent background.
fn on_glass(digit: &GrayImage) -> RgbaImage {
    let big = imageops::resize(digit, 200, 200, FilterType::Triangle);
    RgbaImage::from_fn(200, 200, |x, y| Rgba([0, 0, 0, big.get_pixel(x, y).0[0]]))
}

fn save(image: impl Into<DynamicImage>, path: &Path) -> PathBuf {
    image.into().save(path).unwrap();
    path.to_path_buf()
}

fn top_class(net: &Network, pixels: &[u8]) -> (usize, f32) {
    let probs = net.predict_proba(pixels, 1).unwrap();
    probs
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
}

#[test]
fn imported_files_are_classified_like_the_originals() {
    let trained = common::train_on_sample(4096, 500);
    let net = checkpoint::load_network(&trained.run_dir, &candle_core::Device::Cpu)
        .unwrap()
        .0;
    let test = &trained.data.test;
    let predict = |pixels: &[u8]| Ok(net.predict_proba(pixels, 256)?);
    let chosen: Vec<usize> = first_confident(&predict, test, 0.95)
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert!(chosen.len() >= 5, "confident digits: {chosen:?}");
    let dir = tempfile::tempdir().unwrap();
    for &i in &chosen {
        let label = usize::from(test.labels[i]);
        let digit = grey(test, i);
        let files = [
            save(digit.clone(), &dir.path().join(format!("{i}.png"))),
            save(on_paper(&digit), &dir.path().join(format!("{i}-paper.png"))),
            save(on_paper(&digit), &dir.path().join(format!("{i}-paper.jpg"))),
            save(on_glass(&digit), &dir.path().join(format!("{i}-glass.png"))),
        ];
        for file in &files {
            let imported = import_file(file, Mode::Mnist).unwrap();
            let (class, p) = top_class(&net, &imported.to_u8());
            assert_eq!(
                class,
                label,
                "{}: class {class} (p {p:.2}), not {label}",
                file.display()
            );
        }
        assert_eq!(
            decode_file(&files[1]).unwrap().background(),
            Background::Light(246)
        );
        let raw = import_file(&files[0], Mode::Raw).unwrap();
        assert_eq!(&raw.to_u8()[..], test.image(i), "raw mode keeps the pixels");
    }
    let seven = import_file(Path::new(SEVEN_PNG), Mode::Mnist).unwrap();
    assert_eq!(top_class(&net, &seven.to_u8()).0, 7);
}

/// MNIST's digits already are cropped, fitted and centred: preprocessing gives them back (the
/// same placement for almost all, the same pixels up to the resampling of a 19- or 21-pixel box).
#[test]
fn preprocessing_sample_digits_gives_them_back() {
    let test = load_sample().unwrap().test;
    let (mut moved, mut total) = (0, 0.0);
    for i in 0..test.len() {
        let original: Vec<f32> = test
            .image(i)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        let digit = preprocess(SIDE, SIDE, &original).unwrap();
        let diff = digit
            .pixels
            .iter()
            .zip(&original)
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / (SIDE * SIDE) as f32;
        total += diff;
        moved += usize::from(diff > 0.01);
    }
    assert!(
        moved * 50 < test.len(),
        "{moved} of {} placed elsewhere",
        test.len()
    );
    assert!(
        total / (test.len() as f32) < 0.002,
        "mean difference {}",
        total / test.len() as f32
    );
}

#[test]
fn the_committed_seven_is_a_sample_digit() {
    let test = load_sample().unwrap().test;
    assert_eq!(test.labels[SEVEN], 7);
    let raw = import_file(Path::new(SEVEN_PNG), Mode::Raw).unwrap();
    assert_eq!(&raw.to_u8()[..], test.image(SEVEN));
}

/// Writes `tests/data/seven.png`: `cargo test --test import -- --ignored write_seven_png`.
#[test]
#[ignore = "regenerates the committed test data"]
fn write_seven_png() {
    let test = load_sample().unwrap().test;
    grey(&test, SEVEN)
        .save_with_format(SEVEN_PNG, ImageFormat::Png)
        .unwrap();
}
