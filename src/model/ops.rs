//! The network's two shape-changing operations, written so autograd sees only matmuls:
//! `im2col` (patches of an NHWC image as rows, plus a ones column for the bias) and a fused
//! `relu_max_pool2` (ReLU then 2x2 max-pool, gradient routed to one argmax per window).
//!
//! On the CPU both are custom candle ops with hand-written backward passes (col2im and the
//! argmax scatter). On other devices they are composed from candle's own tensor ops, which is
//! slower on the CPU but runs anywhere; a test checks the two agree.
//!
//! candle 0.11's `max_pool2d` backward is wrong (it scales by 1/(k*k) and misroutes odd sizes)
//! and its ReLU has gradient 1 at 0; neither is used here.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

/// Patches of a `[b, h, w, c]` tensor as rows `[b*oh*ow, k*k*c + 1]`, columns ordered
/// (ky, kx, channel), with a last column of ones so one matmul adds the bias.
pub fn im2col(x: &Tensor, k: usize) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() {
        x.contiguous()?.apply_op1(Im2Col { k })
    } else {
        im2col_generic(x, k)
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
    let mask = x.detach().gt(0f32)?.to_dtype(x.dtype())?;
    x.mul(&mask)
}

fn dims4(layout: &Layout) -> candle_core::Result<(usize, usize, usize, usize)> {
    layout.shape().dims4()
}

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("expected a contiguous tensor".into()))?;
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// im2col with the ones column; backward is col2im.
struct Im2Col {
    k: usize,
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, h, w, c) = dims4(layout)?;
        let x = contiguous_f32(storage, layout)?;
        let k = self.k;
        let (oh, ow) = (h + 1 - k, w + 1 - k);
        let cols = k * k * c + 1;
        let mut out = vec![0f32; b * oh * ow * cols];
        out.par_chunks_mut(oh * ow * cols)
            .zip(x.par_chunks(h * w * c))
            .for_each(|(dst, img)| {
                for (pos, row) in dst.chunks_exact_mut(cols).enumerate() {
                    let (oy, ox) = (pos / ow, pos % ow);
                    for ky in 0..k {
                        let src = ((oy + ky) * w + ox) * c;
                        row[ky * k * c..(ky + 1) * k * c].copy_from_slice(&img[src..src + k * c]);
                    }
                    row[cols - 1] = 1.0;
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b * oh * ow, cols))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (b, h, w, c) = arg.dims4()?;
        let grad = grad_res.contiguous()?.apply_op1_no_bwd(&Col2Im {
            k: self.k,
            dims: (b, h, w, c),
        })?;
        Ok(Some(grad))
    }
}

/// Sums column gradients back onto the image they were taken from (the ones column is dropped).
struct Col2Im {
    k: usize,
    dims: (usize, usize, usize, usize),
}

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "col2im"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, h, w, c) = self.dims;
        let k = self.k;
        let (oh, ow) = (h + 1 - k, w + 1 - k);
        let cols = k * k * c + 1;
        let g = contiguous_f32(storage, layout)?;
        let mut out = vec![0f32; b * h * w * c];
        out.par_chunks_mut(h * w * c)
            .zip(g.par_chunks(oh * ow * cols))
            .for_each(|(img, src)| {
                for (pos, row) in src.chunks_exact(cols).enumerate() {
                    let (oy, ox) = (pos / ow, pos % ow);
                    for ky in 0..k {
                        let dst = ((oy + ky) * w + ox) * c;
                        let patch = &row[ky * k * c..(ky + 1) * k * c];
                        for (d, s) in img[dst..dst + k * c].iter_mut().zip(patch) {
                            *d += s;
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, h, w, c))))
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
    let x = relu(&x.narrow(1, 0, 2 * oh)?.narrow(2, 0, 2 * ow)?)?;
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

    /// A scalar function of x through both ops, weighted so every output matters differently.
    fn objective(x: &Tensor, generic: bool) -> candle_core::Result<Tensor> {
        let cols = if generic {
            im2col_generic(x, 3)?
        } else {
            im2col(x, 3)?
        };
        let (b, h, w, _) = x.dims4()?;
        let c = cols.dim(1)?;
        let weights = Tensor::arange(0f32, c as f32, x.device())?.reshape((c, 1))?;
        let conv = cols.matmul(
            &(weights
                .sin()?
                .broadcast_mul(&Tensor::new(&[[1f32, -0.5]], x.device())?))?,
        )?;
        let conv = conv.reshape((b, h - 2, w - 2, 2))?;
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
        let fast = objective(x.as_tensor(), false).unwrap();
        let slow = objective(x.as_tensor(), true).unwrap();
        let (f, s) = (
            fast.to_scalar::<f32>().unwrap(),
            slow.to_scalar::<f32>().unwrap(),
        );
        assert!((f - s).abs() < 1e-4, "{f} vs {s}");
        let gf = fast
            .backward()
            .unwrap()
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let gs = slow
            .backward()
            .unwrap()
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (a, b) in gf.iter().zip(&gs) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn gradient_matches_finite_differences_on_odd_size() {
        // 11x11 after the conv (13x13 input): the odd pool drops the last row and column.
        let shape = (1, 13, 13, 1);
        let values = random(shape, 2);
        let f = |v: &[f32]| {
            let t = Tensor::from_slice(v, shape, &Device::Cpu).unwrap();
            objective(&t, false).unwrap().to_scalar::<f32>().unwrap() as f64
        };
        let x = Var::from_slice(&values, shape, &Device::Cpu).unwrap();
        let grad = objective(x.as_tensor(), false).unwrap().backward().unwrap();
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
        let g = relu(x.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_eq!(
            g.get(&x).unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0, 0.0, 1.0]
        );
    }
}
