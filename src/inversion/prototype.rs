//! Prototype quality: inversions from seeded noise to every target, and the share of them that
//! independently trained classifiers also assign to the target. A plain inversion from noise
//! fools the model it inverts (an adversarial image) but hardly any other model; an image that
//! looks like the digit convinces them too.

use serde::Serialize;

use super::grid::{median, Cell};
use super::start::{Predict, Start, StartImage};
use crate::baselines::knn::KnnIndex;
use crate::data::{Split, CLASSES, PIXELS};
use crate::snapshot::to_byte;

/// `count` uniform-noise start images, seeded `first_seed`, `first_seed + 1`, ...
pub fn noise_starts(first_seed: u64, count: usize) -> Vec<StartImage> {
    let empty = Split {
        images: Vec::new(),
        labels: Vec::new(),
    };
    let unused = |_: &[u8]| -> anyhow::Result<Vec<f32>> { Ok(Vec::new()) };
    (0..count as u64)
        .filter_map(|i| {
            Start::Noise(first_seed.wrapping_add(i))
                .resolve(&empty, &unused, 1.0)
                .ok()
        })
        .collect()
}

/// How many images a classifier assigns to their targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Agreement {
    /// Images whose most probable class (the first, on ties) is their target.
    pub agreed: usize,
    pub total: usize,
    /// Agreed images per target class.
    pub per_target: [usize; CLASSES],
}

impl Agreement {
    /// `agreed / total` (0 when there is no image).
    pub fn share(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.agreed as f64 / self.total as f64
        }
    }
}

/// Classifies the final image of every cell with `predict`, quantised to bytes as a PNG stores
/// it, and counts those assigned to the cell's target.
pub fn agreement(cells: &[Cell], predict: &Predict) -> anyhow::Result<Agreement> {
    let pixels = final_images(cells);
    let probs = predict(&pixels)?;
    if probs.len() != cells.len() * CLASSES {
        anyhow::bail!(
            "the judge returned {} probabilities for {} images (expected {} each)",
            probs.len(),
            pixels.len() / PIXELS,
            CLASSES
        );
    }
    let mut result = Agreement {
        agreed: 0,
        total: cells.len(),
        per_target: [0; CLASSES],
    };
    for (cell, p) in cells.iter().zip(probs.chunks_exact(CLASSES)) {
        let predicted = (0..CLASSES).fold(0, |best, c| if p[c] > p[best] { c } else { best });
        if predicted == cell.target {
            result.agreed += 1;
            result.per_target[cell.target] += 1;
        }
    }
    Ok(result)
}

/// The final images of `cells` as bytes, as a PNG stores them.
pub fn final_images(cells: &[Cell]) -> Vec<u8> {
    cells
        .iter()
        .flat_map(|c| c.last.pixels.iter().map(|&p| to_byte(p)))
        .collect()
}

/// Median Euclidean distance (pixels in [0,1]) from u8 images to their nearest training image:
/// how far from anything real an image is. `None` for no image.
pub fn median_nearest_distance(index: &KnnIndex, images: &[u8]) -> Option<f64> {
    let (found, _) = index.search_u8(images, 1);
    median(
        found
            .iter()
            .filter_map(|n| n.first().map(|&(_, d2)| f64::from(d2).sqrt()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inversion::{Frame, StopReason};

    fn cell(target: usize, bright: usize) -> Cell {
        let mut pixels = vec![0.0; PIXELS];
        pixels[bright] = 1.0;
        Cell {
            source: 0,
            label: None,
            target,
            start_grad_norm: 0.0,
            last: Frame {
                step: 0,
                pixels,
                probs: [0.0; CLASSES],
                p_target: 0.0,
                grad_norm: 0.0,
                l2: 0.0,
                linf: 0.0,
            },
            steps: 0,
            p_target: 0.0,
            l2: 0.0,
            linf: 0.0,
            reason: StopReason::MaxSteps,
        }
    }

    #[test]
    fn agreement_counts_images_the_judge_assigns_to_their_target() {
        // The judge says "class = index of the bright pixel", seeing the quantised bytes.
        let judge = |pixels: &[u8]| -> anyhow::Result<Vec<f32>> {
            Ok(pixels
                .chunks(PIXELS)
                .flat_map(|img| {
                    let mut p = [0f32; CLASSES];
                    p[img.iter().position(|&v| v == 255).unwrap_or(0) % CLASSES] = 1.0;
                    p
                })
                .collect())
        };
        let cells = [cell(3, 3), cell(4, 7), cell(7, 7)];
        let a = agreement(&cells, &judge).unwrap();
        assert_eq!((a.agreed, a.total), (2, 3));
        assert_eq!(a.per_target[3], 1);
        assert_eq!(a.per_target[4], 0);
        assert!((a.share() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn nearest_distance_is_zero_for_training_images_and_grows_with_noise() {
        let data = crate::data::source::load_sample().unwrap();
        let train = data.train.head(300);
        let index = KnnIndex::new(&train.images, &train.labels, 0, 1).unwrap();
        assert_eq!(
            median_nearest_distance(&index, train.head(5).images.as_slice()),
            Some(0.0)
        );
        let noise = final_images(&[cell(0, 0)]);
        let d = median_nearest_distance(&index, &noise).unwrap();
        assert!(d > 1.0, "{d}");
        assert_eq!(median_nearest_distance(&index, &[]), None);
    }

    #[test]
    fn noise_starts_are_seeded_in_sequence() {
        let a = noise_starts(5, 3);
        let b = noise_starts(6, 2);
        assert_eq!(a.len(), 3);
        assert_eq!(a[1], b[0]);
        assert_eq!(a[0].tag, "noise-5");
        assert!(a[0].pixels.iter().all(|p| (0.0..1.0).contains(p)));
    }
}
