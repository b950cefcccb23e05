//! One interface for everything that scores images, so accuracy, confidence and histograms are
//! written once for the CNN and every baseline.

use std::sync::Arc;

use crate::data::{CLASSES, PIXELS};
use crate::model::Network;

/// A model that gives class probabilities for MNIST-shaped images.
pub trait Classifier: Send + Sync {
    /// Short name shown in tables (`cnn`, `knn`, `logreg`, ...).
    fn name(&self) -> &str;

    /// Class probabilities, `n * 10` values (row `i` sums to 1), for `n` images of
    /// [`PIXELS`] u8 pixels each.
    fn predict_proba(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>>;

    /// Bytes the fitted model holds (parameters, trees, or stored training images).
    fn size_bytes(&self) -> usize;
}

/// The CNN behind the [`Classifier`] interface.
pub struct Cnn {
    pub network: Arc<Network>,
    /// Images per forward pass.
    pub batch: usize,
}

impl Classifier for Cnn {
    fn name(&self) -> &str {
        "cnn"
    }

    fn predict_proba(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        Ok(self.network.predict_proba(pixels, self.batch)?)
    }

    fn size_bytes(&self) -> usize {
        4 * self.network.vars().map(|v| v.elem_count()).sum::<usize>()
    }
}

/// Number of images in a pixel buffer; errors if it is not a whole number of images.
pub fn image_count(pixels: &[u8]) -> anyhow::Result<usize> {
    if !pixels.len().is_multiple_of(PIXELS) {
        anyhow::bail!(
            "{} pixels is not a whole number of {PIXELS}-pixel images",
            pixels.len()
        );
    }
    Ok(pixels.len() / PIXELS)
}

/// The predicted class of each row of `probs` (`n * 10`): the first largest probability, so
/// ties go to the smallest class label (as `numpy.argmax` and scikit-learn do).
pub fn predictions(probs: &[f32]) -> Vec<u8> {
    probs
        .chunks_exact(CLASSES)
        .map(|row| {
            let mut best = 0;
            for (c, &p) in row.iter().enumerate() {
                if p > row[best] {
                    best = c;
                }
            }
            best as u8
        })
        .collect()
}

/// Share of rows of `probs` whose prediction equals the label (0 for no rows).
pub fn accuracy(probs: &[f32], labels: &[u8]) -> f64 {
    let hits = predictions(probs)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    if labels.is_empty() {
        0.0
    } else {
        hits as f64 / labels.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_smallest_class() {
        let mut probs = vec![0.0; 20];
        probs[3] = 0.5;
        probs[7] = 0.5;
        probs[10 + 9] = 1.0;
        assert_eq!(predictions(&probs), vec![3, 9]);
        assert_eq!(accuracy(&probs, &[7, 9]), 0.5);
    }

    #[test]
    fn partial_images_are_rejected() {
        assert_eq!(image_count(&[0; 2 * PIXELS]).unwrap(), 2);
        assert!(image_count(&[0; PIXELS + 1]).is_err());
    }
}
