//! The network's shape-changing operations, written so autograd sees as little as possible:
//! a 3x3 (or kxk) valid convolution with the bias folded in as a ones column, a fused
//! `relu_max_pool2` (ReLU then 2x2 max-pool, gradient routed to one argmax per window), and a
//! one-pass ReLU.
//!
//! On the CPU all three are custom candle ops with hand-written backward passes: the convolution is
//! im2col + one GEMM per chunk of images (forward), and GEMMs + col2im (backward), calling the
//! `gemm` kernel directly, with no intermediate tensors; the input gradient is skipped when the
//! input needs none (the images during training). On other devices the same maths is composed
//! from candle's tensor ops, which runs anywhere; a test checks the two agree.
//!
//! candle 0.11's `max_pool2d` backward is wrong (it scales by 1/(k*k) and misroutes odd sizes)
//! and its ReLU has gradient 1 at 0; neither is used here.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use crate::linalg::{matmul, Op};

/// Images processed per GEMM in the CPU convolution: enough rows to keep the kernel busy,
/// few enough that the patch matrix stays in cache. Fixed, so results never depend on threads.
const CONV_CHUNK: usize = 8;

/// Elements per parallel task in the element-wise ops.
const ELEMENTWISE_CHUNK: usize = 1 << 16;

/// Valid convolution of `x` `[b, h, w, c]` with `w_aug` `[k*k*c + 1, filters]` (weights in
/// (ky, kx, channel) row order, the bias as the last row): `[b, h-k+1, w-k+1, filters]`.
pub fn conv2d(x: &Tensor, w_aug: &Tensor, k: usize) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() {
        x.contiguous()?.apply_op2(&w_aug.contiguous()?, Conv { k })
    } else {
        let (b, h, w, _) = x.dims4()?;
        let filters = w_aug.dim(1)?;
        im2col_generic(x, k)?
            .matmul(w_aug)?
            .reshape((b, h + 1 - k, w + 1 - k, filters))
    }
}

/// ReLU followed by a 2x2 max-pool with stride 2 (floor) over `[b, h, w, c]`.
pub fn relu_max_pool2(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() {
        x.contiguous()?.apply_op1(ReluMaxPool2)
    } else {
        relu_max_pool2_generic(x)
    }
}

/// ReLU whose gradient at exactly 0 is 0, as in PyTorch and TensorFlow.
pub fn relu(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() {
        x.contiguous()?.apply_op1(Relu)
    } else {
        relu_generic(x)
    }
}

/// [`relu`] from candle's tensor ops (any device).
fn relu_generic(x: &Tensor) -> candle_core::Result<Tensor> {
    let mask = x.detach().gt(0f32)?.to_dtype(x.dtype())?;
    x.mul(&mask)
}

fn dims4(layout: &Layout) -> candle_core::Result<(usize, usize, usize, usize)> {
    layout.shape().dims4()
}

/// The f32 values of a contiguous CPU tensor.
pub(super) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("expected a contiguous tensor".into()))?;
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// Geometry of one convolution: input `[b, h, w, c]`, kernel `k`, `filters` outputs.
#[derive(Debug, Clone, Copy)]
struct ConvShape {
    h: usize,
    w: usize,
    c: usize,
    k: usize,
    filters: usize,
}

impl ConvShape {
    fn out(&self) -> (usize, usize) {
        (self.h + 1 - self.k, self.w + 1 - self.k)
    }
    /// Patch length without the ones column.
    fn patch(&self) -> usize {
        self.k * self.k * self.c
    }
    fn image_in(&self) -> usize {
        self.h * self.w * self.c
    }
    fn image_out(&self) -> usize {
        let (oh, ow) = self.out();
        oh * ow * self.filters
    }

