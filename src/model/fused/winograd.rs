//! The forward pass of 3x3 convolutions by Winograd's F(2x2, 3x3): each 2x2 block of outputs
//! from a 4x4 tile of the input with 16 multiplications per channel pair instead of 36. The
//! input tiles and the weights are transformed (`V = Bt d B`, `U = G g Gt`), multiplied as 16
//! matrix products `[tiles, c] x [c, f]`, and transformed back (`Y = At M A`).

use super::gemm::{gemm, View};
use super::plan::ConvGeom;
use super::simd::multiversion;

/// Tile rows multiplied at once (a few images' tiles): products big enough for the kernel,
/// transforms small enough to stay in cache.
const ROWS: usize = 256;

/// Whether block `g` is computed this way: 3x3 kernels over enough channels (with one
/// channel the products have nothing to sum).
pub(super) fn fits(g: &ConvGeom) -> bool {
    g.k == 3 && g.c >= 8
}

/// Tiles of one image: `(rows, columns)` of 2x2 output blocks (odd sides padded).
fn tiles(g: &ConvGeom) -> (usize, usize) {
    let (oh, ow) = g.out();
    (oh.div_ceil(2), ow.div_ceil(2))
}

/// Images transformed and multiplied together, and the buffer lengths they need (`v`, `m`).
pub(super) fn group(g: &ConvGeom, capacity: usize) -> (usize, usize, usize) {
    let (ty, tx) = tiles(g);
    let images = (ROWS / (ty * tx)).clamp(1, capacity.max(1));
    let rows = images * ty * tx;
    (images, 16 * rows * g.c, 16 * rows * g.f)
}

/// Length of the transforms' scratch.
pub(super) fn tmp_len(g: &ConvGeom) -> usize {
    16 * g.c.max(g.f)
}

/// Length of the transformed weights `U` (`[16, c, f]`).
pub(super) fn weights_len(g: &ConvGeom) -> usize {
    16 * g.c * g.f
}

multiversion! {
    /// `u = G g Gt` for every channel pair: `u[xi * c * f + ch * f + o]` from the weights `w`
    /// (`[9 c, f]`, rows in (ky, kx, channel) order).
    pub(super) fn transform_weights(g: &ConvGeom, w: &[f32], u: &mut [f32]) {
        let (c, f) = (g.c, g.f);
        // G applied to a column of three: four values.
        let apply = |a: f32, b: f32, d: f32| [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
        for ch in 0..c {
            for o in 0..f {
                let k = |ky: usize, kx: usize| w[((ky * 3 + kx) * c + ch) * f + o];
                // G k: column by column.
                let cols: [[f32; 4]; 3] = std::array::from_fn(|kx| apply(k(0, kx), k(1, kx), k(2, kx)));
                // (G k) Gt: row by row.
                for r in 0..4 {
                    let row = apply(cols[0][r], cols[1][r], cols[2][r]);
                    for (s, value) in row.into_iter().enumerate() {
                        u[((r * 4 + s) * c + ch) * f + o] = value;
                    }
                }
            }
        }
    }
}

/// `out = a - b`, element by element.
#[inline(always)]
fn sub(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a - b;
    }
}

/// `out = a + b`, element by element.
#[inline(always)]
fn add(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}

/// `out = a + b + c`, element by element.
#[inline(always)]
fn add3(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    for (((o, &a), &b), &c) in out.iter_mut().zip(a).zip(b).zip(c) {
        *o = a + b + c;
    }
}

/// `out = a - b - c`, element by element.
#[inline(always)]
fn sub3(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    for (((o, &a), &b), &c) in out.iter_mut().zip(a).zip(b).zip(c) {
        *o = a - b - c;
    }
}

multiversion! {
    /// `v = Bt d B` for every tile and channel of `n` images `x`: tile `t` of image `i` is row
    /// `i * tiles + t` of each of the 16 matrices `v[xi]` (`[rows, c]`, one after another).
    /// `tmp` holds 16 channel vectors.
    fn transform_input(
        g: &ConvGeom,
        x: &[f32],
        n: usize,
        rows: usize,
        zeros: &[f32],
        tmp: &mut [f32],
        v: &mut [f32],
    ) {
        let (ty, tx) = tiles(g);
        let (h, w, c) = (g.h, g.w, g.c);
        let mut parts = v.chunks_exact_mut(rows * c);
        let mut outs: [&mut [f32]; 16] = std::array::from_fn(|_| parts.next().unwrap_or(&mut []));
        let mut tparts = tmp.chunks_exact_mut(c);
        let t: [&mut [f32]; 16] = std::array::from_fn(|_| tparts.next().unwrap_or(&mut []));
        let zeros = &zeros[..c];
        for i in 0..n {
            let img = &x[i * g.in_len()..(i + 1) * g.in_len()];
            for a in 0..ty {
                for b in 0..tx {
                    let pixel = |r: usize, s: usize| {
                        let (y, xx) = (2 * a + r, 2 * b + s);
                        if y < h && xx < w {
                            &img[(y * w + xx) * c..(y * w + xx + 1) * c]
                        } else {
                            zeros
                        }
                    };
                    let d: [[&[f32]; 4]; 4] =
                        std::array::from_fn(|r| std::array::from_fn(|s| pixel(r, s)));
                    // Bt d: t[r * 4 + s] is row r, column s.
                    for s in 0..4 {
                        sub(t[s], d[0][s], d[2][s]);
                        add(t[4 + s], d[1][s], d[2][s]);
                        sub(t[8 + s], d[2][s], d[1][s]);
                        sub(t[12 + s], d[1][s], d[3][s]);
                    }
                    // (Bt d) B, row by row.
                    let row = (i * ty + a) * tx + b;
                    let o = outs.each_mut().map(|m| &mut m[row * c..(row + 1) * c]);
                    for r in 0..4 {
                        let [t0, t1, t2, t3] = [0, 1, 2, 3].map(|s| &*t[r * 4 + s]);
                        sub(o[r * 4], t0, t2);
                        add(o[r * 4 + 1], t1, t2);
                        sub(o[r * 4 + 2], t2, t1);
                        sub(o[r * 4 + 3], t1, t3);
                    }
                }
            }
        }
    }
}

