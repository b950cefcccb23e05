//! The element-wise and data-movement kernels of the fused engine, each over a few images in
//! NHWC order (a pixel's channels contiguous). The products around them are [`super::gemm`].

use super::plan::ConvGeom;
use super::simd::multiversion;

/// Marks a pooling window whose maximum was not positive: no gradient flows through it.
pub(super) const NO_ARGMAX: u8 = u8::MAX;

/// Position in the convolution output (of `ow` columns) of corner `q` (0-3, row-major) of
/// pooling window `(py, px)`.
#[inline(always)]
pub(super) fn corner(py: usize, px: usize, q: u8, ow: usize) -> usize {
    let q = usize::from(q);
    (2 * py + q / 2) * ow + 2 * px + q % 2
}

/// Writes the patches of the `n` images in `x` as rows of `cols` (`n * positions` rows of
/// `patch` values, in (ky, kx, channel) order: the weight matrix's row order).
pub(super) fn im2col(g: &ConvGeom, x: &[f32], n: usize, cols: &mut [f32]) {
    let (oh, ow) = g.out();
    let (k, c, w, p) = (g.k, g.c, g.w, g.patch());
    let span = k * c;
    for (img, dst) in x
        .chunks_exact(g.in_len())
        .zip(cols.chunks_exact_mut(oh * ow * p))
        .take(n)
    {
        for (pos, row) in dst.chunks_exact_mut(p).enumerate() {
            let (oy, ox) = (pos / ow, pos % ow);
            for (ky, part) in row.chunks_exact_mut(span).enumerate() {
                let src = ((oy + ky) * w + ox) * c;
                copy_span(part, &img[src..src + span]);
            }
        }
    }
}

