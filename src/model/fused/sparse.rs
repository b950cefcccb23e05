//! Backward of a pooling conv block without the dense gradient of its convolution output.
//!
//! After a 2x2 max-pool, at most one position per window and channel has a gradient, so at
//! least three quarters of the output gradient are zeros. Instead of multiplying them as a
//! dense matrix, these kernels walk the pooled gradients and their argmax positions: the weight
//! gradient gathers patch rows, the input gradient scatters weight rows straight into the
//! images (im2col's adjoint folded in). A quarter of the multiply-adds of the dense products.

use super::kernels::{corner, NO_ARGMAX};
use super::plan::ConvGeom;
use super::simd::multiversion;

/// Whether a block's patches are long enough for these kernels to beat the dense products
/// (a short patch, as the first block's 3x3x1, leaves too little work per gradient).
pub(super) fn fits(g: &ConvGeom) -> bool {
    g.patch() >= 64
}

/// One image's non-zero gradients of a pooling block, listed twice: by channel (with the
/// input offset of the argmax's patch) for the weight gradient, and by window and corner (with
/// the channel's row in the transposed weights) for the input gradient. Sized once.
#[derive(Debug, Default)]
pub(super) struct Lists {
    /// Channel `ch`'s entries are `[ch * windows, ch * windows + by_channel_len[ch])`.
    by_channel_at: Vec<u32>,
    by_channel_d: Vec<f32>,
    by_channel_len: Vec<u32>,
    /// Window `w`'s entries for corner `q` are `[w * f + ends[q - 1], w * f + ends[q])`
    /// (from `w * f` for `q = 0`), `ends = by_corner_ends[w * 4..w * 4 + 4]`.
    by_corner_at: Vec<u32>,
    by_corner_d: Vec<f32>,
    by_corner_ends: Vec<u32>,
}

impl Lists {
    pub fn new(g: &ConvGeom) -> Self {
        Self {
            // One spare slot: an entry is written before it is known to count.
            by_channel_at: vec![0; g.act_len() + 1],
            by_channel_d: vec![0.0; g.act_len() + 1],
            by_channel_len: vec![0; g.f],
            by_corner_at: vec![0; g.act_len()],
            by_corner_d: vec![0.0; g.act_len()],
            by_corner_ends: vec![0; 4 * g.act_len() / g.f],
        }
    }

    /// Lists one image's gradients `gact` (argmax corners `arg`) by channel.
    fn fill_by_channel(&mut self, g: &ConvGeom, gact: &[f32], arg: &[u8]) {
        let (ph, pw) = g.act();
        let (f, c) = (g.f, g.c);
        let windows = ph * pw;
        self.by_channel_len.fill(0);
        for py in 0..ph {
            for px in 0..pw {
                let w = py * pw + px;
                let (qs, ds) = (&arg[w * f..(w + 1) * f], &gact[w * f..(w + 1) * f]);
                // Input offsets of the patches at the four corners (and a dummy).
                let at = |q: u8| (corner(py, px, q, g.w) * c) as u32;
                let corners = [at(0), at(1), at(2), at(3), 0];
                for (ch, (&q, &d)) in qs.iter().zip(ds).enumerate() {
                    // Written unconditionally, kept only if the window has a gradient.
                    let len = &mut self.by_channel_len[ch];
                    let slot = ch * windows + *len as usize;
                    self.by_channel_at[slot] = corners[usize::from(q.min(4))];
                    self.by_channel_d[slot] = d;
                    *len += u32::from(q != NO_ARGMAX);
                }
            }
        }
    }

    /// Lists one image's gradients `gact` (argmax corners `arg`) by window and corner.
    fn fill_by_corner(&mut self, g: &ConvGeom, gact: &[f32], arg: &[u8]) {
        let (f, p) = (g.f, g.patch());
        let windows = gact.chunks_exact(f).zip(arg.chunks_exact(f));
        for (w, (ds, qs)) in windows.enumerate() {
            let mut count = [0usize; 5];
            for &q in qs {
                count[usize::from(q.min(4))] += 1;
            }
            let mut next = [0; 5];
            for q in 1..5 {
                next[q] = next[q - 1] + count[q - 1];
            }
            for (q, end) in self.by_corner_ends[w * 4..w * 4 + 4].iter_mut().enumerate() {
                *end = (next[q] + count[q]) as u32;
            }
            for (ch, (&q, &d)) in qs.iter().zip(ds).enumerate() {
                let q = usize::from(q.min(4));
                // The channels without a gradient go last, past the four lists.
                let slot = w * f + next[q];
                self.by_corner_at[slot] = (ch * p) as u32;
                self.by_corner_d[slot] = d;
                next[q] += 1;
            }
        }
    }
}