    /// Writes the patches of `images` as rows of length `stride` (`patch()` or `patch() + 1`,
    /// the extra column set to one).
    fn im2col(&self, images: &[f32], cols: &mut Vec<f32>, stride: usize) {
        let (oh, ow) = self.out();
        let (k, c, w) = (self.k, self.c, self.w);
        let n = images.len() / self.image_in();
        // Every element is written below, so stale contents need no clearing.
        cols.resize(n * oh * ow * stride, 0.0);
        for (img, dst) in images
            .chunks_exact(self.image_in())
            .zip(cols.chunks_exact_mut(oh * ow * stride))
        {
            for (pos, row) in dst.chunks_exact_mut(stride).enumerate() {
                let (oy, ox) = (pos / ow, pos % ow);
                for ky in 0..k {
                    let src = ((oy + ky) * w + ox) * c;
                    row[ky * k * c..(ky + 1) * k * c].copy_from_slice(&img[src..src + k * c]);
                }
                row[k * k * c..].fill(1.0);
            }
        }
    }

    /// Adds rows of patch gradients (length `patch()`) onto `images` (zeroed by the caller).
    fn col2im(&self, cols: &[f32], images: &mut [f32]) {
        let (oh, ow) = self.out();
        let (k, c, w, p) = (self.k, self.c, self.w, self.patch());
        for (img, src) in images
            .chunks_exact_mut(self.image_in())
            .zip(cols.chunks_exact(oh * ow * p))
        {
            for (pos, row) in src.chunks_exact(p).enumerate() {
                let (oy, ox) = (pos / ow, pos % ow);
                for ky in 0..k {
                    let dst = ((oy + ky) * w + ox) * c;
                    for (d, s) in img[dst..dst + k * c]
                        .iter_mut()
                        .zip(&row[ky * k * c..(ky + 1) * k * c])
                    {
                        *d += s;
                    }
                }
            }
        }
    }
}

fn conv_shape(x: &Layout, w: &Layout, k: usize) -> candle_core::Result<(usize, ConvShape)> {
    let (b, h, wd, c) = dims4(x)?;
    let (rows, filters) = w.shape().dims2()?;
    if k == 0 || k > h || k > wd || rows != k * k * c + 1 {
        candle_core::bail!(
            "conv: input {:?} does not fit weights {:?} with kernel {k}",
            x.shape(),
            w.shape()
        );
    }
    Ok((
        b,
        ConvShape {
            h,
            w: wd,
            c,
            k,
            filters,
        },
    ))
}

/// The fused CPU convolution; backward is [`ConvGradWeights`] and [`ConvGradInput`].
struct Conv {
    k: usize,
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        "conv"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, shape) = conv_shape(l1, l2, self.k)?;
        let (x, w) = (contiguous_f32(s1, l1)?, contiguous_f32(s2, l2)?);
        let stride = shape.patch() + 1;
        let mut out = vec![0f32; b * shape.image_out()];
        out.par_chunks_mut(CONV_CHUNK * shape.image_out())
            .zip(x.par_chunks(CONV_CHUNK * shape.image_in()))
            .for_each_init(Vec::new, |cols, (y, images)| {
                shape.im2col(images, cols, stride);
                let rows = y.len() / shape.filters;
                matmul(
                    y,
                    cols,
                    Op::N,
                    w,
                    Op::N,
                    (rows, shape.filters, stride),
                    false,
                    false,
                );
            });
        let (oh, ow) = shape.out();
        Ok((
            CpuStorage::F32(out),
            Shape::from((b, oh, ow, shape.filters)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        // Frozen weights (inversion, evaluation) need no gradient.
        let grad_w = if w.track_op() {
            Some(x.apply_op2_no_bwd(&grad, &ConvGradWeights { k: self.k })?)
        } else {
            None
        };
        // Images fed to the network need no gradient; inputs that are variables (inversion) or
        // come from earlier layers do.
        let grad_x = if x.track_op() {
            Some(grad.apply_op2_no_bwd(
                w,
                &ConvGradInput {
                    k: self.k,
                    dims: x.dims4()?,
                },
            )?)
        } else {
            None
        };
        Ok((grad_x, grad_w))
    }
}

/// Weight gradient of [`Conv`]: `patches^T · grad`, summed over chunks in a fixed order.
struct ConvGradWeights {
    k: usize,
}

impl CustomOp2 for ConvGradWeights {
    fn name(&self) -> &'static str {
        "conv-grad-weights"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (_, h, wd, c) = dims4(l1)?;
        let filters = l2.shape().dims4()?.3;
        let shape = ConvShape {
            h,
            w: wd,
            c,
            k: self.k,
            filters,
        };
        let (x, g) = (contiguous_f32(s1, l1)?, contiguous_f32(s2, l2)?);
        let stride = shape.patch() + 1;
        let partials: Vec<Vec<f32>> = x
            .par_chunks(CONV_CHUNK * shape.image_in())
            .zip(g.par_chunks(CONV_CHUNK * shape.image_out()))
            .map_init(Vec::new, |cols, (images, grad)| {
                shape.im2col(images, cols, stride);
                let rows = grad.len() / filters;
                let mut partial = vec![0f32; stride * filters];
                let dims = (stride, filters, rows);
                matmul(&mut partial, cols, Op::T, grad, Op::N, dims, false, false);
                partial
            })
            .collect();
        let mut total = vec![0f32; stride * filters];
        for partial in &partials {
            total.iter_mut().zip(partial).for_each(|(t, p)| *t += p);
        }
        Ok((CpuStorage::F32(total), Shape::from((stride, filters))))
    }
}