/// `dst = src` for equal lengths; the short spans of a first layer (one channel) without a
/// call to `memcpy` each.
#[inline(always)]
fn copy_span(dst: &mut [f32], src: &[f32]) {
    fn fixed<const N: usize>(dst: &mut [f32], src: &[f32]) {
        let (d, s): (&mut [f32; N], &[f32; N]) = match (dst.try_into(), src.try_into()) {
            (Ok(d), Ok(s)) => (d, s),
            _ => return dst.copy_from_slice(src),
        };
        *d = *s;
    }
    match dst.len() {
        3 => fixed::<3>(dst, src),
        5 => fixed::<5>(dst, src),
        7 => fixed::<7>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

multiversion! {
    /// Sums rows of patch gradients (`cols`, as [`im2col`] lays them out) back onto the `n`
    /// images of `dx`, which it overwrites.
    pub(super) fn col2im(g: &ConvGeom, cols: &[f32], n: usize, dx: &mut [f32]) {
        let (oh, ow) = g.out();
        let (k, c, w, p) = (g.k, g.c, g.w, g.patch());
        let span = k * c;
        for (img, src) in dx
            .chunks_exact_mut(g.in_len())
            .zip(cols.chunks_exact(oh * ow * p))
            .take(n)
        {
            img.fill(0.0);
            for (pos, row) in src.chunks_exact(p).enumerate() {
                let (oy, ox) = (pos / ow, pos % ow);
                for (ky, part) in row.chunks_exact(span).enumerate() {
                    let dst = ((oy + ky) * w + ox) * c;
                    for (d, s) in img[dst..dst + span].iter_mut().zip(part) {
                        *d += s;
                    }
                }
            }
        }
    }
}

multiversion! {
    /// Bias, ReLU and 2x2 max-pool of the convolution outputs `z` of `n` images: `pooled` gets
    /// each window's largest `z + bias` if positive (else 0), `arg` the first corner holding it
    /// (see [`corner`]; or [`NO_ARGMAX`]). `arg` may be empty when no gradient is wanted.
    pub(super) fn bias_relu_pool(
        g: &ConvGeom,
        z: &[f32],
        bias: &[f32],
        n: usize,
        pooled: &mut [f32],
        arg: &mut [u8],
    ) {
        let (_, ow) = g.out();
        let (ph, pw) = g.act();
        let f = g.f;
        let track = !arg.is_empty();
        for i in 0..n {
            let zi = &z[i * g.z_len()..(i + 1) * g.z_len()];
            let pi = &mut pooled[i * g.act_len()..(i + 1) * g.act_len()];
            for py in 0..ph {
                for px in 0..pw {
                    let at = (py * pw + px) * f;
                    let o = &mut pi[at..at + f];
                    let corners = [
                        (2 * py * ow + 2 * px) * f,
                        (2 * py * ow + 2 * px + 1) * f,
                        ((2 * py + 1) * ow + 2 * px) * f,
                        ((2 * py + 1) * ow + 2 * px + 1) * f,
                    ];
                    let a = if track {
                        &mut arg[i * g.act_len() + at..i * g.act_len() + at + f]
                    } else {
                        &mut [][..]
                    };
                    let mut ch = 0;
                    while ch + LANES <= f {
                        pool_lanes::<LANES>(zi, &corners, bias, ch, o, a);
                        ch += LANES;
                    }
                    while ch < f {
                        pool_lanes::<1>(zi, &corners, bias, ch, o, a);
                        ch += 1;
                    }
                }
            }
        }
    }
}

/// Channels pooled together (one AVX2 register of f32).
const LANES: usize = 8;

/// Pools channels `ch..ch + L` of one window whose corners start at `corners` in `z`.
#[inline(always)]
fn pool_lanes<const L: usize>(
    z: &[f32],
    corners: &[usize; 4],
    bias: &[f32],
    ch: usize,
    out: &mut [f32],
    arg: &mut [u8],
) {
    let b = &bias[ch..ch + L];
    let mut best = [0f32; L];
    let mut which = [u32::from(NO_ARGMAX); L];
    for (q, &s) in corners.iter().enumerate() {
        let zs = &z[s + ch..s + ch + L];
        for j in 0..L {
            let v = zs[j] + b[j];
            let gt = v > best[j];
            best[j] = if gt { v } else { best[j] };
            which[j] = if gt { q as u32 } else { which[j] };
        }
    }
    out[ch..ch + L].copy_from_slice(&best);
    if !arg.is_empty() {
        for (a, &w) in arg[ch..ch + L].iter_mut().zip(&which) {
            *a = w as u8;
        }
    }
}

/// Routes each pooled gradient of `n` images to its window's argmax; everything else is 0.
pub(super) fn unpool(g: &ConvGeom, gpooled: &[f32], arg: &[u8], n: usize, gz: &mut [f32]) {
    let (oh, ow) = g.out();
    let (ph, pw) = g.act();
    let f = g.f;
    for i in 0..n {
        let gzi = &mut gz[i * g.z_len()..(i + 1) * g.z_len()];
        // Every position inside a window is written below; only an odd side's last row and
        // column need clearing.
        if ow % 2 == 1 {
            for row in gzi.chunks_exact_mut(ow * f) {
                row[(ow - 1) * f..].fill(0.0);
            }
        }
        if oh % 2 == 1 {
            gzi[(oh - 1) * ow * f..].fill(0.0);
        }
        let (ai, di) = (&arg[i * g.act_len()..], &gpooled[i * g.act_len()..]);
        for py in 0..ph {
            for px in 0..pw {
                let at = (py * pw + px) * f;
                let (qs, ds) = (&ai[at..at + f], &di[at..at + f]);
                for q in 0..4u8 {
                    let start = corner(py, px, q, ow) * f;
                    for ((z, &a), &d) in gzi[start..start + f].iter_mut().zip(qs).zip(ds) {
                        *z = if a == q { d } else { 0.0 };
                    }
                }
            }
        }
    }
}

multiversion! {
    /// `x = max(x + bias, 0)` in place over rows of `bias.len()` values (when `relu`; else
    /// only the bias).
    pub(super) fn add_bias(x: &mut [f32], bias: &[f32], relu: bool) {
        for row in x.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                let s = *v + b;
                *v = if !relu || s > 0.0 { s } else { 0.0 };
            }
        }
    }
}

multiversion! {
    /// Zeroes the gradients `g` where the ReLU output `act` is not positive (gradient 0 at 0).
    pub(super) fn relu_mask(g: &mut [f32], act: &[f32]) {
        for (g, &a) in g.iter_mut().zip(act) {
            *g = if a > 0.0 { *g } else { 0.0 };
        }
    }
}

