//! Where an inversion starts: a test image, the first confident test image of a class, seeded
//! noise, or a blank image.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};

use crate::data::{Split, CLASSES, PIXELS};
use crate::model::Network;

/// A start image, as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// `test:IDX`: test image number IDX.
    Test(usize),
    /// `class:C`: the first test image of class C the model classifies with confidence.
    Class(usize),
    /// `noise:SEED`: uniform noise in [0,1].
    Noise(u64),
    /// `blank`: all zeros.
    Blank,
}

/// Why a start image could not be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartError {
    #[error("expected test:IDX, class:C (0-9), noise:SEED or blank, found '{0}'")]
    Syntax(String),
    #[error("test:{index}: the test split has {len} images (0..{len})")]
    OutOfRange { index: usize, len: usize },
    #[error("class:{class}: no test image of class {class} is classified as {class} with p >= {confidence}")]
    NoConfident { class: usize, confidence: f32 },
    #[error("the model failed: {0}")]
    Model(String),
}

impl FromStr for Start {
    type Err = StartError;

    fn from_str(s: &str) -> Result<Self, StartError> {
        let bad = || StartError::Syntax(s.to_string());
        if s == "blank" {
            return Ok(Self::Blank);
        }
        let (kind, value) = s.split_once(':').ok_or_else(bad)?;
        match kind {
            "test" => value.parse().map(Self::Test).map_err(|_| bad()),
            "class" => value
                .parse()
                .ok()
                .filter(|c| *c < CLASSES)
                .map(Self::Class)
                .ok_or_else(bad),
            "noise" => value.parse().map(Self::Noise).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Test(i) => write!(f, "test:{i}"),
            Self::Class(c) => write!(f, "class:{c}"),
            Self::Noise(s) => write!(f, "noise:{s}"),
            Self::Blank => f.write_str("blank"),
        }
    }
}

/// A resolved start image.
#[derive(Debug, Clone, PartialEq)]
pub struct StartImage {
    /// 784 pixels in [0,1].
    pub pixels: Vec<f32>,
    /// For file names: `test-17`, `noise-3`, `blank`.
    pub tag: String,
    /// The test image's label, if it is one.
    pub label: Option<usize>,
}

impl Start {
    /// Whether resolving needs the test split.
    pub fn needs_test_split(self) -> bool {
        matches!(self, Self::Test(_) | Self::Class(_))
    }

    /// The start image. `test` is needed for `test:` and `class:`; `class:` also runs `net`.
    pub fn resolve(
        self,
        test: &Split,
        net: &Network,
        confidence: f32,
    ) -> Result<StartImage, StartError> {
        match self {
            Self::Test(index) => {
                if index >= test.len() {
                    return Err(StartError::OutOfRange {
                        index,
                        len: test.len(),
                    });
                }
                Ok(from_test(test, index))
            }
            Self::Class(class) => {
                let found = first_confident(net, test, confidence)
                    .map_err(|e| StartError::Model(e.to_string()))?;
                found[class]
                    .map(|i| from_test(test, i))
                    .ok_or(StartError::NoConfident { class, confidence })
            }
            Self::Noise(seed) => {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                Ok(StartImage {
                    pixels: (0..PIXELS).map(|_| rng.random::<f32>()).collect(),
                    tag: format!("noise-{seed}"),
                    label: None,
                })
            }
            Self::Blank => Ok(StartImage {
                pixels: vec![0.0; PIXELS],
                tag: "blank".into(),
                label: None,
            }),
        }
    }
}

fn from_test(test: &Split, index: usize) -> StartImage {
    StartImage {
        pixels: test
            .image(index)
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect(),
        tag: format!("test-{index}"),
        label: Some(usize::from(test.labels[index])),
    }
}

/// For each class, the index of the first test image of that class that `net` assigns to it
/// with probability at least `confidence` (scanning in batches until every class is found).
pub fn first_confident(
    net: &Network,
    test: &Split,
    confidence: f32,
) -> candle_core::Result<[Option<usize>; CLASSES]> {
    const BATCH: usize = 256;
    let mut found = [None; CLASSES];
    for begin in (0..test.len()).step_by(BATCH) {
        let end = (begin + BATCH).min(test.len());
        let probs = net.predict_proba(&test.images[begin * PIXELS..end * PIXELS], BATCH)?;
        for (i, p) in (begin..end).zip(probs.chunks(CLASSES)) {
            let label = usize::from(test.labels[i]);
            if found[label].is_none() && p[label] >= confidence {
                found[label] = Some(i);
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_specs_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!("test:17".parse(), Ok(Start::Test(17)));
        assert_eq!("class:3".parse(), Ok(Start::Class(3)));
        assert_eq!("noise:5".parse(), Ok(Start::Noise(5)));
        assert_eq!("blank".parse(), Ok(Start::Blank));
        for bad in ["class:10", "test:-1", "digit:3", "noise", ""] {
            let err = bad.parse::<Start>().unwrap_err().to_string();
            assert!(err.contains("test:IDX") && err.contains(bad), "{err}");
        }
    }
}
