//! Exact k-nearest neighbours (Euclidean), pruned by a PCA lower bound.
//!
//! Every image is mapped to `z = [P(x - mean), |r|]`, its coordinates on `d` orthonormal
//! principal directions plus the norm of the residual `r` left outside them. For any two images
//! `|z_a - z_b|² <= |a - b|²` (Pythagoras on the subspace, the reverse triangle inequality on
//! the residual), and `|z_a - z_b|²` for a block of queries against all training images is one
//! small GEMM (`||z_a||² - 2 z_a·z_b + ||z_b||²`, `d + 1` columns instead of 784). Per query:
//! the exact distances of the few images with the smallest bound give an upper bound `U` on the
//! k-th neighbour's distance; every image whose bound (less a float-error margin) is at most
//! `U` is then ranked by its exact distance, computed directly, never through the GEMM
//! identity. So the result is exactly the brute-force one, at a fraction of the FLOPs.
//!
//! Distances are computed on the 0..=255 pixel scale: for u8 queries in integers (training
//! images are kept as u8), so exact distances are exact and equal distances compare equal;
//! other queries (the inverter's f32 images) in f32 lanes summed in f64. Ties are ordered by training index (smaller first), as in
//! scikit-learn's brute search, whose heap keeps the earlier index on equal distances.

use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::classifier::{image_count, Classifier};
use crate::data::{CLASSES, PIXELS};
use crate::linalg::{matmul, Op};

/// Scale between the [0,1] pixels of the API and the 0..=255 scale used inside.
const SCALE: f32 = 255.0;
/// Relative margin subtracted from the GEMM-computed bound to cover its f32 rounding (the
/// error is about `(d+1) * 6e-8` of `||z_a||² + ||z_b||²`).
const BOUND_MARGIN: f32 = 1e-5;
/// Queries per block: the block's bound matrix is `QUERY_BLOCK * n_train` floats.
const QUERY_BLOCK: usize = 128;
/// Images whose exact distances give the first upper bound: `k + PROBE_EXTRA`.
const PROBE_EXTRA: usize = 4;
/// Training images used to estimate the principal directions.
const PCA_SAMPLE: usize = 10_000;
/// Subspace iterations for the principal directions.
const PCA_ITERATIONS: usize = 8;

/// Why an index or classifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KnnError {
    #[error("k-NN: {images} pixels and {labels} labels do not describe the same images")]
    Shape { images: usize, labels: usize },
    #[error("k-NN: k must be at least 1 and at most the {train} training images, found {k}")]
    BadK { k: usize, train: usize },
}

/// Neighbours of each query: `(training index, squared distance)`, nearest first.
pub type Neighbours = Vec<Vec<(u32, f32)>>;

/// How much work a search did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SearchStats {
    pub queries: usize,
    /// Exact distances computed, over all queries.
    pub exact_distances: usize,
}

/// An exact nearest-neighbour index over training images.
pub struct KnnIndex {
    /// Training images, `n * PIXELS` (u8: a quarter of the memory traffic of f32 when the
    /// candidates' rows are read at random).
    train: Vec<u8>,
    labels: Vec<u8>,
    projection: Projection,
    /// `z` of each training image, `n * (d + 1)`.
    train_z: Vec<f32>,
    /// `(1 - BOUND_MARGIN) * ||z||²` of each training image.
    train_z2: Vec<f32>,
}

impl KnnIndex {
    /// Builds an index over u8 training images and their labels, projecting on `dims`
    /// principal directions (estimated with `seed`); `dims` only changes speed, never results.
    pub fn new(pixels: &[u8], labels: &[u8], dims: usize, seed: u64) -> Result<Self, KnnError> {
        if pixels.len() != labels.len() * PIXELS {
            return Err(KnnError::Shape {
                images: pixels.len(),
                labels: labels.len(),
            });
        }
        let scaled: Vec<f32> = pixels.iter().map(|&p| p as f32).collect();
        let projection = Projection::fit(&scaled, dims.min(PIXELS), seed);
        let (train_z, z2) = projection.embed(&scaled, true);
        drop(scaled);
        let train_z2 = z2.iter().map(|&v| (1.0 - BOUND_MARGIN) * v).collect();
        Ok(Self {
            train: pixels.to_vec(),
            labels: labels.to_vec(),
            projection,
            train_z,
            train_z2,
        })
    }

