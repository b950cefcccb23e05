//! Support vector machine, RBF kernel, one-vs-one like scikit-learn's `SVC` (libsvm): 45
//! binary C-SVMs solved by SMO with libsvm's second-order working-set selection, stopping
//! tolerance 1e-3 and bias; `gamma = 1 / (784 * Var(x))` on pixels in [0,1] (`gamma='scale'`).
//!
//! Each pair's kernel matrix is computed once by GEMM and held in memory (`m²` f32 for the
//! pair's `m` images), so the training set may be cut to its first `train_images` images to
//! bound time and memory; the table says so. Predictions are libsvm's vote (a tie goes to the
//! smaller class); the probabilities are the vote shares (no Platt scaling).

use rayon::prelude::*;

use crate::classifier::{image_count, Classifier};
use crate::data::{CLASSES, PIXELS};
use crate::linalg::{matmul, Op};

/// libsvm's guard for a non-positive curvature.
const TAU: f64 = 1e-12;
/// libsvm's default stopping tolerance.
const TOLERANCE: f64 = 1e-3;
/// Test images per kernel block at prediction.
const PREDICT_BLOCK: usize = 512;

/// Fitting settings.
#[derive(Debug, Clone, Copy)]
pub struct SvmParams {
    /// Box constraint, as scikit-learn's `C`.
    pub c: f64,
    /// Use the first this many training images (0 = all).
    pub train_images: usize,
}

/// One binary machine: class `a` (positive) against class `b`.
struct Binary {
    a: u8,
    b: u8,
    /// `(support vector, alpha * y)`; the vector is an index into [`Svm::vectors`].
    coefs: Vec<(u32, f32)>,
    rho: f64,
}

/// A fitted one-vs-one RBF SVM.
pub struct Svm {
    gamma: f32,
    /// Support vectors (union over the machines), `PIXELS` values in [0,1] each.
    vectors: Vec<f32>,
    norms: Vec<f32>,
    machines: Vec<Binary>,
    /// Training images used.
    pub train_images: usize,
}

/// Pixels to f32 in [0,1].
fn features(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| p as f32 / 255.0).collect()
}

