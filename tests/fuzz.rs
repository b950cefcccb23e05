//! Property tests ("fuzzing" with a fixed budget) of the parsers that read user files: IDX,
//! config.toml and images (PNG, JPEG). They must never panic and never allocate from a size a
//! header claims beyond the bytes present (or, for images, beyond a bound checked first), and
//! every size past its bound is an error naming the key, checked before anything is allocated.
//! `scripts/fuzz.sh` runs them with a larger budget.

use std::io::Cursor;
use std::path::Path;

use classgen::config::Config;
use classgen::data::idx::{self, encode};
use classgen::data::import::{import_bytes, ImportError, MAX_PIXELS};
use classgen::data::{preprocess, Digit, Mode, PreprocessError};
use classgen::limits::{self, *};
use classgen::model::arch::{ArchSpec, ConvSpec};
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

/// Every bounded size key: section, name and its upper bound.
fn bounded_keys() -> Vec<(&'static str, &'static str, u64)> {
    let cpus = limits::max_threads() as u64;
    let max = |v: usize| v as u64;
    vec![
        ("data", "hub_timeout_secs", MAX_HUB_TIMEOUT_SECS),
        ("train", "batch_size", max(MAX_BATCH)),
        ("train", "eval_batch", max(MAX_EVAL_BATCH)),
        ("train", "epochs", max(MAX_EPOCHS)),
        ("ablation", "epochs", max(MAX_EPOCHS)),
        ("ablation", "seeds", max(MAX_SEEDS)),
        ("train", "threads", cpus),
        ("baselines", "k", max(MAX_K)),
        ("baselines", "forest_trees", max(MAX_TREES)),
        ("baselines", "max_depth", max(MAX_DEPTH)),
        ("baselines", "svm_train_images", max(MAX_SVM_IMAGES)),
        ("baselines", "histogram_bins", max(MAX_BINS)),
        ("baselines", "ece_bins", max(MAX_BINS)),
        ("robustness", "batch", max(MAX_BATCH)),
        ("invert", "max_steps", max(MAX_INVERT_STEPS)),
        ("invert", "strip", max(MAX_STRIP)),
        ("invert", "gif_frames", max(MAX_GIF_FRAMES)),
        ("invert", "threads", cpus),
        ("invert.knn", "max_steps", max(MAX_INVERT_STEPS)),
        ("invert.prototype", "max_steps", max(MAX_INVERT_STEPS)),
        ("invert.prototype", "starts", max(MAX_STARTS)),
    ]
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

proptest! {
    /// A size past its bound (up to TOML's largest integer): an error naming the key, never a
    /// panic or an abort.
    #[test]
    fn oversized_values_are_rejected_naming_the_key(
        (section, name, max) in prop::sample::select(bounded_keys()),
        extra in 1u64..=u64::MAX,
    ) {
        let value = max.saturating_add(extra).min(i64::MAX as u64);
        let text = format!("[{section}]\n{name} = {value}\n");
        let message = Config::parse(&text, Path::new("fuzz.toml")).unwrap_err().to_string();
        let key = format!("{section}.{name}");
        prop_assert!(message.contains(&key), "{}", message);
        prop_assert!(message.contains(&format!("found {value}")), "{}", message);
    }

    /// Any size at or under its bound is accepted on its own (0 where it means "all" or "off").
    #[test]
    fn values_within_bounds_are_accepted(
        (section, name, max) in prop::sample::select(bounded_keys()),
        fraction in 0.0f64..=1.0,
    ) {
        let value = ((max as f64 * fraction) as u64).clamp(1, max);
        let text = format!("[{section}]\n{name} = {value}\n");
        prop_assert!(Config::parse(&text, Path::new("fuzz.toml")).is_ok(), "{}", text);
    }

    /// Any architecture, as config.toml or a checkpoint may carry one: `validate` never panics,
    /// and what it accepts stays within the bounds, with room for a batch of at least one.
    #[test]
    fn arch_validation_bounds_every_size(
        convs in proptest::collection::vec((any::<usize>(), 0usize..40, any::<bool>()), 0..12),
        dense in proptest::option::of(any::<usize>()),
        small in any::<bool>(),
    ) {
        // Half the cases with sizes near the bounds, half anywhere in usize.
        let shrink = |v: usize, m: usize| if small { v % (2 * m) } else { v };
        let spec = ArchSpec {
            name: "fuzz".into(),
            convs: convs
                .iter()
                .map(|&(filters, kernel, pool)| ConvSpec {
                    filters: shrink(filters, MAX_FILTERS),
                    kernel,
                    pool,
                })
                .collect(),
            dense: dense.map(|d| shrink(d, MAX_DENSE)),
        };
        if spec.validate().is_ok() {
            prop_assert!(spec.convs.len() <= MAX_CONVS);
            prop_assert!(spec.convs.iter().all(|c| (1..=MAX_FILTERS).contains(&c.filters)));
            prop_assert!(spec.dense.is_none_or(|d| (1..=MAX_DENSE).contains(&d)));
            prop_assert!(spec.params() <= MAX_PARAMS);
            prop_assert!(spec.max_batch() >= 1);
            prop_assert!(spec.max_batch() == 1 || spec.max_batch() * spec.activations() <= MAX_BATCH_FLOATS);
        }
    }

    /// `[[arch]]` with huge widths in config.toml: an error naming `arch`, never an abort.
    #[test]
    fn huge_arch_sizes_in_config_are_rejected(
        filters in (MAX_FILTERS as u64 + 1)..=i64::MAX as u64,
        dense in (MAX_DENSE as u64 + 1)..=i64::MAX as u64,
        which in any::<bool>(),
    ) {
        let text = if which {
            format!("[[arch]]\nname = \"x\"\nconvs = [{{ filters = {filters} }}]\n")
        } else {
            format!("[[arch]]\nname = \"x\"\nconvs = []\ndense = {dense}\n")
        };
        let message = Config::parse(&text, Path::new("fuzz.toml")).unwrap_err().to_string();
        prop_assert!(message.contains("'arch'") && message.contains("at most"), "{}", message);
    }
}

/// Cases found by fuzzing, kept as regressions.
#[test]
fn regression_zero_sized_dims_with_trailing_byte() {
    let mut bytes = encode(&[0, 28, 28], &[]);
    bytes.push(1);
    assert!(idx::parse(&bytes, 3, Path::new("r")).is_err());
}

/// A valid checkpoint.json of the tiny net, one epoch done.
fn checkpoint_json() -> serde_json::Value {
    use classgen::runs::checkpoint::CheckpointMeta;
    use classgen::runs::DataIdentity;
    let arch = ArchSpec::by_name("tiny", &[]).unwrap();
    let data = DataIdentity::of(&classgen::data::source::load_sample().unwrap());
    let mut meta = CheckpointMeta::fresh(&arch, data, &classgen::config::TrainConfig::default());
    meta.generation = 2;
    serde_json::to_value(&meta).unwrap()
}

/// The numeric fields of a checkpoint a tampered or damaged file could change.
const CHECKPOINT_FIELDS: [&[&str]; 9] = [
    &["recipe", "batch_size"],
    &["recipe", "eval_batch"],
    &["recipe", "epochs"],
    &["recipe", "threads"],
    &["progress", "position", "epoch"],
    &["progress", "position", "batch"],
    &["params"],
    &["generation"],
    &["arch", "dense"],
];

proptest! {
    /// A checkpoint.json with any of its sizes changed to any number: read as it is, or refused
    /// with the file named, never a panic or an allocation from the number.
    #[test]
    fn a_tampered_checkpoint_is_checked_like_config_input(
        field in prop::sample::select(CHECKPOINT_FIELDS.to_vec()),
        value in prop_oneof![0u64..10, any::<u64>()],
        learning_rate in prop_oneof![Just(1e-3), any::<f64>()],
    ) {
        let mut json = checkpoint_json();
        let mut slot = &mut json;
        for key in field {
            slot = slot.get_mut(*key).unwrap();
        }
        *slot = serde_json::json!(value);
        json["recipe"]["learning_rate"] = serde_json::json!(learning_rate);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(classgen::runs::checkpoint::CHECKPOINT);
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        match classgen::runs::checkpoint::read_meta(dir.path()) {
            Ok(meta) => {
                prop_assert!(meta.recipe.batch_size <= MAX_BATCH && meta.recipe.batch_size > 0);
                prop_assert!(meta.arch.params() <= MAX_PARAMS);
                prop_assert!(meta.recipe.learning_rate > 0.0);
            }
            Err(e) => prop_assert!(e.to_string().contains("checkpoint.json"), "{}", e),
        }
    }
}
