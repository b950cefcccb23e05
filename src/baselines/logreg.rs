//! Multinomial logistic regression (softmax on the 784 pixels in [0,1]), fitted by full-batch
//! L-BFGS on scikit-learn's objective: `C * sum(cross-entropy) + ||W||² / 2` (the bias is not
//! penalised), here divided by `C * n` so that the step sizes do not depend on `n`. The
//! objective is evaluated on sparse rows (only non-zero pixels), in parallel, deterministically.

use rayon::prelude::*;

use crate::classifier::{image_count, Classifier};
use crate::data::{CLASSES, PIXELS};
use crate::linalg::{matmul, Op};

/// Remembered curvature pairs of L-BFGS.
const MEMORY: usize = 10;
/// Armijo's sufficient-decrease constant.
const ARMIJO: f64 = 1e-4;
/// Backtracking halvings before a line search gives up.
const MAX_HALVINGS: usize = 30;

/// A fitted model: `weights` (`PIXELS x 10`, row-major) and `bias` (10).
pub struct LogReg {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    /// Iterations L-BFGS ran.
    pub iterations: usize,
}

/// Fitting settings.
#[derive(Debug, Clone, Copy)]
pub struct LogRegParams {
    /// Inverse regularisation strength, as scikit-learn's `C`.
    pub c: f64,
    /// L-BFGS iterations at most.
    pub max_iter: usize,
    /// Stop when the gradient's largest entry falls below this.
    pub tolerance: f64,
}

/// Pixels to f32 in [0,1].
pub(super) fn features(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| p as f32 / 255.0).collect()
}

/// Softmax rows of `logits` in place.
fn softmax_rows(logits: &mut [f32]) {
    for row in logits.chunks_exact_mut(CLASSES) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        row.iter_mut().for_each(|v| *v /= sum);
    }
}

/// Images as sparse rows: the non-zero pixels of each (about a fifth of MNIST's), as `[0,1]`
/// values. The objective touches only these, so one evaluation costs about a fifth of a dense
/// GEMM and reads 6 bytes per non-zero pixel instead of 4 per pixel.
struct SparseRows {
    /// Row `i` is `starts[i]..starts[i + 1]` of `cols` / `vals`.
    starts: Vec<usize>,
    cols: Vec<u16>,
    vals: Vec<f32>,
}

impl SparseRows {
    fn new(pixels: &[u8]) -> Self {
        let mut starts = vec![0];
        let (mut cols, mut vals) = (Vec::new(), Vec::new());
        for img in pixels.chunks_exact(PIXELS) {
            for (p, &v) in img.iter().enumerate() {
                if v != 0 {
                    cols.push(p as u16);
                    vals.push(v as f32 / 255.0);
                }
            }
            starts.push(cols.len());
        }
        Self { starts, cols, vals }
    }

    fn row(&self, i: usize) -> (&[u16], &[f32]) {
        let r = self.starts[i]..self.starts[i + 1];
        (&self.cols[r.clone()], &self.vals[r])
    }
}

/// Images per parallel task of the objective; fixed, so that the sum (task results added in
/// order) and hence the fit do not depend on the thread count.
const CHUNK: usize = 2048;

/// One task's share of the objective: loss sum, weight and bias gradient sums.
struct Partial {
    loss: f64,
    gw: Vec<[f32; CLASSES]>,
    gb: [f64; CLASSES],
}

/// The objective and its gradient (same layout as `theta`: weights, then bias).
struct Objective<'a> {
    x: &'a SparseRows,
    labels: &'a [u8],
    lambda: f64,
}

