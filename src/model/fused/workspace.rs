//! The buffers of one chunk of images, allocated once, and its forward and backward passes.

use super::gemm::{gemm, View};
use super::kernels::{
    add_bias, bias_relu_pool, col2im, column_sums, im2col, relu_mask, softmax_xent, unpool,
};
use super::plan::Plan;
use super::Params;
use super::{sparse, winograd};
use crate::data::{CLASSES, PIXELS};

/// What a workspace is for, and so which buffers it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Forward only.
    Infer,
    /// Forward, and the gradient with respect to the input pixels (weights frozen).
    InputGradient,
    /// Forward, and gradients for every parameter (the input's is not needed).
    Train,
}

/// Buffers of one conv block.
#[derive(Debug)]
struct ConvBufs {
    /// im2col patches; in backward, overwritten by the patch gradients. One image's only
    /// for blocks with sparse backward (their weight gradient reads the input instead).
    cols: Vec<f32>,
    /// Convolution output plus bias, ReLU'd in place when the block does not pool.
    z: Vec<f32>,
    /// Pooled activation (pooling blocks only).
    pooled: Vec<f32>,
    /// Argmax corner of each pooling window (pooling blocks with gradients).
    arg: Vec<u8>,
    /// Gradient with respect to `z` (pooling blocks whose patches are too short for the
    /// sparse kernels, with gradients).
    gz: Vec<f32>,
    /// Gradient with respect to the activation; masked in place when the block does not pool.
    gact: Vec<f32>,
    /// This chunk's share of the weight gradient, transposed (sparse blocks, training).
    gwt: Vec<f32>,
    /// The non-zero gradients of one image (sparse blocks with gradients).
    lists: sparse::Lists,
    /// Winograd blocks: images per product, transformed tiles and products.
    wino_images: usize,
    wino_v: Vec<f32>,
    wino_m: Vec<f32>,
    /// This chunk's share of the weight and bias gradients (training).
    gw: Vec<f32>,
    gb: Vec<f32>,
}

/// Buffers of one dense layer.
#[derive(Debug)]
struct DenseBufs {
    /// Output (ReLU'd for hidden layers; the logits for the last).
    act: Vec<f32>,
    /// Gradient with respect to the output before the ReLU.
    grad: Vec<f32>,
}

/// Buffers for up to `capacity` images.
#[derive(Debug)]
pub(super) struct Workspace {
    capacity: usize,
    mode: Mode,
    convs: Vec<ConvBufs>,
    dense: Vec<DenseBufs>,
    /// Gradient with respect to the input pixels ([`Mode::InputGradient`]).
    pub gin: Vec<f32>,
    /// Zeros as long as the widest block input's channels (Winograd padding), and the
    /// Winograd transforms' scratch.
    zeros: Vec<f32>,
    wino_tmp: Vec<f32>,
    /// Images in the chunk last run.
    pub n: usize,
    /// Summed loss and number of correct predictions of the chunk last run with labels.
    pub loss: f64,
    pub correct: usize,
}

