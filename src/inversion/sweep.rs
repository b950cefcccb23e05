//! The inversion sweep (the study's section 3.3): one inversion per learning rate and start,
//! each summed up by its p(target) curve: the steps to the threshold (or never), the final
//! p(target), the L2 distance from the start, and whether it oscillated.

use serde::{Deserialize, Serialize};

use super::Frame;

/// p(target) oscillated when, after rising, it fell back by more than this below its best so
/// far (in probability, 0 to 1).
pub const OSCILLATION_DROP: f32 = 0.1;

/// One (learning rate, start) inversion, summed up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepCell {
    pub lr: f32,
    /// The start as `--starts` names it (`noise:3`, `test:17`).
    pub start: String,
    /// p(target) at every frame, from the start image (step 0) on.
    pub curve: Vec<f32>,
    /// The first step at which p(target) reached the threshold; `None`: never.
    pub steps_to_threshold: Option<usize>,
    pub final_p: f32,
    /// L2 distance of the final image from the start.
    pub l2: f32,
    /// The largest fall of p(target) below its best so far, and whether it exceeds
    /// [`OSCILLATION_DROP`].
    pub largest_drop: f32,
    pub oscillated: bool,
}

impl SweepCell {
    /// Sums up the frames of one inversion at `lr` from `start`.
    pub fn of(lr: f32, start: String, frames: &[Frame], threshold: f32) -> Self {
        let curve: Vec<f32> = frames.iter().map(|f| f.p_target).collect();
        let steps_to_threshold = frames
            .iter()
            .find(|f| f.p_target >= threshold)
            .map(|f| f.step);
        let last = frames.last();
        let largest_drop = largest_drop(&curve);
        Self {
            lr,
            start,
            steps_to_threshold,
            final_p: last.map_or(0.0, |f| f.p_target),
            l2: last.map_or(0.0, |f| f.l2),
            largest_drop,
            oscillated: largest_drop > OSCILLATION_DROP,
            curve,
        }
    }
}

/// The largest fall of `curve` below its running maximum, counted only once the curve has
/// risen above where it started.
pub fn largest_drop(curve: &[f32]) -> f32 {
    let Some(&first) = curve.first() else {
        return 0.0;
    };
    let mut best = first;
    let mut drop = 0f32;
    for &p in curve {
        best = best.max(p);
        if best > first {
            drop = drop.max(best - p);
        }
    }
    drop
}

/// How far apart final images of different starts are: the mean, least and largest L2
/// distance over every pair; `None` for fewer than two images.
pub fn spread(finals: &[Vec<f32>]) -> Option<(f32, f32, f32)> {
    let mut d = Vec::new();
    for i in 0..finals.len() {
        for j in i + 1..finals.len() {
            d.push(super::distances(&finals[i], &finals[j]).0);
        }
    }
    let mean = d.iter().sum::<f32>() / d.len().max(1) as f32;
    let min = d.iter().copied().fold(f32::INFINITY, f32::min);
    let max = d.iter().copied().fold(0f32, f32::max);
    (!d.is_empty()).then_some((mean, min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fall_after_a_rise_is_an_oscillation_and_a_slow_climb_is_not() {
        assert!((largest_drop(&[0.1, 0.9, 0.5, 0.95]) - 0.4).abs() < 1e-6);
        assert_eq!(largest_drop(&[0.1, 0.2, 0.3, 0.4]), 0.0);
        // A fall before any rise is not counted.
        assert_eq!(largest_drop(&[0.5, 0.2, 0.3]), 0.0);
        let frame = |step, p| Frame {
            step,
            pixels: vec![],
            probs: [0.0; 10],
            p_target: p,
            grad_norm: 0.0,
            l2: step as f32,
            linf: 0.0,
        };
        let frames = [frame(0, 0.1), frame(1, 0.95), frame(2, 0.6), frame(3, 0.99)];
        let cell = SweepCell::of(0.3, "noise:1".into(), &frames, 0.9);
        assert_eq!(cell.steps_to_threshold, Some(1));
        assert!(cell.oscillated);
        assert_eq!((cell.final_p, cell.l2), (0.99, 3.0));
        let slow = SweepCell::of(0.01, "noise:1".into(), &frames[..1], 0.9);
        assert_eq!(slow.steps_to_threshold, None);
        assert!(!slow.oscillated);
    }

    #[test]
    fn spread_is_over_every_pair_of_final_images() {
        let finals = [vec![0.0, 0.0], vec![3.0, 4.0], vec![0.0, 1.0]];
        let (mean, min, max) = spread(&finals).unwrap();
        assert_eq!((min, max), (1.0, 5.0));
        assert!(
            (mean - (5.0 + 1.0 + 18f32.sqrt()) / 3.0).abs() < 1e-5,
            "{mean}"
        );
        assert_eq!(spread(&finals[..1]), None);
    }
}