/// Input gradient of [`Conv`]: `grad · weights^T` (bias row dropped), then col2im.
struct ConvGradInput {
    k: usize,
    dims: (usize, usize, usize, usize),
}

impl CustomOp2 for ConvGradInput {
    fn name(&self) -> &'static str {
        "conv-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, h, wd, c) = self.dims;
        let filters = l2.shape().dims2()?.1;
        let shape = ConvShape {
            h,
            w: wd,
            c,
            k: self.k,
            filters,
        };
        let (g, w) = (contiguous_f32(s1, l1)?, contiguous_f32(s2, l2)?);
        let patch = shape.patch();
        let weights = &w[..patch * filters];
        let mut out = vec![0f32; b * shape.image_in()];
        out.par_chunks_mut(CONV_CHUNK * shape.image_in())
            .zip(g.par_chunks(CONV_CHUNK * shape.image_out()))
            .for_each_init(Vec::new, |cols, (images, grad)| {
                let rows = grad.len() / filters;
                // Overwritten by the product, so stale contents need no clearing.
                cols.resize(rows * patch, 0.0);
                let dims = (rows, patch, filters);
                matmul(cols, grad, Op::N, weights, Op::T, dims, false, false);
                shape.col2im(cols, images);
            });
        Ok((CpuStorage::F32(out), Shape::from((b, h, wd, c))))
    }
}

/// ReLU in one pass; backward passes the gradient where the output is positive.
struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout)?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(ELEMENTWISE_CHUNK)
            .zip(x.par_chunks(ELEMENTWISE_CHUNK))
            .for_each(|(dst, src)| {
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = if v > 0.0 { v } else { 0.0 };
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = res.apply_op2_no_bwd(&grad_res.contiguous()?, &ReluBackward)?;
        Ok(Some(grad))
    }
}

/// Backward of [`Relu`]: inputs are the forward's output and the output gradient.
struct ReluBackward;

