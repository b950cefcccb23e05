//! Property tests ("fuzzing" with a fixed budget) of the two parsers that read user files:
//! IDX and config.toml. They must never panic and never allocate from a size a header claims
//! beyond the bytes present. `scripts/fuzz.sh` runs them with a larger budget.

use std::path::Path;

use classgen::config::Config;
use classgen::data::idx::{self, encode};
use proptest::prelude::*;

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
