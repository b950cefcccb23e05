//! Look-alike training images: the training images nearest to an image in the CNN's
//! penultimate features (what the last layer decides on), beside its nearest neighbours in
//! pixel space (what k-NN decides on): the training examples a decision rests on.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::ExplainError;
use crate::data::{Split, PIXELS};
use crate::model::fused::Engine;
use crate::model::Network;

/// A training image near the one asked about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Index in the training split.
    pub index: usize,
    pub label: usize,
    /// Euclidean distance (in features, or in pixels in [0,1]).
    pub distance: f32,
}

/// Training images computed at a time while the features are built (a cancel acts between).
const BLOCK: usize = 2048;

/// The penultimate features of every training image, and the engine that makes them.
pub struct FeatureIndex {
    engine: Engine,
    dim: usize,
    features: Vec<f32>,
    labels: Vec<u8>,
}

fn to_unit(images: &[u8]) -> Vec<f32> {
    images.iter().map(|&p| f32::from(p) / 255.0).collect()
}

impl FeatureIndex {
    /// The features of `train`'s images under `net`; `None` when cancelled.
    pub fn build(
        net: &Network,
        train: &Split,
        cancel: &AtomicBool,
    ) -> Result<Option<Self>, ExplainError> {
        let mut engine = Engine::explainer(net)?;
        let dim = engine.feature_len();
        let mut features = Vec::with_capacity(train.len() * dim);
        for block in train.images.chunks(BLOCK * PIXELS) {
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            features.extend(engine.features_many(&to_unit(block))?);
        }
        Ok(Some(Self {
            engine,
            dim,
            features,
            labels: train.labels.clone(),
        }))
    }

    /// The `k` training images nearest to `pixels` (784 values in [0,1]) in features,
    /// nearest first.
    pub fn nearest(&mut self, pixels: &[f32], k: usize) -> Result<Vec<Neighbour>, ExplainError> {
        let query = self.engine.features_many(pixels)?;
        let rows = self.features.chunks_exact(self.dim.max(1));
        Ok(nearest(rows, &query, &self.labels, k))
    }
}

/// The `k` training images nearest to `pixels` (784 values in [0,1]) in pixel space.
pub fn pixel_nearest(train: &Split, pixels: &[f32], k: usize) -> Vec<Neighbour> {
    let rows = train.images.chunks_exact(PIXELS).map(to_unit);
    nearest(rows, pixels, &train.labels, k)
}

/// The `k` rows nearest to `query`, nearest first (ties by index).
fn nearest<R: AsRef<[f32]>>(
    rows: impl Iterator<Item = R>,
    query: &[f32],
    labels: &[u8],
    k: usize,
) -> Vec<Neighbour> {
    let mut all: Vec<(f32, usize)> = rows
        .enumerate()
        .map(|(i, row)| {
            let d: f32 = row
                .as_ref()
                .iter()
                .zip(query)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            (d, i)
        })
        .collect();
    let k = k.min(all.len());
    if k == 0 {
        return Vec::new();
    }
    let order = |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    all.select_nth_unstable_by(k - 1, order);
    all.truncate(k);
    all.sort_by(order);
    all.into_iter()
        .map(|(d, index)| Neighbour {
            index,
            label: usize::from(labels.get(index).copied().unwrap_or(0)),
            distance: d.sqrt(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::source::load_sample;
    use crate::model::ArchSpec;
    use candle_core::{Device, Tensor};

    /// A training image's nearest neighbour is itself at distance 0, in features and in
    /// pixels; distances ascend; the fused features are the candle network's.
    #[test]
    fn a_training_image_finds_itself_first_and_features_agree_with_candle() {
        let data = load_sample().unwrap();
        let train = Split {
            images: data.train.images[..500 * PIXELS].to_vec(),
            labels: data.train.labels[..500].to_vec(),
        };
        let net = Network::new(&ArchSpec::seed(), 3, &Device::Cpu).unwrap();
        let mut index = FeatureIndex::build(&net, &train, &AtomicBool::new(false))
            .unwrap()
            .unwrap();
        let image = to_unit(train.image(42));
        for found in [
            index.nearest(&image, 5).unwrap(),
            pixel_nearest(&train, &image, 5),
        ] {
            assert_eq!(found.len(), 5);
            // A lone image and a block of them may round apart in the last bits.
            assert_eq!(found[0].index, 42);
            assert!(found[0].distance < 1e-5, "{}", found[0].distance);
            assert_eq!(found[0].label, usize::from(train.labels[42]));
            assert!(found.windows(2).all(|w| w[0].distance <= w[1].distance));
        }
        // The seed CNN's penultimate features: dense 128 after its ReLU, as candle computes.
        let fused = index.engine.features_many(&image).unwrap();
        let x = Tensor::from_slice(&image, (1, 28, 28, 1), &Device::Cpu).unwrap();
        let pooled = net.conv_outputs(&x, 1).unwrap().pop().unwrap();
        let flat = crate::model::ops::relu_max_pool2(&pooled)
            .unwrap()
            .reshape((1, ()))
            .unwrap();
        let t = net.named_tensors();
        let hidden = flat
            .matmul(&t["dense.weight"])
            .unwrap()
            .broadcast_add(&t["dense.bias"])
            .unwrap()
            .relu()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(fused.len(), 128);
        for (a, b) in fused.iter().zip(&hidden) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert!(FeatureIndex::build(&net, &train, &AtomicBool::new(true))
            .unwrap()
            .is_none());
    }
}