impl CustomOp2 for ReluBackward {
    fn name(&self) -> &'static str {
        "relu-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (y, g) = (contiguous_f32(s1, l1)?, contiguous_f32(s2, l2)?);
        let mut out = vec![0f32; y.len()];
        out.par_chunks_mut(ELEMENTWISE_CHUNK)
            .zip(
                y.par_chunks(ELEMENTWISE_CHUNK)
                    .zip(g.par_chunks(ELEMENTWISE_CHUNK)),
            )
            .for_each(|(dst, (y, g))| {
                for ((d, &y), &g) in dst.iter_mut().zip(y).zip(g) {
                    *d = if y > 0.0 { g } else { 0.0 };
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// ReLU + 2x2 max-pool; backward routes each window's gradient to its first maximum if positive.
struct ReluMaxPool2;

impl CustomOp1 for ReluMaxPool2 {
    fn name(&self) -> &'static str {
        "relu-max-pool2"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, h, w, c) = dims4(layout)?;
        let x = contiguous_f32(storage, layout)?;
        let (oh, ow) = (h / 2, w / 2);
        let mut out = vec![0f32; b * oh * ow * c];
        out.par_chunks_mut(oh * ow * c)
            .zip(x.par_chunks(h * w * c))
            .for_each(|(dst, img)| {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let o = &mut dst[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
                        for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                            let s = ((2 * oy + dy) * w + 2 * ox + dx) * c;
                            for (d, v) in o.iter_mut().zip(&img[s..s + c]) {
                                *d = d.max(*v);
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, oh, ow, c))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = arg.apply_op2_no_bwd(&grad_res.contiguous()?, &ReluMaxPool2Backward)?;
        Ok(Some(grad))
    }
}

/// Backward of [`ReluMaxPool2`]: inputs are the forward's input and the output gradient.
struct ReluMaxPool2Backward;

impl CustomOp2 for ReluMaxPool2Backward {
    fn name(&self) -> &'static str {
        "relu-max-pool2-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, h, w, c) = dims4(l1)?;
        let x = contiguous_f32(s1, l1)?;
        let g = contiguous_f32(s2, l2)?;
        let (oh, ow) = (h / 2, w / 2);
        let mut out = vec![0f32; b * h * w * c];
        out.par_chunks_mut(h * w * c)
            .zip(x.par_chunks(h * w * c).zip(g.par_chunks(oh * ow * c)))
            .for_each(|(dst, (img, grad))| {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ch in 0..c {
                            let mut best = 0f32;
                            let mut at = None;
                            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                                let i = ((2 * oy + dy) * w + 2 * ox + dx) * c + ch;
                                if img[i] > best {
                                    best = img[i];
                                    at = Some(i);
                                }
                            }
                            if let Some(i) = at {
                                dst[i] = grad[(oy * ow + ox) * c + ch];
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, h, w, c))))
    }
}

/// [`im2col`] from candle's tensor ops (any device).
fn im2col_generic(x: &Tensor, k: usize) -> candle_core::Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    let (oh, ow) = (h + 1 - k, w + 1 - k);
    let mut parts = Vec::with_capacity(k * k + 1);
    for ky in 0..k {
        for kx in 0..k {
            parts.push(x.narrow(1, ky, oh)?.narrow(2, kx, ow)?);
        }
    }
    parts.push(Tensor::ones((b, oh, ow, 1), x.dtype(), x.device())?);
    Tensor::cat(&parts, 3)?.reshape((b * oh * ow, k * k * c + 1))
}

/// [`relu_max_pool2`] from candle's tensor ops (any device).
fn relu_max_pool2_generic(x: &Tensor) -> candle_core::Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    let (oh, ow) = (h / 2, w / 2);
    let x = relu_generic(&x.narrow(1, 0, 2 * oh)?.narrow(2, 0, 2 * ow)?)?;
    x.reshape((b, oh, 2, ow, 2, c))?.max(4)?.max(2)
}