    /// Number of training images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the index holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Training labels, by training index.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Bytes held: training images, labels and their embeddings.
    pub fn size_bytes(&self) -> usize {
        self.train.len()
            + 4 * (self.train_z.len() + self.train_z2.len())
            + self.labels.len()
            + 4 * (self.projection.mean.len() + self.projection.basis.len())
    }

    /// The `k` nearest training images of each query (`n * PIXELS` values in [0,1]), nearest
    /// first, as `(training index, squared distance in [0,1] pixel units)`; equal distances are
    /// ordered by index.
    pub fn search(&self, queries: &[f32], k: usize) -> Neighbours {
        let scaled: Vec<f32> = queries.iter().map(|&q| q * SCALE).collect();
        self.search_scaled(&scaled, None, k).0
    }

    /// Class vote shares of one query's neighbours: each of the `k` votes weighs `1/k`.
    pub fn vote_shares(&self, neighbours: &[(u32, f32)], k: usize) -> [f32; CLASSES] {
        vote_shares(&self.labels, neighbours, k)
    }

    /// Vote shares of the `k` nearest neighbours of each u8 image, 10 per image.
    pub fn predict_proba_u8(&self, pixels: &[u8], k: usize) -> Vec<f32> {
        let (found, _) = self.search_u8(pixels, k);
        found.iter().flat_map(|n| self.vote_shares(n, k)).collect()
    }

    /// [`search`](Self::search) for u8 images, with how much work it took.
    pub fn search_u8(&self, queries: &[u8], k: usize) -> (Neighbours, SearchStats) {
        let scaled: Vec<f32> = queries.iter().map(|&q| q as f32).collect();
        self.search_scaled(&scaled, Some(queries), k)
    }

    /// Searches for `queries` on the 0..=255 scale; `raw` is the same queries as u8 when they
    /// are, for integer exact distances.
    fn search_scaled(
        &self,
        queries: &[f32],
        raw: Option<&[u8]>,
        k: usize,
    ) -> (Neighbours, SearchStats) {
        let k = k.min(self.len());
        let per = self.projection.dims + 1;
        let blocks: Vec<(Neighbours, usize)> = queries
            .par_chunks(QUERY_BLOCK * PIXELS)
            .enumerate()
            .map(|(b, block)| {
                let rows = block.len() / PIXELS;
                let (qz, qz2) = self.projection.embed(block, false);
                let mut bound = vec![0.0f32; rows * self.len()];
                let shape = (rows, self.len(), per);
                matmul(
                    &mut bound,
                    &qz,
                    Op::N,
                    &self.train_z,
                    Op::T,
                    shape,
                    false,
                    false,
                );
                let mut exact = 0;
                let found = (0..rows)
                    .map(|i| {
                        let row = &mut bound[i * self.len()..(i + 1) * self.len()];
                        let q = match raw {
                            Some(raw) => {
                                let at = (b * QUERY_BLOCK + i) * PIXELS;
                                Query::Pixels(&raw[at..at + PIXELS])
                            }
                            None => Query::Scaled(&block[i * PIXELS..(i + 1) * PIXELS]),
                        };
                        let (found, work) = self.nearest(q, qz2[i], row, k);
                        exact += work;
                        found
                    })
                    .collect();
                (found, exact)
            })
            .collect();
        let mut stats = SearchStats {
            queries: queries.len() / PIXELS,
            exact_distances: 0,
        };
        let mut out = Vec::with_capacity(stats.queries);
        for (found, exact) in blocks {
            out.extend(found);
            stats.exact_distances += exact;
        }
        (out, stats)
    }