multiversion! {
    /// `z = At m A` for every tile and filter of `n` images: the convolution outputs
    /// (`[oh, ow, f]` per image) from the 16 products `m[xi]` (`[rows, f]`, one after another).
    /// `tmp` holds 8 filter vectors.
    fn transform_output(g: &ConvGeom, m: &[f32], n: usize, rows: usize, tmp: &mut [f32], z: &mut [f32]) {
        let (ty, tx) = tiles(g);
        let (oh, ow) = g.out();
        let f = g.f;
        let mut tparts = tmp.chunks_exact_mut(f);
        let t: [&mut [f32]; 8] = std::array::from_fn(|_| tparts.next().unwrap_or(&mut []));
        for i in 0..n {
            let zi = &mut z[i * g.z_len()..(i + 1) * g.z_len()];
            for a in 0..ty {
                for b in 0..tx {
                    let row = (i * ty + a) * tx + b;
                    let e: [&[f32]; 16] =
                        std::array::from_fn(|xi| &m[(xi * rows + row) * f..(xi * rows + row + 1) * f]);
                    // At M: two rows of four.
                    for s in 0..4 {
                        add3(t[s], e[s], e[4 + s], e[8 + s]);
                        sub3(t[4 + s], e[4 + s], e[8 + s], e[12 + s]);
                    }
                    for r in 0..2 {
                        let y = 2 * a + r;
                        if y >= oh {
                            continue;
                        }
                        let [t0, t1, t2, t3] = [0, 1, 2, 3].map(|s| &*t[r * 4 + s]);
                        let at = (y * ow + 2 * b) * f;
                        add3(&mut zi[at..at + f], t0, t1, t2);
                        if 2 * b + 1 < ow {
                            sub3(&mut zi[at + f..at + 2 * f], t1, t2, t3);
                        }
                    }
                }
            }
        }
    }
}

/// The convolution outputs `z` (no bias) of the `n` images `x`, with the transformed weights
/// `u`, in groups of `per` images through the buffers `v` and `m` (see `group`) and `tmp`
/// (see `tmp_len`).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward(
    g: &ConvGeom,
    u: &[f32],
    x: &[f32],
    n: usize,
    per: usize,
    zeros: &[f32],
    tmp: &mut [f32],
    v: &mut [f32],
    m: &mut [f32],
    z: &mut [f32],
) {
    let (ty, tx) = tiles(g);
    let (c, f) = (g.c, g.f);
    let mut done = 0;
    while done < n {
        let k = per.min(n - done);
        let rows = k * ty * tx;
        let x = &x[done * g.in_len()..(done + k) * g.in_len()];
        transform_input(g, x, k, rows, zeros, tmp, v);
        for xi in 0..16 {
            let vx = View::new(&v[xi * rows * c..(xi + 1) * rows * c], rows, c);
            let ux = View::new(&u[xi * c * f..(xi + 1) * c * f], c, f);
            gemm(&mut m[xi * rows * f..(xi + 1) * rows * f], vx, ux, false);
        }
        let z = &mut z[done * g.z_len()..(done + k) * g.z_len()];
        transform_output(g, m, k, rows, tmp, z);
        done += k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fused::kernels::im2col;

    #[test]
    fn winograd_matches_the_direct_convolution_on_odd_and_even_sides() {
        for (h, w, c, f, n) in [(13, 13, 8, 5, 3), (12, 9, 9, 4, 2), (5, 4, 16, 3, 1)] {
            let g = ConvGeom {
                h,
                w,
                c,
                k: 3,
                f,
                pool: true,
            };
            let wave = |i: usize, a: f32| ((i as f32) * a).sin();
            let x: Vec<f32> = (0..n * g.in_len()).map(|i| wave(i, 0.7)).collect();
            let wt: Vec<f32> = (0..g.patch() * f).map(|i| wave(i, 1.3)).collect();
            let rows = n * g.positions();
            let mut cols = vec![0.0; rows * g.patch()];
            im2col(&g, &x, n, &mut cols);
            let mut want = vec![0.0; rows * f];
            gemm(
                &mut want,
                View::new(&cols, rows, g.patch()),
                View::new(&wt, g.patch(), f),
                false,
            );
            let mut u = vec![0.0; weights_len(&g)];
            transform_weights(&g, &wt, &mut u);
            let (per, vl, ml) = group(&g, 2);
            let (mut v, mut m) = (vec![0.0; vl], vec![0.0; ml]);
            let mut z = vec![7.0; rows * f];
            let (zeros, mut tmp) = (vec![0.0; c], vec![0.0; tmp_len(&g)]);
            forward(&g, &u, &x, n, per, &zeros, &mut tmp, &mut v, &mut m, &mut z);
            for (i, (a, b)) in z.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                    "{h}x{w}x{c}: z[{i}] {a} vs {b}"
                );
            }
        }
    }
}