/// Row-wise argmax of `[n, classes]` as u32 class indices.
pub fn argmax_rows(x: &Tensor) -> candle_core::Result<Vec<u32>> {
    x.argmax(D::Minus1)?.to_dtype(DType::U32)?.to_vec1()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn random(shape: (usize, usize, usize, usize), seed: u64) -> Vec<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// Conv weights `[9c+1, 2]` with distinct values.
    fn weights(c: usize) -> Var {
        let rows = 9 * c + 1;
        let w: Vec<f32> = (0..rows * 2)
            .map(|i| (i as f32 * 0.7).sin() * 0.5)
            .collect();
        Var::from_vec(w, (rows, 2), &Device::Cpu).unwrap()
    }

    /// A scalar function of x through both ops, weighted so every output matters differently.
    fn objective(x: &Tensor, weights: &Tensor, generic: bool) -> candle_core::Result<Tensor> {
        let (b, h, w, _) = x.dims4()?;
        let conv = if generic {
            im2col_generic(x, 3)?
                .matmul(weights)?
                .reshape((b, h - 2, w - 2, 2))?
        } else {
            conv2d(x, weights, 3)?
        };
        let pooled = if generic {
            relu_max_pool2_generic(&conv)?
        } else {
            relu_max_pool2(&conv)?
        };
        let n = pooled.elem_count();
        let proj = Tensor::arange(0f32, n as f32, x.device())?
            .cos()?
            .reshape(pooled.shape())?;
        pooled.mul(&proj)?.sum_all()
    }

    #[test]
    fn custom_ops_match_generic_ops_forward_and_backward() {
        let shape = (2, 9, 8, 3);
        let x = Var::from_vec(random(shape, 1), shape, &Device::Cpu).unwrap();
        let w = weights(3);
        let fast = objective(x.as_tensor(), w.as_tensor(), false).unwrap();
        let slow = objective(x.as_tensor(), w.as_tensor(), true).unwrap();
        let (f, s) = (
            fast.to_scalar::<f32>().unwrap(),
            slow.to_scalar::<f32>().unwrap(),
        );
        assert!((f - s).abs() < 1e-4, "{f} vs {s}");
        let (gf, gs) = (fast.backward().unwrap(), slow.backward().unwrap());
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for var in [&x, &w] {
            let (a, b) = (flat(gf.get(var).unwrap()), flat(gs.get(var).unwrap()));
            assert_eq!(a.len(), b.len());
            for (a, b) in a.iter().zip(&b) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn gradient_matches_finite_differences_on_odd_size() {
        // 11x11 after the conv (13x13 input): the odd pool drops the last row and column.
        let shape = (1, 13, 13, 1);
        let values = random(shape, 2);
        let f = |v: &[f32]| {
            let t = Tensor::from_slice(v, shape, &Device::Cpu).unwrap();
            objective(&t, weights(1).as_tensor(), false)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64
        };
        let x = Var::from_slice(&values, shape, &Device::Cpu).unwrap();
        let grad = objective(x.as_tensor(), weights(1).as_tensor(), false)
            .unwrap()
            .backward()
            .unwrap();
        let analytic = grad
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let eps = 1e-3f32;
        let base = f(&values);
        let mut checked = 0;
        for i in 0..values.len() {
            let (mut up, mut down) = (values.clone(), values.clone());
            up[i] += eps;
            down[i] -= eps;
            let (fu, fd) = (f(&up), f(&down));
            let (forward, backward) = ((fu - base) / eps as f64, (base - fd) / eps as f64);
            // Skip points where a max or ReLU switches inside the step (a kink).
            if (forward - backward).abs() > 1e-2 * (1.0 + forward.abs()) {
                continue;
            }
            let numeric = (fu - fd) / (2.0 * eps as f64);
            assert!(
                (numeric - analytic[i] as f64).abs() < 1e-2 * (1.0 + numeric.abs()),
                "pixel {i}: numeric {numeric} vs analytic {}",
                analytic[i]
            );
            checked += (analytic[i] != 0.0) as usize;
        }
        assert!(
            checked > 20,
            "too few non-zero gradients checked: {checked}"
        );
    }

    #[test]
    fn pool_gradient_sums_to_window_count() {
        // Every window has a positive maximum: a 26x26 input's gradient sums to 13*13 = 169.
        let shape = (1, 26, 26, 1);
        let x = Var::from_vec(
            random(shape, 3).iter().map(|v| v.abs() + 0.1).collect(),
            shape,
            &Device::Cpu,
        )
        .unwrap();
        let y = relu_max_pool2(x.as_tensor()).unwrap().sum_all().unwrap();
        let g = y
            .backward()
            .unwrap()
            .get(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(g, 169.0);
    }

    #[test]
    fn relu_gradient_is_zero_at_zero() {
        let x = Var::new(&[-1f32, 0.0, 2.0], &Device::Cpu).unwrap();
        for f in [relu, relu_generic] {
            let y = f(x.as_tensor()).unwrap();
            assert_eq!(y.to_vec1::<f32>().unwrap(), vec![0.0, 0.0, 2.0]);
            let weighted = y.mul(&Tensor::new(&[5f32, 6.0, 7.0], &Device::Cpu).unwrap());
            let g = weighted.unwrap().sum_all().unwrap().backward().unwrap();
            assert_eq!(
                g.get(&x).unwrap().to_vec1::<f32>().unwrap(),
                vec![0.0, 0.0, 7.0]
            );
        }
    }
}