    /// The `k` nearest neighbours of one query, given `dots[j] = z_q·z_j`; `dots` is
    /// overwritten with the lower bounds. Returns them and the exact distances computed.
    fn nearest(&self, q: Query, qz2: f32, dots: &mut [f32], k: usize) -> (Vec<(u32, f32)>, usize) {
        if k == 0 {
            return (Vec::new(), 0);
        }
        let qz2 = (1.0 - BOUND_MARGIN) * qz2;
        // Bounds, and the PROBE smallest of them (sorted, a short insertion list).
        let probe = (k + PROBE_EXTRA).min(self.len());
        let mut best: Vec<(f32, u32)> = Vec::with_capacity(probe + 1);
        for (j, (d, &z2)) in dots.iter_mut().zip(&self.train_z2).enumerate() {
            *d = qz2 + z2 - 2.0 * *d;
            if best.len() < probe || *d < best[best.len() - 1].0 {
                let at = best.partition_point(|&(b, _)| b <= *d);
                best.insert(at, (*d, j as u32));
                best.truncate(probe);
            }
        }
        let mut probed: Vec<f64> = best
            .iter()
            .map(|&(_, j)| self.distance(q, j as usize))
            .collect();
        probed.sort_by(f64::total_cmp);
        let limit = probed[k - 1];
        let mut candidates: Vec<(f64, u32)> = dots
            .iter()
            .enumerate()
            .filter(|&(_, &lb)| (lb as f64) <= limit)
            .map(|(j, _)| (self.distance(q, j), j as u32))
            .collect();
        let work = probe + candidates.len();
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let scale = (SCALE * SCALE) as f64;
        let found = candidates
            .into_iter()
            .take(k)
            .map(|(d, j)| (j, (d / scale) as f32))
            .collect();
        (found, work)
    }

    /// Exact squared distance between a query and training image `j` (0..=255 scale).
    fn distance(&self, q: Query, j: usize) -> f64 {
        let t = &self.train[j * PIXELS..(j + 1) * PIXELS];
        match q {
            Query::Pixels(q) => squared_distance_u8(q, t) as f64,
            Query::Scaled(q) => squared_distance(q, t),
        }
    }
}

/// Class vote shares of one query's neighbours (indices into `labels`): each of the `k` votes
/// weighs `1/k`.
pub fn vote_shares(labels: &[u8], neighbours: &[(u32, f32)], k: usize) -> [f32; CLASSES] {
    let mut shares = [0f32; CLASSES];
    for &(j, _) in neighbours {
        shares[usize::from(labels[j as usize])] += 1.0;
    }
    shares.iter_mut().for_each(|s| *s /= k.max(1) as f32);
    shares
}

/// One query: u8 pixels, or any values on the 0..=255 scale.
#[derive(Clone, Copy)]
enum Query<'a> {
    Pixels(&'a [u8]),
    Scaled(&'a [f32]),
}

/// Squared Euclidean distance of u8 images, in integers (exact; at most 784 * 255², which fits
/// a u32).
fn squared_distance_u8(a: &[u8], b: &[u8]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x.abs_diff(y) as u32;
            d * d
        })
        .sum()
}

/// Squared Euclidean distance over 8 f32 lanes summed in f64 (exact for integer pixels).
fn squared_distance(a: &[f32], b: &[u8]) -> f64 {
    let mut lanes = [0.0f32; 8];
    for (ca, cb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for l in 0..8 {
            let d = ca[l] - cb[l] as f32;
            lanes[l] += d * d;
        }
    }
    let tail: f64 = a
        .chunks_exact(8)
        .remainder()
        .iter()
        .zip(b.chunks_exact(8).remainder())
        .map(|(&x, &y)| ((x - y as f32) * (x - y as f32)) as f64)
        .sum();
    lanes.iter().map(|&v| v as f64).sum::<f64>() + tail
}

/// Orthonormal directions (rows of `basis`, some possibly zero) and the mean they are taken
/// around.
struct Projection {
    dims: usize,
    mean: Vec<f32>,
    /// `dims * PIXELS`, row-major.
    basis: Vec<f32>,
}

