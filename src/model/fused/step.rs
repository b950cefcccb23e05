//! One training step: every chunk's forward and backward pass in parallel, then each block of
//! parameters summed over the chunks and updated by Adam in parallel.

use rayon::prelude::*;

use super::adam::{update, AdamStep};
use super::gemm::{gemm, View};
use super::kernels::column_sums;
use super::plan::Plan;
use super::workspace::{Mode, Workspace};
use super::{Engine, FusedError, Param};
use crate::data::{CLASSES, PIXELS};

/// Rows of a dense weight matrix finished as one piece of work.
const DENSE_ROWS: usize = 64;

/// Values of any other parameter tensor finished as one piece of work.
const BLOCK: usize = 1 << 14;

impl Engine {
    /// One Adam step with learning rate `lr` on the mean cross-entropy of `labels.len()`
    /// images (`images`: their pixels in [0,1], row-major 28x28 each). Returns the summed loss
    /// and the number of correct predictions, both before the update.
    pub fn step(
        &mut self,
        images: &[f32],
        labels: &[u8],
        lr: f64,
    ) -> Result<(f64, usize), FusedError> {
        self.expect_mode(Mode::Train)?;
        let n = labels.len();
        if images.len() != n * PIXELS {
            return Err(FusedError::Images {
                images: images.len(),
                labels: n,
            });
        }
        let capacity = self.chunks.len() * self.chunks[0].capacity();
        if n > capacity {
            return Err(FusedError::Batch { found: n, capacity });
        }
        if let Some(&bad) = labels.iter().find(|&&l| usize::from(l) >= CLASSES) {
            return Err(FusedError::Label(bad));
        }
        if n == 0 {
            return Ok((0.0, 0));
        }
        self.prepare_weights();
        let per = self.chunks[0].capacity();
        let used = n.div_ceil(per);
        let scale = 1.0 / n as f32;
        let (plan, params) = (&self.plan, &self.params);
        self.chunks[..used]
            .par_iter_mut()
            .zip(images.par_chunks(per * PIXELS))
            .zip(labels.par_chunks(per))
            .for_each(|((ws, x), y)| {
                ws.forward(plan, params, x);
                ws.loss(y, scale);
                ws.backward(plan, params, x);
            });
        self.adam.step += 1;
        let a = self.adam;
        let s = AdamStep::new(a.step, lr, a.beta1, a.beta2, a.epsilon);
        let chunks = &self.chunks[..used];
        self.params
            .par_iter_mut()
            .enumerate()
            .for_each(|(t, p)| finish(plan, t, p, chunks, images, &s));
        let loss = chunks.iter().map(|c| c.loss).sum();
        let correct = chunks.iter().map(|c| c.correct).sum();
        Ok((loss, correct))
    }
}

/// Which layer a parameter tensor belongs to.
enum Role {
    ConvWeight(usize),
    ConvBias(usize),
    DenseWeight(usize),
    DenseBias(usize),
}

fn kind(plan: &Plan, t: usize) -> Role {
    let (layer, bias) = (t / 2, t % 2 == 1);
    match (layer.checked_sub(plan.convs.len()), bias) {
        (None, false) => Role::ConvWeight(layer),
        (None, true) => Role::ConvBias(layer),
        (Some(j), false) => Role::DenseWeight(j),
        (Some(j), true) => Role::DenseBias(j),
    }
}

/// Sums tensor `t`'s gradient over `chunks` (in chunk order) and applies Adam, block by block.
fn finish(
    plan: &Plan,
    t: usize,
    p: &mut Param,
    chunks: &[Workspace],
    images: &[f32],
    s: &AdamStep,
) {
    let kind = kind(plan, t);
    let block = match kind {
        Role::DenseWeight(j) => DENSE_ROWS * plan.dense[j].outputs,
        _ => BLOCK,
    };
    let Param { w, m, v, g, .. } = p;
    w.par_chunks_mut(block)
        .zip(m.par_chunks_mut(block))
        .zip(v.par_chunks_mut(block))
        .zip(g.par_chunks_mut(block))
        .enumerate()
        .for_each(|(b, (((w, m), v), g))| {
            let start = b * block;
            let range = start..start + g.len();
            match kind {
                Role::ConvWeight(l) | Role::ConvBias(l) => {
                    let bias = matches!(kind, Role::ConvBias(_));
                    for (c, ws) in chunks.iter().enumerate() {
                        let (gw, gb) = ws.conv_grads(l);
                        let part = if bias { gb } else { gw };
                        let part = &part[range.clone()];
                        if c == 0 {
                            g.copy_from_slice(part);
                        } else {
                            g.iter_mut().zip(part).for_each(|(g, p)| *g += p);
                        }
                    }
                }
                Role::DenseWeight(j) => {
                    let d = plan.dense[j];
                    let (r0, r1) = (start / d.outputs, (start + g.len()) / d.outputs);
                    for (c, ws) in chunks.iter().enumerate() {
                        let x = &images[c * ws.capacity() * PIXELS..];
                        let input = View::new(ws.dense_input(plan, j, x), ws.n, d.inputs);
                        let grad = View::new(ws.dense_grad(plan, j), ws.n, d.outputs);
                        gemm(g, input.columns(r0, r1).t(), grad, c > 0);
                    }
                }
                Role::DenseBias(j) => {
                    for (c, ws) in chunks.iter().enumerate() {
                        column_sums(ws.dense_grad(plan, j), g, c > 0);
                    }
                }
            }
            update(w, m, v, g, s);
        });
}
