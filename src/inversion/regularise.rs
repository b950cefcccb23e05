//! Image-space regularisers on 28x28 images: total variation, Gaussian blur, shifts.

use crate::data::SIDE;

/// Gradient of the squared total variation `sum (x[i,j+1]-x[i,j])^2 + (x[i+1,j]-x[i,j])^2`.
pub fn tv_grad(x: &[f32]) -> Vec<f32> {
    let mut g = vec![0f32; x.len()];
    for r in 0..SIDE {
        for c in 0..SIDE {
            let i = r * SIDE + c;
            if c + 1 < SIDE {
                let d = x[i + 1] - x[i];
                g[i] -= 2.0 * d;
                g[i + 1] += 2.0 * d;
            }
            if r + 1 < SIDE {
                let d = x[i + SIDE] - x[i];
                g[i] -= 2.0 * d;
                g[i + SIDE] += 2.0 * d;
            }
        }
    }
    g
}

/// Separable Gaussian blur with standard deviation `sigma` pixels (edges clamped).
pub fn blur(x: &[f32], sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return x.to_vec();
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let clamp = |v: isize| v.clamp(0, SIDE as isize - 1) as usize;
    let pass = |src: &[f32], horizontal: bool| {
        let mut out = vec![0f32; src.len()];
        for r in 0..SIDE {
            for c in 0..SIDE {
                let mut acc = 0f32;
                for (k, w) in weights.iter().enumerate() {
                    let d = k as isize - radius;
                    let (rr, cc) = if horizontal {
                        (r, clamp(c as isize + d))
                    } else {
                        (clamp(r as isize + d), c)
                    };
                    acc += w * src[rr * SIDE + cc];
                }
                out[r * SIDE + c] = acc / total;
            }
        }
        out
    };
    pass(&pass(x, true), false)
}

/// The image moved `dx` pixels right and `dy` down; pixels shifted in are 0.
pub fn shift(x: &[f32], dx: isize, dy: isize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for r in 0..SIDE as isize {
        for c in 0..SIDE as isize {
            let (sr, sc) = (r - dy, c - dx);
            if (0..SIDE as isize).contains(&sr) && (0..SIDE as isize).contains(&sc) {
                out[(r * SIDE as isize + c) as usize] = x[(sr * SIDE as isize + sc) as usize];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::PIXELS;

    fn tv(x: &[f32]) -> f32 {
        let mut t = 0.0;
        for r in 0..SIDE {
            for c in 0..SIDE {
                let i = r * SIDE + c;
                if c + 1 < SIDE {
                    t += (x[i + 1] - x[i]).powi(2);
                }
                if r + 1 < SIDE {
                    t += (x[i + SIDE] - x[i]).powi(2);
                }
            }
        }
        t
    }

    #[test]
    fn tv_gradient_matches_finite_differences() {
        let x: Vec<f32> = (0..PIXELS)
            .map(|i| ((i * 37) % 101) as f32 / 101.0)
            .collect();
        let g = tv_grad(&x);
        for i in [0, 29, 400, PIXELS - 1] {
            let mut y = x.clone();
            y[i] += 1e-2;
            let numeric = (tv(&y) - tv(&x)) / 1e-2;
            assert!((numeric - g[i]).abs() < 0.05, "{i}: {numeric} vs {}", g[i]);
        }
    }

    #[test]
    fn blur_keeps_the_mass_of_a_central_dot_and_spreads_it() {
        let mut x = vec![0f32; PIXELS];
        x[14 * SIDE + 14] = 1.0;
        let b = blur(&x, 1.0);
        assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(b[14 * SIDE + 14] < 0.5 && b[14 * SIDE + 15] > 0.0);
    }

    #[test]
    fn shift_moves_and_back_shift_restores_the_interior() {
        let mut x = vec![0f32; PIXELS];
        x[10 * SIDE + 10] = 1.0;
        let s = shift(&x, 2, -1);
        assert_eq!(s[9 * SIDE + 12], 1.0);
        assert_eq!(shift(&s, -2, 1), x);
    }
}
