//! The k-NN inverter: a classifier without gradients, inverted with a direction built from its
//! neighbours. Pseudo-probability of class c: the share of the `k` nearest training images in c.

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{distances, Frame, Inverter, StopReason};
use crate::baselines::knn::KnnIndex;
use crate::data::{Split, CLASSES, PIXELS};

/// Weight of the push away from the non-target neighbours, relative to the pull towards the
/// nearest target-class images.
const AWAY: f32 = 0.5;

/// Settings of one k-NN inversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KnnOptions {
    /// Target class, 0-9.
    pub target: usize,
    /// Neighbours that vote.
    pub k: usize,
    /// Length of a step (L2, [0,1] pixel units) before the mask; shorter when the target
    /// neighbours are closer than that.
    pub lr: f32,
    /// Share of the pixels that move in each step (a fresh random mask every step).
    pub mask: f32,
    pub max_steps: usize,
    /// Stop once the pseudo-probability of the target reaches this.
    pub threshold: f32,
    /// Seed for the masks.
    pub seed: u64,
}

/// Why a k-NN inverter could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KnnInvertError {
    #[error("target class must be 0-9, found {0}")]
    Target(usize),
    #[error("a start image has {PIXELS} pixels, found {0}")]
    Pixels(usize),
    #[error("k must be 1..={train} (the training images), found {k}")]
    K { k: usize, train: usize },
    #[error("the training split has no image of class {0}")]
    NoTargetImages(usize),
    #[error("the k-NN index holds {index} images but the training split {train}: build it on that split")]
    Split { index: usize, train: usize },
    #[error("mask must be in (0, 1], found {0}")]
    Mask(f32),
}

/// Moves an image towards the nearest training images of the target class and away from its
/// other neighbours, a random part of the pixels at a time.
pub struct KnnInverter {
    index: Arc<KnnIndex>,
    train: Arc<Split>,
    /// Training images of the target class, in [0,1].
    targets: Vec<f32>,
    start: Vec<f32>,
    x: Vec<f32>,
    options: KnnOptions,
    rng: rand::rngs::StdRng,
    steps: usize,
    stopped: Option<StopReason>,
}

impl KnnInverter {
    /// An inverter over `index`, whose training images are `train` (the same split).
    pub fn new(
        index: Arc<KnnIndex>,
        train: Arc<Split>,
        start: Vec<f32>,
        options: KnnOptions,
    ) -> Result<Self, KnnInvertError> {
        if options.target >= CLASSES {
            return Err(KnnInvertError::Target(options.target));
        }
        if index.len() != train.len() {
            return Err(KnnInvertError::Split {
                index: index.len(),
                train: train.len(),
            });
        }
        if start.len() != PIXELS {
            return Err(KnnInvertError::Pixels(start.len()));
        }
        if options.k == 0 || options.k > index.len() {
            return Err(KnnInvertError::K {
                k: options.k,
                train: index.len(),
            });
        }
        if !(options.mask > 0.0 && options.mask <= 1.0) {
            return Err(KnnInvertError::Mask(options.mask));
        }
        let targets: Vec<f32> = (0..train.len())
            .filter(|&i| usize::from(train.labels[i]) == options.target)
            .flat_map(|i| train.image(i).iter().map(|&p| f32::from(p) / 255.0))
            .collect();
        if targets.is_empty() {
            return Err(KnnInvertError::NoTargetImages(options.target));
        }
        let start: Vec<f32> = start.iter().map(|p| p.clamp(0.0, 1.0)).collect();
        Ok(Self {
            index,
            train,
            targets,
            x: start.clone(),
            start,
            rng: rand::rngs::StdRng::seed_from_u64(options.seed),
            options,
            steps: 0,
            stopped: None,
        })
    }

    /// Mean of the `k` training images of the target class nearest to the current image.
    fn nearest_targets_mean(&self) -> Vec<f32> {
        let mut dist: Vec<(f32, usize)> = self
            .targets
            .chunks_exact(PIXELS)
            .enumerate()
            .map(|(j, t)| (distances(t, &self.x).0, j))
            .collect();
        let m = self.options.k.min(dist.len());
        dist.select_nth_unstable_by(m - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        mean(
            dist[..m]
                .iter()
                .map(|&(_, j)| &self.targets[j * PIXELS..(j + 1) * PIXELS]),
        )
    }
}

fn mean<'a>(images: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum = vec![0f32; PIXELS];
    let mut n = 0;
    for img in images {
        for (s, p) in sum.iter_mut().zip(img) {
            *s += p;
        }
        n += 1;
    }
    sum.iter_mut().for_each(|s| *s /= n.max(1) as f32);
    sum
}

impl Inverter for KnnInverter {
    fn step(&mut self) -> anyhow::Result<Frame> {
        let o = self.options.clone();
        let neighbours = self.index.search(&self.x, o.k).pop().unwrap_or_default();
        let labels = self.index.labels();
        let probs = self.index.vote_shares(&neighbours, o.k);
        let towards = self.nearest_targets_mean();
        let others: Vec<Vec<f32>> = neighbours
            .iter()
            .map(|&(j, _)| j as usize)
            .filter(|&j| usize::from(labels[j]) != o.target)
            .map(|j| {
                self.train
                    .image(j)
                    .iter()
                    .map(|&p| f32::from(p) / 255.0)
                    .collect()
            })
            .collect();
        let away_mean = (!others.is_empty()).then(|| mean(others.iter().map(Vec::as_slice)));
        let direction: Vec<f32> = (0..PIXELS)
            .map(|i| {
                let away = away_mean.as_ref().map_or(0.0, |m| self.x[i] - m[i]);
                towards[i] - self.x[i] + AWAY * away
            })
            .collect();
        let norm = distances(&direction, &[0.0; PIXELS]).0;
        let (l2, linf) = distances(&self.x, &self.start);
        let frame = Frame {
            step: self.steps,
            pixels: self.x.clone(),
            p_target: probs[o.target],
            probs,
            grad_norm: norm,
            l2,
            linf,
        };
        self.stopped = if frame.p_target >= o.threshold {
            Some(StopReason::Reached)
        } else if self.steps >= o.max_steps {
            Some(StopReason::MaxSteps)
        } else {
            None
        };
        if self.stopped.is_none() {
            let scale = if norm > o.lr { o.lr / norm } else { 1.0 };
            for (p, d) in self.x.iter_mut().zip(&direction) {
                if self.rng.random::<f32>() < o.mask {
                    *p = (*p + scale * d).clamp(0.0, 1.0);
                }
            }
            self.steps += 1;
        }
        Ok(frame)
    }

    fn stop_reason(&self) -> Option<StopReason> {
        self.stopped
    }
}