impl Objective<'_> {
    /// Loss and gradient sums over images `range`.
    fn partial(
        &self,
        w: &[[f32; CLASSES]],
        b: &[f32; CLASSES],
        range: std::ops::Range<usize>,
    ) -> Partial {
        let mut part = Partial {
            loss: 0.0,
            gw: vec![[0.0; CLASSES]; PIXELS],
            gb: [0.0; CLASSES],
        };
        for i in range {
            let (cols, vals) = self.x.row(i);
            let y = self.labels[i] as usize;
            let mut z = *b;
            for (&p, &v) in cols.iter().zip(vals) {
                let wp = &w[p as usize];
                for c in 0..CLASSES {
                    z[c] += v * wp[c];
                }
            }
            let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let e = z.map(|v| ((v - max) as f64).exp());
            let sum: f64 = e.iter().sum();
            part.loss += sum.ln() + (max - z[y]) as f64;
            let mut g = [0.0f32; CLASSES];
            for c in 0..CLASSES {
                let gc = e[c] / sum - f64::from(u8::from(c == y));
                part.gb[c] += gc;
                g[c] = gc as f32;
            }
            for (&p, &v) in cols.iter().zip(vals) {
                let gp = &mut part.gw[p as usize];
                for c in 0..CLASSES {
                    gp[c] += v * g[c];
                }
            }
        }
        part
    }

    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let n = self.labels.len();
        let w: Vec<[f32; CLASSES]> = theta[..PIXELS * CLASSES]
            .chunks_exact(CLASSES)
            .map(|r| std::array::from_fn(|c| r[c] as f32))
            .collect();
        let b: [f32; CLASSES] = std::array::from_fn(|c| theta[PIXELS * CLASSES + c] as f32);
        let parts: Vec<Partial> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|t| self.partial(&w, &b, t * CHUNK..((t + 1) * CHUNK).min(n)))
            .collect();
        let inv_n = 1.0 / n as f64;
        grad.fill(0.0);
        let mut loss = 0.0;
        for part in &parts {
            loss += part.loss;
            for (g, gp) in grad.chunks_exact_mut(CLASSES).zip(&part.gw) {
                for c in 0..CLASSES {
                    g[c] += gp[c] as f64;
                }
            }
            for c in 0..CLASSES {
                grad[PIXELS * CLASSES + c] += part.gb[c];
            }
        }
        let mut penalty = 0.0;
        for (j, g) in grad.iter_mut().enumerate() {
            *g *= inv_n;
            if j < PIXELS * CLASSES {
                *g += self.lambda * theta[j];
                penalty += theta[j] * theta[j];
            }
        }
        loss * inv_n + 0.5 * self.lambda * penalty
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl LogReg {
    /// Fits on u8 images and labels (deterministic: starts from zero).
    pub fn fit(pixels: &[u8], labels: &[u8], params: LogRegParams) -> anyhow::Result<Self> {
        let n = image_count(pixels)?;
        if n != labels.len() || n == 0 {
            anyhow::bail!(
                "logistic regression: {n} images but {} labels",
                labels.len()
            );
        }
        let x = SparseRows::new(pixels);
        let objective = Objective {
            x: &x,
            labels,
            lambda: 1.0 / (params.c * n as f64),
        };
        let dim = (PIXELS + 1) * CLASSES;
        let mut theta = vec![0.0f64; dim];
        let mut grad = vec![0.0f64; dim];
        let mut loss = objective.eval(&theta, &mut grad);
        let mut pairs: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new();
        let mut iterations = 0;
        while iterations < params.max_iter {
            if grad.iter().fold(0.0f64, |m, g| m.max(g.abs())) < params.tolerance {
                break;
            }
            iterations += 1;
            // Two-loop recursion: direction = -H·grad.
            let mut q = grad.clone();
            let mut alphas = Vec::with_capacity(pairs.len());
            for (s, y, rho) in pairs.iter().rev() {
                let a = rho * dot(s, &q);
                q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
                alphas.push(a);
            }
            let gamma = match pairs.last() {
                Some((s, y, _)) => dot(s, y) / dot(y, y),
                None => 1.0 / dot(&grad, &grad).sqrt().max(1e-12),
            };
            q.iter_mut().for_each(|v| *v *= gamma);
            for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
                let b = rho * dot(y, &q);
                q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
            }
            let dir: Vec<f64> = q.iter().map(|v| -v).collect();
            let slope = dot(&grad, &dir);
            if slope >= 0.0 {
                pairs.clear();
                continue;
            }
            // Backtracking line search from the full step.
            let mut step = 1.0;
            let mut new_grad = vec![0.0f64; dim];
            let mut accepted = None;
            for _ in 0..MAX_HALVINGS {
                let trial: Vec<f64> = theta.iter().zip(&dir).map(|(t, d)| t + step * d).collect();
                let trial_loss = objective.eval(&trial, &mut new_grad);
                if trial_loss <= loss + ARMIJO * step * slope {
                    accepted = Some((trial, trial_loss));
                    break;
                }
                step *= 0.5;
            }
            let Some((trial, trial_loss)) = accepted else {
                break;
            };
            let s: Vec<f64> = trial.iter().zip(&theta).map(|(a, b)| a - b).collect();
            let y: Vec<f64> = new_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
            let sy = dot(&s, &y);
            if sy > 1e-12 {
                if pairs.len() == MEMORY {
                    pairs.remove(0);
                }
                pairs.push((s, y, 1.0 / sy));
            }
            theta = trial;
            grad = new_grad;
            loss = trial_loss;
        }
        Ok(Self {
            weights: theta[..PIXELS * CLASSES]
                .iter()
                .map(|&v| v as f32)
                .collect(),
            bias: theta[PIXELS * CLASSES..]
                .iter()
                .map(|&v| v as f32)
                .collect(),
            iterations,
        })
    }
}

