//! Many images' logits and input gradients at once (attribution maps): the chunks of a batch
//! in parallel, each chunk's backward pass seeded per image.

use rayon::prelude::*;

use super::workspace::Mode;
use super::{Engine, FusedError, CHUNK};
use crate::data::{CLASSES, PIXELS};
use crate::model::Network;

/// The seed of an image's backward pass: the gradient with respect to its logits, from the
/// image's index in the batch and its logits.
pub type Seed<'a> = dyn Fn(usize, &[f32]) -> [f32; CLASSES] + Sync + 'a;

impl Engine {
    /// An engine for the logits and input gradients of batches of any size, a few chunks at a
    /// time, with `net`'s weights (a copy) held constant.
    pub fn explainer(net: &Network) -> Result<Self, FusedError> {
        let lanes = 2 * rayon::current_num_threads().max(1);
        Self::build(net, Mode::InputGradient, lanes, CHUNK)
    }

    /// Sides and channels of the last convolution's output (`None` without convolutions).
    pub fn last_conv_shape(&self) -> Option<(usize, usize, usize)> {
        self.plan.convs.last().map(|g| {
            let (oh, ow) = g.out();
            (oh, ow, g.f)
        })
    }

    /// Runs `f(workspace, chunk pixels, first image index)` after the forward pass of every
    /// chunk of `xs`, the chunks of each round in parallel.
    fn chunked<R: Send>(
        &mut self,
        xs: &[f32],
        f: impl Fn(&mut super::Workspace, &super::plan::Plan, &super::Params, &[f32], usize) -> R + Sync,
        mut collect: impl FnMut(R),
    ) -> Result<(), FusedError> {
        self.expect_mode(Mode::InputGradient)?;
        if !xs.len().is_multiple_of(PIXELS) {
            return Err(FusedError::Images {
                images: xs.len(),
                labels: xs.len() / PIXELS,
            });
        }
        let per = self.chunks[0].capacity();
        let lanes = self.chunks.len();
        let (plan, params) = (&self.plan, &self.params);
        for (round, group) in xs.chunks(lanes * per * PIXELS).enumerate() {
            let results: Vec<R> = self
                .chunks
                .par_iter_mut()
                .zip(group.par_chunks(per * PIXELS))
                .enumerate()
                .map(|(i, (ws, x))| {
                    ws.forward(plan, params, x);
                    f(ws, plan, params, x, (round * lanes + i) * per)
                })
                .collect();
            results.into_iter().for_each(&mut collect);
        }
        Ok(())
    }

    /// The logits of `xs` (`n * PIXELS` values in [0,1]): `n` rows of [`CLASSES`].
    pub fn logits_many(&mut self, xs: &[f32]) -> Result<Vec<f32>, FusedError> {
        let mut out = Vec::with_capacity(xs.len() / PIXELS * CLASSES);
        self.chunked(xs, |ws, _, _, _, _| ws.logits().to_vec(), |l| out.extend(l))?;
        Ok(out)
    }

    /// The input of the last dense layer for each image of `xs` (the CNN's penultimate
    /// features: the hidden dense layer's ReLU'd output, or the last block's flattened output
    /// without one): `n` rows of that layer's inputs.
    pub fn features_many(&mut self, xs: &[f32]) -> Result<Vec<f32>, FusedError> {
        let mut out = Vec::new();
        self.chunked(
            xs,
            |ws, plan, _, x, _| ws.dense_input(plan, plan.dense.len() - 1, x).to_vec(),
            |f| out.extend(f),
        )?;
        Ok(out)
    }

    /// Values per image of [`Engine::features_many`].
    pub fn feature_len(&self) -> usize {
        self.plan.dense.last().map_or(0, |d| d.inputs)
    }

    /// The logits of `xs` and, per image `i`, the gradient with respect to its pixels of
    /// `sum(seed(i, logits_i) * logits_i)`: `n` rows of [`CLASSES`] and `n` rows of [`PIXELS`].
    pub fn input_gradients(
        &mut self,
        xs: &[f32],
        seed: &Seed,
    ) -> Result<(Vec<f32>, Vec<f32>), FusedError> {
        let n = xs.len() / PIXELS;
        let (mut logits, mut grads) = (
            Vec::with_capacity(n * CLASSES),
            Vec::with_capacity(xs.len()),
        );
        self.chunked(
            xs,
            |ws, plan, params, x, first| {
                seed_chunk(ws, seed, first);
                ws.backward(plan, params, x);
                (ws.logits().to_vec(), ws.gin[..ws.n * PIXELS].to_vec())
            },
            |(l, g)| {
                logits.extend(l);
                grads.extend(g);
            },
        )?;
        Ok((logits, grads))
    }

    /// Per image of `xs`: the last convolution's output before its ReLU and the gradient of
    /// `sum(seed * logits)` with respect to it (each `n` rows of `oh * ow * f`, NHWC), what
    /// Grad-CAM weighs. Fails on a network without convolutions.
    pub fn last_conv_gradients(
        &mut self,
        xs: &[f32],
        seed: &Seed,
    ) -> Result<(Vec<f32>, Vec<f32>), FusedError> {
        let Some((oh, ow, f)) = self.last_conv_shape() else {
            return Err(FusedError::Arch(
                "explain".into(),
                "Grad-CAM needs a convolution".into(),
            ));
        };
        let len = oh * ow * f;
        let (mut acts, mut grads) = (Vec::new(), Vec::new());
        self.chunked(
            xs,
            |ws, plan, params, x, first| {
                seed_chunk(ws, seed, first);
                // Only down to the last convolution: the pixels' gradient is not needed.
                ws.backward_dense(plan, params);
                let mut a = vec![0.0; ws.n * len];
                let mut da = vec![0.0; ws.n * len];
                for (i, (a, da)) in a
                    .chunks_exact_mut(len)
                    .zip(da.chunks_exact_mut(len))
                    .enumerate()
                {
                    ws.last_conv(plan, params, x, i, a, da);
                }
                (a, da)
            },
            |(a, da)| {
                acts.extend(a);
                grads.extend(da);
            },
        )?;
        Ok((acts, grads))
    }
}

/// Writes each image's seed into the chunk's logit gradient.
fn seed_chunk(ws: &mut super::Workspace, seed: &Seed, first: usize) {
    let logits = ws.logits().to_vec();
    let grad = ws.logit_grad_mut();
    for (i, (row, g)) in logits
        .chunks_exact(CLASSES)
        .zip(grad.chunks_exact_mut(CLASSES))
        .enumerate()
    {
        g.copy_from_slice(&seed(first + i, row));
    }
}