/// `dst += sum over entries e of d[e] * src[at[e] + shift..][..dst.len()]`, accumulated in
/// registers over pieces of at most 64 values.
#[inline(always)]
fn gather_axpy(dst: &mut [f32], src: &[f32], at: &[u32], d: &[f32], shift: usize) {
    let mut start = 0;
    while start < dst.len() {
        let left = dst.len() - start;
        let piece = &mut dst[start..];
        let offset = shift + start;
        start += match left {
            64.. => piece_axpy::<64>(piece, src, at, d, offset),
            32.. => piece_axpy::<32>(piece, src, at, d, offset),
            16.. => piece_axpy::<16>(piece, src, at, d, offset),
            8.. => piece_axpy::<8>(piece, src, at, d, offset),
            _ => piece_axpy::<1>(piece, src, at, d, offset),
        };
    }
}

/// [`gather_axpy`] over the first `N` values of `dst`; returns `N`.
#[inline(always)]
fn piece_axpy<const N: usize>(
    dst: &mut [f32],
    src: &[f32],
    at: &[u32],
    d: &[f32],
    offset: usize,
) -> usize {
    let mut acc = [0f32; N];
    for (&a, &d) in at.iter().zip(d) {
        let s = &src[a as usize + offset..a as usize + offset + N];
        for j in 0..N {
            acc[j] += d * s[j];
        }
    }
    for (x, a) in dst[..N].iter_mut().zip(&acc) {
        *x += a;
    }
    N
}

multiversion! {
    /// Adds one image's share to the transposed weight gradient `gwt` (`[f, patch]`) and the
    /// bias gradient `gb` of a pooling block: `x` is the image's input to the block, `gact`
    /// and `arg` its pooled gradients and argmax corners.
    pub(super) fn weight_grad(
        g: &ConvGeom,
        lists: &mut Lists,
        x: &[f32],
        gact: &[f32],
        arg: &[u8],
        gwt: &mut [f32],
        gb: &mut [f32],
    ) {
        lists.fill_by_channel(g, gact, arg);
        let (p, span, windows) = (g.patch(), g.k * g.c, g.act_len() / g.f);
        for ch in 0..g.f {
            let len = lists.by_channel_len[ch] as usize;
            let at = &lists.by_channel_at[ch * windows..ch * windows + len];
            let d = &lists.by_channel_d[ch * windows..ch * windows + len];
            gb[ch] += d.iter().sum::<f32>();
            for ky in 0..g.k {
                let dst = &mut gwt[ch * p + ky * span..ch * p + (ky + 1) * span];
                gather_axpy(dst, x, at, d, ky * g.w * g.c);
            }
        }
    }
}

multiversion! {
    /// One image's input gradient `dx` (overwritten) of a pooling block from the transposed
    /// weights `wt` (`[f, patch]`), its pooled gradients `gact` and argmax corners `arg`.
    pub(super) fn input_grad(
        g: &ConvGeom,
        lists: &mut Lists,
        wt: &[f32],
        gact: &[f32],
        arg: &[u8],
        dx: &mut [f32],
    ) {
        lists.fill_by_corner(g, gact, arg);
        let (ph, pw) = g.act();
        let (f, span) = (g.f, g.k * g.c);
        dx.fill(0.0);
        // One kernel row at a time: its slice of the weights stays in the L1 cache.
        for ky in 0..g.k {
            for py in 0..ph {
                for px in 0..pw {
                    let w = py * pw + px;
                    let ends = &lists.by_corner_ends[w * 4..w * 4 + 4];
                    let mut start = w * f;
                    for (q, &end) in ends.iter().enumerate() {
                        let end = w * f + end as usize;
                        if end > start {
                            let at = &lists.by_corner_at[start..end];
                            let d = &lists.by_corner_d[start..end];
                            let (oy, ox) = (2 * py + q / 2, 2 * px + q % 2);
                            let base = ((oy + ky) * g.w + ox) * g.c;
                            gather_axpy(&mut dx[base..base + span], wt, at, d, ky * span);
                        }
                        start = end;
                    }
                }
            }
        }
    }
}