impl Projection {
    /// Top principal directions of (a strided sample of) `images`, by subspace iteration.
    fn fit(images: &[f32], dims: usize, seed: u64) -> Self {
        let n = images.len() / PIXELS;
        let mut mean = vec![0.0f64; PIXELS];
        for img in images.chunks_exact(PIXELS) {
            for (m, &p) in mean.iter_mut().zip(img) {
                *m += p as f64;
            }
        }
        let mean: Vec<f32> = mean.iter().map(|m| (m / n.max(1) as f64) as f32).collect();
        let step = n.div_ceil(PCA_SAMPLE).max(1);
        let sample: Vec<f32> = images
            .chunks_exact(PIXELS)
            .step_by(step)
            .flat_map(|img| img.iter().zip(&mean).map(|(p, m)| p - m))
            .collect();
        let s = sample.len() / PIXELS;
        let mut cov = vec![0.0f32; PIXELS * PIXELS];
        matmul(
            &mut cov,
            &sample,
            Op::T,
            &sample,
            Op::N,
            (PIXELS, PIXELS, s),
            false,
            true,
        );
        // Subspace iteration on `dims` columns, kept as rows of `q` (dims x PIXELS).
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut q: Vec<f32> = (0..dims * PIXELS)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        orthonormalise(&mut q, dims);
        let mut next = vec![0.0f32; dims * PIXELS];
        for _ in 0..PCA_ITERATIONS {
            // next = q · cov (cov is symmetric, so rows of next are cov applied to rows of q).
            matmul(
                &mut next,
                &q,
                Op::N,
                &cov,
                Op::N,
                (dims, PIXELS, PIXELS),
                false,
                true,
            );
            // Scale down so that f32 does not overflow over the iterations.
            let top = next.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
            q = next.iter().map(|v| v / top).collect();
            orthonormalise(&mut q, dims);
        }
        Self {
            dims,
            mean,
            basis: q,
        }
    }

    /// `z = [basis·(x - mean), |residual|]` for each image (`n * (dims + 1)`) and `||z||²`.
    /// `parallel` lets the product use every core (not from inside a rayon task).
    fn embed(&self, images: &[f32], parallel: bool) -> (Vec<f32>, Vec<f32>) {
        let n = images.len() / PIXELS;
        let centred: Vec<f32> = images
            .chunks_exact(PIXELS)
            .flat_map(|img| img.iter().zip(&self.mean).map(|(p, m)| p - m))
            .collect();
        let mut proj = vec![0.0f32; n * self.dims];
        let shape = (n, self.dims, PIXELS);
        matmul(
            &mut proj,
            &centred,
            Op::N,
            &self.basis,
            Op::T,
            shape,
            false,
            parallel,
        );
        let per = self.dims + 1;
        let mut z = vec![0.0f32; n * per];
        let mut z2 = vec![0.0f32; n];
        for i in 0..n {
            let c = &centred[i * PIXELS..(i + 1) * PIXELS];
            let total: f64 = c.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let p = &proj[i * self.dims..(i + 1) * self.dims];
            let inside: f64 = p.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let row = &mut z[i * per..(i + 1) * per];
            row[..self.dims].copy_from_slice(p);
            row[self.dims] = (total - inside).max(0.0).sqrt() as f32;
            z2[i] = row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() as f32;
        }
        (z, z2)
    }
}

/// Modified Gram-Schmidt (twice, in f64) on the `rows` rows of `m`; a row that is (numerically)
/// dependent on the earlier ones becomes zero, which keeps the lower bound valid.
fn orthonormalise(m: &mut [f32], rows: usize) {
    let mut w: Vec<f64> = m.iter().map(|&v| v as f64).collect();
    for i in 0..rows {
        let before: f64 = w[i * PIXELS..(i + 1) * PIXELS]
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt();
        for _ in 0..2 {
            for j in 0..i {
                let (head, tail) = w.split_at_mut(i * PIXELS);
                let prev = &head[j * PIXELS..(j + 1) * PIXELS];
                let row = &mut tail[..PIXELS];
                let dot: f64 = prev.iter().zip(row.iter()).map(|(a, b)| a * b).sum();
                for (r, p) in row.iter_mut().zip(prev) {
                    *r -= dot * p;
                }
            }
        }
        let row = &mut w[i * PIXELS..(i + 1) * PIXELS];
        let norm: f64 = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        let scale = if norm > 1e-6 * before && norm > 0.0 {
            1.0 / norm
        } else {
            0.0
        };
        row.iter_mut().for_each(|v| *v *= scale);
    }
    for (dst, src) in m.iter_mut().zip(&w) {
        *dst = *src as f32;
    }
}

/// k-NN classifier: class probabilities are the vote shares of the `k` nearest training
/// images (uniform weights); the predicted class is the first largest share, so a tied vote
/// goes to the smallest class label, as scikit-learn's `predict` (argmax of `predict_proba`).
pub struct Knn {
    pub index: KnnIndex,
    pub k: usize,
}