fn squared_norms(x: &[f32]) -> Vec<f32> {
    x.chunks_exact(PIXELS)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// `out[i][j] = exp(-gamma * |a_i - b_j|²)` for row-major `a` (`m` images) and `b` (`n`).
fn rbf_block(a: &[f32], a2: &[f32], b: &[f32], b2: &[f32], gamma: f32, parallel: bool) -> Vec<f32> {
    let (m, n) = (a2.len(), b2.len());
    let mut k = vec![0.0f32; m * n];
    matmul(&mut k, a, Op::N, b, Op::T, (m, n, PIXELS), false, parallel);
    for (row, &na) in k.chunks_exact_mut(n.max(1)).zip(a2) {
        for (v, &nb) in row.iter_mut().zip(b2) {
            *v = (-gamma * (na + nb - 2.0 * *v).max(0.0)).exp();
        }
    }
    k
}

/// The dual solution of one binary C-SVM on a precomputed kernel `k` (`m x m`) with labels
/// `y` in {+1, -1}: `(alpha, rho)`.
fn smo(k: &[f32], y: &[f64], c: f64) -> (Vec<f64>, f64) {
    let m = y.len();
    let mut alpha = vec![0.0f64; m];
    let mut grad = vec![-1.0f64; m];
    let upper = |a: f64| a >= c;
    let lower = |a: f64| a <= 0.0;
    let max_iter = 10_000_000usize.max(100 * m);
    for _ in 0..max_iter {
        // Select i: the most violating index among those that can move "up".
        let (mut gmax, mut i) = (f64::NEG_INFINITY, usize::MAX);
        for t in 0..m {
            let v = -y[t] * grad[t];
            let can = if y[t] > 0.0 {
                !upper(alpha[t])
            } else {
                !lower(alpha[t])
            };
            if can && v >= gmax {
                gmax = v;
                i = t;
            }
        }
        if i == usize::MAX {
            break;
        }
        let ki = &k[i * m..(i + 1) * m];
        // Select j by the second-order gain.
        let (mut gmax2, mut j, mut best) = (f64::NEG_INFINITY, usize::MAX, f64::INFINITY);
        for t in 0..m {
            let can = if y[t] > 0.0 {
                !lower(alpha[t])
            } else {
                !upper(alpha[t])
            };
            if !can {
                continue;
            }
            let v = y[t] * grad[t];
            gmax2 = gmax2.max(v);
            let diff = gmax + v;
            if diff > 0.0 {
                let quad = (2.0 - 2.0 * ki[t] as f64).max(TAU);
                let gain = -diff * diff / quad;
                if gain <= best {
                    best = gain;
                    j = t;
                }
            }
        }
        if gmax + gmax2 < TOLERANCE || j == usize::MAX {
            break;
        }
        let kj = &k[j * m..(j + 1) * m];
        let (old_i, old_j) = (alpha[i], alpha[j]);
        // |phi_i - phi_j|² = K_ii + K_jj - 2 K_ij, with K_ii = 1 for the RBF kernel.
        let quad = (2.0 - 2.0 * ki[j] as f64).max(TAU);
        if y[i] != y[j] {
            let delta = (-grad[i] - grad[j]) / quad;
            let diff = alpha[i] - alpha[j];
            alpha[i] += delta;
            alpha[j] += delta;
            if diff > 0.0 {
                if alpha[j] < 0.0 {
                    alpha[j] = 0.0;
                    alpha[i] = diff;
                }
            } else if alpha[i] < 0.0 {
                alpha[i] = 0.0;
                alpha[j] = -diff;
            }
            if diff > 0.0 {
                if alpha[i] > c {
                    alpha[i] = c;
                    alpha[j] = c - diff;
                }
            } else if alpha[j] > c {
                alpha[j] = c;
                alpha[i] = c + diff;
            }
        } else {
            let delta = (grad[i] - grad[j]) / quad;
            let sum = alpha[i] + alpha[j];
            alpha[i] -= delta;
            alpha[j] += delta;
            if sum > c {
                if alpha[i] > c {
                    alpha[i] = c;
                    alpha[j] = sum - c;
                }
            } else if alpha[j] < 0.0 {
                alpha[j] = 0.0;
                alpha[i] = sum;
            }
            if sum > c {
                if alpha[j] > c {
                    alpha[j] = c;
                    alpha[i] = sum - c;
                }
            } else if alpha[i] < 0.0 {
                alpha[i] = 0.0;
                alpha[j] = sum;
            }
        }
        // grad_t += Q_ti dA_i + Q_tj dA_j, with Q_ts = y_t y_s K_ts.
        let (di, dj) = ((alpha[i] - old_i) * y[i], (alpha[j] - old_j) * y[j]);
        for t in 0..m {
            grad[t] += y[t] * (ki[t] as f64 * di + kj[t] as f64 * dj);
        }
    }
    // rho: the mean of y_t G_t over free vectors, else the middle of the feasible interval.
    let (mut ub, mut lb, mut sum, mut free) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
    for t in 0..m {
        let yg = y[t] * grad[t];
        if upper(alpha[t]) {
            if y[t] < 0.0 {
                ub = ub.min(yg)
            } else {
                lb = lb.max(yg)
            }
        } else if lower(alpha[t]) {
            if y[t] > 0.0 {
                ub = ub.min(yg)
            } else {
                lb = lb.max(yg)
            }
        } else {
            free += 1;
            sum += yg;
        }
    }
    let rho = if free > 0 {
        sum / free as f64
    } else {
        (ub + lb) / 2.0
    };
    (alpha, rho)
}

impl Svm {
    /// Fits the 45 machines (in parallel; each is deterministic, so the model is too).
    pub fn fit(pixels: &[u8], labels: &[u8], params: SvmParams) -> anyhow::Result<Self> {
        let n_all = image_count(pixels)?;
        if n_all != labels.len() || n_all == 0 {
            anyhow::bail!("svm: {n_all} images but {} labels", labels.len());
        }
        if !(params.c.is_finite() && params.c > 0.0) {
            anyhow::bail!("svm: C must be a positive number, found {}", params.c);
        }
        let n = match params.train_images {
            0 => n_all,
            t => t.min(n_all),
        };
        let x = features(&pixels[..n * PIXELS]);
        let labels = &labels[..n];
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / x.len() as f64;
        let gamma = if var > 0.0 {
            (1.0 / (PIXELS as f64 * var)) as f32
        } else {
            1.0
        };
        let norms = squared_norms(&x);
        let pairs: Vec<(u8, u8)> = (0..CLASSES as u8)
            .flat_map(|a| (a + 1..CLASSES as u8).map(move |b| (a, b)))
            .collect();
        // (class a, class b, (training index, alpha * y) of the support vectors, rho).
        type Solved = (u8, u8, Vec<(u32, f64)>, f64);
        let solved: Vec<Solved> = pairs
            .into_par_iter()
            .map(|(a, b)| {
                let members: Vec<usize> = (0..n)
                    .filter(|&i| labels[i] == a || labels[i] == b)
                    .collect();
                let xs: Vec<f32> = members
                    .iter()
                    .flat_map(|&i| x[i * PIXELS..(i + 1) * PIXELS].iter().copied())
                    .collect();
                let ns: Vec<f32> = members.iter().map(|&i| norms[i]).collect();
                let k = rbf_block(&xs, &ns, &xs, &ns, gamma, false);
                let y: Vec<f64> = members
                    .iter()
                    .map(|&i| if labels[i] == a { 1.0 } else { -1.0 })
                    .collect();
                let (alpha, rho) = smo(&k, &y, params.c);
                let coefs = members
                    .iter()
                    .zip(alpha.iter().zip(&y))
                    .filter(|(_, (&al, _))| al > 0.0)
                    .map(|(&i, (&al, &yi))| (i as u32, al * yi))
                    .collect();
                (a, b, coefs, rho)
            })
            .collect();
        // Gather the support vectors once, in training order.
        let mut slot = vec![u32::MAX; n];
        let mut vectors = Vec::new();
        let mut sv_norms = Vec::new();
        for (_, _, coefs, _) in &solved {
            for &(i, _) in coefs {
                let i = i as usize;
                if slot[i] == u32::MAX {
                    slot[i] = sv_norms.len() as u32;
                    vectors.extend_from_slice(&x[i * PIXELS..(i + 1) * PIXELS]);
                    sv_norms.push(norms[i]);
                }
            }
        }
        let machines = solved
            .into_iter()
            .map(|(a, b, coefs, rho)| Binary {
                a,
                b,
                coefs: coefs
                    .into_iter()
                    .map(|(i, w)| (slot[i as usize], w as f32))
                    .collect(),
                rho,
            })
            .collect();
        Ok(Self {
            gamma,
            vectors,
            norms: sv_norms,
            machines,
            train_images: n,
        })
    }

    /// Support vectors kept.
    pub fn support_vectors(&self) -> usize {
        self.norms.len()
    }
}

impl Classifier for Svm {
    fn name(&self) -> &str {
        "svm"
    }

    fn predict_proba(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        image_count(pixels)?;
        let votes_total = self.machines.len().max(1) as f32;
        let blocks: Vec<Vec<f32>> = pixels
            .par_chunks(PREDICT_BLOCK * PIXELS)
            .map(|block| {
                let q = features(block);
                let q2 = squared_norms(&q);
                let k = rbf_block(&q, &q2, &self.vectors, &self.norms, self.gamma, false);
                let s = self.norms.len().max(1);
                let mut probs = vec![0.0f32; q2.len() * CLASSES];
                for (row, out) in k.chunks_exact(s).zip(probs.chunks_exact_mut(CLASSES)) {
                    for m in &self.machines {
                        let f: f64 = m
                            .coefs
                            .iter()
                            .map(|&(v, w)| (w * row[v as usize]) as f64)
                            .sum::<f64>()
                            - m.rho;
                        let winner = if f > 0.0 { m.a } else { m.b };
                        out[winner as usize] += 1.0 / votes_total;
                    }
                }
                probs
            })
            .collect();
        Ok(blocks.concat())
    }

    fn size_bytes(&self) -> usize {
        4 * (self.vectors.len() + self.norms.len())
            + self
                .machines
                .iter()
                .map(|m| 8 * m.coefs.len() + 16)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::accuracy;

    #[test]
    fn separates_two_blobs_with_a_margin() {
        // Class 0 lights pixel 0, class 1 pixel 1 (with varying strength): one machine.
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for i in 0..20u8 {
            let mut img = vec![0u8; PIXELS];
            img[usize::from(i % 2)] = 150 + 5 * i;
            pixels.extend(img);
            labels.push(i % 2);
        }
        let model = Svm::fit(
            &pixels,
            &labels,
            SvmParams {
                c: 10.0,
                train_images: 0,
            },
        )
        .unwrap();
        let probs = model.predict_proba(&pixels).unwrap();
        assert_eq!(accuracy(&probs, &labels), 1.0);
        assert!(model.support_vectors() >= 2 && model.support_vectors() < 20);
    }

    #[test]
    fn learns_the_sample_better_than_chance_and_limits_its_training_set() {
        let data = crate::data::source::load_sample().unwrap();
        let train = data.train.head(600);
        let test = data.test.head(200);
        let params = SvmParams {
            c: 10.0,
            train_images: 500,
        };
        let model = Svm::fit(&train.images, &train.labels, params).unwrap();
        assert_eq!(model.train_images, 500);
        let acc = accuracy(&model.predict_proba(&test.images).unwrap(), &test.labels);
        assert!(acc > 0.8, "{acc}");
    }
}