impl Classifier for LogReg {
    fn name(&self) -> &str {
        "logreg"
    }

    fn predict_proba(&self, pixels: &[u8]) -> anyhow::Result<Vec<f32>> {
        let n = image_count(pixels)?;
        let x = features(pixels);
        let mut p = vec![0.0f32; n * CLASSES];
        let shape = (n, CLASSES, PIXELS);
        matmul(&mut p, &x, Op::N, &self.weights, Op::N, shape, false, true);
        for row in p.chunks_exact_mut(CLASSES) {
            row.iter_mut().zip(&self.bias).for_each(|(v, b)| *v += b);
        }
        softmax_rows(&mut p);
        Ok(p)
    }

    fn size_bytes(&self) -> usize {
        4 * (self.weights.len() + self.bias.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::accuracy;

    #[test]
    fn separates_a_separable_set() {
        // Class c lights pixel 10*c (plus a little of pixel 5), so every class is separable.
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40u8 {
            let c = i % 10;
            let mut img = vec![0u8; PIXELS];
            img[10 * c as usize] = 200 + i;
            img[5] = i;
            pixels.extend(img);
            labels.push(c);
        }
        let params = LogRegParams {
            c: 1.0,
            max_iter: 50,
            tolerance: 1e-6,
        };
        let model = LogReg::fit(&pixels, &labels, params).unwrap();
        let probs = model.predict_proba(&pixels).unwrap();
        assert_eq!(accuracy(&probs, &labels), 1.0);
        for row in probs.chunks_exact(CLASSES) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        assert!(model.iterations > 0);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let pixels: Vec<u8> = (0..3 * PIXELS).map(|i| (i * 37 % 251) as u8).collect();
        let labels = [1u8, 4, 9];
        let x = SparseRows::new(&pixels);
        let obj = Objective {
            x: &x,
            labels: &labels,
            lambda: 0.1,
        };
        let dim = (PIXELS + 1) * CLASSES;
        let theta: Vec<f64> = (0..dim).map(|i| ((i % 13) as f64 - 6.0) * 1e-3).collect();
        let mut grad = vec![0.0; dim];
        obj.eval(&theta, &mut grad);
        let mut scratch = vec![0.0; dim];
        for &i in &[0usize, 157, 4000, PIXELS * CLASSES + 4] {
            let h = 1e-3;
            let mut plus = theta.clone();
            plus[i] += h;
            let mut minus = theta.clone();
            minus[i] -= h;
            let numeric =
                (obj.eval(&plus, &mut scratch) - obj.eval(&minus, &mut scratch)) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-3,
                "{i}: {numeric} vs {}",
                grad[i]
            );
        }
    }
}