/// `out[j * rows + i] = x[i * cols + j]`: the transpose of a row-major `rows x cols` matrix.
pub(super) fn transpose(x: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    for (i, row) in x.chunks_exact(cols).take(rows).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            out[j * rows + i] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::gemm::{gemm, View};
    use crate::model::fused::kernels::{bias_relu_pool, col2im, im2col, unpool};

    /// The sparse kernels against unpool + dense products, on odd sides and a patch longer
    /// than one segment with a remainder (k 5, c 3: 75 values).
    #[test]
    fn sparse_backward_matches_the_dense_products() {
        for (h, c, k, f) in [(11, 3, 5, 4), (9, 2, 3, 3), (12, 1, 3, 2)] {
            let g = ConvGeom {
                h,
                w: h + 1,
                c,
                k,
                f,
                pool: true,
            };
            let n = 3;
            let wave = |i: usize, a: f32| ((i as f32) * a).sin();
            let x: Vec<f32> = (0..n * g.in_len()).map(|i| wave(i, 0.7)).collect();
            let w: Vec<f32> = (0..g.patch() * f).map(|i| wave(i, 1.3)).collect();
            let rows = n * g.positions();
            let mut cols = vec![0.0; rows * g.patch()];
            im2col(&g, &x, n, &mut cols);
            let mut z = vec![0.0; rows * f];
            gemm(
                &mut z,
                View::new(&cols, rows, g.patch()),
                View::new(&w, g.patch(), f),
                false,
            );
            let mut pooled = vec![0.0; n * g.act_len()];
            let mut arg = vec![0u8; n * g.act_len()];
            bias_relu_pool(&g, &z, &vec![-0.1; f], n, &mut pooled, &mut arg);
            let gact: Vec<f32> = (0..pooled.len()).map(|i| wave(i, 2.1)).collect();
            // Dense reference.
            let mut gz = vec![0.0; rows * f];
            unpool(&g, &gact, &arg, n, &mut gz);
            let mut gw = vec![0.0; g.patch() * f];
            let patches = View::new(&cols, rows, g.patch()).t();
            gemm(&mut gw, patches, View::new(&gz, rows, f), false);
            let mut dcols = vec![0.0; rows * g.patch()];
            let wt = View::new(&w, g.patch(), f).t();
            gemm(&mut dcols, View::new(&gz, rows, f), wt, false);
            let mut dx = vec![0.0; x.len()];
            col2im(&g, &dcols, n, &mut dx);
            // Sparse, image by image.
            let mut lists = Lists::new(&g);
            let (mut gwt, mut gb) = (vec![0.0; gw.len()], vec![0.0; f]);
            let mut w_t = vec![0.0; w.len()];
            transpose(&w, g.patch(), f, &mut w_t);
            let mut dx_sparse = vec![9.0; x.len()];
            let a = g.act_len();
            for i in 0..n {
                let (gi, ai) = (&gact[i * a..(i + 1) * a], &arg[i * a..(i + 1) * a]);
                let xi = &x[i * g.in_len()..(i + 1) * g.in_len()];
                weight_grad(&g, &mut lists, xi, gi, ai, &mut gwt, &mut gb);
                let dxi = &mut dx_sparse[i * g.in_len()..(i + 1) * g.in_len()];
                input_grad(&g, &mut lists, &w_t, gi, ai, dxi);
            }
            let mut got = vec![0.0; gw.len()];
            transpose(&gwt, f, g.patch(), &mut got);
            let close = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .all(|(a, b)| (a - b).abs() <= 1e-4 * (1.0 + b.abs()))
            };
            assert!(close(&got, &gw), "weight gradient, {g:?}");
            assert!(close(&dx_sparse, &dx), "input gradient, {g:?}");
            let mut bias = vec![0.0; f];
            for (i, v) in gz.iter().enumerate() {
                bias[i % f] += v;
            }
            assert!(close(&gb, &bias), "bias gradient, {g:?}");
            let none = arg.iter().filter(|&&a| a == NO_ARGMAX).count();
            assert!(
                none > 0 && none < arg.len(),
                "{none} of {} windows without gradient",
                arg.len()
            );
        }
    }
}
