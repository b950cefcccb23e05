//! Exact k-nearest neighbours with candle's tensor ops, on any device (the GPU's path).
//!
//! Brute force: the squared distances of a block of queries to every training image are
//! `|q|² - 2 q·t + |t|²`, one f64 matrix product on the 0..=255 pixel scale. Every term is an
//! integer below 2^53, so the distances are exact, as [`KnnIndex`](super::knn::KnnIndex)'s are.
//! Each distance is then packed with its training index into one f64 key, `d * m + j` (`m` the
//! power of two above the training count), which is also exact and orders by distance, then by
//! index: the `k` smallest keys of a row are its neighbours, ties in the same order as the CPU
//! index, so both give the same neighbours and the same votes.

use candle_core::{DType, Device, Tensor};

use super::knn::{vote_shares, Neighbours};
use crate::classifier::image_count;
use crate::data::PIXELS;

/// Queries per block: the block's key matrix is `QUERY_BLOCK * n_train` f64 values (480 MB for
/// 60,000 training images).
const QUERY_BLOCK: usize = 1024;
/// Squared distances on the 0..=255 scale are below 784 * 255² < 2^26; keys stay below 2^53
/// (exact in f64) while the index part needs at most 2^27.
const MAX_TRAIN: usize = 1 << 27;
/// `(255)²`: squared distances in [0,1] pixel units, as the CPU index reports them.
const SCALE2: f64 = 65025.0;

/// Training images on a device, for exact k-NN searches there.
pub struct DeviceKnn {
    /// `[n, PIXELS]` f64 on the 0..=255 scale.
    train: Tensor,
    /// `[1, n]`: `|t|²` of each training image.
    train_sq: Tensor,
    /// `[1, n]`: each training index.
    index: Tensor,
    /// The key multiplier `m`: a power of two at least `n`.
    multiplier: f64,
    labels: Vec<u8>,
}

impl DeviceKnn {
    /// Copies u8 training images and their labels to `device`.
    pub fn new(pixels: &[u8], labels: &[u8], device: &Device) -> anyhow::Result<Self> {
        let n = image_count(pixels)?;
        if n != labels.len() || n == 0 || n > MAX_TRAIN {
            anyhow::bail!(
                "k-NN: {n} training images and {} labels (at least 1 and at most {MAX_TRAIN} images)",
                labels.len()
            );
        }
        let train = pixel_tensor(pixels, device)?;
        let train_sq = train.sqr()?.sum_keepdim(1)?.t()?.contiguous()?;
        let index = Tensor::arange(0u32, n as u32, device)?
            .to_dtype(DType::F64)?
            .unsqueeze(0)?;
        Ok(Self {
            train,
            train_sq,
            index,
            multiplier: n.next_power_of_two() as f64,
            labels: labels.to_vec(),
        })
    }

    /// The `k` nearest training images of each u8 query, nearest first, as `(training index,
    /// squared distance in [0,1] pixel units)`; equal distances ordered by index.
    pub fn search_u8(&self, queries: &[u8], k: usize) -> anyhow::Result<Neighbours> {
        image_count(queries)?;
        let k = k.min(self.labels.len());
        let mut found = Vec::with_capacity(queries.len() / PIXELS);
        for block in queries.chunks(QUERY_BLOCK * PIXELS) {
            found.extend(self.search_block(block, k)?);
        }
        Ok(found)
    }

    /// Vote shares of the `k` nearest neighbours of each u8 image, 10 per image.
    pub fn predict_proba_u8(&self, pixels: &[u8], k: usize) -> anyhow::Result<Vec<f32>> {
        let found = self.search_u8(pixels, k)?;
        Ok(found
            .iter()
            .flat_map(|n| vote_shares(&self.labels, n, k))
            .collect())
    }

    fn search_block(&self, block: &[u8], k: usize) -> anyhow::Result<Neighbours> {
        let rows = block.len() / PIXELS;
        if k == 0 {
            return Ok(vec![Vec::new(); rows]);
        }
        let device = self.train.device();
        let q = pixel_tensor(block, device)?;
        let q_sq = q.sqr()?.sum_keepdim(1)?;
        let dots = q.matmul(&self.train.t()?)?;
        let distances = (dots * -2.0)?
            .broadcast_add(&q_sq)?
            .broadcast_add(&self.train_sq)?;
        let mut keys = (distances * self.multiplier)?.broadcast_add(&self.index)?;
        let taken = Tensor::new(f64::INFINITY, device)?.broadcast_as(keys.shape())?;
        let mut smallest = Vec::with_capacity(k);
        for _ in 0..k {
            // Keys are distinct, so exactly one per row is at most the row's minimum.
            let min = keys.min_keepdim(1)?;
            keys = keys.broadcast_le(&min)?.where_cond(&taken, &keys)?;
            smallest.push(min);
        }
        let smallest = Tensor::cat(&smallest, 1)?.to_vec2::<f64>()?;
        Ok(smallest
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&key| {
                        let distance = (key / self.multiplier).floor();
                        let j = key - distance * self.multiplier;
                        (j as u32, (distance / SCALE2) as f32)
                    })
                    .collect()
            })
            .collect())
    }
}

/// `[n, PIXELS]` f64 pixels on the 0..=255 scale.
fn pixel_tensor(pixels: &[u8], device: &Device) -> candle_core::Result<Tensor> {
    let values: Vec<f64> = pixels.iter().map(|&p| f64::from(p)).collect();
    Tensor::from_vec(values, (pixels.len() / PIXELS, PIXELS), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::knn::KnnIndex;

    #[test]
    fn equals_the_exact_cpu_index_on_the_sample() {
        let data = crate::data::source::load_sample().unwrap();
        let train = data.train.head(1500);
        let test = data.test.head(60);
        let cpu = KnnIndex::new(&train.images, &train.labels, 16, 7).unwrap();
        let device = DeviceKnn::new(&train.images, &train.labels, &Device::Cpu).unwrap();
        let (want, _) = cpu.search_u8(&test.images, 5);
        assert_eq!(device.search_u8(&test.images, 5).unwrap(), want);
        assert_eq!(
            device.predict_proba_u8(&test.images, 3).unwrap(),
            cpu.predict_proba_u8(&test.images, 3)
        );
    }

    #[test]
    fn ties_are_ordered_by_training_index() {
        // Images 0 and 2 are the same, image 1 is the query itself: distances 0, d, d.
        let mut pixels = vec![0u8; 3 * PIXELS];
        pixels[5] = 200;
        pixels[2 * PIXELS + 5] = 200;
        let device = DeviceKnn::new(&pixels, &[4, 7, 1], &Device::Cpu).unwrap();
        let found = device.search_u8(&vec![0u8; PIXELS], 3).unwrap();
        let ids: Vec<u32> = found[0].iter().map(|&(j, _)| j).collect();
        assert_eq!(ids, vec![1, 0, 2]);
        assert_eq!(found[0][1].1, (40000.0 / SCALE2) as f32);
    }

    #[test]
    fn mismatched_labels_are_an_error() {
        let err = DeviceKnn::new(&[0; PIXELS], &[1, 2], &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("2 labels"), "{err}");
    }
}
