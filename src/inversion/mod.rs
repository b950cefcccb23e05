//! Inversion: change an image's pixels step by step until a classifier assigns a chosen target
//! class. An inverter yields [`Frame`]s; the dashboard draws them, the headless CLI logs them,
//! [`crate::snapshot`] writes them.

pub mod gradient;
pub mod grid;
pub mod knn;
pub mod options;
pub mod prototype;
pub mod regularise;
pub mod start;
pub mod sweep;

pub use gradient::{GradientInverter, StopReason};
pub use knn::{KnnInverter, KnnOptions};
pub use options::{GradientOptions, Objective, Regularisers, StepKind};
pub use start::{Start, StartImage};

use serde::Serialize;

use crate::data::CLASSES;

/// One state of an inversion: the image after `step` updates and what the classifier says of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frame {
    /// Updates applied so far (0: the start image).
    pub step: usize,
    /// The 28x28 image, row-major, values in [0,1].
    pub pixels: Vec<f32>,
    /// The classifier's probabilities for the ten classes.
    pub probs: [f32; CLASSES],
    /// Probability of the target class.
    pub p_target: f32,
    /// Norm of the objective's gradient with respect to the pixels at this image (before any
    /// normalisation or regulariser).
    pub grad_norm: f32,
    /// Euclidean distance from the start image.
    pub l2: f32,
    /// Largest absolute pixel change from the start image.
    pub linf: f32,
}

/// Anything that inverts step by step: the gradient and the k-NN inverters. The dashboard
/// drives one with [`step`](Self::step); headless code loops until [`stop_reason`](Self::stop_reason).
pub trait Inverter: Send {
    /// The frame of the current image; then one update unless a stop rule holds. Once stopped,
    /// it keeps returning the final frame.
    fn step(&mut self) -> anyhow::Result<Frame>;

    /// Why the inversion stopped, once it has.
    fn stop_reason(&self) -> Option<StopReason>;

    /// Every frame up to and including the one a stop rule held at.
    fn run_to_end(&mut self) -> anyhow::Result<Vec<Frame>> {
        let mut frames = Vec::new();
        while self.stop_reason().is_none() {
            frames.push(self.step()?);
        }
        Ok(frames)
    }
}

/// `(L2, L-infinity)` distance between two images.
pub fn distances(a: &[f32], b: &[f32]) -> (f32, f32) {
    let (mut sq, mut max) = (0f64, 0f32);
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs();
        sq += f64::from(d) * f64::from(d);
        max = max.max(d);
    }
    (sq.sqrt() as f32, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_euclidean_and_max() {
        let (l2, linf) = distances(&[0.0, 0.0, 1.0], &[0.3, 0.4, 1.0]);
        assert!((l2 - 0.5).abs() < 1e-6, "{l2}");
        assert!((linf - 0.4).abs() < 1e-6, "{linf}");
    }
}