impl Knn {
    /// A classifier voting over `k` neighbours of `index`.
    pub fn new(index: KnnIndex, k: usize) -> Result<Self, KnnError> {
        if k == 0 || k > index.len() {
            return Err(KnnError::BadK {
                k,
                train: index.len(),
            });
        }
        Ok(Self { index, k })
    }
}

impl Classifier for Knn {
    fn name(&self) -> &str {
        "knn"
    }

    fn predict_proba(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        image_count(pixels)?;
        Ok(self.index.predict_proba_u8(pixels, self.k))
    }

    fn size_bytes(&self) -> usize {
        self.index.size_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::predictions;

    /// An image that is all zeros except `value` at pixel `at`.
    fn image(at: usize, value: u8) -> Vec<u8> {
        let mut img = vec![0u8; PIXELS];
        img[at] = value;
        img
    }

    /// Brute force: every distance, sorted by (distance, index).
    fn brute(train: &[u8], q: &[u8], k: usize) -> Vec<(u32, f32)> {
        let mut all: Vec<(i64, u32)> = train
            .chunks_exact(PIXELS)
            .enumerate()
            .map(|(j, t)| {
                let d = t
                    .iter()
                    .zip(q)
                    .map(|(&a, &b)| (a as i64 - b as i64).pow(2))
                    .sum::<i64>();
                (d, j as u32)
            })
            .collect();
        all.sort();
        all.iter()
            .take(k)
            .map(|&(d, j)| (j, (d as f64 / 65025.0) as f32))
            .collect()
    }

    #[test]
    fn u8_pixels_survive_the_unit_scale_round_trip() {
        for p in 0..=255u8 {
            assert_eq!((p as f32 / 255.0) * SCALE, p as f32, "pixel {p}");
        }
    }

    #[test]
    fn equal_distances_are_ordered_by_index_and_votes_tie_to_the_smaller_class() {
        // Query: zeros. Train 0 and 1 are both at distance 1 (unit scale), train 2 at 4, train
        // 3 at 0.25.
        let mut train = Vec::new();
        train.extend(image(5, 255));
        train.extend(image(9, 255));
        train.extend(
            (0..PIXELS)
                .map(|i| if i < 4 { 255 } else { 0 })
                .collect::<Vec<u8>>(),
        );
        train.extend(image(0, 128));
        let labels = [7, 2, 4, 9];
        let index = KnnIndex::new(&train, &labels, 2, 1).unwrap();
        let found = index.search(&vec![0.0; PIXELS], 3);
        let ids: Vec<u32> = found[0].iter().map(|&(j, _)| j).collect();
        assert_eq!(ids, vec![3, 0, 1]);
        assert_eq!(found[0][1].1, 1.0);
        assert!((found[0][0].1 - (128.0f32 / 255.0).powi(2)).abs() < 1e-6);
        // k = 2 keeps the earlier of the two tied images (index 0, label 7).
        let knn = Knn::new(index, 2).unwrap();
        let probs = knn.predict_proba(&vec![0u8; PIXELS]).unwrap();
        assert_eq!(probs[9], 0.5);
        assert_eq!(probs[7], 0.5);
        // One vote each for 9 and 7: the tie goes to the smaller class.
        assert_eq!(predictions(&probs), vec![7]);
    }

    #[test]
    fn pruned_search_equals_brute_force_on_the_sample() {
        let data = crate::data::source::load_sample().unwrap();
        let train = data.train.head(1500);
        let test = data.test.head(60);
        for dims in [0, 8] {
            let index = KnnIndex::new(&train.images, &train.labels, dims, 7).unwrap();
            let (found, stats) = index.search_u8(&test.images, 5);
            for (i, got) in found.iter().enumerate() {
                assert_eq!(got, &brute(&train.images, test.image(i), 5), "query {i}");
            }
            assert_eq!(stats.queries, 60);
            if dims > 0 {
                assert!(stats.exact_distances < 60 * 1500, "{stats:?}");
            }
        }
    }

    #[test]
    fn bad_shapes_and_k_are_errors() {
        assert!(KnnIndex::new(&[0; PIXELS], &[1, 2], 4, 0).is_err());
        let index = KnnIndex::new(&[0; PIXELS], &[1], 4, 0).unwrap();
        let err = Knn::new(index, 2).err().unwrap().to_string();
        assert!(err.contains("found 2"), "{err}");
    }
}