impl Workspace {
    pub fn new(plan: &Plan, capacity: usize, mode: Mode) -> Self {
        let grads = mode != Mode::Infer;
        let train = mode == Mode::Train;
        let sized = |on: bool, len: usize| if on { vec![0.0; len] } else { Vec::new() };
        let convs = plan
            .convs
            .iter()
            .map(|g| {
                let wino = winograd_block(g, mode);
                let (wino_images, v, m) = winograd::group(g, capacity);
                // Patches are kept for the dense weight gradient only; the sparse one reads the
                // input, and Winograd blocks make none.
                let cols = match (wino, sparse_block(g)) {
                    (true, true) => 0,
                    (false, true) => g.positions() * g.patch(),
                    _ => capacity * g.positions() * g.patch(),
                };
                ConvBufs {
                    cols: vec![0.0; cols],
                    wino_images,
                    wino_v: sized(wino, v),
                    wino_m: sized(wino, m),
                    z: vec![0.0; capacity * g.z_len()],
                    pooled: sized(g.pool, capacity * g.act_len()),
                    arg: if g.pool && grads {
                        vec![0; capacity * g.act_len()]
                    } else {
                        Vec::new()
                    },
                    gact: sized(grads, capacity * g.act_len()),
                    gz: sized(grads && g.pool && !sparse_block(g), capacity * g.z_len()),
                    gwt: sized(train && sparse_block(g), g.patch() * g.f),
                    lists: if grads && sparse_block(g) {
                        sparse::Lists::new(g)
                    } else {
                        sparse::Lists::default()
                    },
                    gw: sized(train, g.patch() * g.f),
                    gb: sized(train, g.f),
                }
            })
            .collect();
        let dense = plan
            .dense
            .iter()
            .map(|d| DenseBufs {
                act: vec![0.0; capacity * d.outputs],
                grad: sized(grads, capacity * d.outputs),
            })
            .collect();
        Self {
            capacity,
            mode,
            convs,
            dense,
            gin: sized(mode == Mode::InputGradient, capacity * PIXELS),
            zeros: vec![0.0; plan.convs.iter().map(|g| g.c).max().unwrap_or(0)],
            wino_tmp: vec![0.0; plan.convs.iter().map(winograd::tmp_len).max().unwrap_or(0)],
            n: 0,
            loss: 0.0,
            correct: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The logits of the chunk last run, `n` rows of [`CLASSES`].
    pub fn logits(&self) -> &[f32] {
        let last = self.dense.last().map(|d| d.act.as_slice()).unwrap_or(&[]);
        &last[..self.n * CLASSES]
    }

    /// Gradient with respect to the logits, for the caller to fill ([`Mode::InputGradient`]).
    pub fn logit_grad_mut(&mut self) -> &mut [f32] {
        let n = self.n;
        let last = self.dense.last_mut().map(|d| d.grad.as_mut_slice());
        &mut last.unwrap_or(&mut [])[..n * CLASSES]
    }

    /// The input of dense layer `j` for the chunk last run (`images` being its pixels).
    pub fn dense_input<'a>(&'a self, plan: &Plan, j: usize, images: &'a [f32]) -> &'a [f32] {
        let len = self.n * plan.dense[j].inputs;
        if j > 0 {
            &self.dense[j - 1].act[..len]
        } else if let Some(last) = self.convs.last() {
            let g = plan.convs[plan.convs.len() - 1];
            if g.pool {
                &last.pooled[..len]
            } else {
                &last.z[..len]
            }
        } else {
            &images[..len]
        }
    }

    /// Gradient with respect to dense layer `j`'s output before its ReLU (after a backward).
    pub fn dense_grad(&self, plan: &Plan, j: usize) -> &[f32] {
        &self.dense[j].grad[..self.n * plan.dense[j].outputs]
    }

    /// This chunk's shares of conv block `l`'s weight and bias gradients.
    pub fn conv_grads(&self, l: usize) -> (&[f32], &[f32]) {
        (&self.convs[l].gw, &self.convs[l].gb)
    }

    /// Forward pass of `images` (`n * PIXELS` values, `n <= capacity`) up to the logits.
    pub fn forward(&mut self, plan: &Plan, params: &Params, images: &[f32]) {
        let n = images.len() / PIXELS;
        assert!(
            n <= self.capacity,
            "workspace: chunk larger than its capacity"
        );
        self.n = n;
        for (l, g) in plan.convs.iter().enumerate() {
            let (done, rest) = self.convs.split_at_mut(l);
            let input: &[f32] = match done.last() {
                None => images,
                Some(prev) if plan.convs[l - 1].pool => &prev.pooled,
                Some(prev) => &prev.z,
            };
            let b = &mut rest[0];
            let t = plan.conv_tensor(l);
            if winograd_block(g, self.mode) {
                let (v, m) = (&mut b.wino_v, &mut b.wino_m);
                let z = &mut b.z[..n * g.z_len()];
                let (u, per, tmp) = (&params[t].u, b.wino_images, &mut self.wino_tmp);
                winograd::forward(g, u, input, n, per, &self.zeros, tmp, v, m, z);
            } else {
                let w = View::new(&params[t].w, g.patch(), g.f);
                // Image by image when the patches need not be kept: they stay in cache.
                let per = if sparse_block(g) { 1 } else { n.max(1) };
                let rows = per * g.positions();
                let cols = &mut b.cols[..rows * g.patch()];
                for (x, z) in input
                    .chunks(per * g.in_len())
                    .zip(b.z.chunks_mut(per * g.z_len()))
                    .take(n.div_ceil(per))
                {
                    im2col(g, x, per, cols);
                    gemm(z, View::new(cols, rows, g.patch()), w, false);
                }
            }
            let z = &mut b.z[..n * g.z_len()];
            if g.pool {
                let arg = if b.arg.is_empty() {
                    &mut [][..]
                } else {
                    &mut b.arg[..n * g.act_len()]
                };
                bias_relu_pool(g, z, &params[t + 1].w, n, &mut b.pooled, arg);
            } else {
                add_bias(z, &params[t + 1].w, true);
            }
        }
        for (j, d) in plan.dense.iter().enumerate() {
            let t = plan.dense_tensor(j);
            let mut act = std::mem::take(&mut self.dense[j].act);
            let out = &mut act[..n * d.outputs];
            let x = View::new(self.dense_input(plan, j, images), n, d.inputs);
            gemm(out, x, View::new(&params[t].w, d.inputs, d.outputs), false);
            add_bias(out, &params[t + 1].w, d.relu);
            self.dense[j].act = act;
        }
    }

    /// Loss and accuracy of the chunk last run against `labels`; in training, also the logits'
    /// gradient of the batch's mean loss (`scale` = 1 / batch size).
    pub fn loss(&mut self, labels: &[u8], scale: f32) {
        let n = self.n;
        let train = self.mode == Mode::Train;
        let Some(last) = self.dense.last_mut() else {
            return;
        };
        let (mut loss, mut correct) = (0.0, 0);
        for (i, &label) in labels.iter().enumerate().take(n) {
            let logits = &last.act[i * CLASSES..(i + 1) * CLASSES];
            let grad = if train {
                &mut last.grad[i * CLASSES..(i + 1) * CLASSES]
            } else {
                &mut [][..]
            };
            let (l, ok) = softmax_xent(logits, usize::from(label), scale, grad);
            loss += l;
            correct += usize::from(ok);
        }
        self.loss = loss;
        self.correct = correct;
    }

    /// Backward pass from the logits' gradient (set by [`Workspace::loss`] or the caller):
    /// every activation gradient, the chunk's conv weight and bias gradients (training) or the
    /// input gradient `gin` ([`Mode::InputGradient`]). Dense weight gradients are left to the
    /// caller, which sums them over all chunks of a batch.
    pub fn backward(&mut self, plan: &Plan, params: &Params, images: &[f32]) {
        self.backward_dense(plan, params);
        self.backward_convs(plan, params, images);
    }

    /// The dense layers' part of [`Workspace::backward`]: down to the gradient with respect to
    /// the last convolution block's output (or the pixels, without convolutions). Enough for
    /// Grad-CAM ([`Workspace::last_conv`]).
    pub fn backward_dense(&mut self, plan: &Plan, params: &Params) {
        let n = self.n;
        let want_input = self.mode == Mode::InputGradient;
        for j in (0..plan.dense.len()).rev() {
            let d = plan.dense[j];
            let t = plan.dense_tensor(j);
            let (below, here) = self.dense.split_at_mut(j);
            let g = View::new(&here[0].grad[..n * d.outputs], n, d.outputs);
            let wt = View::new(&params[t].w, d.inputs, d.outputs).t();
            let len = n * d.inputs;
            if let Some(prev) = below.last_mut() {
                gemm(&mut prev.grad[..len], g, wt, false);
                relu_mask(&mut prev.grad[..len], &prev.act[..len]);
            } else if let Some(last) = self.convs.last_mut() {
                gemm(&mut last.gact[..len], g, wt, false);
            } else if want_input {
                gemm(&mut self.gin[..len], g, wt, false);
            }
        }
    }

    /// The conv blocks' part of [`Workspace::backward`], after [`Workspace::backward_dense`].
    fn backward_convs(&mut self, plan: &Plan, params: &Params, images: &[f32]) {
        let n = self.n;
        let train = self.mode == Mode::Train;
        let want_input = self.mode == Mode::InputGradient;
        for l in (0..plan.convs.len()).rev() {
            let g = &plan.convs[l];
            let t = plan.conv_tensor(l);
            let (below, here) = self.convs.split_at_mut(l);
            let b = &mut here[0];
            if sparse_block(g) {
                // At most one gradient per window and channel: the sparse kernels.
                let (input, mut target): (&[f32], Option<&mut [f32]>) = match below.last_mut() {
                    Some(prev) => {
                        let act = if plan.convs[l - 1].pool {
                            &prev.pooled
                        } else {
                            &prev.z
                        };
                        (act, Some(&mut prev.gact))
                    }
                    None if want_input => (images, Some(&mut self.gin)),
                    None => (images, None),
                };
                let (a, len) = (g.act_len(), g.in_len());
                if train {
                    b.gwt.fill(0.0);
                    b.gb.fill(0.0);
                }
                for i in 0..n {
                    let (gact, arg) = (&b.gact[i * a..(i + 1) * a], &b.arg[i * a..(i + 1) * a]);
                    if train {
                        let x = &input[i * len..(i + 1) * len];
                        sparse::weight_grad(g, &mut b.lists, x, gact, arg, &mut b.gwt, &mut b.gb);
                    }
                    if let Some(target) = target.as_deref_mut() {
                        let dx = &mut target[i * len..(i + 1) * len];
                        sparse::input_grad(g, &mut b.lists, &params[t].t, gact, arg, dx);
                    }
                }
                if train {
                    sparse::transpose(&b.gwt, g.f, g.patch(), &mut b.gw);
                }
                continue;
            }
            let rows = n * g.positions();
            let cols = &mut b.cols[..rows * g.patch()];
            let target: Option<&mut [f32]> = match below.last_mut() {
                Some(prev) => Some(&mut prev.gact),
                None if want_input => Some(&mut self.gin),
                None => None,
            };
            let gz = if g.pool {
                unpool(g, &b.gact, &b.arg, n, &mut b.gz);
                &mut b.gz[..rows * g.f]
            } else {
                relu_mask(&mut b.gact[..rows * g.f], &b.z[..rows * g.f]);
                &mut b.gact[..rows * g.f]
            };
            if train {
                let patches = View::new(cols, rows, g.patch()).t();
                gemm(&mut b.gw, patches, View::new(gz, rows, g.f), false);
                column_sums(gz, &mut b.gb, false);
            }
            if let Some(target) = target {
                let wt = View::new(&params[t].w, g.patch(), g.f).t();
                gemm(cols, View::new(gz, rows, g.f), wt, false);
                col2im(g, cols, n, target);
            }
        }
    }
}

/// Whether block `g`'s backward uses the sparse kernels (pooling, patches long enough).
pub(super) fn sparse_block(g: &super::plan::ConvGeom) -> bool {
    g.pool && sparse::fits(g)
}

/// Whether block `g`'s forward pass is Winograd's: when it fits, and the patches are not
/// needed for a dense weight gradient.
pub(super) fn winograd_block(g: &super::plan::ConvGeom, mode: Mode) -> bool {
    winograd::fits(g) && (sparse_block(g) || mode != Mode::Train)
}

impl Workspace {
    /// After [`Workspace::backward_dense`] (or a whole backward pass) in
    /// [`Mode::InputGradient`]: the last convolution's output before its ReLU for image `i` of
    /// the chunk (`a`, `[oh, ow, f]`), and the gradient with respect to it (`da`). A block
    /// without pooling kept only the ReLU'd output, so its convolution is run again for this
    /// image; `images` are the chunk's pixels.
    pub fn last_conv(
        &self,
        plan: &Plan,
        params: &Params,
        images: &[f32],
        i: usize,
        a: &mut [f32],
        da: &mut [f32],
    ) {
        let l = plan.convs.len() - 1;
        let (g, b) = (&plan.convs[l], &self.convs[l]);
        let (zl, al) = (g.z_len(), g.act_len());
        let bias = &params[plan.conv_tensor(l) + 1].w;
        if g.pool {
            a.copy_from_slice(&b.z[i * zl..(i + 1) * zl]);
            add_bias(a, bias, false);
            unpool(
                g,
                &b.gact[i * al..(i + 1) * al],
                &b.arg[i * al..(i + 1) * al],
                1,
                da,
            );
            return;
        }
        // Without pooling the pre-ReLU gradient is `gact` where the ReLU'd output is positive
        // (a whole backward pass has masked it in place already: masking again changes nothing).
        da.copy_from_slice(&b.gact[i * zl..(i + 1) * zl]);
        relu_mask(da, &b.z[i * zl..(i + 1) * zl]);
        let input: &[f32] = match l.checked_sub(1) {
            None => &images[i * PIXELS..(i + 1) * PIXELS],
            Some(p) => {
                let len = plan.convs[p].act_len();
                let prev = &self.convs[p];
                let act = if plan.convs[p].pool {
                    &prev.pooled
                } else {
                    &prev.z
                };
                &act[i * len..(i + 1) * len]
            }
        };
        let mut cols = vec![0.0; g.positions() * g.patch()];
        im2col(g, input, 1, &mut cols);
        let w = View::new(&params[plan.conv_tensor(l)].w, g.patch(), g.f);
        gemm(a, View::new(&cols, g.positions(), g.patch()), w, false);
        add_bias(a, bias, false);
    }
}
