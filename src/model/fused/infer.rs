//! Inference with the fused engine: class probabilities and metrics of many images, a few
//! chunks at a time, and one image's logits and input gradient for inversion.

use rayon::prelude::*;

use super::workspace::Mode;
use super::{Engine, FusedError};
use crate::data::{Split, CLASSES, PIXELS};

impl Engine {
    /// Runs `f(workspace, chunk index)` after the forward pass of every chunk of `pixels`
    /// (bytes, `n * PIXELS`), the chunks of each round in parallel. Chunks always start at
    /// multiples of the workspace capacity, so results do not depend on the number of lanes.
    fn forward_bytes<R: Send>(
        &mut self,
        pixels: &[u8],
        f: impl Fn(&mut super::Workspace, usize) -> R + Sync,
        mut collect: impl FnMut(R),
    ) -> Result<(), FusedError> {
        self.expect_mode(Mode::Infer)?;
        if !pixels.len().is_multiple_of(PIXELS) {
            return Err(FusedError::Images {
                images: pixels.len(),
                labels: pixels.len() / PIXELS,
            });
        }
        let per = self.chunks[0].capacity();
        let lanes = self.chunks.len();
        let (plan, params) = (&self.plan, &self.params);
        for (round, group) in pixels.chunks(lanes * per * PIXELS).enumerate() {
            let results: Vec<R> = self
                .chunks
                .par_iter_mut()
                .zip(self.inputs.par_iter_mut())
                .zip(group.par_chunks(per * PIXELS))
                .enumerate()
                .map(|(i, ((ws, buf), bytes))| {
                    let x = &mut buf[..bytes.len()];
                    for (d, &b) in x.iter_mut().zip(bytes) {
                        *d = f32::from(b) / 255.0;
                    }
                    ws.forward(plan, params, x);
                    f(ws, round * lanes + i)
                })
                .collect();
            results.into_iter().for_each(&mut collect);
        }
        Ok(())
    }

    /// Class probabilities (`n` rows of [`CLASSES`]) of `n` images of bytes.
    pub fn predict_proba(&mut self, pixels: &[u8]) -> Result<Vec<f32>, FusedError> {
        let mut out = Vec::with_capacity(pixels.len() / PIXELS * CLASSES);
        self.forward_bytes(
            pixels,
            |ws, _| {
                let mut probs = ws.logits().to_vec();
                probs.chunks_exact_mut(CLASSES).for_each(softmax);
                probs
            },
            |probs| out.extend(probs),
        )?;
        Ok(out)
    }

    /// Mean cross-entropy and accuracy on `split`.
    pub fn evaluate(&mut self, split: &Split) -> Result<(f64, f64), FusedError> {
        if let Some(&bad) = split.labels.iter().find(|&&l| usize::from(l) >= CLASSES) {
            return Err(FusedError::Label(bad));
        }
        let per = self.chunks[0].capacity();
        let labels = &split.labels;
        let (mut loss, mut correct) = (0.0, 0);
        self.forward_bytes(
            &split.images[..split.len() * PIXELS],
            |ws, c| {
                ws.loss(&labels[c * per..], 0.0);
                (ws.loss, ws.correct)
            },
            |(l, k)| {
                loss += l;
                correct += k;
            },
        )?;
        let n = split.len().max(1) as f64;
        Ok((loss / n, correct as f64 / n))
    }

    /// The logits of one image (`PIXELS` values in [0,1]).
    pub fn logits(&mut self, x: &[f32]) -> Result<[f32; CLASSES], FusedError> {
        self.expect_mode(Mode::InputGradient)?;
        check_one(x)?;
        let ws = &mut self.chunks[0];
        ws.forward(&self.plan, &self.params, x);
        let mut out = [0.0; CLASSES];
        out.copy_from_slice(ws.logits());
        Ok(out)
    }

    /// The gradient with respect to the pixels of one image `x` of `sum(c * logits)`, with
    /// `c = seed(logits)`: the gradient of any loss whose logit gradient `seed` returns.
    /// Returns the logits and the gradient (`PIXELS` values).
    pub fn input_gradient(
        &mut self,
        x: &[f32],
        seed: impl FnOnce(&[f32; CLASSES]) -> [f32; CLASSES],
    ) -> Result<([f32; CLASSES], &[f32]), FusedError> {
        let logits = self.logits(x)?;
        let ws = &mut self.chunks[0];
        ws.logit_grad_mut().copy_from_slice(&seed(&logits));
        ws.backward(&self.plan, &self.params, x);
        Ok((logits, &ws.gin[..PIXELS]))
    }
}

fn check_one(x: &[f32]) -> Result<(), FusedError> {
    if x.len() == PIXELS {
        Ok(())
    } else {
        Err(FusedError::Images {
            images: x.len(),
            labels: 1,
        })
    }
}

/// Softmax of one row in place, as candle's `softmax_last_dim` (max subtracted, f32).
fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut total = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        total += *v;
    }
    for v in row.iter_mut() {
        *v /= total;
    }
}