multiversion! {
    /// `sums` = the sum of the rows of `x` (rows of `sums.len()` values), in row order; added
    /// to `sums` when `accumulate`.
    pub(super) fn column_sums(x: &[f32], sums: &mut [f32], accumulate: bool) {
        if !accumulate {
            sums.fill(0.0);
        }
        for row in x.chunks_exact(sums.len()) {
            for (s, v) in sums.iter_mut().zip(row) {
                *s += v;
            }
        }
    }
}

/// Softmax cross-entropy of one row of logits: the loss `-log p[label]`, whether the first
/// largest logit is the label's, and `(p - onehot) * scale` written to `grad` (when not empty).
pub(super) fn softmax_xent(
    logits: &[f32],
    label: usize,
    scale: f32,
    grad: &mut [f32],
) -> (f64, bool) {
    let (mut max, mut best) = (f32::NEG_INFINITY, 0);
    for (i, &z) in logits.iter().enumerate() {
        if z > max {
            max = z;
            best = i;
        }
    }
    let total: f32 = logits.iter().map(|&z| (z - max).exp()).sum();
    let log_total = total.ln();
    let loss = f64::from(log_total - (logits[label] - max));
    if !grad.is_empty() {
        for (i, (d, &z)) in grad.iter_mut().zip(logits).enumerate() {
            let p = (z - max).exp() / total;
            *d = (p - if i == label { 1.0 } else { 0.0 }) * scale;
        }
    }
    (loss, best == label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(h: usize, w: usize, c: usize, k: usize, f: usize) -> ConvGeom {
        ConvGeom {
            h,
            w,
            c,
            k,
            f,
            pool: true,
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> = <x, col2im(y)> for any x, y: each patch value is one pixel.
        let g = geom(5, 4, 2, 3, 1);
        let n = 2;
        let x: Vec<f32> = (0..n * g.in_len())
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let rows = n * g.positions() * g.patch();
        let y: Vec<f32> = (0..rows).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut cols = vec![0.0; rows];
        im2col(&g, &x, n, &mut cols);
        let mut back = vec![7.0; x.len()];
        col2im(&g, &y, n, &mut back);
        let lhs: f64 = cols.iter().zip(&y).map(|(a, b)| f64::from(a * b)).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| f64::from(a * b)).sum();
        assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    }

    #[test]
    fn pool_takes_the_first_positive_maximum_and_unpool_routes_to_it() {
        // One 3x3 single-channel output (odd side: the last row and column are dropped).
        let g = geom(5, 5, 1, 3, 1);
        let z = [1.0, 3.0, 9.0, 3.0, 2.0, 9.0, 9.0, 9.0, 9.0];
        let (mut pooled, mut arg) = ([0.0], [0u8]);
        bias_relu_pool(&g, &z, &[-1.0], 1, &mut pooled, &mut arg);
        assert_eq!((pooled[0], arg[0]), (2.0, 1));
        let mut gz = [5.0; 9];
        unpool(&g, &[4.0], &arg, 1, &mut gz);
        assert_eq!(gz, [0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        // All non-positive: output 0 and no gradient.
        bias_relu_pool(&g, &z, &[-3.0], 1, &mut pooled, &mut arg);
        assert_eq!((pooled[0], arg[0]), (0.0, NO_ARGMAX));
    }

    #[test]
    fn softmax_gradient_sums_to_zero_and_loss_is_the_negative_log_probability() {
        let logits = [1.0f32, 2.0, 0.5];
        let mut grad = [0.0; 3];
        let (loss, correct) = softmax_xent(&logits, 1, 0.5, &mut grad);
        let total: f64 = logits.iter().map(|&z| f64::from(z).exp()).sum();
        assert!((loss - (total.ln() - 2.0)).abs() < 1e-6);
        assert!(correct);
        assert!(grad.iter().sum::<f32>().abs() < 1e-6);
        assert!(grad[1] < 0.0 && grad[0] > 0.0);
    }
}
