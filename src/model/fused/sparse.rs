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

/// Patch values accumulated in registers at a time.
const SEG: usize = 64;

/// Whether a block's patches are long enough for these kernels to beat the dense products
/// (a short patch, as the first block's 3x3x1, leaves too little work per gradient).
pub(super) fn fits(g: &ConvGeom) -> bool {
    g.patch() >= SEG
}

/// `acc += g * src` over a full segment (fixed length, so it stays in registers).
#[inline(always)]
fn axpy_seg(acc: &mut [f32; SEG], g: f32, src: &[f32]) {
    let src = &src[..SEG];
    for j in 0..SEG {
        acc[j] += g * src[j];
    }
}

multiversion! {
    /// The transposed weight gradient `gwt` (`[f, patch]`) and the bias gradient `gb` of `n`
    /// images, from their patches `cols`, pooled gradients `gact` and argmax corners `arg`
    /// (both overwritten, summed over images in order).
    pub(super) fn weight_grad(
        g: &ConvGeom,
        cols: &[f32],
        gact: &[f32],
        arg: &[u8],
        n: usize,
        gwt: &mut [f32],
        gb: &mut [f32],
    ) {
        let (_, ow) = g.out();
        let (ph, pw) = g.act();
        let (p, f, a) = (g.patch(), g.f, g.act_len());
        gwt.fill(0.0);
        gb.fill(0.0);
        for i in 0..n {
            let cols = &cols[i * g.positions() * p..(i + 1) * g.positions() * p];
            let (gi, ai) = (&gact[i * a..(i + 1) * a], &arg[i * a..(i + 1) * a]);
            for (ds, qs) in gi.chunks_exact(f).zip(ai.chunks_exact(f)) {
                for ((b, &d), &q) in gb.iter_mut().zip(ds).zip(qs) {
                    if q != NO_ARGMAX {
                        *b += d;
                    }
                }
            }
            let mut start = 0;
            while start < p {
                let len = SEG.min(p - start);
                for ch in 0..f {
                    let row = &mut gwt[ch * p + start..ch * p + start + len];
                    let mut acc = [0f32; SEG];
                    for py in 0..ph {
                        for px in 0..pw {
                            let k = (py * pw + px) * f + ch;
                            let q = ai[k];
                            if q == NO_ARGMAX {
                                continue;
                            }
                            let (d, src) = (gi[k], corner(py, px, q, ow) * p + start);
                            if len == SEG {
                                axpy_seg(&mut acc, d, &cols[src..src + SEG]);
                            } else {
                                for (r, s) in acc.iter_mut().zip(&cols[src..src + len]) {
                                    *r += d * s;
                                }
                            }
                        }
                    }
                    row.iter_mut().zip(&acc).for_each(|(r, a)| *r += a);
                }
                start += len;
            }
        }
    }
}

multiversion! {
    /// The input gradient `dx` (overwritten) of `n` images from the transposed weights `wt`
    /// (`[f, patch]`), pooled gradients `gact` and argmax corners `arg`.
    pub(super) fn input_grad(
        g: &ConvGeom,
        wt: &[f32],
        gact: &[f32],
        arg: &[u8],
        n: usize,
        dx: &mut [f32],
    ) {
        let (_, pw) = g.act();
        let (p, f, a, span) = (g.patch(), g.f, g.act_len(), g.k * g.c);
        for i in 0..n {
            let dxi = &mut dx[i * g.in_len()..(i + 1) * g.in_len()];
            dxi.fill(0.0);
            let (gi, ai) = (&gact[i * a..(i + 1) * a], &arg[i * a..(i + 1) * a]);
            for (w, (ds, qs)) in gi.chunks_exact(f).zip(ai.chunks_exact(f)).enumerate() {
                let (py, px) = (w / pw, w % pw);
                for (ch, (&d, &q)) in ds.iter().zip(qs).enumerate() {
                    if q == NO_ARGMAX {
                        continue;
                    }
                    let (oy, ox) = (2 * py + usize::from(q / 2), 2 * px + usize::from(q % 2));
                    let weights = &wt[ch * p..(ch + 1) * p];
                    for (ky, src) in weights.chunks_exact(span).enumerate() {
                        let at = ((oy + ky) * g.w + ox) * g.c;
                        for (x, s) in dxi[at..at + span].iter_mut().zip(src) {
                            *x += d * s;
                        }
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
            // Sparse.
            let (mut gwt, mut gb) = (vec![9.0; gw.len()], vec![9.0; f]);
            weight_grad(&g, &cols, &gact, &arg, n, &mut gwt, &mut gb);
            let mut got = vec![0.0; gw.len()];
            transpose(&gwt, f, g.patch(), &mut got);
            let mut w_t = vec![0.0; w.len()];
            transpose(&w, g.patch(), f, &mut w_t);
            let mut dx_sparse = vec![9.0; x.len()];
            input_grad(&g, &w_t, &gact, &arg, n, &mut dx_sparse);
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
